"""WeightTrajectoryDisplay: per-batch line plots of chosen weights or of their
per-step changes, from a recorder or a Recording."""

import numpy as np
import pytest
from _recording_helpers import fit_displayed, wine_data

from skviz.plot import WeightTrajectoryDisplay
from skviz.record import load


@pytest.fixture(scope="module")
def recorded():
    X, y = wine_data()
    return fit_displayed(X, y)


def test_trajectory_display_draws_the_weights_that_moved_most(recorded):
    import matplotlib.pyplot as plt

    net, rec = recorded
    traj = rec.trajectory("dense1.weight")
    moved = np.abs(traj[-1].astype(float) - traj[0]).ravel()
    top = np.argsort(-moved, kind="stable")[:3]
    disp = WeightTrajectoryDisplay.from_estimator(net, "dense1.weight", n=3)
    assert list(disp.indices_) == list(top)
    assert len(disp.lines_) == 3
    for line, flat in zip(disp.lines_, top, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), rec.steps_)
        np.testing.assert_array_equal(
            line.get_ydata(), traj.reshape(len(traj), -1)[:, flat]
        )
    assert disp.ax_.get_xlabel() == "step (training batches)"

    _, ax = plt.subplots()
    disp = WeightTrajectoryDisplay.from_recorder(
        rec, "dense1.weight", indices=[(1, 2)], kind="update", ax=ax
    )
    assert disp.ax_ is ax
    np.testing.assert_array_equal(disp.lines_[0].get_ydata(), np.diff(traj[:, 1, 2]))
    np.testing.assert_array_equal(disp.lines_[0].get_xdata(), rec.steps_[1:])
    assert "change per step" in ax.get_title()


def test_trajectory_display_from_a_recording_and_keyword_only_ax(recorded, tmp_path):
    import matplotlib.pyplot as plt

    _, rec = recorded
    loaded = load(rec.save(tmp_path / "rec.npz"))
    a = WeightTrajectoryDisplay.from_recorder(rec, "dense1.weight", n=4)
    b = WeightTrajectoryDisplay.from_recorder(loaded, "dense1.weight", n=4)
    c = WeightTrajectoryDisplay.from_recorder(rec.recording_, "dense1.weight", n=4)
    for other in (b, c):
        np.testing.assert_array_equal(other.indices_, a.indices_)
        np.testing.assert_array_equal(other.values, a.values)
        np.testing.assert_array_equal(other.steps, a.steps)

    _, ax = plt.subplots()
    with pytest.raises(TypeError):
        a.plot(ax)  # ax is keyword-only
    assert a.plot(ax=ax) is a and a.ax_ is ax
    with pytest.raises(ValueError, match="kind must be"):
        WeightTrajectoryDisplay.from_recorder(rec, "dense1.weight", kind="bias")
    with pytest.raises(ValueError, match="not recorded"):
        WeightTrajectoryDisplay.from_recorder(rec, "dense9.weight", indices=[0])
