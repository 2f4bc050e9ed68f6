"""ActivationDisplay / net.plot_activation, checked against hand-made numbers.

Conv outputs are in test_plot_activation_conv.py; the rule of
``net.plot_activation`` that reuses the latest samples is tested with the
other convenience methods (test_plot_net_methods.py)."""

import copy
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from _models import WineClassifier
from matplotlib.patches import Rectangle
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import (
    InspectableNeuralNet,
    InspectableNeuralNetClassifier,
    InspectableNeuralNetRegressor,
)
from skviz.analysis import NonFiniteWarning
from skviz.plot import ActivationDisplay


@pytest.fixture(scope="module")
def wine_split():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y, test_size=0.2, random_state=42
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _wine_net(X_train, y_train, **kwargs):
    torch.manual_seed(0)
    params = dict(
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=8,
        train_split=None,
        verbose=0,
    )
    params.update(kwargs)
    return InspectableNeuralNetClassifier(WineClassifier, **params).fit(
        X_train, y_train
    )


@pytest.fixture(scope="module")
def wine_split_net(wine_split):
    X_train, _, y_train, _ = wine_split
    return _wine_net(X_train, y_train)


@pytest.fixture
def net(wine_split_net):
    # Tests change inspection state or weights; each gets its own copy.
    return copy.deepcopy(wine_split_net)


def _hooked_dense0(net, X):
    """The by-hand way: a forward hook on dense0, ReLU applied by hand."""
    captured = {}

    def hook(module, inputs, output):
        captured["dense0"] = F.relu(output).detach().cpu().numpy()

    handle = net.module_.dense0.register_forward_hook(hook)
    try:
        net.forward(X)
    finally:
        handle.remove()
    return captured["dense0"]


def _manual_dense0(net, X, relu=True):
    W = net.module_.dense0.weight.detach().numpy().astype(np.float64)
    b = net.module_.dense0.bias.detach().numpy().astype(np.float64)
    Z = np.asarray(X, dtype=np.float64) @ W.T + b
    return np.maximum(Z, 0) if relu else Z


def _no_hooks(module):
    return all(
        not m._forward_hooks and not m._forward_pre_hooks for m in module.modules()
    )


# ----------------------------------------------------------------------
# Data behind the picture
# ----------------------------------------------------------------------


def test_data_equals_hand_registered_hook(net, wine_split):
    _, X_test, _, y_test = wine_split
    expected = _hooked_dense0(net, X_test)
    disp = net.plot_activation("dense0", X_test, y_test, activation="relu")

    order = np.argsort(y_test, kind="stable")
    assert disp.rows_ == "samples"
    assert [int(r[0]) for r in disp.row_samples_] == order.tolist()
    np.testing.assert_allclose(disp.data_, expected[order], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(disp.row_classes_, y_test[order])
    # The heatmap draws exactly these numbers.
    mesh = disp.ax_.collections[0]
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).reshape(disp.data_.shape), disp.data_
    )
    assert _no_hooks(net.module_)


def test_rows_sorted_by_class_with_separators(net, wine_split):
    _, X_test, _, y_test = wine_split
    disp = net.plot_activation("dense0", X_test, y_test, activation="relu")
    classes = disp.row_classes_
    assert np.all(np.diff(classes) >= 0)
    boundaries = sorted(
        line.get_ydata()[0]
        for line in disp.ax_.get_lines()
        if len(set(line.get_ydata())) == 1 and line.get_xdata()[0] == 0
    )
    expected = np.flatnonzero(np.diff(classes)) + 1
    np.testing.assert_array_equal(boundaries, expected)


def test_labels_title_and_misclassified_rows(net, wine_split):
    X_test = wine_split[1]
    X5 = X_test[:5]
    pred = net.predict(X5)
    y5 = pred.copy()
    y5[1] = (pred[1] + 1) % 3  # sample 1 now counts as misclassified
    disp = net.plot_activation("dense0", X5, y5, activation="relu")

    ax = disp.ax_
    assert ax.get_title().startswith('Activations of "dense0" after relu')
    assert "5 samples" in ax.get_title()
    assert ax.get_xlabel() == "unit index (20 units)"
    assert "true class" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(20)]

    ticks = {t.get_text(): t for t in ax.get_yticklabels()}
    wrong = f"#1  class {y5[1]} → pred {pred[1]}"
    assert wrong in ticks
    assert ticks[wrong].get_color() == "crimson"
    right = [label for label in ticks if label != wrong]
    assert all("→" not in label for label in right)
    assert all(ticks[label].get_color() != "crimson" for label in right)
    assert set(disp.row_labels_) == set(ticks)
    # Five samples: values are written in the cells.
    assert len(ax.texts) == disp.data_.size


