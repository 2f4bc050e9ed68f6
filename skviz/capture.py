"""Forward-hook capture of layer outputs.

This module knows about torch modules and tensors, not about skorch or
sklearn. It does three things:

* parse layer references (``"dense0"``, ``"block@1"``, ``"lstm[1][0]"``),
* probe a module with a tiny batch to learn, for each referenced layer, how
  often it runs per forward, the structure of its output and which dimension
  of each output tensor is the batch dimension,
* capture the referenced outputs of real batches straight into preallocated
  arrays, stopping the forward pass as soon as everything requested has been
  seen.

Hooks live only inside :class:`LayerCapture`'s ``with`` block and only react
to the thread that opened it, so a concurrent ``predict`` on the same module
in another thread is neither disturbed nor recorded.
"""

from __future__ import annotations

import difflib
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "LayerCapture",
    "LayerRef",
    "ProbeResult",
    "Target",
    "call_order",
    "inspection_lock",
    "inspection_session",
    "probe_outputs",
    "resolve_activation",
    "resolve_targets",
    "unwrap_compiled",
]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
    "leaky_relu": nn.functional.leaky_relu,
}


def resolve_activation(activation):
    """The callable for an activation name, a callable itself, or None."""
    if activation is None or callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown activation {activation!r}; use one of "
            f"{sorted(ACTIVATIONS)} or a callable taking and returning a tensor."
        ) from None


def unwrap_compiled(module: nn.Module) -> nn.Module:
    """The user's module behind a ``torch.compile`` wrapper (or itself).

    Inspection runs eagerly on it: names are the user's (no ``_orig_mod.``)
    and hooks fire without graph breaks or recompilation.
    """
    return getattr(module, "_orig_mod", module)


_REF_PATTERN = re.compile(
    r"^(?P<module>[^@\[\]]+?)(?:@(?P<call>\d+))?(?P<path>(?:\[[^\[\]]+\])*)$"
)
_PATH_ITEM = re.compile(r"\[([^\[\]]+)\]")


class StopForward(Exception):
    """Raised from a hook once every requested output of a batch is captured.

    Deriving from ``Exception`` (not ``BaseException``) keeps it catchable by
    user ``try/except Exception`` blocks inside a forward; those are rare and
    the capture then simply completes the forward.
    """


@dataclass(frozen=True)
class LayerRef:
    """A parsed layer reference.

    Grammar: ``NAME[@CALL][[KEY]]...`` where ``NAME`` is a dotted name from
    ``named_modules()``, ``@CALL`` selects the CALL-th (0-based) run of a
    module that runs several times per forward, and each ``[KEY]`` indexes
    into a tuple/list (integer KEY) or dict (string KEY, quotes optional)
    output. Examples: ``"dense0"``, ``"block@1"``, ``"lstm[0]"``,
    ``"lstm[1][0]"`` (LSTM's ``h_n``), ``"attn['weights']"``.
    """

    text: str
    module: str
    call: int | None = None
    path: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LayerRef:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"A layer name must be a non-empty string, got {text!r}.")
        match = _REF_PATTERN.match(text.strip())
        if match is None:
            raise ValueError(
                f"Cannot parse layer reference {text!r}. Expected NAME, NAME@CALL "
                "or NAME[INDEX]..., e.g. 'dense0', 'block@1', 'lstm[1][0]'."
            )
        call = match.group("call")
        path = tuple(
            _path_key(item) for item in _PATH_ITEM.findall(match.group("path"))
        )
        return cls(
            text=text.strip(),
            module=match.group("module"),
            call=None if call is None else int(call),
            path=path,
        )


def _path_key(item: str) -> int | str:
    item = item.strip()
    if re.fullmatch(r"-?\d+", item):
        return int(item)
    return item.strip("'\"")


def format_ref(module: str, call: int | None, path: Sequence[int | str]) -> str:
    text = module if call is None else f"{module}@{call}"
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f"['{key}']"
    return text


def check_module_names(names: Sequence[str], known: Sequence[str]) -> None:
    """Raise ``ValueError`` naming close matches for names not in ``known``."""
    known_set = set(known)
    for name in names:
        if name in known_set:
            continue
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown layer {name!r}.{hint} Call net.layer_names() to list all "
            f"{len(known)} layers."
        )


