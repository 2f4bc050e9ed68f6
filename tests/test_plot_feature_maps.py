"""FeatureMapDisplay: maps against a hand-written forward in one capture pass,
channel selection, colour scales, input images and row labels."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.analysis import NonFiniteWarning
from skviz.plot import FeatureMapDisplay
from tests._plot_helpers import cnn_forward, no_new_figures


def test_feature_maps_match_manual_forward_in_one_pass(digits_fit):
    net, X, y = digits_fit
    net.n_capture_calls_ = 0
    disp = net.plot_feature_maps(X, y, ["cnn1", "act1", "pool1"], samples=[4, 0, 7])
    assert net.n_capture_calls_ == 1
    manual = cnn_forward(net, X[[4, 0, 7]])
    for layer, M in manual.items():
        np.testing.assert_allclose(disp.maps_[layer], M, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(disp.images_, X[[4, 0, 7], 0])
    assert disp.axes_.shape == (3, 1 + 5 + 5 + 5)
    assert disp.axes_[0, 1].get_title() == "cnn1\nch 0"
    assert disp.axes_[1, 0].get_ylabel() == f"#0: {y[0]}"
    np.testing.assert_allclose(
        disp.axes_[2, 1 + 5 + 5 + 2].images[0].get_array(),
        manual["pool1"][2, 2],
        rtol=1e-5,
    )
    lo, hi = disp.limits_["cnn1"]
    assert lo == -hi == pytest.approx(-np.abs(manual["cnn1"]).max(), rel=1e-5)


def test_feature_maps_channel_selection_and_axes(digits_fit):
    net, X, _ = digits_fit
    fig, axes = plt.subplots(2, 3)
    disp = no_new_figures(
        lambda: FeatureMapDisplay.from_estimator(
            net, X, None, "act1", samples=2, channels=[1, 3], axes=axes
        )
    )
    assert disp.figure_ is fig
    assert disp.channels_ == {"act1": [1, 3]}
    manual = cnn_forward(net, X[:2])["act1"]
    np.testing.assert_allclose(
        axes[1, 2].images[0].get_array(), manual[1, 3], rtol=1e-5
    )
    with pytest.raises(ValueError, match="2 x 6 = 12 panel"):
        FeatureMapDisplay.from_estimator(net, X, None, "act1", samples=2, axes=axes)
    with pytest.raises(ValueError, match=r"in \[0, 4\]"):
        FeatureMapDisplay.from_estimator(net, X, None, "act1", channels=[9])


def test_feature_maps_2d_layer_error_names_map_layers(digits_fit):
    net, X, _ = digits_fit
    with pytest.raises(
        ValueError, match=r"'fc1' -> \(32,\).*\['cnn1', 'act1', 'pool1'\]"
    ):
        net.plot_feature_maps(X, layers=["cnn1", "fc1"])


def test_feature_maps_nan_warning_and_per_map_scale():
    maps = np.random.default_rng(0).normal(size=(2, 3, 4, 4))
    maps[0, 1, 0, 0] = np.inf
    with pytest.warns(NonFiniteWarning):
        disp = FeatureMapDisplay.from_activations({"conv": maps}, scale="map")
    assert disp.images_ is None and disp.axes_.shape == (2, 3)
    assert np.ma.is_masked(disp.axes_[0, 1].images[0].get_array())
    assert "own colour scale" in disp.figure_._suptitle.get_text()


def test_feature_maps_input_images_from_any_layout(digits_fit):
    from skviz.plot._feature_maps import _as_images

    _, X, _ = digits_fit
    flat = X[:2].reshape(2, 64)
    np.testing.assert_array_equal(_as_images(flat, (8, 8)), X[:2, 0])
    np.testing.assert_array_equal(_as_images(X[:2], None), X[:2, 0])
    rgb = np.random.default_rng(0).random((2, 3, 4, 5))
    np.testing.assert_array_equal(_as_images(rgb, None), rgb.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match="image_shape"):
        _as_images(flat, None)
    with pytest.raises(ValueError, match="does not fit"):
        _as_images(flat, (7, 7))
    maps = {"m": np.ones((2, 1, 3, 3))}
    with pytest.raises(ValueError, match="images must have shape"):
        FeatureMapDisplay(maps, images=flat)
    with pytest.raises(ValueError, match="height, width"):
        FeatureMapDisplay({"m": np.ones((2, 3))})


def test_class_names_in_row_labels(digits_fit):
    net, X, y = digits_fit
    names = [f"digit {d}" for d in range(10)]
    disp = net.plot_feature_maps(X, y, "act1", samples=[0, 1], class_names=names)
    labels = [disp.axes_[i, 0].get_ylabel() for i in range(2)]
    assert labels == [f"#0: digit {y[0]}", f"#1: digit {y[1]}"]
    mapping = {int(y[0]): "first"}  # labels it lacks stay as they are
    disp = net.plot_feature_maps(X, y, "act1", samples=[0, 1], class_names=mapping)
    labels = [disp.axes_[i, 0].get_ylabel() for i in range(2)]
    assert labels[0] == "#0: first"
    if y[1] != y[0]:
        assert labels[1] == f"#1: {y[1]}"


def test_layers_come_after_y_and_are_required(digits_fit):
    net, X, y = digits_fit
    disp = FeatureMapDisplay.from_estimator(net, X, y, ["act1"], samples=1)
    assert list(disp.maps_) == ["act1"]
    disp = FeatureMapDisplay.from_estimator(net, X, layers="pool1", samples=1)
    assert disp.sample_labels_ == ["#0"]
    # The old order, layers before y, is caught with a hint.
    with pytest.raises(TypeError, match="layers come after y"):
        FeatureMapDisplay.from_estimator(net, X, ["cnn1", "act1"])
    with pytest.raises(TypeError, match="needs the layer"):
        net.plot_feature_maps(X, y)


def test_channels_and_limits_are_computed_before_drawing():
    maps = np.random.default_rng(1).normal(size=(2, 4, 3, 3))
    disp = FeatureMapDisplay({"conv": maps}, channels=[3, 1])
    assert not hasattr(disp, "figure_")
    assert disp.channels_ == {"conv": [3, 1]}
    bound = np.abs(maps[:, [3, 1]]).max()
    assert disp.limits_["conv"] == pytest.approx((-bound, bound))
    disp.plot()
    assert disp.axes_[0, 0].images[0].get_clim() == pytest.approx((-bound, bound))


def _colorbar_labels(fig):
    return [ax.get_xlabel() for ax in fig.axes if not ax.images and ax.get_xlabel()]


def test_wide_grids_wrap_into_bands_of_rows():
    # 3 layers x 6 channels (19 columns in one row before): one band of rows
    # per layer, 7 panels wide, the input repeated on the left of each band
    rng = np.random.default_rng(2)
    maps = {name: rng.normal(size=(5, 6, 4, 4)) for name in ("a", "b", "c")}
    images = rng.random((5, 8, 8))
    disp = FeatureMapDisplay.from_activations(maps, images=images)
    fig = disp.figure_
    assert disp.axes_.shape == (5, 1 + 18)  # the logical grid is unchanged
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 3 * 5 * 7
    width, height = fig.get_size_inches()
    assert width <= 8.5 < height
    # channel 0 of each layer stands in the same column, one band lower
    x = [disp.axes_[0, 1 + 6 * k].get_position().x0 for k in range(3)]
    assert x[0] == pytest.approx(x[1]) == pytest.approx(x[2])
    y_last_a = disp.axes_[4, 1].get_position().y0
    y_first_b = disp.axes_[0, 7].get_position().y1
    assert y_first_b < y_last_a
    assert disp.axes_[0, 7].get_title() == "b\nch 0"
    # every band shows the input images and the row labels
    inputs = [ax for ax in drawn if ax.get_ylabel() == "sample 0"]
    assert len(inputs) == 3
    for ax in inputs:
        np.testing.assert_array_equal(ax.images[0].get_array(), images[0])
    assert _colorbar_labels(fig) == ["a", "b", "c"]
    # up to 8 maps share a row: two layers of 4 channels stay one band
    two = {"a": maps["a"][:, :4], "b": maps["b"][:, :4]}
    disp = FeatureMapDisplay.from_activations(two, images=images)
    assert len([ax for ax in disp.figure_.axes if ax.images]) == 5 * 9


def test_layer_bands_split_wide_layers():
    from skviz.plot._feature_map_layout import bands

    chosen = {"a": [0, 1, 2], "b": list(range(10)), "c": [4]}
    assert bands(chosen, 8) == [
        [("a", 0), ("a", 1), ("a", 2)],
        [("b", j) for j in range(8)],
        [("b", 8), ("b", 9), ("c", 0)],
    ]


def test_capped_channels_are_named_in_the_title():
    rng = np.random.default_rng(3)
    maps = {"conv": rng.normal(size=(2, 16, 3, 3)), "pool": rng.random((2, 4, 2, 2))}
    disp = FeatureMapDisplay.from_activations(maps)
    title = disp.figure_._suptitle.get_text()
    assert "showing the first 8 of 16 channels of conv (max_channels)" in title
    assert disp.channels_["conv"] == list(range(8))
    chosen = FeatureMapDisplay.from_activations(maps, channels={"conv": [0, 9]})
    assert "showing" not in chosen.figure_._suptitle.get_text()
    plt.close("all")


def test_gray_per_map_scale_has_colour_bars_and_no_white_zero():
    rng = np.random.default_rng(4)
    conv = rng.normal(size=(2, 2, 3, 3))
    conv[0, 1] = np.abs(conv[0, 1])  # a non-negative map in a signed layer
    relu = np.maximum(rng.normal(size=(2, 2, 3, 3)), 0)
    disp = FeatureMapDisplay.from_activations(
        {"conv": conv, "relu": relu}, scale="map", cmap="gray"
    )
    title = disp.figure_._suptitle.get_text()
    assert "own colour scale" in title and "white" not in title
    # each map spans its own largest |value|; in the signed layer from -m
    peak = np.abs(conv[0, 1]).max()
    assert disp.axes_[0, 1].images[0].get_clim() == pytest.approx((-peak, peak))
    assert disp.axes_[0, 1].images[0].get_cmap().name.startswith("gray")
    peak = relu[1, 0].max()
    assert disp.axes_[1, 2].images[0].get_clim() == pytest.approx((0, peak))
    labels = _colorbar_labels(disp.figure_)
    assert labels == [
        "conv (each map / its max |value|)",
        "relu (each map / its max |value|)",
    ]
    bars = [ax for ax in disp.figure_.axes if ax.get_xlabel() in labels]
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in bars]
    assert ticks == [["−max", "0", "+max"], ["0", "max"]]
    # the default colours still say where 0 is
    default = FeatureMapDisplay.from_activations({"conv": conv}, scale="map")
    assert "0 = white" in default.figure_._suptitle.get_text()
    plt.close("all")


# ---------------------------------------------------------------------------
# resnet18 scale: long layer names, many panels, readable sizes
# ---------------------------------------------------------------------------


def _visible_text_boxes(fig):
    """The titles, labels and texts that the figure draws, with their boxes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [*fig.texts]
    for ax in fig.axes:
        texts += [ax.title, *ax.texts]
        texts += [ax.xaxis.label, ax.yaxis.label]
    unique = {id(t): t for t in texts if t.get_visible() and t.get_text()}
    return [(t.get_text(), t.get_window_extent(renderer)) for t in unique.values()]


