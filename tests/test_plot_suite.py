"""Analysis displays: data against independent computations, labels, limits,
errors, ax=/axes= handling and the convenience methods on the net."""

import copy
import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_digits, load_wine
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier, PlotMethodsMixin
from skviz.analysis import NonFiniteWarning
from skviz.plot import (
    ClassProfileDisplay,
    DeadUnitsDisplay,
    FeatureMapDisplay,
    KernelGridDisplay,
    MisclassifiedDisplay,
    TrainingCurvesDisplay,
    WeightHeatmapDisplay,
)
from tests._models import DigitsCNN, WineClassifier

# The plot methods belong on every Inspectable net; until they are there,
# mix them in here (listing the mixin twice would make the MRO inconsistent).
_BASES = (
    (InspectableNeuralNetClassifier,)
    if issubclass(InspectableNeuralNetClassifier, PlotMethodsMixin)
    else (PlotMethodsMixin, InspectableNeuralNetClassifier)
)


class Net(*_BASES):
    """An Inspectable classifier with the plot methods, counting capture passes."""

    def transform_layers(self, *args, **kwargs):
        self.n_capture_calls_ = getattr(self, "n_capture_calls_", 0) + 1
        return super().transform_layers(*args, **kwargs)


def _net(module, **kwargs):
    params = dict(
        max_epochs=3,
        lr=0.01,
        optimizer=torch.optim.Adam,
        criterion=nn.CrossEntropyLoss,
        verbose=0,
    )
    params.update(kwargs)
    return Net(module, **params)


@pytest.fixture(scope="module")
def wine():
    data = load_wine(as_frame=True)
    X = StandardScaler().set_output(transform="pandas").fit_transform(data.data)
    X = X.astype("float32")
    y = data.target.to_numpy()
    torch.manual_seed(0)
    net = _net(WineClassifier).fit(X, y)
    return net, X, y


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    X = (data.images[:300] / 16).astype("float32")[:, None]
    y = data.target[:300]
    torch.manual_seed(0)
    net = _net(DigitsCNN, max_epochs=2).fit(X, y)
    return net, X, y


def _wine_forward(net, X):
    """Hand-written forward of WineClassifier with the fitted parameters."""
    p = {
        k: v.detach().numpy().astype(np.float64)
        for k, v in net.module_.state_dict().items()
    }
    X = np.asarray(X, dtype=np.float64)
    d0 = X @ p["dense0.weight"].T + p["dense0.bias"]
    d1 = np.maximum(d0, 0) @ p["dense1.weight"].T + p["dense1.bias"]
    out = np.maximum(d1, 0) @ p["output.weight"].T + p["output.bias"]
    return {"dense0": d0, "dense1": d1, "output": out}


def _cnn_forward(net, X):
    m = net.module_
    with torch.no_grad():
        c = F.conv2d(torch.as_tensor(X), m.cnn1.weight, m.cnn1.bias)
        a = F.leaky_relu(c, 0.01)
        p = F.max_pool2d(a, 2)
    return {"cnn1": c.numpy(), "act1": a.numpy(), "pool1": p.numpy()}


def _no_new_figures(fn):
    before = plt.get_fignums()
    result = fn()
    assert plt.get_fignums() == before
    return result


# ----------------------------------------------------------------------
# Dead units
# ----------------------------------------------------------------------


def test_dead_units_report_one_pass_matches_manual_forward(wine):
    net, X, y = wine
    net = copy.deepcopy(net)
    with torch.no_grad():  # unit 3 of dense0 can never fire
        net.module_.dense0.weight[3] = 0.0
        net.module_.dense0.bias[3] = -1.0
    net.n_capture_calls_ = 0
    report = net.dead_units_report(X, y)
    assert net.n_capture_calls_ == 1
    manual = _wine_forward(net, X)
    assert report["layer"].unique().tolist() == ["dense0", "dense1", "output"]
    for layer, A in manual.items():
        rows = report[report.layer == layer]
        np.testing.assert_allclose(
            rows["active_fraction"], (A > 0).mean(axis=0), atol=1e-12
        )
        np.testing.assert_array_equal(rows["dead"], (A > 0).sum(axis=0) == 0)
    # "some neurons never fire for any class", in one line:
    dead = report.query("dead")
    assert ("dense0", 3) in set(zip(dead.layer, dead.unit, strict=True))
    assert (report.query("dead")["n_classes_active"] == 0).all()
    # per-class counts, independently
    d0 = manual["dense0"] > 0
    n_cls = [len({c for c, f in zip(y, d0[:, j], strict=True) if f}) for j in range(20)]
    assert report[report.layer == "dense0"]["n_classes_active"].tolist() == n_cls


