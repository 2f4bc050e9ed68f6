"""
Recording weights during fit, and the network-update animation
===============================================================

To watch a network learn, the usual way is to copy every layer's weights
into Python lists after every batch, turn the lists into arrays and draw.
:class:`skviz.record.WeightRecorder` is a skorch callback that does the
copying, in preallocated memory that spills to disk past a budget; skviz
then draws trajectories, update histograms and relative update sizes, and
animates each batch's update on a diagram of the network.

The network is the classic MNIST MLP, 784 -> 1000 -> 100 -> 10 -> 10 -> 10
with batches of 16, here on the 64 pixels of scikit-learn's 8x8 digits for
one epoch.
"""

# %%
# Record while training
# ---------------------
# The recorder takes parameter names (or glob patterns, or module names);
# ``l1`` alone has 64,000 weights, so only ``l2`` to ``l5`` are recorded.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.animate import NetworkUpdateAnimation
from skviz.plot import (
    RelativeUpdateDisplay,
    UpdateHistogramDisplay,
    WeightDistributionDisplay,
    WeightTrajectoryDisplay,
)
from skviz.record import WeightRecorder


class DigitsNet(nn.Module):
    """l1..l5: 64 -> 1000 -> 100 -> 10 -> 10 -> 10."""

    def __init__(self, n_inputs=64, n_classes=10):
        super().__init__()
        self.l1 = nn.Linear(n_inputs, 1000)
        self.l2 = nn.Linear(1000, 100)
        self.l3 = nn.Linear(100, 10)
        self.l4 = nn.Linear(10, 10)
        self.l5 = nn.Linear(10, n_classes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = self.dropout(self.relu(self.l1(x)))
        x = self.relu(self.l2(x))
        x = self.relu(self.l3(x))
        x = self.relu(self.l4(x))
        return self.l5(x)


torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)

recorder = WeightRecorder(["l2.weight", "l3.weight", "l4.weight", "l5.weight"])
net = InspectableNeuralNetClassifier(
    DigitsNet,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=1e-3,
    max_epochs=1,
    batch_size=16,
    iterator_train__shuffle=True,
    callbacks=[("weights", recorder)],
    verbose=0,
)
net.fit(X, y)
print(
    f"{recorder.n_steps_} snapshots of {recorder.param_names_}, "
    f"{recorder.nbytes_ / 2**20:.1f} MiB in memory"
)

# %%
# The recording
# -------------
# Row 0 holds the weights before the first batch, row ``k`` those after the
# ``k``-th batch; ``updates`` are the differences, exactly what the
# optimizer changed.
recording = recorder.recording_
print(recording.trajectory("l3.weight").shape, recording.updates("l3.weight").shape)

# %%
# Trajectories and updates of single weights
# ------------------------------------------
# The five ``l3`` weights that moved most, and their per-batch changes.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
WeightTrajectoryDisplay.from_recorder(recorder, "l3.weight", n=5, ax=ax1)
disp = WeightTrajectoryDisplay.from_recorder(
    recorder, "l3.weight", n=5, kind="update", ax=ax2
)

# %%
# All updates of a layer at once
# ------------------------------
disp = UpdateHistogramDisplay.from_recorder(recorder, "l3.weight", bins=100, log=True)

# %%
# How fast each layer moves
# -------------------------
# The standard deviation of each batch's update over that of the weights: a
# common health check (about 1e-3 is the usual rule of thumb, dotted).
disp = RelativeUpdateDisplay.from_recorder(recorder)

# %%
# Each layer's weight distribution over the epoch
# -----------------------------------------------
disp = WeightDistributionDisplay.from_recorder(recorder, n_snapshots=6)

# %%
# Every batch's update on the network
# -----------------------------------
# One frame per batch: an edge is red where its weight grew and blue where
# it shrank; the largest updates are opaque, the rest fade. ``max_units=16``
# keeps the 16 units of each wide layer with the largest updates (the
# column labels say so), and ``frames=15`` the first 15 batches. As the
# last expression of a notebook cell the animation plays inline;
# ``anim.save("updates.gif")`` writes a file.
anim = NetworkUpdateAnimation.from_recorder(
    recorder, ["l2", "l3", "l4", "l5"], frames=15, max_units=16
)
anim

# %%
# Recordings are files too
# ------------------------
# ``recorder.save`` writes the recording, and :func:`skviz.record.load`
# reads it back as the same :class:`~skviz.record.Recording` that every
# display and the animation above accept.
import tempfile
from pathlib import Path

from skviz.record import load

with tempfile.TemporaryDirectory() as tmp:
    path = recorder.save(Path(tmp) / "recording.npz")
    loaded = load(path)
    same = np.array_equal(loaded.updates("l3.weight"), recording.updates("l3.weight"))
    print(f"{path.name}: {loaded.n_steps} snapshots, identical updates: {same}")
