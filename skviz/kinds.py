"""What kind of function made each layer's output, from one small forward pass.

Two things about a captured array depend on the module behind it, not on
the numbers: which rule says that a unit is dead (see
:func:`skviz.analysis.dead_rule`) and, for 3-D outputs, which axis holds
the units. A Conv1d output ``(N, C, L)`` has its channels on axis 1; a
sequence output ``(N, T, H)`` of a Linear, LayerNorm, LSTM or transformer
layer has its H features last, and its T positions are not units. Reports
and displays ask :func:`layer_kinds`, then put the units on axis 1 with
:func:`units_first`, the convention of :mod:`skviz.analysis`.

Modules that only pass values on (dropout, pooling, flatten, padding,
upsampling) and containers are judged by the module that ran just before
their output was complete: for a container its last leaf (a ResNet block
ends in its ReLU, a transformer layer in its LayerNorm). A 3-D output that
nothing before it decides has its units last, as sequence models do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from . import analysis
from .layers import LayerRef, activation_bounds

__all__ = [
    "LayerKind",
    "activation_modules",
    "layer_kinds",
    "own_rule",
    "run_unit_axes",
    "units_first",
]

_CHANNELS_FIRST = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.Upsample,
)
_FEATURES_LAST = (
    nn.Linear,
    nn.Bilinear,
    nn.Embedding,
    nn.EmbeddingBag,
    nn.LayerNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),  # torch >= 2.4
    nn.RNNBase,
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.Transformer,
)
_PASS_ON = (
    nn.modules.dropout._DropoutNd,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
    nn.modules.padding._ConstantPadNd,
    nn.modules.padding._ReflectionPadNd,
    nn.modules.padding._ReplicationPadNd,
)


# activation= names as the modules that compute them are called.
_FUNCTIONAL_NAMES = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "gelu": "GELU",
    "leaky_relu": "LeakyReLU",
}


@dataclass(frozen=True)
class LayerKind:
    """What made one layer's output.

    Attributes
    ----------
    ref : str
        The layer reference.
    type : str
        The class name of the module that decides (the layer's own module,
        or for containers and pass-on modules the one before), or the name
        of the ``activation=`` applied to the layer.
    rule : {"relu", "negative_slope", "saturation", "none"}
        How its units are judged; see :func:`skviz.analysis.dead_rule`.
    unit_axis : int
        The axis of the captured (batch-first) array that holds the units:
        1, or -1 for a 3-D sequence output whose features come last.
    assumed : bool
        The rule is assumed, not seen: the net has no activation module, so
        its hidden Linear/conv outputs are taken to be followed by a ReLU
        applied in ``forward`` (pass ``activation=`` to say otherwise).
    bounds : (float, float) or None
        The asymptotes of a bounded activation (the layer's own Tanh,
        Sigmoid, Hardtanh... module, or ``activation="tanh"``/``"sigmoid"``),
        where saturation is measured; None elsewhere.
    """

    ref: str
    type: str
    rule: analysis.DeadRule
    unit_axis: int = 1
    assumed: bool = False
    bounds: tuple[float, float] | None = None

    def rule_text(self, tol: float = 0.0) -> str:
        """The rule in words, ``tol`` filled in, with the assumption if any."""
        text = analysis.rule_text(self.rule, tol)
        return f"{text}; ReLU assumed after {self.type}" if self.assumed else text


def own_rule(module: nn.Module) -> analysis.DeadRule:
    """The dead rule of a module by its class (``\"none\"`` unless a nonlinearity)."""
    # Subclasses of an activation (a user's MyReLU(nn.ReLU)) judge as it.
    for cls in type(module).__mro__:
        rule = analysis.dead_rule(cls.__name__)
        if rule != "none":
            return rule
    return "none"


def activation_modules(module: nn.Module) -> list[str]:
    """Names of the nonlinearity modules (ReLU, GELU, Tanh, ...) in ``module``."""
    return [
        name for name, m in module.named_modules() if name and own_rule(m) != "none"
    ]


def run_unit_axes(infos: Sequence[Any], modules: Mapping[str, nn.Module]) -> list[int]:
    """The unit axis of every run's output (1 or -1, see :class:`LayerKind`).

    ``infos`` is what ``net.layer_info`` returns, ``modules`` the net's
    ``named_modules()`` as a dict. Only 3-D outputs have a choice.
    """
    return [axis for _, _, axis in _decided(infos, modules)]


def _own(module: nn.Module, is_leaf: bool):
    """``(type, rule, unit_axis)`` that the module decides by itself.

    None for containers and pass-on modules (their output is that of the
    run before them); ``unit_axis`` is None for element-wise modules, whose
    output has the layout of their input.
    """
    if not is_leaf or isinstance(module, _PASS_ON):
        return None
    name, rule = type(module).__name__, own_rule(module)
    if isinstance(module, _CHANNELS_FIRST):
        return (name, rule, 1)
    if isinstance(module, _FEATURES_LAST):
        return (name, rule, -1)
    return (name, rule, None)


def _decided(infos, modules) -> list[tuple[str, analysis.DeadRule, int]]:
    """``(type, rule, unit_axis)`` of every run, in the order of ``infos``.

    What a run does not decide comes from the run before it; with nothing
    before, a 3-D output has its units last.
    """
    decided = []
    last = None
    for info in infos:
        module = modules[info.name]
        own = _own(module, info.is_leaf)
        if own is None:
            own = last or (type(module).__name__, "none", -1)
        elif own[2] is None:
            own = (own[0], own[1], last[2] if last else -1)
        decided.append(own)
        last = own
    return decided


def _alone(module: nn.Module, ndim: int | None):
    """``(type, rule, unit_axis)`` decided without a forward pass, else None."""
    own = _own(module, next(module.children(), None) is None)
    if own is None or own[2] is not None:
        return own
    # Outside 3-D outputs the layout of an element-wise module's input
    # does not matter; for 3-D ones only a forward pass shows it.
    return (own[0], own[1], 1) if ndim is not None and ndim != 3 else None


def layer_kinds(
    net,
    X,
    layers: Sequence[str],
    *,
    activation: Any = None,
    infos: Sequence[Any] | None = None,
    ndims: Mapping[str, int] | None = None,
) -> dict[str, LayerKind]:
    """The kind of every layer in ``layers``.

    Decided by the layers' modules where they suffice (a ReLU, a Linear, a
    conv); containers, pass-on modules and element-wise modules with 3-D
    outputs need the order of runs: then ``net.layer_info(X)`` runs once
    on the first few samples, unless ``infos`` is given.

    Parameters
    ----------
    net : fitted Inspectable skorch net
    X : array-like
        Samples in any form ``predict`` accepts.
    layers : sequence of str
        Layer references (``"fc1"``, ``"layer1.0.relu@1"``, ``"lstm[0]"``).
    activation : str, callable or mapping of str to those, optional
        The ``activation=`` applied to the layers' outputs; a named one
        decides the rule (``"relu"``, ``"tanh"``...), a callable is judged
        by the ReLU rule.
    infos : list of LayerInfo, optional
        What ``net.layer_info(X)`` returned, when the caller has it.
    ndims : mapping of str to int, optional
        The number of dimensions of each layer's captured output, when
        known (spares the forward pass for most layers).

    Returns
    -------
    dict of str to LayerKind
    """
    module = net.inspected_module()
    modules = dict(module.named_modules())
    known = [name for name in modules if name]
    refs = {layer: LayerRef.parse(layer, known) for layer in layers}
    ndims = dict(ndims or {})
    alone = {
        layer: _alone(modules[ref.module], ndims.get(layer))
        for layer, ref in refs.items()
    }
    if infos is None and any(v is None for v in alone.values()):
        infos = net.layer_info(X)
    decided, runs = [], {}
    if infos is not None:
        infos = list(infos)
        decided = _decided(infos, modules)
        runs = {(info.name, info.call): k for k, info in enumerate(infos)}
    no_activations = not activation_modules(module)
    output = _output_module(module, infos, modules)
    kinds = {}
    for layer, ref in refs.items():
        k = runs.get((ref.module, ref.call or 0))
        found = decided[k] if k is not None else alone[layer]
        kind_type, rule, axis = found or (type(modules[ref.module]).__name__, "none", 1)
        if ref.path:
            # An element of a tuple output (lstm[0], h_n) keeps its module's layout.
            axis = -1 if isinstance(modules[ref.module], _FEATURES_LAST) else axis
        spec = activation.get(layer) if isinstance(activation, Mapping) else activation
        assumed = False
        bounds = (
            activation_bounds(modules[ref.module])
            if spec is None
            else analysis.SATURATION_BOUNDS.get(spec)
            if isinstance(spec, str)
            else None
        )
        if spec is not None:
            kind_type = (
                _FUNCTIONAL_NAMES.get(spec, spec)
                if isinstance(spec, str)
                else getattr(spec, "__name__", "callable")
            )
            rule = analysis.dead_rule(spec) if isinstance(spec, str) else "relu"
        elif (
            no_activations
            and rule == "none"
            and isinstance(modules[ref.module], nn.Linear | nn.modules.conv._ConvNd)
            and ref.module != output
        ):
            rule, assumed = "relu", True
        kinds[layer] = LayerKind(ref.text, kind_type, rule, axis, assumed, bounds)
    return kinds


def _output_module(module, infos, modules) -> str | None:
    """The output layer's name: the last leaf with parameters of its own.

    In the order of runs when known, else in the order of registration
    (the same for nets whose ``forward`` follows ``__init__``).
    """
    if infos is not None:
        k = _last_parametric(infos, modules)
        return None if k is None else infos[k].name
    owners = [
        name
        for name, m in module.named_modules()
        if name
        and next(m.children(), None) is None
        and next(m.parameters(recurse=False), None) is not None
    ]
    return owners[-1] if owners else None


def _last_parametric(infos, modules) -> int | None:
    """Position in ``infos`` of the output layer: the last leaf run with parameters."""
    owns = [
        k
        for k, info in enumerate(infos)
        if info.is_leaf
        and next(modules[info.name].parameters(recurse=False), None) is not None
    ]
    return owns[-1] if owns else None


def units_first(
    values: Mapping[str, np.ndarray], kinds: Mapping[str, LayerKind]
) -> dict[str, np.ndarray]:
    """The arrays with their units on axis 1 (a view; nothing is copied).

    3-D sequence outputs ``(N, T, H)`` become ``(N, H, T)``: their H
    features are the units, summarised over the T positions. Everything
    else is returned as it is.
    """
    return {
        layer: np.moveaxis(A, -1, 1)
        if np.ndim(A) == 3 and layer in kinds and kinds[layer].unit_axis == -1
        else A
        for layer, A in values.items()
    }
