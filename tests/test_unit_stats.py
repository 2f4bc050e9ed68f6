"""UnitStats, the monitor's per-layer accumulator, against numpy in float64:
windows of several batches with different shifts, per-class sums, layers
that are never negative, half-precision outputs, ill-conditioned units and
quantiles of batches of different sizes."""

import numpy as np
import pytest
import torch
from torch import nn

from skviz.layers import nonnegative_output
from skviz.record._unit_stats import LayerPlan, UnitStats

QS = (0.05, 0.25, 0.5, 0.75, 0.95)


def plan(n_units, **kwargs):
    return LayerPlan(
        ref="x",
        module="x",
        call=0,
        path=(),
        batch_axis=0,
        unit_axis=1,
        n_units=n_units,
        **kwargs,
    )


def expected(batches, labels=None, n_classes=0, tol=0.0):
    """Statistics of one window by hand, units on axis 1."""
    A = np.concatenate([b.double().numpy() for b in batches])
    n, u = A.shape[:2]
    vals = A.reshape(n, u, -1)
    flat = vals.transpose(1, 0, 2).reshape(u, -1)
    out = {
        "active": (vals > tol).any(axis=2).mean(axis=0),
        "mean": flat.mean(axis=1),
        "std": flat.std(axis=1),
        "mean_abs": np.abs(flat).mean(axis=1),
        "quantiles": np.quantile(batches[-1].double().numpy().ravel(), QS),
    }
    if labels is not None:
        y = np.concatenate(labels)
        out["class_active"] = np.stack(
            [(vals[y == c] > tol).any(axis=2).mean(axis=0) for c in range(n_classes)]
        )
        out["class_mean"] = np.stack(
            [vals[y == c].mean(axis=(0, 2)) for c in range(n_classes)]
        )
        out["class_mean_abs"] = np.stack(
            [np.abs(vals[y == c]).mean(axis=(0, 2)) for c in range(n_classes)]
        )
    return out


def run(stats, windows, labels=None):
    for k, window in enumerate(windows):
        for j, batch in enumerate(window):
            y = None if labels is None else torch.as_tensor(labels[k][j])
            stats.add(batch, y, last=j == len(window) - 1)
        stats.close()
    return stats.drain()


def assert_window(got, row, want, rtol=1e-5, atol=1e-6):
    for key, value in want.items():
        np.testing.assert_allclose(
            got[key][row], value, rtol=rtol, atol=atol, err_msg=key
        )


@pytest.mark.parametrize("nonnegative", [False, True])
@pytest.mark.parametrize("shape", [(10, 6), (10, 6, 4, 3)])
def test_windows_of_several_batches_match_numpy(nonnegative, shape):
    rng = np.random.default_rng(0)
    n_classes = 3
    windows, labels = [], []
    for size in (1, 3, 2):  # batches per window; first samples differ per batch
        batches = [
            torch.as_tensor(rng.normal(loc=2.0, size=shape).astype(np.float32))
            for _ in range(size)
        ]
        if nonnegative:
            batches = [torch.relu(b) for b in batches]
        windows.append(batches)
        labels.append([rng.integers(0, n_classes, size=shape[0]) for _ in batches])
    stats = UnitStats(
        plan(shape[1], nonnegative=nonnegative),
        tol=0.0,
        margin=0.05,
        n_classes=n_classes,
        quantiles=QS,
    )
    got = run(stats, windows, labels)
    for row, (window, y) in enumerate(zip(windows, labels, strict=True)):
        assert_window(got, row, expected(window, y, n_classes))


def test_a_window_without_batches_reads_nan():
    stats = UnitStats(plan(4), tol=0.0, margin=0.05, quantiles=QS)
    stats.add(torch.ones(3, 4), None, last=True)
    stats.close()
    stats.close()  # the layer did not run
    got = stats.drain()
    np.testing.assert_array_equal(got["mean"][0], np.ones(4))
    assert np.isnan(got["mean"][1]).all() and np.isnan(got["quantiles"][1]).all()


