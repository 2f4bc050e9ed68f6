"""Watch 2-D data move through the layers of a net.

:class:`LayerTransformAnimation` pushes the samples and a grid spanning the
input plane through a fitted net with 2-D input, keeps the representation
after every chosen layer (one forward pass for all layers) and animates the
plane being bent, folded and separated from layer to layer, as in colah's
"Neural Networks, Manifolds, and Topology" and seed 004.

How each stage is drawn
-----------------------
* A stage of width 2 is drawn as is (width 1 is drawn on the x axis).
* ``projection="pca"`` (default): everything is drawn on flat 2-D axes; a
  stage wider than 2 is projected onto the plane of its first two principal
  components, fitted once per stage on the samples' representation (the
  grid is projected with the same fit). ``projection="3d"``: everything is
  drawn on 3-D axes whose camera turns slowly; width 3 is drawn as is,
  narrower stages lie in the plane z = 0, wider stages get a 3-D PCA.
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
``_checks`` (arguments) -> ``_stages`` (one forward pass per net, the
:class:`Stage` pictures) -> ``_geometry`` (grid, PCA, alignment, limits;
pure numpy) -> ``_timeline`` (what every frame shows) -> ``_panel`` (the
artists of one axes). This module ties them together: the figure, the
frames and the files.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ..progress import progress_bar
from . import _checks as checks
from . import _geometry as geometry
from . import _timeline as timeline
from ._panel import REGION_LIGHTEN, PanelView, lighten
from ._stages import Stage, capture_stages, stage_box

__all__ = ["LayerTransformAnimation", "Stage"]


class LayerTransformAnimation:
    """Animation of 2-D data and a grid moving through the layers of nets.

    Build it with :meth:`from_estimator` (one net) or :meth:`compare`
    (several nets side by side); both capture the data and draw the first
    frame. Then :meth:`save` (``.gif``, ``.mp4``, ``.html``),
    :meth:`to_jshtml` for notebooks, :meth:`plot_filmstrip` /
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
    elev, azim : float, default=22, -60
        Initial camera of 3-D axes.
    rotation_per_frame : float, optional
        Degrees the 3-D camera turns per frame; by default one full turn
        over the whole animation.

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
        Set by :meth:`plot`; one axes per net.
    views_ : list
        The per-axes artist holders; their artists are reused by every frame.
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
        elev: float = 22.0,
        azim: float = -60.0,
        rotation_per_frame: float | None = None,
    ):
        from ..plot.base import class_colors

        self.projection = checks.check_projection(projection)
        self.frames_per_transition = checks.check_int(
            "frames_per_transition", frames_per_transition, 1
        )
        self.hold_frames = checks.check_int("hold_frames", hold_frames, 0)
        self.show_points = bool(show_points)
        self.elev, self.azim = float(elev), float(azim)
        self.rotation_per_frame = rotation_per_frame
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

        classes: list = []
        for values in [*(c for c in self.cell_classes_ if c is not None), self.y]:
            if values is None:
                continue
            for c in pd.unique(np.asarray(values)):
                if c not in classes:
                    classes.append(c)
        try:
            classes = sorted(classes)
        except TypeError:
            pass
        self.classes_ = classes
        self.colors_ = class_colors(classes)

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

    # ------------------------------------------------------------------
    # Construction from nets
    # ------------------------------------------------------------------

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        *,
        layers: Sequence[str] | None = None,
        activations: Mapping[str, str | Callable] | None = None,
        grid_lines: int = 21,
        grid_resolution: int = 100,
        region_resolution: int = 40,
        padding: float = 0.1,
        frames_per_transition: int = 10,
        hold_frames: int = 3,
        show_points: bool = True,
        decision_regions: bool | str = "auto",
        predict_proba_stage: bool = False,
        projection: str = "pca",
        align: bool = True,
        title: str | None = None,
        axes=None,
        figsize: tuple[float, float] | None = None,
        **kwargs,
    ) -> LayerTransformAnimation:
        """Capture the stages of one net and draw the first frame.

        Parameters
        ----------
        net : fitted skviz inspectable net
            Its input must be 2 features per sample.
        X : array-like or DataFrame of shape (n_samples, 2)
            The samples drawn as points. A DataFrame's column names label
            the input axes and the grid is fed to the net as a DataFrame.
        y : array-like of shape (n_samples,), optional
            Classes, for the colour of the points.
        layers : list of str, optional
            Layer references (see ``net.layer_names()``), shown in this
            order after the input. Default: every leaf module in the order
            the forward pass runs it (a module run several times appears
            once per run, ``"act@0"``, ``"act@1"``), leaving out steps that
            change nothing (Dropout in eval mode, Identity).
        activations : dict of str to str or callable, optional
            For activations applied functionally (``F.relu(self.fc1(x))``):
            ``{"fc1": "relu"}`` adds the stage ``"relu(fc1)"`` right after
            ``"fc1"``. Computed from the captured output, no extra pass.
        grid_lines : int, default=21
            Grid lines per direction.
        grid_resolution : int, default=100
            Points along each grid line; more points bend more smoothly.
        region_resolution : int, default=40
            Vertices per side of the lattice of decision-region cells.
        padding : float, default=0.1
            The grid spans the range of X plus this share on every side.
        frames_per_transition, hold_frames : int
            See the class docstring.
        show_points : bool, default=True
        decision_regions : bool or "auto", default="auto"
            Shade each cell of a fine lattice over the input plane with the
            colour of the class the net predicts at its centre
            (``predict_proba`` in input space). The cells move with the
            grid, so the last stage shows the regions in the last layer's
            space. "auto": on for classifiers.
        predict_proba_stage : bool, default=False
            Append ``predict_proba`` as a last stage (for two classes the
            plane collapses onto the line p0 + p1 = 1, as in seed 004).
        projection : {"pca", "3d"}, default="pca"
            ``"pca"``: 2-D axes, stages wider than 2 projected by PCA.
            ``"3d"``: 3-D axes with a turning camera, width 3 as is, wider
            stages projected by PCA to 3-D.
        align : bool, default=True
            Turn each PCA projection (orthogonally) to match the stage
            before it; see the module docstring.
        title : str, optional
            Shown above the panel.
        axes : matplotlib Axes, optional
            Where to draw (3-D axes for ``projection="3d"``); a new figure
            otherwise.
        figsize : tuple, optional
        **kwargs
            ``elev``, ``azim``, ``rotation_per_frame`` (see the class).

        Returns
        -------
        LayerTransformAnimation
        """
        return cls.compare(
            [net],
            X,
            y,
            titles=None if title is None else [title],
            layers=layers,
            activations=activations,
            grid_lines=grid_lines,
            grid_resolution=grid_resolution,
            region_resolution=region_resolution,
            padding=padding,
            frames_per_transition=frames_per_transition,
            hold_frames=hold_frames,
            show_points=show_points,
            decision_regions=decision_regions,
            predict_proba_stage=predict_proba_stage,
            projection=projection,
            align=align,
            axes=axes,
            figsize=figsize,
            **kwargs,
        )

    @classmethod
    def compare(
        cls,
        nets: Sequence[Any],
        X,
        y=None,
        *,
        titles: Sequence[str] | None = None,
        layers: Sequence[str] | None = None,
        activations: Mapping[str, str | Callable] | None = None,
        grid_lines: int = 21,
        grid_resolution: int = 100,
        region_resolution: int = 40,
        padding: float = 0.1,
        frames_per_transition: int = 10,
        hold_frames: int = 3,
        show_points: bool = True,
        decision_regions: bool | str = "auto",
        predict_proba_stage: bool = False,
        projection: str = "pca",
        align: bool = True,
        axes=None,
        figsize: tuple[float, float] | None = None,
        **kwargs,
    ) -> LayerTransformAnimation:
        """Several fitted nets side by side, one panel each, frames aligned.

        All nets see the same samples and the same grid. Transition ``t``
        plays at the same frames in every panel. A net with fewer stages
        than the longest one holds its last stage (with its last view)
        until the others finish.

        Parameters are those of :meth:`from_estimator`; ``layers`` and
        ``activations`` apply to every net (None: each net's own leaves),
        and ``titles`` gives one title per net (default ``"net 0"``, ...).
        ``axes`` must hold one axes per net.
        """
        nets = list(nets)
        if not nets:
            raise ValueError("nets is empty; pass at least one fitted net.")
        for i, net in enumerate(nets):
            checks.check_net(net, None if len(nets) == 1 else i)
        X_arr, names, frame = checks.check_X(X)
        y_arr = checks.check_y(y, len(X_arr))
        layers = checks.check_layers(layers)
        checks.check_activations(activations)
        grid_lines = checks.check_int("grid_lines", grid_lines, 2)
        grid_resolution = checks.check_int("grid_resolution", grid_resolution, 2)
        region_resolution = checks.check_int("region_resolution", region_resolution, 2)
        padding = checks.check_padding(padding)
        checks.check_projection(projection)
        decision_regions = checks.check_decision_regions(
            decision_regions, predict_proba_stage, nets
        )
        names = checks.input_names(nets, names)
        if titles is None:
            titles = [""] if len(nets) == 1 else [f"net {i}" for i in range(len(nets))]
        titles = [str(t) for t in titles]
        if len(titles) != len(nets):
            raise ValueError(f"titles has {len(titles)} entries for {len(nets)} nets.")
        # Checked again by the constructor, but before the forward passes here.
        checks.check_int("frames_per_transition", frames_per_transition, 1)
        checks.check_int("hold_frames", hold_frames, 0)

        lo, hi = geometry.input_box(X_arr, padding)
        lines_in = geometry.grid_lines(lo, hi, grid_lines, grid_resolution)
        lattice_in = (
            geometry.lattice(lo, hi, region_resolution) if decision_regions else None
        )
        input_labels = tuple(names) if names else ("x[0]", "x[1]")
        if projection == "3d":
            input_labels = (*input_labels, "")
        stages, cells = [], []
        for net, title in zip(nets, titles, strict=True):
            st, cc = capture_stages(
                net,
                X_arr,
                frame,
                lines_in,
                lattice_in,
                title=title or type(net).__name__,
                layers=layers,
                activations=activations,
                proba_stage=predict_proba_stage,
                n_draw=3 if projection == "3d" else 2,
                align=align,
                input_labels=input_labels,
            )
            stages.append(st)
            cells.append(cc)
        anim = cls(
            stages,
            y=y_arr,
            titles=titles,
            cell_classes=cells,
            frames_per_transition=frames_per_transition,
            hold_frames=hold_frames,
            projection=projection,
            show_points=show_points,
            **kwargs,
        )
        return anim.plot(axes=axes, figsize=figsize)

    from_estimators = compare

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
            ``stage_from``, ``stage_to`` and ``alpha``.
        """
        frame = self._frame_index(frame)
        if not 0 <= panel < len(self.stages_):
            raise IndexError(f"panel must be in [0, {len(self.stages_)}), got {panel}.")
        src, dst, alpha, la, lb, zoom = timeline.panel_frame(
            self.frames_.iloc[frame], len(self.stages_[panel])
        )
        a, b = self.stages_[panel][src], self.stages_[panel][dst]
        lattice = None
        if a.lattice_coords is not None:
            lattice = geometry.lerp(a.lattice_coords, b.lattice_coords, alpha)
        limits = self._limits[panel]
        return {
            "points": geometry.lerp(a.coords, b.coords, alpha),
            "lines": geometry.lerp(a.line_coords, b.line_coords, alpha),
            "lattice": lattice,
            "limits": geometry.lerp(limits[la], limits[lb], zoom),
            "title": self._title(panel, src, dst, alpha),
            "axis_labels": (a if alpha < 0.5 else b).axis_labels,
            "stage_from": src,
            "stage_to": dst,
            "alpha": alpha,
        }

    def _frame_index(self, frame) -> int:
        if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
            raise TypeError(f"frame must be an integer, got {frame!r}.")
        frame = int(frame)
        if frame < 0:
            frame += self.n_frames_
        if not 0 <= frame < self.n_frames_:
            raise IndexError(f"frame must be in [0, {self.n_frames_}), got {frame}.")
        return frame

    def _title(self, panel: int, src: int, dst: int, alpha: float) -> str:
        stages = self.stages_[panel]
        head = [self.titles_[panel]] if any(self.titles_) else []
        if alpha == 0.0:
            st = stages[src]
            lines = [
                f"{st.name_line()}  ({src + 1}/{len(stages)})",
                st.width_line(self._n_draw),
            ]
        else:
            a, b = stages[src], stages[dst]
            lines = [f"{a.label} → {b.label}", f"{a.width}-D → {b.width}-D"]
        return "\n".join(head + lines)

    # ------------------------------------------------------------------
    # Drawing
    # ------------------------------------------------------------------

    def _groups(self):
        if self.y is None:
            return [("samples", "0.15", np.ones(len(self.stages_[0][0].values), bool))]
        return [
            (str(c), self.colors_[c], self.y == c)
            for c in self.classes_
            if np.any(self.y == c)
        ]

    def _cell_colors(self, panel: int):
        cells = self.cell_classes_[panel]
        if cells is None:
            return None
        light = {c: lighten(col, REGION_LIGHTEN) for c, col in self.colors_.items()}
        return np.array([light[c] for c in cells])

    def _has_regions(self) -> bool:
        return any(c is not None for c in self.cell_classes_)

    def _has_legend(self) -> bool:
        return (self.show_points and self.y is not None) or self._has_regions()

    def _layout_inches(self, compact: bool):
        """Axes side and margins (inches): left, right, bottom, top, wspace, hspace.

        Fixed margins instead of a layout engine: constrained layout places
        equal-aspect axes so that their titles get clipped, and measuring
        every tick label at every frame costs more than drawing the data.
        """
        three_d = self.projection == "3d"
        title_lines = 2 if compact else (3 + any(self.titles_))
        size = 7.0 if compact else 8.0
        title = 0.08 + title_lines * size * 1.25 / 72
        legend = 0.42 if self._has_legend() else 0.05
        if compact:
            side = 1.85 if three_d else 1.6
            left = 0.08 if three_d else 0.3
            return side, left, 0.05, legend, title, 0.1, title + 0.12
        if three_d:
            return 3.3, 0.15, 0.15, legend + 0.1, title, 0.3, 0.5
        return 2.5, 0.55, 0.12, legend + 0.42, title, 0.62, 0.5

    def _new_axes(self, axes, nrows, ncols, figsize, what, compact):
        """``(figure, grid of axes, whether the figure is ours)``."""
        from ..plot.base import get_figure_axes

        want_3d = self.projection == "3d"
        own = axes is None
        if own:
            side, left, right, bottom, top, ws, hs = self._layout_inches(compact)
            if figsize is None:
                figsize = (
                    left + right + ncols * side + (ncols - 1) * ws,
                    bottom + top + nrows * side + (nrows - 1) * hs,
                )
        fig, grid = get_figure_axes(
            axes,
            nrows,
            ncols,
            figsize=figsize,
            what=what,
            subplot_kw={"projection": "3d"} if want_3d else None,
            # Margins are set below, in inches (see _layout_inches).
            layout=None,
        )
        if not own:
            if any((ax.name == "3d") != want_3d for ax in grid.flat):
                raise ValueError(
                    f"projection={self.projection!r} needs "
                    + (
                        "3-D axes; create them with subplot_kw={'projection': '3d'}."
                        if want_3d
                        else "2-D axes."
                    )
                )
            return fig, grid, False
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
        n = len(self.stages_)
        fig, grid, own = self._new_axes(
            axes, 1, n, figsize, "LayerTransformAnimation", compact=False
        )
        self.figure_, self.axes_ = fig, grid[0]
        groups = self._groups() if self.show_points else []
        self.views_ = [
            PanelView(
                ax,
                groups=groups,
                cell_colors=self._cell_colors(p),
                fontsize=8.0,
                compact=False,
            )
            for p, ax in enumerate(self.axes_)
        ]
        self._legend(fig, self.axes_[0], own)
        self.draw_frame(frame)
        return self

    def _legend(self, fig, ax, own: bool):
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles, title = [], None
        regions = self._has_regions()
        if self.show_points and self.y is not None:
            for c in self.classes_:
                handles.append(
                    Line2D(
                        [],
                        [],
                        linestyle="none",
                        marker="o",
                        markersize=5,
                        markeredgewidth=0,
                        color=self.colors_[c],
                        label=str(c),
                    )
                )
            title = "class (dots: y, shade: predicted)" if regions else "class"
        elif regions:
            for c in self.classes_:
                handles.append(
                    Patch(color=lighten(self.colors_[c], REGION_LIGHTEN), label=str(c))
                )
            title = "predicted class"
        if not handles:
            return
        kw = dict(
            handles=handles,
            title=title,
            fontsize=7,
            title_fontsize=7,
            ncols=min(len(handles), 6),
            frameon=False,
        )
        if own:
            fig.legend(loc="lower center", borderaxespad=0.2, **kw)
        else:
            ax.legend(loc="best", **kw)

    def _azim(self, frame: int) -> float | None:
        if self.projection != "3d":
            return None
        step = self.rotation_per_frame
        if step is None:
            step = 360.0 / max(self.n_frames_, 1)
        return self.azim + step * frame

    def draw_frame(self, frame: int) -> list:
        """Update the existing artists to show ``frame``; returns them."""
        if not hasattr(self, "views_"):
            raise RuntimeError("Call plot() before draw_frame().")
        frame = self._frame_index(frame)
        changed = []
        for p, view in enumerate(self.views_):
            if frame == 0 and view.three_d:
                view.ax.view_init(elev=self.elev, azim=self.azim)
            view.update(self.frame_coordinates(frame, p), azim=self._azim(frame))
            changed.extend(view.artists())
        self._update_layout(frame)
        self.current_frame_ = frame
        return changed

    # ------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------

    @contextmanager
    def _frozen_layout(self):
        """Recompute the figure layout only when a view changes.

        A layout engine (constrained layout) measures every tick label of
        every axes at every draw, which costs more than drawing the data.
        While frames are written, the layout is recomputed only when the
        limits, axis labels or camera change; within a transition the
        picture therefore keeps one layout and does not jitter.
        """
        from matplotlib.layout_engine import PlaceHolderLayoutEngine

        fig = self.figure_
        engine = fig.get_layout_engine()
        if engine is None or isinstance(engine, PlaceHolderLayoutEngine):
            yield
            return
        fig.set_layout_engine("none")
        self._layout = (engine, None)
        try:
            yield
        finally:
            self._layout = None
            fig.set_layout_engine(engine)

    def _update_layout(self, frame: int) -> None:
        layout = getattr(self, "_layout", None)
        if layout is None:
            return
        engine, key = layout
        new_key = tuple(
            (
                view.ax.get_xlim(),
                view.ax.get_ylim(),
                view.ax.get_xlabel(),
                view.ax.get_ylabel(),
                self._azim(frame) if view.three_d else None,
            )
            for view in self.views_
        )
        if new_key != key:
            engine.execute(self.figure_)
            self._layout = (engine, new_key)

    def _write(self, writer, path: str, dpi, progress: bool) -> None:
        """Draw every frame into ``writer``, each exactly once.

        ``FuncAnimation.save`` draws every frame twice (an idle redraw of
        the canvas, then the writer's own); this loop draws it once.
        """
        if not hasattr(self, "views_"):
            self.plot()
        with (
            self._frozen_layout(),
            progress_bar(self.n_frames_, progress, "Rendering frames", "frame") as bar,
            writer.saving(
                self.figure_, path, dpi if dpi is not None else self.figure_.dpi
            ),
        ):
            for i in range(self.n_frames_):
                self.draw_frame(i)
                writer.grab_frame()
                bar.update(1)

    def save(
        self,
        path: str | os.PathLike,
        *,
        fps: float = 10,
        dpi: float | None = None,
        progress: bool = True,
    ) -> LayerTransformAnimation:
        """Render every frame to ``path``: ``.gif`` (pillow), ``.mp4`` (ffmpeg) or ``.html``.

        Parameters
        ----------
        path : str or path-like
            The extension chooses the format. ``.mp4`` needs ffmpeg (a
            ``RuntimeError`` says so before anything is rendered).
        fps : float, default=10
        dpi : float, optional
            Resolution; the figure's own by default.
        progress : bool, default=True
            Show a tqdm progress bar while rendering.

        Returns
        -------
        self
        """
        from matplotlib import animation

        fps = checks.check_fps(fps)
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        if ext == ".gif":
            writer = animation.PillowWriter(fps=fps)
        elif ext == ".mp4":
            if not animation.writers.is_available("ffmpeg"):
                raise RuntimeError(
                    "Saving .mp4 needs ffmpeg, which matplotlib cannot find "
                    "(matplotlib.animation.writers.is_available('ffmpeg') is False). "
                    "Install ffmpeg or point rcParams['animation.ffmpeg_path'] to it, "
                    "or save as .gif or .html instead."
                )
            # yuv420p: the pixel format every browser and player can decode.
            writer = animation.FFMpegWriter(
                fps=fps, codec="h264", extra_args=["-pix_fmt", "yuv420p"]
            )
        elif ext in (".html", ".htm"):
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(self.to_jshtml(fps=fps, dpi=dpi, progress=progress))
            return self
        else:
            raise ValueError(
                f"Cannot tell the format of {path!r}: use a .gif, .mp4 or .html path."
            )
        self._write(writer, path, dpi, progress)
        return self

    def to_jshtml(
        self,
        *,
        fps: float = 10,
        dpi: float | None = None,
        progress: bool = True,
        embed_limit: float | None = None,
    ) -> str:
        """The animation as self-contained HTML with play controls (notebooks).

        Parameters
        ----------
        fps : float, default=10
        dpi : float, optional
        progress : bool, default=True
        embed_limit : float, optional
            Size limit in MB of the embedded frames; matplotlib's
            ``rcParams["animation.embed_limit"]`` (20 MB) when None.

        Returns
        -------
        str
            Display it with ``IPython.display.HTML``.
        """
        import tempfile

        import matplotlib as mpl
        from matplotlib.animation import HTMLWriter

        fps = checks.check_fps(fps)
        rc = {} if embed_limit is None else {"animation.embed_limit": embed_limit}
        with tempfile.TemporaryDirectory() as tmp, mpl.rc_context(rc):
            path = os.path.join(tmp, "animation.html")
            writer = HTMLWriter(fps=fps, embed_frames=True, default_mode="loop")
            self._write(writer, path, dpi, progress)
            with open(path, encoding="utf-8") as fh:
                return fh.read()

    def animation(self, *, fps: float = 10):
        """A ``FuncAnimation`` over all frames, for interactive backends.

        Keep a reference to it while it plays. For files use :meth:`save`.
        """
        from matplotlib.animation import FuncAnimation

        fps = checks.check_fps(fps)
        if not hasattr(self, "views_"):
            self.plot()
        return FuncAnimation(
            self.figure_,
            self.draw_frame,
            frames=self.n_frames_,
            init_func=lambda: [],
            interval=1000.0 / fps,
            cache_frame_data=False,
        )

    def plot_filmstrip(self, axes=None, *, figsize=None) -> LayerTransformAnimation:
        """Still picture of every stage: one row per net, one column per stage.

        Each small panel has its own limits. Sets ``filmstrip_figure_`` and
        ``filmstrip_axes_`` (rows x columns; unused cells of nets with
        fewer stages are switched off).

        Returns
        -------
        self
        """
        n_rows = len(self.stages_)
        n_cols = max(len(s) for s in self.stages_)
        fig, grid, own = self._new_axes(
            axes, n_rows, n_cols, figsize, "plot_filmstrip", compact=True
        )
        groups = self._groups() if self.show_points else []
        self.filmstrip_views_ = []
        for r, stages in enumerate(self.stages_):
            colors = self._cell_colors(r)
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
                        "title": f"{st.name_line()}\n{st.width_line(self._n_draw)}",
                        "axis_labels": st.axis_labels,
                    }
                )
                if view.three_d:
                    ax.view_init(elev=self.elev, azim=self.azim)
                self.filmstrip_views_.append(view)
            if self.titles_[r] and not grid[r, 0].name == "3d":
                grid[r, 0].set_ylabel(self.titles_[r], fontsize=8, fontweight="bold")
        self._legend(fig, grid[0, 0], own)
        self.filmstrip_figure_, self.filmstrip_axes_ = fig, grid
        return self

    def save_filmstrip(
        self, path: str | os.PathLike, *, dpi: float = 150
    ) -> LayerTransformAnimation:
        """Draw the filmstrip (if not done yet) and save it to ``path``."""
        if not hasattr(self, "filmstrip_figure_"):
            self.plot_filmstrip()
        self.filmstrip_figure_.savefig(os.fspath(path), dpi=dpi)
        return self
