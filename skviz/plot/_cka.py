"""Linear CKA between layers, of one net or two, as a heatmap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from .. import represent
from .base import annotate_cells, get_figure_ax

__all__ = ["CKADisplay"]

#: Cells are written when each is at least this many inches wide and tall.
_MIN_CELL_INCHES = 0.32


def _unwrap(estimator, X):
    """The net to inspect and the samples as it sees them.

    A fitted search gives its ``best_estimator_``; a Pipeline its last step,
    with X transformed by the steps before it.
    """
    if hasattr(estimator, "best_estimator_"):
        estimator = estimator.best_estimator_
    if hasattr(estimator, "steps"):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    return estimator, X


def _candidate(search, rank: int, fit_data):
    """The estimator of the search's candidate of ``rank``, refitted on ``fit_data``."""
    if not hasattr(search, "cv_results_"):
        raise TypeError(
            "candidate= needs a fitted GridSearchCV/RandomizedSearchCV as net_a, got "
            f"{type(search).__name__}."
        )
    if fit_data is None:
        raise ValueError(
            f"candidate={rank} refits the search's candidate of that rank: pass "
            "fit_data=(X_train, y_train), the samples to fit it on."
        )
    results = search.cv_results_
    key = next(
        (k for k in results if k.startswith("rank_test_")),
        None,
    )
    if isinstance(search.refit, str):
        key = f"rank_test_{search.refit}"
    ranks = np.asarray(results[key])
    where = np.flatnonzero(ranks == rank)
    if where.size == 0:
        raise ValueError(
            f"No candidate of rank {rank}; the search has ranks {sorted(set(ranks))}."
        )
    params = results["params"][where[0]]
    estimator = clone(search.estimator).set_params(**params)
    return estimator.fit(*fit_data), params


