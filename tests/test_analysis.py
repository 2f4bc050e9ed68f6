"""The numbers behind the pictures, checked against hand computations."""

import numpy as np
import pandas as pd
import pytest
from skorch.history import History

from skviz import analysis
from skviz.analysis import NonFiniteWarning

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------
# unit_activity / dead_units (the primitive helpers)
# ----------------------------------------------------------------------


def test_unit_activity_and_dead_units_by_hand():
    A = np.array([[0.0, 1.0, -1.0], [0.0, 2.0, 0.5], [0.0, 0.0, 0.2]])
    np.testing.assert_allclose(analysis.unit_activity(A), [0, 2 / 3, 2 / 3])
    np.testing.assert_allclose(analysis.unit_activity(A, tol=0.3), [0, 2 / 3, 1 / 3])
    np.testing.assert_array_equal(analysis.dead_units(A), [0])


def test_unit_activity_rejects_bad_shapes():
    with pytest.raises(ValueError, match="n_samples, n_units"):
        analysis.unit_activity(np.zeros(3))
    with pytest.raises(ValueError, match="no samples"):
        analysis.unit_activity(np.zeros((0, 3)))


# ----------------------------------------------------------------------
# Masking
# ----------------------------------------------------------------------


def test_mask_nonfinite_warns_copies_and_masks_inf():
    A = np.array([[1.0, np.inf], [np.nan, 2.0]], dtype=np.float32)
    before = A.copy()
    with pytest.warns(NonFiniteWarning, match="2 non-finite value"):
        M = analysis.mask_nonfinite(A, "activations of 'x'")
    assert np.isnan(M[0, 1]) and np.isnan(M[1, 0])
    np.testing.assert_array_equal(A, before)  # caller's array untouched
    assert M is not A


def test_mask_nonfinite_is_silent_on_finite_input(recwarn):
    M = analysis.mask_nonfinite(np.ones((2, 2)))
    assert not [w for w in recwarn if issubclass(w.category, NonFiniteWarning)]
    assert M.dtype == np.float64


# ----------------------------------------------------------------------
# The one reduction of layer outputs to units
# ----------------------------------------------------------------------


