"""``probe_layers`` against a manual ``cross_validate`` on hand-hooked outputs."""

import numpy as np
import pytest
import torch
from _models import WineClassifier, make_net
from _refs import ForwardCounter, hand_hooks, leftover_hooks
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetRegressor
from skviz.represent import default_probe, probe_layers

LAYERS = ["dense0", "dense1", "output"]


@pytest.fixture(scope="module")
def split(wine):
    X, y = wine
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[:100], order[100:]
    net = make_net(WineClassifier, max_epochs=5).fit(X[train], y[train])
    return net, X[test], y[test]


def test_probes_equal_manual_cross_validate_on_hooked_outputs(split):
    net, X, y = split
    with ForwardCounter(net.module_) as counter:
        result = probe_layers(net, X, y, LAYERS, batch_size=500)
    # One discovery pass of 5 samples to order the layers, one capture pass.
    assert counter.count == 2
    assert leftover_hooks(net.module_) == []
    outputs = hand_hooks(net.module_.eval(), LAYERS, torch.from_numpy(X))
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(5)
    expected = {"input": cross_validate(probe, X, y, cv=folds)["test_score"]}
    for name in LAYERS:
        expected[name] = cross_validate(probe, outputs[name][0], y, cv=folds)[
            "test_score"
        ]
    assert list(result["layer"]) == ["input", *LAYERS]
    assert list(result["depth"]) == [0, 1, 2, 3]
    assert list(result["n_features"]) == [13, 20, 10, 3]
    for row in result.itertuples():
        np.testing.assert_allclose(
            result.attrs["scores"][row.layer], expected[row.layer], atol=1e-9
        )
        assert row.mean_score == pytest.approx(np.mean(expected[row.layer]))
        assert row.std_score == pytest.approx(np.std(expected[row.layer]))
        assert row.fit_time > 0
    assert result.attrs["n_splits"] == 5
    assert result.attrs["capture_time"] > 0
    assert set(result.columns) == {
        "layer",
        "depth",
        "n_features",
        "mean_score",
        "std_score",
        "fit_time",
    }


def test_estimator_cv_and_scoring_are_used(split):
    net, X, y = split
    folds = KFold(3, shuffle=True, random_state=0)
    probe = LogisticRegression(max_iter=200, C=0.1)
    result = probe_layers(
        net, X, y, ["dense1"], probe, folds, "balanced_accuracy", include_input=False
    )
    outputs = hand_hooks(net.module_.eval(), ["dense1"], torch.from_numpy(X))
    expected = cross_validate(
        probe, outputs["dense1"][0], y, cv=folds, scoring="balanced_accuracy"
    )["test_score"]
    assert list(result["layer"]) == ["dense1"]
    assert result["mean_score"].iloc[0] == pytest.approx(np.mean(expected))
    assert result.attrs["scoring"] == "balanced_accuracy"


def test_regressor_nets_get_a_ridge_probe(wine):
    X, _ = wine
    target = X[:, 0] * 2 + X[:, 1]
    torch.manual_seed(0)
    net = InspectableNeuralNetRegressor(
        nn.Sequential(nn.Linear(13, 8), nn.Tanh(), nn.Linear(8, 1)),
        max_epochs=3,
        train_split=None,
        verbose=0,
    ).fit(X, target[:, None].astype(np.float32))
    probe = default_probe(net)
    assert isinstance(probe.steps[-1][1], RidgeCV)
    result = probe_layers(net, X, target)
    # The default layers: the activation output (Tanh) and the output layer.
    assert list(result["layer"]) == ["input", "1", "2"]
    assert result["mean_score"].iloc[0] > 0.99  # the input holds the target


def test_bad_input(split):
    net, X, y = split
    with ForwardCounter(net.module_) as counter:
        with pytest.raises(ValueError, match="one label per sample"):
            probe_layers(net, X, y[:-1])
        with pytest.raises(ValueError, match="dense"):
            probe_layers(net, X, y, ["dense5"])
    assert counter.count == 0