def test_dead_units_activation_per_layer_and_tol(wine):
    net, X, _ = wine
    report = net.dead_units_report(
        X, layers=["dense0"], activation={"dense0": "relu"}, tol=0.5
    )
    A = np.maximum(_wine_forward(net, X)["dense0"], 0)
    np.testing.assert_allclose(
        report["active_fraction"], (A > 0.5).mean(axis=0), atol=1e-12
    )
    with pytest.raises(ValueError, match="not in layers"):
        net.dead_units_report(X, layers=["dense0"], activation={"dense1": "relu"})


class TanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.act = nn.Tanh()
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(self.drop(self.act(self.lin(x))))


def test_saturated_units_found_from_tanh_module():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    net = _net(TanhNet, max_epochs=1).fit(X, y)
    with torch.no_grad():
        net.module_.lin.weight.zero_()
        net.module_.lin.bias.copy_(torch.tensor([5.0, 0.0, -5.0]))
        net.module_.lin.weight[1, 0] = 0.1
    report = net.dead_units_report(X)
    # Dropout repeats its input: left out of the default layers.
    assert report["layer"].unique().tolist() == ["lin", "act", "out"]
    act = report[report.layer == "act"]
    assert act["saturated"].tolist() == [True, False, True]
    assert act["dead"].tolist() == [False, False, True]
    manual = np.tanh(X.astype(np.float64)[:, 0] * 0.1)
    np.testing.assert_allclose(
        act["saturated_fraction"].iloc[1], np.mean(np.abs(manual) >= 0.95)
    )
    assert report[report.layer == "lin"]["saturated"].sum() == 0  # no bounds known
    # functional tanh declared through activation=
    r2 = net.dead_units_report(X, layers=["lin"], activation="tanh")
    assert r2["saturated"].tolist() == [True, False, True]
    disp = DeadUnitsDisplay.from_estimator(net, X)
    assert "2 saturated" in disp.axes_[1, 0].get_title(loc="left")


def test_dead_units_display_content_and_axes(wine):
    net, X, _ = wine
    fig, axes = plt.subplots(3, 1)
    disp = _no_new_figures(
        lambda: DeadUnitsDisplay.from_estimator(net, X, axes=axes, activation="relu")
    )
    assert disp.figure_ is fig and disp.ax_ is axes[0]
    rows = disp.report_[disp.report_.layer == "dense0"]
    heights = [p.get_height() for p in disp.axes_[0, 0].patches]
    np.testing.assert_allclose(heights, rows["active_fraction"])
    assert disp.axes_[0, 0].get_title(loc="left").startswith("dense0: ")
    assert "of 20 units dead" in disp.axes_[0, 0].get_title(loc="left")
    with pytest.raises(ValueError, match="3 x 1"):
        DeadUnitsDisplay.from_estimator(net, X, axes=axes[:2])


def test_dead_units_display_marks_dead_and_warns_on_nan():
    A = np.abs(np.random.default_rng(0).normal(size=(10, 5)))
    A[:, [1, 3]] = 0.0
    A[0, 0] = np.nan
    with pytest.warns(NonFiniteWarning):
        disp = DeadUnitsDisplay.from_activations({"h": A})
    marks = [ln for ln in disp.ax_.lines if ln.get_label() == "dead (never active)"]
    np.testing.assert_array_equal(marks[0].get_xdata(), [1, 3])
    np.testing.assert_allclose(disp.report_["active_fraction"].iloc[0], 0.9)
    assert "10 samples" in disp.figure_._suptitle.get_text()


# ----------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------


def test_weight_heatmap_matches_parameters_with_feature_names(wine):
    net, X, _ = wine
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


def test_weight_heatmap_deeper_layer_has_no_feature_names(wine):
    net, _, _ = wine
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
    disp = _no_new_figures(lambda: WeightHeatmapDisplay.from_weights(W, ax=ax))
    norms = np.linalg.norm(W, axis=0)
    expected = np.argsort(norms)[::-1][:40]
    np.testing.assert_array_equal(disp.shown_inputs_, expected)
    assert disp.shown_inputs_[0] == 100
    assert "top 40 of 512 inputs by L2 norm" in ax.get_title()
    np.testing.assert_array_equal(disp.image_, W[:, expected])  # no bias column
    full = WeightHeatmapDisplay.from_weights(W, max_inputs=None)
    assert full.image_.shape == (8, 512)


