"""Every kind of X a user may pass: the right values, or an error that says why.

Errors are raised before any forward pass (a pre-hook on the root module
counts them) and name what is wrong: the column, the key, the dtype, the
argument. Values are compared with a manual forward from the fitted weights.
"""

import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from _models import TokenBag, TwoInputs, WineClassifier, make_net
from _refs import ForwardCounter, leftover_hooks, manual_wine, wb
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from torch import nn


@pytest.fixture(scope="module")
def fitted(wine):
    X, y = wine
    return make_net(WineClassifier, batch_size=32).fit(X, y)


def assert_dense0(net, X, A):
    expected = manual_wine(net.module_, np.asarray(X, dtype=np.float64))["dense0"]
    np.testing.assert_allclose(A, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_inputs():
    rng = np.random.default_rng(0)
    X = {
        "x1": rng.normal(size=(20, 3)).astype(np.float32),
        "x2": rng.normal(size=(20, 2)).astype(np.float32),
    }
    return make_net(TwoInputs).fit(X, np.arange(20) % 2), X


def test_dict_input_in_batches_of_one(two_inputs):
    net, X = two_inputs
    A = net.transform_layer(X, "a", batch_size=1)
    Wa, ba = wb(net.module_.a)
    np.testing.assert_allclose(A, X["x1"] @ Wa.T + ba, rtol=1e-5, atol=1e-5)


def test_dict_input_summary_marks_the_batch_axis(two_inputs):
    net, X = two_inputs
    summary = net.layer_summary(X).set_index("name")
    assert summary.loc["a", "output_shape"] == "(None, 4)"
    assert summary.loc["out", "output_shape"] == "(None, 2)"


def test_dict_input_with_a_loader_that_drops_its_last_batch(two_inputs):
    # predict would drop samples; inspection gives every sample its row.
    _, X = two_inputs
    net = make_net(TwoInputs, iterator_valid__drop_last=True)
    net.fit(X, np.arange(20) % 2)
    A = net.transform_layer(X, "a", batch_size=7)
    assert A.shape == (20, 4)
    Wa, ba = wb(net.module_.a)
    np.testing.assert_allclose(A, X["x1"] @ Wa.T + ba, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda X: {**X, "x1": X["x1"][:, :2]},
            r"X\['x1'\]: X has 2 features, but \w+ is expecting 3 features as input",
        ),
        (lambda X: {**X, "x2": X["x2"][:5]}, "different numbers of samples"),
    ],
    ids=["feature_count", "sample_count"],
)
def test_bad_dict_input_is_named_before_any_forward(two_inputs, make, message):
    net, X = two_inputs
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(ValueError, match=message):
            net.transform_layer(make(X), "a")
    assert forwards.count == 0


@pytest.mark.parametrize("batch_size", [1, 5])
def test_dataset_in_batches_of_one(fitted, wine, batch_size):
    X = wine[0][:12]
    A = fitted.transform_layer(
        Dataset(X, np.zeros(12)), "dense0", batch_size=batch_size
    )
    assert_dense0(fitted, X, A)


@pytest.mark.parametrize(
    "make",
    [scipy.sparse.csr_matrix, scipy.sparse.csr_array, scipy.sparse.coo_array],
    ids=["csr_matrix", "csr_array", "coo_array"],
)
@pytest.mark.parametrize("batch_size", [1, 16])
def test_sparse_input(fitted, wine, make, batch_size):
    X = wine[0][:40].copy()
    X[np.abs(X) < 0.5] = 0
    with ForwardCounter(fitted.module_) as forwards:
        A = fitted.transform_layer(make(X), "dense0", batch_size=batch_size)
    assert forwards.count == math.ceil(40 / batch_size)
    assert_dense0(fitted, X, A)


