"""Inspection leaves nothing behind and refuses bad input before any work.

* After a normal return, an exception inside forward and a
  KeyboardInterrupt inside forward: no hook on any submodule, every
  submodule's train/eval mode, every ``requires_grad`` flag and gradient as
  before, autograd back on, and the per-net lock released.
* Bad input raises a ``ValueError`` saying what was expected before a single
  forward ran (counted by a pre-hook on the root module).
* Concurrent calls from threads give correct, separate results, and a
  ``predict`` in another thread neither disturbs a capture nor is disturbed.
"""

import threading

import numpy as np
import pandas as pd
import pytest
import torch
from _models import DigitsCNN, FailingNet, TwoInputs, WineClassifier
from _refs import (
    ForwardCounter,
    assert_same_state,
    leftover_hooks,
    manual_wine,
    module_state,
    run_in_thread,
    wb,
)
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from torch import nn

from skviz import InspectableNeuralNetClassifier

# ---------------------------------------------------------------------------
# Nets
# ---------------------------------------------------------------------------


@pytest.fixture
def failing():
    """A fitted FailingNet whose submodules are in mixed train/eval modes."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    net = InspectableNeuralNetClassifier(
        FailingNet,
        layer="second",
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    ).fit(X, np.arange(40) % 2)
    m = net.module_
    m.train()
    m.first.eval()
    m.out.eval()  # root and drop in train mode: dropout would be active
    m.second.weight.requires_grad_(False)
    m.out.bias.requires_grad_(False)
    return net, X


def manual_second(module, X):
    W1, b1 = wb(module.first)
    W2, b2 = wb(module.second)
    # Dropout is the identity in eval mode, which inspection must use.
    return np.maximum(X.astype(np.float64) @ W1.T + b1, 0) @ W2.T + b2


CALLS = {
    "transform_layer": lambda net, X: net.transform_layer(X, "second", batch_size=8),
    "transform_layers": lambda net, X: net.transform_layers(
        X, ["first", "second"], batch_size=8
    ),
    "transform": lambda net, X: net.transform(X),
    "layer_summary": lambda net, X: net.layer_summary(X),
    "get_feature_names_out": lambda net, X: net.get_feature_names_out(),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_normal_return_leaves_module_as_before(failing, call):
    net, X = failing
    before = module_state(net.module_)
    CALLS[call](net, X)
    assert leftover_hooks(net.module_) == []
    assert_same_state(before, module_state(net.module_))
    assert torch.is_grad_enabled()


def test_eval_mode_is_used_while_module_is_in_train_mode(failing):
    net, X = failing
    assert net.module_.drop.training
    A = net.transform_layer(X, "second", batch_size=8)
    B = net.transform_layer(X, "second", batch_size=8)
    np.testing.assert_array_equal(A, B)
    np.testing.assert_allclose(A, manual_second(net.module_, X), atol=1e-5)
    assert net.module_.drop.training


class _ForwardError(Exception):
    pass


# There is no probe: forward number k is the k-th real batch (40 rows /
# batch_size 8 = 5 batches). The first batch also finds shapes and opens the
# sinks; get_feature_names_out runs one forward of zeros.
@pytest.mark.parametrize("error", [_ForwardError, KeyboardInterrupt])
@pytest.mark.parametrize(
    ("call", "fail_at"),
    [
        ("transform_layer", 1),
        ("transform_layer", 2),
        ("transform_layer", 3),
        ("transform_layer", 5),
        ("transform_layers", 4),
        ("layer_summary", 1),
        ("get_feature_names_out", 1),
    ],
)
def test_error_inside_forward_leaves_module_as_before(failing, error, call, fail_at):
    net, X = failing
    expected = manual_second(net.module_, X)
    before = module_state(net.module_)
    m = net.module_
    m.n_forward, m.fail_at, m.fail_with = 0, fail_at, error

    with pytest.raises(error, match="failure inside forward"):
        CALLS[call](net, X)

    assert m.n_forward == fail_at
    m.fail_at = None
    assert leftover_hooks(m) == []
    assert_same_state(before, module_state(m))
    assert torch.is_grad_enabled()
    # The lock is free for other threads and nothing half-filled survives.
    A = run_in_thread(lambda: net.transform_layer(X, "second", batch_size=8))
    np.testing.assert_allclose(A, expected, atol=1e-5)
    assert leftover_hooks(m) == []


def test_nothing_left_after_many_mixed_calls(failing):
    net, X = failing
    m = net.module_
    for i in range(5):
        m.n_forward, m.fail_at = 0, (i % 3) + 1
        with pytest.raises(RuntimeError):
            net.transform_layers(X, ["first", "second"], batch_size=16)
        m.fail_at = None
        net.transform_layer(X, "first")
    assert leftover_hooks(m) == []


# ---------------------------------------------------------------------------
# Bad input: ValueError before any forward
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_like():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 13)).astype(np.float32)
    net = InspectableNeuralNetClassifier(
        WineClassifier,
        criterion=nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, np.arange(30) % 3), X


def _with(X, value):
    X = X.astype(np.float64)
    X[3, 2] = value
    return X


BAD_TABULAR = {
    "empty": (lambda X: X[:0], r"empty \(0 samples"),
    "no_features": (lambda X: X[:, :0], r"0 feature\(s\)"),
    "nan": (lambda X: _with(X, np.nan), "NaN or infinity"),
    "inf": (lambda X: _with(X, -np.inf), "NaN or infinity"),
    "few_features": (
        lambda X: X[:, :5],
        "5 features, but InspectableNeuralNetClassifier is expecting 13",
    ),
    "many_features": (
        lambda X: np.hstack([X, X]),
        "26 features, but InspectableNeuralNetClassifier is expecting 13",
    ),
    "one_dimensional": (lambda X: X[0], r"got a 1-D array. Reshape your data"),
    "three_dimensional": (lambda X: X[:, :, None], r"shape \(13, 1\)"),
    "strings": (lambda X: X.astype(str), "must be numeric"),
    "complex": (lambda X: X.astype(complex), "Complex data not supported"),
    "tensor_inf": (
        lambda X: torch.from_numpy(_with(X, np.inf)),
        "NaN or infinity",
    ),
    "tensor_few_features": (lambda X: torch.from_numpy(X[:, :4]), "4 features"),
    "frame_nan": (lambda X: pd.DataFrame(_with(X, np.nan)), "NaN or infinity"),
    "frame_few_features": (lambda X: pd.DataFrame(X[:, :12]), "12 features"),
    "frame_empty": (lambda X: pd.DataFrame(X[:0]), "empty"),
}


@pytest.mark.parametrize("case", list(BAD_TABULAR))
def test_bad_tabular_input_fails_before_forward(wine_like, case):
    net, X = wine_like
    make, message = BAD_TABULAR[case]
    Xbad = make(X)
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(ValueError, match=message):
            net.transform_layer(Xbad, "dense0")
        with pytest.raises(ValueError, match=message):
            net.transform_layers(Xbad, ["dense0", "dense1"])
    assert forwards.count == 0
    assert leftover_hooks(net.module_) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "dense9"}, "Unknown layer 'dense9'"),
        ({"name": "dense0", "activation": "swish"}, "Unknown activation"),
        ({"name": "dense0", "batch_size": 0}, "batch_size must be a positive"),
        ({"name": "dense0", "batch_size": 2.5}, "batch_size must be a positive"),
    ],
)
def test_bad_arguments_fail_before_forward(wine_like, kwargs, message):
    net, X = wine_like
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(ValueError, match=message):
            net.transform_layer(X, **kwargs)
    assert forwards.count == 0


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    X, y = load_digits(return_X_y=True)
    X = (X[:120] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    net = InspectableNeuralNetClassifier(
        DigitsCNN,
        criterion=nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, y[:120]), X


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X[:, :, :7, :],
        lambda X: X.reshape(len(X), 64),
        lambda X: X[:, 0],
        lambda X: np.concatenate([X, X], axis=1),
        lambda X: torch.from_numpy(X.reshape(len(X), 1, 4, 16)),
    ],
    ids=["7x8", "flat", "no_channel", "two_channels", "tensor_4x16"],
)
def test_wrong_image_shape_fails_before_forward(cnn, make):
    net, X = cnn
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(ValueError, match=r"fitted on samples of shape \(1, 8, 8\)"):
            net.transform_layers(make(X), ["cnn1", "pool1"])
    assert forwards.count == 0


@pytest.fixture(scope="module")
def two_inputs():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = {
        "x1": rng.normal(size=(20, 3)).astype(np.float32),
        "x2": rng.normal(size=(20, 2)).astype(np.float32),
    }
    net = InspectableNeuralNetClassifier(
        TwoInputs,
        criterion=nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, np.arange(20) % 2), X


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda X: {**X, "x2": X["x2"] * np.nan}, r"X\['x2'\].*NaN or infinity"),
        (lambda X: {k: v[:0] for k, v in X.items()}, "empty"),
        (lambda X: {**X, "x1": torch.full((20, 3), np.inf)}, "NaN or infinity"),
    ],
    ids=["nan", "empty", "tensor_inf"],
)
def test_bad_dict_input_fails_before_forward(two_inputs, make, message):
    net, X = two_inputs
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(ValueError, match=message):
            net.transform_layer(make(X), "a")
    assert forwards.count == 0


def test_fit_refuses_nan_and_empty_input():
    net = InspectableNeuralNetClassifier(
        WineClassifier,
        criterion=nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    X = np.ones((6, 13), dtype=np.float32)
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.fit(_with(X, np.nan).astype(np.float32), np.arange(6) % 3)
    with pytest.raises(ValueError, match="empty"):
        net.fit(X[:0], np.arange(0))
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.fit(pd.DataFrame(_with(X, np.inf)), np.arange(6) % 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda net, X: net.transform_layer(X, "dense0"),
        lambda net, X: net.transform_layers(X, ["dense0"]),
        lambda net, X: net.transform(X),
        lambda net, X: net.layer_names(),
        lambda net, X: net.layer_summary(X),
        lambda net, X: net.get_feature_names_out(),
    ],
    ids=[
        "transform_layer",
        "transform_layers",
        "transform",
        "layer_names",
        "layer_summary",
        "get_feature_names_out",
    ],
)
def test_unfitted_net_raises_not_fitted(call):
    net = InspectableNeuralNetClassifier(WineClassifier, layer="dense0")
    with pytest.raises(NotFittedError):
        call(net, np.zeros((3, 13), dtype=np.float32))


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


def test_two_threads_capture_at_the_same_time(wine_like):
    net, X = wine_like
    rng = np.random.default_rng(1)
    inputs = [X, rng.normal(size=(47, 13)).astype(np.float32) * 3]
    expected = [manual_wine(net.module_, Xi) for Xi in inputs]
    repetitions = 8
    barrier = threading.Barrier(2, timeout=60)
    results = [[], []]
    errors = []

    def work(i):
        try:
            for _ in range(repetitions):
                barrier.wait()
                if i == 0:
                    out = net.transform_layers(
                        inputs[0], ["dense0", "dense1"], batch_size=4
                    )
                else:
                    out = {"dense1": net.transform_layer(inputs[1], "dense1")}
                results[i].append(out)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert [len(r) for r in results] == [repetitions, repetitions]
    for i in range(2):
        for out in results[i]:
            for name, A in out.items():
                np.testing.assert_allclose(A, expected[i][name], atol=1e-5)
    assert leftover_hooks(net.module_) == []


def test_predict_in_another_thread_during_capture(wine_like):
    # Deterministic interleaving: every forward of the capturing thread
    # (one per batch) first runs a whole predict_proba in another
    # thread, while the capture's hooks are registered on the module.
    net, X = wine_like
    expected_proba = net.predict_proba(X)
    expected = manual_wine(net.module_, X)["dense1"]
    capturing = threading.get_ident()
    predictions = []

    def interleave(_module, _inputs):
        if threading.get_ident() == capturing:
            predictions.append(run_in_thread(lambda: net.predict_proba(X)))

    handle = net.module_.register_forward_pre_hook(interleave)
    try:
        A = net.transform_layer(X, "dense1", batch_size=10)
    finally:
        handle.remove()

    np.testing.assert_allclose(A, expected, atol=1e-5)
    assert len(predictions) == 3  # one forward per batch, three batches
    for proba in predictions:
        np.testing.assert_array_equal(proba, expected_proba)
    assert leftover_hooks(net.module_) == []


def test_predict_and_capture_loops_in_parallel(wine_like):
    net, X = wine_like
    expected_proba = net.predict_proba(X)
    expected = manual_wine(net.module_, X[:5])["dense0"]
    stop = threading.Event()
    problems = []

    def predict_loop():
        while not stop.is_set():
            if not np.array_equal(net.predict_proba(X), expected_proba):
                problems.append("predict disturbed")

    thread = threading.Thread(target=predict_loop)
    thread.start()
    try:
        for _ in range(40):
            A = net.transform_layer(X[:5], "dense0")
            if not np.allclose(A, expected, atol=1e-5):
                problems.append("capture disturbed")
    finally:
        stop.set()
        thread.join(60)
    assert problems == []


def test_pickle_during_capture_in_another_thread_waits_and_is_clean(wine_like):
    # A net pickled (saved, sent to a dask peer) while another thread is
    # inspecting it must neither fail on the capture's hooks nor carry them.
    import pickle

    net, X = wine_like
    inside_capture, release = threading.Event(), threading.Event()

    def pausing_identity(tensor):
        # Runs inside the capture hook, i.e. while the hooks are attached.
        inside_capture.set()
        release.wait(10)
        return tensor

    result, pickled = {}, {}
    worker = threading.Thread(
        target=lambda: result.update(
            A=net.transform_layer(X, "dense0", activation=pausing_identity)
        )
    )
    worker.start()
    try:
        assert inside_capture.wait(10)
        assert net.module_.dense0._forward_hooks  # the capture's hook, right now
        pickler = threading.Thread(target=lambda: pickled.update(b=pickle.dumps(net)))
        pickler.start()
        pickler.join(0.3)
        assert pickler.is_alive()  # waiting for the capture, not failing
        release.set()
        pickler.join(10)
        worker.join(10)
    finally:
        release.set()
    copy = pickle.loads(pickled["b"])
    assert leftover_hooks(copy.module_) == []
    assert leftover_hooks(net.module_) == []
    expected = manual_wine(net.module_, X)["dense0"]
    np.testing.assert_allclose(result["A"], expected, atol=1e-5)
    np.testing.assert_allclose(copy.transform_layer(X, "dense0"), expected, atol=1e-5)
