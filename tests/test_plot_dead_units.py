"""DeadUnitsDisplay and the dead-units report: numbers against a hand-written
forward, saturation, one capture pass, labels and axes."""

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from skviz import analysis, reports
from skviz.analysis import NonFiniteWarning
from skviz.plot import DeadUnitsDisplay
from tests._plot_helpers import (
    make_net,
    no_new_figures,
    wine_forward,
)


def test_dead_units_report_one_pass_matches_manual_forward(wine_fit):
    net, X, y = wine_fit
    net = copy.deepcopy(net)
    with torch.no_grad():  # unit 3 of dense0 can never fire
        net.module_.dense0.weight[3] = 0.0
        net.module_.dense0.bias[3] = -1.0
    net.n_capture_calls_ = 0
    report = net.dead_units_report(X, y, include_output=True)
    assert net.n_capture_calls_ == 1
    manual = wine_forward(net, X)
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


def test_dead_units_activation_per_layer_and_tol(wine_fit):
    net, X, _ = wine_fit
    report = net.dead_units_report(
        X, layers=["dense0"], activation={"dense0": "relu"}, tol=0.5
    )
    A = np.maximum(wine_forward(net, X)["dense0"], 0)
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
    net = make_net(TanhNet, max_epochs=1).fit(X, y)
    with torch.no_grad():
        net.module_.lin.weight.zero_()
        net.module_.lin.bias.copy_(torch.tensor([5.0, 0.0, -5.0]))
        net.module_.lin.weight[1, 0] = 0.1
    report = net.dead_units_report(X, include_output=True)
    # The activation module's output by default (not the Linear before it,
    # not the Dropout that repeats it); the output layer when asked for.
    assert report["layer"].unique().tolist() == ["act", "out"]
    assert net.dead_units_report(X)["layer"].unique().tolist() == ["act"]
    act = report[report.layer == "act"]
    assert act["saturated"].tolist() == [True, False, True]
    # A tanh unit stuck at -1 is saturated, not "dead": never > 0 means
    # nothing for a centred output.
    assert act["dead"].tolist() == [False, False, False]
    assert act["rule"].unique().tolist() == ["saturation"]
    assert report[report.layer == "out"]["rule"].unique().tolist() == ["none"]
    assert not report[report.layer == "out"]["dead"].any()
    report = net.dead_units_report(X, layers=["lin", "act"])
    manual = np.tanh(X.astype(np.float64)[:, 0] * 0.1)
    np.testing.assert_allclose(
        act["saturated_fraction"].iloc[1], np.mean(np.abs(manual) >= 0.95)
    )
    assert report[report.layer == "lin"]["saturated"].sum() == 0  # no bounds known
    # functional tanh declared through activation=
    r2 = net.dead_units_report(X, layers=["lin"], activation="tanh")
    assert r2["saturated"].tolist() == [True, False, True]
    disp = DeadUnitsDisplay.from_estimator(net, X)
    assert "2 saturated" in disp.axes_[0, 0].get_title(loc="left")


def test_dead_units_display_content_and_axes(wine_fit):
    net, X, _ = wine_fit
    fig, axes = plt.subplots(3, 1)
    disp = no_new_figures(
        lambda: DeadUnitsDisplay.from_estimator(
            net, X, axes=axes, activation="relu", include_output=True
        )
    )
    assert disp.figure_ is fig and disp.ax_ is axes[0]
    rows = disp.report_[disp.report_.layer == "dense0"]
    heights = [p.get_height() for p in disp.axes_[0, 0].patches]
    np.testing.assert_allclose(heights, rows["active_fraction"])
    assert disp.axes_[0, 0].get_title(loc="left").startswith("dense0: ")
    assert "of 20 units dead" in disp.axes_[0, 0].get_title(loc="left")
    with pytest.raises(ValueError, match="3 x 1"):
        DeadUnitsDisplay.from_estimator(net, X, axes=axes[:2], include_output=True)


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


def test_dead_units_report_checks_arguments_before_the_forward(wine_fit):
    net, X, _ = wine_fit
    net.n_capture_calls_ = 0
    with pytest.raises(ValueError, match="saturation_threshold"):
        net.dead_units_report(X, saturation_threshold=1.5)
    with pytest.raises(TypeError, match="tol"):
        net.dead_units_report(X, tol="0")
    with pytest.raises(ValueError, match="not in layers"):
        net.dead_units_report(X, layers=["dense0"], saturation_bounds={"x": "tanh"})
    assert net.n_capture_calls_ == 0


def test_report_module_is_the_net_method_and_records_its_context(wine_fit):
    net, X, y = wine_fit
    from_net = net.dead_units_report(X, y)
    direct = reports.dead_units_report(net, X, y)
    pd.testing.assert_frame_equal(from_net, direct)
    assert from_net.attrs == {
        "n_samples": len(X),
        "tol": 0.0,
        "channel_layers": [],
        "left_out": ["output"],
        "negative_slope_layers": {},
        # The wine net applies ReLU in forward: its Linear outputs are
        # judged as if a ReLU followed, and the report says so.
        "rules": {"dense0": "relu", "dense1": "relu"},
        "rule_texts": {
            "dense0": "dead: never > 0; ReLU assumed after Linear",
            "dense1": "dead: never > 0; ReLU assumed after Linear",
        },
    }


