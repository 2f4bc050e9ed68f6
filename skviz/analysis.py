"""Numbers behind the pictures: computed from activation arrays, no torch.

Every function here takes plain arrays (as returned by
``transform_layer``) so that scripts can use the numbers without plotting.

Conventions shared by all functions:

* ``activations`` has shape ``(n_samples, n_units)`` or
  ``(n_samples, n_channels, ...)``. Functions that work per unit say how
  they treat extra dimensions: most take ``reduce="mean"`` (a channel's
  value on a sample is its mean over the remaining dimensions, the usual
  "global average" of a feature map) or ``reduce="flatten"`` (every element
  is a unit).
* NaN and +/-inf are masked: they never count as active or saturated and
  are left out of means, spreads and quantiles. Functions that compute
  statistics warn once (:class:`NonFiniteWarning`) when they had to mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "SATURATION_BOUNDS",
    "NonFiniteWarning",
    "activity_by_class",
    "class_profile",
    "compare_misclassified",
    "dead_units",
    "history_frame",
    "mask_nonfinite",
    "misclassified_samples",
    "saturation_fraction",
    "selectivity",
    "unit_activity",
    "unit_matrix",
    "unit_report",
]

#: Asymptotes of the bounded activations that can saturate.
SATURATION_BOUNDS: dict[str, tuple[float, float]] = {
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
}

Bounds = str | tuple[float, float]
Reduce = Literal["mean", "flatten"]


class NonFiniteWarning(UserWarning):
    """Activations held NaN or inf; those values were masked (ignored)."""


def _as_units(activations: np.ndarray) -> np.ndarray:
    A = np.asarray(activations)
    if A.ndim < 2:
        raise ValueError(
            f"activations must have shape (n_samples, n_units, ...), got {A.shape}."
        )
    if A.shape[0] == 0:
        raise ValueError("activations hold no samples.")
    return A.reshape(A.shape[0], -1) if A.ndim > 2 else A


def unit_activity(activations: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Fraction of samples on which each unit is active (value > ``tol``).

    Parameters
    ----------
    activations : ndarray of shape (n_samples, n_units) or (n_samples, ...)
        Trailing dimensions are flattened into units. NaN counts as inactive.
    tol : float, default=0.0

    Returns
    -------
    ndarray of shape (n_units,)
    """
    A = _as_units(activations)
    with np.errstate(invalid="ignore"):
        return (A > tol).mean(axis=0)


