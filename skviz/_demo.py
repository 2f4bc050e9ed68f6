"""The wine example end to end: train a small MLP, inspect it, draw."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .analysis import dead_units

__all__ = ["WineClassifier", "run_demo"]


class WineClassifier(nn.Module):
    """13 -> 20 -> 10 -> 3 MLP with ReLU applied functionally in ``forward``."""

    def __init__(self, num_units: int = 20):
        super().__init__()
        self.dense0 = nn.Linear(13, num_units)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 3)

    def forward(self, X):
        X = self.dense0(X)
        X = self.dense1(F.relu(X))
        return self.output(F.relu(X))


def _wine_split():
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    data = load_wine()
    X = data.data.astype(np.float32)
    y = data.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=42
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _format_units(units: np.ndarray, total: int) -> str:
    if len(units) == 0:
        return f"none (of {total})"
    return f"{', '.join(map(str, units))} ({len(units)} of {total})"


def run_demo(
    out: str | Path,
    *,
    epochs: int = 20,
    seed: int = 0,
    stream: TextIO | None = None,
) -> list[Path]:
    """Train the wine classifier and write activation heatmaps to ``out``.

    Parameters
    ----------
    out : str or Path
        Folder for the PNG files; created if missing.
    epochs : int, default=20
    seed : int, default=0
        Seeds torch, so that runs give the same net.
    stream : text stream, optional
        Where the report goes; ``sys.stdout`` by default.

    Returns
    -------
    list of Path
        The files written.
    """
    import matplotlib.pyplot as plt

    from .nets import InspectableNeuralNetClassifier

    stream = sys.stdout if stream is None else stream
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    X_train, X_test, y_train, y_test = _wine_split()
    torch.manual_seed(seed)
    net = InspectableNeuralNetClassifier(
        WineClassifier,
        module__num_units=20,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=epochs,
        device="cpu",
        verbose=0,
    )
    start = time.perf_counter()
    net.fit(X_train, y_train)
    print(
        f"Trained WineClassifier (13 -> 20 -> 10 -> 3, ReLU) on {len(X_train)} wine "
        f"samples for {epochs} epochs in {time.perf_counter() - start:.1f} s.",
        file=stream,
    )
    accuracy = float(np.mean(net.predict(X_test) == y_test))
    print(f"Test accuracy: {accuracy:.3f} ({len(X_test)} samples)", file=stream)

    hidden = ["dense0", "dense1"]
    acts = net.transform_layers(X_test, hidden, activation="relu")
    print(
        "Dead units on the test set (never > 0 after ReLU on any test sample):",
        file=stream,
    )
    for name in hidden:
        units = dead_units(acts[name])
        print(f"  {name}: {_format_units(units, acts[name].shape[1])}", file=stream)

    figures = [
        ("dense0_5_samples.png", "dense0", X_test[:5], y_test[:5]),
        ("dense0_test_set.png", "dense0", X_test, y_test),
        ("dense1_test_set.png", "dense1", X_test, y_test),
    ]
    written = []
    for filename, layer, X, y in figures:
        display = net.plot_activation(layer, X, y, activation="relu")
        path = out / filename
        display.figure_.savefig(path, dpi=100)
        plt.close(display.figure_)
        written.append(path)
    print("Wrote:", file=stream)
    for path in written:
        print(f"  {path}", file=stream)
    return written
