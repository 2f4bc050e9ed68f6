"""WeightDistributionDisplay: ridge plots of each layer's weights at a few
moments of training."""

import numpy as np
import pytest
from _recording_helpers import fit_displayed, wine_data

from skviz.plot import WeightDistributionDisplay


@pytest.fixture(scope="module")
def recorded():
    X, y = wine_data()
    return fit_displayed(X, y)


def test_weight_distribution_ridges(recorded):
    import matplotlib.pyplot as plt

    _, rec = recorded
    disp = WeightDistributionDisplay.from_recorder(rec, n_snapshots=4, bins=10)
    assert list(disp.densities) == ["dense0.weight", "dense1.weight", "output.weight"]
    rows = np.round(np.linspace(0, rec.n_steps_ - 1, 4)).astype(int)
    np.testing.assert_array_equal(disp.steps, rec.steps_[rows])
    for name, dens in disp.densities.items():
        values = rec.trajectory(name)[rows].reshape(4, -1)
        edges = disp.bin_edges[name]
        assert np.isclose(edges[0], values.min()) and np.isclose(
            edges[-1], values.max()
        )
        for r in range(4):
            np.testing.assert_allclose(
                dens[r], np.histogram(values[r], edges, density=True)[0]
            )
        assert len(disp.ridges_[name]) == 4
    assert sum(ax.get_visible() for ax in disp.axes_.flat) == 3

    _, axes = plt.subplots(1, 2)
    disp = WeightDistributionDisplay.from_recorder(
        rec, ["dense1.weight", "output"], axes=axes
    )
    assert disp.axes_.flat[0] is axes[0]
    assert disp.axes_.flat[1].get_title() == "output.weight"
    with pytest.raises(ValueError, match="3 panel"):
        WeightDistributionDisplay.from_recorder(rec, axes=axes)


def test_weight_distribution_from_a_recording_and_keyword_only_axes(recorded):
    import matplotlib.pyplot as plt

    _, rec = recorded
    a = WeightDistributionDisplay.from_recorder(rec.recording_, "output", bins=12)
    assert list(a.densities) == ["output.weight"]
    assert a.bin_edges["output.weight"].size == 13
    _, ax = plt.subplots()
    with pytest.raises(TypeError):
        a.plot(ax)  # axes is keyword-only
    assert a.plot(axes=ax) is a and a.axes_.flat[0] is ax
    with pytest.raises(ValueError, match="n_snapshots must be an int >= 1"):
        WeightDistributionDisplay.from_recorder(rec, n_snapshots=0)