def test_weight_heatmap_errors_name_working_layers(digits, wine):
    net, _, _ = digits
    with pytest.raises(ValueError, match=r"'cnn1' is Conv2d.*\['fc1', 'fc2'\]"):
        net.plot_weights("cnn1")
    with pytest.raises(ValueError, match="Did you mean"):
        net.plot_weights("fc")
    with pytest.raises(ValueError, match="2-D"):
        WeightHeatmapDisplay.from_weights(np.ones(3))


def test_weight_heatmap_vmax_and_nan():
    W = np.array([[1.0, -3.0], [np.nan, 0.5]])
    with pytest.warns(NonFiniteWarning):
        disp = WeightHeatmapDisplay.from_weights(W, vmax=1.0)
    assert disp.ax_.images[0].get_clim() == (-1.0, 1.0)
    assert np.isnan(disp.image_[1, 0])


# ----------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------


def test_kernel_grid_shared_scale_matches_weights(digits):
    net, _, _ = digits
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
    disp = _no_new_figures(
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


def test_kernel_grid_error_names_conv_layers(digits, wine):
    with pytest.raises(ValueError, match=r"'fc1' is Linear.*\['cnn1'\]"):
        digits[0].plot_kernels("fc1")
    with pytest.raises(ValueError, match=r"no nn\.Conv2d layer"):
        wine[0].plot_kernels("dense0")


# ----------------------------------------------------------------------
# Feature maps
# ----------------------------------------------------------------------


def test_feature_maps_match_manual_forward_in_one_pass(digits):
    net, X, y = digits
    net.n_capture_calls_ = 0
    disp = net.plot_feature_maps(X, ["cnn1", "act1", "pool1"], y=y, samples=[4, 0, 7])
    assert net.n_capture_calls_ == 1
    manual = _cnn_forward(net, X[[4, 0, 7]])
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


def test_feature_maps_channel_selection_and_axes(digits):
    net, X, _ = digits
    fig, axes = plt.subplots(2, 3)
    disp = _no_new_figures(
        lambda: FeatureMapDisplay.from_estimator(
            net, X, "act1", samples=2, channels=[1, 3], axes=axes
        )
    )
    assert disp.figure_ is fig
    assert disp.channels_ == {"act1": [1, 3]}
    manual = _cnn_forward(net, X[:2])["act1"]
    np.testing.assert_allclose(
        axes[1, 2].images[0].get_array(), manual[1, 3], rtol=1e-5
    )
    with pytest.raises(ValueError, match="2 x 6 = 12 panel"):
        FeatureMapDisplay.from_estimator(net, X, "act1", samples=2, axes=axes)
    with pytest.raises(ValueError, match=r"in \[0, 4\]"):
        FeatureMapDisplay.from_estimator(net, X, "act1", channels=[9])


def test_feature_maps_2d_layer_error_names_map_layers(digits):
    net, X, _ = digits
    with pytest.raises(
        ValueError, match=r"'fc1' -> \(32,\).*\['cnn1', 'act1', 'pool1'\]"
    ):
        net.plot_feature_maps(X, ["cnn1", "fc1"])


def test_feature_maps_nan_warning_and_per_map_scale():
    maps = np.random.default_rng(0).normal(size=(2, 3, 4, 4))
    maps[0, 1, 0, 0] = np.inf
    with pytest.warns(NonFiniteWarning):
        disp = FeatureMapDisplay.from_activations({"conv": maps}, scale="map")
    assert disp.images_ is None and disp.axes_.shape == (2, 3)
    assert np.ma.is_masked(disp.axes_[0, 1].images[0].get_array())
    assert "own colour scale" in disp.figure_._suptitle.get_text()


# ----------------------------------------------------------------------
# Misclassified versus correct
# ----------------------------------------------------------------------


def test_misclassified_display_matches_manual(wine):
    net, X, y = wine
    y_noisy = y.copy()
    y_noisy[[0, 1, 70]] = [1, 2, 0]  # guaranteed errors against the truth
    disp = net.plot_misclassified(X, y_noisy, "dense0", activation="relu")
    proba = torch.softmax(torch.as_tensor(_wine_forward(net, X)["output"]), 1).numpy()
    pred = proba.argmax(1)
    wrong = np.flatnonzero(pred != y_noisy)
    assert disp.misclassified_.index.tolist() == X.index[wrong].tolist()
    np.testing.assert_allclose(
        disp.misclassified_["confidence"], proba[wrong, pred[wrong]], rtol=1e-5
    )
    A = np.maximum(_wine_forward(net, X)["dense0"], 0)
    c = sorted(set(y_noisy[wrong]))[0]
    ok = A[(y_noisy == c) & (pred == c)].mean(0)
    bad = A[(y_noisy == c) & (pred != c)].mean(0)
    np.testing.assert_allclose(disp.image_[0], ok, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(disp.image_[1], bad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(disp.image_[2], bad - ok, rtol=1e-4, atol=1e-5)
    labels = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert labels[0].startswith(f"{c}: correct (n=") and "misclassified" in labels[1]
    assert disp.vmin_ == -disp.vmax_
    assert f"{len(wrong)} of {len(X)} samples misclassified" in disp.ax_.get_title()


def test_misclassified_none_is_graceful(wine):
    net, X, _ = wine
    y_pred = net.predict(X)
    _, ax = plt.subplots()
    disp = _no_new_figures(
        lambda: MisclassifiedDisplay.from_estimator(net, X, y_pred, "dense0", ax=ax)
    )
    assert disp.misclassified_.empty
    assert list(disp.misclassified_.columns) == [
        "true",
        "predicted",
        "confidence",
        "proba_true",
    ]
    assert "No misclassified samples" in ax.texts[0].get_text()


def test_misclassified_from_predictions_conv_and_nan():
    A = np.random.default_rng(0).normal(size=(6, 2, 3, 3))
    A[0, 0, 0, 0] = np.nan
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 0, 1, 1, 1])
    with pytest.warns(NonFiniteWarning):
        disp = MisclassifiedDisplay.from_predictions(A, y_true, y_pred, layer="conv")
    ch = np.nanmean(A.reshape(6, 2, -1), axis=2)
    np.testing.assert_allclose(disp.image_[1], ch[1])
    np.testing.assert_allclose(disp.image_[0], ch[[0, 2]].mean(0))
    assert "channel" in disp.ax_.get_xlabel()


# ----------------------------------------------------------------------
# Class profile
# ----------------------------------------------------------------------


def test_class_profile_display_matches_manual(wine):
    net, X, y = wine
    disp = net.plot_class_profile(X, y, "dense0", activation="relu", kind="errorbar")
    A = np.maximum(_wine_forward(net, X)["dense0"], 0)
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
    disp = _no_new_figures(
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


# ----------------------------------------------------------------------
# Training curves
# ----------------------------------------------------------------------


def test_training_curves_from_history_flags(digits):
    net, _, _ = digits
    n_epochs = len(net.history)
    disp = net.plot_training_curves()
    assert len(net.history) == n_epochs  # nothing re-recorded
    assert disp.axes_.shape == (1, 2)
    lines = {ln.get_label().split(" ")[0]: ln for ln in disp.ax_.lines}
    np.testing.assert_allclose(
        lines["train_loss"].get_ydata(), net.history[:, "train_loss"]
    )
    np.testing.assert_allclose(
        lines["valid_loss"].get_ydata(), net.history[:, "valid_loss"]
    )
    flagged = [r["epoch"] for r in net.history if r["valid_loss_best"]][-1]
    assert disp.best_epochs_["valid_loss"] == flagged
    assert disp.best_source_["valid_loss"] == "skorch"
    assert disp.axes_[0, 1].get_title() == "Scores per epoch"
    assert "valid_acc" in disp.keys_


def test_training_curves_without_validation_split_and_axes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 13)).astype("float32")
    y = rng.integers(0, 3, size=40)
    net = _net(WineClassifier, train_split=None).fit(X, y)
    _, ax = plt.subplots()
    disp = _no_new_figures(lambda: TrainingCurvesDisplay.from_estimator(net, axes=ax))
    assert disp.keys_ == ["train_loss"]
    assert disp.ax_ is ax
    with pytest.raises(ValueError, match="available"):
        TrainingCurvesDisplay.from_estimator(net, keys=["valid_loss"])