def test_colour_limits(net, wine_split):
    _, X_test, _, y_test = wine_split
    pre = net.plot_activation("dense0", X_test, y_test)
    assert pre.data_.min() < 0
    assert pre.vmin_ == pytest.approx(-pre.vmax_)
    assert pre.vmax_ == pytest.approx(np.abs(pre.data_).max())
    assert pre.ax_.collections[0].get_clim() == pytest.approx((pre.vmin_, pre.vmax_))
    assert pre.cmap_ == "RdBu_r"

    post = net.plot_activation("dense0", X_test, y_test, activation="relu")
    assert post.vmin_ == 0.0
    assert post.vmax_ == pytest.approx(post.data_.max())
    assert post.cmap_ != "RdBu_r"


def test_dead_unit_detected_and_marked(net, wine_split):
    _, X_test, _, y_test = wine_split
    with torch.no_grad():
        net.module_.dense0.weight[4] = 0.0
        net.module_.dense0.bias[4] = -1.0
    independent = np.flatnonzero((_manual_dense0(net, X_test) > 0).sum(axis=0) == 0)
    assert 4 in independent

    for activation in ("relu", None):
        disp = net.plot_activation("dense0", X_test, y_test, activation=activation)
        np.testing.assert_array_equal(disp.dead_units_, independent)
        assert disp.unit_activity_[4] == 0
        hatched = [
            p.get_x()
            for p in disp.ax_.patches
            if isinstance(p, Rectangle) and p.get_hatch()
        ]
        assert sorted(hatched) == independent.tolist()
        legend = " ".join(t.get_text() for t in disp.ax_.get_legend().get_texts())
        assert "dead units" in legend and "4" in legend
    # Pre-activation values of the dead unit are shown as they are (-1).
    np.testing.assert_allclose(disp.data_[:, 4], -1.0)


def test_no_dead_units_no_legend(net, wine_split):
    _, X_test, _, y_test = wine_split
    A = _manual_dense0(net, X_test)
    disp = net.plot_activation("dense0", X_test, y_test, activation="relu")
    expected = np.flatnonzero((A > 0).sum(axis=0) == 0)
    np.testing.assert_array_equal(disp.dead_units_, expected)
    if expected.size == 0:
        assert disp.ax_.get_legend() is None


# ----------------------------------------------------------------------
# Many samples
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine500(wine_split):
    X_train, X_test, y_train, y_test = wine_split
    X = np.concatenate([X_train, X_test])
    y = np.concatenate([y_train, y_test])
    idx = np.random.default_rng(0).integers(0, len(X), 500)
    return X[idx], y[idx]


def test_500_samples_class_means(net, wine500):
    X, y = wine500
    disp = net.plot_activation("dense0", X, y, activation="relu")
    assert disp.rows_ == "class_mean"
    A = _manual_dense0(net, X)
    classes, counts = np.unique(y, return_counts=True)
    expected = np.stack([A[y == c].mean(axis=0) for c in classes])
    np.testing.assert_allclose(disp.data_, expected, rtol=1e-5, atol=1e-5)
    for label, c, k in zip(disp.row_labels_, classes, counts, strict=True):
        assert label.startswith(f"class {c} · mean of {k}")
    assert "mean per class of 500 samples" in disp.ax_.get_title()
    assert len(disp.ax_.get_yticklabels()) == len(classes)


def test_500_samples_subsampled_per_class(net, wine500):
    X, y = wine500
    disp = net.plot_activation(
        "dense0", X, y, activation="relu", rows="subsample", max_rows=30
    )
    assert disp.rows_ == "subsample"
    picked = np.concatenate(disp.row_samples_)
    assert len(picked) == 30 == len(np.unique(picked))
    np.testing.assert_array_equal(disp.row_classes_, y[picked])
    assert np.all(np.diff(y[picked]) >= 0)
    # Proportional to class size, every class present.
    for c in np.unique(y):
        share = np.mean(y == c) * 30
        assert abs(np.sum(y[picked] == c) - share) <= 1
    np.testing.assert_allclose(disp.data_, _manual_dense0(net, X)[picked], atol=1e-5)
    assert "30 of 500 samples, evenly spaced per class" in disp.ax_.get_title()


def test_rows_samples_thins_row_labels(net, wine500):
    X, y = wine500
    disp = net.plot_activation("dense0", X, y, activation="relu", rows="samples")
    assert disp.data_.shape == (500, 20)
    assert len(disp.ax_.get_yticklabels()) <= 100


def _overlapping(labels):
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    return [(a, b) for a, b in itertools.pairwise(boxes) if b.x0 < a.x1]