def test_layers_come_after_y(wine_fit):
    net, X, y = wine_fit
    report = net.dead_units_report(X, None, ["dense1"])
    assert report["layer"].unique().tolist() == ["dense1"]
    assert "n_classes_active" not in report
    disp = net.plot_dead_units(X, y, ["dense0", "dense1"], activation="relu")
    assert disp.layers_ == ["dense0", "dense1"]
    assert "n_classes_active" in disp.report_
    # keyword calls keep working
    assert DeadUnitsDisplay.from_estimator(net, X, layers=["dense0"]).layers_ == [
        "dense0"
    ]


def test_constructor_reads_the_context_of_an_analysis_report():
    A = np.zeros((6, 2, 3, 3))
    A[:, 0] = 1.0
    report = analysis.unit_report({"conv": A}, tol=0.5)
    disp = DeadUnitsDisplay(report)
    assert (disp.n_samples, disp.tol, disp.channel_layers) == (6, 0.5, ["conv"])
    assert not hasattr(disp, "figure_")
    disp.plot()
    assert "6 samples, active: value > 0.5" in disp.figure_._suptitle.get_text()
    assert disp.ax_.get_title(loc="left") == "conv: 1 of 2 channels dead"
    given = DeadUnitsDisplay(report, n_samples=3, tol=0.0, channel_layers=[])
    assert (given.n_samples, given.tol, given.channel_layers) == (3, 0.0, [])


def test_output_layer_is_left_out_by_default_and_named(wine_fit):
    net, X, y = wine_fit
    report = net.dead_units_report(X, y)
    # the logits of "output" say nothing about dead units
    assert report["layer"].unique().tolist() == ["dense0", "dense1"]
    assert report.attrs["left_out"] == ["output"]
    full = net.dead_units_report(X, y, include_output=True)
    pd.testing.assert_frame_equal(
        report, full[full.layer != "output"], check_like=False
    )
    assert full.attrs["left_out"] == []
    # explicit layers are taken as given
    assert net.dead_units_report(X, layers=["output"])["layer"].unique() == ["output"]
    disp = net.plot_dead_units(X, y)
    assert disp.layers_ == ["dense0", "dense1"] and len(disp.axes_) == 2
    title = disp.figure_._suptitle.get_text()
    assert "output layer 'output' left out" in title
    assert "include_output=True" in title
    disp = net.plot_dead_units(X, y, include_output=True)
    assert disp.layers_[-1] == "output"
    assert "left out" not in disp.figure_._suptitle.get_text()
    # an activation for the left-out layer gets told how to include it
    with pytest.raises(ValueError, match="include_output=True"):
        net.dead_units_report(X, activation={"output": "relu"})
    plt.close("all")


class SoftmaxHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 5)
        self.act = nn.LeakyReLU(0.1)
        self.out = nn.Linear(5, 2)
        self.prob = nn.Softmax(dim=-1)

    def forward(self, x):
        return self.prob(self.out(self.act(self.hidden(x))))


def test_output_layers_are_the_last_layer_with_parameters_and_after():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    net = make_net(SoftmaxHead, max_epochs=1, criterion=nn.NLLLoss).fit(X, y)
    infos = net.layer_info(X)
    assert reports.output_layers(net, infos) == ["out", "prob"]
    assert reports.default_report_layers(net, X) == ["act"]
    assert reports.default_report_layers(net, X, include_output=True) == [
        "act",
        "out",
        "prob",
    ]


def test_negative_slope_layers_are_judged_never_positive(wine_fit):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4)).astype("float32")
    y = (X[:, 1] > 0).astype("int64")
    net = make_net(SoftmaxHead, max_epochs=1, criterion=nn.NLLLoss).fit(X, y)
    with torch.no_grad():  # hidden unit 2 is never positive
        net.module_.hidden.weight[2] = 0.0
        net.module_.hidden.bias[2] = -3.0
    report = net.dead_units_report(X)
    act = report[report.layer == "act"]
    H = (
        X.astype(np.float64)
        @ net.module_.hidden.weight.detach().numpy().T.astype(np.float64)
        + net.module_.hidden.bias.detach().numpy()
    )
    leaky = np.where(H > 0, H, 0.1 * H)
    np.testing.assert_allclose(act["active_fraction"], (leaky > 0).mean(0), atol=1e-12)
    assert act["dead"].tolist()[2] and (leaky[:, 2] != 0).all()  # "dead", not silent
    assert report.attrs["negative_slope_layers"] == {"act": "LeakyReLU"}
    disp = DeadUnitsDisplay(report).plot()
    title = disp.axes_[0, 0].get_title(loc="left")
    assert title.startswith("act: 1 of 5 units dead · LeakyReLU: dead = never > 0")
    assert "hidden" not in report.attrs["negative_slope_layers"]
    # a functional activation given by name is recognised too
    wine, Xw, _ = wine_fit
    r = wine.dead_units_report(Xw, layers=["dense0"], activation="leaky_relu")
    assert r.attrs["negative_slope_layers"] == {"dense0": "LeakyReLU"}
    plt.close("all")
