"""``net.plot_cka``, ``net.probe_layers``, ``net.plot_embedding``.

Part of the front door (:mod:`skviz.nets`): :class:`~skviz.PlotMethodsMixin`
inherits them. Each forwards to :mod:`skviz.represent` or a display, with
the display's keywords in its own signature (checked by
``tests/test_plot_signatures.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

__all__ = ["RepresentMethodsMixin"]


def _keywords(method, arguments):
    from .nets import _keywords

    return _keywords(method, arguments)


class RepresentMethodsMixin:
    """What the layers have learned: CKA, probes by depth, embeddings."""

    def plot_cka(
        self,
        X,
        layers: Sequence[str] | None = None,
        *,
        pool: Literal["flatten", "mean", "max"] = "flatten",
        estimator: Literal["auto", "linear", "minibatch"] = "auto",
        activation: str | Callable | None = None,
        batch_size: int | None = None,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "magma",
    ):
        """Linear CKA between every pair of layers, as a heatmap.

        The numbers without a picture: :func:`skviz.represent.cka`; two
        nets: :meth:`skviz.plot.CKADisplay.from_estimators`.

        Parameters
        ----------
        X : array-like, memmap or dask array
            Samples, in any form ``predict`` accepts; one pass, memory
            independent of their number.
        layers : list of str, optional
            By default the hidden and output layers, in forward order.
        pool : {"flatten", "mean", "max"}, default="flatten"
            Conv outputs: every element a feature, or one per channel.
        estimator : {"auto", "linear", "minibatch"}, default="auto"
            Exact streamed CKA, the minibatch estimate, or exact where the
            cross-covariances fit in memory (see :func:`skviz.represent.cka`).
        activation : str or callable, optional
            Applied to every layer's output first.
        batch_size : int, optional
            Rows per forward pass (and per minibatch).
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure when None.
        annotate : bool, optional
            Write the values in the cells; by default when readable.
        cmap : str, default="magma"

        Returns
        -------
        skviz.plot.CKADisplay
            ``figure_``, ``ax_`` and the ``similarity_`` DataFrame.
        """
        from .plot import CKADisplay

        return CKADisplay.from_estimator(
            self,
            X,
            layers,
            **_keywords(RepresentMethodsMixin.plot_cka, locals()),
        )

    def probe_layers(
        self,
        X,
        y,
        layers: Sequence[str] | None = None,
        estimator=None,
        cv=5,
        scoring=None,
        *,
        pool: Literal["flatten", "mean", "max"] = "flatten",
        include_input: bool = True,
        activation: str | Callable | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
    ):
        """Cross-validated linear probe score of every layer (one capture pass).

        Score probes on samples the net was **not** trained on. The picture:
        :class:`skviz.plot.ProbeDisplay`.

        Parameters
        ----------
        X : array-like
            Held-out samples.
        y : array-like of shape (n_samples,)
            What the probes predict.
        layers : list of str, optional
            By default the hidden and output layers, in forward order.
        estimator : sklearn estimator, optional
            Default: standardised ``LogisticRegression`` (classifier nets) or
            ``RidgeCV`` (others).
        cv : int, splitter or iterable, default=5
            The same folds for every layer.
        scoring : str or callable, optional
        pool : {"flatten", "mean", "max"}, default="flatten"
        include_input : bool, default=True
            Probe X itself as depth 0.
        activation : str or callable, optional
        batch_size : int, optional
        n_jobs : int, optional
            For ``cross_validate``.

        Returns
        -------
        pandas.DataFrame
            ``layer``, ``depth``, ``n_features``, ``mean_score``,
            ``std_score``, ``fit_time`` (see
            :func:`skviz.represent.probe_layers`).
        """
        from .represent import probe_layers

        return probe_layers(
            self,
            X,
            y,
            layers,
            estimator,
            cv,
            scoring,
            **_keywords(RepresentMethodsMixin.probe_layers, locals()),
        )

    def plot_embedding(
        self,
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
    ):
        """Every layer's samples in 2-D (PCA, t-SNE, UMAP...), errors marked.

        The numbers without a picture: :func:`skviz.represent.embed_layers`.

        Parameters
        ----------
        X : array-like
            Samples, in any form ``predict`` accepts.
        y : array-like of shape (n_samples,), optional
            True classes: colours, and misclassified samples marked.
        layers : list of str, optional
            By default the hidden and output layers, in forward order.
        method : "pca", "tsne" or transformer, default="pca"
            Any object with ``fit_transform`` (``umap.UMAP()``) works.
        pool : {"flatten", "mean", "max"}, default="flatten"
        activation : str or callable, optional
        batch_size : int, optional
        random_state : int or None, default=0
        class_names : sequence or dict, optional
            Text for each class label.
        axes : array of Axes, optional
            One per layer.
        ncols : int, optional
            Panels per row.

        Returns
        -------
        skviz.plot.EmbeddingDisplay
            ``figure_``, ``axes_`` and the ``embedding_`` DataFrame.
        """
        from .plot import EmbeddingDisplay

        return EmbeddingDisplay.from_estimator(
            self,
            X,
            y,
            layers,
            **_keywords(RepresentMethodsMixin.plot_embedding, locals()),
        )
