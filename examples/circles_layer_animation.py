"""Watch two concentric circles being pulled apart, layer by layer.

A tiny classifier, 2 -> 3 -> 3 -> 3 -> 2 (Linear layers with an activation
between them; the softmax comes with CrossEntropyLoss), is trained three
times, with tanh, ReLU and GELU. skviz pushes the samples and a grid over
the input plane through every layer in one forward pass and animates the
plane being bent (tanh), folded (ReLU) or folded smoothly (GELU) until a
line separates the classes. The 3-D hidden layers are shown on the plane of
their first two principal components, turned to follow the previous layer
(the frame titles say so); pass ``--projection 3d`` to see them in 3-D with
a turning camera instead.

Writes into ``--out``:

* ``circles_layers.gif``: tanh / ReLU / GELU side by side, frames aligned;
* ``circles_filmstrip.png``: every stage of every net as a still.

Run: ``python examples/circles_layer_animation.py --out /tmp/circles``
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch
from sklearn.datasets import make_circles
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.animate import LayerTransformAnimation

ACTIVATIONS = {"tanh": nn.Tanh, "ReLU": nn.ReLU, "GELU": nn.GELU}


def circles_mlp(activation: type[nn.Module]) -> nn.Sequential:
    """2 -> 3 -> 3 -> 3 -> 2, named layers."""
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(2, 3),
            act1=activation(),
            fc2=nn.Linear(3, 3),
            act2=activation(),
            fc3=nn.Linear(3, 3),
            act3=activation(),
            out=nn.Linear(3, 2),
        )
    )


def train(activation: type[nn.Module], X, y, epochs: int, seed: int):
    # Three units per layer leave little slack: a seed whose ReLU units do
    # not all die keeps the comparison about the activations.
    torch.manual_seed(seed)
    net = InspectableNeuralNetClassifier(
        circles_mlp(activation),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=epochs,
        batch_size=-1,  # full batch: 400 points
        train_split=None,
        verbose=0,
    )
    return net.fit(X, y)


def main(argv=None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("circles_layer_animation"))
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--frames-per-transition", type=int, default=8)
    parser.add_argument("--hold-frames", type=int, default=2)
    parser.add_argument("--fps", type=float, default=10)
    parser.add_argument("--dpi", type=float, default=72)
    parser.add_argument("--projection", choices=["pca", "3d"], default="pca")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # Three-unit layers: extra threads only fight over the cores.
    torch.set_num_threads(1)

    X, y = make_circles(n_samples=400, noise=0.05, factor=0.4, random_state=0)
    X = X.astype(np.float32)

    start = time.perf_counter()
    nets = {}
    for name, activation in ACTIVATIONS.items():
        nets[name] = train(activation, X, y, args.epochs, args.seed)
        accuracy = float(np.mean(nets[name].predict(X) == y))
        print(f"{name:>4}: training accuracy {accuracy:.3f}")
    print(f"trained in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    anim = LayerTransformAnimation.compare(
        list(nets.values()),
        X,
        y,
        titles=list(nets),
        frames_per_transition=args.frames_per_transition,
        hold_frames=args.hold_frames,
        projection=args.projection,
    )
    print(
        f"captured {len(anim.stages_[0])} stages per net, {anim.n_frames_} frames "
        f"in {time.perf_counter() - start:.1f} s"
    )
    for stage in anim.stages_[0]:
        print(
            f"  {stage.name_line():<14} {stage.width_line(2 if args.projection == 'pca' else 3)}"
        )

    start = time.perf_counter()
    gif = args.out / "circles_layers.gif"
    anim.save(gif, fps=args.fps, dpi=args.dpi, progress=not args.no_progress)
    print(
        f"wrote {gif} ({gif.stat().st_size / 1e6:.2f} MB) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    strip = args.out / "circles_filmstrip.png"
    anim.save_filmstrip(strip, dpi=110)
    print(f"wrote {strip}")
    return {"gif": gif, "filmstrip": strip}


if __name__ == "__main__":
    main()
