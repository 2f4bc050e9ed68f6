"""Record weight updates during fit, plot them, animate them.

The usual way is to copy the weights of an MLP (l1..l5: 784 -> 1000 -> 100 ->
10 -> 10 -> 10, MNIST, batches of 16) into Python lists after every batch
and draw a GIF whose edges are coloured by each batch's update. Here the
same network takes the 64 pixels of scikit-learn's ``load_digits``; a
:class:`skviz.record.WeightRecorder` records l2..l5 after every batch of one
epoch, and skviz draws the pictures::

    python examples/digits_weight_updates.py --out figures/

writes into ``--out``:

* ``trajectories.png`` -- the l3 weights that moved most, and their
  per-batch changes (line plots of chosen weights and their changes);
* ``update_histogram.png`` -- histogram of all per-batch changes of l3;
* ``relative_updates.png`` -- std(update) / std(weight) per layer, log scale;
* ``weight_ridges.png`` -- each layer's weight distribution over the epoch;
* ``weight_updates.gif`` -- the network diagram, one frame per batch
  (a subset of the batches, to keep the file small);
* ``recording.npz`` -- the recording itself (``skviz.record.load`` reads it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    """l1..l5: 64 -> 1000 -> 100 -> 10 -> 10 -> 10 (64 pixels instead of 28 * 28)."""

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--frames",
        type=int,
        default=24,
        help="batches shown in the GIF (from the first)",
    )
    parser.add_argument(
        "--max-units", type=int, default=32, help="units drawn per column at most"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)

    recorder = WeightRecorder(["l2.weight", "l3.weight", "l4.weight", "l5.weight"])
    net = InspectableNeuralNetClassifier(
        DigitsNet,
        max_epochs=args.epochs,
        batch_size=16,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        # the module returns logits
        criterion=nn.CrossEntropyLoss,
        iterator_train__shuffle=True,
        callbacks=[("weights", recorder)],
        device="cpu",
        verbose=0,
    )
    net.fit(X, y)
    print(
        f"recorded {recorder.n_steps_} snapshots of {recorder.param_names_}: "
        f"{recorder.nbytes_ / 2**20:.1f} MiB in memory, "
        f"{recorder.disk_bytes_ / 2**20:.1f} MiB on disk; "
        f"valid accuracy {net.history[-1, 'valid_acc']:.3f}"
    )

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    WeightTrajectoryDisplay.from_recorder(recorder, "l3.weight", n=5, ax=ax1)
    WeightTrajectoryDisplay.from_recorder(
        recorder, "l3.weight", n=5, kind="update", ax=ax2
    )
    paths = {"trajectories": args.out / "trajectories.png"}
    fig.savefig(paths["trajectories"], dpi=120)

    disp = UpdateHistogramDisplay.from_recorder(
        recorder, "l3.weight", bins=100, log=True
    )
    paths["update_histogram"] = args.out / "update_histogram.png"
    disp.figure_.savefig(paths["update_histogram"], dpi=120)

    disp = RelativeUpdateDisplay.from_recorder(recorder)
    paths["relative_updates"] = args.out / "relative_updates.png"
    disp.figure_.savefig(paths["relative_updates"], dpi=120)

    disp = WeightDistributionDisplay.from_recorder(recorder, n_snapshots=6)
    paths["weight_ridges"] = args.out / "weight_ridges.png"
    disp.figure_.savefig(paths["weight_ridges"], dpi=120)
    plt.close("all")

    anim = NetworkUpdateAnimation.from_recorder(
        recorder,
        ["l2", "l3", "l4", "l5"],
        frames=args.frames,
        max_units=args.max_units,
    )
    anim.plot(figsize=(9, 4.5))
    gif = anim.save(
        args.out / "weight_updates.gif", fps=6, dpi=80, progress=not args.no_progress
    )
    plt.close("all")
    paths["gif"] = gif
    paths["recording"] = recorder.save(args.out / "recording.npz")
    print(f"GIF: {gif} ({gif.stat().st_size / 2**20:.2f} MiB, {anim.n_frames_} frames)")
    for path in paths.values():
        print(" ", path)
    return paths


if __name__ == "__main__":
    main()
