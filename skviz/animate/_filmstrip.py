"""The still picture of the layer animation: every stage of every net at once."""

from __future__ import annotations

from . import _geometry as geometry
from ._layer_figure import region_colors
from ._panel import PanelView
from ._stages import stage_box

__all__ = ["draw_filmstrip"]


def draw_filmstrip(anim, axes=None, figsize=None):
    """Draw ``anim``'s stages, one row per net and one column per stage.

    Each small panel has its own limits; cells past the last stage of a
    net with fewer stages are switched off.

    Returns
    -------
    figure, grid of Axes (rows x columns), list of PanelView
    """
    n_rows = len(anim.stages_)
    n_cols = max(len(s) for s in anim.stages_)
    fig, grid, own = anim._new_axes(
        axes, n_rows, n_cols, figsize, "plot_filmstrip", True
    )
    groups = anim._groups() if anim.show_points else []
    views = []
    for r, stages in enumerate(anim.stages_):
        colors = region_colors(anim.cell_classes_[r], anim.colors_)
        for k in range(n_cols):
            ax = grid[r, k]
            if k >= len(stages):
                ax.set_axis_off()
                continue
            st = stages[k]
            view = PanelView(
                ax, groups=groups, cell_colors=colors, fontsize=7.0, compact=True
            )
            view.update(
                {
                    "points": st.coords,
                    "lines": st.line_coords,
                    "lattice": st.lattice_coords,
                    "limits": geometry.view_limits(*stage_box(st), square=True),
                    "title": f"{st.name_line()}\n{st.width_line(anim._n_draw)}",
                    "axis_labels": st.axis_labels,
                }
            )
            if view.three_d:
                ax.view_init(*anim.stage_camera(r, k))
            views.append(view)
        if anim.titles_[r] and not grid[r, 0].name == "3d":
            grid[r, 0].set_ylabel(anim.titles_[r], fontsize=8, fontweight="bold")
    anim._legend(fig, grid[0, 0], own)
    return fig, grid, views
