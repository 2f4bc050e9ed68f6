"""Watch 2-D data move through the layers of a net.

:class:`LayerTransformAnimation` pushes the samples and a grid spanning the
input plane through a fitted net with 2-D input, keeps the representation
after every chosen layer (one forward pass for all layers) and animates the
plane being bent, folded and separated from layer to layer, as in colah's
"Neural Networks, Manifolds, and Topology".

How each stage is drawn
-----------------------
* A stage of width 2 is drawn as is (width 1 is drawn on the x axis).
* ``projection="pca"`` (default): everything is drawn on flat 2-D axes; a
  stage wider than 2 is projected onto the plane of its first two principal
  components, fitted once per stage on the samples' representation (the
  grid is projected with the same fit). ``projection="3d"``: everything is
  drawn on 3-D axes whose camera faces the plane that fits each stage's
  points best (so a flat stage is never seen edge-on) and swings gently;
  width 3 is drawn as is, narrower stages lie in the plane z = 0, wider
  stages get a 3-D PCA.
* With ``align=True`` (default) each PCA projection is followed by the
  orthogonal map (rotation or reflection, found by orthogonal Procrustes)
  that best lines it up with the previous stage's picture. PCA axes have
  arbitrary signs and order; without this a transition can show a spurious
  flip or spin that the net does not do. The map keeps all distances, so
  the picture is still the PCA picture, only turned.
* Between two stages the drawn coordinates are interpolated linearly:
  ``(1 - t) * P_k + t * P_{k+1}``, both already in drawing space. This is
  what makes stages of different widths blend smoothly; the in-between
  frames are a visual bridge, not outputs of the net.

Frames
------
With ``S`` stages (the input first), ``F = frames_per_transition`` and
``H = hold_frames`` there are ``(1 + H) + (S - 1) * (F + H)`` frames: the
input, then for every transition ``F - 1`` moving frames and the next
stage exactly, each stage followed by ``H`` still frames. The view (axis
limits, equal scale on both axes) is fixed while data move: one box around
both endpoints of the transition. It changes only while a stage holds
still, zooming from one transition's view to the next (the first and last
stage also zoom from / to a view of their own), so every motion on screen
is the net's. Side by side (:meth:`LayerTransformAnimation.compare`),
transition ``t`` plays at the same frames in every panel and a net with
fewer stages holds its last stage until the longest one ends.

Decision regions
----------------
For classifiers, a fine lattice of cells over the input plane is shaded
with the class ``predict_proba`` picks at each cell's centre (computed once,
in input space). The cells travel through the layers with the grid, so the
last stage shows the regions in the last layer's space.

Where the parts live
--------------------
``_build`` (``from_estimator`` and ``compare``: arguments checked by
``_checks``, then ``_stages``: one forward pass per net, the :class:`Stage`
pictures) -> ``_geometry`` (grid, PCA,
alignment, limits; pure numpy) -> ``_timeline`` (what every frame shows)
-> ``_panel`` (the artists of one axes) and ``_layer_figure`` (axes,
margins, legend) -> ``_filmstrip`` (the still of every stage). This module
ties them together; ``_movie`` writes the files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _checks as checks
from . import _geometry as geometry
from . import _layer_figure as figure
from . import _timeline as timeline
from ._build import LayerBuilders
from ._filmstrip import draw_filmstrip
from ._movie import BaseAnimation
from ._panel import PanelView
from ._stages import Stage, stage_box, stage_normals

__all__ = ["LayerTransformAnimation", "Stage"]

# Degrees the data-chosen 3-D camera swings to each side, once per animation.
_SWING = 25.0
# Font size (points) of the panel titles; labels and ticks are a little
# smaller. At matplotlib's 100 dpi every text of a GIF is 11 pixels or more.
_FONT = 10.0


class LayerTransformAnimation(LayerBuilders, BaseAnimation):
    """Animation of 2-D data and a grid moving through the layers of nets.

    Build it with :meth:`from_estimator` (one net) or :meth:`compare`
    (several nets side by side); both capture the data, and draw nothing
    until the figure is needed. Then :meth:`save` (``.gif``, ``.mp4``,
    ``.html``), :meth:`to_jshtml` for notebooks, :meth:`plot_filmstrip` /
    :meth:`save_filmstrip` for a still picture of every stage.

    See the module docstring for how stages are projected and blended.

    Parameters
    ----------
    stages : list of list of Stage
        One list of stages per net, each starting with the input.
    y : ndarray of shape (n_samples,), optional
        Class of each sample, for the colour of the points.
    titles : list of str, optional
        One title per net, shown above its panel.
    cell_classes : list of (ndarray or None), optional
        Predicted class of each decision-region cell, per net.
    frames_per_transition : int, default=10
        Frames that carry the picture from one stage to the next; the last
        of them shows the next stage exactly.
    hold_frames : int, default=3
        Extra frames each stage stays still. While a stage holds, the view
        zooms from the limits of the transition that led to it to those of
        the transition that leaves it, so data never move while the view
        changes.
    projection : {"pca", "3d"}, default="pca"
    show_points : bool, default=True
    elev, azim : float, optional
        A fixed camera for 3-D axes, turning about the vertical axis by
        ``rotation_per_frame``. By default (all three None) the camera is
        chosen from the data instead: for each stage it looks at the plane
        that fits the stage's points best (see :meth:`camera`), so that a
        flat stage is never seen edge-on, and swings gently (±25 degrees of
        azimuth over the animation) to show depth.
    rotation_per_frame : float, optional
        With a fixed camera: degrees it turns per frame; by default one
        full turn over the whole animation (from ``elev=22, azim=-60``
        unless given).

    Attributes
    ----------
    stages_ : list of list of Stage
    titles_ : list of str
    frames_ : pandas.DataFrame
        One row per frame: ``kind`` ("stage" or "move"), ``stage_from``,
        ``stage_to``, ``alpha`` (interpolation weight, 0 on stage frames),
        and the view: ``limits_from``, ``limits_to`` and ``zoom`` blend two
        entries of the view table (0: the first stage's own view, ``t + 1``:
        transition ``t``, ``S``: the last stage's own view). Rows refer to
        the longest net; a net with fewer stages holds its last stage (see
        :meth:`frame_coordinates` for what each panel shows).
    n_frames_ : int
    classes_ : list
        Class labels, in colour order.
    colors_ : dict
        Class label to RGB.
    figure_, axes_ : matplotlib Figure and ndarray of Axes
        One axes per net. Reading them draws the first frame if nothing is
        drawn yet.
    views_ : list
        Set by :meth:`plot`: the per-axes artist holders; their artists are
        reused by every frame.
    frame_ : int
        The frame shown last.
    """

    def __init__(
        self,
        stages: Sequence[Sequence[Stage]],
        *,
        y=None,
        titles: Sequence[str] | None = None,
        cell_classes: Sequence[np.ndarray | None] | None = None,
        frames_per_transition: int = 10,
        hold_frames: int = 3,
        projection: str = "pca",
        show_points: bool = True,
        elev: float | None = None,
        azim: float | None = None,
        rotation_per_frame: float | None = None,
    ):
        from ..plot.base import class_colors

        self.projection = checks.check_projection(projection)
        self.frames_per_transition = checks.check_int(
            "frames_per_transition", frames_per_transition, 1
        )
        self.hold_frames = checks.check_int("hold_frames", hold_frames, 0)
        self.show_points = bool(show_points)
        self.elev = None if elev is None else float(elev)
        self.azim = None if azim is None else float(azim)
        self.rotation_per_frame = rotation_per_frame
        self._auto_camera = elev is None and azim is None and rotation_per_frame is None
        self.stages_ = [list(s) for s in stages]
        if not self.stages_ or any(len(s) < 2 for s in self.stages_):
            raise ValueError("Each net needs the input and at least one more stage.")
        n = len(self.stages_[0][0].values)
        self.y = checks.check_y(y, n)
        self.titles_ = list(titles) if titles is not None else [""] * len(self.stages_)
        if len(self.titles_) != len(self.stages_):
            raise ValueError(
                f"titles has {len(self.titles_)} entries for {len(self.stages_)} nets."
            )
        self.cell_classes_ = (
            list(cell_classes)
            if cell_classes is not None
            else [None] * len(self.stages_)
        )
        self._n_draw = 3 if projection == "3d" else 2
        self.classes_ = figure.class_order(self.cell_classes_, self.y)
        self.colors_ = class_colors(self.classes_)

        self._limits = [
            timeline.view_table([stage_box(st) for st in stages])
            for stages in self.stages_
        ]
        self.frames_ = timeline.frame_table(
            max(len(s) for s in self.stages_),
            self.frames_per_transition,
            self.hold_frames,
        )
        self.n_frames_ = len(self.frames_)
        self._normals = (
            [stage_normals(stages) for stages in self.stages_]
            if self.projection == "3d"
            else None
        )

    # ------------------------------------------------------------------
    # Timeline
    # ------------------------------------------------------------------

    def frame_coordinates(self, frame: int, panel: int = 0) -> dict[str, Any]:
        """What frame ``frame`` of panel ``panel`` shows, in drawing space.

        Returns
        -------
        dict
            ``points`` (n_samples, n_draw), ``lines`` (2 * grid_lines,
            grid_resolution, n_draw), ``lattice`` (r, r, n_draw) or None,
            ``limits`` (n_draw, 2), ``title``, ``axis_labels``,
            ``stage_from``, ``stage_to``, ``alpha`` and ``camera``
            (``(elev, azim)`` for ``projection="3d"``, else None).
        """
        frame = self._check_frame(frame)
        panel = self._check_panel(panel)
        head = [self.titles_[panel]] if any(self.titles_) else []
        state = timeline.panel_state(
            self.stages_[panel],
            self._limits[panel],
            self.frames_.iloc[frame],
            n_draw=self._n_draw,
            head=head,
        )
        state["camera"] = self.camera(frame, panel) if self._normals else None
        return state

    def _check_panel(self, panel: int) -> int:
        if not 0 <= panel < len(self.stages_):
            raise IndexError(f"panel must be in [0, {len(self.stages_)}), got {panel}.")
        return panel

    def camera(self, frame: int, panel: int = 0) -> tuple[float, float]:
        """``(elev, azim)`` of panel ``panel``'s 3-D camera at ``frame``.

        A fixed camera (``elev``, ``azim`` or ``rotation_per_frame`` given)
        turns about the vertical axis. Otherwise the camera faces the
        stage's plane (the least-variance axis of its points,
        :func:`._geometry.plane_normal`), leaned a third of the way to the
        horizon (:func:`._geometry.camera_angles`); between two stages the
        normal turns from one to the other with the blend, and the azimuth
        swings by ±25 degrees once over the animation.
        """
        frame = self._check_frame(frame)
        panel = self._check_panel(panel)
        if self.projection != "3d":
            raise ValueError("camera() is for projection='3d'.")
        if not self._auto_camera:
            step = self.rotation_per_frame
            if step is None:
                step = 360.0 / max(self.n_frames_, 1)
            elev = 22.0 if self.elev is None else self.elev
            azim = -60.0 if self.azim is None else self.azim
            return elev, azim + step * frame
        normals = self._normals[panel]
        src, dst, alpha, *_ = timeline.panel_frame(
            self.frames_.iloc[frame], len(normals)
        )
        normal = (1 - alpha) * normals[src] + alpha * normals[dst]
        swing = _SWING * np.sin(2 * np.pi * frame / max(self.n_frames_, 1))
        return geometry.camera_angles(normal / np.linalg.norm(normal), swing)

    def stage_camera(self, panel: int, stage: int) -> tuple[float, float]:
        """``(elev, azim)`` of the filmstrip's still of one stage (no swing)."""
        if not self._auto_camera:
            return (
                22.0 if self.elev is None else self.elev,
                -60.0 if self.azim is None else self.azim,
            )
        return geometry.camera_angles(self._normals[panel][stage])

    # ------------------------------------------------------------------
    # Drawing
    # ------------------------------------------------------------------

    def _groups(self):
        n = len(self.stages_[0][0].values)
        return figure.point_groups(self.y, self.classes_, self.colors_, n)

    def _has_regions(self) -> bool:
        return any(c is not None for c in self.cell_classes_)

    def _has_legend(self) -> bool:
        return (self.show_points and self.y is not None) or self._has_regions()

    def _legend(self, fig, ax, own: bool) -> None:
        figure.add_legend(
            fig,
            ax,
            own,
            classes=self.classes_,
            colors=self.colors_,
            points=self.show_points and self.y is not None,
            regions=self._has_regions(),
        )

    def _new_axes(self, axes, nrows, ncols, figsize, what: str, compact: bool):
        """``(figure, grid of axes, whether the figure is ours)``, sized for us."""
        return figure.new_axes(
            axes,
            nrows,
            ncols,
            figsize,
            what=what,
            compact=compact,
            projection=self.projection,
            titled=any(self.titles_),
            legend=self._has_legend(),
        )

    @property
    def axes_(self) -> np.ndarray:
        """The axes, one per net (drawn on first use, as ``figure_``)."""
        self._ensure_drawn()
        return self._axes

    def _plot_default(self) -> None:
        # where the builder was told to draw, if it was
        self.plot(**getattr(self, "_place", {}))

    def plot(
        self, axes=None, *, frame: int = 0, figsize=None
    ) -> LayerTransformAnimation:
        """Create the artists (one axes per net) and show ``frame``.

        Parameters
        ----------
        axes : Axes or sequence of Axes, optional
            One per net (3-D axes for ``projection="3d"``); a new figure
            when None.
        frame : int, default=0
        figsize : tuple, optional

        Returns
        -------
        self
        """
        frame = self._check_frame(frame)
        fig, grid, own = self._new_axes(
            axes, 1, len(self.stages_), figsize, "LayerTransformAnimation", False
        )
        self._set_figure(fig)
        self._axes = grid[0]
        groups = self._groups() if self.show_points else []
        self.views_ = [
            PanelView(
                ax,
                groups=groups,
                cell_colors=figure.region_colors(self.cell_classes_[p], self.colors_),
                fontsize=_FONT,
                compact=False,
            )
            for p, ax in enumerate(self._axes)
        ]
        self._legend(fig, self._axes[0], own)
        self.draw_frame(frame)
        return self

    def _show_frame(self, frame: int) -> list:
        changed = []
        for p, view in enumerate(self.views_):
            state = self.frame_coordinates(frame, p)
            view.update(state, camera=state["camera"] if view.three_d else None)
            changed.extend(view.artists())
        return changed

    def _layout_key(self, frame: int):
        # what a layout engine measures: limits (tick labels), axis labels
        # and, in 3-D, the camera
        return tuple(
            (
                view.ax.get_xlim(),
                view.ax.get_ylim(),
                view.ax.get_xlabel(),
                view.ax.get_ylabel(),
                (view.ax.elev, view.ax.azim) if view.three_d else None,
            )
            for view in self.views_
        )

    # ------------------------------------------------------------------
    # Still picture
    # ------------------------------------------------------------------

    def plot_filmstrip(self, axes=None, *, figsize=None) -> LayerTransformAnimation:
        """Still picture of every stage: one row per net, one column per stage.

        Each small panel has its own limits. Sets ``filmstrip_figure_`` and
        ``filmstrip_axes_`` (rows x columns; unused cells of nets with
        fewer stages are switched off).

        Returns
        -------
        self
        """
        fig, grid, views = draw_filmstrip(self, axes, figsize)
        self.filmstrip_views_ = views
        self.filmstrip_figure_, self.filmstrip_axes_ = fig, grid
        return self

    def save_filmstrip(self, path: str | os.PathLike, *, dpi: float = 150) -> Path:
        """Draw the filmstrip (if not done yet) and save it to ``path``.

        Returns
        -------
        pathlib.Path
            ``path``, as :meth:`save`.
        """
        path = Path(path)
        dpi = checks.check_positive("dpi", dpi)
        if not hasattr(self, "filmstrip_figure_"):
            self.plot_filmstrip()
        self.filmstrip_figure_.savefig(path, dpi=dpi)
        return path