def test_training_curves_nan_warns_and_best_is_minimum():
    rows = [
        {"epoch": 1, "train_loss": 1.0, "valid_loss": 0.8},
        {"epoch": 2, "train_loss": np.nan, "valid_loss": 0.5},
        {"epoch": 3, "train_loss": 0.4, "valid_loss": 0.6},
    ]
    with pytest.warns(NonFiniteWarning, match="train_loss"):
        disp = TrainingCurvesDisplay.from_history(rows)
    assert disp.best_epochs_ == {"train_loss": 3, "valid_loss": 2}
    assert disp.best_source_["valid_loss"] == "minimum"
    assert disp.axes_.shape == (1, 1)


def test_training_curves_unfitted_net():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TrainingCurvesDisplay.from_estimator(_net(WineClassifier))


# ----------------------------------------------------------------------
# The mixin leaves the net a plain sklearn estimator
# ----------------------------------------------------------------------


def test_mixin_keeps_clone_and_pickle(wine):
    net, X, _ = wine
    net.plot_weights("dense0")
    assert clone(net).get_params().keys() == net.get_params().keys()
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X))


def test_inputs_not_modified(wine):
    net, X, y = wine
    X0, y0 = X.copy(), y.copy()
    net.plot_misclassified(X, y, "dense0")
    net.plot_class_profile(X, y, "dense0")
    net.dead_units_report(X, y)
    pd.testing.assert_frame_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_weight_heatmap_sorting_and_unit_limit():
    W = np.diag(np.arange(1.0, 81.0)).reshape(80, 80)[:, :10]  # units 0..9 non-zero
    disp = WeightHeatmapDisplay.from_weights(W, sort_inputs=True, max_units=5)
    np.testing.assert_array_equal(disp.shown_inputs_, np.arange(9, -1, -1))
    np.testing.assert_array_equal(disp.shown_units_, [5, 6, 7, 8, 9])
    assert "inputs sorted by L2 norm" in disp.ax_.get_title()
    assert "top 5 of 80 units" in disp.ax_.get_title()
    with pytest.raises(ValueError, match="max_inputs"):
        WeightHeatmapDisplay.from_weights(W, max_inputs=0)


