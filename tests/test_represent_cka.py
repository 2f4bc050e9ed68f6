"""Linear CKA against the Gram-matrix formula, its invariances and edge cases."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _models import DigitsCNN, WineClassifier, make_net
from _refs import ForwardCounter, hand_hooks, leftover_hooks
from sklearn.exceptions import NotFittedError

from skviz.represent import cka, cka_between, linear_cka, unbiased_hsic
from skviz.represent._hsic import CovarianceCKA

LAYERS = ["dense0", "dense1", "output"]


def gram_cka(A, B):
    """CKA from the n x n centred Gram matrices (HSIC with H = I - 11'/n)."""
    A = np.asarray(A, dtype=np.float64).reshape(len(A), -1)
    B = np.asarray(B, dtype=np.float64).reshape(len(B), -1)
    n = len(A)
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = H @ A @ A.T @ H, H @ B @ B.T @ H
    return np.trace(K @ L) / np.sqrt(np.trace(K @ K) * np.trace(L @ L))


def hsic_u_statistic(K, L):
    """The unbiased HSIC as the U-statistic of Song et al. (2012), by brute force."""
    n = len(K)
    pairs = sum(K[i, j] * L[i, j] for i, j in itertools.permutations(range(n), 2))
    triples = sum(K[i, j] * L[i, q] for i, j, q in itertools.permutations(range(n), 3))
    quads = sum(K[i, j] * L[q, r] for i, j, q, r in itertools.permutations(range(n), 4))
    count = lambda k: np.prod(range(n - k + 1, n + 1))  # noqa: E731
    return pairs / count(2) + quads / count(4) - 2 * triples / count(3)


def hooked(net, X, batch_size, layers=LAYERS):
    """Outputs by hand-written hooks, batch by batch as the capture cuts them."""
    parts = {name: [] for name in layers}
    for start in range(0, len(X), batch_size):
        batch = torch.from_numpy(X[start : start + batch_size])
        out = hand_hooks(net.module_.eval(), layers, batch)
        for name in layers:
            parts[name] += out[name]
    return {name: np.concatenate(p) for name, p in parts.items()}


@pytest.fixture(scope="module")
def fitted(wine):
    X, y = wine
    return make_net(WineClassifier, max_epochs=5, batch_size=32).fit(X, y), X, y


# -- arrays ---------------------------------------------------------------


def test_linear_cka_equals_the_gram_formula():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 7))
    B = A @ rng.standard_normal((7, 4)) + 0.5 * rng.standard_normal((30, 4))
    assert linear_cka(A, B) == pytest.approx(gram_cka(A, B), abs=1e-10)
    assert linear_cka(A, A) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 64, 200])
def test_streaming_equals_one_shot_for_any_batch_size(batch):
    rng = np.random.default_rng(1)
    # Large means next to small spreads: centring must not lose them.
    A = (100 + rng.standard_normal((200, 5))).astype(np.float32)
    B = (np.tanh(A - 100) @ rng.standard_normal((5, 3)) - 50).astype(np.float32)
    one = CovarianceCKA([5, 3])
    one.update([A, B])
    acc = CovarianceCKA([5, 3])
    for start in range(0, 200, batch):
        acc.update([A[start : start + batch], B[start : start + batch]])
    assert acc.n == 200
    np.testing.assert_allclose(
        acc.cka([0, 1], [0, 1]), one.cka([0, 1], [0, 1]), atol=1e-6
    )
    assert acc.cka([0], [1])[0, 0] == pytest.approx(gram_cka(A, B), abs=1e-6)


def test_unbiased_hsic_equals_the_u_statistic():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((7, 3)), rng.standard_normal((7, 5))
    K, L = A @ A.T, B @ B.T
    assert unbiased_hsic(K, L) == pytest.approx(hsic_u_statistic(K, L), rel=1e-10)
    with pytest.raises(ValueError, match="at least 4"):
        unbiased_hsic(K[:3, :3], L[:3, :3])


def test_invariances_of_the_paper():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 6))
    Y = np.tanh(X @ rng.standard_normal((6, 6)))
    base = linear_cka(X, Y)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X @ Q, Y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(X, Y @ Q) == pytest.approx(base, abs=1e-10)
    assert linear_cka(3.7 * X, 0.2 * Y + 5) == pytest.approx(base, abs=1e-10)
    # An arbitrary invertible map changes it (CKA is not invariant to it).
    M = np.diag([1, 1, 1, 1, 1, 30.0]) @ rng.standard_normal((6, 6))
    assert np.linalg.matrix_rank(M) == 6
    assert abs(linear_cka(X @ M, Y) - base) > 1e-2


