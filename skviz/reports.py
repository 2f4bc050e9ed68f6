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

__all__ = ["dead_units_report", "default_report_layers", "output_layers"]

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


def _negative_slope_types():
    from torch import nn

    # Activations whose negative side is not flat zero: a unit that is never
    # positive still passes a (small) signal and still gets gradients.
    return (
        nn.LeakyReLU,
        nn.PReLU,
        nn.RReLU,
        nn.ELU,
        nn.SELU,
        nn.CELU,
        nn.GELU,
        nn.SiLU,
        nn.Mish,
    )


# Functional activations (activation=) that have a negative side.
_NEGATIVE_SLOPE_NAMES = {"leaky_relu": "LeakyReLU", "gelu": "GELU"}


def _negative_slope_layers(layers, activation, modules, known) -> dict[str, str]:
    """Layer -> activation type, for the layers whose output has a negative side."""
    sloped = _negative_slope_types()
    found = {}
    for layer in layers:
        spec = _activation_for(activation, layer)
        if spec is None:
            module = modules.get(LayerRef.parse(layer, known).module)
            if isinstance(module, sloped):
                found[layer] = type(module).__name__
        elif isinstance(spec, str) and spec in _NEGATIVE_SLOPE_NAMES:
            found[layer] = _NEGATIVE_SLOPE_NAMES[spec]
    return found


def output_layers(net, infos) -> list[str]:
    """The output layer and the leaves that run after it, in forward order.

    The output layer is the last leaf run with parameters of its own (the
    ``Linear`` that computes the logits); a parameter-free leaf after it
    (``Softmax``, ``Sigmoid``, ``Flatten``) only reshapes or squashes the
    net's output. ``infos`` is what ``net.layer_info`` returned.
    """
    modules = dict(net.inspected_module().named_modules())
    leaves = [info for info in infos if info.is_leaf]
    owns = [
        k
        for k, info in enumerate(leaves)
        if next(modules[info.name].parameters(recurse=False), None) is not None
    ]
    return [info.ref for info in leaves[owns[-1] :]] if owns else []


def default_report_layers(net, X, *, include_output: bool = False) -> list[str]:
    """Leaf layers that run once and return one tensor, pass-through excluded.

    Found with the net's layer discovery (:meth:`layer_info`: one forward
    pass of the first few samples), in forward order. The output layer
    (see :func:`output_layers`) is left out unless ``include_output``: its
    units are logits or scores, and "never > 0" says nothing about them.
    """
    return _report_layers(net, X, include_output)[0]


def _report_layers(net, X, include_output: bool) -> tuple[list[str], list[str]]:
    """The default layers, and the output layers left out of them."""
    skip = _pass_through_types()
    modules = dict(net.inspected_module().named_modules())
    infos = net.layer_info(X)
    layers = [
        info.ref
        for info in infos
        if info.calls == 1
        and info.is_tensor
        and info.shape is not None
        and info.is_leaf
        and not isinstance(modules[info.name], skip)
    ]
    left_out = (
        []
        if include_output
        else [ref for ref in output_layers(net, infos) if ref in layers]
    )
    kept = [ref for ref in layers if ref not in left_out]
    if not kept:
        found = (
            f" The only ones, {left_out}, are the output layer: pass "
            "include_output=True to report them."
            if left_out
            else ""
        )
        raise ValueError(
            "No layer of this net runs once and returns a single tensor."
            f"{found} Or pass layers=[...] explicitly (see net.layer_summary(X))."
        )
    return kept, left_out


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
    include_output: bool = False,
) -> pd.DataFrame:
    """Active, dead and saturated units of several layers, from ONE capture pass.

    ``net.dead_units_report(X, ...)`` is this function; see it for the
    parameters. Saturation is checked for layers that are ``nn.Tanh``,
    ``nn.Sigmoid``, ``nn.Softsign``, ``nn.Hardsigmoid`` or ``nn.Hardtanh``
    (``ReLU6``) modules, for layers given ``activation="tanh"`` or
    ``"sigmoid"``, and for those named in ``saturation_bounds`` (which wins).

    Without ``layers``, the output layer (the last leaf with parameters,
    and any leaf after it, see :func:`output_layers`) is left out unless
    ``include_output=True``; ``layers=`` is always taken as given.

    Every layer is judged by one rule: a unit is active on a sample when
    its value is > ``tol``, dead when it is never active. For activations
    with a negative side that is not flat zero (LeakyReLU, PReLU, RReLU,
    ELU, SELU, CELU, GELU, SiLU, Mish), "dead" therefore means *never
    positive*: unlike a dead ReLU unit, such a unit still passes a signal
    through its negative side and still learns. The same rule everywhere
    keeps layers comparable and is what ``(A > 0).sum(axis=0) == 0``
    computes; a rule based on variance would call a LeakyReLU unit alive
    that never leaves its negative side, which hides that it never takes
    part in the positive regime.

    Returns
    -------
    pandas.DataFrame
        :func:`skviz.analysis.unit_report` of the captured layers.
        ``report.attrs`` also holds ``left_out`` (the output layers left
        out) and ``negative_slope_layers`` (layer -> module type, for the
        layers judged as above).
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
    left_out: list[str] = []
    if layers is None:
        layers, left_out = _report_layers(net, X, include_output)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    for what, named in (
        ("activation", activation),
        ("saturation_bounds", saturation_bounds),
    ):
        unknown = (
            sorted(set(named or {}) - set(layers))
            if isinstance(named or {}, Mapping)
            else []
        )
        if unknown:
            hint = (
                " The output layer is left out by default; pass include_output=True."
                if set(unknown) & set(left_out)
                else ""
            )
            raise ValueError(f"{what} names layers not in layers: {unknown}.{hint}")
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
    report = analysis.unit_report(
        values,
        y=y,
        tol=tol,
        saturation_bounds=bounds,
        saturation_margin=saturation_margin,
        saturation_threshold=saturation_threshold,
        per_channel=per_channel,
    )
    report.attrs["left_out"] = left_out
    report.attrs["negative_slope_layers"] = _negative_slope_layers(
        layers, activation, modules, known
    )
    return report
