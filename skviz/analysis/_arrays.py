"""Masking, input checks and the one reduction of layer outputs to units."""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Literal

import numpy as np

#: How :func:`unit_matrix` makes units of a layer output with positions.
Reduce = Literal["mean", "flatten"]

_REDUCTIONS = ("mean", "max", "sum", "flatten")


class NonFiniteWarning(UserWarning):
    """Activations held NaN or inf; those values were masked (ignored)."""


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


def check_samples(A: np.ndarray, name: str = "activations") -> None:
    """Raise unless ``A`` is ``(n_samples, n_units, ...)`` with samples."""
    if A.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_units, ...), got shape {A.shape}."
        )
    if A.shape[0] == 0:
        raise ValueError(f"{name} hold no samples.")


def check_label_types(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as an array whose labels are all numbers or all strings.

    Labels of mixed types (``[1, "a", 2.0]``) cannot be sorted or compared,
    so every grouping by class would fail somewhere inside numpy.
    """
    y = np.asarray(y)
    if y.dtype == object and y.size:
        kinds = {
            "number" if isinstance(v, numbers.Number) else type(v).__name__
            for v in y.ravel()
        }
        if len(kinds) > 1:
            raise TypeError(
                f"{name} mixes labels of different types ({', '.join(sorted(kinds))}); "
                "give every label the same type, e.g. y.astype(str)."
            )
    return y


def check_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array of ``n`` labels of one type."""
    if y is None:
        raise ValueError(f"{name} is required.")
    y = check_label_types(y, name)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got {y.shape}.")
    if len(y) != n:
        raise ValueError(
            f"{name} has {len(y)} labels but the activations have {n} samples."
        )
    return y


def reduce_units(
    activations: Any,
    reduce: Literal["mean", "max", "sum", "flatten"] = "mean",
    *,
    dtype: Any = None,
) -> np.ndarray:
    """A layer output as one column per unit, ``(n_samples, n_units)``.

    The one place where outputs with positions (conv feature maps
    ``(n, C, H, W)``, sequences ``(n, C, L)``) become units; every function
    of this module and every display that works per unit goes through it.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_units) or (n_samples, C, ...)
        Two-dimensional input is returned as it is.
    reduce : {"mean", "max", "sum", "flatten"}, default="mean"
        For more than two dimensions: ``"mean"``, ``"max"`` and ``"sum"``
        make each channel (axis 1) one unit, valued by the mean, the
        maximum or the sum over its positions (all remaining axes), NaN
        left out; a channel with no value left is NaN (0 for ``"sum"``).
        ``"flatten"`` makes every element a unit. On booleans, ``"max"``
        says whether any position is True and ``"sum"`` counts them.
    dtype : dtype, optional
        Accumulator and result type of ``"mean"`` and ``"sum"`` (e.g.
        ``np.float64`` for float32 activations); numpy's default when None.

    Returns
    -------
    ndarray of shape (n_samples, n_units)
        Infinite values are not masked here: :func:`unit_matrix` masks
        (with a warning) and then reduces.
    """
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce must be one of {list(_REDUCTIONS)}, got {reduce!r}.")
    A = np.asarray(activations)
    if A.ndim < 2:
        raise ValueError(
            f"activations must have shape (n_samples, n_units, ...), got {A.shape}."
        )
    if A.ndim == 2:
        return A
    if reduce == "flatten":
        return A.reshape(len(A), -1)
    positions = A.reshape(A.shape[0], A.shape[1], -1)
    with warnings.catch_warnings():
        # An all-NaN channel gives NaN, which is what masking means.
        warnings.simplefilter("ignore", RuntimeWarning)
        if reduce == "mean":
            return np.nanmean(positions, axis=2, dtype=dtype)
        if reduce == "sum":
            return np.nansum(positions, axis=2, dtype=dtype)
        return np.nanmax(positions, axis=2)


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
        ``"flatten"`` makes every element a unit. See :func:`reduce_units`.
    what : str
        Name used in warnings and errors.

    Returns
    -------
    ndarray of shape (n_samples, n_units)
    """
    if reduce not in ("mean", "max", "flatten"):
        raise ValueError(f"reduce must be 'mean', 'max' or 'flatten', got {reduce!r}.")
    A = mask_nonfinite(activations, what)
    check_samples(A, what)
    return reduce_units(A, reduce)
