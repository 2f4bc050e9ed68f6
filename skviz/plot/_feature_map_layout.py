"""Where the feature-map grid puts its panels, the colour limits of
``scale="map"`` and the colour bar of each layer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "MAPS_PER_ROW",
    "PANEL",
    "bands",
    "colorbar",
    "fits_panel",
    "map_limits",
    "name_above_title",
]

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


def colorbar(fig, span: np.ndarray, layer: str, colormap, limits, map_limits) -> None:
    """A layer's colour bar under its maps (``span``, an array of Axes).

    In the layer's units with ``limits`` (``scale="layer"``); else, for
    ``map_limits`` (``scale="map"``), in shares of each map's largest
    ``|value|``: -max to +max in a signed layer, 0 to max otherwise.
    """
    import matplotlib as mpl

    kw = dict(
        ax=span.ravel().tolist(),
        location="bottom",
        shrink=0.9 if span.shape[1] > 1 else 1.0,
        aspect=12 * max(span.shape[1], 1),
    )
    if limits is not None:
        mappable = mpl.cm.ScalarMappable(mpl.colors.Normalize(*limits), colormap)
        fig.colorbar(mappable, label=layer, **kw)
        return
    signed = map_limits[..., 0].min(initial=0.0) < 0
    mappable = mpl.cm.ScalarMappable(
        mpl.colors.Normalize(-1.0 if signed else 0.0, 1.0), colormap
    )
    bar = fig.colorbar(mappable, label=f"{layer} (each map / its max |value|)", **kw)
    ticks = [-1.0, 0.0, 1.0] if signed else [0.0, 1.0]
    bar.set_ticks(ticks, labels=["−max", "0", "+max"] if signed else ["0", "max"])


def fits_panel(ax, text: str, fontsize, panels: int = 1) -> bool:
    """Whether ``text`` over ``panels`` panels from ``ax`` on keeps clear of
    the titles of the panels beyond them."""
    probe = ax.text(0, 0, text, fontsize=fontsize, transform=ax.transAxes)
    try:
        width = probe.get_window_extent().width
    finally:
        probe.remove()
    fig = ax.figure
    if fig.get_layout_engine() is not None:
        # A figure laid out by matplotlib (ours): panels about PANEL inches
        # apart; the axes' positions are only final once the layout has run.
        room = panels * PANEL * fig.dpi
    else:
        room = panels * ax.get_position().width * fig.bbox.width
    return width <= 0.85 * room


def name_above_title(ax, text: str, fontsize) -> None:
    """``text`` on a line of its own above the title of ``ax``, from its left
    edge on (it may reach over the next panels, whose titles are one line)."""
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties

    points = FontProperties(size=fontsize).get_size_in_points()
    ax.annotate(
        text,
        (0, 1),
        xycoords="axes fraction",
        xytext=(0, mpl.rcParams["axes.titlepad"] + 1.4 * points),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=fontsize,
    )