def test_constant_units_have_zero_spread_and_ill_conditioned_units_keep_theirs():
    rng = np.random.default_rng(1)
    a = np.empty((64, 3), np.float32)
    a[:, 0] = 0.0  # dead
    a[:, 1] = 7.25  # constant
    a[:, 2] = 1000.0 + rng.normal(scale=1e-3, size=64)  # mean >> std
    batches = [torch.as_tensor(a[:32]), torch.as_tensor(a[32:])]
    stats = UnitStats(plan(3), tol=0.0, margin=0.05)
    got = run(stats, [batches])
    assert got["std"][0, 0] == 0 and got["std"][0, 1] == 0
    np.testing.assert_allclose(got["mean"][0], a.astype(np.float64).mean(0))
    # float32 values near 1000 are 6e-5 apart: the spread is as exact as
    # the values themselves allow, not lost to cancellation
    np.testing.assert_allclose(
        got["std"][0, 2], a[:, 2].astype(np.float64).std(), rtol=0.05
    )


def test_half_precision_outputs_do_not_overflow():
    rng = np.random.default_rng(2)
    a = rng.normal(loc=300.0, scale=50.0, size=(40, 5)).astype(np.float16)
    stats = UnitStats(plan(5), tol=0.0, margin=0.05, quantiles=QS)
    got = run(stats, [[torch.as_tensor(a)]])
    want = expected([torch.as_tensor(a.astype(np.float32))])
    assert np.isfinite(got["std"]).all()
    assert_window(got, 0, want, rtol=1e-4)


def test_quantiles_of_batches_of_different_sizes_in_one_drain():
    rng = np.random.default_rng(3)
    windows = [
        [torch.as_tensor(rng.normal(size=(n, 8)).astype(np.float32))]
        for n in (16, 16, 5, 16)
    ]
    stats = UnitStats(plan(8), tol=0.0, margin=0.05, quantiles=QS)
    got = run(stats, windows)
    for row, window in enumerate(windows):
        np.testing.assert_allclose(
            got["quantiles"][row], np.quantile(window[0].numpy(), QS), rtol=1e-6
        )


def test_quantiles_of_a_large_output_come_from_runs_of_a_permuted_layout():
    a = torch.arange(4 * 8 * 300, dtype=torch.float32).reshape(4, 300, 8)
    # features last: the units are axis 2, read in the layout it lies in
    p = LayerPlan("x", "x", 0, (), batch_axis=0, unit_axis=2, n_units=8)
    stats = UnitStats(p, tol=0.0, margin=0.05, quantiles=(0.0, 1.0))
    stats.add(a, None, last=True)
    sample = stats._sample
    assert sample.numel() <= 1024
    # evenly spaced runs of 16 consecutive values of the memory layout
    runs = sample.view(-1, 16)
    assert (runs[:, 1:] - runs[:, :-1] == 1).all()
    assert runs[0, 0] == 0


def test_nonnegative_outputs_by_module():
    assert nonnegative_output(nn.ReLU())
    assert nonnegative_output(nn.ReLU6())
    assert nonnegative_output(nn.Sigmoid())
    assert nonnegative_output(nn.Softplus())
    assert not nonnegative_output(nn.Tanh())
    assert not nonnegative_output(nn.LeakyReLU())
    assert not nonnegative_output(nn.GELU())
    assert not nonnegative_output(nn.Linear(2, 2))
    assert not nonnegative_output(nn.Hardtanh())


def test_a_nan_in_a_quantile_sample_reads_nan_in_that_window_only():
    ok = torch.arange(40, dtype=torch.float32).reshape(5, 8)
    bad = ok[:3].clone()
    bad[1, 2] = float("nan")
    stats = UnitStats(plan(8), tol=0.0, margin=0.05, quantiles=QS)
    got = run(stats, [[ok], [bad], [ok[:2]]])
    np.testing.assert_allclose(got["quantiles"][0], np.quantile(ok.numpy(), QS))
    assert np.isnan(got["quantiles"][1]).all()
    np.testing.assert_allclose(got["quantiles"][2], np.quantile(ok[:2].numpy(), QS))
