"""Checks of what callers pass to the animations, before any work is done."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

__all__ = [
    "PROJECTIONS",
    "check_X",
    "check_activations",
    "check_decision_regions",
    "check_embed_limit",
    "check_fps",
    "check_int",
    "check_layers",
    "check_net",
    "check_padding",
    "check_positive",
    "check_projection",
    "check_y",
    "input_names",
]

PROJECTIONS = ("pca", "3d")


def check_int(name: str, value, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_positive(name: str, value) -> float:
    """A finite number > 0, such as a frame rate or a resolution."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        # also refuses NaN, and infinity, which would give frames of 0 ms
        or not 0 < value < math.inf
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def check_embed_limit(embed_limit) -> float:
    """A size limit in MB: a number > 0, infinity for none."""
    if (
        isinstance(embed_limit, bool)
        or not isinstance(embed_limit, numbers.Real)
        or not embed_limit > 0  # also refuses NaN
    ):
        raise ValueError(
            f"embed_limit must be a number of MB > 0 (math.inf for no limit), "
            f"got {embed_limit!r}."
        )
    return float(embed_limit)


# A GIF stores each frame's delay in hundredths of a second, at most 655.35 s;
# players treat delays under 10 ms as 100 ms.
MIN_FPS, MAX_FPS = 1 / 600, 100.0


def check_fps(fps) -> float:
    """A frame rate every writer can store: 1/600 to 100 frames per second."""
    fps = check_positive("fps", fps)
    if not MIN_FPS <= fps <= MAX_FPS:
        raise ValueError(
            f"fps must be between {MIN_FPS:.4f} (one frame per 10 minutes) and "
            f"{MAX_FPS:g} frames per second, got {fps!r}."
        )
    return fps


def check_projection(projection) -> str:
    if projection not in PROJECTIONS:
        raise ValueError(
            f"projection must be one of {list(PROJECTIONS)}, got {projection!r}."
        )
    return projection


def check_net(net, index: int | None = None) -> None:
    """A fitted inspectable net whose samples are points of the plane."""
    from sklearn.utils.validation import check_is_fitted

    which = "net" if index is None else f"nets[{index}]"
    if not hasattr(net, "transform_layers"):
        raise TypeError(
            f"{which} must be an skviz inspectable net (e.g. "
            "skviz.InspectableNeuralNetClassifier), got "
            f"{type(net).__name__}."
        )
    check_is_fitted(net)
    shape = getattr(net, "input_shape_", None)
    if shape is not None and tuple(shape) != (2,):
        raise ValueError(
            f"LayerTransformAnimation supports nets whose input is 2 features per "
            f"sample (X of shape (n_samples, 2)), so that the input is a plane; "
            f"{which} was fitted on samples of shape {tuple(shape)}."
        )


def check_X(X) -> tuple[np.ndarray, list[str] | None, pd.DataFrame | None]:
    """The samples as a float64 (n, 2) array, their feature names, the frame."""
    frame = X if isinstance(X, pd.DataFrame) else None
    names = None
    if frame is not None:
        names = [str(c) for c in frame.columns]
        if not all(pd.api.types.is_numeric_dtype(dt) for dt in frame.dtypes):
            raise ValueError("X must hold numbers only; got non-numeric columns.")
        arr = frame.to_numpy(dtype=np.float64)
    elif isinstance(X, torch.Tensor):
        arr = X.detach().cpu().numpy().astype(np.float64)
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"X must be numeric, got an array of dtype {arr.dtype}.")
        arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            "LayerTransformAnimation supports 2-D inputs only: X of shape "
            f"(n_samples, 2), one point of the plane per sample; got shape "
            f"{arr.shape}."
        )
    if len(arr) < 3:
        raise ValueError(f"X needs at least 3 samples, got {len(arr)}.")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinity.")
    return arr, names, frame


def check_y(y, n: int) -> np.ndarray | None:
    """One label per sample (a column vector is accepted), or None."""
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"y must hold one label per sample ({n}), got shape {arr.shape}."
        )
    return arr


def check_layers(layers) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        raise TypeError("layers must be a list of layer names, e.g. ['fc1', 'act1'].")
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; pass at least one layer name, or None.")
    if not all(isinstance(name, str) for name in layers):
        raise TypeError(f"layers must be strings, got {layers!r}.")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers contains duplicates: {layers}.")
    return layers


def check_activations(activations, n_nets: int) -> list:
    """One mapping (or None) per net.

    With one net, a dict is that net's. With several nets a single dict is
    refused: the nets need not share their activations (a ReLU meant for
    one net would be applied to a tanh net and named after it), so the
    caller says which goes where with one entry per net.
    """
    if activations is None:
        return [None] * n_nets
    if isinstance(activations, Mapping):
        if n_nets == 1:
            return [activations]
        raise ValueError(
            f"activations is one dict for {n_nets} nets; the nets need not "
            "share their activations, so pass one entry per net, in the order "
            "of nets: activations=[{'fc1': 'tanh'}, {'fc1': 'relu'}, ...] "
            "(None for a net without functional activations), or "
            f"[activations] * {n_nets} to apply the same dict to every net."
        )
    if isinstance(activations, str) or not isinstance(activations, Sequence):
        raise TypeError(
            "activations must be a dict such as {'fc1': 'relu'} (one net) or a "
            f"list with one dict or None per net, got {type(activations).__name__}."
        )
    per_net = list(activations)
    if len(per_net) != n_nets:
        raise ValueError(
            f"activations has {len(per_net)} entries for {n_nets} nets; pass "
            "one dict (or None) per net, in the order of nets."
        )
    for i, entry in enumerate(per_net):
        if entry is not None and not isinstance(entry, Mapping):
            raise TypeError(
                f"activations[{i}] must be a dict such as {{'fc1': 'relu'}} or "
                f"None, got {type(entry).__name__}."
            )
    return per_net


def check_padding(padding) -> float:
    if not isinstance(padding, numbers.Real) or not padding >= 0:
        raise ValueError(f"padding must be a number >= 0, got {padding!r}.")
    return float(padding)


def check_decision_regions(decision_regions, predict_proba_stage, nets) -> bool:
    """Whether to shade decision regions; both need classifiers.

    ``"auto"`` shades them when every net is a classifier.
    """
    from sklearn.base import is_classifier

    if decision_regions not in ("auto", True, False):
        raise ValueError(
            f"decision_regions must be True, False or 'auto', got {decision_regions!r}."
        )
    if decision_regions == "auto":
        decision_regions = all(is_classifier(n) for n in nets)
    for what, wanted in (
        ("decision_regions=True", decision_regions),
        ("predict_proba_stage=True", predict_proba_stage),
    ):
        if wanted and not all(is_classifier(n) for n in nets):
            raise ValueError(
                f"{what} needs classifiers (class probabilities from "
                "predict_proba); at least one net is not a classifier."
            )
    return decision_regions


def input_names(nets, X_names: list[str] | None) -> list[str] | None:
    """Names of the two input features: X's columns, else those nets were fitted with.

    A net fitted on a DataFrame must be shown a DataFrame with the same
    columns.
    """
    names = X_names
    for i, net in enumerate(nets):
        fitted = getattr(net, "feature_names_in_", None)
        if fitted is None:
            continue
        fitted = [str(c) for c in fitted]
        if X_names is None:
            names = names or fitted
        elif fitted != X_names:
            raise ValueError(
                f"The columns of X {X_names} differ from the feature names the "
                f"net{'' if len(nets) == 1 else f's[{i}]'} was fitted with "
                f"{fitted}."
            )
    return names
