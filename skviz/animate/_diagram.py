"""Where the network diagram puts its units and edges.

Column ``c`` holds the units between layer ``c - 1`` and layer ``c``: the
input of the first layer, then each layer's output. Columns sit at
``x = c``, their units evenly from ``y = 1`` (top) to ``y = 0``; a column
with more than ``max_units`` units shows only the units whose edges moved
most.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = [
    "column_labels",
    "edge_segments",
    "input_names",
    "node_gap",
    "node_positions",
    "node_sizes",
    "select_units",
]


def _sq_sum(u: np.ndarray, axis) -> np.ndarray:
    out = np.zeros(u.shape[1] if axis == (0, 2) else u.shape[2])
    # chunks over the update axis keep the float64 temporary small
    step = max(1, (8 * 2**20) // max(u[0].size * 8, 1))
    for s in range(0, u.shape[0], step):
        block = np.asarray(u[s : s + step], dtype=np.float64)
        block = np.where(np.isfinite(block), block, 0.0)
        out += np.square(block).sum(axis=axis)
    return out


def _top_units(norm2: np.ndarray, k: int) -> np.ndarray:
    # stable: ties keep the lower index; result in the original order
    order = np.argsort(-norm2, kind="stable")[:k]
    return np.sort(order)


def select_units(
    arrays: Sequence[np.ndarray], max_units: int
) -> tuple[list[np.ndarray], list[int]]:
    """The units drawn in each column, and each column's full unit count.

    A column with more than ``max_units`` units keeps those with the
    largest sum of squared updates over all edges touching them (incoming
    and outgoing, all updates), in their original order.
    """
    n_units = [arrays[0].shape[2], *(u.shape[1] for u in arrays)]
    units = []
    for c, n in enumerate(n_units):
        if n <= max_units:
            units.append(np.arange(n))
            continue
        norm2 = np.zeros(n)
        if c > 0:  # incoming edges: rows of the layer before
            norm2 += _sq_sum(arrays[c - 1], axis=(0, 2))
        if c < len(arrays):  # outgoing edges: columns of the next layer
            norm2 += _sq_sum(arrays[c], axis=(0, 1))
        units.append(_top_units(norm2, max_units))
    return units, n_units


def node_positions(units: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``(x, y)`` of every drawn unit, one ``(k, 2)`` array per column."""
    columns = []
    for c, idx in enumerate(units):
        k = len(idx)
        y = np.full(k, 0.5) if k == 1 else 1.0 - np.arange(k) / (k - 1)
        columns.append(np.column_stack([np.full(k, float(c)), y]))
    return columns


def edge_segments(columns: Sequence[np.ndarray]) -> np.ndarray:
    """End points of every edge, ``(n_edges, 2, 2)``, layer after layer.

    Within a layer, output unit major and input unit minor: the row-major
    order of its weight matrix, which is the order of the edge colours.
    """
    segments = []
    for src, dst in itertools.pairwise(columns):
        seg = np.empty((len(dst), len(src), 2, 2))
        seg[:, :, 0, :] = src[None, :, :]
        seg[:, :, 1, :] = dst[:, None, :]
        segments.append(seg.reshape(-1, 2, 2))
    return np.concatenate(segments)


def column_labels(
    names: Sequence[str],
    labels: Sequence[str] | None,
    units: Sequence[np.ndarray],
    n_units: Sequence[int],
) -> list[str]:
    """The label under each column; a reduced column says which units it shows."""
    if labels is None:
        out = [f"{names[0]} in", *names]
    else:
        out = [str(s) for s in labels]
        if len(out) != len(n_units):
            raise ValueError(
                f"labels needs {len(n_units)} entries (the input of the first "
                f"layer, then each layer), got {len(out)}."
            )
    for c, (idx, n) in enumerate(zip(units, n_units, strict=True)):
        if len(idx) < n:
            out[c] += f"\n(top {len(idx)} of {n}\nby update norm)"
    return out


def input_names(
    feature_names: Sequence | None, drawn: np.ndarray, n_inputs: int
) -> list[str] | None:
    """The names of the drawn input units, or None when the names are not known."""
    if feature_names is None:
        return None
    if isinstance(feature_names, str):
        raise TypeError("feature_names must be a sequence of names, not one string.")
    names = [str(n) for n in feature_names]
    if len(names) != n_inputs:
        raise ValueError(
            f"feature_names has {len(names)} names; the first layer takes "
            f"{n_inputs} inputs."
        )
    return [names[i] for i in drawn]


def _height_pt(fig, ax) -> float:
    return ax.get_position().height * fig.get_figheight() * 72


def node_gap(column: np.ndarray, fig, ax) -> float:
    """Distance (pt) between neighbouring units of one column of ``(k, 2)`` positions."""
    return _height_pt(fig, ax) / max(len(column) - 1, 1)


def node_sizes(node_xy: np.ndarray, n_columns: int, fig, ax) -> np.ndarray:
    """Marker areas (pt²): circles smaller than the gap to their neighbours."""
    cols = node_xy[:, 0].astype(int)
    counts = np.bincount(cols, minlength=n_columns)
    gap_pt = _height_pt(fig, ax) / np.maximum(counts - 1, 1)
    return np.clip(0.7 * gap_pt, 2.0, 10.0)[cols] ** 2
