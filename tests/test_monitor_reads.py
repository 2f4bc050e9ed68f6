"""The reads of an activation recording: tidy frames, unit fates, fractions."""

import numpy as np
import pandas as pd
import pytest
import torch

from skviz.record import ActivationRecording, RowStore
from skviz.record._activation_recording import since
from skviz.record._unit_stats import dormancy_score

# active fraction of 4 units at 5 checkpoints (steps 10, 20, ..., 50)
ACTIVE = np.array(
    [
        [0.5, 0.4, 0.0, 0.3],
        [0.5, 0.0, 0.0, 0.3],
        [0.5, 0.0, 0.2, 0.0],
        [0.5, 0.0, 0.0, 0.3],
        [0.5, 0.0, 0.0, 0.0],
    ],
    dtype=np.float32,
)
MEAN_ABS = np.array(
    [
        [1.0, 1.0, 1.0, 1.0],
        [1.0, 0.0, 1.0, 0.01],
        [1.0, 0.0, 1.0, 1.0],
        [1.0, 0.0, 1.0, 1.0],
        [1.0, 0.0, 1.0, 0.0],
    ],
    dtype=np.float32,
)


def _recording(tau=0.1, per_class=True):
    store = RowStore()
    for key in ("step", "epoch", "batch"):
        store.add(key, (), np.int64, budgeted=False)
    for stat in ("active", "mean", "std", "mean_abs", "dormancy"):
        store.add(f"{stat}/h", (4,), np.float32)
    if per_class:
        for stat in ("active", "mean", "mean_abs"):
            store.add(f"class_{stat}/h", (2, 4), np.float32)
    for k in range(5):
        row = store.ensure_row(k)
        store.row("step", row)[...] = 10 * (k + 1)
        store.row("epoch", row)[...] = k + 1
        store.row("batch", row)[...] = 3
        store.row("active/h", row)[...] = ACTIVE[k]
        store.row("mean/h", row)[...] = ACTIVE[k] - 0.5
        store.row("std/h", row)[...] = 1.0
        store.row("mean_abs/h", row)[...] = MEAN_ABS[k]
        store.row("dormancy/h", row)[...] = dormancy_score(MEAN_ABS[k])
        if per_class:
            for stat in ("active", "mean", "mean_abs"):
                both = np.stack([ACTIVE[k], ACTIVE[k] / 2])
                store.row(f"class_{stat}/h", row)[...] = both
        store.commit_row()
    return ActivationRecording(
        {"train": store},
        layers=["h"],
        n_units={"h": 4},
        classes=np.array([0, 1]),
        tau=tau,
    )


def test_since_finds_the_start_of_the_final_run():
    flags = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(since(flags), [0, 1, 2, -1])


def test_unit_fate():
    fate = _recording().unit_fate().set_index("unit")
    # unit 0 always active; unit 1 dead from step 20; unit 2 dead, active at
    # step 30, dead again from 40; unit 3 flickers and ends dead at 50
    np.testing.assert_array_equal(fate["dead_since"].to_numpy(), [np.nan, 20, 40, 50])
    np.testing.assert_array_equal(fate["dead_since_checkpoint"], [-1, 1, 3, 4])
    np.testing.assert_array_equal(fate["revived"], [False, False, True, True])
    assert list(fate["final"]) == ["active", "dead", "dead", "dead"]
    np.testing.assert_allclose(fate["final_active"], [0.5, 0, 0, 0])
    # dormancy: unit 3 at step 20 has score 0.01 / avg -> dormant, then back
    assert fate.loc[3, "dormant_since"] == 50
    assert fate.loc[1, "dormant_since"] == 20


def test_layer_fractions_and_frames():
    rec = _recording()
    fractions = rec.layer_fractions()
    np.testing.assert_allclose(fractions["dead_fraction"], (ACTIVE == 0).mean(axis=1))
    expected_dormant = (dormancy_score(MEAN_ABS) <= 0.1).mean(axis=1)
    np.testing.assert_allclose(fractions["dormant_fraction"], expected_dormant)
    assert fractions["saturated_fraction"].isna().all()
    frame = rec.to_frame()
    assert list(frame.columns[:6]) == [
        "source",
        "step",
        "epoch",
        "batch",
        "layer",
        "unit",
    ]
    assert len(frame) == 20
    np.testing.assert_array_equal(frame["active"], ACTIVE.ravel())
    np.testing.assert_array_equal(frame["dead"], ACTIVE.ravel() == 0)
    classes = rec.class_frame()
    assert len(classes) == 40
    one = classes.query("step == 10 and `class` == 1")
    np.testing.assert_allclose(one["active"], ACTIVE[0] / 2)
    with pytest.raises(ValueError, match="No per-class"):
        _recording(per_class=False).class_values("mean", "h")
    with pytest.raises(ValueError, match="not monitored"):
        rec.values("active", "g")
    with pytest.raises(ValueError, match="'eval'"):
        rec.to_frame("eval")
    with pytest.raises(ValueError, match="quantiles"):
        rec.quantile_frame()
    assert isinstance(frame, pd.DataFrame)


def test_dormancy_of_an_all_zero_layer_is_zero_not_nan():
    np.testing.assert_array_equal(dormancy_score(np.zeros(3)), [0, 0, 0])
    t = dormancy_score(torch.zeros(2, 3))
    assert torch.equal(t, torch.zeros(2, 3))
    np.testing.assert_allclose(dormancy_score([1.0, 3.0]), [0.5, 1.5])
