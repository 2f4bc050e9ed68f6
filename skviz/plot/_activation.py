"""Heatmap of one layer's activations: rows are samples grouped by class."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..analysis import dead_units, mask_nonfinite, unit_activity
from .base import color_scale, contrast_color, get_figure_ax, tick_step

__all__ = ["ActivationDisplay"]

_REDUCE = ("auto", "mean", "max", "flatten")
_ROWS = ("auto", "samples", "class_mean", "subsample")
_MAX_DEAD_LISTED = 12
_BAD_COLOR = "0.78"
_WRONG_COLOR = "crimson"
_DEAD_COLOR = "crimson"


def _check_choice(name: str, value, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")


def _check_plot_params(rows, max_rows, annotate) -> None:
    _check_choice("rows", rows, _ROWS)
    if max_rows is not None and (
        isinstance(max_rows, bool)
        or not isinstance(max_rows, numbers.Integral)
        or max_rows < 1
    ):
        raise ValueError(
            f"max_rows must be a positive integer or None, got {max_rows!r}."
        )
    if annotate != "auto" and not isinstance(annotate, bool):
        raise ValueError(f"annotate must be 'auto', True or False, got {annotate!r}.")


def _as_1d(values, name: str, n: int | None) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one value per sample (1-D), got shape {arr.shape}."
        )
    if n is not None and len(arr) != n:
        raise ValueError(
            f"{name} has {len(arr)} values but there are {n} samples of activations."
        )
    return arr


def _class_text(c) -> str:
    if isinstance(c, numbers.Real) and not isinstance(c, bool):
        return f"class {int(c)}" if float(c).is_integer() else f"class {c}"
    return str(c)


def _short_class_text(c) -> str:
    text = _class_text(c)
    return text.removeprefix("class ")


def _activation_name(activation) -> str | None:
    if activation is None or isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


def _reduce(A: np.ndarray, reduce: str):
    """Values to plot, values that decide activity, and what was done.

    Both arrays are ``(n_samples, n_columns)``. A channel counts as active
    on a sample when any of its positions is, whatever the plotted summary.
    """
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim == 2:
        return A, A, None
    n, c = A.shape[:2]
    how = reduce
    if reduce == "auto":
        # (n, C, H, W...) are feature maps; (n, a, b) could be (n, C, L) as well
        # as (n, T, H) from a recurrent layer, so nothing is averaged away.
        how = "flatten" if A.ndim == 3 else "mean"
    if how == "flatten":
        flat = A.reshape(n, -1)
        dims = "×".join(map(str, A.shape[1:]))
        return flat, flat, f"{dims} flattened"
    per_channel = A.reshape(n, c, -1)
    # NaN (masked) positions are left out; a channel with none left stays NaN.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "mean":
            values = np.nanmean(per_channel, axis=2, dtype=np.float64)
        else:
            values = np.nanmax(per_channel, axis=2)
    activity = np.where(np.isnan(per_channel), -np.inf, per_channel).max(axis=2)
    size = "×".join(map(str, A.shape[2:]))
    return values, activity, f"{how} over {size} per channel"


def _quotas(sizes: np.ndarray, total: int) -> np.ndarray:
    """Rows per group, proportional to group size, at least one each."""
    exact = sizes * total / sizes.sum()
    quota = np.minimum(np.maximum(np.floor(exact).astype(int), 1), sizes)
    left = total - int(quota.sum())
    for i in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if left <= 0:
            break
        if quota[i] < sizes[i]:
            quota[i] += 1
            left -= 1
    return quota


@dataclass
class _Rows:
    members: list[np.ndarray]
    labels: list[str]
    groups: np.ndarray | None
    wrong: np.ndarray
    mode: str
    boundaries: list[int]


def _layout(
    n: int,
    *,
    y_true,
    y_pred,
    targets,
    sample_ids,
    rows: str,
    max_rows: int | None,
) -> _Rows:
    key = y_true if y_true is not None else y_pred
    wrong = (
        np.asarray(y_true != y_pred)
        if y_true is not None and y_pred is not None
        else np.zeros(n, dtype=bool)
    )
    if key is not None:
        classes, codes = np.unique(key, return_inverse=True)
        codes = codes.reshape(-1)
        order = np.argsort(codes, kind="stable")
        groups = [order[codes[order] == k] for k in range(len(classes))]
    else:
        classes = None
        groups = [np.arange(n)]

    too_many = max_rows is not None and n > max_rows
    mode = rows
    if rows == "auto":
        if not too_many:
            mode = "samples"
        else:
            mode = "class_mean" if key is not None else "subsample"
    if mode == "class_mean" and key is None:
        raise ValueError(
            "rows='class_mean' needs class labels: pass y (or use a classifier, "
            "whose predictions group the rows)."
        )
    if mode == "subsample" and not too_many:
        mode = "samples"

    prefix = "" if y_true is not None or key is None else "pred "
    if mode == "class_mean":
        labels = []
        for c, members in zip(classes, groups, strict=True):
            label = f"{prefix}{_class_text(c)} · mean of {len(members)}"
            n_wrong = int(wrong[members].sum())
            if n_wrong:
                label += f" ({n_wrong} misclassified)"
            labels.append(label)
        return _Rows(
            members=list(groups),
            labels=labels,
            groups=np.asarray(classes),
            wrong=np.zeros(len(groups), dtype=bool),
            mode=mode,
            boundaries=[],
        )

    if mode == "subsample":
        sizes = np.asarray([len(g) for g in groups])
        quota = _quotas(sizes, int(max_rows))
        picked = []
        for g, q in zip(groups, quota, strict=True):
            at = np.unique(np.linspace(0, len(g) - 1, int(q)).round().astype(int))
            picked.append(g[at])
        groups = picked

    members, labels, row_groups, row_wrong, boundaries = [], [], [], [], []
    for k, g in enumerate(groups):
        if k:
            boundaries.append(len(members))
        for i in g:
            label = f"#{sample_ids[i]}"
            if key is not None:
                label += f"  {prefix}{_class_text(key[i])}"
                if wrong[i]:
                    label += f" → pred {_short_class_text(y_pred[i])}"
                row_groups.append(key[i])
            elif targets is not None:
                label += f"  y={targets[i]:.3g}"
            members.append(np.asarray([i]))
            labels.append(label)
            row_wrong.append(bool(wrong[i]))
    return _Rows(
        members=members,
        labels=labels,
        groups=np.asarray(row_groups) if key is not None else None,
        wrong=np.asarray(row_wrong, dtype=bool),
        mode=mode,
        boundaries=boundaries,
    )


def _finite_mean(values: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Row means over the given samples, ignoring NaN/inf (NaN if none left)."""
    out = np.empty((len(members), values.shape[1]), dtype=np.float64)
    for r, idx in enumerate(members):
        block = values[idx]
        finite = np.isfinite(block)
        count = finite.sum(axis=0)
        total = np.where(finite, block, 0.0).sum(axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[r] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def _value_format(data: np.ndarray) -> str:
    finite = np.abs(data[np.isfinite(data)])
    top = float(finite.max()) if finite.size else 0.0
    if top < 10:
        return ".2f"
    if top < 100:
        return ".1f"
    return ".3g"


def _list_units(units: np.ndarray) -> str:
    shown = ", ".join(map(str, units[:_MAX_DEAD_LISTED]))
    extra = len(units) - _MAX_DEAD_LISTED
    return shown + (f", … (+{extra})" if extra > 0 else "")


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
    activations from a net; the constructor only stores what it is given.

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
        Units (channels) never > 0 on any of the samples.
    cmap_ : str
    vmin_, vmax_ : float
        Colour limits; symmetric around 0 when any plotted value is negative.
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
    ):
        self.activations = activations
        self.layer = layer
        self.y_true = y_true
        self.y_pred = y_pred
        self.targets = targets
        self.sample_ids = sample_ids
        self.activation = activation
        self.reduce = reduce

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        *,
        layer: str,
        activation: str | Callable | None = None,
        reduce: str = "auto",
        batch_size: int | None = None,
        rows: str = "auto",
        max_rows: int | None = 50,
        annotate: bool | str = "auto",
        cmap: str | None = None,
        colorbar: bool = True,
        ax=None,
    ) -> ActivationDisplay:
        """Compute a layer's activations with ``net`` and plot them.

        Parameters
        ----------
        net : fitted Inspectable skorch net
            Any net with ``transform_layer`` (see :class:`skviz.InspectableMixin`).
        X : array-like
            Samples, in any form ``net.predict`` accepts.
        y : array-like of shape (n_samples,), optional
            For classifiers the true classes (rows are grouped by class and
            compared with ``net.predict(X)``); for other nets numeric targets
            shown in the row labels.
        layer : str
            Layer reference, e.g. ``"dense0"``, ``"block@1"``, ``"lstm[0]"``.
        activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"} or callable, optional
            Applied to the layer output first, for nets that apply their
            activation functionally (``F.relu(self.dense0(x))``).
        reduce : {"auto", "mean", "max", "flatten"}, default="auto"
            See the class docstring.
        batch_size : int, optional
            Passed to ``transform_layer``.
        rows, max_rows, annotate, cmap, colorbar, ax
            See :meth:`plot`.

        Returns
        -------
        ActivationDisplay
        """
        _check_choice("reduce", reduce, _REDUCE)
        _check_plot_params(rows, max_rows, annotate)
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a str, got {type(layer).__name__}.")
        if y is not None:
            # Checked before the forward pass where X tells its length cheaply;
            # dicts and Datasets are checked against the activations instead.
            shape = getattr(X, "shape", None)
            n_expected = shape[0] if shape is not None and len(shape) else None
            _as_1d(y, "y", n_expected)

        from sklearn.base import is_classifier

        A = net.transform_layer(X, layer, activation=activation, batch_size=batch_size)
        if y is not None:
            _as_1d(y, "y", len(A))
        classifier = is_classifier(net)
        y_pred = np.asarray(net.predict(X)).reshape(len(A), -1) if classifier else None
        if y_pred is not None:
            y_pred = y_pred[:, 0] if y_pred.shape[1] == 1 else None
        sample_ids = None
        index = getattr(X, "index", None)
        if index is not None and len(index) == len(A):
            sample_ids = np.asarray(index)
        display = cls(
            A,
            layer=layer,
            y_true=y if classifier else None,
            y_pred=y_pred,
            targets=None if classifier else y,
            sample_ids=sample_ids,
            activation=_activation_name(activation),
            reduce=reduce,
        )
        return display.plot(
            rows=rows,
            max_rows=max_rows,
            annotate=annotate,
            cmap=cmap,
            colorbar=colorbar,
            ax=ax,
        )

    def plot(
        self,
        *,
        rows: str = "auto",
        max_rows: int | None = 50,
        annotate: bool | str = "auto",
        cmap: str | None = None,
        colorbar: bool = True,
        ax=None,
    ) -> ActivationDisplay:
        """Draw the heatmap.

        Parameters
        ----------
        rows : {"auto", "samples", "class_mean", "subsample"}, default="auto"
            "samples": one row per sample; "class_mean": one row per class,
            the mean over its samples (NaN/inf left out); "subsample": at
            most ``max_rows`` samples, evenly spaced within each class and
            proportional to class size. "auto" is "samples" up to
            ``max_rows`` samples, then "class_mean" when classes are known
            and "subsample" otherwise.
        max_rows : int or None, default=50
            Most sample rows before "auto" aggregates; None never does.
        annotate : bool or "auto", default="auto"
            Write the value in each cell; "auto" does so for small maps
            (up to 15 rows and 30 columns).
        cmap : str, optional
            Colour map; by default a diverging map when values go negative,
            else a sequential one. Limits are chosen the same way either way.
        colorbar : bool, default=True
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is created when None.

        Returns
        -------
        ActivationDisplay
            ``self``.
        """
        import matplotlib as mpl
        import seaborn as sns
        from matplotlib.legend_handler import HandlerTuple
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch, Rectangle
        from matplotlib.transforms import blended_transform_factory, offset_copy

        _check_choice("reduce", self.reduce, _REDUCE)
        _check_plot_params(rows, max_rows, annotate)
        A = np.asarray(self.activations)
        if A.ndim < 1 or A.shape[0] == 0:
            raise ValueError(
                "activations must hold at least one sample, shape "
                f"(n_samples, n_units, ...); got shape {A.shape}."
            )
        if A.dtype.kind not in "biuf":
            raise ValueError(f"activations must be numeric, got dtype {A.dtype}.")
        n = A.shape[0]
        y_true = _as_1d(self.y_true, "y_true", n)
        y_pred = _as_1d(self.y_pred, "y_pred", n)
        targets = None
        if y_true is None and y_pred is None and self.targets is not None:
            targets = _as_1d(self.targets, "targets", n)
            if targets.dtype.kind not in "biuf":
                raise ValueError(
                    f"targets must be numeric, got dtype {targets.dtype}; for class "
                    "labels pass y_true."
                )
        ids = _as_1d(self.sample_ids, "sample_ids", n)
        if ids is None:
            ids = np.arange(n)

        n_bad = int((~np.isfinite(A)).sum()) if A.dtype.kind == "f" else 0
        if n_bad:
            # A copy with inf as NaN, and analysis' NonFiniteWarning.
            A = mask_nonfinite(A, what=f'Activations of "{self.layer}" (shown grey)')
        values, activity_values, reduction = _reduce(A, self.reduce)
        activity = unit_activity(activity_values)
        dead = dead_units(activity_values)

        layout = _layout(
            n,
            y_true=y_true,
            y_pred=y_pred,
            targets=targets,
            sample_ids=ids,
            rows=rows,
            max_rows=max_rows,
        )
        data = _finite_mean(values, layout.members)
        n_rows, n_cols = data.shape

        cmap_name, vmin, vmax, centered = color_scale(data)
        colormap = mpl.colormaps[cmap or cmap_name].with_extremes(bad=_BAD_COLOR)
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

        unit = "channel" if reduction and "per channel" in reduction else "unit"
        sns.heatmap(
            np.ma.masked_invalid(data),
            ax=ax,
            cmap=colormap,
            vmin=vmin,
            vmax=vmax,
            annot=bool(annotate),
            fmt=_value_format(data),
            annot_kws={"fontsize": 7},
            cbar=colorbar,
            cbar_kws={
                "label": ("mean " if layout.mode == "class_mean" else "")
                + ("activation" if not reduction else f"activation ({reduction})")
            }
            if colorbar
            else None,
            xticklabels=False,
            yticklabels=False,
        )
        mesh = ax.collections[-1]

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
        ax.set_yticks(yt + 0.5, [layout.labels[i] for i in yt], rotation=0, fontsize=8)
        for tick_label, i in zip(ax.get_yticklabels(), yt, strict=True):
            if layout.wrong[i]:
                tick_label.set_color(_WRONG_COLOR)
        ax.tick_params(length=2)

        separator = "0.15" if centered else "white"
        for b in layout.boundaries:
            ax.axhline(b, color=separator, linewidth=1.5)

        handles, legend_labels = [], []
        if len(dead):
            zero_rgba = colormap(mpl.colors.Normalize(vmin, vmax)(0.0))
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
            swatch = Patch(
                facecolor=colormap(mpl.colors.Normalize(vmin, vmax)(0.0)),
                hatch="///",
                edgecolor=hatch_color,
            )
            marker = Line2D([], [], linestyle="none", marker="v", color=_DEAD_COLOR)
            handles.append((swatch, marker))
            legend_labels.append(
                f"dead {unit}s (never > 0 on all {n} samples): {_list_units(dead)}"
            )
        if n_bad:
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

        what = f'Activations of "{self.layer}"'
        if self.activation:
            what += f" after {self.activation}"
        grouped = layout.groups is not None
        if layout.mode == "class_mean":
            basis = "predicted class" if y_true is None else "class"
            how = f"mean per {basis} of {n} samples"
        elif layout.mode == "subsample":
            how = f"{n_rows} of {n} samples, evenly spaced" + (
                " per class" if grouped else ""
            )
        else:
            how = f"{n} sample{'s' if n != 1 else ''}" + (
                ", grouped by class" if grouped and len(layout.boundaries) else ""
            )
        if reduction:
            how += f"; {reduction}"
        # Room for the dead-unit markers between the map and the title.
        ax.set_title(f"{what}\n{how}", fontsize=11, pad=15 if len(dead) else 6)
        ax.set_xlabel(f"{unit} index ({n_cols} {unit}s)", fontsize=9)
        if layout.mode == "class_mean":
            ylabel = "class" if y_true is not None else "predicted class"
        elif y_true is not None:
            ylabel = "sample, true class"
        elif y_pred is not None:
            ylabel = "sample, predicted class"
        else:
            ylabel = "sample"
        if layout.wrong.any():
            ylabel += " (red: misclassified)"
        ax.set_ylabel(ylabel, fontsize=9)

        self.data_ = data
        self.row_labels_ = list(layout.labels)
        self.row_samples_ = list(layout.members)
        self.row_classes_ = layout.groups
        self.rows_ = layout.mode
        self.reduction_ = reduction
        self.unit_activity_ = activity
        self.dead_units_ = dead
        self.cmap_ = cmap or cmap_name
        self.vmin_, self.vmax_ = float(vmin), float(vmax)
        self.figure_, self.ax_ = fig, ax
        self.colorbar_ = mesh.colorbar if colorbar else None
        return self