@pytest.mark.parametrize(
    ("n_units", "figsize"), [(64, None), (96, None), (512, None), (64, (5, 3))]
)
def test_many_units_ticks_thinned_and_readable(n_units, figsize):
    A = np.random.default_rng(0).normal(size=(10, n_units))
    ax = None if figsize is None else plt.subplots(figsize=figsize)[1]
    disp = ActivationDisplay(A, layer="wide").plot(ax=ax)
    disp.figure_.canvas.draw()
    ticks = disp.ax_.get_xticklabels()
    labels = [int(t.get_text()) for t in ticks]
    step = labels[1] - labels[0]
    assert step > 1 and labels == list(range(0, n_units, step))
    assert not _overlapping(ticks)


# ----------------------------------------------------------------------
# Axes, pyplot state, hooks, inputs
# ----------------------------------------------------------------------


def test_draws_on_given_axes(net, wine_split):
    _, X_test, _, y_test = wine_split
    fig, (ax0, ax1) = plt.subplots(1, 2)
    before = plt.get_fignums()
    disp = net.plot_activation("dense1", X_test, y_test, activation="relu", ax=ax1)
    assert isinstance(disp, ActivationDisplay)
    assert disp.ax_ is ax1 and disp.figure_ is fig
    assert plt.get_fignums() == before
    assert not ax0.collections and ax1.collections

    again = disp.plot(ax=ax0)
    assert again is disp and disp.ax_ is ax0
    assert plt.get_fignums() == before


def test_new_figure_when_no_axes(net, wine_split):
    _, X_test, _, y_test = wine_split
    before = len(plt.get_fignums())
    disp = net.plot_activation("dense0", X_test[:5], y_test[:5])
    assert len(plt.get_fignums()) == before + 1
    assert disp.figure_ is disp.ax_.figure


def test_hooks_removed_and_inputs_untouched(net, wine_split):
    _, X_test, _, y_test = wine_split
    X, y = X_test.copy(), y_test.copy()
    ActivationDisplay.from_estimator(net, X, y, layer="dense0", activation="relu")
    assert _no_hooks(net.module_)
    np.testing.assert_array_equal(X, X_test)
    np.testing.assert_array_equal(y, y_test)


def test_nan_activations_warn_and_mask(net, wine_split):
    _, X_test, _, y_test = wine_split
    with torch.no_grad():
        net.module_.dense0.weight[2, 0] = float("nan")
    with pytest.warns(NonFiniteWarning, match="non-finite"):
        disp = net.plot_activation("dense0", X_test[:6], y_test[:6], activation="relu")
    assert np.isnan(disp.data_[:, 2]).all()
    assert np.isfinite(np.delete(disp.data_, 2, axis=1)).all()
    mesh_values = disp.ax_.collections[0].get_array().reshape(disp.data_.shape)
    assert np.ma.getmaskarray(mesh_values)[:, 2].all()
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert "NaN/inf (masked)" in legend


def test_inf_in_aggregation_is_left_out():
    A = np.array([[1.0, np.inf], [3.0, 2.0], [5.0, 4.0]])
    with pytest.warns(NonFiniteWarning, match="1 non-finite"):
        disp = ActivationDisplay(
            A, layer="x", y_true=[0, 0, 1], rows="class_mean"
        ).plot()
    np.testing.assert_allclose(disp.data_, [[2.0, 2.0], [5.0, 4.0]])


def test_dataframe_index_names_rows(net, wine_split):
    _, X_test, _, y_test = wine_split
    frame = pd.DataFrame(X_test[:3], index=[101, 202, 303])
    disp = net.plot_activation("dense0", frame, y_test[:3])
    assert sorted(label.split()[0] for label in disp.row_labels_) == [
        "#101",
        "#202",
        "#303",
    ]


