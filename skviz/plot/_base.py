"""Small helpers shared by the display classes."""

from __future__ import annotations

import numpy as np


def get_figure_ax(ax=None, figsize=None):
    """Return ``(figure, ax)``, creating a new figure only when ``ax`` is None.

    New figures come from ``pyplot`` (so notebooks show them), as in
    sklearn's displays; nothing else touches global pyplot state.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def color_scale(values: np.ndarray, center: float | None = None):
    """Colour map and limits for a heatmap of ``values``.

    Values that go negative get a diverging map centred at 0 with symmetric
    limits, so that white means zero and equal distances mean equal values;
    non-negative values get a sequential map from 0. NaN/inf are ignored.

    Returns
    -------
    cmap : str
    vmin, vmax : float
    centered : bool
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return "viridis", 0.0, 1.0, False
    lo, hi = float(finite.min()), float(finite.max())
    if center is not None or lo < 0:
        c = 0.0 if center is None else float(center)
        bound = max(abs(lo - c), abs(hi - c)) or 1.0
        return "RdBu_r", c - bound, c + bound, True
    return "viridis", 0.0, hi if hi > 0 else 1.0, False
