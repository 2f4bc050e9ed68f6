"""The colour rule of the network diagram: red where a weight grew, blue where it shrank.

Per layer, ``d = update - mean`` over all updates of the layer: ``d > 0``
is drawn in the positive colour, ``d < 0`` in the negative one; the
largest ``|d|`` are fully opaque and the others fade with alpha
``(d / threshold) ** 2``. How many are opaque is set by ``top_fraction``
and ``scaling`` (:func:`update_thresholds`). Every colour of every frame is
computed at once with array operations (:func:`update_colors`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SCALINGS",
    "check_scaling",
    "edge_colors",
    "rule_text",
    "update_colors",
    "update_thresholds",
]

SCALINGS = ("sqrt", "layer")
# Colour arrays above this size are refused: frames x edges x 4 float32.
_MAX_COLOR_BYTES = 2 * 2**30


def check_scaling(scaling) -> str:
    """``scaling`` checked; the deprecated ``"seed"`` becomes ``"sqrt"``."""
    if scaling == "seed":
        warnings.warn(
            "scaling='seed' was renamed scaling='sqrt' (the same rule) in 0.2 "
            "and will be removed in 0.3.",
            FutureWarning,
            stacklevel=3,
        )
        return "sqrt"
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
    return scaling


def update_thresholds(
    updates: Sequence[np.ndarray],
    top_fraction: float = 1e-4,
    scaling: str = "sqrt",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer centre and opacity threshold of the update colour rule.

    For layer ``i`` with ``n_i`` finite update values (all frames together),
    the centre is their mean and the threshold the ``k_i``-th largest
    ``|update - centre|`` (0-based, as in a descending sort), where

    * ``scaling="sqrt"``: ``k_i = int(n_min * top_fraction * sqrt(n_i / n_min))``
      with ``n_min`` the smallest ``n_i``: the smallest layer gets its top
      ``top_fraction`` opaque and the number of opaque values grows with
      the square root of a layer's size, so that one big layer does not
      flood the picture;
    * ``scaling="layer"``: ``k_i = int(n_i * top_fraction)``, every layer
      its own top fraction.

    Parameters
    ----------
    updates : sequence of ndarray
        One array per layer, any shape (all frames of the layer together).
    top_fraction : float, default=1e-4
        In (0, 1).
    scaling : {"sqrt", "layer"}, default="sqrt"
        ``"seed"``, the former name of ``"sqrt"``, is deprecated.

    Returns
    -------
    centers, thresholds : ndarray of shape (n_layers,), float32
    """
    if not 0 < top_fraction < 1:
        raise ValueError(f"top_fraction must be in (0, 1), got {top_fraction!r}.")
    scaling = check_scaling(scaling)
    flats = []
    for i, u in enumerate(updates):
        flat = np.asarray(u, dtype=np.float32).ravel()
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            raise ValueError(f"updates[{i}] holds no finite value.")
        flats.append(flat)
    n_min = min(f.size for f in flats)
    centers = np.empty(len(flats), np.float32)
    thresholds = np.empty(len(flats), np.float32)
    for i, flat in enumerate(flats):
        n = flat.size
        if scaling == "sqrt":
            # Evaluated in this order (not as top_fraction * sqrt(n * n_min)):
            # the rounding decides the index, and this order gives the index
            # of the hand-written loops the rule comes from (the baseline in
            # benchmarks/), so every colour matches them.
            k = int(n_min * top_fraction * (n / n_min) ** (1 / 2))
        else:
            k = int(n * top_fraction)
        center = np.float32(flat.mean(dtype=np.float64))
        dev = np.abs(flat - center)
        thresholds[i] = np.partition(dev, n - 1 - k)[n - 1 - k]
        centers[i] = center
    return centers, thresholds


def update_colors(
    updates: np.ndarray,
    center: float,
    threshold: float,
    positive=(1.0, 0.0, 0.0),
    negative=(0.0, 0.0, 1.0),
) -> np.ndarray:
    """RGBA colour of every update value under the diagram's colour rule.

    With ``d = update - center``: ``d > 0`` takes ``positive``, ``d < 0``
    ``negative``, each with alpha 1 where ``|d| > threshold`` and
    ``(d / threshold) ** 2`` otherwise; ``d == 0`` and NaN give transparent
    black ``(0, 0, 0, 0)``. A threshold of 0 makes every non-zero ``d``
    opaque.

    Parameters
    ----------
    updates : ndarray of any shape
    center, threshold : float
    positive, negative : RGB triples in [0, 1]

    Returns
    -------
    ndarray of shape ``(*updates.shape, 4)``, float32
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}.")
    d = np.asarray(updates, dtype=np.float32) - np.float32(center)
    # 0: no change (transparent black), 1: positive, 2: negative
    kind = (d > 0).view(np.uint8) + 2 * (d < 0).view(np.uint8)
    table = np.zeros((3, 4), np.float32)
    table[1, :3], table[2, :3] = positive, negative
    rgba = table[kind]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alpha = d / np.float32(threshold)
        np.multiply(alpha, alpha, out=alpha)
        # (d/t)^2 > 1 exactly when |d| > t: the clip is the "opaque" branch
        np.minimum(alpha, np.float32(1), out=alpha)
    alpha[kind == 0] = 0
    rgba[..., 3] = alpha
    return rgba


def edge_colors(
    arrays: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    frames: np.ndarray,
    centers: np.ndarray,
    thresholds: np.ndarray,
    positive,
    negative,
    names: Sequence[str],
) -> np.ndarray:
    """Colours of the drawn edges, ``(n_frames, n_edges, 4)``.

    Layer ``i`` joins the units ``units[i]`` to ``units[i + 1]``; its edges
    run output unit major, input unit minor (the row-major order of the
    weight), as :func:`skviz.animate._diagram.edge_segments` lays them out.
    """
    per_layer = []
    for i, u in enumerate(arrays):
        rows, cols = units[i + 1], units[i]
        n_bytes = len(frames) * len(rows) * len(cols) * 16
        if n_bytes > _MAX_COLOR_BYTES:
            raise ValueError(
                f"colours of {len(frames)} frames x {len(rows) * len(cols)} "
                f"edges of {names[i]!r} would take {n_bytes / 2**30:.1f} GiB; "
                "draw fewer frames or lower max_units."
            )
        sub = u[frames][:, rows][:, :, cols]
        rgba = update_colors(sub, centers[i], thresholds[i], positive, negative)
        per_layer.append(rgba.reshape(len(frames), -1, 4))
    return np.concatenate(per_layer, axis=1)


def _color_name(rgb) -> str:
    from matplotlib.colors import to_hex

    names = {(1.0, 0.0, 0.0): "red", (0.0, 0.0, 1.0): "blue"}
    return names.get(tuple(float(c) for c in rgb), to_hex(rgb))


def rule_text(top_fraction: float, scaling: str, positive, negative) -> str:
    """The colour rule in two lines, for the footer of the diagram."""
    share = f"{top_fraction * 100:g} %"
    if scaling == "sqrt":
        opaque = f"top {share} of |Δ| in the smallest layer, count ∝ √(layer size)"
    else:
        opaque = f"top {share} of |Δ| (per layer)"
    # two lines: one line of this text is wider than the default figure
    return (
        f"Δ = update − layer mean: {_color_name(positive)} Δ > 0, "
        f"{_color_name(negative)} Δ < 0\nopaque: {opaque}; else alpha (Δ/threshold)²"
    )
