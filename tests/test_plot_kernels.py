"""KernelGridDisplay: the mosaic holds the kernels, shared and per-kernel
colour scales, channel selection and errors that name conv layers."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.plot import KernelGridDisplay
from tests._plot_helpers import no_new_figures


def test_kernel_grid_shared_scale_matches_weights(digits_fit):
    net, _, _ = digits_fit
    disp = net.plot_kernels("cnn1")
    W = net.module_.cnn1.weight.detach().numpy()
    np.testing.assert_array_equal(disp.kernels_, W)
    limit = np.abs(W).max()
    assert disp.vmax_ == pytest.approx(limit) and disp.vmin_ == -disp.vmax_
    assert disp.ax_.images[0].get_clim() == pytest.approx((-limit, limit))
    # one input channel: kernels side by side, 1-pixel gaps
    np.testing.assert_array_equal(disp.image_[:, 4:7], W[1, 0])
    assert np.isnan(disp.image_[:, 3]).all()
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == [
        f"out {i}" for i in range(5)
    ]
    assert "one colour scale for all kernels" in disp.ax_.get_title()


def test_kernel_grid_per_kernel_scale_and_selection():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(6, 4, 3, 3))
    W[2, 1] *= 100
    _, ax = plt.subplots()
    disp = no_new_figures(
        lambda: KernelGridDisplay.from_weights(
            W, ax=ax, scale="kernel", out_channels=[2, 5], in_channels=[1, 3]
        )
    )
    np.testing.assert_array_equal(disp.kernels_, W[np.ix_([2, 5], [1, 3])])
    first = disp.image_[0:3, 0:3]
    np.testing.assert_allclose(first, W[2, 1] / np.abs(W[2, 1]).max())
    assert disp.vmax_ == 1.0
    assert "per kernel" in ax.get_title() and "2 of 6 out" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["out 2", "out 5"]
    with pytest.raises(ValueError, match=r"in \[0, 5\]"):
        KernelGridDisplay.from_weights(W, out_channels=[6])
    with pytest.raises(ValueError, match="scale"):
        KernelGridDisplay.from_weights(W, scale="global")


def test_kernel_grid_error_names_conv_layers(digits_fit, wine_fit):
    with pytest.raises(ValueError, match=r"'fc1' is Linear.*\['cnn1'\]"):
        digits_fit[0].plot_kernels("fc1")
    with pytest.raises(ValueError, match=r"no nn\.Conv2d layer"):
        wine_fit[0].plot_kernels("dense0")


def test_mosaic_is_computed_before_drawing():
    W = np.random.default_rng(3).normal(size=(2, 3, 2, 2))
    disp = KernelGridDisplay(W, in_channels=[2, 0], scale="kernel")
    assert not hasattr(disp, "figure_")
    np.testing.assert_array_equal(disp.in_channels_, [2, 0])
    np.testing.assert_array_equal(disp.kernels_, W[:, [2, 0]])
    np.testing.assert_allclose(disp.scales_, np.abs(W[:, [2, 0]]).max(axis=(2, 3)))
    # rows are output channels, columns input channels, 1-pixel gaps
    assert disp.image_.shape == (2 * 2 + 1, 2 * 2 + 1)
    np.testing.assert_allclose(disp.image_[3:5, 0:2], W[1, 2] / disp.scales_[1, 0])
    disp.plot(annotate=True)
    assert len(disp.ax_.texts) == W[:, [2, 0]].size
