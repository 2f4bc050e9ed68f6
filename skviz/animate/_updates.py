"""The update arrays the network diagram is built from, and its frames.

Checks of the per-layer update arrays, which updates become frames, and
the title of each frame (its training step, epoch and batch when known).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "AUTO_FRAMES",
    "check_max_units",
    "check_updates",
    "frame_indices",
    "frame_titles",
]

# frames="auto" draws at most this many updates. Each frame of the diagram
# recolours every edge, so a GIF grows with its frame count: 30 frames keep
# an MNIST-sized MLP (784-1000-100-10-10-10, 90 batches) near 1.4 MB and a
# few seconds, where all 90 took 14 MB and a minute with the old defaults.
AUTO_FRAMES = 30


def check_updates(
    updates: Sequence[np.ndarray], layers: Sequence[str] | None
) -> tuple[list[np.ndarray], list[str]]:
    """The arrays ``(n_updates, out_i, in_i)`` of consecutive layers, and their names."""
    arrays = [np.asarray(u) for u in updates]
    if not arrays:
        raise ValueError("updates is empty: pass at least one layer's updates.")
    for i, u in enumerate(arrays):
        if u.ndim != 3:
            raise ValueError(
                f"updates[{i}] must have shape (n_updates, out, in), got {u.shape}."
            )
    n_updates = arrays[0].shape[0]
    if n_updates == 0:
        raise ValueError("updates hold no update (n_updates == 0).")
    if any(u.shape[0] != n_updates for u in arrays):
        raise ValueError(
            f"all layers need the same number of updates, got {[u.shape[0] for u in arrays]}."
        )
    names = (
        list(layers)
        if layers is not None
        else [f"layer{i}" for i in range(len(arrays))]
    )
    if len(names) != len(arrays):
        raise ValueError(f"{len(names)} layer names for {len(arrays)} update arrays.")
    for i in range(len(arrays) - 1):
        if arrays[i].shape[1] != arrays[i + 1].shape[2]:
            raise ValueError(
                f"layers {names[i]!r} ({arrays[i].shape[1]} outputs) and "
                f"{names[i + 1]!r} ({arrays[i + 1].shape[2]} inputs) are not "
                "consecutive: the diagram needs out_i == in_{i+1}."
            )
    return arrays, names


def check_max_units(max_units) -> int:
    if (
        isinstance(max_units, bool)
        or not isinstance(max_units, (int, np.integer))
        or max_units < 1
    ):
        raise ValueError(f"max_units must be an int >= 1, got {max_units!r}.")
    return int(max_units)


def frame_indices(frames, n_updates: int) -> np.ndarray:
    """The updates (0-based) that ``frames`` selects.

    ``"auto"``: every update when there are at most :data:`AUTO_FRAMES`,
    else that many spread evenly from the first to the last; None: every
    update; an int ``n``: the first ``n``; a slice or an array of indices.
    """
    if isinstance(frames, str):
        if frames != "auto":
            raise ValueError(
                f"frames must be 'auto', None, an int, a slice or indices, got {frames!r}."
            )
        if n_updates <= AUTO_FRAMES:
            return np.arange(n_updates)
        spread = np.linspace(0, n_updates - 1, AUTO_FRAMES)
        return np.unique(np.round(spread)).astype(np.int64)
    if frames is None:
        return np.arange(n_updates)
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}.")
        return np.arange(min(int(frames), n_updates))
    if isinstance(frames, slice):
        idx = np.arange(n_updates)[frames]
    else:
        idx = np.asarray(frames)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(
                "frames must be 'auto', None, an int, a slice or a 1-D array of ints."
            )
        if idx.size and (idx.min() < -n_updates or idx.max() >= n_updates):
            raise ValueError(f"frames out of range for {n_updates} updates.")
        idx = idx % n_updates
    if idx.size == 0:
        raise ValueError("frames selects no update.")
    return idx.astype(np.int64)


def _per_frame(values, frames: np.ndarray, n_updates: int):
    if values is None:
        return None
    values = np.asarray(values)
    if values.shape != (n_updates,):
        raise ValueError(
            f"steps/epochs/batches need shape ({n_updates},), got {values.shape}."
        )
    return values[frames]


def frame_titles(frames: np.ndarray, n_updates: int, steps, epochs, batches):
    """Each frame's title, and its step, epoch and batch (None when not given).

    ``steps``, ``epochs`` and ``batches`` hold one value per update (all
    ``n_updates``); the titles name the step, else the update's position.
    """
    steps, epochs, batches = (
        _per_frame(a, frames, n_updates) for a in (steps, epochs, batches)
    )
    titles = []
    for j, f in enumerate(frames):
        if steps is None:
            title = f"update {f + 1} of {n_updates}"
        else:
            title = f"step {int(steps[j])}"
            if epochs is not None:
                title += f" · epoch {int(epochs[j])}"
                if batches is not None:
                    title += f", batch {int(batches[j])}"
        titles.append(title)
    return titles, steps, epochs, batches
