"""The figure of the layer animation: class colours, axes, margins, legend.

Shared by the animation's panels (one per net) and its filmstrip (one
small panel per stage). Margins are fixed in inches instead of left to a
layout engine: constrained layout places equal-aspect axes so that their
titles get clipped, and measuring every tick label at every frame costs
more than drawing the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._panel import REGION_LIGHTEN, lighten

__all__ = [
    "add_legend",
    "class_order",
    "new_axes",
    "point_groups",
    "region_colors",
    "user_axes",
]


def class_order(cell_classes: Sequence[np.ndarray | None], y) -> list:
    """Every class predicted for a cell or given in ``y``, sorted when they sort."""
    classes: list = []
    for values in [*(c for c in cell_classes if c is not None), y]:
        if values is None:
            continue
        for c in pd.unique(np.asarray(values)):
            if c not in classes:
                classes.append(c)
    try:
        classes = sorted(classes)
    except TypeError:
        pass
    return classes


def point_groups(y, classes, colors, n_samples: int) -> list:
    """``(label, colour, row mask)`` of each class of points (one group without y)."""
    if y is None:
        return [("samples", "0.15", np.ones(n_samples, bool))]
    return [(str(c), colors[c], y == c) for c in classes if np.any(y == c)]


def region_colors(cells, colors) -> np.ndarray | None:
    """The light colour of each decision-region cell's class, or None."""
    if cells is None:
        return None
    light = {c: lighten(col, REGION_LIGHTEN) for c, col in colors.items()}
    return np.array([light[c] for c in cells])


def _layout_inches(projection: str, compact: bool, titled: bool, legend: bool):
    """Axes side and margins (inches): side, left, right, bottom, top, wspace, hspace."""
    three_d = projection == "3d"
    title_lines = 2 if compact else (3 + titled)
    # the fonts of PanelView: 7 pt in the filmstrip, 10 pt in the animation
    size = 7.0 if compact else 10.0
    title = 0.08 + title_lines * size * 1.25 / 72
    legend = 0.5 if legend else 0.05
    if compact:
        side = 1.85 if three_d else 1.6
        left = 0.08 if three_d else 0.3
        return side, left, 0.05, legend, title, 0.1, title + 0.12
    if three_d:
        return 3.8, 0.2, 0.2, legend + 0.1, title, 0.35, 0.5
    return 3.0, 0.7, 0.15, legend + 0.5, title, 0.8, 0.5


def user_axes(axes, nrows: int, ncols: int, what: str, projection: str):
    """``(figure, grid)`` of the caller's axes, checked against the grid and projection."""
    from ..plot.base import get_figure_axes

    fig, grid = get_figure_axes(axes, nrows, ncols, what=what)
    want_3d = projection == "3d"
    if any((ax.name == "3d") != want_3d for ax in grid.flat):
        raise ValueError(
            f"projection={projection!r} needs "
            + (
                "3-D axes; create them with subplot_kw={'projection': '3d'}."
                if want_3d
                else "2-D axes."
            )
        )
    return fig, grid


def new_axes(
    axes,
    nrows: int,
    ncols: int,
    figsize,
    *,
    what: str,
    compact: bool,
    projection: str,
    titled: bool,
    legend: bool,
):
    """``(figure, grid of axes, whether the figure is ours)``.

    A figure of our own gets margins in inches (see the module doc) and,
    unless ``figsize`` is given, a size that fits the grid.
    """
    from ..plot.base import get_figure_axes

    if axes is not None:
        return (*user_axes(axes, nrows, ncols, what, projection), False)
    side, left, right, bottom, top, ws, hs = _layout_inches(
        projection, compact, titled, legend
    )
    if figsize is None:
        figsize = (
            left + right + ncols * side + (ncols - 1) * ws,
            bottom + top + nrows * side + (nrows - 1) * hs,
        )
    fig, grid = get_figure_axes(
        None,
        nrows,
        ncols,
        figsize=figsize,
        what=what,
        subplot_kw={"projection": "3d"} if projection == "3d" else None,
        layout=None,
    )
    width, height = fig.get_size_inches()
    axes_w = max((width - left - right - (ncols - 1) * ws) / ncols, 0.1)
    axes_h = max((height - bottom - top - (nrows - 1) * hs) / nrows, 0.1)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=ws / axes_w,
        hspace=hs / axes_h,
    )
    return fig, grid, True


def add_legend(
    fig, ax, own: bool, *, classes, colors, points: bool, regions: bool
) -> None:
    """The classes' colours: under a figure of our own, else inside ``ax``.

    ``points``: the points are drawn coloured by class; ``regions``: the
    decision regions are shaded.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, title = [], None
    if points:
        for c in classes:
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="o",
                    markersize=5,
                    markeredgewidth=0,
                    color=colors[c],
                    label=str(c),
                )
            )
        title = "class (dots: y, shade: predicted)" if regions else "class"
    elif regions:
        for c in classes:
            handles.append(
                Patch(color=lighten(colors[c], REGION_LIGHTEN), label=str(c))
            )
        title = "predicted class"
    if not handles:
        return
    kw = dict(
        handles=handles,
        title=title,
        fontsize=9,
        title_fontsize=9,
        ncols=min(len(handles), 6),
        frameon=False,
    )
    if own:
        fig.legend(loc="lower center", borderaxespad=0.2, **kw)
    else:
        ax.legend(loc="best", **kw)