def test_reduce_units_matches_numpy_by_hand():
    rng = np.random.default_rng(1)  # the shared RNG feeds other tests
    A = rng.normal(size=(4, 3, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(
        analysis.reduce_units(A, "mean"), A.mean(axis=(2, 3)), rtol=1e-6
    )
    np.testing.assert_array_equal(analysis.reduce_units(A, "max"), A.max(axis=(2, 3)))
    np.testing.assert_allclose(
        analysis.reduce_units(A, "sum"), A.sum(axis=(2, 3)), rtol=1e-5
    )
    np.testing.assert_array_equal(analysis.reduce_units(A, "flatten"), A.reshape(4, -1))
    mean64 = analysis.reduce_units(A, "mean", dtype=np.float64)
    assert mean64.dtype == np.float64
    np.testing.assert_allclose(mean64, A.astype(np.float64).mean(axis=(2, 3)))
    # Sequences (n, C, L) reduce over L; 2-D outputs are units already.
    S = rng.normal(size=(4, 3, 7))
    np.testing.assert_allclose(analysis.reduce_units(S, "mean"), S.mean(axis=2))
    M = rng.normal(size=(4, 3))
    assert analysis.reduce_units(M, "max") is M


def test_reduce_units_leaves_nan_out_and_counts_booleans():
    A = np.ones((2, 2, 2, 2))
    A[0, 0, 0, 0] = np.nan
    A[0, 0, 1, 1] = 4.0
    A[1, 1] = np.nan
    np.testing.assert_allclose(
        analysis.reduce_units(A, "mean"), [[2.0, 1.0], [1.0, np.nan]]
    )
    np.testing.assert_allclose(
        analysis.reduce_units(A, "max"), [[4.0, 1.0], [1.0, np.nan]]
    )
    B = A > 1.5
    np.testing.assert_array_equal(analysis.reduce_units(B, "max"), B.any(axis=(2, 3)))
    np.testing.assert_array_equal(analysis.reduce_units(B, "sum"), B.sum(axis=(2, 3)))
    with pytest.raises(ValueError, match="reduce must be one of"):
        analysis.reduce_units(A, "median")
    with pytest.raises(ValueError, match="n_samples, n_units"):
        analysis.reduce_units(np.ones(3))


def test_every_unit_function_reduces_the_same_way():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(6, 3, 4, 4))
    y = np.array([0, 0, 0, 1, 1, 1])
    means = A.mean(axis=(2, 3))
    np.testing.assert_allclose(analysis.unit_matrix(A), means)
    profile = analysis.class_profile(A, y)
    np.testing.assert_allclose(
        profile.pivot(index="class", columns="unit", values="mean").to_numpy(),
        [means[:3].mean(0), means[3:].mean(0)],
    )
    # Activity: a channel is active when its maximum is, i.e. any position.
    report = analysis.unit_report({"conv": A}, tol=0.5)
    np.testing.assert_allclose(
        report["active_fraction"], (A.max(axis=(2, 3)) > 0.5).mean(axis=0)
    )
    np.testing.assert_allclose(
        analysis.activity_by_class(A, y, tol=0.5).to_numpy(),
        [
            (A[:3].max(axis=(2, 3)) > 0.5).mean(0),
            (A[3:].max(axis=(2, 3)) > 0.5).mean(0),
        ],
    )


# ----------------------------------------------------------------------
# Dead and saturated units
# ----------------------------------------------------------------------


def _manual_activity(A, tol):
    """Per unit: share of samples with a value > tol (plain loops)."""
    n, m = A.shape
    return np.array([sum(A[i, j] > tol for i in range(n)) / n for j in range(m)])


def test_unit_report_matches_loops_for_several_layers():
    A = RNG.normal(size=(40, 6))
    A[:, 2] = -np.abs(A[:, 2])  # never active
    B = np.tanh(RNG.normal(size=(40, 4)) * 10)  # mostly saturated
    B[:, 0] = np.tanh(RNG.normal(size=40) * 0.1)  # near 0, not saturated
    report = analysis.unit_report(
        {"a": A, "b": B}, saturation_bounds={"b": "tanh"}, tol=0.1
    )
    assert list(report.columns[:6]) == [
        "layer",
        "unit",
        "active_fraction",
        "dead",
        "saturated_fraction",
        "saturated",
    ]
    assert report["layer"].tolist() == ["a"] * 6 + ["b"] * 4
    np.testing.assert_allclose(
        report["active_fraction"],
        np.r_[_manual_activity(A, 0.1), _manual_activity(B, 0.1)],
    )
    assert report.query("dead")[["layer", "unit"]].values.tolist() == [["a", 2]]
    sat_b = [np.mean(np.abs(B[:, j]) >= 0.95) for j in range(4)]
    np.testing.assert_allclose(
        report.loc[report.layer == "b", "saturated_fraction"], sat_b
    )
    expected_saturated = [s >= 0.95 for s in sat_b]
    assert report.loc[report.layer == "b", "saturated"].tolist() == expected_saturated
    # The data hold both kinds, so the flag is tested both ways.
    assert not expected_saturated[0] and any(expected_saturated[1:])
    # Layers without bounds are never "saturated" and have no fraction.
    assert report.loc[report.layer == "a", "saturated_fraction"].isna().all()
    assert not report.loc[report.layer == "a", "saturated"].any()


def test_unit_report_conv_units_are_channels_active_anywhere():
    A = -np.ones((5, 3, 4, 4))
    A[0, 0, 2, 3] = 1.0  # channel 0 fires at one position of one sample
    A[:, 1] = 0.5  # channel 1 always
    report = analysis.unit_report({"conv": A})
    np.testing.assert_allclose(report["active_fraction"], [1 / 5, 1.0, 0.0])
    assert report["dead"].tolist() == [False, False, True]
    flat = analysis.unit_report({"conv": A}, per_channel=False)
    assert len(flat) == 3 * 4 * 4


def test_unit_report_classes_active_matches_hand_count():
    A = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    y = np.array([0, 0, 1, 2])
    report = analysis.unit_report({"l": A}, y=y)
    # unit 0 fires on classes 0 and 1; unit 1 only on class 1
    assert report["n_classes_active"].tolist() == [2, 1]


def test_unit_report_masks_nan_with_warning():
    A = np.array([[np.nan, 1.0], [np.inf, 1.0], [-1.0, 1.0]])
    with pytest.warns(NonFiniteWarning, match="'l'"):
        report = analysis.unit_report({"l": A})
    # Masked values never count as active: unit 0 is dead.
    assert report["dead"].tolist() == [True, False]


def test_unit_report_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty mapping"):
        analysis.unit_report({})
    with pytest.raises(ValueError, match="same samples"):
        analysis.unit_report({"a": np.ones((3, 2)), "b": np.ones((4, 2))})
    with pytest.raises(ValueError, match="not in activations"):
        analysis.unit_report({"a": np.ones((3, 2))}, saturation_bounds={"b": "tanh"})
    with pytest.raises(ValueError, match="3 labels"):
        analysis.unit_report({"a": np.ones((4, 2))}, y=[0, 1, 2])
    with pytest.raises(ValueError, match="saturation_threshold"):
        analysis.unit_report({"a": np.ones((3, 2))}, saturation_threshold=0)


def test_saturation_fraction_bounds_and_margin():
    S = np.array([[0.01, 0.5, 0.99], [0.02, 0.5, 0.5], [0.9, 0.97, 0.96]])
    np.testing.assert_allclose(
        analysis.saturation_fraction(S, "sigmoid"), [2 / 3, 1 / 3, 2 / 3]
    )
    np.testing.assert_allclose(
        analysis.saturation_fraction(S, "sigmoid", margin=0.1), [1, 1 / 3, 2 / 3]
    )
    T = np.array([[-0.99, 0.0], [0.96, 0.94]])
    np.testing.assert_allclose(analysis.saturation_fraction(T, "tanh"), [1.0, 0.0])
    np.testing.assert_allclose(
        analysis.saturation_fraction(T * 6, (-6, 6), margin=0.3), [1.0, 0.0]
    )
    with pytest.raises(ValueError, match="Unknown saturating"):
        analysis.saturation_fraction(T, "relu")
    with pytest.raises(ValueError, match="margin"):
        analysis.saturation_fraction(T, "tanh", margin=1.5)


def test_saturation_fraction_of_conv_channels_and_elements():
    T = np.tanh(3 * np.random.default_rng(3).normal(size=(5, 2, 3, 3)))
    T[0, 1, 0, 0] = np.nan
    near = (np.abs(T) >= 0.95) & np.isfinite(T)
    per_channel = near.sum(axis=(0, 2, 3)) / np.isfinite(T).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(analysis.saturation_fraction(T, "tanh"), per_channel)
    flat = analysis.saturation_fraction(T, "tanh", per_channel=False)
    expected = near.reshape(5, -1).sum(0) / np.isfinite(T).reshape(5, -1).sum(0)
    np.testing.assert_allclose(flat, expected)


def test_activity_by_class_matches_groupby():
    A = RNG.normal(size=(30, 4))
    y = RNG.integers(0, 3, size=30)
    table = analysis.activity_by_class(A, y)
    expected = pd.DataFrame(A > 0).groupby(y).mean()
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy())
    assert table.index.tolist() == [0, 1, 2]


