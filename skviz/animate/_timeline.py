"""Which stages, blend, view and title every frame of the layer animation shows.

With ``S`` stages, ``F`` frames per transition and ``H`` hold frames there
are ``(1 + H) + (S - 1) * (F + H)`` frames. Views are entries of a table
per net: 0 is the first stage's own view, ``t + 1`` transition ``t``'s
view (one box around both of its stages, so the view is still while data
move) and ``S`` the last stage's own view. Hold frames zoom from one entry
to the next while nothing moves.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import _geometry as geometry

__all__ = [
    "PanelFrame",
    "frame_table",
    "frame_title",
    "panel_frame",
    "panel_state",
    "view_table",
]

_COLUMNS = [
    "kind",
    "stage_from",
    "stage_to",
    "alpha",
    "limits_from",
    "limits_to",
    "zoom",
]


def frame_table(n_stages: int, frames_per_transition: int, hold: int) -> pd.DataFrame:
    """One row per frame: ``kind``, stages, blend weight and view (see module doc)."""
    F, H = frames_per_transition, hold
    T = n_stages - 1
    rows = []

    def add(kind, src, dst, alpha, lim_a, lim_b, zoom):
        rows.append((kind, src, dst, alpha, lim_a, lim_b, zoom))

    add("stage", 0, 0, 0.0, 0, 0, 0.0)
    for j in range(1, H + 1):
        add("stage", 0, 0, 0.0, 0, 1, j / H)
    for t in range(T):
        for j in range(1, F + 1):
            if j < F:
                add("move", t, t + 1, j / F, t + 1, t + 1, 0.0)
            else:
                add("stage", t + 1, t + 1, 0.0, t + 1, t + 1, 0.0)
        for j in range(1, H + 1):
            add("stage", t + 1, t + 1, 0.0, t + 1, t + 2, j / H)
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame.index.name = "frame"
    return frame


def view_table(boxes: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """View limits from the stages' boxes: the first stage, each transition, the last.

    A transition's limits hold one box around both of its endpoints, so
    the view is still while the data move.
    """
    table = [geometry.view_limits(*boxes[0], square=True)]
    for (lo_a, hi_a), (lo_b, hi_b) in itertools.pairwise(boxes):
        table.append(
            geometry.view_limits(
                np.minimum(lo_a, lo_b), np.maximum(hi_a, hi_b), square=True
            )
        )
    table.append(geometry.view_limits(*boxes[-1], square=True))
    return table


class PanelFrame(NamedTuple):
    """What one panel shows at one frame: stages, blend and view entries."""

    src: int
    dst: int
    alpha: float
    limits_from: int
    limits_to: int
    zoom: float


def panel_frame(row, n_stages: int) -> PanelFrame:
    """A row of :func:`frame_table` for a net with ``n_stages`` stages.

    A net with fewer stages than the longest one holds its last stage in
    its own last view.
    """
    last = n_stages - 1
    src, dst = int(row.stage_from), int(row.stage_to)
    alpha = float(row.alpha)
    if dst > last:
        src = dst = last
        alpha = 0.0
    la = min(int(row.limits_from), last + 1)
    lb = min(int(row.limits_to), last + 1)
    return PanelFrame(src, dst, alpha, la, lb, float(row.zoom))


def frame_title(stages, src: int, dst: int, alpha: float, n_draw: int, head) -> str:
    """The panel title: ``head`` lines, then the stage shown or the transition."""
    if alpha == 0.0:
        st = stages[src]
        lines = [
            f"{st.name_line()}  ({src + 1}/{len(stages)})",
            st.width_line(n_draw),
        ]
    else:
        a, b = stages[src], stages[dst]
        lines = [f"{a.label} → {b.label}", f"{a.width}-D → {b.width}-D"]
    return "\n".join([*head, *lines])


def panel_state(stages, limits, row, *, n_draw: int, head: list[str]) -> dict:
    """What a panel shows at the frame of ``row`` (a row of :func:`frame_table`).

    ``stages`` and ``limits`` (its :func:`view_table`) are the panel's net's;
    see ``LayerTransformAnimation.frame_coordinates`` for the keys.
    """
    src, dst, alpha, la, lb, zoom = panel_frame(row, len(stages))
    a, b = stages[src], stages[dst]
    lattice = None
    if a.lattice_coords is not None:
        lattice = geometry.lerp(a.lattice_coords, b.lattice_coords, alpha)
    return {
        "points": geometry.lerp(a.coords, b.coords, alpha),
        "lines": geometry.lerp(a.line_coords, b.line_coords, alpha),
        "lattice": lattice,
        "limits": geometry.lerp(limits[la], limits[lb], zoom),
        "title": frame_title(stages, src, dst, alpha, n_draw, head),
        "axis_labels": (a if alpha < 0.5 else b).axis_labels,
        "stage_from": src,
        "stage_to": dst,
        "alpha": alpha,
    }
