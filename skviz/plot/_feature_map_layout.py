"""Where the feature-map grid puts its panels, and the colour limits of ``scale="map"``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["MAPS_PER_ROW", "PANEL", "bands", "map_limits"]

# A figure of our own holds at most this many maps side by side (plus the
# input image on the left): max_channels=8 fits one layer on a row, and the figure
# stays about 10 inches (1,000 pixels) wide, which a notebook shows unscaled.
MAPS_PER_ROW = 8
PANEL = 1.0  # inches per panel


def bands(chosen: Mapping[str, list[int]], width: int) -> list[list[tuple]]:
    """The maps of each band of rows: ``(layer, position in the layer)`` pairs.

    Layers go into a band in order while they fit in ``width`` maps; a layer
    wider than ``width`` gets bands of its own, ``width`` maps each.
    """
    out: list[list[tuple]] = [[]]
    for layer, chans in chosen.items():
        maps = [(layer, j) for j in range(len(chans))]
        if out[-1] and len(out[-1]) + len(maps) > width:
            out.append([])
        while maps:
            room = width - len(out[-1])
            out[-1].extend(maps[:room])
            maps = maps[room:]
            if maps:
                out.append([])
    return out


def map_limits(A: np.ndarray, signed: bool) -> np.ndarray:
    """Colour limits of every map, ``(n_samples, n_channels, 2)``, for ``scale="map"``.

    Each map spans its own largest ``|value|``: ``[-m, m]`` in a layer with
    negative values (so that 0 keeps the layer's middle colour), ``[0, m]``
    otherwise; a map of zeros gets ``m = 1``.
    """
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.abs(A), axis=(2, 3)) if A.size else np.zeros(A.shape[:2])
    peak = np.nan_to_num(peak)
    peak = np.where(peak > 0, peak, 1.0)
    return np.stack([-peak if signed else np.zeros_like(peak), peak], axis=-1)
