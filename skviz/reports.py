"""Reports computed from a fitted net: capture its layers, then :mod:`skviz.analysis`.

The analysis functions take arrays; the functions here take the net, choose
the layers, run ONE capture pass through its public API
(``net.capture_layers``) and hand the arrays to :mod:`skviz.analysis`.
Displays and the net's convenience methods build on them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import analysis
from .layers import LayerRef

__all__ = ["dead_units_report", "default_report_layers"]

ActivationSpec = str | Callable | None


def _pass_through_types():
    from torch import nn

    # Their output repeats their input (in eval mode), so listing them
    # would only repeat the previous layer's rows.
    return (
        nn.Dropout,
        nn.Dropout1d,
        nn.Dropout2d,
        nn.Dropout3d,
        nn.AlphaDropout,
        nn.FeatureAlphaDropout,
        nn.Flatten,
        nn.Unflatten,
        nn.Identity,
    )


def _module_bounds(module) -> tuple[float, float] | None:
    """Asymptotes of a bounded activation module, None for the others."""
    from torch import nn

    if isinstance(module, nn.Tanh | nn.Softsign):
        return (-1.0, 1.0)
    if isinstance(module, nn.Sigmoid | nn.Hardsigmoid):
        return (0.0, 1.0)
    if isinstance(module, nn.Hardtanh):  # also ReLU6
        return (float(module.min_val), float(module.max_val))
    return None


def default_report_layers(net, X) -> list[str]:
    """Leaf layers that run once and return one tensor, pass-through excluded.

    Found with the net's layer discovery (:meth:`layer_info`: one forward
    pass of the first few samples), in forward order.
    """
    skip = _pass_through_types()
    modules = dict(net.inspected_module().named_modules())
    layers = [
        info.ref
        for info in net.layer_info(X)
        if info.calls == 1
        and info.is_tensor
        and info.shape is not None
        and info.is_leaf
        and not isinstance(modules[info.name], skip)
    ]
    if not layers:
        raise ValueError(
            "No layer of this net runs once and returns a single tensor; pass "
            "layers=[...] explicitly (see net.layer_summary(X))."
        )
    return layers


def _activation_for(activation: Any, layer: str) -> ActivationSpec:
    if isinstance(activation, Mapping):
        return activation.get(layer)
    return activation


def _apply_activation(values: np.ndarray, spec: ActivationSpec) -> np.ndarray:
    """The same element-wise functions as ``transform_layer(activation=...)``."""
    if spec is None:
        return values
    import torch

    from .capture import resolve_activation

    if not isinstance(spec, str) and not callable(spec):
        raise TypeError(f"activation must be a str or a callable, got {spec!r}.")
    fn = resolve_activation(spec)
    with torch.no_grad():
        return fn(torch.from_numpy(values)).numpy()


def dead_units_report(
    net,
    X,
    y=None,
    layers: Sequence[str] | None = None,
    *,
    activation: ActivationSpec | Mapping[str, ActivationSpec] = None,
    tol: float = 0.0,
    saturation_bounds: Mapping[str, Any] | None = None,
    saturation_margin: float = 0.05,
    saturation_threshold: float = 0.95,
    per_channel: bool = True,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Active, dead and saturated units of several layers, from ONE capture pass.

    ``net.dead_units_report(X, ...)`` is this function; see it for the
    parameters. Saturation is checked for layers that are ``nn.Tanh``,
    ``nn.Sigmoid``, ``nn.Softsign``, ``nn.Hardsigmoid`` or ``nn.Hardtanh``
    (``ReLU6``) modules, for layers given ``activation="tanh"`` or
    ``"sigmoid"``, and for those named in ``saturation_bounds`` (which wins).

    Returns
    -------
    pandas.DataFrame
        :func:`skviz.analysis.unit_report` of the captured layers.
    """
    module = net.inspected_module()
    # Cheap argument checks first: the forward pass may be long.
    if not 0 < saturation_threshold <= 1:
        raise ValueError(
            f"saturation_threshold must be in (0, 1], got {saturation_threshold}."
        )
    if not saturation_margin >= 0:
        raise ValueError(f"saturation_margin must be >= 0, got {saturation_margin}.")
    if not isinstance(tol, numbers.Real) or isinstance(tol, bool):
        raise TypeError(f"tol must be a number, got {tol!r}.")
    if layers is None:
        layers = default_report_layers(net, X)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if isinstance(activation, Mapping):
        unknown = sorted(set(activation) - set(layers))
        if unknown:
            raise ValueError(f"activation names layers not in layers: {unknown}.")
    unknown = sorted(set(saturation_bounds or {}) - set(layers))
    if unknown:
        raise ValueError(f"saturation_bounds names layers not in layers: {unknown}.")
    modules = dict(module.named_modules())
    known = [name for name in modules if name]
    bounds: dict[str, Any] = {}
    for layer in layers:
        spec = _activation_for(activation, layer)
        if isinstance(spec, str) and spec in analysis.SATURATION_BOUNDS:
            bounds[layer] = spec
        elif spec is None:
            base = LayerRef.parse(layer, known).module
            found = _module_bounds(modules.get(base))
            if found is not None:
                bounds[layer] = found
    bounds.update(saturation_bounds or {})
    y = None if y is None else analysis.check_label_types(y)
    values = net.capture_layers(
        X, layers, activation=None, flatten=False, batch_size=batch_size
    )
    values = {
        layer: _apply_activation(A, _activation_for(activation, layer))
        for layer, A in values.items()
    }
    return analysis.unit_report(
        values,
        y=y,
        tol=tol,
        saturation_bounds=bounds,
        saturation_margin=saturation_margin,
        saturation_threshold=saturation_threshold,
        per_channel=per_channel,
    )
