"""Numbers behind the pictures: computed from activation arrays, no torch.

Every function here takes plain arrays (as returned by
``transform_layer``) so that scripts can use the numbers without plotting.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dead_units", "unit_activity"]


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
