"""The artists of one panel of the layer animation, reused by every frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._geometry import cell_verts, line_alpha

__all__ = ["REGION_LIGHTEN", "PanelView", "lighten"]

_LINE_COLOR = "0.2"
# Opacity of a grid line where lines do not bunch up (see line_alpha).
LINE_ALPHA = 0.55
# How far region colours are blended towards white, so the points stand out.
REGION_LIGHTEN = 0.72


def lighten(color, amount: float) -> tuple[float, float, float]:
    """``color`` blended towards white by ``amount`` (0: as is, 1: white)."""
    rgb = np.asarray(color[:3], dtype=float)
    return tuple(rgb + (1.0 - rgb) * amount)


def _region_paths(cells: np.ndarray, groups: Sequence[np.ndarray]) -> list:
    """One compound path per class from quadrilateral cells (n, 4, 2).

    Every cell is turned counter-clockwise first: under the nonzero fill
    rule, a cell folded over by a layer (clockwise) would otherwise cancel
    the cells it overlaps and leave a hole. One path per class fills
    without seams between cells and needs no Path object per cell.
    """
    from matplotlib.path import Path

    x, y = cells[..., 0], cells[..., 1]
    area = np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
    cells = np.where((area < 0)[:, None, None], cells[:, ::-1], cells)
    closed = np.concatenate([cells, cells[:, :1]], axis=1)
    codes = np.array(
        [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY],
        dtype=Path.code_type,
    )
    return [
        Path(closed[idx].reshape(-1, 2), np.tile(codes, len(idx))) for idx in groups
    ]


class PanelView:
    """The artists of one axes, created once and updated for every frame.

    Grid lines are one ``LineCollection`` (``set_segments``), each class of
    points one ``Line2D`` (``set_data``) and the decision regions one
    ``PathCollection`` holding one compound path per predicted class
    (``set_paths``); on 3-D axes the counterparts are ``Line3DCollection``,
    ``Line3D`` and a ``Poly3DCollection`` of cells (``set_verts``, which
    sorts them by depth). Nothing is removed or re-created between frames.
    """

    def __init__(self, ax, *, groups, cell_colors, fontsize: float, compact: bool):
        from matplotlib.collections import LineCollection, PathCollection

        self.ax = ax
        self.three_d = ax.name == "3d"
        self.groups = groups  # list of (label, colour, row mask)
        self.compact = compact
        d = 3 if self.three_d else 2
        self.regions = None
        if cell_colors is not None:
            colors, which = np.unique(cell_colors, axis=0, return_inverse=True)
            self.cell_groups = [np.flatnonzero(which == k) for k in range(len(colors))]
            if self.three_d:
                from mpl_toolkits.mplot3d.art3d import Poly3DCollection

                # No edges and no antialiasing, so that neighbouring cells
                # tile the surface without seams.
                self.regions = Poly3DCollection(
                    np.zeros((len(cell_colors), 4, d)),
                    facecolors=cell_colors,
                    edgecolors="none",
                    linewidths=0,
                    antialiased=False,
                    zorder=0,
                )
                ax.add_collection3d(self.regions)
            else:
                self.regions = PathCollection(
                    [],
                    facecolors=colors,
                    edgecolors="none",
                    linewidths=0,
                    zorder=0,
                    offset_transform=None,
                )
                self.regions.set_transform(ax.transData)
                ax.add_collection(self.regions, autolim=False)
        line_style = dict(
            colors=_LINE_COLOR, linewidths=0.5, alpha=LINE_ALPHA, zorder=1
        )
        if self.three_d:
            from mpl_toolkits.mplot3d.art3d import Line3DCollection

            self.lines = Line3DCollection(np.zeros((1, 2, 3)), **line_style)
            ax.add_collection3d(self.lines)
        else:
            self.lines = LineCollection(np.zeros((1, 2, 2)), **line_style)
            ax.add_collection(self.lines)
        self.points = []
        marker = dict(
            linestyle="none",
            marker="o",
            markersize=2.2 if compact else 2.8,
            markeredgewidth=0,
            alpha=0.85,
            zorder=2,
        )
        for label, color, _ in groups:
            empty = [[] for _ in range(d)]
            (artist,) = ax.plot(*empty, color=color, label=label, **marker)
            self.points.append(artist)
        ax.tick_params(labelsize=fontsize - 1.5, pad=1)
        if not self.three_d:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.yaxis.set_major_locator(MaxNLocator(5))
        if compact:
            ax.set_xticks([])
            ax.set_yticks([])
            if self.three_d:
                ax.set_zticks([])
        if self.three_d:
            # Depth sorting would bury the points under the region surface;
            # fixed order instead: regions, then grid lines, then points.
            ax.computed_zorder = False
            ax.set_box_aspect((1, 1, 1), zoom=1.1 if compact else 0.95)
        else:
            ax.set_aspect("equal", adjustable="box")
        self.fontsize = fontsize

    def artists(self) -> list:
        return [a for a in (self.regions, self.lines, *self.points) if a is not None]

    def update(self, state: dict, *, camera: tuple[float, float] | None = None) -> None:
        """Show ``state`` (as :meth:`LayerTransformAnimation.frame_coordinates`).

        ``camera`` is the ``(elev, azim)`` of 3-D axes. Grid lines fade where
        the frame squeezes them together (:func:`._geometry.line_alpha`).
        """
        ax = self.ax
        P = state["points"]
        self.lines.set_segments(state["lines"])
        self.lines.set_alpha(line_alpha(state["lines"], state["limits"], LINE_ALPHA))
        for artist, (_, _, mask) in zip(self.points, self.groups, strict=True):
            if self.three_d:
                artist.set_data_3d(P[mask, 0], P[mask, 1], P[mask, 2])
            else:
                artist.set_data(P[mask, 0], P[mask, 1])
        if self.regions is not None:
            cells = cell_verts(state["lattice"])
            if self.three_d:
                self.regions.set_verts(cells)
            else:
                self.regions.set_paths(_region_paths(cells, self.cell_groups))
        lim = state["limits"]
        ax.set_xlim(*lim[0])
        ax.set_ylim(*lim[1])
        if self.three_d:
            ax.set_zlim(*lim[2])
            if camera is not None:
                ax.view_init(elev=camera[0], azim=camera[1])
        ax.set_title(state["title"], fontsize=self.fontsize, pad=3)
        if not self.compact:
            labels = state["axis_labels"]
            ax.set_xlabel(labels[0], fontsize=self.fontsize - 1, labelpad=1)
            ax.set_ylabel(labels[1], fontsize=self.fontsize - 1, labelpad=1)
            if self.three_d:
                ax.set_zlabel(labels[2], fontsize=self.fontsize - 1, labelpad=1)
