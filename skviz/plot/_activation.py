"""Heatmap of one layer's activations: rows are samples grouped by class."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..analysis import (
    NonFiniteWarning,
    dead_units,
    mask_nonfinite,
    saturation_fraction,
    unit_activity,
)
from ..kinds import layer_kinds
from ._activation_rows import (
    REDUCE,
    activation_name,
    as_1d,
    check_annotate,
    check_before_capture,
    check_choice,
    check_rows,
    checked_inputs,
    finite_mean,
    layout,
    list_units,
    reduce_columns,
    value_format,
)
from .base import capture_layer, color_scale, contrast_color, get_figure_ax, tick_step

__all__ = ["ActivationDisplay"]

_BAD_COLOR = "0.78"
_WRONG_COLOR = "crimson"
_DEAD_COLOR = "crimson"


class ActivationDisplay:
    """Heatmap of one layer's activations, samples grouped by class.

    Rows are samples (sorted by class, with separators between classes and
    misclassified samples labelled ``"#12  class 1 → pred 2"`` in red) or,
    when there are more samples than ``max_rows``, one row per class (the
    class mean) or an even subsample per class. Columns are units, or
    channels of a convolutional output (reduced per channel, as the title
    says). Dead units, never > 0 on any of the samples, are hatched and
    marked with ▼. Colours are centred at 0 when values go negative.

    Use :meth:`from_estimator` (or ``net.plot_activation``) to compute the
    activations from a net, or :meth:`from_activations` for an array. The
    constructor only stores what it is given; the numbers behind the
    picture are computed by the ``from_*`` methods or, for a display built
    with the constructor, before its first :meth:`plot`.

    Parameters
    ----------
    activations : ndarray of shape (n_samples, n_units) or (n_samples, n_channels, ...)
        Values of the layer, after ``activation`` if one was applied.
    layer : str
        Name of the layer, for the title.
    y_true : array-like of shape (n_samples,), optional
        True classes; rows are grouped by them.
    y_pred : array-like of shape (n_samples,), optional
        Predicted classes; rows where they differ from ``y_true`` are marked.
        Without ``y_true`` rows are grouped by predicted class.
    targets : array-like of shape (n_samples,), optional
        Regression targets, shown in the row labels (rows stay in sample
        order). Ignored when ``y_true`` or ``y_pred`` is given.
    sample_ids : array-like of shape (n_samples,), optional
        Names of the samples in row labels (``"#<id>"``); default 0..n-1.
    activation : str, optional
        Name of the activation applied to the layer output, for the title.
    reduce : {"auto", "mean", "max", "flatten"}, default="auto"
        For outputs with more than two dimensions, ``(n, C, ...)``: one
        column per channel (axis 1) holding the mean ("mean") or the maximum
        ("max") over the remaining axes, or one column per value
        ("flatten"). "auto" is "mean" for feature maps ``(n, C, H, W)`` and
        deeper, and "flatten" for 3-D outputs, whose axis 1 may be channels
        or time steps. Ignored for 2-D outputs.
    rows : {"auto", "samples", "class_mean", "subsample"}, default="auto"
        "samples": one row per sample; "class_mean": one row per class,
        the mean over its samples (NaN/inf left out); "subsample": at
        most ``max_rows`` samples, evenly spaced within each class and
        proportional to class size. "auto" is "samples" up to
        ``max_rows`` samples, then "class_mean" when classes are known
        and "subsample" otherwise.
    max_rows : int or None, default=50
        Most sample rows before "auto" aggregates; None never does.
    class_names : sequence or dict, optional
        Text for each class label in the row labels: ``class_names[label]``
        (a sequence indexed by label, or a mapping) instead of ``class 1``.
    kind : skviz.kinds.LayerKind, optional
        What made the layer's output (set by :meth:`from_estimator`): its
        rule decides which units are marked (see
        :func:`skviz.analysis.dead_rule`: dead ReLU units, never-positive
        units of activations with a negative side, saturated Tanh/Sigmoid
        units, none for linear, normalised or recurrent outputs), and a
        3-D sequence output ``(n, T, H)`` has its H features as units,
        each the mean over the T positions. Without it every unit never
        > 0 is marked dead and 3-D outputs are flattened.

    Attributes
    ----------
    data_ : ndarray of shape (n_rows, n_columns)
        The plotted values; NaN where the activations were NaN/inf (masked,
        :class:`skviz.analysis.NonFiniteWarning`) and left out of means.
    row_labels_ : list of str
    row_samples_ : list of ndarray
        Positions (into ``activations``) of the samples behind each row.
    row_classes_ : ndarray or None
        Class of each row (true class, else predicted), None without classes.
    rows_ : str
        ``"samples"``, ``"class_mean"`` or ``"subsample"``.
    reduction_ : str or None
        What was done to non-2-D outputs, e.g. ``"mean over 6×6 per channel"``.
    unit_activity_ : ndarray of shape (n_columns,)
        Fraction of all samples on which each unit (channel) is > 0.
    dead_units_ : ndarray of int
        Units (channels) marked by the layer's rule: never > 0 on any of
        the samples (ReLU-like and negative-slope activations), saturated
        on at least 95% of them (Tanh/Sigmoid), none otherwise.
    rule_ : str
        The rule that marked them, in words.
    vmin_, vmax_ : float
        Colour limits; symmetric around 0 when any plotted value is negative.
    cmap_ : str
        The colour map drawn (set by :meth:`plot`).
    figure_ : matplotlib.figure.Figure
    ax_ : matplotlib.axes.Axes
    colorbar_ : matplotlib.colorbar.Colorbar or None
    """

    def __init__(
        self,
        activations: np.ndarray,
        *,
        layer: str,
        y_true=None,
        y_pred=None,
        targets=None,
        sample_ids=None,
        activation: str | None = None,
        reduce: str = "auto",
        rows: str = "auto",
        max_rows: int | None = 50,
        class_names=None,
        kind=None,
    ):
        self.activations = activations
        self.layer = layer
        self.y_true = y_true
        self.y_pred = y_pred
        self.targets = targets
        self.sample_ids = sample_ids
        self.activation = activation
        self.reduce = reduce
        self.rows = rows
        self.max_rows = max_rows
        self.class_names = class_names
        self.kind = kind

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        layer: str | None = None,
        *,
        activation: str | Callable | None = None,
        reduce: str = "auto",
        rows: str = "auto",
        max_rows: int | None = 50,
        class_names=None,
        batch_size: int | None = None,
        ax=None,
        annotate: bool | str = "auto",
        cmap: str | None = None,
        colorbar: bool = True,
    ) -> ActivationDisplay:
        """Compute a layer's activations with ``net`` and plot them.

        Parameters
        ----------
        net : fitted Inspectable skorch net
            Any net with ``capture_layers`` (see :class:`skviz.InspectableMixin`).
        X : array-like
            Samples, in any form ``net.predict`` accepts.
        y : array-like of shape (n_samples,), optional
            For classifiers the true classes (rows are grouped by class and
            compared with ``net.predict(X)``); for other nets numeric targets
            shown in the row labels.
        layer : str
            Layer reference, e.g. ``"dense0"``, ``"block@1"``, ``"lstm[0]"``.
            Required.
        activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"} or callable, optional
            Applied to the layer output first, for nets that apply their
            activation functionally (``F.relu(self.dense0(x))``).
        reduce, rows, max_rows, class_names
            See the class.
        batch_size : int, optional
            Rows per forward pass.
        ax, annotate, cmap, colorbar
            See :meth:`plot`.

        Returns
        -------
        ActivationDisplay
        """
        check_before_capture(X, y, layer, reduce, rows, max_rows, annotate)

        from sklearn.base import is_classifier

        A = capture_layer(net, X, layer, activation=activation, batch_size=batch_size)
        if y is not None:
            as_1d(y, "y", len(A))
        kind = layer_kinds(
            net, X, [layer], activation=activation, ndims={layer: A.ndim}
        )[layer]
        classifier = is_classifier(net)
        y_pred = np.asarray(net.predict(X)).reshape(len(A), -1) if classifier else None
        if y_pred is not None:
            y_pred = y_pred[:, 0] if y_pred.shape[1] == 1 else None
        sample_ids = None
        index = getattr(X, "index", None)
        if index is not None and len(index) == len(A):
            sample_ids = np.asarray(index)
        return cls.from_activations(
            A,
            layer=layer,
            y_true=y if classifier else None,
            y_pred=y_pred,
            targets=None if classifier else y,
            sample_ids=sample_ids,
            activation=activation_name(activation),
            reduce=reduce,
            rows=rows,
            max_rows=max_rows,
            class_names=class_names,
            kind=kind,
            ax=ax,
            annotate=annotate,
            cmap=cmap,
            colorbar=colorbar,
        )

    @classmethod
    def from_activations(
        cls,
        activations: np.ndarray,
        *,
        layer: str,
        ax=None,
        annotate: bool | str = "auto",
        cmap: str | None = None,
        colorbar: bool = True,
        **kwargs,
    ) -> ActivationDisplay:
        """Plot a layer's activations given as an array.

        ``kwargs`` are the class parameters (``y_true``, ``y_pred``,
        ``reduce``, ``rows``, ``class_names``, ...); ``ax``, ``annotate``,
        ``cmap`` and ``colorbar`` are those of :meth:`plot`.
        """
        display = cls(activations, layer=layer, **kwargs)
        display._compute()
        return display.plot(ax=ax, annotate=annotate, cmap=cmap, colorbar=colorbar)

    def _compute(self) -> None:
        """The numbers behind the picture, from what the constructor stored."""
        check_choice("reduce", self.reduce, REDUCE)
        check_rows(self.rows, self.max_rows)
        A, y_true, y_pred, targets, ids = checked_inputs(
            self.activations, self.y_true, self.y_pred, self.targets, self.sample_ids
        )
        n = A.shape[0]
        n_bad = int((~np.isfinite(A)).sum()) if A.dtype.kind == "f" else 0
        if n_bad:
            # A copy with inf as NaN, and analysis' NonFiniteWarning.
            A = mask_nonfinite(A, what=f'Activations of "{self.layer}" (shown grey)')
        kind = self.kind
        rule = kind.rule if kind is not None else "relu"
        how = self.reduce
        if kind is not None and kind.unit_axis == -1 and A.ndim == 3:
            # (n, T, H): the H features are the units, summarised over T.
            A = np.moveaxis(A, -1, 1)
            how = "mean" if how == "auto" else how
        values, activity_values, reduction = reduce_columns(A, how)
        if reduction and kind is not None and kind.unit_axis == -1 and A.ndim == 3:
            reduction = reduction.replace("per channel", "per feature")
        rows = layout(
            n,
            y_true=y_true,
            y_pred=y_pred,
            targets=targets,
            sample_ids=ids,
            rows=self.rows,
            max_rows=self.max_rows,
            class_names=self.class_names,
        )
        data = finite_mean(values, rows.members)
        cmap_name, vmin, vmax, centered = color_scale(data)

        self.data_ = data
        self.row_labels_ = list(rows.labels)
        self.row_samples_ = list(rows.members)
        self.row_classes_ = rows.groups
        self.rows_ = rows.mode
        self.reduction_ = reduction
        self.unit_activity_ = unit_activity(activity_values)
        self.dead_units_, noun, condition, note = _marked_units(
            A, activity_values, rule, kind
        )
        self.rule_ = "; ".join(
            part for part in (f"{noun}: {condition}" if condition else "", note) if part
        )
        self._mark = (noun, condition, note)
        self.vmin_, self.vmax_ = float(vmin), float(vmax)
        # What the drawing needs besides the public attributes.
        self._layout = rows
        self._n_samples, self._n_masked = n, n_bad
        self._default_cmap, self._centered = cmap_name, centered
        self._labelled_by = (
            "true" if y_true is not None else "pred" if y_pred is not None else None
        )

    def plot(
        self,
        *,
        ax=None,
        annotate: bool | str = "auto",
        cmap: str | None = None,
        colorbar: bool = True,
    ) -> ActivationDisplay:
        """Draw the heatmap.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when None.
        annotate : bool or "auto", default="auto"
            Write the value in each cell; "auto" does so for small maps
            (up to 15 rows and 30 columns).
        cmap : str, optional
            Colour map; by default a diverging map when values go negative,
            else a sequential one. Limits are chosen the same way either way.
        colorbar : bool, default=True

        Returns
        -------
        ActivationDisplay
            ``self``.
        """
        check_annotate(annotate)
        if not hasattr(self, "data_"):
            # Built with the constructor alone: its numbers come first.
            self._compute()
        import matplotlib as mpl

        data = self.data_
        n_rows, n_cols = data.shape
        colormap = mpl.colormaps[cmap or self._default_cmap].with_extremes(
            bad=_BAD_COLOR
        )
        if annotate == "auto":
            annotate = n_rows <= 15 and n_cols <= 30
        figsize = None
        if ax is None:
            per_col = 0.42 if annotate else 0.2
            width = float(np.clip(3.8 + per_col * n_cols, 7.0, 14.0))
            per_row = 0.34 if annotate else 0.22
            height = float(np.clip(2.6 + per_row * n_rows, 3.6, 13.0))
            figsize = (width, height)
        fig, ax = get_figure_ax(ax, figsize=figsize)

        mesh = self._heatmap(ax, colormap, bool(annotate), colorbar)
        self._ticks(fig, ax)
        self._dead_and_masked(fig, ax, colormap)
        self._titles(ax)
        self.cmap_ = cmap or self._default_cmap
        self.figure_, self.ax_ = fig, ax
        self.colorbar_ = mesh.colorbar if colorbar else None
        return self

    def _unit_word(self) -> str:
        reduction = self.reduction_ or ""
        return next(
            (w for w in ("channel", "feature") if f"per {w}" in reduction), "unit"
        )

    def _heatmap(self, ax, colormap, annotate: bool, colorbar: bool):
        import seaborn as sns

        data, reduction = self.data_, self.reduction_
        label = ("mean " if self.rows_ == "class_mean" else "") + (
            "activation" if not reduction else f"activation ({reduction})"
        )
        sns.heatmap(
            np.ma.masked_invalid(data),
            ax=ax,
            cmap=colormap,
            vmin=self.vmin_,
            vmax=self.vmax_,
            annot=annotate,
            fmt=value_format(data),
            annot_kws={"fontsize": 7},
            cbar=colorbar,
            cbar_kws={"label": label} if colorbar else None,
            xticklabels=False,
            yticklabels=False,
        )
        return ax.collections[-1]

    def _ticks(self, fig, ax) -> None:
        n_rows, n_cols = self.data_.shape
        # Ticks: every k-th unit, so labels never overlap at 64+ units.
        # The axes size before layout is a fair estimate of the final one.
        width_in = ax.get_position().width * fig.get_figwidth()
        label_pt = 5.0 * len(str(n_cols - 1)) + 7.0
        step = tick_step(n_cols, max(4, int(width_in * 72 / label_pt)))
        xt = np.arange(0, n_cols, step)
        ax.set_xticks(xt + 0.5, [str(i) for i in xt], rotation=0, fontsize=8)
        height_in = ax.get_position().height * fig.get_figheight()
        ystep = tick_step(n_rows, max(4, int(height_in * 72 / 10)))
        yt = np.arange(0, n_rows, ystep)
        ax.set_yticks(
            yt + 0.5, [self.row_labels_[i] for i in yt], rotation=0, fontsize=8
        )
        for tick_label, i in zip(ax.get_yticklabels(), yt, strict=True):
            if self._layout.wrong[i]:
                tick_label.set_color(_WRONG_COLOR)
        ax.tick_params(length=2)
        separator = "0.15" if self._centered else "white"
        for b in self._layout.boundaries:
            ax.axhline(b, color=separator, linewidth=1.5)

    def _dead_and_masked(self, fig, ax, colormap) -> None:
        """Hatch and mark the dead units; a legend for them and masked values."""
        import matplotlib as mpl
        from matplotlib.legend_handler import HandlerTuple
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch, Rectangle
        from matplotlib.transforms import blended_transform_factory, offset_copy

        dead, n_rows = self.dead_units_, self.data_.shape[0]
        handles, legend_labels = [], []
        if len(dead):
            zero_rgba = colormap(mpl.colors.Normalize(self.vmin_, self.vmax_)(0.0))
            # Translucent hatching keeps annotated values in the column legible.
            hatch_color = mpl.colors.to_rgba(contrast_color(zero_rgba), alpha=0.7)
            for j in dead:
                ax.add_patch(
                    Rectangle(
                        (j, 0),
                        1,
                        n_rows,
                        fill=False,
                        hatch="///",
                        edgecolor=hatch_color,
                        linewidth=0,
                    )
                )
            above = offset_copy(
                blended_transform_factory(ax.transData, ax.transAxes),
                fig=fig,
                y=5,
                units="points",
            )
            ax.plot(
                dead + 0.5,
                np.ones(len(dead)),
                transform=above,
                linestyle="none",
                marker="v",
                markersize=6,
                color=_DEAD_COLOR,
                clip_on=False,
            )
            swatch = Patch(facecolor=zero_rgba, hatch="///", edgecolor=hatch_color)
            marker = Line2D([], [], linestyle="none", marker="v", color=_DEAD_COLOR)
            handles.append((swatch, marker))
            noun, condition, note = self._mark
            of = " of" if condition.endswith("%") else " on"
            note = f"; {note}" if note else ""
            legend_labels.append(
                f"{noun} {self._unit_word()}s ({condition}{of} all "
                f"{self._n_samples} samples{note}): {list_units(dead)}"
            )
        if self._n_masked:
            handles.append(Patch(facecolor=_BAD_COLOR))
            legend_labels.append("NaN/inf (masked)")
        if handles:
            ax.legend(
                handles,
                legend_labels,
                loc="upper left",
                bbox_to_anchor=(0, 0),
                bbox_transform=offset_copy(
                    ax.transAxes, fig=fig, y=-34, units="points"
                ),
                frameon=False,
                fontsize=8,
                ncols=1,
                borderaxespad=0,
                handlelength=2.2,
                handler_map={tuple: HandlerTuple(ndivide=None, pad=0.3)},
            )

    def _titles(self, ax) -> None:
        n, mode, rows = self._n_samples, self.rows_, self._layout
        n_rows, n_cols = self.data_.shape
        what = f'Activations of "{self.layer}"'
        if self.activation:
            what += f" after {self.activation}"
        grouped = rows.groups is not None
        if mode == "class_mean":
            basis = "predicted class" if self._labelled_by != "true" else "class"
            how = f"mean per {basis} of {n} samples"
        elif mode == "subsample":
            how = f"{n_rows} of {n} samples, evenly spaced" + (
                " per class" if grouped else ""
            )
        else:
            how = f"{n} sample{'s' if n != 1 else ''}" + (
                ", grouped by class" if grouped and len(rows.boundaries) else ""
            )
        if self.reduction_:
            how += f"; {self.reduction_}"
        if self.rule_ != "dead: never > 0":
            # A plain ReLU rule is told by the legend; any other is stated.
            how += f"\n{self.rule_}"
        # Room for the dead-unit markers between the map and the title.
        pad = 15 if len(self.dead_units_) else 6
        ax.set_title(f"{what}\n{how}", fontsize=11, pad=pad)
        unit = self._unit_word()
        ax.set_xlabel(f"{unit} index ({n_cols} {unit}s)", fontsize=9)
        if mode == "class_mean":
            ylabel = "class" if self._labelled_by == "true" else "predicted class"
        elif self._labelled_by == "true":
            ylabel = "sample, true class"
        elif self._labelled_by == "pred":
            ylabel = "sample, predicted class"
        else:
            ylabel = "sample"
        if rows.wrong.any():
            ylabel += " (red: misclassified)"
        ax.set_ylabel(ylabel, fontsize=9)


def _marked_units(A, activity, rule: str, kind) -> tuple[np.ndarray, str, str, str]:
    """The units the layer's rule marks: ``(units, noun, condition, note)``."""
    name = kind.type if kind is not None else "activation"
    none = np.array([], dtype=int)
    if rule == "relu":
        assumed = kind is not None and kind.assumed
        return (
            dead_units(activity),
            "dead",
            "never > 0",
            (f"ReLU assumed after {name}" if assumed else ""),
        )
    if rule == "negative_slope":
        note = f"{name}'s negative side still passes a signal"
        return dead_units(activity), "never-positive", "never > 0", note
    if rule == "saturation":
        bounds = kind.bounds if kind is not None else None
        if bounds is None:
            return none, "saturated", "saturation", f"not checked for {name}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonFiniteWarning)
            sat = saturation_fraction(A, bounds)
        condition = f"within 0.05 of {name}'s bounds on >= 95%"
        return np.flatnonzero(np.nan_to_num(sat) >= 0.95), "saturated", condition, ""
    return none, "marked", "", f"no dead rule for a {name} output"
