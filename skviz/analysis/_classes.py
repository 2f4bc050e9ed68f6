"""Per-class numbers: profiles, selectivity, misclassified versus correct."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._arrays import Reduce, check_labels, unit_matrix


def class_profile(activations: Any, y: Any, *, reduce: Reduce = "mean") -> pd.DataFrame:
    """Mean and spread of every unit's activation within each class.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
    y : array-like of shape (n_samples,)
    reduce : {"mean", "flatten"}, default="mean"
        See :func:`unit_matrix`.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per (class, unit), classes sorted: ``class``, ``unit``,
        ``n`` (finite values), ``mean``, ``std`` (ddof=0), ``q25``,
        ``median``, ``q75``.
    """
    A = unit_matrix(activations, reduce)
    y = check_labels(y, len(A))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for c in np.unique(y):
            Ac = A[y == c]
            q25, median, q75 = np.nanpercentile(Ac, [25, 50, 75], axis=0)
            rows.append(
                pd.DataFrame(
                    {
                        "class": c,
                        "unit": np.arange(A.shape[1]),
                        "n": np.isfinite(Ac).sum(axis=0),
                        "mean": np.nanmean(Ac, axis=0),
                        "std": np.nanstd(Ac, axis=0),
                        "q25": q25,
                        "median": median,
                        "q75": q75,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def selectivity(activations: Any, y: Any, *, reduce: Reduce = "mean") -> pd.DataFrame:
    """How strongly each unit prefers one class.

    For unit ``j`` with class means ``m[c, j]``, preferred class
    ``c* = argmax_c m[c, j]`` and standard deviation ``s[j]`` over all
    samples::

        selectivity[j] = (m[c*, j] - mean_{c != c*} m[c, j]) / s[j]

    i.e. by how many standard deviations the preferred class stands out
    from the average of the others (0 for a constant unit, e.g. a dead one).
    The mean of the other classes weights each class equally, so class
    imbalance does not change the value.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
    y : array-like of shape (n_samples,)
        At least two classes.
    reduce : {"mean", "flatten"}, default="mean"
        See :func:`unit_matrix`.

    Returns
    -------
    pandas.DataFrame
        Index ``unit``; columns ``preferred_class``, ``selectivity``. For a
        constant unit the selectivity is 0 and ``preferred_class`` (the
        first class, by argmax) means nothing.
    """
    A = unit_matrix(activations, reduce)
    y = check_labels(y, len(A))
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"selectivity needs at least two classes, y holds only {classes.tolist()}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.stack([np.nanmean(A[y == c], axis=0) for c in classes])
        spread = np.nanstd(A, axis=0)
        # A unit whose class means are all NaN has no preferred class.
        filled = np.where(np.isnan(means), -np.inf, means)
        best = np.argmax(filled, axis=0)
        top = means[best, np.arange(A.shape[1])]
        others = (np.nansum(means, axis=0) - top) / (np.isfinite(means).sum(axis=0) - 1)
        score = np.where(spread > 0, (top - others) / spread, 0.0)
    return pd.DataFrame(
        {"preferred_class": classes[best], "selectivity": score},
        index=pd.RangeIndex(A.shape[1], name="unit"),
    )


# ----------------------------------------------------------------------
# Misclassified versus correct
# ----------------------------------------------------------------------


def misclassified_samples(
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    *,
    classes: Sequence[Any] | None = None,
    index: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """The misclassified samples with their true and predicted class.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    proba : array-like of shape (n_samples, n_classes), optional
        ``predict_proba`` output; adds ``confidence`` (probability of the
        predicted class) and ``proba_true`` (of the true class).
    classes : sequence, optional
        The label of each column of ``proba`` (``net.classes_``); defaults
        to ``0, 1, ..., n_classes - 1``.
    index : sequence, optional
        One label per sample (e.g. ``X.index``); defaults to positions.

    Returns
    -------
    pandas.DataFrame
        Index ``sample`` (position or label), columns ``true``,
        ``predicted`` and, with ``proba``, ``confidence`` and
        ``proba_true``; empty (same columns) when every prediction is right.
    """
    y_true = np.asarray(y_true)
    n = y_true.shape[0] if y_true.ndim else 0
    y_true = check_labels(y_true, n, "y_true")
    y_pred = check_labels(y_pred, n, "y_pred")
    index = (
        pd.RangeIndex(len(y_true), name="sample")
        if index is None
        else pd.Index(index, name="sample")
    )
    if len(index) != len(y_true):
        raise ValueError(f"index has {len(index)} labels for {len(y_true)} samples.")
    wrong = y_true != y_pred
    table = pd.DataFrame(
        {"true": y_true[wrong], "predicted": y_pred[wrong]}, index=index[wrong]
    )
    if proba is not None:
        P = np.asarray(proba, dtype=float)
        if P.ndim != 2 or len(P) != len(y_true):
            raise ValueError(
                f"proba must have shape (n_samples={len(y_true)}, n_classes), "
                f"got {P.shape}."
            )
        labels = np.arange(P.shape[1]) if classes is None else np.asarray(classes)
        if len(labels) != P.shape[1]:
            raise ValueError(
                f"classes has {len(labels)} labels but proba has {P.shape[1]} columns."
            )
        column = {label: i for i, label in enumerate(labels.tolist())}
        missing = sorted(
            {v for v in np.concatenate([y_true, y_pred]).tolist() if v not in column}
        )
        if missing:
            raise ValueError(
                f"labels {missing} have no column in proba (classes: {labels.tolist()})."
            )
        rows = np.flatnonzero(wrong)
        pred_col = np.array([column[v] for v in y_pred[wrong].tolist()], dtype=int)
        true_col = np.array([column[v] for v in y_true[wrong].tolist()], dtype=int)
        table["confidence"] = P[rows, pred_col]
        table["proba_true"] = P[rows, true_col]
    return table


def compare_misclassified(
    activations: Any, y_true: Any, y_pred: Any, *, reduce: Reduce = "mean"
) -> pd.DataFrame:
    """Mean activation of misclassified versus correct samples, per true class.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
    y_true, y_pred : array-like of shape (n_samples,)
    reduce : {"mean", "flatten"}, default="mean"
        See :func:`unit_matrix`.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per (true class with at least one error, unit):
        ``class``, ``unit``, ``n_correct``, ``n_wrong``, ``correct_mean``,
        ``wrong_mean`` and ``difference`` (wrong minus correct; NaN when
        the class has no correct sample). Empty (same columns) when every
        prediction is right.
    """
    A = unit_matrix(activations, reduce)
    y_true = check_labels(y_true, len(A), "y_true")
    y_pred = check_labels(y_pred, len(A), "y_pred")
    columns = [
        "class",
        "unit",
        "n_correct",
        "n_wrong",
        "correct_mean",
        "wrong_mean",
        "difference",
    ]
    wrong = y_true != y_pred
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for c in np.unique(y_true[wrong]):
            is_c = y_true == c
            right_c, wrong_c = A[is_c & ~wrong], A[is_c & wrong]
            correct_mean = (
                np.nanmean(right_c, axis=0)
                if len(right_c)
                else np.full(A.shape[1], np.nan)
            )
            wrong_mean = np.nanmean(wrong_c, axis=0)
            rows.append(
                pd.DataFrame(
                    {
                        "class": c,
                        "unit": np.arange(A.shape[1]),
                        "n_correct": len(right_c),
                        "n_wrong": len(wrong_c),
                        "correct_mean": correct_mean,
                        "wrong_mean": wrong_mean,
                        "difference": wrong_mean - correct_mean,
                    }
                )
            )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    return pd.concat(rows, ignore_index=True)[columns]