class CKADisplay:
    """Linear CKA between layers as a heatmap, layers in forward order.

    Use :meth:`from_estimator` (one net: a symmetric matrix with a
    diagonal of 1) or :meth:`from_estimators` (two nets: layers of the
    first down, of the second across); the numbers come from
    :func:`skviz.represent.cka` / :func:`~skviz.represent.cka_between`.

    Parameters
    ----------
    similarity : pandas.DataFrame
        CKA values, rows and columns named by layer (``attrs`` as those
        functions give them).
    name_a, name_b : str, optional
        The nets' names for the axis labels (two nets).

    Attributes
    ----------
    similarity_ : pandas.DataFrame
    estimator_ : str
        ``"linear"`` (exact, streamed), ``"minibatch"`` or ``"mixed"``.
    figure_, ax_ : matplotlib Figure and Axes
    """

    def __init__(self, similarity: pd.DataFrame, *, name_a=None, name_b=None):
        self.similarity_ = similarity
        self.name_a, self.name_b = name_a, name_b
        self.estimator_ = similarity.attrs.get("estimator", "linear")

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        layers: Sequence[str] | None = None,
        *,
        pool: str = "flatten",
        estimator: str = "auto",
        activation=None,
        batch_size: int | None = None,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "magma",
    ) -> CKADisplay:
        """CKA between every pair of layers of one net, in one pass over X.

        Parameters
        ----------
        net : fitted Inspectable net (or a Pipeline ending in one, or a
            fitted search whose best estimator is either)
        X : array-like, memmap or dask array
        layers : list of str, optional
            By default the hidden and output layers, in forward order.
        pool, estimator, activation, batch_size
            As in :func:`skviz.represent.cka`.
        ax : matplotlib Axes, optional
        annotate : bool, optional
            Write the values in the cells; by default when the cells are
            large enough to read.
        cmap : str, default="magma"
        """
        net, X = _unwrap(net, X)
        similarity = represent.cka(
            net,
            X,
            layers,
            pool=pool,
            estimator=estimator,
            activation=activation,
            batch_size=batch_size,
        )
        return cls(similarity).plot(ax=ax, annotate=annotate, cmap=cmap)

    @classmethod
    def from_estimators(
        cls,
        net_a,
        net_b,
        X,
        *,
        layers_a: Sequence[str] | None = None,
        layers_b: Sequence[str] | None = None,
        names: tuple[str, str] | None = None,
        candidate: int | None = None,
        fit_data=None,
        pool: str = "flatten",
        estimator: str = "auto",
        activation=None,
        batch_size: int | None = None,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "magma",
    ) -> CKADisplay:
        """CKA between the layers of two nets on the same samples.

        Parameters
        ----------
        net_a, net_b : fitted Inspectable nets, Pipelines ending in one, or
            fitted searches (their ``best_estimator_``)
            ``net_b`` may be None with ``candidate``: a fitted
            ``GridSearchCV`` as ``net_a`` is then compared with its own
            candidate of that rank.
        X : array-like
            The samples both see (each Pipeline transforms them itself).
        layers_a, layers_b : list of str, optional
        names : (str, str), optional
            The nets' names on the axes; by default ``"net a"`` and
            ``"net b"`` (``"best (rank 1)"`` and ``"rank k"`` for a
            search).
        candidate : int, optional
            Only with a fitted search as ``net_a`` and ``net_b=None``: the
            rank (in ``cv_results_``, 2 for the runner-up) of the candidate
            to compare with the best estimator. Its parameters are set on a
            clone of ``search.estimator`` and it is fitted on ``fit_data``
            (the search keeps only the best one fitted); this refit is the
            only training done, and only when asked.
        fit_data : tuple, optional
            ``(X_train, y_train)`` for that refit.
        pool, estimator, activation, batch_size
            As in :func:`skviz.represent.cka_between`.
        ax, annotate, cmap
            As in :meth:`from_estimator`.
        """
        if candidate is not None:
            if net_b is not None:
                raise ValueError(
                    "candidate= compares a search's best estimator with another of "
                    "its candidates: pass net_b=None."
                )
            net_b, params = _candidate(net_a, candidate, fit_data)
            names = names or ("best (rank 1)", f"rank {candidate}")
        elif net_b is None:
            raise ValueError(
                "net_b is None: pass a second net, or candidate=k with a fitted "
                "search as net_a."
            )
        a, X_a = _unwrap(net_a, X)
        b, X_b = _unwrap(net_b, X)
        if X_a is not X_b and not np.array_equal(np.asarray(X_a), np.asarray(X_b)):
            raise ValueError(
                "The two estimators' preprocessing steps give the nets different "
                "inputs; CKA compares representations of the same samples, so both "
                "nets must see the same X. Compare the nets with X already "
                "transformed."
            )
        similarity = represent.cka_between(
            a,
            b,
            X_a,
            layers_a,
            layers_b,
            pool=pool,
            estimator=estimator,
            activation=activation,
            batch_size=batch_size,
        )
        name_a, name_b = names or ("net a", "net b")
        display = cls(similarity, name_a=name_a, name_b=name_b)
        if candidate is not None:
            display.candidate_params_ = params
        return display.plot(ax=ax, annotate=annotate, cmap=cmap)

    def plot(
        self, *, ax=None, annotate: bool | None = None, cmap: str = "magma"
    ) -> CKADisplay:
        """Draw the heatmap on a fixed 0-1 colour scale.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        annotate : bool, optional
            Write the values in the cells; by default when every cell is at
            least 0.32 in wide and tall.
        cmap : str, default="magma"

        Returns
        -------
        self
        """
        values = self.similarity_.to_numpy(dtype=float)
        n_rows, n_cols = values.shape
        longest = max(len(str(v)) for v in [*self.similarity_.index, "x"])
        fig, ax = get_figure_ax(
            ax,
            figsize=(
                min(2.6 + 0.09 * longest + 0.55 * n_cols, 14.0),
                min(1.9 + 0.09 * longest + 0.5 * n_rows, 12.0),
            ),
        )
        self.figure_, self.ax_ = fig, ax
        # A fixed 0-1 scale: the same colour means the same similarity in
        # every figure.
        im = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks(range(n_cols), [str(c) for c in self.similarity_.columns])
        ax.set_yticks(range(n_rows), [str(r) for r in self.similarity_.index])
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        if annotate is None:
            fig.canvas.draw_idle()
            bbox = ax.get_window_extent()
            width = bbox.width / fig.dpi / max(n_cols, 1)
            height = bbox.height / fig.dpi / max(n_rows, 1)
            annotate = min(width, height) >= _MIN_CELL_INCHES
        if annotate:
            annotate_cells(ax, im, values, fontsize=8)
        fig.colorbar(im, ax=ax, label="linear CKA", shrink=0.85)
        if self.name_a is not None:
            ax.set_ylabel(f"{self.name_a}: layer")
            ax.set_xlabel(f"{self.name_b}: layer")
        else:
            ax.set_xlabel("layer")
            ax.set_ylabel("layer")
        attrs = self.similarity_.attrs
        how = {
            "linear": "exact, streamed",
            "minibatch": f"minibatch estimate, batches of {attrs.get('batch_size')}",
            "mixed": "exact where it fits, minibatch for the widest layers",
        }[self.estimator_]
        n = attrs.get("n_samples")
        title = (
            "Linear CKA between layers"
            if self.name_a is None
            else (f"Linear CKA: {self.name_a} vs {self.name_b}")
        )
        ax.set_title(f"{title}\n{n} samples, {how}" if n else title, fontsize=10)
        return self