@pytest.mark.parametrize("cls", [InspectableNeuralNetRegressor, InspectableNeuralNet])
def test_regressor_rows_by_sample_index(cls, wine_split):
    X_train, X_test, _, _ = wine_split
    target = X_train[:, :3].copy()
    torch.manual_seed(0)
    kwargs = {} if cls is InspectableNeuralNetRegressor else {"criterion": nn.MSELoss}
    reg = cls(WineClassifier, max_epochs=2, train_split=None, verbose=0, **kwargs)
    reg.fit(X_train, target)

    disp = reg.plot_activation("dense0", X_test[:6], activation="relu")
    assert disp.row_labels_ == [f"#{i}" for i in range(6)]
    assert disp.row_classes_ is None
    np.testing.assert_allclose(
        disp.data_, _manual_dense0(reg, X_test[:6]), rtol=1e-5, atol=1e-5
    )

    y = np.array([0.5, -1.25, 2.0])
    labelled = reg.plot_activation("dense0", X_test[:3], y)
    assert labelled.row_labels_ == ["#0  y=0.5", "#1  y=-1.25", "#2  y=2"]

    big = np.concatenate([X_test] * 15)  # 540 samples
    sub = reg.plot_activation("dense0", big)
    assert sub.rows_ == "subsample" and len(sub.row_labels_) == 50
    picked = np.concatenate(sub.row_samples_)
    assert picked[0] == 0 and picked[-1] == len(big) - 1
    assert "50 of 540 samples, evenly spaced" in sub.ax_.get_title()
    with pytest.raises(ValueError, match="class_mean"):
        reg.plot_activation("dense0", big, rows="class_mean")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reduce": "median"}, "reduce must be one of"),
        ({"rows": "all"}, "rows must be one of"),
        ({"max_rows": 0}, "max_rows must be"),
        ({"annotate": "yes"}, "annotate must be"),
    ],
)
def test_bad_arguments(net, wine_split, kwargs, match):
    _, X_test, _, y_test = wine_split
    with pytest.raises(ValueError, match=match):
        net.plot_activation("dense0", X_test, y_test, **kwargs)


def test_bad_y_is_rejected_before_any_work(net, wine_split, monkeypatch):
    _, X_test, _, y_test = wine_split

    def fail(*args, **kwargs):
        raise AssertionError("no capture may run")

    monkeypatch.setattr(net, "transform_layer", fail)
    monkeypatch.setattr(net, "capture_layers", fail)
    with pytest.raises(ValueError, match="y has 5 values"):
        net.plot_activation("dense0", X_test, y_test[:5])
    with pytest.raises(ValueError, match="1-D"):
        net.plot_activation("dense0", X_test, np.zeros((len(X_test), 3)))
    with pytest.raises(TypeError, match="layer must be a str"):
        ActivationDisplay.from_estimator(net, X_test, layer=0)


def test_constructor_only_stores():
    A = np.zeros((2, 3))
    y = [0, 1]
    disp = ActivationDisplay(A, layer="l", y_true=y, reduce="bogus")
    assert disp.activations is A and disp.y_true is y
    assert not hasattr(disp, "figure_")
    with pytest.raises(ValueError, match="reduce must be one of"):
        disp.plot()


# ----------------------------------------------------------------------
# Signature, class names, computing before drawing
# ----------------------------------------------------------------------


def test_layer_is_positional_after_y_and_required(net, wine_split):
    _, X_test, _, y_test = wine_split
    disp = ActivationDisplay.from_estimator(net, X_test[:4], y_test[:4], "dense0")
    kw = ActivationDisplay.from_estimator(net, X_test[:4], y_test[:4], layer="dense0")
    np.testing.assert_array_equal(disp.data_, kw.data_)
    with pytest.raises(TypeError, match="needs the layer"):
        ActivationDisplay.from_estimator(net, X_test[:4], y_test[:4])


def test_class_names_in_row_labels(net, wine_split):
    _, X_test, _, y_test = wine_split
    names = ["barolo", "grignolino", "barbera"]
    X5 = X_test[:5]
    pred = net.predict(X5)
    y5 = pred.copy()
    y5[1] = (pred[1] + 1) % 3
    disp = net.plot_activation("dense0", X5, y5, class_names=names)
    labels = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert f"#1  {names[y5[1]]} → pred {names[pred[1]]}" in labels
    assert f"#0  {names[y5[0]]}" in labels
    assert all("class" not in label for label in labels)

    means = net.plot_activation(
        "dense0", X_test, y_test, rows="class_mean", class_names=dict(enumerate(names))
    )
    labels = [t.get_text() for t in means.ax_.get_yticklabels()]
    counts = np.bincount(y_test)
    assert [label.split(" (")[0] for label in labels] == [
        f"{names[c]} · mean of {counts[c]}" for c in range(3)
    ]


def test_from_activations_computes_before_drawing_and_plot_only_draws():
    A = np.array([[1.0, -2.0], [3.0, 0.0], [5.0, -1.0]])
    disp = ActivationDisplay.from_activations(
        A, layer="h", y_true=[1, 0, 1], rows="class_mean", annotate=False
    )
    np.testing.assert_allclose(disp.data_, [[3.0, 0.0], [3.0, -1.5]])
    np.testing.assert_array_equal(disp.dead_units_, [1])
    data = disp.data_
    _, ax = plt.subplots()
    disp.plot(ax=ax, cmap="magma")
    assert disp.data_ is data and disp.cmap_ == "magma"
    assert (disp.vmin_, disp.vmax_) == (-3.0, 3.0)
