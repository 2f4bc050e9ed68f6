"""DeadFractionDisplay: dead and dormant fraction per layer over checkpoints."""

import numpy as np
import pytest
from _monitor_helpers import monitored_wine

from skviz.plot import DeadFractionDisplay


@pytest.fixture(scope="module")
def fitted():
    return monitored_wine()


def test_dead_fraction_lines_match_the_recording(fitted):
    mon = fitted[1]
    disp = DeadFractionDisplay.from_monitor(mon)
    rec = mon.recording_
    steps = rec.steps("eval")
    for layer in ("dense0", "dense1"):
        dead = disp.lines_[(layer, "dead")]
        dormant = disp.lines_[(layer, "dormant")]
        np.testing.assert_array_equal(dead.get_xdata(), steps)
        np.testing.assert_allclose(
            dead.get_ydata(), (rec.values("active", layer, "eval") == 0).mean(axis=1)
        )
        score = rec.values("dormancy", layer, "eval")
        np.testing.assert_allclose(dormant.get_ydata(), (score <= 0.025).mean(axis=1))
        assert dead.get_color() == dormant.get_color()
        assert dormant.get_linestyle() == "--"
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend == ["dense0", "dense1", "dead", "dormant"]
    assert disp.ax_.get_ylim() == (-0.03, 1.03)
    assert "0.025" in disp.ax_.get_title()


def test_dead_fraction_on_a_given_ax(fitted):
    import matplotlib.pyplot as plt

    net = fitted[0]
    fig, ax = plt.subplots()
    disp = DeadFractionDisplay.from_estimator(net, ["dense1"], source="train", ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert set(disp.lines_) == {("dense1", "dead"), ("dense1", "dormant")}
    assert "at epoch ends" not in ax.get_xlabel()
