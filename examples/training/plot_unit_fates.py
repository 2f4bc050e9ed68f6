"""
Watching units live and die during training
===========================================

The first question about the wine MLP was "which neurons never fire for any
wine?" -- asked once, after training. :class:`skviz.record.ActivationMonitor`
asks it during ``fit``: at every checkpoint it keeps a few numbers per unit
(fraction of samples active, mean, standard deviation, mean ``|a|``,
the dormancy score of Sokar et al. 2023), never the activations
themselves, so memory grows with units x checkpoints only.

Here the same net is trained twice, with a sensible learning rate and with
one fifty times larger, and the monitor shows *when* the large step kills
units, which layer suffers, and whether any come back.
"""

# %%
# Train twice, watched
# --------------------
# The hidden layers apply ReLU functionally (``F.relu(self.dense0(X))``):
# the monitor watches the ``Linear`` outputs and applies ``activation="relu"``
# before its statistics, as ``net.dead_units_report`` does. ``every=1``
# records the training batches as the net sees them; ``monitor_set`` also
# runs the training wines through the net in eval mode at each epoch end.
import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.plot import (
    ActivationQuantilesDisplay,
    DeadFractionDisplay,
    UnitTimelineDisplay,
)
from skviz.record import ActivationMonitor


class WineClassifier(nn.Module):
    """13 -> 20 -> 10 -> 3; ReLU applied functionally in forward()."""

    def __init__(self, num_units=20):
        super().__init__()
        self.dense0 = nn.Linear(13, num_units)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 3)

    def forward(self, X):
        X = F.relu(self.dense0(X))
        X = F.relu(self.dense1(X))
        return self.output(X)


wine = load_wine(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    wine.data,
    wine.target.to_numpy(),
    test_size=0.3,
    random_state=42,
    stratify=wine.target,
)
scaler = StandardScaler().set_output(transform="pandas")
X_train = scaler.fit_transform(X_train).astype("float32")
X_test = scaler.transform(X_test).astype("float32")

nets, monitors = {}, {}
for lr in (0.01, 0.5):
    torch.manual_seed(0)
    monitors[lr] = ActivationMonitor(
        every=1, monitor_set=(X_train, y_train), activation="relu"
    )
    nets[lr] = InspectableNeuralNetClassifier(
        WineClassifier,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=20,
        batch_size=16,
        verbose=0,
        callbacks=[monitors[lr]],
    ).fit(X_train, y_train)
    print(f"lr={lr}: test accuracy {nets[lr].score(X_test, y_test):.3f}")

print(monitors[0.5].recording_)

# %%
# Each unit's fate
# ----------------
# One row per unit, one column per epoch end (the monitoring set), layers
# stacked. Red marks a unit from the moment it dies for good; units are
# sorted by that moment, so the red staircase reads as a death toll.
fig, axes = plt.subplots(1, 2, figsize=(11, 5.5), layout="constrained")
for ax, (lr, monitor) in zip(axes, monitors.items(), strict=True):
    UnitTimelineDisplay.from_monitor(monitor, ax=ax)
    ax.set_title(
        f"Adam, lr={lr}\nred: dead for good, sorted by time of death",
        fontsize="medium",
    )

# %%
# ``unit_fate`` has the same answer as a table: when each unit died (or went
# dormant) for good, whether it revived in between, and its final state.
fate = monitors[0.5].unit_fate()
fate[fate["final"] != "active"]

# %%
# Dead and dormant fractions per layer
# ------------------------------------
# Dead: active on no sample. Dormant: mean ``|a|`` at most ``tau``
# (0.025) times the layer's average -- after ReLU, a dead unit is dormant
# too; a dormant unit still fires, barely.
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharey=True)
for ax, (lr, monitor) in zip(axes, monitors.items(), strict=True):
    DeadFractionDisplay.from_monitor(monitor, ax=ax)
    ax.set_title(f"Adam, lr={lr}", fontsize="medium")

# %%
# How the values spread
# ---------------------
# Quantile bands of each layer's (ReLU'd) values on the training batches:
# with the large step, ``dense1``'s bands collapse towards zero as its units
# die.
ActivationQuantilesDisplay.from_monitor(monitors[0.5], source="train")

# %%
# The last checkpoint agrees with the dead-unit report
# ----------------------------------------------------
# After training, ``net.dead_units_report`` on the same wines finds the same
# dead units, with the same active fractions, as the monitor's final
# checkpoint of the monitoring set.
net, monitor = nets[0.5], monitors[0.5]
report = net.dead_units_report(X_train)
last = monitor.to_frame().query("step == step.max()").reset_index(drop=True)
both = pd.DataFrame(
    {
        "layer": report["layer"],
        "unit": report["unit"],
        "report: active fraction": report["active_fraction"],
        "monitor: active fraction": last["active"],
        "report: dead": report["dead"],
        "monitor: dead": last["dead"],
    }
)
assert (both["report: dead"] == both["monitor: dead"]).all()
both[both["report: dead"] | both["monitor: dead"]]