def test_feature_maps_input_images_from_any_layout(digits):
    from skviz.plot._feature_maps import _as_images

    _, X, _ = digits
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


@pytest.mark.parametrize(
    "build",
    [
        lambda: DeadUnitsDisplay.from_activations({"a": np.eye(3)}),
        lambda: WeightHeatmapDisplay.from_weights(np.eye(3)),
        lambda: KernelGridDisplay.from_weights(np.ones((2, 2, 3, 3))),
        lambda: FeatureMapDisplay.from_activations({"a": np.ones((2, 2, 3, 3))}),
        lambda: MisclassifiedDisplay.from_predictions(np.eye(3), [0, 1, 2], [0, 2, 2]),
        lambda: ClassProfileDisplay.from_activations(np.eye(4), [0, 0, 1, 1]),
        lambda: TrainingCurvesDisplay.from_history([{"train_loss": 1.0}]),
    ],
)
def test_plot_returns_self_and_redraws_on_given_axes(build):
    disp = build()
    n = disp.axes_.size if hasattr(disp, "axes_") else 1
    fig, axes = plt.subplots(1, n, squeeze=False)
    target = axes if n > 1 else axes[0, 0]
    kwarg = "axes" if hasattr(disp, "axes_") else "ax"
    result = _no_new_figures(lambda: disp.plot(**{kwarg: target}))
    assert result is disp and disp.figure_ is fig
    assert disp.ax_ is axes[0, 0]


def test_dead_units_report_checks_arguments_before_the_forward(wine):
    net, X, _ = wine
    net.n_capture_calls_ = 0
    with pytest.raises(ValueError, match="saturation_threshold"):
        net.dead_units_report(X, saturation_threshold=1.5)
    with pytest.raises(TypeError, match="tol"):
        net.dead_units_report(X, tol="0")
    with pytest.raises(ValueError, match="not in layers"):
        net.dead_units_report(X, layers=["dense0"], saturation_bounds={"x": "tanh"})
    assert net.n_capture_calls_ == 0


def test_training_curves_leave_out_events_unless_asked():
    rows = [
        {"epoch": e, "train_loss": 1.0 / e, "event_lr": 0.1 / e, "train_acc": 0.5}
        for e in range(1, 4)
    ]
    disp = TrainingCurvesDisplay.from_history(rows)
    assert disp.keys_ == ["train_loss", "train_acc"]
    assert "train_acc" not in disp.best_epochs_  # a score without flags: no mark
    lr = TrainingCurvesDisplay.from_history(rows, keys=["event_lr"])
    np.testing.assert_allclose(lr.ax_.lines[0].get_ydata(), [0.1, 0.05, 0.1 / 3])
