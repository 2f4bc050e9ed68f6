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
    "camera_angles",
    "cell_verts",
    "framing_box",
    "grid_lines",
    "input_box",
    "lattice",
    "lerp",
    "line_alpha",
    "plane_normal",
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


# ----------------------------------------------------------------------
# The look of a picture: where a 3-D camera stands, how opaque grid lines are
# ----------------------------------------------------------------------

# Two smallest variances closer than this ratio leave the normal undefined
# (points along a line, or a round cloud).
_FLAT = 0.5
# The camera leans this share of the normal's elevation towards the horizon,
# so that a plane is seen at an angle (depth shows) and never edge-on.
_LEAN = 1 / 3
# Below this horizontal part, a normal's azimuth is blended with the default
# one: an upright normal has no azimuth, and the camera must not spin when a
# normal tips over from upright.
_UPRIGHT = 0.5
DEFAULT_AZIM = -60.0  # matplotlib's


def plane_normal(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Unit normal of the plane that fits 3-D ``points`` best.

    The axis of least variance (PCA). Where the two smallest variances are
    about equal the points do not define it; then the direction in their
    plane closest to ``reference`` (the previous stage's normal) is taken,
    so that the camera does not jump. Signed to point up (``z > 0``) when
    the normal leans clearly up or down, else towards ``reference``.
    """
    reference = np.asarray(reference, dtype=np.float64)
    centred = points - points.mean(axis=0)
    var, axes = np.linalg.eigh(centred.T @ centred / max(len(points), 1))
    normal = axes[:, 0]
    if not var[1] > 0 or var[0] / var[1] > _FLAT:
        span = axes[:, :2]
        towards = span @ (span.T @ reference)
        if np.linalg.norm(towards) > 1e-9:
            normal = towards
    normal = normal / np.linalg.norm(normal)
    if abs(normal[2]) > 0.25:
        return normal if normal[2] > 0 else -normal
    return normal if normal @ reference >= 0 else -normal


def camera_angles(normal: np.ndarray, swing: float = 0.0) -> tuple[float, float]:
    """``(elev, azim)`` in degrees of a camera looking at a plane with ``normal``.

    The camera stands on the normal's side, leaned towards the horizon by a
    third of the normal's elevation (a plane seen from straight above shows
    no depth), turned ``swing`` degrees in azimuth. The angle between the
    line of sight and the normal stays under 30 degrees plus ``swing``, so
    the plane is never seen edge-on. Both axes must share one scale (the
    animation's views are square).
    """
    nx, ny, nz = (float(v) for v in normal)
    elev = float(np.degrees(np.arcsin(np.clip(nz, -1.0, 1.0))))
    flat = np.hypot(nx, ny)
    # the normal's azimuth, weighted by how far the normal leans over,
    # averaged (as unit vectors) with the default azimuth
    weight = min(flat / _UPRIGHT, 1.0)
    default = np.radians(DEFAULT_AZIM)
    x = weight * nx / max(flat, 1e-12) + (1 - weight) * np.cos(default)
    y = weight * ny / max(flat, 1e-12) + (1 - weight) * np.sin(default)
    azim = float(np.degrees(np.arctan2(y, x)))
    return elev * (1 - _LEAN), azim + swing


def line_alpha(lines: np.ndarray, limits: np.ndarray, base: float) -> float:
    """Opacity of each grid line, lower where the lines bunch up.

    The view is cut into cells (40 per side in 2-D, 16 in 3-D) and the
    distinct lines through each occupied cell are counted (by their
    vertices). An undeformed grid has one or two per cell; where a layer
    squeezes ``k`` lines into a cell, each is drawn with opacity
    ``1 - (1 - base) ** (2 / k)``, so that together they look about as
    dark as one line at ``base``, not a black smear.
    """
    n_lines, n_points, d = lines.shape
    bins = 40 if d == 2 else 16
    lo, hi = limits[:, 0], limits[:, 1]
    span = np.where(hi > lo, hi - lo, 1.0)
    cells = np.floor((lines.reshape(-1, d) - lo) / span * bins).astype(np.int64)
    inside = np.all((cells >= 0) & (cells < bins), axis=1)
    flat = np.ravel_multi_index(cells[inside].T, (bins,) * d)
    line_of = np.repeat(np.arange(n_lines), n_points)[inside]
    pairs = np.unique(flat * n_lines + line_of)
    counts = np.bincount(pairs // n_lines)
    counts = counts[counts > 0]
    if counts.size == 0:
        return base
    crowd = float(np.percentile(counts, 90)) / 2
    if crowd <= 1:
        return base
    return float(1 - (1 - base) ** (1 / crowd))
