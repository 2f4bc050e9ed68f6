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


def assert_no_overlaps(fig, inside=True):
    """No two texts overlap, and (``inside``) all lie within the figure."""
    boxes = text_boxes(fig)
    if inside:
        page = fig.bbox
        outside = [
            text
            for text, box in boxes
            if box.x0 < page.x0 - 0.5
            or box.x1 > page.x1 + 0.5
            or box.y0 < page.y0 - 0.5
            or box.y1 > page.y1 + 0.5
        ]
        assert not outside, outside
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
    # a figure without a layout engine cuts what overflows, as matplotlib does
    assert_no_overlaps(disp.figure_, inside=False)
    plt.close("all")


# ---------------------------------------------------------------------------
# Image-net scale: resnet18's first layer, depthwise kernels, typos
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet():
    """ResNet18Like, initialised (kernels need no fit)."""
    from _zoo import ResNet18Like

    from skviz import InspectableNeuralNetClassifier

    return InspectableNeuralNetClassifier(ResNet18Like, max_epochs=1).initialize()


@pytest.fixture(scope="module")
def mobile():
    from _zoo import MobileBlockNet

    from skviz import InspectableNeuralNetClassifier

    return InspectableNeuralNetClassifier(MobileBlockNet, max_epochs=1).initialize()


def long_side_px(fig) -> float:
    return float(max(fig.get_size_inches()) * fig.dpi)


def test_first_conv_on_colour_images_is_drawn_as_rgb_filters(resnet):
    disp = resnet.plot_kernels("conv1")
    W = resnet.module_.conv1.weight.detach().numpy()  # (64, 3, 7, 7)
    assert disp.mode_ == "rgb"
    np.testing.assert_array_equal(disp.out_channels_, np.arange(64))
    np.testing.assert_array_equal(disp.kernels_, W)
    m = np.abs(W).max()
    assert disp.vmax_ == pytest.approx(m) and disp.vmin_ == -disp.vmax_
    np.testing.assert_allclose(disp.scales_, m)
    # 8 x 8 grid of 7 x 7 colour tiles, 1-pixel gaps, a 3-pixel label band
    # above each row; each tile is (1 + w / m) / 2 with in 0, 1, 2 as R, G, B
    assert disp.image_.shape == (8 * (3 + 7) + 7, 8 * 7 + 7, 3)
    for k in (0, 9, 63):
        r, c = divmod(k, 8)
        top, left = r * 11 + 3, c * 8
        tile = disp.image_[top : top + 7, left : left + 7]
        np.testing.assert_allclose(
            tile, (1 + np.moveaxis(W[k], 0, -1) / m) / 2, atol=1e-7
        )
    assert np.isnan(disp.image_[:3]).all() and np.isnan(disp.image_[:, 7]).all()
    assert np.nanmin(disp.image_) >= 0 and np.nanmax(disp.image_) <= 1
    # drawn as one RGBA image: transparent gaps, no colour bar
    (im,) = disp.ax_.images
    rgba = im.get_array()
    assert rgba.shape == (*disp.image_.shape[:2], 4)
    np.testing.assert_array_equal(rgba[..., 3], ~np.isnan(disp.image_[..., 0]))
    assert disp.figure_.axes == [disp.ax_]
    title = disp.ax_.get_title()
    assert "in 0 → red, in 1 → green, in 2 → blue" in title
    assert f"one scale for all kernels, ±{m:.3g} → 0…1, grey = 0" in title
    assert "showing" not in title  # all 64 drawn
    labels = [t.get_text() for t in disp.ax_.texts]
    assert labels == [f"out {k}" for k in range(64)]
    assert long_side_px(disp.figure_) < 2000
    assert_no_overlaps(disp.figure_)