def test_degenerate_arrays():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 3))
    # d = 1 on both sides: the squared correlation.
    a, b = X[:, 0], X[:, 0] + X[:, 1]
    assert linear_cka(a[:, None], b[:, None]) == pytest.approx(
        np.corrcoef(a, b)[0, 1] ** 2, abs=1e-12
    )
    # A constant representation: 0 by definition, never NaN.
    assert linear_cka(X, np.full((20, 2), 3.0)) == 0.0
    with pytest.raises(ValueError, match="at least 2 samples"):
        linear_cka(X[:1], X[:1])
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(np.where(X > 2, np.nan, X), X)


# -- nets -----------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [5, 32, 1000])
def test_cka_of_a_net_equals_the_gram_formula_on_hooked_outputs(fitted, batch_size):
    net, X, _ = fitted
    outputs = hooked(net, X, batch_size)
    with ForwardCounter(net.module_) as counter:
        result = cka(net, X, LAYERS, batch_size=batch_size)
    # One discovery pass of 5 samples to order the layers, then one per batch.
    assert counter.count == 1 + -(-len(X) // batch_size)
    assert list(result.index) == list(result.columns) == LAYERS
    expected = [[gram_cka(outputs[a], outputs[b]) for b in LAYERS] for a in LAYERS]
    np.testing.assert_allclose(result.to_numpy(), expected, atol=1e-6)
    assert np.all(np.diag(result.to_numpy()) == 1.0)
    assert result.attrs["estimator"] == "linear"
    assert result.attrs["n_samples"] == len(X)
    assert leftover_hooks(net.module_) == []


def test_default_layers_are_in_forward_order(fitted):
    net, X, _ = fitted
    shuffled = cka(net, X, ["output", "dense0", "dense1"])
    assert list(shuffled.index) == LAYERS
    assert list(cka(net, X).index) == LAYERS


def test_minibatch_estimator_sums_unbiased_hsic_of_each_batch(fitted):
    net, X, _ = fitted
    batch = 40
    outputs = hooked(net, X, batch)
    sums = np.zeros((3, 3))
    for start in range(0, len(X), batch):
        grams = [outputs[n][start : start + batch].astype(np.float64) for n in LAYERS]
        grams = [g @ g.T for g in grams]
        if len(grams[0]) < 4:
            continue
        sums += [[unbiased_hsic(k, ell) for ell in grams] for k in grams]
    expected = sums / np.sqrt(np.outer(np.diag(sums), np.diag(sums)))
    result = cka(net, X, LAYERS, estimator="minibatch", batch_size=batch)
    np.testing.assert_allclose(result.to_numpy(), expected, atol=1e-6)
    assert result.attrs["estimator"] == "minibatch"


def test_auto_takes_the_minibatch_estimator_for_layers_too_wide(fitted):
    net, X, _ = fitted
    # Room for the covariances of dense1 and output (10 + 3 features) only.
    result = cka(net, X, LAYERS, max_bytes=CovarianceCKA.nbytes([10, 3]))
    kinds = pd.DataFrame(result.attrs["estimators"])
    assert result.attrs["estimator"] == "mixed"
    assert kinds.loc["dense1", "output"] == "linear"
    assert kinds.loc["dense0", "output"] == "minibatch"
    exact = cka(net, X, LAYERS)
    assert result.loc["dense1", "output"] == pytest.approx(
        exact.loc["dense1", "output"], abs=1e-9
    )


def test_constant_layer_single_sample_and_nan(fitted):
    net, X, _ = fitted
    with torch.no_grad():
        saved = net.module_.dense1.weight.clone()
        net.module_.dense1.weight.zero_()
    try:
        with pytest.warns(RuntimeWarning, match="dense1"):
            result = cka(net, X, LAYERS)
    finally:
        with torch.no_grad():
            net.module_.dense1.weight.copy_(saved)
    # The output layer after a constant one is constant too.
    assert result.attrs["constant_layers"] == ["dense1", "output"]
    assert result.loc["dense1", "dense0"] == 0.0
    assert result.loc["dense1", "dense1"] == 1.0
    assert not result.isna().any().any()
    with pytest.raises(ValueError, match="at least 2 samples"):
        cka(net, X[:1], LAYERS)
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cka(net, bad, LAYERS, batch_size=2)
    # Raised in the middle of the stream: hooks gone, autograd back on.
    assert leftover_hooks(net.module_) == []
    assert torch.is_grad_enabled()


def test_errors_come_before_any_forward(fitted, wine):
    net, X, _ = fitted
    with ForwardCounter(net.module_) as counter:
        with pytest.raises(ValueError, match="dense"):
            cka(net, X, ["dense7"])
        with pytest.raises(ValueError, match="pool"):
            cka(net, X, pool="median")
        with pytest.raises(ValueError, match="estimator"):
            cka(net, X, estimator="rbf")
    assert counter.count == 0
    with pytest.raises(NotFittedError):
        cka(make_net(WineClassifier), X)


def test_input_is_left_unchanged_and_memmap_and_dask_work(fitted, tmp_path):
    net, X, _ = fitted
    copy = X.copy()
    expected = cka(net, X, LAYERS, batch_size=64)
    np.testing.assert_array_equal(X, copy)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    np.testing.assert_allclose(cka(net, mm, LAYERS, batch_size=64), expected, atol=1e-9)
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(X, chunks=64)
    np.testing.assert_allclose(
        cka(net, lazy, LAYERS, batch_size=64), expected, atol=1e-9
    )


def test_pool_mean_uses_channel_means(digits):
    X, y = digits
    X, y = X[:120], y[:120]
    net = make_net(DigitsCNN, max_epochs=1, lr=0.1).fit(X, y)
    outputs = hooked(net, X, 30, ["cnn1", "fc1"])
    pooled = outputs["cnn1"].mean(axis=(2, 3))
    result = cka(net, X, ["cnn1", "fc1"], pool="mean", batch_size=30)
    assert result.loc["cnn1", "fc1"] == pytest.approx(
        gram_cka(pooled, outputs["fc1"]), abs=1e-6
    )
    flat = cka(net, X, ["cnn1", "fc1"], batch_size=30)
    assert flat.loc["cnn1", "fc1"] == pytest.approx(
        gram_cka(outputs["cnn1"], outputs["fc1"]), abs=1e-6
    )


def test_cka_between_two_nets_advanced_together(wine):
    X, y = wine
    a = make_net(WineClassifier, seed=0, max_epochs=3).fit(X, y)
    b = make_net(WineClassifier, seed=1, max_epochs=3).fit(X, y)
    oa, ob = hooked(a, X, 32), hooked(b, X, 32)
    with ForwardCounter(a.module_) as ca, ForwardCounter(b.module_) as cb:
        result = cka_between(
            a, b, X, ["dense0", "output"], ["dense1", "output"], batch_size=32
        )
    batches = -(-len(X) // 32)
    assert ca.count == cb.count == 1 + batches
    assert result.shape == (2, 2)
    assert result.index.name == "layer_a" and result.columns.name == "layer_b"
    for la in ["dense0", "output"]:
        for lb in ["dense1", "output"]:
            assert result.loc[la, lb] == pytest.approx(
                gram_cka(oa[la], ob[lb]), abs=1e-6
            )
    assert leftover_hooks(a.module_) == leftover_hooks(b.module_) == []


def test_cka_between_a_net_and_itself_streams_it_once(fitted):
    net, X, _ = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cka_between(net, net, X, batch_size=50)
    np.testing.assert_allclose(np.diag(result.to_numpy()), 1.0, atol=1e-6)
    np.testing.assert_allclose(result.to_numpy(), cka(net, X, batch_size=50), atol=1e-9)


def test_an_error_in_one_of_two_streams_leaves_both_nets_clean(wine):
    X, y = wine
    a = make_net(WineClassifier, seed=0).fit(X, y)
    b = make_net(WineClassifier, seed=1).fit(X, y)
    with torch.no_grad():
        b.module_.dense1.bias[0] = float("nan")
    with pytest.raises(ValueError, match="'dense1' gives NaN"):
        cka_between(a, b, X, ["dense0"], ["dense1"], batch_size=16)
    assert leftover_hooks(a.module_) == leftover_hooks(b.module_) == []
    assert torch.is_grad_enabled()
    # Both nets can be inspected again from another thread: locks released.
    from _refs import run_in_thread

    run_in_thread(lambda: cka_between(a, a, X, ["dense0"], ["dense1"]))
