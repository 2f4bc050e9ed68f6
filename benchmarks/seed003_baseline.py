"""BASELINE, not skviz: seed 003's own recording and drawing loops.

This module re-implements, as closely as current libraries allow, the code of
seed 003 ("visualising the weight updates of a neural network", PyTorch,
MNIST, layers l1..l5, batch size 16). It exists only so that
``bench_record.py`` can time skviz against what users write by hand today.
Nothing in skviz imports it.

Kept as in the seed, on purpose:

* recording appends ``net.state_dict()[k].to("cpu")`` to a Python list before
  every batch. On a CPU that returns the live parameter tensor, so every
  "snapshot" is the same object and the recording is silently wrong (see
  :func:`seed_training_loop`, which reports it);
* the transposition ``[out][in][batch]`` and the per-batch changes are built
  with nested Python loops, including the seed's ``k > 1`` condition that
  drops the first change;
* the threshold index ``int(n_min * 0.0001 * (n / n_min) ** 0.5)`` into the
  descending sort of ``|change - mean|`` per layer, and ``create_colors`` with
  one ``if`` chain per edge and per frame;
* the figure: 10 x 5 inches, one unfilled ``Ellipse`` patch per node, a new
  ``LineCollection`` built from Python lists for every frame, ``autoscale``,
  ``FuncAnimation`` with the pillow writer at ``interval=100``.

Changed only where today's libraries require it: matplotlib >= 3.7 no longer
lets ``ax.collections.remove(...)`` remove an artist, so the previous frame's
``LineCollection`` is removed with ``.remove()``. MNIST cannot be downloaded
here, so the callers pass their own data loader.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "SeedNet",
    "create_colors",
    "render_gif",
    "seed_thresholds",
    "seed_training_loop",
    "transpose_history",
    "weight_changes_loops",
]


class SeedNet(nn.Module):
    """Seed 003's network with the input size as a parameter (784 in the seed)."""

    def __init__(self, n_inputs=28 * 28, n_classes=10):
        super().__init__()
        self.n_inputs = n_inputs
        self.l1 = nn.Linear(n_inputs, 1000)
        self.l2 = nn.Linear(1000, 100)
        self.l3 = nn.Linear(100, 10)
        self.l4 = nn.Linear(10, 10)
        self.l5 = nn.Linear(10, n_classes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = x.view(-1, self.n_inputs)
        x = self.l1(x)
        x = self.relu(x)
        x = self.dropout(x)
        x = self.l2(x)
        x = self.relu(x)
        x = self.l3(x)
        x = self.relu(x)
        x = self.l4(x)
        x = self.relu(x)
        x = self.l5(x)
        return x


def seed_training_loop(net, train_loader, lr=0.001, device="cpu"):
    """The seed's epoch loop with its recording, for one epoch.

    Returns the seed's ``history`` dict: ``history["l2"]`` etc. are lists of
    whatever ``state_dict()[k].to("cpu")`` returned before each batch.
    """
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history = {"train_loss": [], "l1": [], "l2": [], "l3": [], "l4": [], "l5": []}
    net.train()
    for data in train_loader:
        history["l1"].append(net.state_dict()["l1.weight"].to("cpu"))
        history["l2"].append(net.state_dict()["l2.weight"].to("cpu"))
        history["l3"].append(net.state_dict()["l3.weight"].to("cpu"))
        history["l4"].append(net.state_dict()["l4.weight"].to("cpu"))
        history["l5"].append(net.state_dict()["l5.weight"].to("cpu"))
        inputs, labels = data[0].to(device), data[1].to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        history["train_loss"].append(loss.item() / len(inputs))
    return history


def transpose_history(snapshots):
    """The seed's ``weight_histories`` loops for one layer.

    ``snapshots`` is a list over batches of 2-D arrays ``(out, in)``; the
    result is an array ``(out, in, batches)`` built element by element.
    """
    trans_history = []
    for i, weights in enumerate(snapshots[0]):
        trans_history.append([])
        for _ in range(len(weights)):
            trans_history[i].append([])
    for batch_list in snapshots:
        for i, weights in enumerate(batch_list):
            for j, weight in enumerate(weights):
                trans_history[i][j].append(np.array(weight))
    return np.array(trans_history)


def weight_changes_loops(history_weight):
    """The seed's ``weight_changes`` loops for one layer (keeps its ``k > 1``)."""
    change_weight = []
    for i, weight_list in enumerate(history_weight):
        change_weight.append([])
        for j in range(len(weight_list)):
            change_weight[i].append([])
            for k in range(len(history_weight[i][j])):
                if k > 1:
                    change_weight[i][j].append(
                        history_weight[i][j][k] - history_weight[i][j][k - 1]
                    )
    return np.array(change_weight)


def seed_thresholds(weight_changes):
    """The seed's ``tf_lists`` and ``ave_lists`` from per-layer change arrays."""
    flat_weight_changes = [i.flatten() for i in weight_changes]
    weight_change_abssorts = [
        np.sort(np.abs(i - np.average(i)))[::-1] for i in flat_weight_changes
    ]
    min_weightnum = min([len(s) for s in weight_change_abssorts])
    tf_lists = [
        i[int(min_weightnum * 0.0001 * (len(i) / min_weightnum) ** (1 / 2))]
        for i in weight_change_abssorts
    ]
    ave_lists = [np.average(i) for i in flat_weight_changes]
    return tf_lists, ave_lists


def create_colors(weight_changes, batch, tf_lists, ave_lists):
    """The seed's per-edge colour rule for one frame (``batch``).

    ``weight_changes`` is a list over layers of arrays ``(out, in, batches)``.
    """
    colors = []
    for flat_weight_change, tf, ave in zip(  # noqa: B905 (the seed's code)
        weight_changes, tf_lists, ave_lists
    ):
        for _i, weight_n1 in enumerate(flat_weight_change):
            for _j, weight_hist in enumerate(weight_n1):
                if weight_hist[batch] - ave > tf:
                    colors.append([1, 0, 0, 1])
                elif weight_hist[batch] - ave > 0:
                    colors.append(
                        [1, 0, 0, 1 * (((weight_hist[batch] - ave) / tf) ** 2)]
                    )
                elif weight_hist[batch] - ave < (-1) * tf:
                    colors.append([0, 0, 1, 1])
                elif weight_hist[batch] - ave < 0:
                    colors.append(
                        [0, 0, 1, 1 * (((weight_hist[batch] - ave) / tf) ** 2)]
                    )
                else:
                    colors.append([0, 0, 0, 0])
    return colors


def render_gif(nodes, colors_list, layer_lists, path, n_frames=100):
    """The seed's figure and ``FuncAnimation`` loop, saved with pillow.

    ``nodes`` are the node counts per column (the seed: ``[100, 10, 10, 10]``
    for l2..l5) and ``colors_list[frame]`` the list of edge colours.
    """
    import matplotlib.pyplot as plt
    from matplotlib import patches
    from matplotlib.animation import FuncAnimation
    from matplotlib.collections import LineCollection

    max_node = max(nodes)
    positions = []
    for index, node in enumerate(nodes):
        pos = []
        for i in range(node):
            pos.append([index, (i / (node - 1)) * max_node])
        positions.append(pos)

    lines = [
        [sp, ep]
        for i in range(len(positions) - 1)
        for sp in positions[i + 1]
        for ep in positions[i]
    ]

    height = 10
    width = 5
    ell_height = 1
    ell_width = 1 / ((max(nodes) / len(nodes)) * (height / width))
    fig = plt.figure(figsize=(height, width))
    ax = fig.add_subplot(111)
    tuples = [tuple(pos) for poss in positions for pos in poss]

    x_lim = [0 - (len(nodes) * 0.01), len(nodes) + (len(nodes) * 0.01)]
    y_lim = [0 - (max(nodes) * 0.01), max(nodes) + (max(nodes) * 0.01)]
    x_ax = list(range(len(nodes)))
    y_ax = [0, max(nodes)]

    ax.set_ylim(y_lim)
    ax.set_xlim(x_lim)
    ax.set_yticks(y_ax)
    ax.set_xticks(x_ax)
    ax.set_xticklabels(layer_lists)
    ax.spines["right"].set_visible(False)
    ax.spines["top"].set_visible(False)
    ax.spines["left"].set_visible(False)
    ax.spines["bottom"].set_visible(False)
    ax.get_yaxis().set_visible(False)

    for cir_pos in tuples:
        draw_circle = patches.Ellipse(
            cir_pos, width=ell_width, height=ell_height, fill=False
        )
        ax.add_artist(draw_circle)

    def update(frame):
        if frame > 0:
            # The seed: ax.collections.remove(ax.collections[0]); matplotlib
            # >= 3.7 needs the artist's own remove().
            ax.collections[0].remove()
        lc = LineCollection(lines, colors=colors_list[frame], linewidth=1)
        ax.add_collection(lc)
        ax.set_title(f"batch: {frame + 1}")
        ax.autoscale()

    anim = FuncAnimation(fig, update, frames=range(n_frames), interval=100)
    anim.save(path, writer="pillow")
    plt.close(fig)
