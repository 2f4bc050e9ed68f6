"""Every layer's samples in 2-D, coloured by class, errors marked."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import is_classifier

from .. import represent
from .base import class_colors, class_label, get_figure_axes

__all__ = ["EmbeddingDisplay"]


class EmbeddingDisplay:
    """One scatter panel per layer: the samples projected to 2-D.

    Parameters
    ----------
    embedding : pandas.DataFrame
        From :func:`skviz.represent.embed_layers`.
    y : array-like of shape (n_samples,), optional
        Class of each sample (colours).
    misclassified : array-like of bool, optional
        Samples to mark.
    class_names : sequence or dict, optional

    Attributes
    ----------
    embedding_ : pandas.DataFrame
    misclassified_ : ndarray of bool or None
    figure_ : matplotlib Figure
    axes_ : ndarray of Axes
        One per layer, row by row (unused cells of the grid hidden).
    """

    def __init__(
        self, embedding: pd.DataFrame, *, y=None, misclassified=None, class_names=None
    ):
        self.embedding_ = embedding
        self.y = None if y is None else np.asarray(y)
        self.misclassified_ = (
            None if misclassified is None else np.asarray(misclassified, dtype=bool)
        )
        self.class_names = class_names

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        layers: Sequence[str] | None = None,
        *,
        method="pca",
        pool: str = "flatten",
        activation=None,
        batch_size: int | None = None,
        random_state=0,
        class_names=None,
        axes=None,
        ncols: int | None = None,
    ) -> EmbeddingDisplay:
        """Project each layer's activations (one capture pass) and draw them.

        Parameters
        ----------
        net : fitted Inspectable net
        X : array-like
        y : array-like of shape (n_samples,), optional
            True classes: points are coloured by them and, for a classifier,
            samples that ``net.predict`` gets wrong are marked.
        layers : list of str, optional
            By default the hidden and output layers, in forward order.
        method : "pca", "tsne" or transformer, default="pca"
            See :func:`skviz.represent.embed_layers`; any object with
            ``fit_transform`` (``umap.UMAP()``) works.
        pool, activation, batch_size, random_state
            As in :func:`skviz.represent.embed_layers`.
        class_names : sequence or dict, optional
            Text for each class label in the legend.
        axes : array of Axes, optional
            One per layer.
        ncols : int, optional
            Panels per row; by default up to 4.
        """
        misclassified = None
        if y is not None:
            y = np.asarray(y)
            if y.ndim != 1 or y.shape[0] != len(X):
                raise ValueError(
                    f"y must hold one label per sample of X ({len(X)}), got shape "
                    f"{y.shape}."
                )
        embedding = represent.embed_layers(
            net,
            X,
            layers,
            method,
            pool=pool,
            activation=activation,
            batch_size=batch_size,
            random_state=random_state,
        )
        if y is not None and is_classifier(net):
            misclassified = np.asarray(net.predict(X)) != y
        display = cls(
            embedding, y=y, misclassified=misclassified, class_names=class_names
        )
        return display.plot(axes=axes, ncols=ncols)

    def _title(self, layer: str) -> str:
        method = self.embedding_.attrs.get("method", "")
        ratio = self.embedding_.attrs.get("explained_variance_ratio", {}).get(layer)
        if ratio is None:
            return f"{layer}\n{method}"
        return (
            f"{layer}\n{method}: PC1 {100 * ratio[0]:.0f}%, PC2 {100 * ratio[1]:.0f}% "
            "of variance"
        )

    def plot(self, *, axes=None, ncols: int | None = None) -> EmbeddingDisplay:
        """Draw one panel per layer.

        Parameters
        ----------
        axes : array of Axes, optional
        ncols : int, optional
            Panels per row; by default up to 4, rows as even as possible.

        Returns
        -------
        self
        """
        frame = self.embedding_
        layers = frame.attrs.get("layers") or list(dict.fromkeys(frame["layer"]))
        # Rows as even as possible: 5 panels as 3 + 2, not 4 + 1.
        ncols = ncols or math.ceil(len(layers) / math.ceil(len(layers) / 4))
        nrows = math.ceil(len(layers) / ncols)
        fig, grid = get_figure_axes(
            axes,
            nrows,
            ncols,
            figsize=(3.2 * ncols, 3.3 * nrows + 0.5),
            what="EmbeddingDisplay",
        )
        self.figure_, self.axes_ = fig, grid.ravel()[: len(layers)]
        for extra in grid.ravel()[len(layers) :]:
            extra.set_visible(False)
        classes = None if self.y is None else list(np.unique(self.y))
        colors = class_colors(classes) if classes is not None else None
        for ax, layer in zip(self.axes_, layers, strict=True):
            part = frame[frame["layer"] == layer].sort_values("sample")
            x, y = part["x"].to_numpy(), part["y"].to_numpy()
            if colors is None:
                ax.scatter(x, y, s=12, color="C0", alpha=0.7, linewidths=0)
            else:
                for c in classes:
                    sel = self.y[part["sample"].to_numpy()] == c
                    ax.scatter(
                        x[sel],
                        y[sel],
                        s=12,
                        color=colors[c],
                        alpha=0.75,
                        linewidths=0,
                        label=class_label(c, self.class_names),
                    )
            if self.misclassified_ is not None and self.misclassified_.any():
                wrong = self.misclassified_[part["sample"].to_numpy()]
                ax.scatter(
                    x[wrong],
                    y[wrong],
                    s=40,
                    marker="o",
                    facecolors="none",
                    edgecolors="black",
                    linewidths=1.0,
                    label=f"misclassified ({int(wrong.sum())})",
                )
            ax.set_title(self._title(layer), fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        handles, labels = self.axes_[0].get_legend_handles_labels()
        if handles:
            fig.legend(
                handles,
                labels,
                loc="outside lower center",
                ncols=min(len(labels), 6),
                fontsize=8,
                frameon=False,
            )
        return self