def test_sparse_input_with_nan_or_wrong_width_is_refused(fitted, wine):
    X = wine[0][:10].copy()
    bad = X.copy()
    bad[3, 2] = np.nan
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(ValueError, match="NaN or infinity"):
            fitted.transform_layer(scipy.sparse.csr_array(bad), "dense0")
        with pytest.raises(
            ValueError,
            match=r"X has 12 features, but \w+ is expecting 13 features as input",
        ):
            fitted.transform_layer(scipy.sparse.csr_array(X[:, :12]), "dense0")
    assert forwards.count == 0


def test_array_likes_become_arrays(fitted, wine):
    class ArrayLike:  # what sklearn's estimator checks pass (_NotAnArray)
        def __init__(self, data):
            self.data = data

        def __array__(self, dtype=None, copy=None):
            return np.asarray(self.data, dtype=dtype)

    X = wine[0][:9]
    assert_dense0(fitted, X, fitted.transform_layer(ArrayLike(X), "dense0"))
    net = fitted.set_params(layer="dense0")
    try:
        np.testing.assert_array_equal(net.transform(ArrayLike(X)), net.transform(X))
    finally:
        net.set_params(layer=None)


def _generator(X):
    yield from X


@pytest.mark.parametrize(
    "make",
    [
        lambda X: _generator(X),
        lambda X: iter(list(X)),
        lambda X: _Stream(X),
    ],
    ids=["generator", "iterator", "iterable_dataset"],
)
def test_streams_of_unknown_length_are_refused(fitted, wine, make):
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(TypeError, match="unknown length"):
            fitted.transform_layer(make(wine[0][:5]), "dense0")
    assert forwards.count == 0


class _Stream(torch.utils.data.IterableDataset):
    def __init__(self, X):
        self.X = X

    def __iter__(self):
        return iter(self.X)


