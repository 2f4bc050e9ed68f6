"""Network diagram whose edges show each batch's weight update.

Nodes are the units of consecutive ``Linear`` layers, edges their weights.
In every frame an edge is red where the weight grew and blue where it
shrank (relative to the layer's mean update); the largest updates are
fully opaque and the rest fade (the rule: :mod:`._update_colors`).

Where the parts live: ``_updates`` (the update arrays, which of them are
frames, the frame titles) -> ``_diagram`` (where units and edges go) and
``_update_colors`` (every edge colour of every frame, computed at once) ->
this module (building, and drawing: one ``LineCollection`` and one
``scatter``, of which only the colours change per frame) -> ``_movie``
(files) with ``_palette_gif`` (the fixed-palette GIF writer).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from . import _diagram as diagram
from ._movie import BaseAnimation
from ._update_colors import (
    check_scaling,
    edge_colors,
    rule_text,
    update_colors,
    update_thresholds,
)
from ._updates import check_max_units, check_updates, frame_indices, frame_titles

__all__ = ["NetworkUpdateAnimation", "update_colors", "update_thresholds"]


def _weight_name(layer: str) -> str:
    return layer if layer.endswith(".weight") else f"{layer}.weight"


def _layer_label(name: str) -> str:
    return name[: -len(".weight")] if name.endswith(".weight") else name


def _net_feature_names(net, recorder, layers) -> list[str] | None:
    """``net.feature_names_in_`` when they name the inputs of the first layer drawn.

    That layer must be the net's first ``Linear`` module, with one input
    per name: a hidden layer as wide as the input is not labelled.
    """
    from torch import nn

    from ..record import as_recording

    names = getattr(net, "feature_names_in_", None)
    if names is None:
        return None
    recording = as_recording(recorder)
    if layers is None:
        shapes = recording.shapes
        params = [
            n
            for n in recording.param_names
            if n.endswith(".weight") and len(shapes[n]) == 2
        ]
    else:
        params = [_weight_name(str(layer)) for layer in layers]
    module = net.inspected_module() if hasattr(net, "inspected_module") else net.module_
    linear = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not params or not linear or _layer_label(params[0]) != linear[0]:
        return None
    if recording.shapes.get(params[0], (0, 0))[1] != len(names):
        return None
    return [str(n) for n in names]


class NetworkUpdateAnimation(BaseAnimation):
    """Animated network diagram of weight updates, one frame per update.

    Build it with :meth:`from_recorder` (or :meth:`from_estimator`,
    :meth:`from_updates`); building draws nothing. Draw a frame with
    :meth:`plot` (where and how big), write a ``.gif``, ``.mp4`` or
    ``.html`` with :meth:`save`, or get notebook HTML with
    :meth:`to_jshtml`; these draw the figure first if :meth:`plot` has not.

    Parameters
    ----------
    segments : ndarray of shape (n_edges, 2, 2)
        Edge end points ``((x0, y0), (x1, y1))``.
    colors : ndarray of shape (n_frames, n_edges, 4)
        Edge colours per frame.
    node_xy : ndarray of shape (n_nodes, 2)
    column_labels : list of str
    frame_titles : list of str
    rule : str
        The colour rule, shown under the diagram.
    input_names : list of str, optional
        Names of the drawn input units (the first column), written beside
        their nodes.

    Attributes
    ----------
    n_frames_ : int
    layers_ : list of str
        Weight parameters drawn, first to last.
    units_ : list of ndarray
        For each column (input of the first layer, then each layer's
        output), the unit indices drawn.
    n_units_ : list of int
        Units of each column before any reduction.
    centers_, thresholds_ : ndarray of shape (n_layers,)
        Mean update and opacity threshold of each layer.
    frames_ : ndarray of shape (n_frames,)
        Which updates (0-based, among all given) the frames show.
    steps_, epochs_, batches_ : ndarray of shape (n_frames,) or None
    figure_, ax_ : matplotlib Figure and Axes
        Reading them draws the first frame if nothing is drawn yet.
    lines_, nodes_ : set by :meth:`plot`
        ``lines_`` is the edges' ``LineCollection``, ``nodes_`` the nodes'
        ``PathCollection``.
    frame_ : int
        The frame shown last.
    """

    def __init__(
        self,
        *,
        segments: np.ndarray,
        colors: np.ndarray,
        node_xy: np.ndarray,
        column_labels: list[str],
        frame_titles: list[str],
        rule: str = "",
        positive=(1.0, 0.0, 0.0),
        negative=(0.0, 0.0, 1.0),
        input_names: list[str] | None = None,
    ):
        self.segments = segments
        self.colors = colors
        self.node_xy = node_xy
        self.column_labels = column_labels
        self.frame_titles = frame_titles
        self.rule = rule
        self.positive = positive
        self.negative = negative
        self.input_names = input_names

    @property
    def n_frames_(self) -> int:
        return int(self.colors.shape[0])

    @property
    def n_frames(self) -> int:
        """Deprecated spelling of :attr:`n_frames_`."""
        warnings.warn(
            "n_frames was renamed n_frames_ in 0.2 and will be removed in 0.3.",
            FutureWarning,
            stacklevel=2,
        )
        return self.n_frames_

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------

    @classmethod
    def from_updates(
        cls,
        updates: Sequence[np.ndarray],
        *,
        layers: Sequence[str] | None = None,
        frames="auto",
        steps=None,
        epochs=None,
        batches=None,
        top_fraction: float = 1e-4,
        scaling: str = "sqrt",
        max_units: int = 12,
        labels: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
        positive=(1.0, 0.0, 0.0),
        negative=(0.0, 0.0, 1.0),
    ) -> NetworkUpdateAnimation:
        """Build the animation from per-layer update arrays.

        Parameters
        ----------
        updates : sequence of ndarray of shape (n_updates, out_i, in_i)
            Weight updates of consecutive Linear layers (``out_i == in_{i+1}``),
            the same ``n_updates`` for all. Centres and thresholds use all
            ``n_updates``, also when only some are drawn.
        layers : sequence of str, optional
            Names of the layers (for labels); default ``"layer0"``, ...
        frames : "auto", int, slice, array of int or None, default="auto"
            Updates to draw. ``"auto"``: all of them up to 30, else 30
            spread evenly from the first update to the last (each frame
            still shows one update; the titles say which step), so that a
            long recording gives a GIF of a few MB at most. An int ``n``
            draws the first ``n``, a slice or index array picks them; None
            draws all.
        steps, epochs, batches : array of shape (n_updates,), optional
            Shown in the frame titles.
        top_fraction : float, default=1e-4
            Fraction of largest ``|update - mean|`` drawn fully opaque (see
            :func:`update_thresholds`).
        scaling : {"sqrt", "layer"}, default="sqrt"
            ``"sqrt"``: ``top_fraction`` of the smallest layer's updates are
            opaque, and in larger layers a number that grows with the
            square root of their size; ``"layer"``: ``top_fraction`` of
            every layer. ``"seed"`` is the deprecated name of ``"sqrt"``.
        max_units : int, default=12
            Columns with more units show only the ``max_units`` units with the
            largest update norm (over all updates of the edges touching them);
            the column label says so. Two columns of 12 units are joined by
            144 edges, which still read as lines; 100 units (10,000 edges)
            fill the space between two columns with colour.
        labels : sequence of str, optional
            Column labels (``len(updates) + 1``); default ``"<first> in"``
            then the layer names.
        feature_names : sequence of str, optional
            One name per input of the first layer (``in_1``); the drawn input
            units are labelled with them.
        positive, negative : colour, default red and blue
            Any matplotlib colour (alpha ignored).
        """
        from matplotlib.colors import to_rgb

        scaling = check_scaling(scaling)
        arrays, names = check_updates(updates, layers)
        max_units = check_max_units(max_units)
        n_updates = arrays[0].shape[0]
        frame_idx = frame_indices(frames, n_updates)
        pos_rgb, neg_rgb = to_rgb(positive), to_rgb(negative)

        centers, thresholds = update_thresholds(arrays, top_fraction, scaling)
        units, n_units = diagram.select_units(arrays, max_units)
        columns = diagram.node_positions(units)
        colors = edge_colors(
            arrays, units, frame_idx, centers, thresholds, pos_rgb, neg_rgb, names
        )
        col_labels = diagram.column_labels(names, labels, units, n_units)
        input_names = diagram.input_names(feature_names, units[0], n_units[0])
        titles, steps_, epochs_, batches_ = frame_titles(
            frame_idx, n_updates, steps, epochs, batches
        )
        anim = cls(
            segments=diagram.edge_segments(columns),
            colors=colors,
            node_xy=np.vstack(columns),
            column_labels=col_labels,
            frame_titles=titles,
            rule=rule_text(top_fraction, scaling, pos_rgb, neg_rgb),
            positive=pos_rgb,
            negative=neg_rgb,
            input_names=input_names,
        )
        anim.layers_ = names
        anim.units_ = units
        anim.n_units_ = n_units
        anim.centers_ = centers
        anim.thresholds_ = thresholds
        anim.frames_ = frame_idx
        anim.steps_, anim.epochs_, anim.batches_ = steps_, epochs_, batches_
        return anim

    @classmethod
    def from_recorder(cls, recorder, layers: Sequence[str] | None = None, **kwargs):
        """Build the animation from a recording of weights.

        Parameters
        ----------
        recorder : WeightRecorder or Recording
            A fitted :class:`~skviz.record.WeightRecorder`, or a
            :class:`~skviz.record.Recording` (``skviz.record.load``), with the
            weights of consecutive Linear layers recorded.
        layers : sequence of str, optional
            Layer (``"l3"``) or parameter (``"l3.weight"``) names, first to
            last. Default: every recorded 2-D ``*.weight``, in module order.
        **kwargs
            As for :meth:`from_updates` (``frames``, ``top_fraction``,
            ``scaling``, ``max_units``, ``labels``, ``feature_names``,
            colours).
        """
        from ..record import as_recording

        recording = as_recording(recorder)
        names, shapes = recording.param_names, recording.shapes
        if layers is None:
            params = [n for n in names if n.endswith(".weight") and len(shapes[n]) == 2]
            if not params:
                raise ValueError(
                    "The recorder holds no 2-D weight; record Linear layers "
                    f"(recorded: {names})."
                )
        else:
            if isinstance(layers, str):
                raise TypeError(
                    "layers must be a list of names, e.g. ['l3', 'l4', 'l5']."
                )
            params = [_weight_name(str(layer)) for layer in layers]
            for p in params:
                if p not in names:
                    raise ValueError(f"{p!r} was not recorded; recorded: {names}.")
                if len(shapes[p]) != 2:
                    raise ValueError(
                        f"{p!r} has shape {shapes[p]}; the diagram needs "
                        "2-D (Linear) weights."
                    )
        if recording.n_steps < 2:
            raise ValueError(
                "The recording has fewer than two snapshots: no update to show."
            )
        updates = [recording.updates(p) for p in params]
        return cls.from_updates(
            updates,
            layers=[_layer_label(p) for p in params],
            steps=recording.steps[1:],
            epochs=recording.epochs[1:],
            batches=recording.batches[1:],
            **kwargs,
        )

    @classmethod
    def from_estimator(
        cls, net, layers: Sequence[str] | None = None, *, recorder_name=None, **kwargs
    ):
        """Build the animation from the :class:`WeightRecorder` of a fitted net.

        Parameters are those of :meth:`from_recorder`; ``recorder_name``
        picks the recorder among several. A net fitted on a DataFrame
        (``feature_names_in_``) labels the input units with its column
        names when the first layer drawn is the net's first ``Linear``
        layer and takes one input per column; ``feature_names=`` overrides.
        """
        from ..record import find_recorder

        recorder = find_recorder(net, recorder_name)
        if kwargs.get("feature_names") is None:
            kwargs["feature_names"] = _net_feature_names(net, recorder, layers)
        return cls.from_recorder(recorder, layers, **kwargs)

    # ------------------------------------------------------------------
    # drawing
    # ------------------------------------------------------------------

    @property
    def ax_(self):
        """The Axes of the diagram (drawn on first use, as ``figure_``)."""
        self._ensure_drawn()
        return self._ax

    def plot(
        self, ax=None, *, frame: int = 0, figsize=(8, 4), linewidth: float = 0.75
    ) -> NetworkUpdateAnimation:
        """Draw one frame and keep the artists that later frames update.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            New figure of ``figsize`` when None.
        frame : int, default=0
        figsize : tuple, default=(8, 4)
            800 x 400 pixels at matplotlib's default 100 dpi: text stays
            10 pixels or more, and a GIF of 30 frames stays small.
        linewidth : float, default=0.75
            Edge width in points (about one pixel at 100 dpi): thin lines
            keep neighbouring edges apart.

        Returns
        -------
        self
        """
        from matplotlib.collections import LineCollection

        from ..plot.base import get_figure_ax

        frame = self._check_frame(frame)
        fig, ax = get_figure_ax(ax, figsize=figsize)
        n_cols = len(self.column_labels)
        lines = LineCollection(
            self.segments, colors=self.colors[frame], linewidths=linewidth, zorder=1
        )
        ax.add_collection(lines)
        nodes = ax.scatter(
            self.node_xy[:, 0],
            self.node_xy[:, 1],
            s=diagram.node_sizes(self.node_xy, n_cols, fig, ax),
            facecolors="white",
            edgecolors="black",
            linewidths=0.6,
            zorder=2,
        )
        ax.set_xlim(-0.15, n_cols - 1 + 0.15)
        ax.set_ylim(-0.04, 1.04)
        ax.set_xticks(np.arange(n_cols), self.column_labels)
        ax.tick_params(axis="x", length=0)
        ax.get_yaxis().set_visible(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if self.input_names:
            self._label_inputs(fig, ax, n_cols)
        if self.rule:
            ax.set_xlabel(self.rule, fontsize="small")
        self._set_figure(fig)
        self._ax = ax
        self.lines_, self.nodes_ = lines, nodes
        self.draw_frame(frame)
        return self

    def _label_inputs(self, fig, ax, n_cols: int) -> None:
        """Each drawn input unit's name, left of its node, as large as the gap allows."""
        first = self.node_xy[: len(self.input_names)]
        gap_pt = diagram.node_gap(first, fig, ax)
        size = float(np.clip(0.8 * gap_pt, 4.0, 8.0))
        for (x, y), name in zip(first, self.input_names, strict=True):
            ax.annotate(
                name,
                (x, y),
                xytext=(-6, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=size,
            )

    def _show_frame(self, frame: int) -> list:
        self.lines_.set_color(self.colors[frame])
        self._ax.title.set_text(self.frame_titles[frame])
        return [self.lines_, self._ax.title]

    def _gif_writer(self, fps: float):
        from ._palette_gif import PaletteGifWriter, gif_palette

        return PaletteGifWriter(
            fps=fps, palette=gif_palette((self.positive, self.negative))
        )
