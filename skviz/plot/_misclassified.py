"""Activations of misclassified samples next to correct ones of the same class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import analysis
from ..samples import n_samples
from .base import (
    annotate_cells,
    capture_units,
    class_label,
    get_figure_ax,
    labels_per_sample,
    net_classes,
    nonfinite_warned,
    tick_step,
    unit_values,
)

__all__ = ["MisclassifiedDisplay"]

_KINDS = ("correct", "misclassified", "difference")


def _predictions(net, X):
    """``(proba, y_pred, classes)`` with labels as ``net.classes_`` has them."""
    proba = np.asarray(net.predict_proba(X))
    if proba.ndim != 2:
        raise ValueError(
            f"predict_proba returned shape {proba.shape}; MisclassifiedDisplay needs "
            "a classifier with one probability column per class."
        )
    classes = net_classes(net, proba.shape[1])
    return proba, classes[proba.argmax(axis=1)], classes


class MisclassifiedDisplay:
    """Mean activation of misclassified versus correct samples, per true class.

    For every true class with at least one error, three rows: the mean
    activation of its correctly classified samples, of its misclassified
    samples, and their difference (misclassified minus correct). One
    diverging colour scale centred at 0 for all rows, so differences read
    in the same units as the means.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From :func:`skviz.analysis.compare_misclassified`.
    misclassified : pandas.DataFrame
        From :func:`skviz.analysis.misclassified_samples`.
    layer : str, optional
    n_samples : int, optional
        How many samples were compared (for the title and messages).
    class_names : sequence or dict, optional
        Text for each class label: ``class_names[label]`` (a sequence
        indexed by label, or a mapping).
    reduced : bool, default=False
        Whether units are channel means of a conv layer (for the title).

    Attributes
    ----------
    comparison_ : pandas.DataFrame
    misclassified_ : pandas.DataFrame
        Index ``sample``; columns ``true``, ``predicted``, ``confidence``,
        ``proba_true``. Empty when every prediction is right.
    image_ : ndarray of shape (3 * n_classes_with_errors, n_units)
        The drawn rows; empty when there is no error.
    row_labels_ : list of str
        For each true class (``class_names[c]``, or ``"class c"``):
        ``"class 1: 13 correct"``, ``"class 1: 8 misclassified, 3 as class
        0, 5 as class 2"`` and ``"class 1: misclassified − correct"``.
    vmin_, vmax_ : float
    figure_, ax_ : matplotlib Figure and Axes
    """

    def __init__(
        self,
        comparison: pd.DataFrame,
        misclassified: pd.DataFrame,
        *,
        layer: str | None = None,
        n_samples: int | None = None,
        class_names=None,
        reduced: bool = False,
    ):
        self.comparison_ = comparison
        self.misclassified_ = misclassified
        self.layer = layer
        self.n_samples = n_samples
        self.class_names = class_names
        self.reduced = reduced
        rows, self.row_labels_ = self._rows()
        self.image_ = np.vstack(rows) if rows else np.empty((0, 0))
        finite = np.abs(self.image_[np.isfinite(self.image_)])
        # One symmetric scale for means and differences alike.
        limit = float(finite.max(initial=0.0)) or 1.0
        self.vmin_, self.vmax_ = -limit, limit

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
        batch_size: int | None = None,
        ax=None,
        **plot_kwargs,
    ) -> MisclassifiedDisplay:
        """Predict X, capture ``layer`` and compare errors with correct samples.

        Parameters
        ----------
        net : fitted Inspectable skorch classifier
        X : array-like
        y : array-like of shape (n_samples,)
            True classes, labelled like ``net.classes_``.
        layer : str
        activation : str or callable, optional
            As in ``transform_layer`` (e.g. ``"relu"`` for ``F.relu``).
        reduce : {"mean", "flatten"}, default="mean"
            Conv outputs: one value per channel (spatial mean) or per element.
        class_names : sequence or dict, optional
            Text for each class label: ``class_names[label]``.
        batch_size : int, optional
        ax : matplotlib Axes, optional
        **plot_kwargs
            ``annotate``, ``cmap`` for :meth:`plot`.
        """
        y = labels_per_sample(y, n_samples(X))
        A = capture_units(net, X, layer, activation=activation, batch_size=batch_size)
        proba, y_pred, classes = _predictions(net, X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return cls.from_predictions(
            A,
            y,
            y_pred,
            proba,
            classes=classes,
            index=index,
            layer=layer,
            reduce=reduce,
            class_names=class_names,
            ax=ax,
            **plot_kwargs,
        )

    @classmethod
    def from_predictions(
        cls,
        activations,
        y_true,
        y_pred,
        proba=None,
        *,
        classes: Sequence | None = None,
        index: Sequence | None = None,
        layer: str | None = None,
        reduce: analysis.Reduce = "mean",
        class_names=None,
        ax=None,
        **plot_kwargs,
    ) -> MisclassifiedDisplay:
        """Compare from precomputed activations and predictions."""
        A, reduced = unit_values(activations, reduce, layer)
        with nonfinite_warned():
            comparison = analysis.compare_misclassified(A, y_true, y_pred)
        table = analysis.misclassified_samples(
            y_true, y_pred, proba, classes=classes, index=index
        )
        return cls(
            comparison,
            table,
            layer=layer,
            n_samples=len(A),
            class_names=class_names,
            reduced=reduced,
        ).plot(ax=ax, **plot_kwargs)

    def _class_text(self, c) -> str:
        """``class_names[c]``, or ``"class 2"`` without names."""
        if self.class_names is None:
            return f"class {c}"
        return class_label(c, self.class_names)

    def _wrong_text(self, n_bad: int, predicted) -> str:
        """``"6 misclassified, 2 as class 0, 4 as class 2"``, or ``"... as class 2"``."""
        counts = sorted(Counter(predicted).items())
        if len(counts) == 1:
            return f"{n_bad} misclassified as {self._class_text(counts[0][0])}"
        as_ = ", ".join(f"{k} as {self._class_text(p)}" for p, k in counts)
        return f"{n_bad} misclassified, {as_}"

    def _rows(self):
        rows, labels = [], []
        for c, part in self.comparison_.groupby("class", sort=True):
            part = part.sort_values("unit")
            name = self._class_text(c)
            wrong = self.misclassified_[self.misclassified_["true"] == c]
            n_ok, n_bad = int(part["n_correct"].iloc[0]), int(part["n_wrong"].iloc[0])
            rows += [
                part["correct_mean"].to_numpy(),
                part["wrong_mean"].to_numpy(),
                part["difference"].to_numpy(),
            ]
            labels += [
                f"{name}: {n_ok} correct",
                f"{name}: {self._wrong_text(n_bad, wrong['predicted'].tolist())}",
                f"{name}: misclassified − correct",
            ]
        return rows, labels

    def plot(
        self, *, ax=None, annotate: bool | None = None, cmap: str = "RdBu_r"
    ) -> MisclassifiedDisplay:
        """Draw the rows as a heatmap (or a message when nothing is wrong).

        Parameters
        ----------
        ax : matplotlib Axes, optional
        annotate : bool, optional
            Write the values in the cells; default when at most 200 cells.
        cmap : str, default="RdBu_r"

        Returns
        -------
        self
        """
        image, limit = self.image_, self.vmax_
        n_rows, n_units = image.shape
        fig, ax = get_figure_ax(
            ax,
            figsize=(
                min(4.5 + 0.42 * max(n_units, 8), 16.0),
                1.8 + 0.34 * max(n_rows, 3),
            ),
        )
        self.figure_, self.ax_ = fig, ax
        name = self.layer or "layer"
        unit = "channel (mean over positions)" if self.reduced else "unit"
        title = f"{name}: misclassified vs correct samples of the same true class"
        if not n_rows:
            total = f" among {self.n_samples} samples" if self.n_samples else ""
            ax.text(
                0.5,
                0.5,
                f"No misclassified samples{total}:\nnothing to compare.",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title)
            return self
        import matplotlib as mpl

        im = ax.imshow(
            np.ma.masked_invalid(image),
            cmap=mpl.colormaps[cmap].with_extremes(bad="0.8"),
            vmin=-limit,
            vmax=limit,
            aspect="auto",
            interpolation="nearest",
        )
        for k in range(3, n_rows, 3):
            ax.axhline(k - 0.5, color="white", linewidth=4)
        ax.set_yticks(range(n_rows), self.row_labels_)
        step = tick_step(n_units, 40)
        ax.set_xticks(range(0, n_units, step))
        ax.set_xlabel(unit)
        if annotate is None:
            annotate = image.size <= 200
        if annotate:
            annotate_cells(ax, im, image)
        fig.colorbar(im, ax=ax, label=f"mean activation / difference (±{limit:.3g})")
        n_wrong = len(self.misclassified_)
        total = f" of {self.n_samples}" if self.n_samples else ""
        ax.set_title(f"{title}\n{n_wrong}{total} samples misclassified")
        return self
