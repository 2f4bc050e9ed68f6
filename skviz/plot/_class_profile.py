"""Mean and spread of each unit's activation per class."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .. import analysis
from ..samples import n_samples
from .base import (
    annotate_cells,
    capture_units,
    class_label,
    color_scale,
    get_figure_ax,
    labels_per_sample,
    nonfinite_warned,
    tick_step,
    unit_values,
)

__all__ = ["ClassProfileDisplay"]


class ClassProfileDisplay:
    """Per-class activation profile of a layer: the readable version of a
    many-row activation heatmap.

    ``kind="errorbar"`` draws, for every unit, one marker per class at the
    class median with the interquartile range (``spread="iqr"``, the
    default: it stays within the values the unit takes, so a ReLU unit's
    bar never reaches below 0), or at the class mean with its standard
    deviation (``spread="std"``, symmetric, so it can leave that range).
    ``kind="heatmap"`` draws the class means as a classes x units heatmap.
    Units can be ordered by selectivity (see
    :func:`skviz.analysis.selectivity`).

    Parameters
    ----------
    profile : pandas.DataFrame
        From :func:`skviz.analysis.class_profile`.
    selectivity : pandas.DataFrame, optional
        From :func:`skviz.analysis.selectivity`.
    layer : str, optional
    class_names : sequence or dict, optional
        Text for each class label: ``class_names[label]`` (a sequence
        indexed by label, or a mapping).
    reduced : bool, default=False
        Whether units are channel means of a conv layer (for the labels).
    order : {"selectivity", "index"}, default="selectivity"
        Units left to right by decreasing selectivity (when there are
        two classes or more), or by index.

    Attributes
    ----------
    profile_ : pandas.DataFrame
        Tidy: ``class``, ``unit``, ``n``, ``mean``, ``std``, ``q25``,
        ``median``, ``q75``.
    selectivity_ : pandas.DataFrame or None
        Index ``unit``: ``preferred_class``, ``selectivity``.
    means_ : pandas.DataFrame
        Class means, classes x units (a pivot of ``profile_``).
    unit_order_ : ndarray of int
        Units in drawing order (left to right).
    kind_ : str
        The kind drawn.
    figure_, ax_ : matplotlib Figure and Axes
    """

    def __init__(
        self,
        profile: pd.DataFrame,
        selectivity: pd.DataFrame | None = None,
        *,
        layer: str | None = None,
        class_names=None,
        reduced: bool = False,
        order: Literal["selectivity", "index"] = "selectivity",
    ):
        if order not in ("selectivity", "index"):
            raise ValueError(f"order must be 'selectivity' or 'index', got {order!r}.")
        needed = {"class", "unit", "mean", "std", "q25", "median", "q75"}
        missing = sorted(needed - set(getattr(profile, "columns", ())))
        if missing:
            raise ValueError(
                f"profile lacks the columns {missing}; build it with "
                "skviz.analysis.class_profile."
            )
        self.profile_ = profile
        self.selectivity_ = selectivity
        self.means_ = profile.pivot(index="class", columns="unit", values="mean")
        self.layer = layer
        self.class_names = class_names
        self.reduced = reduced
        units = self.means_.columns.to_numpy()
        self._by_selectivity = order == "selectivity" and selectivity is not None
        if self._by_selectivity:
            s = selectivity["selectivity"].reindex(units).fillna(-np.inf)
            units = units[np.argsort(-s.to_numpy(), kind="stable")]
        self.unit_order_ = np.asarray(units)

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y,
        layer: str,
        *,
        activation=None,
        reduce: analysis.Reduce = "mean",
        class_names=None,
        order: Literal["selectivity", "index"] = "selectivity",
        batch_size: int | None = None,
        ax=None,
        **plot_kwargs,
    ) -> ClassProfileDisplay:
        """Capture ``layer`` for X and profile it per class of y.

        Parameters
        ----------
        net : fitted Inspectable skorch net
        X : array-like
        y : array-like of shape (n_samples,)
            Classes to group by (true labels, or ``net.predict(X)``).
        layer : str
        activation : str or callable, optional
            As in ``transform_layer``.
        reduce : {"mean", "flatten"}, default="mean"
            Conv outputs: one unit per channel (spatial mean) or per element.
        class_names : sequence or dict, optional
            Text for each class label: ``class_names[label]``.
        order : {"selectivity", "index"}, default="selectivity"
            Order of the units; see the class.
        batch_size : int, optional
        ax : matplotlib Axes, optional
        **plot_kwargs
            ``kind``, ``spread``, ``annotate`` for :meth:`plot`.
        """
        y = labels_per_sample(y, n_samples(X))
        A = capture_units(net, X, layer, activation=activation, batch_size=batch_size)
        return cls.from_activations(
            A,
            y,
            layer=layer,
            reduce=reduce,
            class_names=class_names,
            order=order,
            ax=ax,
            **plot_kwargs,
        )

    @classmethod
    def from_activations(
        cls,
        activations,
        y,
        *,
        layer: str | None = None,
        reduce: analysis.Reduce = "mean",
        class_names=None,
        order: Literal["selectivity", "index"] = "selectivity",
        ax=None,
        **plot_kwargs,
    ) -> ClassProfileDisplay:
        """Profile precomputed activations (``(n_samples, n_units)`` or conv).

        Parameters are those of :meth:`from_estimator`.
        """
        A, reduced = unit_values(activations, reduce, layer)
        with nonfinite_warned():
            profile = analysis.class_profile(A, y)
            sel = analysis.selectivity(A, y) if len(np.unique(y)) > 1 else None
        return cls(
            profile,
            sel,
            layer=layer,
            class_names=class_names,
            reduced=reduced,
            order=order,
        ).plot(ax=ax, **plot_kwargs)

    def plot(
        self,
        *,
        ax=None,
        kind: Literal["auto", "errorbar", "heatmap"] = "auto",
        spread: Literal["iqr", "std"] = "iqr",
        annotate: bool | None = None,
    ) -> ClassProfileDisplay:
        """Draw the profile.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        kind : {"auto", "errorbar", "heatmap"}, default="auto"
            ``"auto"``: error bars up to 150 class-unit pairs, else heatmap.
        spread : {"iqr", "std"}, default="iqr"
            Error bars: the median with the interquartile range (25th to
            75th percentile), which respects the range of the data (no bar
            below 0 for ReLU outputs), or the mean ± standard deviation.
        annotate : bool, optional
            Heatmap only: write the means in the cells (default up to 200).

        Returns
        -------
        self
        """
        if kind not in ("auto", "errorbar", "heatmap"):
            raise ValueError(
                f"kind must be 'auto', 'errorbar' or 'heatmap', got {kind!r}."
            )
        if spread not in ("std", "iqr"):
            raise ValueError(f"spread must be 'std' or 'iqr', got {spread!r}.")
        classes = self.means_.index.to_numpy()
        units = self.unit_order_
        by_selectivity = self._by_selectivity
        if kind == "auto":
            kind = "errorbar" if len(classes) * len(units) <= 150 else "heatmap"
        n_units = len(units)
        unit_word = "channel" if self.reduced else "unit"
        tick_labels = [str(u) for u in units]
        if by_selectivity and n_units <= 40:
            pref = self.selectivity_["preferred_class"]
            score = self.selectivity_["selectivity"]
            # A constant unit (e.g. dead) prefers nothing; argmax would say
            # the first class.
            tick_labels = [
                f"{u}\n{class_label(pref[u], self.class_names) if score[u] else '–'}"
                for u in units
            ]
        # Wide enough per unit for the longest tick label (class names).
        longest = max(len(part) for t in tick_labels for part in t.split("\n"))
        per_unit = max(0.45 if kind == "errorbar" else 0.38, 0.07 * longest + 0.1)
        fig, ax = get_figure_ax(
            ax,
            figsize=(
                min(4.0 + per_unit * n_units, 16.0),
                4.2 if kind == "errorbar" else 1.8 + 0.35 * len(classes),
            ),
        )
        step = tick_step(n_units, 40)
        if kind == "errorbar":
            self._errorbars(ax, classes, units, spread)
        else:
            self._heatmap(fig, ax, classes, units, annotate)
        ax.set_xticks(range(0, n_units, step), tick_labels[::step], fontsize="small")
        xlabel = f"{unit_word} index"
        if by_selectivity:
            xlabel += (
                " (ordered by selectivity, highest first"
                + ("; preferred class below" if n_units <= 40 else "")
                + ")"
            )
        ax.set_xlabel(xlabel)
        name = self.layer or "layer"
        what = "mean ± std" if spread == "std" else "median and interquartile range"
        title = f"{name}: activation per class"
        title += f" ({what})" if kind == "errorbar" else " (class means)"
        if self.reduced:
            title += f"\nconv {unit_word}s averaged over positions"
        ax.set_title(title)
        self.kind_ = kind
        self.spread_ = spread
        self.figure_, self.ax_ = fig, ax
        return self

    def _errorbars(self, ax, classes, units, spread):
        prof = self.profile_.set_index(["class", "unit"])
        width = 0.8
        offsets = (
            np.linspace(-width / 2, width / 2, len(classes) + 2)[1:-1]
            if len(classes) > 1
            else np.zeros(1)
        )
        x = np.arange(len(units))
        for k, c in enumerate(classes):
            rows = prof.loc[c].reindex(units)
            if spread == "std":
                center = rows["mean"].to_numpy()
                err = rows["std"].to_numpy()
                yerr = np.vstack([err, err])
            else:
                center = rows["median"].to_numpy()
                yerr = np.vstack(
                    [center - rows["q25"].to_numpy(), rows["q75"].to_numpy() - center]
                )
            ax.errorbar(
                x + offsets[k],
                center,
                yerr=yerr,
                fmt="o",
                markersize=4,
                elinewidth=1.2,
                capsize=0,
                color=f"C{k % 10}",
                label=class_label(c, self.class_names),
            )
        for boundary in x[:-1] + 0.5:
            ax.axvline(boundary, color="0.9", linewidth=0.8, zorder=0)
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xlim(-0.5, len(units) - 0.5)
        ax.set_ylabel("activation")
        ax.legend(
            title="class",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
        )

    def _heatmap(self, fig, ax, classes, units, annotate):
        import matplotlib as mpl

        M = self.means_.loc[classes, units].to_numpy(dtype=float)
        cmap, vmin, vmax, _ = color_scale(M)
        im = ax.imshow(
            np.ma.masked_invalid(M),
            cmap=mpl.colormaps[cmap].with_extremes(bad="0.8"),
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_yticks(
            range(len(classes)), [class_label(c, self.class_names) for c in classes]
        )
        ax.set_ylabel("class")
        if annotate is None:
            annotate = M.size <= 200
        if annotate:
            annotate_cells(ax, im, M)
        fig.colorbar(im, ax=ax, label="class mean activation")
