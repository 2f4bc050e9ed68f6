"""Tensor work of a recorded step: copies into rows, relative update sizes.

Both run once per recorded batch, on whatever device the parameters live;
each costs one transfer per device, not one per parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _by_device(tensors: Sequence[torch.Tensor], indices=None) -> dict:
    groups: dict[torch.device, list[int]] = {}
    for i in range(len(tensors)) if indices is None else indices:
        groups.setdefault(tensors[i].device, []).append(i)
    return groups


def copy_into(tensors: Sequence[torch.Tensor | None], rows: Sequence[np.ndarray]):
    """Copy each tensor into its float32 row; ``None`` (no gradient) gives NaN.

    CPU tensors go straight into the row. Tensors on an accelerator are
    flattened into one buffer per device and moved in one transfer, so a
    recorded step costs one device synchronisation, not one per parameter.
    """
    elsewhere = []
    for i, (t, row) in enumerate(zip(tensors, rows, strict=True)):
        if t is None:
            row[...] = np.nan
        elif t.device.type == "cpu":
            torch.from_numpy(row).copy_(t.detach())
        else:
            elsewhere.append(i)
    for indices in _by_device(tensors, elsewhere).values():
        flat = torch.cat(
            [tensors[i].detach().reshape(-1).to(torch.float32) for i in indices]
        ).to("cpu")
        flat_np = flat.numpy()
        offset = 0
        for i in indices:
            row = rows[i]
            row[...] = flat_np[offset : offset + row.size].reshape(row.shape)
            offset += row.size


def relative_scale(values):
    """What an update is compared with: the spread of ``values``, or their size
    (root mean square) when they are all equal. Works on tensors and arrays
    along the last axis."""
    if isinstance(values, torch.Tensor):
        std = values.std(correction=0)
        return torch.where(std > 0, std, values.square().mean().sqrt())
    std = values.std(axis=-1)
    return np.where(std > 0, std, np.sqrt(np.mean(np.square(values), axis=-1)))


def relative_step(
    tracked: Sequence[torch.Tensor], previous: Sequence[torch.Tensor]
) -> np.ndarray:
    """``std(p - prev) / scale(prev)`` for each pair, then ``prev`` becomes ``p``.

    ``scale`` is the spread of the values, ``std(prev)``; for a parameter
    whose values are all equal (BatchNorm weights start at 1) it is their
    size, the root mean square, and NaN only where they are all 0 (see
    :func:`relative_scale`). ``previous`` holds one copy per tracked
    parameter, on its device, updated in place.
    """
    out = np.empty(len(tracked), np.float32)
    with torch.no_grad():
        for indices in _by_device(tracked).values():
            ratios = []
            for i in indices:
                p, prev = tracked[i].detach(), previous[i]
                num = (p.float() - prev.float()).std(correction=0)
                den = relative_scale(prev.float())
                ratios.append(torch.where(den > 0, num / den, torch.nan))
                prev.copy_(p)
            # one transfer per device and step
            out[indices] = torch.stack(ratios).to("cpu").numpy()
    return out
