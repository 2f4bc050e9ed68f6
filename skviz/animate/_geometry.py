"""Geometry of the layer animation, pure numpy.

The grid and the lattice of decision-region cells over the input plane,
the projection of a representation into drawing space (PCA, then the
orthogonal map that lines it up with the previous picture), the linear
blend between two pictures, and the boxes and axis limits that frame them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Projection",
    "bounds",
    "cell_verts",
    "framing_box",
    "grid_lines",
    "input_box",
    "lattice",
    "lerp",
    "project",
    "view_limits",
]

# Share of the data range added around the points when choosing axis limits.
MARGIN = 0.06


def input_box(X: np.ndarray, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """Box around the samples, widened by ``padding`` of its span on every side."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo - padding * span, hi + padding * span


def grid_lines(lo, hi, n_lines: int, resolution: int) -> np.ndarray:
    """Rows then columns of a grid over the box, shape (2 * n_lines, res, 2)."""
    xs = np.linspace(lo[0], hi[0], n_lines)
    ys = np.linspace(lo[1], hi[1], n_lines)
    tx = np.linspace(lo[0], hi[0], resolution)
    ty = np.linspace(lo[1], hi[1], resolution)
    rows = np.stack(np.broadcast_arrays(tx[None, :], ys[:, None]), axis=-1)
    cols = np.stack(np.broadcast_arrays(xs[:, None], ty[None, :]), axis=-1)
    return np.concatenate([rows, cols]).astype(np.float64)


def lattice(lo, hi, r: int) -> np.ndarray:
    """Vertices of an r x r lattice over the box, shape (r, r, 2)."""
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], r), np.linspace(lo[1], hi[1], r), indexing="xy"
    )
    return np.stack([gx, gy], axis=-1)


def cell_verts(lattice: np.ndarray) -> np.ndarray:
    """Corners of each lattice cell, shape (n_cells, 4, n_dims)."""
    return np.stack(
        [
            lattice[:-1, :-1],
            lattice[:-1, 1:],
            lattice[1:, 1:],
            lattice[1:, :-1],
        ],
        axis=2,
    ).reshape(-1, 4, lattice.shape[-1])


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``(1 - t) * a + t * b``, returning exact copies of the endpoints."""
    if t <= 0.0:
        return a.copy()
    if t >= 1.0:
        return b.copy()
    return (1.0 - t) * a + t * b


def _pad(values: np.ndarray, n_draw: int) -> np.ndarray:
    out = np.zeros((*values.shape[:-1], n_draw), dtype=np.float64)
    out[..., : values.shape[-1]] = values
    return out


@dataclass
class Projection:
    """Where a representation is drawn, and how it got there.

    ``coords == pca.transform(values) @ rotation`` when ``method`` is
    ``"pca"``; for ``"as is"`` the values themselves, zero-padded to
    ``n_draw`` columns.
    """

    method: str
    coords: np.ndarray
    grid: np.ndarray
    pca: Any = None
    rotation: np.ndarray | None = None


def project(
    values: np.ndarray,
    grid: np.ndarray,
    n_draw: int,
    previous: np.ndarray | None,
    align: bool,
) -> Projection:
    """Samples (n, width) and grid points (m, width) in drawing space.

    Up to ``n_draw`` columns are drawn as they are. Wider representations
    are projected onto their first ``n_draw`` principal components (fitted
    on the samples only), then, with ``align``, turned by the orthogonal
    map that best matches ``previous`` (the previous picture's samples).
    """
    if values.shape[1] <= n_draw:
        return Projection(
            "as is",
            _pad(values.astype(np.float64), n_draw),
            _pad(grid.astype(np.float64), n_draw),
        )
    from sklearn.decomposition import PCA

    values = values.astype(np.float64)
    # A layer whose units all died has no variance; its ratio is 0 / 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        pca = PCA(n_components=n_draw, svd_solver="full").fit(values)
    scores = pca.transform(values)
    rotation = np.eye(n_draw)
    if align and previous is not None:
        from scipy.linalg import orthogonal_procrustes

        rotation, _ = orthogonal_procrustes(
            scores - scores.mean(axis=0), previous - previous.mean(axis=0)
        )
    return Projection(
        "pca", scores @ rotation, pca.transform(grid) @ rotation, pca, rotation
    )


def bounds(arrays: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate minimum and maximum over the points of all arrays."""
    flat = [a.reshape(-1, a.shape[-1]) for a in arrays if a is not None]
    both = np.concatenate(flat)
    return both.min(axis=0), both.max(axis=0)


def framing_box(
    points: np.ndarray, grid: Sequence[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Box that frames a picture: its points, and its grid up to a point.

    Grid corners far from the data can be flung far away by a layer; taking
    them in whole would shrink the data to a speck. The grid counts up to
    half the points' largest span beyond the points' box.
    """
    plo, phi = bounds([points])
    glo, ghi = bounds(grid)
    reach = 0.5 * float(np.max(phi - plo))
    lo = np.minimum(plo, np.maximum(glo, plo - reach))
    hi = np.maximum(phi, np.minimum(ghi, phi + reach))
    return lo, hi


def view_limits(lo: np.ndarray, hi: np.ndarray, square: bool) -> np.ndarray:
    """Axis limits (n_draw, 2) around a box, with a margin; equal spans if square."""
    center = (lo + hi) / 2
    half = (hi - lo) / 2
    if square:
        half = np.full_like(half, half.max())
    half = np.where(half > 0, half * (1 + 2 * MARGIN), 1.0)
    return np.stack([center - half, center + half], axis=1)