def test_rgb_per_kernel_scale_cap_and_channel_choice():
    rng = np.random.default_rng(6)
    W = rng.normal(size=(150, 3, 5, 5))
    W[1] *= 50
    disp = KernelGridDisplay.from_weights(W, scale="kernel")
    assert disp.mode_ == "rgb" and len(disp.out_channels_) == 100
    assert "showing first 100 of 150 out channels" in disp.ax_.get_title()
    assert "each kernel on its own scale" in disp.ax_.get_title()
    own = np.abs(W[:100]).max(axis=(1, 2, 3))
    np.testing.assert_allclose(disp.scales_, np.repeat(own[:, None], 3, axis=1))
    tile = disp.image_[2:7, 6:11]  # kernel 1: 10 x 10 grid, 2-pixel label band
    np.testing.assert_allclose(tile, (1 + np.moveaxis(W[1], 0, -1) / own[1]) / 2)
    assert long_side_px(disp.figure_) < 2000
    assert_no_overlaps(disp.figure_)
    # 3 of 8 input channels as colours, in the order given
    W8 = rng.normal(size=(4, 8, 3, 3))
    disp = KernelGridDisplay(W8, mode="rgb", in_channels=[5, 0, 2])
    np.testing.assert_array_equal(disp.kernels_, W8[:, [5, 0, 2]])
    disp.plot()
    assert "in 5 → red, in 0 → green, in 2 → blue" in disp.ax_.get_title()


def test_per_channel_tiles_stay_available_and_their_labels_never_overlap(resnet):
    disp = resnet.plot_kernels("conv1", mode="channels", out_channels=range(64))
    W = resnet.module_.conv1.weight.detach().numpy()
    assert disp.mode_ == "channels" and disp.image_.shape == (64 * 8 - 1, 3 * 8 - 1)
    np.testing.assert_array_equal(disp.image_[8:15, 16:23], W[1, 2])
    ticks = [t.get_text() for t in disp.ax_.get_xticklabels()]
    assert ticks == ["in 0", "in 1", "in 2"]
    rows = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert rows[0] == "out 0" and 8 <= len(rows) <= 64  # as many as fit
    assert len(disp.figure_.axes) == 2  # the mosaic and its colour bar
    assert long_side_px(disp.figure_) < 2000
    assert_no_overlaps(disp.figure_)
    # by default 32 rows in this mode, as the title says
    disp = resnet.plot_kernels("conv1", mode="channels")
    assert "first 32 of 64 out channels" in disp.ax_.get_title()
    assert_no_overlaps(disp.figure_)


@pytest.mark.parametrize("figsize", [(2.5, 2.5), (4, 3)])
def test_many_kernels_in_a_small_axes_get_axis_labels(figsize):
    W = np.random.default_rng(7).normal(size=(64, 3, 7, 7))
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    disp = KernelGridDisplay.from_weights(W, ax=ax)
    assert not ax.texts  # "out k" does not fit above 7-pixel kernels here
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[0] == "out 0–7"
    assert set(rows) <= {f"out {k}–{k + 7}" for k in range(0, 64, 8)}
    assert [t.get_text() for t in ax.get_xticklabels()][:1] == ["+0"]
    assert_no_overlaps(disp.figure_)


def test_grouped_conv_is_not_drawn_as_colours():
    from torch import nn

    from tests._plot_helpers import make_net

    class Grouped(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(6, 6, 3, groups=2)  # weight (6, 3, 3, 3)
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))

    net = make_net(Grouped).initialize()
    disp = net.plot_kernels("conv")
    assert disp.mode_ == "channels" and disp.kernels_.shape == (6, 3, 3, 3)
    assert net.plot_kernels("conv", mode="rgb").mode_ == "rgb"  # on request


