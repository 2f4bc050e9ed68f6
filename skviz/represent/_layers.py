"""Which layers, in which order, and one batch's arrays as features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..layers import LayerRef, check_module_names
from ..reports import default_report_layers

Pool = Literal["flatten", "mean", "max"]
POOLS = ("flatten", "mean", "max")


def head(X, rows: int = 5):
    """The first few samples of X for a discovery pass (dask computed)."""
    if type(X).__module__.startswith("dask.array"):
        return np.asarray(X[:rows].compute())
    return X


def check_pool(pool) -> None:
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}.")


def layers_in_order(net, X, layers: Sequence[str] | None) -> list[str]:
    """``layers`` (default: the net's hidden and output layers) in forward order.

    The default is :func:`skviz.reports.default_report_layers` with the
    output layer. Given layers are sorted by when their module's run ends in
    a forward pass of five samples; references the discovery does not list
    by name (a tuple element, say) keep their place after the others.
    """
    sample = head(X)
    if layers is None:
        return list(default_report_layers(net, sample, include_output=True))
    if isinstance(layers, str):
        raise TypeError(f"layers must be a list of layer names, got {layers!r}.")
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; pass at least one layer name or None.")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers contains duplicates: {layers}.")
    known = net.layer_names()
    check_module_names([LayerRef.parse(n, known).module for n in layers], known)
    order = {}
    for position, info in enumerate(net.layer_info(sample)):
        order.setdefault(info.ref, position)
    return sorted(layers, key=lambda name: order.get(name, len(order)))


def as_features(values: np.ndarray, pool: Pool) -> np.ndarray:
    """One batch's output as ``(rows, features)``: flattened, or pooled per channel.

    Pooling treats axis 1 as channels and takes the mean or maximum over the
    remaining axes (positions of a conv output).
    """
    rows = values.shape[0]
    if pool == "flatten" or values.ndim <= 2:
        return values.reshape(rows, -1)
    grouped = values.reshape(rows, values.shape[1], -1)
    return grouped.mean(axis=2) if pool == "mean" else grouped.max(axis=2)


def check_finite(values: np.ndarray, layer: str, start: int) -> None:
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(1))
        raise ValueError(
            f"Layer {layer!r} gives NaN or infinite values for sample(s) "
            f"{(bad[:5] + start).tolist()}; CKA and probes need finite activations."
        )
