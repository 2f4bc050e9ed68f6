"""transform_layer(s) checked against independent computations.

Every expected value comes from either a manual forward pass written with
numpy / torch.nn.functional from the fitted weights, or a forward hook
registered by hand on the module, never from skviz itself.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from _models import (
    DoubleWine,
    InputInPlace,
    TokenBag,
    TwoInputs,
    WineClassifier,
    make_net,
)
from _refs import ForwardCounter, hand_hooks, manual_wine, wb
from sklearn.datasets import load_wine
from skorch.dataset import Dataset
from torch import nn

from skviz import InspectableNeuralNetClassifier

# ---------------------------------------------------------------------------
# MLP (seed 000)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dense0", "dense1", "output"])
@pytest.mark.parametrize("batch_size", [None, 50, 1])
def test_mlp_matches_manual_forward_and_hand_hook(wine_net, wine, name, batch_size):
    X, _ = wine
    A = wine_net.transform_layer(X, name, batch_size=batch_size)

    expected = manual_wine(wine_net.module_, X)[name]
    hooked = hand_hooks(wine_net.module_, [name], torch.from_numpy(X))[name]
    assert A.shape == expected.shape == (len(X), expected.shape[1])
    np.testing.assert_allclose(A, expected, rtol=1e-5, atol=1e-5)
    assert len(hooked) == 1
    np.testing.assert_allclose(A, hooked[0], rtol=1e-5, atol=1e-6)


def _gelu(x):
    return x * 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


@pytest.mark.parametrize(
    ("activation", "reference"),
    [
        ("relu", lambda z: np.maximum(z, 0)),
        ("tanh", np.tanh),
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("gelu", _gelu),
        ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)),
        (lambda t: t * 3 - 1, lambda z: z * 3 - 1),
    ],
    ids=["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "callable"],
)
def test_mlp_functional_activation(wine_net, wine, activation, reference):
    X, _ = wine
    A = wine_net.transform_layer(X, "dense0", activation=activation, batch_size=64)
    expected = reference(manual_wine(wine_net.module_, X)["dense0"])
    np.testing.assert_allclose(A, expected, rtol=1e-5, atol=1e-5)
    if activation == "relu":
        # Seed 000's picture: some units are 0, none negative.
        assert (A >= 0).all() and (A == 0).any()


def test_mlp_flatten_keeps_2d_layers(wine_net, wine):
    X, _ = wine
    A = wine_net.transform_layer(X, "dense1")
    B = wine_net.transform_layer(X, "dense1", flatten=True)
    assert B.shape == (len(X), 10)
    np.testing.assert_array_equal(A, B)


def test_mlp_first_layer_stops_the_forward_early(wine):
    X, y = wine
    net = make_net(WineClassifier, max_epochs=1).fit(X, y)
    n_batches = math.ceil(len(X) / 50)
    names = ["", "dense0", "dense1", "output"]
    with ForwardCounter(net.module_, names) as first:
        A = net.transform_layer(X, "dense0", batch_size=50)
    # One forward per batch, no probe. The first batch of the first call
    # runs the whole module (it counts how often dense0 runs); later batches
    # stop right after dense0.
    assert first.counts == {
        "": n_batches,
        "dense0": n_batches,
        "dense1": 1,
        "output": 1,
    }
    # Known now: dense0 runs once per forward pass on such input, so every
    # forward of a later call stops right after it.
    with ForwardCounter(net.module_, names) as later:
        B = net.transform_layer(X, "dense0", batch_size=50)
    assert later.counts == {
        "": n_batches,
        "dense0": n_batches,
        "dense1": 0,
        "output": 0,
    }
    np.testing.assert_array_equal(A, B)
    np.testing.assert_allclose(
        A, manual_wine(net.module_, X)["dense0"], rtol=1e-5, atol=1e-5
    )


def test_deepest_requested_layer_bounds_the_forward(wine_net, wine):
    X, _ = wine
    with ForwardCounter(wine_net.module_, ["dense1", "output"]) as counter:
        D = wine_net.transform_layers(X, ["dense1", "dense0"], batch_size=100)
    # Two batches, each stopping at dense1; only the first batch of a net's
    # first call on such input runs on to count dense1's runs.
    assert counter.counts["dense1"] == 2 and counter.counts["output"] <= 1
    expected = manual_wine(wine_net.module_, X)
    assert list(D) == ["dense1", "dense0"]
    for name, A in D.items():
        np.testing.assert_allclose(A, expected[name], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# CNN (seed 001: cnn1 / act1 / pool1 on 8x8 digits)
# ---------------------------------------------------------------------------


def manual_cnn(module, X):
    x = torch.from_numpy(X).double()
    conv = F.conv2d(
        x, module.cnn1.weight.detach().double(), module.cnn1.bias.detach().double()
    )
    act = F.leaky_relu(conv, 0.01)
    pool = F.max_pool2d(act, 2)
    return {"cnn1": conv.numpy(), "act1": act.numpy(), "pool1": pool.numpy()}


def test_cnn_three_layers_from_one_forward_per_batch(cnn_net, digits):
    X = digits[0][:100]
    names = ["cnn1", "act1", "pool1"]
    batch_size = 32
    n_batches = math.ceil(len(X) / batch_size)
    with ForwardCounter(cnn_net.module_, ["", *names, "fc1"]) as counter:
        D = cnn_net.transform_layers(X, names, batch_size=batch_size)

    assert counter.counts[""] == n_batches  # one pass per batch, no probe
    assert counter.counts["pool1"] == n_batches
    # Only the first batch of a net's first call on such input goes past
    # pool1 (it counts the runs); every other forward stops there.
    assert counter.counts["fc1"] <= 1
    assert {k: v.shape for k, v in D.items()} == {
        "cnn1": (100, 5, 6, 6),
        "act1": (100, 5, 6, 6),
        "pool1": (100, 5, 3, 3),
    }
    manual = manual_cnn(cnn_net.module_, X)
    hooked = hand_hooks(cnn_net.module_, names, torch.from_numpy(X))
    for name in names:
        assert D[name].dtype == np.float32
        np.testing.assert_allclose(D[name], manual[name], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(D[name], hooked[name][0], rtol=1e-5, atol=1e-6)
    # LeakyReLU keeps small negatives: act1 is not a ReLU of cnn1.
    assert (D["act1"] < 0).any()


def test_cnn_flatten(cnn_net, digits):
    X = digits[0][:20]
    A = cnn_net.transform_layer(X, "pool1")
    B = cnn_net.transform_layer(X, "pool1", flatten=True)
    assert B.shape == (20, 45)
    np.testing.assert_array_equal(B, A.reshape(20, -1))
    assert B.flags.c_contiguous


# ---------------------------------------------------------------------------
# dtype, device, copies
# ---------------------------------------------------------------------------


def test_result_is_float32_cpu_contiguous_array(wine_net, wine):
    X, _ = wine
    for A in (
        wine_net.transform_layer(X, "dense0"),
        wine_net.transform_layer(X, "dense0", flatten=True),
        *wine_net.transform_layers(X, ["dense0", "output"]).values(),
    ):
        assert type(A) is np.ndarray
        assert A.dtype == np.float32
        assert A.flags.c_contiguous and A.flags.writeable


def test_double_module_gives_float64(wine):
    X, y = wine
    X64 = X.astype(np.float64)
    net = InspectableNeuralNetClassifier(
        DoubleWine,
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    ).fit(X64, y)
    A = net.transform_layer(X64, "dense1")
    assert A.dtype == np.float64
    np.testing.assert_allclose(
        A, manual_wine(net.module_, X64)["dense1"], rtol=1e-12, atol=1e-12
    )
    # A float32 X is cast up to the module's dtype, not the other way round.
    assert net.transform_layer(X, "dense1").dtype == np.float64


def test_results_are_independent_copies(wine_net, wine):
    X, _ = wine
    X_before = X.copy()
    A1 = wine_net.transform_layer(X, "dense0")
    A2 = wine_net.transform_layer(X, "dense0")
    D = wine_net.transform_layers(X, ["dense0", "dense1"])
    arrays = [A1, A2, D["dense0"], D["dense1"]]
    for i, a in enumerate(arrays):
        assert not np.shares_memory(a, X)
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)

    A1[:] = 123.0
    D["dense0"][:] = -7.0
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(A2, wine_net.transform_layer(X, "dense0"))
    assert not (A2 == 123.0).any() and not (D["dense1"] == -7.0).any()


# ---------------------------------------------------------------------------
# Input kinds
# ---------------------------------------------------------------------------


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


INPUT_KINDS = {
    "ndarray32": lambda X: X.copy(),
    "ndarray64": lambda X: X.astype(np.float64),
    "fortran": lambda X: np.asfortranarray(X),
    "strided": lambda X: np.repeat(X, 2, axis=0)[::2],
    "read_only": _read_only,
    "tensor32": lambda X: torch.from_numpy(X.copy()),
    "tensor64": lambda X: torch.from_numpy(X.astype(np.float64)),
    "frame": lambda X: pd.DataFrame(
        X.astype(np.float64), columns=load_wine().feature_names
    ),
    "frame32": lambda X: pd.DataFrame(X),
    "dataset": lambda X: Dataset(X),
}


def _snapshot(X):
    if isinstance(X, pd.DataFrame):
        return X.copy(deep=True)
    if isinstance(X, torch.Tensor):
        return X.clone()
    if isinstance(X, Dataset):
        return X.X.copy()
    return X.copy()


def _unchanged(X, before):
    if isinstance(X, pd.DataFrame):
        pd.testing.assert_frame_equal(X, before)
    elif isinstance(X, torch.Tensor):
        assert torch.equal(X, before)
    elif isinstance(X, Dataset):
        np.testing.assert_array_equal(X.X, before)
    else:
        np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_input_kinds_agree_and_stay_unchanged(wine_net, wine, kind):
    X, _ = wine
    Xk = INPUT_KINDS[kind](X)
    before = _snapshot(Xk)
    expected = manual_wine(wine_net.module_, X)
    with warnings.catch_warnings():
        # e.g. torch's "non-writable NumPy array" for read-only frames/arrays
        warnings.simplefilter("error")
        D = wine_net.transform_layers(Xk, ["dense0", "output"], batch_size=40)
        A = wine_net.transform_layer(Xk, "dense1", activation="relu")
    _unchanged(Xk, before)
    np.testing.assert_allclose(D["dense0"], expected["dense0"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(D["output"], expected["output"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        A, np.maximum(expected["dense1"], 0), rtol=1e-5, atol=1e-5
    )
    assert all(a.dtype == np.float32 for a in (*D.values(), A))


@pytest.mark.parametrize("kind", ["ndarray32", "read_only", "tensor32"])
def test_module_never_gets_a_view_of_X(wine_net, wine, kind):
    X, _ = wine
    Xk = INPUT_KINDS[kind](X)
    seen = []
    handle = wine_net.module_.register_forward_pre_hook(
        lambda _m, inputs: seen.append(inputs[0].numpy())
    )
    try:
        wine_net.transform_layer(Xk, "dense1", batch_size=64)
    finally:
        handle.remove()
    caller = Xk.numpy() if isinstance(Xk, torch.Tensor) else Xk
    assert len(seen) == 3  # one forward per batch
    assert not any(np.shares_memory(batch, caller) for batch in seen)
    assert all(batch.flags.writeable for batch in seen)


@pytest.mark.parametrize("kind", ["ndarray32", "tensor32", "frame32"])
def test_module_changing_its_input_in_place_never_reaches_X(kind):
    # InputInPlace does ``x.mul_(0.5)``; skorch's predict always hands the
    # module a fresh batch, so must skviz.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    net = InspectableNeuralNetClassifier(
        InputInPlace,
        criterion=nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    ).fit(X.copy(), np.arange(30) % 2)
    Xk = INPUT_KINDS[kind](X)
    before = _snapshot(Xk)
    A = net.transform_layer(Xk, "fc", batch_size=7)
    _unchanged(Xk, before)
    W, b = wb(net.module_.fc)
    np.testing.assert_allclose(A, (0.5 * X) @ W.T + b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def two_input_net():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    X = {
        "x1": rng.normal(size=(40, 3)).astype(np.float32),
        "x2": rng.normal(size=(40, 2)).astype(np.float32),
    }
    net = InspectableNeuralNetClassifier(
        TwoInputs,
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, np.arange(40) % 2), X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dict_input_goes_through_skorch_dataset(two_input_net, dtype):
    net, X = two_input_net
    Xd = {k: v.astype(dtype) for k, v in X.items()}
    before = {k: v.copy() for k, v in Xd.items()}
    D = net.transform_layers(Xd, ["a", "b", "out"], batch_size=7)
    for k in Xd:
        np.testing.assert_array_equal(Xd[k], before[k])

    Wa, ba = wb(net.module_.a)
    Wb, bb = wb(net.module_.b)
    Wo, bo = wb(net.module_.out)
    a = X["x1"].astype(np.float64) @ Wa.T + ba
    b = X["x2"].astype(np.float64) @ Wb.T + bb
    np.testing.assert_allclose(D["a"], a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(D["b"], b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        D["out"], np.maximum(a + b, 0) @ Wo.T + bo, rtol=1e-5, atol=1e-5
    )
    hooked = hand_hooks(
        net.module_, ["a"], **{k: torch.from_numpy(v) for k, v in X.items()}
    )
    np.testing.assert_allclose(D["a"], hooked["a"][0], rtol=1e-5, atol=1e-6)


def test_integer_token_ids_keep_their_dtype():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 10, size=(25, 6))
    net = InspectableNeuralNetClassifier(
        TokenBag,
        criterion=nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    ).fit(X, np.arange(25) % 2)
    table = net.module_.emb.weight.detach().numpy()
    for Xk in (X, torch.from_numpy(X), X.astype(np.int32)):
        A = net.transform_layer(Xk, "emb", batch_size=4)
        assert A.shape == (25, 6, 4) and A.dtype == np.float32
        np.testing.assert_array_equal(A, table[X])


def test_batch_size_minus_one_means_one_batch():
    # skorch's batch_size=-1 is "everything in one batch"; the result must
    # equal a smaller-batch run and the forward must run once.
    X, y = load_wine(return_X_y=True)
    X = X.astype(np.float32)
    net = InspectableNeuralNetClassifier(
        WineClassifier, max_epochs=1, batch_size=-1, train_split=None, verbose=0
    ).fit(X, y)
    calls = []
    handle = net.module_.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        full = net.transform_layer(X, "dense0")
    finally:
        handle.remove()
    assert len(calls) == 1
    # Different batch sizes may pick different matmul kernels: equal to
    # float32 rounding, not bit for bit.
    np.testing.assert_allclose(
        full, net.transform_layer(X, "dense0", batch_size=7), rtol=1e-5
    )
