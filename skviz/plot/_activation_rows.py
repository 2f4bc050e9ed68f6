"""The numbers and texts behind ActivationDisplay: units per column, samples
per row.

Everything here runs before anything is drawn: checks of the arguments,
the reduction of conv outputs to channels, and the row layout (samples
grouped by class, class means or an even subsample) with its labels.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import analysis
from ..analysis import reduce_units
from .base import class_label

REDUCE = ("auto", "mean", "max", "flatten")
ROWS = ("auto", "samples", "class_mean", "subsample")
_MAX_DEAD_LISTED = 12


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")


def check_rows(rows, max_rows) -> None:
    check_choice("rows", rows, ROWS)
    if max_rows is not None and (
        isinstance(max_rows, bool)
        or not isinstance(max_rows, numbers.Integral)
        or max_rows < 1
    ):
        raise ValueError(
            f"max_rows must be a positive integer or None, got {max_rows!r}."
        )


def check_annotate(annotate) -> None:
    if annotate != "auto" and not isinstance(annotate, bool):
        raise ValueError(f"annotate must be 'auto', True or False, got {annotate!r}.")


def check_before_capture(X, y, layer, reduce, rows, max_rows, annotate) -> None:
    """The arguments of ``from_estimator``, checked before any forward pass."""
    check_choice("reduce", reduce, REDUCE)
    check_rows(rows, max_rows)
    check_annotate(annotate)
    if layer is None:
        raise TypeError("ActivationDisplay needs the layer to draw.")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a str, got {type(layer).__name__}.")
    if y is not None:
        # Checked where X tells its length cheaply; dicts and Datasets are
        # checked against the activations instead.
        shape = getattr(X, "shape", None)
        n_expected = shape[0] if shape is not None and len(shape) else None
        as_1d(y, "y", n_expected)


def checked_inputs(activations, y_true, y_pred, targets, sample_ids):
    """What the constructor stored, checked: ``(A, y_true, y_pred, targets, ids)``.

    Labels are 1-D arrays of one value per sample (or None); ``targets``
    only count without labels; ``ids`` default to the sample positions.
    """
    A = np.asarray(activations)
    if A.ndim < 1 or A.shape[0] == 0:
        raise ValueError(
            "activations must hold at least one sample, shape "
            f"(n_samples, n_units, ...); got shape {A.shape}."
        )
    if A.dtype.kind not in "biuf":
        raise ValueError(f"activations must be numeric, got dtype {A.dtype}.")
    n = A.shape[0]
    y_true = as_1d(y_true, "y_true", n)
    y_pred = as_1d(y_pred, "y_pred", n)
    if y_true is not None or y_pred is not None:
        targets = None
    elif targets is not None:
        targets = as_1d(targets, "targets", n)
        if targets.dtype.kind not in "biuf":
            raise ValueError(
                f"targets must be numeric, got dtype {targets.dtype}; for class "
                "labels pass y_true."
            )
    ids = as_1d(sample_ids, "sample_ids", n)
    if ids is None:
        ids = np.arange(n)
    return A, y_true, y_pred, targets, ids


def as_1d(values, name: str, n: int | None) -> np.ndarray | None:
    """One value per sample as a 1-D array (None stays None)."""
    if values is None:
        return None
    arr = np.asarray(values)
    if name in ("y", "y_true", "y_pred"):
        arr = analysis.check_label_types(arr, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one value per sample (1-D), got shape {arr.shape}."
        )
    if n is not None and len(arr) != n:
        raise ValueError(
            f"{name} has {len(arr)} values but there are {n} samples of activations."
        )
    return arr


def class_text(c, class_names=None) -> str:
    """``class_names[c]`` when given, else ``"class 1"`` for label 1."""
    if class_names is not None:
        return class_label(c, class_names)
    if isinstance(c, numbers.Real) and not isinstance(c, bool):
        return f"class {int(c)}" if float(c).is_integer() else f"class {c}"
    return str(c)


def _short_class_text(c, class_names=None) -> str:
    text = class_text(c, class_names)
    return text if class_names is not None else text.removeprefix("class ")


def activation_name(activation) -> str | None:
    if activation is None or isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


def value_format(data: np.ndarray) -> str:
    finite = np.abs(data[np.isfinite(data)])
    top = float(finite.max()) if finite.size else 0.0
    if top < 10:
        return ".2f"
    if top < 100:
        return ".1f"
    return ".3g"


def list_units(units: np.ndarray) -> str:
    shown = ", ".join(map(str, units[:_MAX_DEAD_LISTED]))
    extra = len(units) - _MAX_DEAD_LISTED
    return shown + (f", … (+{extra})" if extra > 0 else "")


def reduce_columns(A: np.ndarray, reduce: str):
    """Values to plot, values that decide activity, and what was done.

    Both arrays are ``(n_samples, n_columns)``. A channel counts as active
    on a sample when any of its positions is, whatever the plotted summary.
    """
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim == 2:
        return A, A, None
    how = reduce
    if reduce == "auto":
        # (n, C, H, W...) are feature maps; (n, a, b) could be (n, C, L) as well
        # as (n, T, H) from a recurrent layer, so nothing is averaged away.
        how = "flatten" if A.ndim == 3 else "mean"
    if how == "flatten":
        flat = reduce_units(A, "flatten")
        dims = "×".join(map(str, A.shape[1:]))
        return flat, flat, f"{dims} flattened"
    # Means add up in float64, so that large float32 maps keep their digits.
    values = reduce_units(A, how, dtype=np.float64 if how == "mean" else None)
    size = "×".join(map(str, A.shape[2:]))
    return values, reduce_units(A, "max"), f"{how} over {size} per channel"


def _quotas(sizes: np.ndarray, total: int) -> np.ndarray:
    """Rows per group, proportional to group size, at least one each."""
    exact = sizes * total / sizes.sum()
    quota = np.minimum(np.maximum(np.floor(exact).astype(int), 1), sizes)
    left = total - int(quota.sum())
    for i in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if left <= 0:
            break
        if quota[i] < sizes[i]:
            quota[i] += 1
            left -= 1
    return quota


@dataclass
class Rows:
    """The rows of the heatmap: which samples, labelled how."""

    members: list[np.ndarray]
    labels: list[str]
    groups: np.ndarray | None
    wrong: np.ndarray
    mode: str
    boundaries: list[int]


def layout(
    n: int,
    *,
    y_true,
    y_pred,
    targets,
    sample_ids,
    rows: str,
    max_rows: int | None,
    class_names=None,
) -> Rows:
    """Group the ``n`` samples into rows, per class when classes are known."""
    key = y_true if y_true is not None else y_pred
    wrong = (
        np.asarray(y_true != y_pred)
        if y_true is not None and y_pred is not None
        else np.zeros(n, dtype=bool)
    )
    if key is not None:
        classes, codes = np.unique(key, return_inverse=True)
        codes = codes.reshape(-1)
        order = np.argsort(codes, kind="stable")
        groups = [order[codes[order] == k] for k in range(len(classes))]
    else:
        classes = None
        groups = [np.arange(n)]

    too_many = max_rows is not None and n > max_rows
    mode = rows
    if rows == "auto":
        if not too_many:
            mode = "samples"
        else:
            mode = "class_mean" if key is not None else "subsample"
    if mode == "class_mean" and key is None:
        raise ValueError(
            "rows='class_mean' needs class labels: pass y (or use a classifier, "
            "whose predictions group the rows)."
        )
    if mode == "subsample" and not too_many:
        mode = "samples"

    prefix = "" if y_true is not None or key is None else "pred "
    if mode == "class_mean":
        labels = []
        for c, members in zip(classes, groups, strict=True):
            label = f"{prefix}{class_text(c, class_names)} · mean of {len(members)}"
            n_wrong = int(wrong[members].sum())
            if n_wrong:
                label += f" ({n_wrong} misclassified)"
            labels.append(label)
        return Rows(
            members=list(groups),
            labels=labels,
            groups=np.asarray(classes),
            wrong=np.zeros(len(groups), dtype=bool),
            mode=mode,
            boundaries=[],
        )

    if mode == "subsample":
        sizes = np.asarray([len(g) for g in groups])
        quota = _quotas(sizes, int(max_rows))
        picked = []
        for g, q in zip(groups, quota, strict=True):
            at = np.unique(np.linspace(0, len(g) - 1, int(q)).round().astype(int))
            picked.append(g[at])
        groups = picked

    members, labels, row_groups, row_wrong, boundaries = [], [], [], [], []
    for k, g in enumerate(groups):
        if k:
            boundaries.append(len(members))
        for i in g:
            label = f"#{sample_ids[i]}"
            if key is not None:
                label += f"  {prefix}{class_text(key[i], class_names)}"
                if wrong[i]:
                    label += f" → pred {_short_class_text(y_pred[i], class_names)}"
                row_groups.append(key[i])
            elif targets is not None:
                label += f"  y={targets[i]:.3g}"
            members.append(np.asarray([i]))
            labels.append(label)
            row_wrong.append(bool(wrong[i]))
    return Rows(
        members=members,
        labels=labels,
        groups=np.asarray(row_groups) if key is not None else None,
        wrong=np.asarray(row_wrong, dtype=bool),
        mode=mode,
        boundaries=boundaries,
    )


def finite_mean(values: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Row means over the given samples, ignoring NaN/inf (NaN if none left)."""
    out = np.empty((len(members), values.shape[1]), dtype=np.float64)
    for r, idx in enumerate(members):
        block = values[idx]
        finite = np.isfinite(block)
        count = finite.sum(axis=0)
        total = np.where(finite, block, 0.0).sum(axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[r] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out
