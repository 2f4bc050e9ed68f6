"""Random inputs: the values of a plain forward, or an error that names the argument.

Shapes, dtypes, NaN/inf positions, batch sizes, containers, layer names and
destinations are drawn by hypothesis. Every call either returns exactly what
a manual forward from the fitted weights gives, or raises ``ValueError`` /
``TypeError`` naming the argument at fault; the caller's X is never
changed, and no hook and no file is left behind either way.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from _models import WineClassifier, make_net
from _refs import leftover_hooks, manual_wine

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

N_FEATURES = 13
DTYPES = ["float32", "float64", "float16", ">f4", "int64", "int8", "bool"]
CONTAINERS = ["ndarray", "tensor", "frame", "sparse", "array_like"]
BATCH_SIZES = [-1, 1, 2, 3, 7, 64, 0, -3, True, 2.5]
LAYERS = ["dense0", "dense1", " output ", "dense2", "dense0[0]"]


@pytest.fixture(scope="module")
def net(wine):
    X, y = wine
    return make_net(WineClassifier, batch_size=16).fit(X, y)


class _ArrayLike:
    def __init__(self, data):
        self.data = data

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.data, dtype=dtype)


def _container(X: np.ndarray, kind: str):
    if kind == "tensor":
        if X.dtype.byteorder == ">":
            X = X.astype(X.dtype.newbyteorder("="))
        return torch.from_numpy(X.copy())
    if kind == "frame":
        return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    if kind == "sparse":
        # scipy.sparse has no float16 and no big-endian data
        if X.dtype == "f2" or X.dtype.byteorder == ">":
            X = X.astype(np.float32)
        return scipy.sparse.csr_array(X)
    if kind == "array_like":
        return _ArrayLike(X)
    return X


def _copy(X):
    if isinstance(X, torch.Tensor):
        return X.clone()
    if isinstance(X, _ArrayLike):
        return X.data.copy()
    return X.copy()


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a.isnan(), b.isnan()) and torch.equal(
            a.nan_to_num(), b.nan_to_num()
        )
    if isinstance(a, _ArrayLike):
        a = a.data
    if scipy.sparse.issparse(a):
        a, b = a.toarray(), b.toarray()
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return np.array_equal(a, b, equal_nan=True) and a.dtype == b.dtype


@st.composite
def cases(draw):
    n = draw(st.integers(0, 12))
    width = draw(st.sampled_from([N_FEATURES] * 4 + [N_FEATURES - 1, N_FEATURES + 1]))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    values = draw(
        st.lists(
            st.floats(-3, 3, allow_nan=False, width=16),
            min_size=n * width,
            max_size=n * width,
        )
    )
    X = np.asarray(values, dtype=np.float64).reshape(n, width)
    bad_value = None
    if dtype.kind == "f" and n and draw(st.booleans()):
        bad_value = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, width - 1))] = bad_value
    X = X > 0 if dtype.kind == "b" else X
    X = np.round(X) if dtype.kind == "i" else X
    return {
        "X": X.astype(dtype),
        "container": draw(st.sampled_from(CONTAINERS)),
        "batch_size": draw(st.sampled_from(BATCH_SIZES)),
        "layer": draw(st.sampled_from(LAYERS)),
        "to_file": draw(st.booleans()),
        "bad_value": bad_value,
    }


def _problems(case) -> set[str]:
    """The arguments a call may name in its error; empty if it must work."""
    X, batch_size, layer = case["X"], case["batch_size"], case["layer"]
    found = set()
    if layer.strip() not in ("dense0", "dense1", "output"):
        found.add("layer")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        found.add("batch_size")
    elif batch_size < 1 and batch_size != -1:
        found.add("batch_size")
    if case["container"] == "frame" and X.dtype.kind == "b":
        found.add("X")  # bool columns are refused, named
    if len(X) == 0 or X.shape[1] != N_FEATURES or case["bad_value"] is not None:
        found.add("X")
    return found


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_random_inputs_give_the_forward_or_a_named_error(net, tmp_path_factory, case):
    X = _container(case["X"], case["container"])
    before = _copy(X)
    folder = tmp_path_factory.mktemp("out")
    out = folder / "acts.npy" if case["to_file"] else None
    problems = _problems(case)
    try:
        A = net.transform_layer(
            X, case["layer"], batch_size=case["batch_size"], out=out
        )
    except (ValueError, TypeError) as error:
        message = str(error)
        assert problems, f"refused a valid call: {message}"
        assert any(word.lower() in message.lower() for word in problems), message
        assert list(folder.iterdir()) == []
    else:
        assert not problems, f"accepted a call that should name {problems}"
        name = case["layer"].strip()
        expected = manual_wine(net.module_, case["X"].astype(np.float64))[name]
        assert A.shape == expected.shape and A.dtype == np.float32
        np.testing.assert_allclose(A, expected, rtol=1e-4, atol=1e-4)
        if out is not None:
            assert [p.name for p in folder.iterdir()] == ["acts.npy"]
            np.testing.assert_array_equal(np.load(out), A)
    assert leftover_hooks(net.module_) == []
    assert _same(X, before)
