"""Inspection leaves every global random state as it found it.

A data loader draws a seed from torch's global random state even when it
does not shuffle; inspecting from a training callback would then change the
training run. Training with a callback that inspects every epoch must give
exactly the run without it, and the run of plain skorch.
"""

import random

import numpy as np
import pytest
import torch
from _models import TwoInputs
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn

from skviz import InspectableNeuralNetClassifier


def _data():
    rng = np.random.default_rng(0)
    X = {
        "x1": rng.normal(size=(60, 3)).astype(np.float32),
        "x2": rng.normal(size=(60, 2)).astype(np.float32),
    }
    return X, (X["x1"][:, 0] > 0).astype(np.int64)


class _InspectEveryEpoch(Callback):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def on_epoch_end(self, net, **kwargs):
        net.transform_layers(self.X, ["a", "b"], batch_size=7)
        net.plot_activation("a", self.X, self.y)
        net.dead_units_report(self.X, layers=["a"])
        net.layer_summary(self.X)
        net.predict_proba(self.X)


def _train(cls, callbacks=()):
    X, y = _data()
    torch.manual_seed(0)
    net = cls(
        TwoInputs,
        criterion=nn.CrossEntropyLoss,
        max_epochs=3,
        lr=0.1,
        batch_size=8,
        iterator_train__shuffle=True,  # training draws random numbers
        callbacks=list(callbacks),
        verbose=0,
    )
    net.fit(X, y)
    return net


def test_inspecting_from_a_callback_leaves_the_training_run_unchanged():
    X, y = _data()
    plain = _train(NeuralNetClassifier)
    quiet = _train(InspectableNeuralNetClassifier)
    inspected = _train(InspectableNeuralNetClassifier, [_InspectEveryEpoch(X, y)])
    for net in (quiet, inspected):
        # validation loss included: skorch's own validation loop draws as
        # before, so the run equals plain skorch's
        assert net.history[:, "train_loss"] == plain.history[:, "train_loss"]
        assert net.history[:, "valid_loss"] == plain.history[:, "valid_loss"]
        for (name, p), q in zip(
            net.module_.named_parameters(), plain.module_.parameters(), strict=True
        ):
            assert torch.equal(p, q), name


@pytest.mark.parametrize(
    "call",
    [
        lambda net, X, y: net.transform_layer(X, "a"),
        lambda net, X, y: net.transform_layer(X, "a", batch_size=1),
        lambda net, X, y: net.layer_info(X),
        lambda net, X, y: net.plot_activation("a", X, y),
        lambda net, X, y: net.dead_units_report(X, y),
        lambda net, X, y: net.predict(X),
    ],
    ids=[
        "transform_layer",
        "batches_of_one",
        "layer_info",
        "plot_activation",
        "dead_units_report",
        "predict",
    ],
)
def test_calls_leave_global_random_states_alone(call):
    X, y = _data()
    net = _train(InspectableNeuralNetClassifier)
    # the legacy global state is the one other code draws from
    legacy = np.random.get_state()[1].copy()  # noqa: NPY002
    before = (torch.get_rng_state(), legacy, random.getstate())
    call(net, X, y)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])  # noqa: NPY002
    assert random.getstate() == before[2]
