"""ClassProfileDisplay: class means and spreads against a hand-written
forward, ordering by selectivity, heatmap and error-bar kinds, labels."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.plot import ClassProfileDisplay
from tests._plot_helpers import no_new_figures, tick_texts, wine_forward

WINES = ["barolo", "grignolino", "barbera"]


def test_class_profile_display_matches_manual(wine_fit):
    net, X, y = wine_fit
    disp = net.plot_class_profile(
        X, y, "dense0", activation="relu", kind="errorbar", spread="std"
    )
    A = np.maximum(wine_forward(net, X)["dense0"], 0)
    means = np.stack([A[y == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(disp.means_.to_numpy(), means, rtol=1e-5, atol=1e-6)
    # selectivity ordering, recomputed
    sd = A.std(0)
    top = means.max(0)
    others = (means.sum(0) - top) / 2
    sel = np.where(sd > 0, (top - others) / sd, 0)
    np.testing.assert_allclose(
        disp.selectivity_["selectivity"], sel, rtol=1e-4, atol=1e-6
    )
    assert np.all(np.diff(sel[disp.unit_order_]) <= 1e-6)
    # the markers of class 1 sit at the class means, in drawing order
    line = disp.ax_.containers[1].lines[0]
    np.testing.assert_allclose(
        line.get_ydata(), means[1, disp.unit_order_], rtol=1e-5, atol=1e-6
    )
    assert "mean ± std" in disp.ax_.get_title()


def test_class_profile_heatmap_iqr_and_ax():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(100, 30))
    y = rng.integers(0, 10, size=100)
    _, ax = plt.subplots()
    disp = no_new_figures(
        lambda: ClassProfileDisplay.from_activations(A, y, ax=ax, order="index")
    )
    assert disp.kind_ == "heatmap"  # 300 class-unit pairs
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi == pytest.approx(-np.abs(disp.means_.to_numpy()).max())
    np.testing.assert_array_equal(disp.unit_order_, np.arange(30))
    iqr = ClassProfileDisplay.from_activations(
        A[:, :3], y, spread="iqr", kind="errorbar"
    )
    seg = iqr.ax_.containers[0].lines[2][0].get_segments()[0]
    Ac = A[y == iqr.means_.index[0], iqr.unit_order_[0]]
    np.testing.assert_allclose(seg[:, 1], np.percentile(Ac, [25, 75]))
    with pytest.raises(ValueError, match="kind"):
        ClassProfileDisplay.from_activations(A, y, kind="bars")


def test_class_names_in_legend_ticks_and_heatmap_rows(wine_fit):
    net, X, y = wine_fit
    disp = net.plot_class_profile(
        X, y, "dense0", activation="relu", kind="errorbar", class_names=WINES
    )
    legend = tick_texts(disp.ax_.get_legend().get_texts())
    assert legend == WINES
    # the preferred class under each unit, by name ("–" for constant units)
    pref = disp.selectivity_["preferred_class"]
    score = disp.selectivity_["selectivity"]
    expected = [f"{u}\n{WINES[pref[u]] if score[u] else '–'}" for u in disp.unit_order_]
    assert tick_texts(disp.ax_.get_xticklabels()) == expected
    heat = net.plot_class_profile(
        X, y, "dense0", kind="heatmap", class_names=dict(enumerate(WINES))
    )
    assert tick_texts(heat.ax_.get_yticklabels()) == WINES


def test_unit_order_is_computed_before_drawing():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 5))
    y = np.repeat([0, 1], 20)
    A[y == 1, 3] += 5.0  # unit 3 tells the classes apart
    disp = ClassProfileDisplay.from_activations(A, y)
    assert disp.unit_order_[0] == 3
    by_index = ClassProfileDisplay(disp.profile_, disp.selectivity_, order="index")
    assert not hasattr(by_index, "figure_")
    np.testing.assert_array_equal(by_index.unit_order_, np.arange(5))
    with pytest.raises(ValueError, match="order"):
        ClassProfileDisplay(disp.profile_, disp.selectivity_, order="random")


def test_default_spread_stays_within_the_range_of_relu_outputs(wine_fit):
    net, X, y = wine_fit
    disp = net.plot_class_profile(X, y, "dense0", activation="relu", kind="errorbar")
    assert disp.spread_ == "iqr"
    assert "median and interquartile range" in disp.ax_.get_title()
    A = np.maximum(wine_forward(net, X)["dense0"], 0)
    for k, c in enumerate(disp.means_.index):
        Ac = A[y == c][:, disp.unit_order_]
        markers = disp.ax_.containers[k].lines[0].get_ydata()
        np.testing.assert_allclose(markers, np.median(Ac, 0), rtol=1e-5, atol=1e-6)
        bars = np.array(
            [s[:, 1] for s in disp.ax_.containers[k].lines[2][0].get_segments()]
        )
        q = np.percentile(Ac, [25, 75], axis=0).T
        np.testing.assert_allclose(bars, q, rtol=1e-5, atol=1e-6)
        assert bars.min() >= 0  # mean - std went below 0 for some units
    std = net.plot_class_profile(
        X, y, "dense0", activation="relu", kind="errorbar", spread="std"
    )
    low = min(
        s[:, 1].min()
        for k in range(3)
        for s in std.ax_.containers[k].lines[2][0].get_segments()
    )
    assert low < 0
    plt.close("all")
