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
from .kinds import activation_modules, layer_kinds, own_rule, units_first

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


def default_report_layers(
    net, X, *, include_output: bool = False, activation: Any = None
) -> list[str]:
    """The layers a dead-unit report looks at when none are given.

    The outputs of the net's nonlinearity modules (ReLU, GELU, Tanh...,
    see :func:`skviz.kinds.activation_modules`), every run of a module that
    runs more than once as ``relu@k``, plus the layers named in an
    ``activation=`` mapping; only outputs that hold one tensor per sample
    (a position embedding, the same for every batch, is left out). A net
    without activation modules applies its activations in ``forward``:
    its leaf layers that run once are used instead (pass-through modules
    such as Dropout and Flatten left out). In forward order, found with
    one forward pass of the first few samples (:meth:`layer_info`). The
    output layer (see :func:`output_layers`) is left out unless
    ``include_output``: its units are logits or scores.
    """
    return _report_layers(net, X, include_output, activation)[0]


def _report_layers(
    net, X, include_output: bool, activation: Any = None, infos=None
) -> tuple[list[str], list[str]]:
    """The default layers, and the output layers left out of them."""
    skip = _pass_through_types()
    module = net.inspected_module()
    modules = dict(module.named_modules())
    infos = net.layer_info(X) if infos is None else infos
    named = set(activation) if isinstance(activation, Mapping) else set()
    if include_output:
        named |= set(output_layers(net, infos))
    batched = [info for info in infos if info.is_tensor and info.shape is not None]
    if activation_modules(module):
        layers = [
            info.ref
            for info in batched
            if info.ref in named
            or (info.is_leaf and own_rule(modules[info.name]) != "none")
        ]
    else:
        layers = [
            info.ref
            for info in batched
            if info.ref in named
            or (
                info.calls == 1
                and info.is_leaf
                and not isinstance(modules[info.name], skip)
            )
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
            "No activation output or hidden layer of this net returns one tensor "
            f"per sample.{found} Or pass layers=[...] explicitly (see "
            "net.layer_summary(X))."
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

    Each layer is judged by the rule of the function that made its output
    (:func:`skviz.analysis.dead_rule`, decided by :func:`skviz.kinds.layer_kinds`):
    ReLU outputs are dead when never > ``tol``; outputs of activations
    with a negative side (LeakyReLU, GELU, SiLU, ...) are marked by the
    same test, reported as never positive; Tanh/Sigmoid-like outputs are
    marked when saturated, never as dead; linear, normalised, attention
    and recurrent outputs are not marked. Sequence outputs ``(N, T, H)``
    have H units, each summarised over the T positions; conv outputs
    ``(N, C, ...)`` have C.

    Returns
    -------
    pandas.DataFrame
        :func:`skviz.analysis.unit_report` of the captured layers.
        ``report.attrs`` also holds ``left_out`` (the output layers left
        out), ``rules`` (layer -> rule), ``rule_texts`` (layer -> the rule in
        words) and ``negative_slope_layers`` (layer -> module type, for
        the layers whose activation has a negative side).
    """
    net.inspected_module()  # an unfitted net fails here, before any work
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
    infos = None
    if layers is None:
        infos = net.layer_info(X)
        layers, left_out = _report_layers(net, X, include_output, activation, infos)
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
    y = None if y is None else analysis.check_label_types(y)
    values = net.capture_layers(
        X, layers, activation=None, flatten=False, batch_size=batch_size
    )
    values = {
        layer: _apply_activation(A, _activation_for(activation, layer))
        for layer, A in values.items()
    }
    kinds = layer_kinds(
        net,
        X,
        layers,
        activation=activation,
        infos=infos,
        ndims={layer: np.ndim(A) for layer, A in values.items()},
    )
    values = units_first(values, kinds)
    bounds = {layer: kind.bounds for layer, kind in kinds.items() if kind.bounds}
    bounds.update(saturation_bounds or {})
    report = analysis.unit_report(
        values,
        y=y,
        tol=tol,
        saturation_bounds=bounds,
        saturation_margin=saturation_margin,
        saturation_threshold=saturation_threshold,
        per_channel=per_channel,
        rules={layer: kind.rule for layer, kind in kinds.items()},
    )
    report.attrs["left_out"] = left_out
    report.attrs["rule_texts"] = {
        layer: kind.rule_text(tol) for layer, kind in kinds.items()
    }
    report.attrs["negative_slope_layers"] = {
        layer: kind.type
        for layer, kind in kinds.items()
        if kind.rule == "negative_slope"
    }
    return report