# ---------------------------------------------------------------------------
# DataFrames
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "shown"),
    [
        ("is_red", lambda n: np.arange(n) % 2 == 0, "bool"),
        ("region", lambda n: pd.Categorical(np.arange(n) % 3), "category"),
        ("grape", lambda n: np.array(["a", "b"] * (n // 2)), "object|str"),
    ],
)
def test_non_numeric_columns_are_named(fitted, wine, column, values, shown):
    X = pd.DataFrame(wine[0][:10, :12], columns=[f"f{i}" for i in range(12)])
    X[column] = values(10)
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(ValueError, match=rf"'{column}' \(({shown})"):
            fitted.transform_layer(X, "dense0")
    assert forwards.count == 0


# ---------------------------------------------------------------------------
# Dtypes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_and_bool_input_to_a_float_net_are_numbers(fitted, wine, dtype):
    X = np.round(wine[0][:15] * 3)
    X = np.abs(X) if dtype == np.uint8 else X
    X = (X > 0) if dtype == np.bool_ else X
    Xd = X.astype(dtype)
    assert_dense0(fitted, Xd.astype(np.float64), fitted.transform_layer(Xd, "dense0"))


def test_float_input_to_a_token_net_is_refused():
    X = np.random.default_rng(0).integers(0, 10, size=(12, 6))
    net = make_net(TokenBag).fit(X, np.arange(12) % 2)
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(TypeError, match="fitted on integer input"):
            net.transform_layer(X.astype(np.float32), "emb")
    assert forwards.count == 0


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i8"])
def test_big_endian_arrays(fitted, wine, dtype):
    X = np.round(wine[0][:11] * 4) if "i" in dtype else wine[0][:11]
    Xb = X.astype(dtype)
    assert_dense0(fitted, X, fitted.transform_layer(Xb, "dense0"))


def test_big_endian_token_ids_keep_their_values():
    X = np.random.default_rng(0).integers(0, 10, size=(12, 6))
    net = make_net(TokenBag).fit(X, np.arange(12) % 2)
    A = net.transform_layer(X.astype(">i8"), "emb")
    np.testing.assert_array_equal(A, net.module_.emb.weight.detach().numpy()[X])


def test_predict_checks_the_fitted_feature_count(fitted, wine):
    with pytest.raises(
        ValueError,
        match=r"X has 12 features, but \w+ is expecting 13 features as input",
    ):
        fitted.predict(wine[0][:5, :12])


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [True, False, 0, -2, 2.0, "8"])
def test_nonsense_batch_size(fitted, wine, batch_size):
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(ValueError, match="batch_size"):
            fitted.transform_layer(wine[0], "dense0", batch_size=batch_size)
    assert forwards.count == 0


@pytest.mark.parametrize(
    "activation", [lambda t: t.numpy(), lambda t: None, lambda t: float(t.sum())]
)
def test_activation_must_return_a_tensor(fitted, wine, activation):
    with pytest.raises(TypeError, match="activation returned"):
        fitted.transform_layer(wine[0], "dense0", activation=activation)
    assert leftover_hooks(fitted.module_) == []


def test_dask_chunks_of_unknown_size(fitted, wine):
    da = pytest.importorskip("dask.array")
    X = da.from_array(wine[0], chunks=50)
    masked = X[X[:, 0] > 0]
    with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
        fitted.transform_layer(masked, "dense0")
    masked.compute_chunk_sizes()
    A = fitted.transform_layer(masked, "dense0").compute()
    assert_dense0(fitted, wine[0][wine[0][:, 0] > 0], A)


# ---------------------------------------------------------------------------
# Layer names
# ---------------------------------------------------------------------------


class _OddNames(nn.Module):
    """ModuleDict keys are free text: '@' and brackets included."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleDict(
            {"a@b": nn.Linear(4, 3), "c[1]": nn.Linear(3, 3), "d": nn.Linear(3, 2)}
        )

    def forward(self, x):
        h = self.blocks["a@b"](x)
        return self.blocks["d"](self.blocks["c[1]"](torch.relu(h)))


def test_every_listed_layer_name_can_be_captured():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 4)).astype(np.float32)
    net = make_net(_OddNames).fit(X, np.arange(10) % 2)
    names = [n for n in net.layer_names() if n != "blocks"]
    D = net.transform_layers(X, names)
    W, b = wb(net.module_.blocks["a@b"])
    np.testing.assert_allclose(D["blocks.a@b"], X @ W.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        net.transform_layer(X, "blocks.a@b@0"), D["blocks.a@b"], atol=0
    )
    assert {info.ref for info in net.layer_info(X)} >= set(names)


@pytest.mark.parametrize("typed", ["dense", "Dense0", "dense0.weight", "dens0"])
def test_did_you_mean_never_proposes_what_was_typed(fitted, wine, typed):
    with pytest.raises(ValueError, match="Unknown layer") as info:
        fitted.transform_layer(wine[0], typed)
    hint = str(info.value).split("Did you mean", 1)[-1]
    assert f"'{typed}'" not in hint


# ---------------------------------------------------------------------------
# Fitting and inspecting at once
# ---------------------------------------------------------------------------


class _Gate(Callback):
    """Holds the first training batch until released."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training and not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30)


class _DropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(13, 8)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.dense(x))))


def test_inspection_waits_for_a_fit_in_another_thread(wine):
    X, y = wine
    gate = _Gate()
    gate.entered.set()  # the first fit passes
    net = make_net(_DropoutNet, max_epochs=1, callbacks=[("gate", gate)]).fit(X, y)
    gate.entered.clear()  # the next one stops at its first batch
    result = {}

    fitting = threading.Thread(target=lambda: net.partial_fit(X, y))
    fitting.start()
    assert gate.entered.wait(30)
    inspecting = threading.Thread(
        target=lambda: result.setdefault("A", net.transform_layer(X, "drop"))
    )
    inspecting.start()
    time.sleep(0.3)
    # The inspection has not run: training would have gone on in eval mode.
    assert "A" not in result
    assert net.module_.training
    gate.release.set()
    fitting.join(60)
    inspecting.join(60)
    assert not fitting.is_alive() and not inspecting.is_alive()
    # After the fit, in eval mode (Dropout off), and fit's train mode kept.
    W, b = wb(net.module_.dense)
    np.testing.assert_allclose(
        result["A"], np.maximum(X @ W.T + b, 0), rtol=1e-5, atol=1e-5
    )
    assert net.module_.training
