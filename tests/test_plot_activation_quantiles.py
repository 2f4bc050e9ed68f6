"""ActivationQuantilesDisplay: quantile bands of each layer over checkpoints."""

import numpy as np
import pytest
from _monitor_helpers import monitored_wine

from skviz.plot import ActivationQuantilesDisplay


@pytest.fixture(scope="module")
def fitted():
    return monitored_wine(max_epochs=3)


def test_quantile_bands_match_the_recording(fitted):
    mon = fitted[1]
    disp = ActivationQuantilesDisplay.from_monitor(mon, source="train")
    table = mon.quantile_frame("train")
    assert len(disp.axes_) == 2
    for ax, layer in zip(disp.axes_, ("dense0", "dense1"), strict=True):
        part = table[table.layer == layer]
        outer, inner = disp.bands_[layer]
        lo, hi = part[0.05].to_numpy(), part[0.95].to_numpy()
        verts = outer.get_paths()[0].vertices
        assert np.isclose(verts[:, 1].min(), lo.min(), atol=1e-5)
        assert np.isclose(verts[:, 1].max(), hi.max(), atol=1e-5)
        assert inner.get_alpha() > outer.get_alpha()
        np.testing.assert_allclose(
            disp.median_lines_[layer].get_ydata(), part[0.5].to_numpy()
        )
        assert ax.get_title(loc="left") == layer
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert labels == ["0.05-0.95", "0.25-0.75", "median"]


def test_quantiles_need_axes_per_layer(fitted):
    import matplotlib.pyplot as plt

    net, mon = fitted
    fig, axes = plt.subplots(2)
    disp = ActivationQuantilesDisplay.from_estimator(net, axes=axes)
    assert disp.figure_ is fig
    with pytest.raises(ValueError, match="2 x 1"):
        ActivationQuantilesDisplay.from_monitor(mon, axes=axes[:1])
