"""KernelGridDisplay: the mosaic holds the kernels, shared and per-kernel
colour scales, channel selection and errors that name conv layers."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.plot import KernelGridDisplay
from tests._plot_helpers import no_new_figures


def text_boxes(fig):
    """Every visible text of the figure (labels, ticks, titles, numbers) and
    its box in display pixels, as drawn."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = []
    for ax in fig.axes:
        texts += [*ax.texts, *ax.get_xticklabels(), *ax.get_yticklabels()]
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
    texts = [t for t in texts if t.get_visible() and t.get_text()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


def assert_no_overlaps(fig):
    boxes = text_boxes(fig)
    clashes = [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]
    assert not clashes, clashes[:5]


def test_kernel_grid_shared_scale_matches_weights(digits_fit):
    net, _, _ = digits_fit
    disp = net.plot_kernels("cnn1")
    W = net.module_.cnn1.weight.detach().numpy()
    np.testing.assert_array_equal(disp.kernels_, W)
    limit = np.abs(W).max()
    assert disp.vmax_ == pytest.approx(limit) and disp.vmin_ == -disp.vmax_
    assert disp.ax_.images[0].get_clim() == pytest.approx((-limit, limit))
    # one input channel: 5 kernels wrap into 2 rows of 3, 1-pixel gaps and
    # a 1-pixel band above each row for the labels
    assert disp.image_.shape == (2 * (1 + 3) + 1, 3 * 3 + 2)
    np.testing.assert_array_equal(disp.image_[1:4, 4:7], W[1, 0])
    np.testing.assert_array_equal(disp.image_[6:9, 0:3], W[3, 0])
    assert np.isnan(disp.image_[:, 3]).all() and np.isnan(disp.image_[0]).all()
    assert np.isnan(disp.image_[5:9, 8:11]).all()  # no sixth kernel
    labels = [t for t in disp.ax_.texts if t.get_text().startswith("out")]
    assert [t.get_text() for t in labels] == [f"out {i}" for i in range(5)]
    assert labels[4].get_position() == (5.0, 6 - 0.55)  # above kernel 4 (rows 6-8)
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


def test_first_layer_kernels_wrap_near_square_and_numbers_only_when_readable():
    # seed 002's case: Conv2d(1, 16, 3) gives a 4 x 4 grid with every weight
    # written (pixels of about a third of an inch)
    W = np.random.default_rng(4).normal(size=(16, 1, 3, 3))
    disp = KernelGridDisplay.from_weights(W)
    assert disp.image_.shape == (4 * 4 + 3, 4 * 3 + 3)
    for k in range(16):
        r, c = divmod(k, 4)
        top, left = r * 5 + 1, c * 4
        np.testing.assert_array_equal(
            disp.image_[top : top + 3, left : left + 3], W[k, 0]
        )
    texts = [t.get_text() for t in disp.ax_.texts]
    assert [t for t in texts if t.startswith("out")] == [f"out {k}" for k in range(16)]
    numbers = [t for t in texts if not t.startswith("out")]
    assert len(numbers) == 144
    assert numbers[:3] == [f"{v:.2f}".replace("-0.00", "0.00") for v in W[0, 0, 0]]
    assert disp.ax_.get_xticks().size == 0 and disp.ax_.get_yticks().size == 0
    width, height = disp.figure_.get_size_inches()
    assert width < 8 and height < 8
    # 5 x 5 kernels: pixels too small for numbers; the user's choice wins
    W5 = np.random.default_rng(5).normal(size=(16, 1, 5, 5))
    disp = KernelGridDisplay.from_weights(W5)
    assert all(t.get_text().startswith("out") for t in disp.ax_.texts)
    disp = KernelGridDisplay.from_weights(W5, annotate=True)
    assert len(disp.ax_.texts) == 16 + W5.size
    # a small axes of the caller's: no numbers, and "out k" does not fit
    # above 3-pixel kernels either: the rows and columns are labelled instead
    _, ax = plt.subplots(figsize=(2, 2))
    disp = KernelGridDisplay.from_weights(W, ax=ax)
    assert len(ax.texts) == 0
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[0] == "out 0–3" and set(rows) <= {
        "out 0–3",
        "out 4–7",
        "out 8–11",
        "out 12–15",
    }
    assert "first of its row" in ax.get_xlabel().replace("\n", " ")
    assert_no_overlaps(disp.figure_)
    plt.close("all")