def test_depthwise_weights_are_written_only_where_they_fit(mobile):
    disp = mobile.plot_kernels("depthwise")  # (8, 1, 3, 3), groups=8
    W = mobile.module_.depthwise.weight.detach().numpy()
    assert disp.mode_ == "channels"
    numbers = [t for t in disp.ax_.texts if not t.get_text().startswith("out")]
    assert len(numbers) == W.size
    np.testing.assert_allclose(
        [float(t.get_text()) for t in numbers[:9]], W[0, 0].ravel(), atol=0.006
    )
    assert_no_overlaps(disp.figure_)
    # each number inside its own pixel
    fig = disp.figure_
    renderer = fig.canvas.get_renderer()
    pixel = (
        disp.ax_.transData.transform([[1, 0]])[0]
        - disp.ax_.transData.transform([[0, 0]])[0]
    )
    widths = [t.get_window_extent(renderer).width for t in numbers]
    assert max(widths) < pixel[0]
    # large weights (more digits), many kernels, small axes: no clashes
    rng = np.random.default_rng(8)
    for W, size in [
        (rng.normal(scale=30, size=(16, 1, 3, 3)), None),
        (rng.normal(size=(32, 1, 3, 3)), None),
        (rng.normal(size=(96, 1, 5, 5)), None),
        (rng.normal(size=(16, 1, 3, 3)), (3, 3)),
        (rng.normal(size=(6, 4, 3, 3)), (4, 3)),
    ]:
        ax = (
            None
            if size is None
            else plt.subplots(figsize=size, layout="constrained")[1]
        )
        disp = KernelGridDisplay.from_weights(W, ax=ax)
        assert_no_overlaps(disp.figure_)
        plt.close("all")


def test_rgb_refuses_what_it_cannot_draw():
    W = np.random.default_rng(9).normal(size=(4, 3, 3, 3))
    with pytest.raises(ValueError, match="mode must be"):
        KernelGridDisplay(W, mode="colour")
    with pytest.raises(ValueError, match=r"has 5 input channels.*in_channels="):
        KernelGridDisplay(np.zeros((4, 5, 3, 3)), mode="rgb")
    with pytest.raises(ValueError, match="in_channels names 2"):
        KernelGridDisplay(W, mode="rgb", in_channels=[0, 1])
    with pytest.raises(ValueError, match="annotate=True"):
        KernelGridDisplay.from_weights(W, annotate=True)
    with pytest.raises(ValueError, match="max_out must be a positive int"):
        KernelGridDisplay(W, max_out=0)


def test_nonfinite_weights_are_marked_in_rgb():
    W = np.random.default_rng(10).normal(size=(4, 3, 3, 3))
    W[2, 1, 0, 0] = np.nan
    with pytest.warns(UserWarning, match="non-finite"):
        disp = KernelGridDisplay.from_weights(W)
    assert "× = non-finite" in disp.ax_.get_title()
    (marks,) = disp.ax_.collections
    r, c = disp._mosaic.origin(2)
    np.testing.assert_array_equal(marks.get_offsets(), [[c, r]])
    assert disp.ax_.images[0].get_array()[r, c, 3] == 0
    assert np.isfinite(W[2, 1, 0, 1])  # the caller's array is untouched
    assert np.isnan(W[2, 1, 0, 0])


def test_unknown_layer_gets_the_engines_message(resnet, digits_fit):
    X = np.zeros((2, 3, 64, 64), dtype=np.float32)
    for net, typo in [
        (resnet, "cnv1"),
        (resnet, "layer1.0.con1"),
        (digits_fit[0], "cnn"),
    ]:
        with pytest.raises(ValueError) as engine:
            net.transform_layer(X if net is resnet else digits_fit[1][:2], typo)
        with pytest.raises(ValueError) as kernels:
            net.plot_kernels(typo)
        assert str(kernels.value) == str(engine.value)
        assert str(kernels.value).startswith(f"Unknown layer {typo!r}. Did you mean")
    # nothing alike: no suggestion at all, and no list of unrelated layers
    with pytest.raises(ValueError) as kernels:
        resnet.plot_kernels("xyz")
    message = str(kernels.value)
    assert "Did you mean" not in message and "layer1" not in message
    assert "net.layer_names()" in message
    # a weight has no calls: the module's own name is asked for
    with pytest.raises(ValueError, match=r"pass 'conv1', not 'conv1@0'"):
        resnet.plot_kernels("conv1@0")
    with pytest.raises(TypeError, match="layer must be a str"):
        resnet.plot_kernels(1)