# ----------------------------------------------------------------------
# Class profile and selectivity
# ----------------------------------------------------------------------


def test_class_profile_matches_pandas_groupby():
    A = RNG.normal(size=(50, 3))
    y = np.array(["b", "a"] * 25)
    prof = analysis.class_profile(A, y)
    long = pd.DataFrame(A).assign(y=y).melt(id_vars="y", var_name="unit")
    g = long.groupby(["y", "unit"])["value"]
    np.testing.assert_allclose(prof["mean"], g.mean().to_numpy())
    np.testing.assert_allclose(prof["std"], g.std(ddof=0).to_numpy())
    np.testing.assert_allclose(prof["q25"], g.quantile(0.25).to_numpy())
    np.testing.assert_allclose(prof["median"], g.median().to_numpy())
    np.testing.assert_allclose(prof["q75"], g.quantile(0.75).to_numpy())
    assert prof["class"].tolist()[:3] == ["a", "a", "a"]
    assert (prof["n"] == 25).all()


def test_class_profile_reduces_conv_to_channel_means():
    A = RNG.normal(size=(10, 2, 3, 3))
    y = np.repeat([0, 1], 5)
    prof = analysis.class_profile(A, y)
    manual = A.mean(axis=(2, 3))[y == 1].mean(axis=0)
    np.testing.assert_allclose(prof.query("`class` == 1")["mean"], manual, rtol=1e-6)
    assert len(analysis.class_profile(A, y, reduce="flatten")) == 2 * 18


