"""The capture engine: the only place that registers hooks on a module.

This module knows about torch modules and tensors, not about skorch or
sklearn. It

* discovers what the submodules of a net do in one forward pass
  (:func:`discover`: every run, its output's structure and batch axis),
* captures the requested outputs of real batches straight into their sinks,
  one forward pass per batch, the first batch telling shapes and batch axes
  (:class:`LayerCapture`), and stops each later forward pass as soon as
  everything requested has been seen,
* holds the module in eval mode and under ``no_grad`` for an inspection,
  restoring every submodule's mode afterwards (:func:`inspection_session`).

Hooks exist only inside those calls and only react to the thread that made
them, so a concurrent ``predict`` on the same module in another thread is
neither disturbed nor recorded. References and output structures are
described in :mod:`skviz.layers`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .layers import (
    ACTIVATIONS,
    AmbiguousBatchAxisWarning,
    LayerInfo,
    LayerRef,
    TensorInfo,
    describe_output,
    resolve_activation,
    select_path,
    select_run,
    select_tensor,
)
from .session import inspection_lock, inspection_session, unwrap_compiled

__all__ = [
    "ACTIVATIONS",
    "LayerCapture",
    "StopForward",
    "Target",
    "discover",
    "inspection_lock",
    "inspection_session",
    "numpy_dtype",
    "resolve_activation",
    "unwrap_compiled",
    "watch_outputs",
]

# --------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------


def _watch_runs(
    modules: Mapping[str, nn.Module], on_run: Callable[[str, Any], None]
) -> list[Any]:
    """Forward hooks calling ``on_run(name, output)`` from this thread only.

    A predict on the same module in another thread must not look like
    extra runs. The caller removes the returned handles.
    """
    owner = threading.get_ident()
    handles = []
    try:
        for name, module in modules.items():

            def hook(_mod, _inp, out, _name=name):
                if threading.get_ident() == owner:
                    on_run(_name, out)

            handles.append(module.register_forward_hook(hook))
    except BaseException:
        for handle in handles:
            handle.remove()
        raise
    return handles


def _watch_calls(
    modules: Mapping[str, nn.Module], on_call: Callable[[nn.Module, tuple], None]
) -> list[Any]:
    """Forward pre-hooks calling ``on_call(module, inputs)`` from this thread only."""
    owner = threading.get_ident()
    handles = []

    def hook(module, inputs):
        if threading.get_ident() == owner:
            on_call(module, inputs)

    try:
        for module in modules.values():
            handles.append(module.register_forward_pre_hook(hook))
    except BaseException:
        for handle in handles:
            handle.remove()
        raise
    return handles


def _global_hooks() -> bool:
    """Whether hooks registered for every module are active."""
    from torch.nn.modules import module as torch_module

    return any(
        getattr(torch_module, name, None)
        for name in ("_global_forward_hooks", "_global_forward_pre_hooks")
    )


def discover(
    modules: Mapping[str, nn.Module],
    forward: Callable[[], Any],
    rows: int,
    ancestors: Mapping[str, Sequence[nn.Module]] | None = None,
) -> list[LayerInfo]:
    """Every run of ``modules`` during one ``forward()`` of ``rows`` samples.

    Returns one :class:`LayerInfo` per run, in the order the runs finished
    (forward order for leaves; a container finishes after its children).
    Modules that did not run are absent. Hooks are gone on return.
    ``ancestors`` (see :func:`skviz.layers.ancestors_of`) lend their layout
    to batch axes the batch's size cannot tell.
    """
    ancestors = ancestors or {}
    runs: list[tuple[str, Any]] = []
    handles = _watch_runs(
        modules,
        lambda name, out: runs.append(
            (
                name,
                describe_output(
                    out, rows, modules[name], ancestors=ancestors.get(name, ())
                ),
            )
        ),
    )
    try:
        forward()
    finally:
        for handle in handles:
            handle.remove()
    calls: dict[str, int] = {}
    for name, _ in runs:
        calls[name] = calls.get(name, 0) + 1
    seen: dict[str, int] = {}
    infos = []
    for name, struct in runs:
        call = seen.get(name, 0)
        seen[name] = call + 1
        module = modules[name]
        infos.append(
            LayerInfo(
                name=name,
                type=type(module).__name__,
                call=call,
                calls=calls[name],
                is_leaf=next(module.children(), None) is None,
                output=struct,
            )
        )
    return infos


# --------------------------------------------------------------------------
# Capture
# --------------------------------------------------------------------------


class StopForward(Exception):
    """Raised from a hook once every requested output of a batch is captured.

    Deriving from ``Exception`` (not ``BaseException``) keeps it catchable by
    user ``try/except Exception`` blocks inside a forward; those are rare and
    the capture then simply completes the forward.
    """


@dataclass(frozen=True)
class Target:
    """A resolved request: which run, which tensor, where its samples are."""

    ref: LayerRef
    call: int
    path: tuple[int | str, ...]
    batch_axis: int
    sample_shape: tuple[int, ...]
    dtype: torch.dtype
    guessed: bool = False

    @property
    def name(self) -> str:
        return self.ref.text


def _without(shape: Sequence[int], axis: int) -> tuple[int, ...]:
    return tuple(shape[:axis]) + tuple(shape[axis + 1 :])


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """float64 stays float64; every other dtype is returned as float32."""
    return np.dtype(np.float64) if dtype == torch.float64 else np.dtype(np.float32)


class LayerCapture:
    """Copy the requested outputs of every batch into their sinks, one forward each.

    The first batch finds out what each reference selects: how often its
    module runs (that forward runs to the end, so that a module running
    twice is caught), the output's structure, its batch axis and the shape
    of one sample. Only then are the sinks opened, outside the forward
    pass, and the first batch's rows written to them. Later batches stop
    the forward pass as soon as every requested output has been copied.

    Where the first batch cannot tell the batch axis (several axes have
    the batch's size: a batch of one sample, or a sequence as long as the
    batch), ``hints`` from earlier calls decide, then the module's
    documented layout (``h_n`` of recurrent layers is batch-second,
    ``batch_first=False`` modules and what they contain too). Where nothing
    does, the batch is held back and the next one asked to have another
    size (``avoid``: the source picks a smaller one), and the two together
    tell the axis; only then are both written. When no batch of another
    size comes (one batch in all, or a loader of fixed batches), axis 0 is
    taken and :class:`~skviz.layers.AmbiguousBatchAxisWarning` says so; a
    later batch of another size that contradicts it raises.

    Parameters
    ----------
    modules : mapping of str to nn.Module
        The modules named by ``refs``.
    refs : list of LayerRef
    open_sink : callable
        ``open_sink(target)`` returns the sink of one :class:`Target`:
        ``region(start, stop)`` gives the C-contiguous array to fill with a
        batch's rows (any shape with the right number of elements),
        ``commit(start, stop)`` is called once the batch is complete,
        ``finish()`` gives the result and ``abort()`` cleans up after a
        failure. See :mod:`skviz._sinks`.
    activation : callable or None
        Applied to each captured tensor before it is copied.
    hints : mapping of str to int, optional
        Batch axes of references known from earlier calls.
    ancestors : mapping of str to sequence of nn.Module, optional
        The containers of each module, nearest first, whose documented
        layout decides a batch axis the module's own output cannot tell.
    calls : mapping of str to int, optional
        How often each module ran per forward pass in an earlier call on the
        same kind of input. A reference whose run is then known lets the
        first forward pass stop early too, and an ambiguous one is refused
        before any forward pass.
    """

    def __init__(
        self,
        modules,
        refs,
        open_sink,
        activation=None,
        hints=None,
        calls=None,
        ancestors=None,
    ):
        self.modules = modules
        self.ancestors = dict(ancestors or {})
        self.refs = list(refs)
        self.open_sink = open_sink
        self.activation = activation
        self.hints = dict(hints or {})
        self.known_calls = dict(calls or {})
        for ref in self.refs:
            if ref.module in self.known_calls:
                select_run(ref, self.known_calls[ref.module])
        self._ran_to_end = False
        self._direct: int | None = None
        self.targets: list[Target] = []
        self.sinks: list[Any] = []
        self._by_module: dict[str, list[int]] = {}
        for i, ref in enumerate(self.refs):
            self._by_module.setdefault(ref.module, []).append(i)
        self._handles: list[Any] = []
        self._start = self._stop = 0
        self._calls: dict[str, int] = {}
        self._done: set[int] = set()
        self._regions: list[torch.Tensor] = []
        # First batch only: output structure of each run, and each request's
        # rows, copied while the forward runs (a later in-place op would
        # change the tensor itself).
        self._runs: dict[str, list[Any]] = {}
        self._raw: dict[int, torch.Tensor] = {}
        # Batches held back until the batch axis is known: (start, stop,
        # runs, raw rows), in order.
        self._pending: list[tuple[int, int, dict, dict]] = []
        self._confirmed: set[int] = set()
        #: Batch sizes the next batch should not have (see the class docstring).
        self.avoid: frozenset[int] = frozenset()

    @property
    def resolved(self) -> bool:
        return bool(self.targets)

    def __enter__(self) -> LayerCapture:
        self._handles = _watch_runs(
            {name: self.modules[name] for name in self._by_module}, self._on_run
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is not None:
            self.abort()

    def close(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def abort(self) -> None:
        for sink in self.sinks:
            sink.abort()
        self.sinks = []

    def begin_batch(self, start: int, stop: int) -> None:
        self._start, self._stop = start, stop
        self._calls = dict.fromkeys(self._by_module, 0)
        self._done = set()
        if self.resolved:
            self._regions = [
                torch.from_numpy(sink.region(start, stop)).view(
                    stop - start, *target.sample_shape
                )
                for sink, target in zip(self.sinks, self.targets, strict=True)
            ]
        else:
            self._runs = {name: [] for name in self._by_module}
            self._raw = {}

    def end_batch(self, n_rows: int | None = None) -> None:
        """Close a batch; ``n_rows`` (all rows to cover) lets a first batch
        whose batch axis is unclear wait for the next one."""
        if not self.resolved:
            if not self._pending:
                self._ran_to_end = not (
                    self.stop_early and len(self._done) == len(self.refs)
                )
            self._pending.append((self._start, self._stop, self._runs, self._raw))
            unclear = len(self._pending) == 1 and self._unclear()
            if unclear and n_rows is not None and self._stop < n_rows:
                self.avoid = frozenset({self._stop - self._start})
                return
            self.avoid = frozenset()
            self._resolve()
            self._write_pending()
            return
        if len(self._done) != len(self.targets):
            missing = [
                t.name for i, t in enumerate(self.targets) if i not in self._done
            ]
            raise RuntimeError(
                f"Layer(s) {missing} did not produce an output for samples "
                f"{self._start}:{self._stop}, although they did on the first batch; "
                "the forward pass takes a data-dependent path."
            )
        for sink in self.sinks:
            sink.commit(self._start, self._stop)

    def finish(self, n_rows: int) -> list[Any]:
        """The result of every sink, in the order of ``refs``.

        ``n_rows`` is how many rows the batches had to cover: a source that
        gave fewer (a loader dropping its last batch) must not leave rows
        unwritten.
        """
        if self._stop != n_rows or not self.resolved:
            raise RuntimeError(
                f"The batches covered {self._stop} of {n_rows} samples; every "
                "sample needs its row (a data loader that drops or skips samples "
                "cannot be inspected)."
            )
        self.targets = [
            replace(t, guessed=False) if i in self._confirmed else t
            for i, t in enumerate(self.targets)
        ]
        for target in self.targets:
            if target.guessed:
                warnings.warn(
                    AmbiguousBatchAxisWarning(
                        f"No batch could tell which axis of {target.name!r} holds "
                        f"the samples: every batch had as many samples as another "
                        f"axis has entries, and the module documents no layout. "
                        f"Axis {target.batch_axis} was taken, by convention; pass "
                        "a batch_size that no axis of this output has (and that "
                        "is smaller than the number of samples) to be sure."
                    ),
                    stacklevel=4,
                )
        return [sink.finish() for sink in self.sinks]

    # -- hooks ---------------------------------------------------------

    @property
    def stop_early(self) -> bool:
        """Whether a forward may stop once everything is copied.

        On the first batch only when every reference names its run, or its
        module is known to run once: otherwise the rest of that forward must
        run to count the runs.
        """
        return self.resolved or all(
            r.call is not None or self.known_calls.get(r.module) == 1 for r in self.refs
        )

    @property
    def observed_calls(self) -> dict[str, int]:
        """Runs per forward pass of each hooked module, when the first batch
        ran to the end (empty otherwise)."""
        if not self._ran_to_end:
            return {}
        return {name: len(runs) for name, runs in self._runs.items()}

    def _on_run(self, name: str, output: Any) -> None:
        call = self._calls[name]
        self._calls[name] = call + 1
        if self.resolved:
            for i in self._by_module[name]:
                if self.targets[i].call == call:
                    self._copy(i, select_path(output, self.targets[i].path))
        else:
            self._first_run(name, call, output)
        if self.stop_early and len(self._done) == len(self.refs):
            raise StopForward

    def _first_run(self, name: str, call: int, output: Any) -> None:
        rows = self._stop - self._start
        hints = {}
        for i in self._by_module[name]:
            ref = self.refs[i]
            if ref.text in self.hints:
                hints[ref.path] = self.hints[ref.text]
        struct = describe_output(
            output,
            rows,
            self.modules[name],
            hints=hints,
            ancestors=self.ancestors.get(name, ()),
        )
        self._runs[name].append(struct)
        for i in self._by_module[name]:
            ref = self.refs[i]
            if (ref.call or 0) != call:
                continue
            try:
                info = select_path(struct, ref.path)
            except (KeyError, IndexError, TypeError):
                continue
            if not isinstance(info, TensorInfo) or info.batch_axis is None:
                continue
            tensor = select_path(output, ref.path).detach()
            self._raw[i] = tensor.to("cpu", copy=True)
            self._done.add(i)

    def _activate(self, tensor: torch.Tensor, name: str) -> torch.Tensor:
        result = self.activation(tensor)
        if not isinstance(result, torch.Tensor):
            raise TypeError(
                f"activation returned a {type(result).__name__} for {name!r}; it "
                "must take a tensor and return a tensor of the same shape."
            )
        return result

    def _copy(self, i: int, tensor: torch.Tensor) -> None:
        target = self.targets[i]
        tensor = tensor.detach()
        rows = self._stop - self._start
        if target.guessed and i not in self._confirmed:
            self._check_guess(i, target, tensor, rows)
        if target.batch_axis != 0:
            if tensor.ndim <= target.batch_axis:
                self._raise_shape(target, tensor, rows)
            tensor = tensor.movedim(target.batch_axis, 0)
        if self.activation is not None:
            tensor = self._activate(tensor, target.name)
        if tuple(tensor.shape) != (rows, *target.sample_shape):
            self._raise_shape(target, tensor, rows)
        self._regions[i].copy_(tensor)
        self._done.add(i)

    # -- first batch ---------------------------------------------------

    def _unclear(self) -> bool:
        """Whether the batch just run left a requested batch axis to convention."""
        start, stop, runs, _ = self._pending[-1]
        for ref in self.refs:
            module_runs = runs[ref.module]
            info = select_tensor(
                ref, module_runs[select_run(ref, len(module_runs))], stop - start
            )
            if info.guessed:
                return True
        return False

    def _resolve(self) -> None:
        """Targets from the batches held back: each one's run, tensor and axis."""
        targets = []
        for ref in self.refs:
            infos = []
            for start, stop, runs, _ in self._pending:
                module_runs = runs[ref.module]
                call = select_run(ref, len(module_runs))
                infos.append(
                    (stop - start, select_tensor(ref, module_runs[call], stop - start))
                )
            rows, first = infos[0]
            axes = [d for d, size in enumerate(first.shape) if size == rows]
            for rows_k, info in infos[1:]:
                axes = [
                    d
                    for d in axes
                    if len(info.shape) == len(first.shape)
                    and info.shape[d] == rows_k
                    and _without(info.shape, d) == _without(first.shape, d)
                ]
            if not axes:
                shapes = [info.shape for _, info in infos]
                raise RuntimeError(
                    f"Output {ref.text!r} has shapes {shapes} for batches of "
                    f"{[r for r, _ in infos]} samples: its per-sample shape varies "
                    "between batches, so its rows cannot be stacked."
                )
            axis = first.batch_axis if first.batch_axis in axes else axes[0]
            targets.append(
                Target(
                    ref=ref,
                    call=call,
                    path=ref.path,
                    batch_axis=axis,
                    sample_shape=_without(first.shape, axis),
                    dtype=first.dtype,
                    guessed=first.guessed and len(axes) > 1,
                )
            )
        self.targets = targets
        # Outside the forward pass: a bad ``out`` fails here, not inside a hook.
        for target in targets:
            self.sinks.append(self.open_sink(target))
        self._use_direct_linear()

    def _write_pending(self) -> None:
        """Write and commit the batches held back, in order."""
        for start, stop, _, raw in self._pending:
            rows = stop - start
            for i, (sink, target) in enumerate(
                zip(self.sinks, self.targets, strict=True)
            ):
                tensor = raw.pop(i)
                if target.batch_axis:
                    tensor = tensor.movedim(target.batch_axis, 0)
                if self.activation is not None:
                    tensor = self._activate(tensor, target.name)
                if tuple(tensor.shape) != (rows, *target.sample_shape):
                    raise ValueError(
                        f"activation changed the shape of {target.name!r} from "
                        f"{(rows, *target.sample_shape)} to {tuple(tensor.shape)}; "
                        "it must act element-wise."
                    )
                region = torch.from_numpy(sink.region(start, stop))
                region.view(rows, *target.sample_shape).copy_(tensor)
            for sink in self.sinks:
                sink.commit(start, stop)
        self._pending = []

    def _check_guess(self, i: int, target: Target, tensor: torch.Tensor, rows: int):
        """A batch of another size tells whether a conventional axis was right."""
        if tensor.ndim <= target.batch_axis or tensor.shape[target.batch_axis] != rows:
            self._raise_guess(target, tensor, rows)
        if sum(size == rows for size in tensor.shape) == 1:
            self._confirmed.add(i)

    def _use_direct_linear(self) -> None:
        """Compute the last output of each batch straight into its rows, when it
        is a plain ``nn.Linear``'s.

        The layer whose output completes a batch is the one after which the
        forward pass stops. When it is an ``nn.Linear`` itself (no subclass,
        no other hook), a pre-hook runs ``torch.addmm(bias, x, W.T,
        out=rows)``, the kernel ``F.linear`` runs for 2-D input, into the
        result, and stops the forward pass there: the layer's output is
        neither allocated nor copied. Anything else (other input shapes or
        dtypes, another run) falls back to the module's own forward.
        """
        order = list(self._pending[0][3]) if self._pending else []
        if not order:
            return
        last = order[-1]
        target = self.targets[last]
        module = self.modules[target.ref.module]
        if (
            type(module) is nn.Linear
            and not target.path
            and target.batch_axis == 0
            and not target.guessed
            and len(module._forward_hooks) == 1
            and not module._forward_pre_hooks
            and not _global_hooks()
        ):
            self._direct = last
            self._handles.extend(
                _watch_calls({target.ref.module: module}, self._direct_linear)
            )

    def _direct_linear(self, module: nn.Linear, inputs: tuple) -> None:
        i = self._direct
        target = self.targets[i]
        if (
            not self.resolved
            or self._calls[target.ref.module] != target.call
            or len(self._done) != len(self.targets) - 1
            or len(inputs) != 1
        ):
            return
        x, region = inputs[0], self._regions[i]
        if not (
            isinstance(x, torch.Tensor)
            and x.dim() == 2
            and x.shape[0] == region.shape[0]
            and x.dtype == region.dtype == module.weight.dtype
            and x.device == region.device == module.weight.device
        ):
            return
        if module.bias is None:
            torch.mm(x, module.weight.t(), out=region)
        else:
            torch.addmm(module.bias, x, module.weight.t(), out=region)
        if self.activation is not None:
            activated = self._activate(region, target.name)
            if activated.shape != region.shape:
                self._raise_shape(target, activated, region.shape[0])
            region.copy_(activated)
        self._done.add(i)
        raise StopForward

    def _raise_shape(self, target: Target, tensor: torch.Tensor, rows: int):
        raise RuntimeError(
            f"Output {target.name!r} has shape {tuple(tensor.shape)} for a batch of "
            f"{rows} samples; the first batch gave {target.sample_shape} per sample. "
            "Outputs whose per-sample shape varies between batches cannot be stacked."
        )

    def _raise_guess(self, target: Target, tensor: torch.Tensor, rows: int):
        raise RuntimeError(
            f"The first batch could not tell which axis of {target.name!r} holds the "
            f"samples (several had the batch's size); axis {target.batch_axis} was "
            f"taken, but a batch of {rows} samples gives shape {tuple(tensor.shape)}. "
            "Pass a batch_size that no other axis of this output has."
        )


class OutputWatch:
    """Forward hooks on some modules, kept until :meth:`remove` (or ``with``).

    For callers watching across forward passes (a training callback).
    """

    def __init__(self, modules: Mapping[str, nn.Module], on_run: Callable):
        self._handles = _watch_runs(modules, on_run)

    def remove(self) -> None:
        """Remove every hook (again: a no-op)."""
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> OutputWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def watch_outputs(
    modules: Mapping[str, nn.Module], on_run: Callable[[str, Any], None]
) -> OutputWatch:
    """Call ``on_run(name, output)`` after every run of each module, in this thread.

    The output is passed as the module returned it (graph attached in
    training); the hooks stay until the returned object's ``remove()``.
    """
    return OutputWatch(modules, on_run)
