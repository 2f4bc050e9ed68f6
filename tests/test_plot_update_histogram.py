"""UpdateHistogramDisplay: all per-step changes counted on explicit bins."""

import numpy as np
import pytest
from _recording_helpers import fit_displayed, wine_data

from skviz.plot import UpdateHistogramDisplay
from skviz.record import load


@pytest.fixture(scope="module")
def recorded():
    X, y = wine_data()
    return fit_displayed(X, y)


def test_update_histogram_uses_explicit_bins(recorded):
    _, rec = recorded
    upd = rec.updates("dense1.weight").ravel()
    disp = UpdateHistogramDisplay.from_recorder(rec, "dense1.weight", bins=40)
    edges = np.linspace(float(upd.min()), float(upd.max()), 41)
    np.testing.assert_allclose(disp.bin_edges, edges)
    np.testing.assert_array_equal(disp.counts[0], np.histogram(upd, edges)[0])
    assert disp.outside[0] == 0

    edges = np.array([-1e-3, -1e-4, 0.0, 1e-4, 1e-3])
    disp = UpdateHistogramDisplay.from_recorder(
        rec, ["dense1.weight", "output"], bins=edges, density=True, log=True
    )
    assert disp.params == ["dense1.weight", "output.weight"]
    np.testing.assert_array_equal(disp.bin_edges, edges)
    inside = np.histogram(upd, edges)[0]
    np.testing.assert_array_equal(disp.counts[0], inside)
    assert disp.outside[0] == upd.size - inside.sum()
    assert np.isclose((disp.heights_[0] * np.diff(edges)).sum(), 1.0)
    assert disp.ax_.get_yscale() == "log"
    assert "outside the bins" in disp.artists_[0].get_label()
    with pytest.raises(ValueError, match="increasing"):
        UpdateHistogramDisplay.from_recorder(rec, bins=[1.0, 0.0])
    with pytest.raises(ValueError, match="No recorded parameter"):
        UpdateHistogramDisplay.from_recorder(rec, "nope")


def test_update_histogram_rejects_what_is_not_a_recording():
    with pytest.raises(TypeError, match="WeightRecorder"):
        UpdateHistogramDisplay.from_recorder(object())


def test_update_histogram_from_a_loaded_recording_and_keyword_only_ax(
    recorded, tmp_path
):
    import matplotlib.pyplot as plt

    net, rec = recorded
    loaded = load(rec.save(tmp_path / "rec"), mmap_mode="r")
    a = UpdateHistogramDisplay.from_estimator(net, "dense1", bins=30)
    b = UpdateHistogramDisplay.from_recorder(loaded, "dense1", bins=30)
    assert a.params == b.params == ["dense1.weight", "dense1.bias"]
    np.testing.assert_array_equal(a.bin_edges, b.bin_edges)
    np.testing.assert_array_equal(a.counts, b.counts)
    _, ax = plt.subplots()
    with pytest.raises(TypeError):
        a.plot(ax)  # ax is keyword-only
    assert a.plot(ax=ax, log=True) is a and a.ax_ is ax