def test_selectivity_by_hand():
    # unit 0: class 1 stands out; unit 1: constant (dead) -> 0
    A = np.array(
        [[0.0, 0.0], [0.0, 0.0], [4.0, 0.0], [4.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    )
    y = np.array([0, 0, 1, 1, 2, 2])
    s = analysis.selectivity(A, y)
    spread = A[:, 0].std()
    assert s.loc[0, "preferred_class"] == 1
    np.testing.assert_allclose(s.loc[0, "selectivity"], (4.0 - 0.5) / spread)
    assert s.loc[1, "selectivity"] == 0.0
    with pytest.raises(ValueError, match="two classes"):
        analysis.selectivity(A, np.zeros(6))


# ----------------------------------------------------------------------
# Misclassified versus correct
# ----------------------------------------------------------------------


def test_misclassified_samples_with_confidence_and_labels():
    y_true = np.array(["a", "b", "b", "c"])
    y_pred = np.array(["a", "c", "b", "a"])
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3]]
    )
    t = analysis.misclassified_samples(
        y_true, y_pred, proba, classes=["a", "b", "c"], index=["w", "x", "y", "z"]
    )
    assert t.index.tolist() == ["x", "z"]
    assert t["true"].tolist() == ["b", "c"]
    assert t["predicted"].tolist() == ["c", "a"]
    np.testing.assert_allclose(t["confidence"], [0.6, 0.5])
    np.testing.assert_allclose(t["proba_true"], [0.3, 0.3])


def test_misclassified_samples_empty_and_errors():
    t = analysis.misclassified_samples([0, 1], [0, 1], np.eye(2))
    assert t.empty and list(t.columns) == [
        "true",
        "predicted",
        "confidence",
        "proba_true",
    ]
    with pytest.raises(ValueError, match="no column"):
        analysis.misclassified_samples([0, 5], [0, 1], np.eye(2))
    with pytest.raises(ValueError, match="y_pred has 1"):
        analysis.misclassified_samples([0, 1], [0])


def test_compare_misclassified_matches_masks():
    A = RNG.normal(size=(20, 3))
    y_true = np.repeat([0, 1], 10)
    y_pred = y_true.copy()
    y_pred[[1, 4]] = 1  # two errors in class 0
    cmp = analysis.compare_misclassified(A, y_true, y_pred)
    assert cmp["class"].unique().tolist() == [0]
    ok = A[(y_true == 0) & (y_pred == 0)].mean(axis=0)
    bad = A[[1, 4]].mean(axis=0)
    np.testing.assert_allclose(cmp["correct_mean"], ok)
    np.testing.assert_allclose(cmp["wrong_mean"], bad)
    np.testing.assert_allclose(cmp["difference"], bad - ok)
    assert (cmp["n_correct"] == 8).all() and (cmp["n_wrong"] == 2).all()


def test_compare_misclassified_class_without_correct_and_no_errors():
    A = np.arange(8.0).reshape(4, 2)
    cmp = analysis.compare_misclassified(A, [0, 0, 1, 1], [1, 1, 1, 1])
    assert cmp["correct_mean"].isna().all() and cmp["difference"].isna().all()
    empty = analysis.compare_misclassified(A, [0, 0, 1, 1], [0, 0, 1, 1])
    assert empty.empty and "difference" in empty.columns


# ----------------------------------------------------------------------
# History
# ----------------------------------------------------------------------


def test_history_frame_reads_skorch_history():
    h = History()
    for epoch, (tl, vl) in enumerate([(1.0, 0.9), (0.5, 0.95), (0.4, 0.7)], start=1):
        h.new_epoch()
        h.record("epoch", epoch)
        h.record("dur", 0.1)
        h.record("train_batch_count", 3)
        h.record("train_loss", tl)
        h.record("valid_loss", vl)
        h.record("valid_loss_best", vl == min([0.9, 0.95, 0.7][:epoch]))
        h.new_batch()
        h.record_batch("train_loss", tl)
    h.record("extra", 3.0)  # only in the last epoch
    frame = analysis.history_frame(h)
    assert frame.index.tolist() == [1, 2, 3]
    assert set(frame.columns) == {
        "train_loss",
        "valid_loss",
        "valid_loss_best",
        "extra",
    }
    assert frame["valid_loss_best"].tolist() == [True, False, True]
    assert frame["extra"].isna().tolist() == [True, True, False]
    with pytest.raises(ValueError, match="empty"):
        analysis.history_frame(History())
