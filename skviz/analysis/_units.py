"""Active, dead and saturated units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._arrays import check_labels, check_samples, mask_nonfinite, reduce_units
from ._rules import DEAD_RULES, DeadRule

#: Asymptotes of the bounded activations that can saturate.
SATURATION_BOUNDS: dict[str, tuple[float, float]] = {
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
}

Bounds = str | tuple[float, float]


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
    A = np.asarray(activations)
    check_samples(A)
    A = reduce_units(A, "flatten")
    with np.errstate(invalid="ignore"):
        return (A > tol).mean(axis=0)


def dead_units(activations: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Indices of units never active (> ``tol``) on any of the given samples."""
    return np.flatnonzero(unit_activity(activations, tol) == 0)


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


def _activity(A: np.ndarray, tol: float, per_channel: bool) -> np.ndarray:
    """Per sample and unit: active anywhere (any position > tol)."""
    with np.errstate(invalid="ignore"):
        return reduce_units(A > tol, "max" if per_channel else "flatten")


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
    check_samples(A)
    finite = np.isfinite(A)
    with np.errstate(invalid="ignore"):
        near = ((A <= lo + margin) | (A >= hi - margin)) & finite
    # Counts per unit over all its positions on all samples.
    how = "sum" if per_channel else "flatten"
    count = reduce_units(finite, how).sum(axis=0)
    n_near = reduce_units(near, how).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, n_near / count, np.nan)


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
    check_samples(A)
    y = check_labels(y, len(A))
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
    rules: Mapping[str, DeadRule] | None = None,
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
    rules : mapping of str to {"relu", "negative_slope", "saturation", "none"}, optional
        How each layer's units are judged (see :func:`dead_rule`); layers
        not named are judged by ``"relu"``, the test ``never > tol``.
        ``dead`` is only ever True under ``"relu"`` and
        ``"negative_slope"``; under ``"saturation"`` the ``saturated``
        column is what marks a unit, and under ``"none"`` nothing does.

    Returns
    -------
    pandas.DataFrame
        One row per (layer, unit), in layer order, with columns ``layer``,
        ``unit``, ``active_fraction``, ``dead`` (never active),
        ``saturated_fraction``, ``saturated`` and, with ``y``,
        ``n_classes_active`` (number of classes on which the unit fires at
        least once), and ``rule`` (the layer's rule). ``report.query("dead")``
        lists the units that fire for no sample of any class. A tanh unit
        stuck near -1 is saturated, not dead. ``report.attrs`` holds what
        the numbers were computed on: ``n_samples``, ``tol``,
        ``channel_layers`` (the layers whose units are channels) and
        ``rules`` (layer -> rule).
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
    rules = {layer: "relu" for layer in activations} | dict(rules or {})
    bad = {k: v for k, v in rules.items() if v not in DEAD_RULES}
    if bad:
        raise ValueError(f"rules must be one of {list(DEAD_RULES)}, got {bad}.")
    unknown = sorted((set(bounds) | set(rules)) - set(activations))
    if unknown:
        raise ValueError(
            "saturation_bounds or rules name layers that are not in "
            f"activations: {unknown}."
        )
    n = None
    frames = []
    for layer, values in activations.items():
        A = mask_nonfinite(values, f"activations of {layer!r}")
        check_samples(A, f"activations of {layer!r}")
        if n is None:
            n = len(A)
            y_arr = None if y is None else check_labels(y, n)
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
        frame["dead"] = (frame["active_fraction"] == 0) & (
            rules[layer] in ("relu", "negative_slope")
        )
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
        frame["rule"] = rules[layer]
        frames.append(frame)
    report = pd.concat(frames, ignore_index=True)
    report.attrs.update(
        n_samples=n,
        tol=tol,
        channel_layers=[
            k for k, v in activations.items() if np.ndim(v) > 2 and per_channel
        ],
        rules=rules,
    )
    return report