def _assert_texts_apart_and_inside(fig):
    boxes = _visible_text_boxes(fig)
    clashes = [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]
    assert not clashes, clashes[:3]
    page = fig.bbox
    outside = [
        t for t, box in boxes if box.x0 < page.x0 - 0.5 or box.x1 > page.x1 + 0.5
    ]
    assert not outside, outside


@pytest.fixture(scope="module")
def resnet_maps():
    """ResNet18Like's maps for 3 x 64 x 64 digits, without a forward pass
    per test: ``{layer: (5, C, H, W)}`` and the input images."""
    import torch
    from _zoo import ResNet18Like
    from sklearn.datasets import load_digits

    from skviz import InspectableNeuralNetClassifier

    images = load_digits().images[:5].astype(np.float32) / 16
    X = torch.nn.functional.interpolate(torch.from_numpy(images)[:, None], size=64)
    X = X.repeat(1, 3, 1, 1).numpy()
    net = InspectableNeuralNetClassifier(ResNet18Like).initialize()
    layers = ["conv1", "layer1.0.relu@1", "layer2.0.downsample.1", "layer4"]
    return net.transform_layers(X, layers), X


def test_long_layer_names_never_run_into_the_next_title(resnet_maps):
    maps, X = resnet_maps
    disp = FeatureMapDisplay.from_activations(
        {k: maps[k] for k in ("conv1", "layer2.0.downsample.1")},
        images=np.moveaxis(X, 1, -1),
    )
    # a short name in every panel's title; a long one once, above the
    # first panel's, over the layer's width
    assert disp.axes_[0, 1].get_title() == "conv1\nch 0"
    first = disp.axes_[0, 9]
    assert first.get_title() == "ch 0" and disp.axes_[0, 10].get_title() == "ch 1"
    assert [t.get_text() for t in first.texts] == ["layer2.0.downsample.1"]
    assert not disp.axes_[0, 10].texts
    _assert_texts_apart_and_inside(disp.figure_)
    # on a caller's narrow axes too
    fig, axes = plt.subplots(2, 4, figsize=(4, 2.5), layout="constrained")
    disp = FeatureMapDisplay.from_activations(
        {"layer2.0.downsample.1": maps["layer2.0.downsample.1"][:2]},
        channels=[0, 1, 2, 3],
        axes=axes,
    )
    assert [ax.get_title() for ax in axes[0]] == ["ch 0", "ch 1", "ch 2", "ch 3"]
    _assert_texts_apart_and_inside(fig)


def test_resnet_layers_at_defaults_stay_readable(resnet_maps):
    maps, X = resnet_maps
    disp = FeatureMapDisplay.from_activations(
        {k: maps[k] for k in ("layer1.0.relu@1", "layer4")},
        images=np.moveaxis(X, 1, -1),
    )
    fig = disp.figure_
    assert max(fig.get_size_inches()) * fig.dpi < 2000
    assert disp.channels_ == {
        "layer1.0.relu@1": list(range(8)),
        "layer4": list(range(8)),
    }
    assert "first 8 of 64 channels of layer1.0.relu@1" in fig.get_suptitle()
    assert "first 8 of 512 channels of layer4" in fig.get_suptitle()
    # 2 x 2 maps of layer4 drawn as they are, pixel for pixel
    np.testing.assert_array_equal(
        disp.axes_[4, 16].images[0].get_array(), maps["layer4"][4, 7]
    )
    _assert_texts_apart_and_inside(fig)
