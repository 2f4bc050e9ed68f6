"""Capture for the layer animation (issue 5): one pass against seed 004's prefixes.

Not a test: it prints timings and ratios measured side by side in one
process, so that the ratios hold on any machine (absolute seconds do not).

    python benchmarks/bench_animation.py [--repeat R] [--frames N]

Capture. Seed 004 (Flux.jl) gets the representation after layer k by
running the prefix ``model[1:k]`` from the input again for every k, so a
net of L steps costs L (L + 1) / 2 layer evaluations. skviz reads every
layer from one forward pass (``net.transform_layers`` with forward hooks).
Both get the seed's inputs: a 100 x 100 grid over the input box plus the
seed's plotting points (900 in the inner disc, 4,500 in the outer ring),
15,400 rows, in one batch, on CPU with one thread; both return float32
numpy arrays for every step. Nets:

* the seed's 2 -> 3 -> 3 -> 3 -> 2 (ReLU modules between Linear layers:
  7 steps);
* a deeper 2 -> 64 x 12 -> 2 (tanh; 25 steps), where the prefix cost grows
  quadratically.

Every skviz array is checked against the prefix output (``np.array_equal``).
Rounds are interleaved (skviz, prefixes, skviz, ...) and the median of
``--repeat`` rounds is printed, with the ratio prefix / skviz.

Rendering. A ``LayerTransformAnimation`` of the seed net (tanh, ReLU and
GELU side by side, and one panel alone) is drawn frame by frame on the Agg
canvas: the mean time per frame of updating the reused artists and drawing
the figure, then the time per frame of writing a GIF (drawing plus
pillow's encoding).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.animate import LayerTransformAnimation


def seed_points(n: int = 30) -> np.ndarray:
    """Seed 004's plotting points: a filled inner disc and a dense outer ring."""

    def circle(r_min, r_max, r_size, t_size):
        r = np.linspace(r_min, r_max, r_size)
        t = np.linspace(0, 2 * np.pi, t_size)
        tt, rr = np.meshgrid(t, r, indexing="ij")
        return np.c_[(rr * np.sin(tt)).ravel(), (rr * np.cos(tt)).ravel()]

    return np.concatenate(
        [circle(1e-3, 1 / 3, n, n), circle(2 / 3, 1, n, 5 * n)]
    ).astype(np.float32)


def seed_grid(points: np.ndarray, size: int = 100) -> np.ndarray:
    """Seed 004's grid: size x size over the rounded box of the points."""
    lo, hi = np.round(points.min(0)), np.round(points.max(0))
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size)
    )
    return np.c_[gx.ravel(), gy.ravel()].astype(np.float32)


def seed_net(activation=nn.ReLU) -> nn.Sequential:
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


def deep_net(width: int = 64, depth: int = 12) -> nn.Sequential:
    layers = [nn.Linear(2, width), nn.Tanh()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def fitted(module: nn.Module, X, y) -> InspectableNeuralNetClassifier:
    torch.manual_seed(0)
    net = InspectableNeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=60,
        batch_size=-1,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, y)


def by_prefixes(module: nn.Sequential, X: np.ndarray) -> list[np.ndarray]:
    """Seed 004's way: model[1:k](x) for every k, each from the input."""
    module.eval()
    x = torch.from_numpy(X)
    with torch.no_grad():
        return [module[:k](x).numpy() for k in range(1, len(module) + 1)]


def by_skviz(net, X: np.ndarray, names: list[str]) -> list[np.ndarray]:
    out = net.transform_layers(X, names, batch_size=len(X))
    return [out[n] for n in names]


def compare_capture(label: str, net, X: np.ndarray, repeat: int) -> None:
    module = net.module_
    names = [name for name, _ in module.named_children()]
    # Warm-up, and the check that both give the same arrays.
    a, b = by_skviz(net, X, names), by_prefixes(module, X)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    times = {"skviz": [], "prefix": []}
    for _ in range(repeat):
        for key, fn in (
            ("skviz", lambda: by_skviz(net, X, names)),
            ("prefix", lambda: by_prefixes(module, X)),
        ):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    s, p = statistics.median(times["skviz"]), statistics.median(times["prefix"])
    steps = len(names)
    print(
        f"{label:<34} {steps:>5} {len(X):>7,} {1e3 * s:>10.2f} {1e3 * p:>12.2f} "
        f"{p / s:>8.2f}x"
    )


def render(nets, X, y, frames: int) -> None:
    print()
    print(
        f"{'rendering (Agg)':<34} {'panels':>6} {'frames':>7} {'draw ms/frame':>14} "
        f"{'GIF ms/frame':>13} {'GIF size':>9}"
    )
    for label, group in (
        ("seed net, tanh / ReLU / GELU", nets),
        ("seed net, ReLU alone", nets[1:2]),
    ):
        anim = LayerTransformAnimation.compare(
            group, X, y, frames_per_transition=8, hold_frames=2
        )
        fig = anim.figure_
        fig.set_dpi(72)
        n = min(frames, anim.n_frames_)
        anim.draw_frame(0)
        fig.canvas.draw()
        start = time.perf_counter()
        for i in range(n):
            anim.draw_frame(i)
            fig.canvas.draw()
        draw = (time.perf_counter() - start) / n
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "a.gif")
            start = time.perf_counter()
            anim.save(path, dpi=72, progress=False)
            gif = (time.perf_counter() - start) / anim.n_frames_
            size = os.path.getsize(path) / 1e6
        print(
            f"{label:<34} {len(group):>6} {anim.n_frames_:>7} {1e3 * draw:>14.1f} "
            f"{1e3 * gif:>13.1f} {size:>7.2f} MB"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--frames", type=int, default=30, help="frames timed for drawing"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, 1 torch thread, load average "
        f"{os.getloadavg()[0]:.1f}"
    )

    points = seed_points()
    XG = np.concatenate([seed_grid(points), points])
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=400, noise=0.05, factor=0.4, random_state=0)
    X = X.astype(np.float32)
    acts = (nn.Tanh, nn.ReLU, nn.GELU)
    nets = []
    for act in acts:
        torch.manual_seed(7)
        nets.append(fitted(seed_net(act), X, y))

    print()
    print(
        f"{'capture (median of ' + str(args.repeat) + ' rounds)':<34} {'steps':>5} "
        f"{'rows':>7} {'skviz ms':>10} {'prefixes ms':>12} {'ratio':>9}"
    )
    compare_capture("seed 004 net 2-3-3-3-2 (ReLU)", nets[1], XG, args.repeat)
    compare_capture(
        "deep net 2-64x12-2 (tanh)", fitted(deep_net(), X, y), XG, args.repeat
    )
    render(nets, X, y, args.frames)


if __name__ == "__main__":
    main()