# --------------------------------------------------------------------------
# Output structure
# --------------------------------------------------------------------------


def _structure(output: Any) -> Any:
    """Mirror of an output with tensors replaced by their shape and dtype."""
    if isinstance(output, torch.Tensor):
        return (tuple(output.shape), output.dtype)
    if isinstance(output, tuple | list):
        return tuple(_structure(o) for o in output)
    if isinstance(output, Mapping):
        return {k: _structure(v) for k, v in output.items()}
    return type(output).__name__


def _is_leaf(struct: Any) -> bool:
    return (
        isinstance(struct, tuple)
        and len(struct) == 2
        and isinstance(struct[1], torch.dtype)
    )


def _leaf_paths(struct: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if _is_leaf(struct):
        yield prefix
    elif isinstance(struct, tuple):
        for i, s in enumerate(struct):
            yield from _leaf_paths(s, (*prefix, i))
    elif isinstance(struct, dict):
        for k, s in struct.items():
            yield from _leaf_paths(s, (*prefix, k))


def _select(obj: Any, path: Sequence[int | str]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def describe_structure(struct: Any, batch_dims: Any = None) -> str:
    """Human-readable shapes, with ``None`` at the batch dimension."""
    if _is_leaf(struct):
        shape = list(struct[0])
        if isinstance(batch_dims, int) and batch_dims >= 0:
            shape[batch_dims] = None
        return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(struct, tuple):
        inner = [
            describe_structure(
                s, batch_dims[i] if isinstance(batch_dims, tuple) else None
            )
            for i, s in enumerate(struct)
        ]
        return "(" + ", ".join(inner) + ")"
    if isinstance(struct, dict):
        inner = [
            f"{k!r}: "
            + describe_structure(
                s, batch_dims.get(k) if isinstance(batch_dims, dict) else None
            )
            for k, s in struct.items()
        ]
        return "{" + ", ".join(inner) + "}"
    return str(struct)


def _batch_dims(small: Any, large: Any) -> Any:
    """Which dimension changed between a batch of 1 and a batch of 2.

    ``-1`` marks a tensor whose shape does not depend on the batch.
    """
    if _is_leaf(small):
        changed = [
            d
            for d, (a, b) in enumerate(zip(small[0], large[0], strict=False))
            if a != b
        ]
        return (
            changed[0] if len(changed) == 1 and len(small[0]) == len(large[0]) else -1
        )
    if isinstance(small, tuple):
        return tuple(_batch_dims(s, g) for s, g in zip(small, large, strict=False))
    if isinstance(small, dict):
        return {k: _batch_dims(small[k], large[k]) for k in small}
    return None


# --------------------------------------------------------------------------
# Probing
# --------------------------------------------------------------------------


@dataclass
class ProbeResult:
    """What one probe forward revealed about the hooked modules.

    ``outputs[name]`` lists the output structure of each call of module
    ``name`` in the probe forward, in call order; ``batch_dims`` mirrors it
    with the batch dimension of each tensor.
    """

    outputs: dict[str, list[Any]] = field(default_factory=dict)
    batch_dims: dict[str, list[Any]] = field(default_factory=dict)

    def calls(self, name: str) -> int:
        return len(self.outputs.get(name, ()))


def _observe_runs(
    modules: Mapping[str, nn.Module], forward: Callable[[], Any]
) -> list[tuple[str, Any]]:
    """``(name, output)`` of every run of ``modules`` during ``forward()``.

    Only runs from this thread count: a predict on the same module in another
    thread must not look like extra calls. Hooks are gone on return.
    """
    runs: list[tuple[str, Any]] = []
    owner = threading.get_ident()
    handles = []
    try:
        for name, module in modules.items():

            def hook(_mod, _inp, out, _name=name):
                if threading.get_ident() == owner:
                    runs.append((_name, out))

            handles.append(module.register_forward_hook(hook))
        forward()
    finally:
        for handle in handles:
            handle.remove()
    return runs


def _record_structures(
    modules: Mapping[str, nn.Module], forward: Callable[[], Any]
) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {name: [] for name in modules}
    for name, out in _observe_runs(modules, forward):
        seen[name].append(_structure(out))
    return seen


def call_order(
    modules: Mapping[str, nn.Module], forward: Callable[[], Any]
) -> list[tuple[str, bool]]:
    """``(name, returned_a_tensor)`` for every run of ``modules``, in order.

    Definition order (``named_modules``) is not forward order: a shared
    ``self.act`` runs between every layer.
    """
    return [
        (name, isinstance(out, torch.Tensor))
        for name, out in _observe_runs(modules, forward)
    ]


def probe_outputs(
    modules: Mapping[str, nn.Module],
    forward_one: Callable[[], Any],
    forward_two: Callable[[], Any],
) -> ProbeResult:
    """Run a batch of one and a batch of two samples through the model.

    Comparing the two tells which dimension of every output is the batch
    dimension (LSTM's ``h_n`` keeps it in dimension 1).
    """
    one = _record_structures(modules, forward_one)
    two = _record_structures(modules, forward_two)
    result = ProbeResult()
    for name in modules:
        result.outputs[name] = one[name]
        result.batch_dims[name] = [
            _batch_dims(s, g) for s, g in zip(one[name], two[name], strict=False)
        ]
    return result


@dataclass
class Target:
    """A resolved request: which call, which tensor, where its batch is."""

    ref: LayerRef
    call: int
    path: tuple[int | str, ...]
    batch_dim: int
    sample_shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def name(self) -> str:
        return self.ref.text


def resolve_targets(refs: Sequence[LayerRef], probe: ProbeResult) -> list[Target]:
    """Check every reference against the probe and pin down what it selects."""
    targets = []
    for ref in refs:
        calls = probe.calls(ref.module)
        if calls == 0:
            raise ValueError(
                f"Layer {ref.module!r} exists but did not run during a forward pass, "
                "so it has no output to capture."
            )
        if ref.call is None and calls > 1:
            options = ", ".join(repr(f"{ref.module}@{i}") for i in range(calls))
            raise ValueError(
                f"Layer {ref.module!r} runs {calls} times per forward pass; say which "
                f"run you want: {options}."
            )
        call = 0 if ref.call is None else ref.call
        if call >= calls:
            raise ValueError(
                f"Layer {ref.module!r} runs {calls} time(s) per forward pass; "
                f"{ref.text!r} asks for run {call} (runs are numbered from 0)."
            )
        struct = probe.outputs[ref.module][call]
        dims = probe.batch_dims[ref.module][call]
        leaves = list(_leaf_paths(struct))
        here = format_ref(ref.module, ref.call, ())
        try:
            leaf = _select(struct, ref.path)
            batch_dim = _select(dims, ref.path)
        except (KeyError, IndexError, TypeError):
            leaf, batch_dim = None, None
        if not _is_leaf(leaf):
            choices = ", ".join(
                repr(format_ref(ref.module, ref.call, p)) for p in leaves
            )
            what = describe_structure(struct, dims)
            if not leaves:
                raise ValueError(
                    f"Layer {ref.text!r} returns {what}, which holds no tensor to capture."
                )
            raise ValueError(
                f"Layer {here!r} returns {what}; {ref.text!r} does not select one "
                f"tensor of it. Choose one of: {choices}."
            )
        if batch_dim < 0:
            raise ValueError(
                f"The output {ref.text!r} has shape {leaf[0]} whatever the batch "
                "size, so it cannot be split into one row per sample."
            )
        shape = list(leaf[0])
        del shape[batch_dim]
        targets.append(
            Target(
                ref=ref,
                call=call,
                path=ref.path,
                batch_dim=batch_dim,
                sample_shape=tuple(shape),
                dtype=leaf[1],
            )
        )
    return targets


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """float64 stays float64; every other dtype is returned as float32."""
    return np.dtype(np.float64) if dtype == torch.float64 else np.dtype(np.float32)


# --------------------------------------------------------------------------
# Capture
# --------------------------------------------------------------------------


class LayerCapture:
    """Copy requested outputs of every batch straight into their sinks.

    Parameters
    ----------
    modules : mapping of str to nn.Module
        The modules named by the targets.
    targets : list of Target
    sinks : list
        One per target: ``region(start, stop)`` returns the C-contiguous
        array to fill with that batch's rows (any shape with the right number
        of elements, e.g. flattened), ``commit(start, stop)`` is called once
        the batch is complete. See :mod:`skviz._sinks`.
    activation : callable or None
        Applied to each captured tensor before it is copied.
    """

    def __init__(self, modules, targets, sinks, activation=None):
        self.modules = modules
        self.targets = targets
        self.sinks = sinks
        self.activation = activation
        self._regions: list[torch.Tensor] = []
        self._by_module: dict[str, list[int]] = {}
        for i, t in enumerate(targets):
            self._by_module.setdefault(t.ref.module, []).append(i)
        self._handles: list[Any] = []
        self._owner = threading.get_ident()
        self._start = self._stop = 0
        self._calls: dict[str, int] = {}
        self._done: set[int] = set()

    def __enter__(self) -> LayerCapture:
        try:
            for name, indices in self._by_module.items():
                self._handles.append(
                    self.modules[name].register_forward_hook(
                        self._make_hook(name, indices)
                    )
                )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def begin_batch(self, start: int, stop: int) -> None:
        self._start, self._stop = start, stop
        self._calls = dict.fromkeys(self._by_module, 0)
        self._done = set()
        self._regions = [
            torch.from_numpy(sink.region(start, stop)).view(
                stop - start, *target.sample_shape
            )
            for sink, target in zip(self.sinks, self.targets, strict=True)
        ]

    def end_batch(self) -> None:
        if len(self._done) != len(self.targets):
            missing = [
                self.targets[i].name
                for i in range(len(self.targets))
                if i not in self._done
            ]
            raise RuntimeError(
                f"Layer(s) {missing} did not produce an output for samples "
                f"{self._start}:{self._stop}, although they did on the probe batch; "
                "the forward pass takes a data-dependent path."
            )
        for sink in self.sinks:
            sink.commit(self._start, self._stop)

    def _make_hook(self, name: str, indices: list[int]):
        def hook(_module, _inputs, output):
            if threading.get_ident() != self._owner:
                return None
            call = self._calls[name]
            self._calls[name] = call + 1
            for i in indices:
                target = self.targets[i]
                if target.call != call:
                    continue
                self._store(i, target, _select(output, target.path))
            if len(self._done) == len(self.targets):
                raise StopForward
            return None

        return hook

    def _store(self, i: int, target: Target, tensor: torch.Tensor) -> None:
        tensor = tensor.detach()
        if target.batch_dim != 0:
            tensor = tensor.movedim(target.batch_dim, 0)
        if self.activation is not None:
            tensor = self.activation(tensor)
        rows = self._stop - self._start
        expected = (rows, *target.sample_shape)
        if tuple(tensor.shape) != expected:
            raise RuntimeError(
                f"Output {target.name!r} has shape {tuple(tensor.shape)} for a batch of "
                f"{rows} samples; the probe batch promised {expected}. Outputs whose "
                "per-sample shape varies between batches cannot be stacked."
            )
        self._regions[i].copy_(tensor)
        self._done.add(i)


# --------------------------------------------------------------------------
# Module state during an inspection
# --------------------------------------------------------------------------

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = (
    weakref.WeakKeyDictionary()
)
_LOCKS_GUARD = threading.Lock()


def inspection_lock(module: nn.Module) -> threading.RLock:
    """The lock held while ``module`` is being inspected (hooks attached)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


@contextmanager
def inspection_session(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for one inspection, serialised per module.

    Calls on one module are serialised because train/eval mode is module-wide
    state: two overlapping calls would restore each other's mode too early.
    The flags of every submodule are restored exactly, whatever happens.
    """
    with inspection_lock(module):
        modes = [(m, m.training) for m in module.modules()]
        try:
            module.eval()
            with torch.no_grad():
                yield
        finally:
            for m, training in modes:
                m.training = training
