"""Which outputs an :class:`~skviz.record.ActivationMonitor` watches, and where
their units are.

Layers are found with the engine's discovery (one forward pass of five
samples in eval mode, torch's random state left as it was): a skviz net's
``layer_info``, or :func:`skviz.capture.discover` through ``net.infer`` for
a plain skorch net. References are the engine's (:mod:`skviz.layers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import torch
from skorch.dataset import get_len, unpack_data

from ..analysis import SATURATION_BOUNDS
from ..capture import discover, inspection_session, resolve_activation, unwrap_compiled
from ..kinds import run_unit_axes
from ..layers import (
    NONNEGATIVE_ACTIVATIONS,
    LayerRef,
    activation_bounds,
    ancestors_of,
    nonnegative_output,
    select_run,
    select_tensor,
)
from ._unit_stats import LayerPlan

__all__ = ["discover_layers", "plan_layers", "with_activation"]


def discover_layers(net, X, y=None):
    """Every run of every submodule in one small forward pass (``LayerInfo``)."""
    if hasattr(net, "layer_info"):
        return net.layer_info(X)
    module = unwrap_compiled(net.module_)
    modules = {name: m for name, m in module.named_modules() if name}
    dataset = net.get_dataset(X, y)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=5, shuffle=False, generator=torch.Generator()
    )
    Xi, _ = unpack_data(next(iter(loader)))
    with torch.random.fork_rng(devices=[]), inspection_session(module):
        return discover(
            modules,
            lambda: net.infer(Xi),
            get_len(Xi),
            ancestors_of(modules, list(modules)),
        )


def _unit_axis(info, infos, modules, sample_rank: int) -> int:
    """Axis of the units in one sample's shape (see ActivationMonitor).

    Channels for conv-like outputs, the last axis for sequence outputs
    ``(T, H)``: the same decision as every report and display
    (:func:`skviz.kinds.run_unit_axes`).
    """
    if sample_rank != 2:
        return 0
    k = next(k for k, i in enumerate(infos) if i is info)
    return 0 if run_unit_axes(infos, modules)[k] == 1 else sample_rank - 1


def plan_layers(refs, infos, modules) -> list[LayerPlan]:
    """A :class:`LayerPlan` per reference: its run, tensor, batch and unit axes."""
    known = [name for name in modules if name]
    runs: dict[str, list] = {}
    for info in infos:
        runs.setdefault(info.name, []).append(info)
    plans = []
    for text in refs:
        ref = LayerRef.parse(text, known)
        found = sorted(runs.get(ref.module, []), key=lambda i: i.call)
        call = select_run(ref, len(found))
        info = found[call]
        leaf = info.output
        rows = None
        for tensor in _tensors(leaf):
            if tensor.batch_axis is not None:
                rows = tensor.shape[tensor.batch_axis]
                break
        tensor = select_tensor(ref, leaf, rows or 0)
        sample = tensor.sample_shape
        if not sample:
            raise ValueError(
                f"Layer {text!r} gives one number per sample: it has no units to "
                "monitor."
            )
        axis = _unit_axis(info, infos, modules, len(sample))
        # the unit axis of the whole tensor, batch axis included
        unit_axis = axis + (1 if axis >= tensor.batch_axis else 0)
        plans.append(
            LayerPlan(
                ref=text,
                module=ref.module,
                call=call,
                path=tuple(ref.path),
                batch_axis=tensor.batch_axis,
                unit_axis=unit_axis,
                n_units=int(sample[axis]),
                bounds=activation_bounds(modules[ref.module]),
                nonnegative=nonnegative_output(modules[ref.module]),
            )
        )
    return plans


def _tensors(struct):
    from ..layers import TensorInfo

    if isinstance(struct, TensorInfo):
        yield struct
    elif isinstance(struct, tuple):
        for s in struct:
            yield from _tensors(s)
    elif isinstance(struct, dict):
        for s in struct.values():
            yield from _tensors(s)


def with_activation(plans: list[LayerPlan], activation) -> list[LayerPlan]:
    """The plans with the monitor's ``activation`` (one spec or layer -> spec)."""
    if activation is None:
        return plans
    refs = [p.ref for p in plans]
    if isinstance(activation, Mapping):
        unknown = sorted(set(activation) - set(refs))
        if unknown:
            raise ValueError(
                f"activation names layers that are not monitored: {unknown}; "
                f"monitored layers: {refs}."
            )
    out = []
    for plan in plans:
        spec = (
            activation.get(plan.ref) if isinstance(activation, Mapping) else activation
        )
        if spec is None:
            out.append(plan)
            continue
        if not isinstance(spec, str) and not callable(spec):
            raise TypeError(f"activation must be a str or a callable, got {spec!r}.")
        resolve_activation(spec)  # unknown names raise here, before training
        bounds = SATURATION_BOUNDS.get(spec) if isinstance(spec, str) else None
        out.append(
            replace(
                plan,
                activation=spec,
                bounds=bounds or plan.bounds,
                # a callable may map anything anywhere
                nonnegative=isinstance(spec, str) and spec in NONNEGATIVE_ACTIVATIONS,
            )
        )
    return out
