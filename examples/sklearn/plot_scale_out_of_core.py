"""
Activations of more rows than fit in memory: files and dask
===========================================================

``transform_layer`` normally returns a new in-memory array. With ``out=``
it writes the activations batch by batch into an array you pass, or into a
``.npy`` or ``.zarr`` file, so memory stays at about one batch whatever the
number of rows. A ``dask.array`` input returns a lazy ``dask.array``, one
task per chunk of rows, and X is never gathered in one place.

This page uses 200,000 rows (a few MB) so that it runs in seconds; the
calls are the same for a table of any size. It needs the ``scale`` extra
(``pip install "skviz[scale]"``: dask, distributed, zarr). Running the same
on a dask cluster, and model selection there, is described in
:doc:`/scale`.
"""

# %%
# A net, and a big table on disk
# ------------------------------
# The wine MLP again; the "big" table is wine-like rows written to a
# ``.npy`` file and opened as a memory map, so nothing is read until used.
import tempfile
from pathlib import Path

import dask.array as da
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.plot import ClassProfileDisplay


class WineClassifier(nn.Module):
    def __init__(self, num_units=20):
        super().__init__()
        self.dense0 = nn.Linear(13, num_units)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 3)

    def forward(self, X):
        X = F.relu(self.dense0(X))
        X = F.relu(self.dense1(X))
        return self.output(X)


torch.manual_seed(0)
X, y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X).astype(np.float32)
net = InspectableNeuralNetClassifier(
    WineClassifier,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=20,
    verbose=0,
)
net.fit(X, y)

tmp = Path(tempfile.mkdtemp())
rng = np.random.default_rng(0)
rows = rng.integers(len(X), size=200_000)
big = X[rows] + rng.normal(scale=0.3, size=(len(rows), 13)).astype(np.float32)
np.save(tmp / "big.npy", big)
del big
X_big = np.load(tmp / "big.npy", mmap_mode="r")
print(X_big.shape, X_big.dtype)

# %%
# Straight into a file
# --------------------
# A path ending in ``.npy`` is written under a temporary name and renamed
# when complete, so an interrupted run leaves no half-written file under
# the name you asked for. What comes back is a read-only memory map of the
# file.
acts = net.transform_layer(
    X_big, "dense0", activation="relu", out=tmp / "dense0.npy", batch_size=8192
)
print(
    type(acts).__name__,
    acts.shape,
    f"{(tmp / 'dense0.npy').stat().st_size / 2**20:.1f} MiB",
)

# %%
# Into an array you own
# ---------------------
# ``out=`` also takes an array or ``np.memmap`` of the result's shape.
# Several layers come from one forward pass with
# ``transform_layers(X, names, out={name: ...})``; here the logits go into
# a memory-mapped ``.npy`` file we opened, ``dense1`` into a ``.zarr`` store.
logits = np.lib.format.open_memmap(
    tmp / "logits.npy", mode="w+", dtype=np.float32, shape=(len(X_big), 3)
)
outputs = net.transform_layers(
    X_big, ["dense1", "output"], out={"dense1": tmp / "dense1.zarr", "output": logits}
)
print({name: (type(a).__name__, a.shape) for name, a in outputs.items()})

# %%
# Every display also takes precomputed arrays: the class profile of
# ``dense0`` over all 200,000 rows, grouped by the predicted class (the
# largest logit), drawn from the files.
predicted = logits.argmax(axis=1)
disp = ClassProfileDisplay.from_activations(
    acts, predicted, layer="dense0", class_names=list(load_wine().target_names)
)

# %%
# Dask arrays in, lazy dask arrays out
# ------------------------------------
# Each chunk of rows becomes one task that runs the fitted net where the
# chunk lives; nothing runs until the result is computed or stored. Store
# it with dask's own ``to_zarr`` (``out=`` is for in-process results).
X_lazy = da.from_array(X_big, chunks=(50_000, 13))
lazy = net.transform_layer(X_lazy, "dense0", activation="relu")
print(lazy)
lazy.to_zarr(str(tmp / "dense0_dask.zarr"))
stored = da.from_zarr(str(tmp / "dense0_dask.zarr"))
print("same values as the .npy file:", np.array_equal(stored.compute(), acts))

# %%
# The fraction of rows on which each ``dense0`` unit fires, computed chunk
# by chunk:
(lazy > 0).mean(axis=0).compute().round(2)

# %%
# The files of this page were written to a temporary folder; remove it.
import shutil

del acts, logits, outputs, X_big
shutil.rmtree(tmp)
