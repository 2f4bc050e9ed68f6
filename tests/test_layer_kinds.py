"""Which layers the dead-unit defaults pick, what "dead" means per kind of
layer, and what the units of a sequence output are (issue: real architectures).

Expected values are computed by hand from hooks that clone outputs or from
``transform_layer``, never from the code under test.
"""

import matplotlib
import numpy as np
import pytest
import torch
from _models import make_net
from _zoo import ResidualNet, TinyEncoder, tokens
from torch import nn

from skviz import analysis, reports
from skviz.kinds import layer_kinds, units_first
from skviz.plot import ActivationDisplay, ClassProfileDisplay

matplotlib.use("Agg")


def _images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3, 8, 8)).astype(np.float32), np.arange(n) % 3


@pytest.fixture(scope="module")
def residual():
    X, y = _images()
    return make_net(ResidualNet, max_epochs=1).fit(X, y), X, y


# ---------------------------------------------------------------------------
# Rules per kind (analysis: names only, no torch)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("ReLU", "relu"),
        ("relu", "relu"),
        ("ReLU6", "relu"),
        ("LeakyReLU", "negative_slope"),
        ("leaky_relu", "negative_slope"),
        ("GELU", "negative_slope"),
        ("SiLU", "negative_slope"),
        ("Hardswish", "negative_slope"),
        ("GELUActivation", "negative_slope"),
        ("NewGELUActivation", "negative_slope"),
        ("Tanh", "saturation"),
        ("Sigmoid", "saturation"),
        ("Linear", "none"),
        ("LayerNorm", "none"),
        ("LSTM", "none"),
        ("BatchNorm2d", "none"),
        (None, "none"),
    ],
)
def test_dead_rule_by_kind(kind, rule):
    assert analysis.dead_rule(kind) == rule


def test_unit_report_marks_dead_only_where_the_rule_says_so():
    A = np.zeros((5, 3))  # every unit never > 0
    report = analysis.unit_report(
        {"a": A, "b": A, "c": A, "d": A},
        rules={"a": "relu", "b": "negative_slope", "c": "saturation", "d": "none"},
    )
    dead = report.groupby("layer")["dead"].all().to_dict()
    assert dead == {"a": True, "b": True, "c": False, "d": False}
    assert report.attrs["rules"]["d"] == "none"
    with pytest.raises(ValueError, match="rules must be one of"):
        analysis.unit_report({"a": A}, rules={"a": "dead"})


# ---------------------------------------------------------------------------
# Default layers: activation outputs, every run, batch-dependent only
# ---------------------------------------------------------------------------


def test_residual_defaults_are_every_run_of_the_block_relus(residual):
    net, X, _ = residual
    layers = reports.default_report_layers(net, X)
    relus = [n for n, m in net.module_.named_modules() if isinstance(m, nn.ReLU)]
    expected = [
        ref for info in net.layer_info(X) if info.name in relus for ref in [info.ref]
    ]
    assert layers == expected
    assert any(ref.endswith("@1") for ref in layers)  # the shared ReLU's second run
    modules = dict(net.module_.named_modules())
    assert not any(
        isinstance(modules[ref.split("@")[0]], nn.Conv2d | nn.BatchNorm2d)
        for ref in layers
    )
    report = net.dead_units_report(X)
    # Values of one run, cross-checked against a hand hook on the shared ReLU.
    ref = next(r for r in layers if r.endswith("@1"))
    name = ref.split("@")[0]
    seen = []
    handle = modules[name].register_forward_hook(
        lambda m, i, o: seen.append(o.detach().clone())
    )
    try:
        with torch.no_grad():
            net.module_.eval()
            net.module_(torch.from_numpy(X))
    finally:
        handle.remove()
    channel_active = (seen[1] > 0).flatten(2).any(-1).numpy()
    got = report[report.layer == ref]["active_fraction"].to_numpy()
    np.testing.assert_allclose(got, channel_active.mean(0))
    assert set(report["rule"]) == {"relu"}


class PositionalGELU(nn.Module):
    """A position embedding (the same for every batch) and GELU modules."""

    def __init__(self, steps=4, dim=6):
        super().__init__()
        self.proj = nn.Linear(3, dim)
        self.positions = nn.Embedding(steps, dim)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 2)
        self.register_buffer("steps", torch.arange(steps))

    def forward(self, x):  # x: (batch, steps, 3)
        h = self.proj(x) + self.positions(self.steps)
        h = self.norm(self.act(h))
        return self.head(h.mean(1))


def _sequences(n=20, steps=4, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 3)).astype(np.float32)
    return X, (X[:, 0, 0] > 0).astype(np.int64)


def test_batch_independent_outputs_are_never_defaults():
    X, y = _sequences()
    net = make_net(PositionalGELU, max_epochs=1).fit(X, y)
    assert reports.default_report_layers(net, X) == ["act"]
    report = net.dead_units_report(X)
    # GELU: judged by the negative-slope rule, units are the 6 features.
    assert report["rule"].unique().tolist() == ["negative_slope"]
    assert len(report) == 6
    A = net.transform_layer(X, "act")  # (n, steps, dim)
    np.testing.assert_allclose(
        report["active_fraction"], (A > 0).any(axis=1).mean(axis=0)
    )


# ---------------------------------------------------------------------------
# What plot_activation marks, per kind
# ---------------------------------------------------------------------------


class Kinds(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 5)
        self.tanh = nn.Tanh()
        self.norm = nn.LayerNorm(5)
        self.relu = nn.ReLU()
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        return self.out(self.relu(self.norm(self.tanh(self.lin(x)))))


