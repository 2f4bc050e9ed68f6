"""RelativeUpdateDisplay: std(update) / std(weight) per parameter, log scale."""

import numpy as np
import pandas as pd
import pytest
from _recording_helpers import fit_displayed, wine_data

from skviz.plot import RelativeUpdateDisplay
from skviz.record import WeightRecorder, load


@pytest.fixture(scope="module")
def recorded():
    X, y = wine_data()
    return fit_displayed(X, y)


def test_relative_update_display_log_scale_and_reference(recorded):
    _, rec = recorded
    disp = RelativeUpdateDisplay.from_recorder(rec, "dense*")
    assert list(disp.values.columns) == [
        "dense0.weight",
        "dense1.weight",
        "dense1.bias",
    ]
    assert disp.ax_.get_yscale() == "log"
    ref = [ln for ln in disp.ax_.get_lines() if ln.get_linestyle() == "--"]
    assert len(ref) == 1 and np.allclose(ref[0].get_ydata(), 1e-3)
    traj = rec.trajectory("dense0.weight").astype(np.float64).reshape(rec.n_steps_, -1)
    expected = np.diff(traj, axis=0).std(axis=1) / traj[:-1].std(axis=1)
    np.testing.assert_allclose(disp.lines_[0].get_ydata(), expected, rtol=1e-6)


def test_relative_update_display_rejects_a_recorder_that_recorded_nothing():
    with pytest.raises(ValueError, match="recorded nothing"):
        RelativeUpdateDisplay.from_recorder(WeightRecorder())


def test_relative_update_display_from_a_recording_and_keyword_only_ax(
    recorded, tmp_path
):
    import matplotlib.pyplot as plt

    net, rec = recorded
    a = RelativeUpdateDisplay.from_estimator(net, "output", recorder_name="rec")
    b = RelativeUpdateDisplay.from_recorder(
        load(rec.save(tmp_path / "r.npz")), "output"
    )
    pd.testing.assert_frame_equal(a.values, b.values)
    _, ax = plt.subplots()
    with pytest.raises(TypeError):
        a.plot(ax)  # ax is keyword-only
    assert a.plot(ax=ax) is a and a.ax_ is ax
    with pytest.raises(ValueError, match="No parameter matches"):
        RelativeUpdateDisplay.from_recorder(rec, "nope")
