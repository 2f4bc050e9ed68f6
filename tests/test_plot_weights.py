"""WeightHeatmapDisplay: the drawn numbers are the parameters, selection of
wide layers, feature names, limits and errors that name working layers."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.analysis import NonFiniteWarning
from skviz.plot import WeightHeatmapDisplay
from tests._plot_helpers import no_new_figures


def test_weight_heatmap_matches_parameters_with_feature_names(wine_fit):
    net, X, _ = wine_fit
    disp = net.plot_weights("dense0")
    W = net.module_.dense0.weight.detach().numpy()
    b = net.module_.dense0.bias.detach().numpy()
    np.testing.assert_array_equal(disp.image_, np.column_stack([W, b]))
    assert disp.feature_names_ == list(X.columns)
    labels = [t.get_text() for t in disp.ax_.get_xticklabels()]
    assert labels == [*X.columns, "bias"]
    limit = max(np.abs(W).max(), np.abs(b).max())
    assert disp.vmax_ == pytest.approx(limit) and disp.vmin_ == -disp.vmax_
    assert disp.ax_.images[0].get_clim() == pytest.approx((-limit, limit))
    assert "20 units × 13 inputs" in disp.ax_.get_title()
    assert "bias" in disp.colorbar_.ax.get_ylabel()


def test_weight_heatmap_deeper_layer_has_no_feature_names(wine_fit):
    net, _, _ = wine_fit
    disp = WeightHeatmapDisplay.from_estimator(net, "dense1")
    assert disp.feature_names_[0] == "in 0"
    with pytest.raises(ValueError, match="feature_names has 3 names"):
        WeightHeatmapDisplay.from_estimator(
            net, "dense1", feature_names=["a", "b", "c"]
        )


def test_weight_heatmap_wide_layer_top_k_by_norm():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(8, 512))
    W[:, 100] *= 50  # the strongest input
    _, ax = plt.subplots()
    disp = no_new_figures(lambda: WeightHeatmapDisplay.from_weights(W, ax=ax))
    norms = np.linalg.norm(W, axis=0)
    expected = np.argsort(norms)[::-1][:40]
    np.testing.assert_array_equal(disp.shown_inputs_, expected)
    assert disp.shown_inputs_[0] == 100
    assert "top 40 of 512 inputs by L2 norm" in ax.get_title()
    np.testing.assert_array_equal(disp.image_, W[:, expected])  # no bias column
    full = WeightHeatmapDisplay.from_weights(W, max_inputs=None)
    assert full.image_.shape == (8, 512)


def test_weight_heatmap_errors_name_working_layers(digits_fit, wine_fit):
    net, _, _ = digits_fit
    with pytest.raises(ValueError, match=r"'cnn1' is Conv2d.*\['fc1', 'fc2'\]"):
        net.plot_weights("cnn1")
    # A typo gets the engine's message, word for word (issue 13).
    with pytest.raises(ValueError) as engine:
        net.transform_layer(np.zeros((1, 1, 8, 8), dtype=np.float32), "fc")
    with pytest.raises(ValueError) as weights:
        net.plot_weights("fc")
    assert str(weights.value) == str(engine.value)
    assert "Did you mean 'fc2', 'fc1'?" in str(weights.value)
    with pytest.raises(ValueError, match="2-D"):
        WeightHeatmapDisplay.from_weights(np.ones(3))


def test_weight_heatmap_vmax_and_nan():
    W = np.array([[1.0, -3.0], [np.nan, 0.5]])
    with pytest.warns(NonFiniteWarning):
        disp = WeightHeatmapDisplay.from_weights(W, vmax=1.0)
    assert disp.ax_.images[0].get_clim() == (-1.0, 1.0)
    assert np.isnan(disp.image_[1, 0])


def test_weight_heatmap_sorting_and_unit_limit():
    W = np.diag(np.arange(1.0, 81.0)).reshape(80, 80)[:, :10]  # units 0..9 non-zero
    disp = WeightHeatmapDisplay.from_weights(W, sort_inputs=True, max_units=5)
    np.testing.assert_array_equal(disp.shown_inputs_, np.arange(9, -1, -1))
    np.testing.assert_array_equal(disp.shown_units_, [5, 6, 7, 8, 9])
    assert "inputs sorted by L2 norm" in disp.ax_.get_title()
    assert "top 5 of 80 units" in disp.ax_.get_title()
    with pytest.raises(ValueError, match="max_inputs"):
        WeightHeatmapDisplay.from_weights(W, max_inputs=0)


def test_selection_and_limits_are_computed_before_drawing():
    W = np.array([[4.0, 0, 0, -5], [1, 1, 1, 1], [0, 0, 0, 3]])
    disp = WeightHeatmapDisplay(W, max_inputs=2, vmax=2.0)
    assert not hasattr(disp, "figure_")
    np.testing.assert_array_equal(disp.shown_inputs_, [3, 0])  # strongest first
    np.testing.assert_array_equal(disp.image_, W[:, [3, 0]])
    assert (disp.vmin_, disp.vmax_) == (-2.0, 2.0)
    assert disp.selection_ == "top 2 of 4 inputs by L2 norm"
    disp.plot()
    assert disp.ax_.images[0].get_clim() == (-2.0, 2.0)
    assert "top 2 of 4 inputs" in disp.ax_.get_title()