@pytest.fixture(scope="module")
def kinds_net():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = make_net(Kinds, max_epochs=1).fit(X, y)
    with torch.no_grad():  # unit 0 pinned at tanh's upper bound
        net.module_.lin.weight[0] = 0.0
        net.module_.lin.bias[0] = 6.0
    return net, X, y


def test_plot_activation_marks_by_the_layer_rule(kinds_net):
    net, X, y = kinds_net
    tanh = ActivationDisplay.from_estimator(net, X, y, layer="tanh")
    T = net.transform_layer(X, "tanh")
    expected = np.flatnonzero((np.abs(T - 1) <= 0.05).mean(0) >= 0.95)
    assert expected.tolist() == [0]
    assert tanh.dead_units_.tolist() == expected.tolist()
    assert tanh.rule_.startswith("saturated")
    assert "saturated" in tanh.ax_.get_title()
    legend = " ".join(t.get_text() for t in tanh.ax_.get_legend().get_texts())
    assert "saturated units" in legend and "dead" not in legend
    # LayerNorm: roughly half of its values are negative, nothing is dead.
    norm = ActivationDisplay.from_estimator(net, X, y, layer="norm")
    assert norm.dead_units_.size == 0
    assert "no dead rule for a LayerNorm output" in norm.ax_.get_title()
    assert norm.ax_.get_legend() is None
    relu = ActivationDisplay.from_estimator(net, X, y, layer="relu")
    R = net.transform_layer(X, "relu")
    assert relu.dead_units_.tolist() == np.flatnonzero((R > 0).sum(0) == 0).tolist()
    assert relu.rule_ == "dead: never > 0"
    matplotlib.pyplot.close("all")


def test_report_states_each_layer_rule(kinds_net):
    net, X, _ = kinds_net
    report = net.dead_units_report(X, layers=["lin", "tanh", "norm", "relu"])
    assert report.attrs["rules"] == {
        "lin": "none",
        "tanh": "saturation",
        "norm": "none",
        "relu": "relu",
    }
    assert not report[report.layer.isin(["lin", "norm"])]["dead"].any()
    assert report.attrs["rule_texts"]["tanh"].startswith("saturated")


# ---------------------------------------------------------------------------
# Sequence outputs: the units are the H features, summarised over T
# ---------------------------------------------------------------------------


def test_sequence_units_are_features_and_conv_units_channels():
    X, y = tokens(n=24)
    net = make_net(TinyEncoder, max_epochs=1).fit(X, y)
    kinds = layer_kinds(
        net,
        X,
        [
            "embed",
            "encoder.layers.0.linear1",
            "encoder.layers.0.norm1",
            "encoder.layers.1",
        ],
    )
    assert {k: v.unit_axis for k, v in kinds.items()} == dict.fromkeys(kinds, -1)
    A = net.transform_layer(X, "encoder.layers.0.linear1")  # (24, 6, 16)
    moved = units_first({"x": A}, {"x": kinds["encoder.layers.0.linear1"]})["x"]
    assert moved.shape == (24, 16, 6)
    report = net.dead_units_report(X, layers=["encoder.layers.0.linear1"])
    assert len(report) == 16  # not the 6 positions
    np.testing.assert_allclose(report["active_fraction"], (A > 0).any(1).mean(0))
    profile = ClassProfileDisplay.from_estimator(
        net, X, y, layer="encoder.layers.0.linear1"
    )
    np.testing.assert_allclose(
        profile.means_.loc[1].to_numpy(), A[y == 1].mean(axis=(0, 1)), rtol=1e-5
    )
    # Conv1d keeps its channels on axis 1.
    conv = nn.Conv1d(3, 4, 3)
    seq = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 2))
    Xc = np.random.default_rng(0).normal(size=(10, 3, 8)).astype(np.float32)
    cnet = make_net(lambda: seq, max_epochs=1).fit(Xc, np.arange(10) % 2)
    ck = layer_kinds(cnet, Xc, ["0", "1"])
    assert ck["0"].unit_axis == 1 and ck["1"].unit_axis == 1
    assert len(cnet.dead_units_report(Xc, layers=["1"])) == 4
    matplotlib.pyplot.close("all")


def test_lstm_units_are_hidden_features():
    from _zoo import RecurrentNet

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 7, 3)).astype(np.float32)
    y = np.arange(12) % 2
    net = make_net(RecurrentNet, max_epochs=1, module__hidden=5).fit(X, y)
    out = net.transform_layer(X, "rnn[0]")  # (12, 7, 5)
    report = net.dead_units_report(X, layers=["rnn[0]"])
    assert len(report) == 5 and report["rule"].unique().tolist() == ["none"]
    np.testing.assert_allclose(report["active_fraction"], (out > 0).any(1).mean(0))


class HardtanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.act = nn.Hardtanh(-2.0, 2.0)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(self.act(self.lin(x)))


def test_display_and_report_share_the_bounds_of_a_bounded_module():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    net = make_net(HardtanhNet, max_epochs=1).fit(X, (X[:, 0] > 0).astype(np.int64))
    with torch.no_grad():  # unit 1 pinned at the upper bound, 2
        net.module_.lin.weight[1] = 0.0
        net.module_.lin.bias[1] = 5.0
    H = net.transform_layer(X, "act")
    expected = np.flatnonzero((np.abs(H - 2.0) <= 0.05).mean(0) >= 0.95).tolist()
    assert expected == [1]
    report = net.dead_units_report(X, layers=["act"])
    assert np.flatnonzero(report["saturated"]).tolist() == expected
    disp = ActivationDisplay.from_estimator(net, X, layer="act")
    assert disp.dead_units_.tolist() == expected
    assert "Hardtanh's bounds" in disp.rule_
    matplotlib.pyplot.close("all")