def dead_units(activations: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Indices of units never active (> ``tol``) on any of the given samples."""
    return np.flatnonzero(unit_activity(activations, tol) == 0)


# ----------------------------------------------------------------------
# Input checks and masking
# ----------------------------------------------------------------------


def mask_nonfinite(values: Any, what: str = "activations") -> np.ndarray:
    """Float copy of ``values`` with +/-inf replaced by NaN, warning if any.

    Parameters
    ----------
    values : array-like
    what : str, default="activations"
        How the warning names the values (e.g. ``"activations of 'dense0'"``).

    Returns
    -------
    ndarray
        float64 for float64 input, float32 otherwise; always a new array,
        so the caller's array is never modified.
    """
    A = np.asarray(values)
    dtype = np.float64 if A.dtype == np.float64 else np.float32
    A = np.array(A, dtype=dtype, copy=True)
    bad = ~np.isfinite(A)
    n_bad = int(bad.sum())
    if n_bad:
        n_rows = int(bad.reshape(len(A), -1).any(axis=1).sum()) if A.ndim else 1
        warnings.warn(
            f"{what} contain {n_bad} non-finite value(s) (NaN or inf) in "
            f"{n_rows} sample(s); they are masked: never counted as active "
            "and left out of means and spreads.",
            NonFiniteWarning,
            stacklevel=3,
        )
        A[bad] = np.nan
    return A


def _check_samples(A: np.ndarray, name: str = "activations") -> None:
    if A.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_units, ...), got shape {A.shape}."
        )
    if A.shape[0] == 0:
        raise ValueError(f"{name} hold no samples.")


def _check_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    if y is None:
        raise ValueError(f"{name} is required.")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got {y.shape}.")
    if len(y) != n:
        raise ValueError(
            f"{name} has {len(y)} labels but the activations have {n} samples."
        )
    return y


def unit_matrix(
    activations: Any, reduce: Reduce = "mean", *, what: str = "activations"
) -> np.ndarray:
    """Activations as ``(n_samples, n_units)``, non-finite values masked.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
    reduce : {"mean", "flatten"}, default="mean"
        For more than two dimensions: ``"mean"`` makes each channel (axis 1)
        one unit, valued by its mean over the remaining axes (NaN ignored);
        ``"flatten"`` makes every element a unit.
    what : str
        Name used in warnings and errors.

    Returns
    -------
    ndarray of shape (n_samples, n_units)
    """
    if reduce not in ("mean", "flatten"):
        raise ValueError(f"reduce must be 'mean' or 'flatten', got {reduce!r}.")
    A = mask_nonfinite(activations, what)
    _check_samples(A, what)
    if A.ndim == 2:
        return A
    if reduce == "flatten":
        return A.reshape(len(A), -1)
    with warnings.catch_warnings():
        # An all-NaN feature map gives NaN, which is what masking means.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(A.reshape(A.shape[0], A.shape[1], -1), axis=2)


# ----------------------------------------------------------------------
# Dead and saturated units
# ----------------------------------------------------------------------


def _resolve_bounds(bounds: Bounds) -> tuple[float, float]:
    if isinstance(bounds, str):
        try:
            return SATURATION_BOUNDS[bounds]
        except KeyError:
            raise ValueError(
                f"Unknown saturating activation {bounds!r}; use one of "
                f"{sorted(SATURATION_BOUNDS)} or a (low, high) pair of asymptotes."
            ) from None
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(
            f"bounds must be 'tanh', 'sigmoid' or a (low, high) pair, got {bounds!r}."
        ) from None
    if not lo < hi:
        raise ValueError(f"bounds must satisfy low < high, got {(lo, hi)}.")
    return lo, hi


def _channel_view(A: np.ndarray, per_channel: bool) -> np.ndarray:
    """``(n, units, positions)``: units are channels (axis 1) or elements."""
    if A.ndim == 2 or not per_channel:
        return A.reshape(len(A), -1, 1)
    return A.reshape(A.shape[0], A.shape[1], -1)


def _activity(A: np.ndarray, tol: float, per_channel: bool) -> np.ndarray:
    """Per sample and unit: active anywhere (any position > tol)."""
    with np.errstate(invalid="ignore"):
        return (_channel_view(A, per_channel) > tol).any(axis=2)


def saturation_fraction(
    activations: Any,
    bounds: Bounds = "tanh",
    *,
    margin: float = 0.05,
    per_channel: bool = True,
) -> np.ndarray:
    """Fraction of values of each unit within ``margin`` of an asymptote.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
        Values after the bounded activation (e.g. the output of ``nn.Tanh``).
    bounds : {"tanh", "sigmoid"} or (low, high), default="tanh"
        The asymptotes: ``(-1, 1)`` for tanh, ``(0, 1)`` for sigmoid.
    margin : float, default=0.05
        A value ``a`` is saturated when ``a <= low + margin`` or
        ``a >= high - margin`` (tanh: ``|a| >= 0.95``, reached for
        ``|x| >= 1.83``; sigmoid: ``a <= 0.05`` or ``a >= 0.95``).
    per_channel : bool, default=True
        For more than two dimensions, a unit is a channel (axis 1) and the
        fraction is taken over all its positions on all samples; with
        False every element is a unit.

    Returns
    -------
    ndarray of shape (n_units,)
        NaN for a unit with no finite value.
    """
    lo, hi = _resolve_bounds(bounds)
    if not 0 <= margin < (hi - lo) / 2:
        raise ValueError(
            f"margin must be in [0, {(hi - lo) / 2}) for bounds {(lo, hi)}, "
            f"got {margin}."
        )
    A = np.asarray(activations, dtype=float)
    _check_samples(A)
    V = _channel_view(A, per_channel)
    finite = np.isfinite(V)
    with np.errstate(invalid="ignore"):
        near = ((V <= lo + margin) | (V >= hi - margin)) & finite
    count = finite.sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, near.sum(axis=(0, 2)) / count, np.nan)


def activity_by_class(
    activations: Any, y: Any, tol: float = 0.0, *, per_channel: bool = True
) -> pd.DataFrame:
    """Fraction of the samples of each class on which each unit is active.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
    y : array-like of shape (n_samples,)
        Class of each sample (true or predicted, as the question needs).
    tol : float, default=0.0
        Active means value > ``tol``; masked (non-finite) values never are.
    per_channel : bool, default=True
        For more than two dimensions, a channel (axis 1) is active on a
        sample when any of its positions is.

    Returns
    -------
    pandas.DataFrame
        Index: the sorted class labels (``class``); columns: unit indices
        (``unit``). ``(table == 0).all()`` marks units that fire for no class.
    """
    A = mask_nonfinite(activations)
    _check_samples(A)
    y = _check_labels(y, len(A))
    active = _activity(A, tol, per_channel)
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    sums = np.zeros((len(classes), active.shape[1]))
    np.add.at(sums, inverse, active)
    table = pd.DataFrame(
        sums / counts[:, None],
        index=pd.Index(classes, name="class"),
        columns=pd.RangeIndex(active.shape[1], name="unit"),
    )
    return table


def unit_report(
    activations: Mapping[str, Any],
    *,
    y: Any = None,
    tol: float = 0.0,
    saturation_bounds: Mapping[str, Bounds | None] | None = None,
    saturation_margin: float = 0.05,
    saturation_threshold: float = 0.95,
    per_channel: bool = True,
) -> pd.DataFrame:
    """Tidy report of active, dead and saturated units over several layers.

    Parameters
    ----------
    activations : mapping of str to ndarray
        Layer name -> activations of shape ``(n_samples, n_units)`` or
        ``(n_samples, C, ...)``, as returned by ``net.transform_layers``;
        every layer must hold the same samples.
    y : array-like of shape (n_samples,), optional
        Class labels; adds the column ``n_classes_active``.
    tol : float, default=0.0
        A unit is active on a sample when its value is > ``tol``.
    saturation_bounds : mapping of str to {"tanh", "sigmoid", (low, high), None}, optional
        Asymptotes of the layers whose output is bounded; saturation is
        only computed for these layers (NaN / False elsewhere).
    saturation_margin : float, default=0.05
        See :func:`saturation_fraction`.
    saturation_threshold : float, default=0.95
        A unit is saturated when at least this fraction of its values are
        within ``saturation_margin`` of an asymptote.
    per_channel : bool, default=True
        For layers with more than two dimensions (conv), a unit is a
        channel: active on a sample when any of its positions is.

    Returns
    -------
    pandas.DataFrame
        One row per (layer, unit), in layer order, with columns ``layer``,
        ``unit``, ``active_fraction``, ``dead`` (never active),
        ``saturated_fraction``, ``saturated`` and, with ``y``,
        ``n_classes_active`` (number of classes on which the unit fires at
        least once). ``report.query("dead")`` lists the units that fire for
        no sample of any class. A tanh unit stuck near -1 is both dead
        (never > ``tol``) and saturated.
    """
    if not isinstance(activations, Mapping) or not activations:
        raise ValueError(
            "activations must be a non-empty mapping of layer name to array, "
            "as returned by net.transform_layers."
        )
    if not 0 < saturation_threshold <= 1:
        raise ValueError(
            f"saturation_threshold must be in (0, 1], got {saturation_threshold}."
        )
    bounds = dict(saturation_bounds or {})
    unknown = sorted(set(bounds) - set(activations))
    if unknown:
        raise ValueError(
            f"saturation_bounds names layers that are not in activations: {unknown}."
        )
    n = None
    frames = []
    for layer, values in activations.items():
        A = mask_nonfinite(values, f"activations of {layer!r}")
        _check_samples(A, f"activations of {layer!r}")
        if n is None:
            n = len(A)
            y_arr = None if y is None else _check_labels(y, n)
        elif len(A) != n:
            raise ValueError(
                f"activations of {layer!r} have {len(A)} samples, the first layer "
                f"{n}; all layers must hold the same samples."
            )
        active = _activity(A, tol, per_channel)
        frame = pd.DataFrame(
            {
                "layer": layer,
                "unit": np.arange(active.shape[1]),
                "active_fraction": active.mean(axis=0),
            }
        )
        frame["dead"] = frame["active_fraction"] == 0
        if bounds.get(layer) is not None:
            sat = saturation_fraction(
                A, bounds[layer], margin=saturation_margin, per_channel=per_channel
            )
            frame["saturated_fraction"] = sat
            frame["saturated"] = np.nan_to_num(sat) >= saturation_threshold
        else:
            frame["saturated_fraction"] = np.nan
            frame["saturated"] = False
        if y_arr is not None:
            classes, inverse = np.unique(y_arr, return_inverse=True)
            fired = np.zeros((len(classes), active.shape[1]), dtype=bool)
            np.logical_or.at(fired, inverse, active)
            frame["n_classes_active"] = fired.sum(axis=0)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------
# Class profiles
# ----------------------------------------------------------------------


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
    y = _check_labels(y, len(A))
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
    y = _check_labels(y, len(A))
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
    y_true = _check_labels(y_true, n, "y_true")
    y_pred = _check_labels(y_pred, n, "y_pred")
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
    y_true = _check_labels(y_true, len(A), "y_true")
    y_pred = _check_labels(y_pred, len(A), "y_pred")
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


# ----------------------------------------------------------------------
# Training history
# ----------------------------------------------------------------------

_NOT_METRICS = {"epoch", "dur", "batches"}


def history_frame(history: Any) -> pd.DataFrame:
    """Per-epoch numbers of a skorch ``History`` as a DataFrame.

    Parameters
    ----------
    history : skorch.history.History or list of dict
        ``net.history``; nothing is re-recorded.

    Returns
    -------
    pandas.DataFrame
        Index ``epoch`` (skorch's 1-based epoch numbers, or 1..n when a row
        has none); one float column per numeric scalar key (losses,
        scores, ...) and one bool column per ``*_best`` flag. Durations,
        batch lists and ``*_count`` bookkeeping are left out. A key missing
        in some epochs is NaN there.
    """
    rows = history.to_list() if hasattr(history, "to_list") else list(history)
    if not rows:
        raise ValueError("The history is empty: the net has not been trained yet.")
    if not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(
            "history must be a skorch History or a list of dicts (one per epoch)."
        )
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    data = {}
    for key in keys:
        if key in _NOT_METRICS or key.endswith("_count"):
            continue
        values = [r.get(key) for r in rows]
        present = [v for v in values if v is not None]
        if key.endswith("_best"):
            if all(isinstance(v, bool | np.bool_) for v in present):
                data[key] = [bool(v) if v is not None else False for v in values]
            continue
        if present and all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool)
            for v in present
        ):
            data[key] = [np.nan if v is None else float(v) for v in values]
    return pd.DataFrame(data, index=pd.Index(epochs, name="epoch"))
