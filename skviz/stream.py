"""Layer activations batch by batch, without keeping them.

:func:`stream_layers` runs the same engine as ``net.capture_layers`` (one
forward pass per batch, hooks only while it runs) but hands each batch's
activations to the caller instead of writing them into one array, so that
statistics over any number of samples (CKA, moments) need memory of one
batch. Two nets are advanced together by zipping two streams.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from ._dask import check_dask_input, is_dask_array
from .capture import (
    LayerCapture,
    numpy_dtype,
    resolve_activation,
)
from .layers import LayerRef, parse_layer_names

__all__ = ["LayerBatch", "aligned", "stream_layers"]


class LayerBatch(dict):
    """Activations of one batch: ``{layer: ndarray}`` with its rows ``start:stop``.

    The arrays are fresh for every batch (the caller may keep them).
    """

    def __init__(self, start: int, stop: int, arrays: dict[str, np.ndarray]):
        super().__init__(arrays)
        self.start, self.stop = start, stop

    def __repr__(self) -> str:
        shapes = {k: v.shape for k, v in self.items()}
        return f"LayerBatch({self.start}:{self.stop}, {shapes})"


class _BatchSink:
    """A sink that keeps each committed batch for the stream to hand out."""

    def __init__(self, sample_shape: tuple[int, ...], dtype: np.dtype, ready: dict):
        self.sample_shape, self.dtype = sample_shape, dtype
        self.ready = ready
        self.regions: dict[tuple[int, int], np.ndarray] = {}

    def region(self, start: int, stop: int) -> np.ndarray:
        rows = np.empty((stop - start, *self.sample_shape), dtype=self.dtype)
        self.regions[start, stop] = rows
        return rows

    def commit(self, start: int, stop: int) -> None:
        self.ready.setdefault((start, stop), []).append(self.regions.pop((start, stop)))

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        self.regions.clear()


class _StreamCapture(LayerCapture):
    """A capture whose hooks ignore forward passes made between batches.

    While the caller holds a batch, the hooks are still on the module; a
    forward pass the caller makes then (a ``predict`` of the same net, in
    the same thread) must not write into the rows handed out.
    """

    running = False

    def _on_run(self, name, output):
        if self.running:
            super()._on_run(name, output)

    def _direct_linear(self, module, inputs):
        if self.running:
            super()._direct_linear(module, inputs)


def _stream_array(net, X, names, act, flatten, batch_size, progress, offset=0):
    known = net.layer_names()
    refs = [LayerRef.parse(n, known) for n in names]
    source = net._batches(X, batch_size=batch_size)
    ready: dict[tuple[int, int], list[np.ndarray]] = {}

    def open_sink(target):
        shape = target.sample_shape
        shape = (math.prod(shape),) if flatten else shape
        return _BatchSink(shape, numpy_dtype(target.dtype), ready)

    outer = torch.is_grad_enabled()
    batches = net.capture_batches(
        source,
        refs,
        open_sink,
        act,
        progress,
        f"streaming {len(names)} layer(s)",
        _StreamCapture,
    )
    for _ in batches:
        for (b_start, b_stop), arrays in sorted(ready.items()):
            batch = LayerBatch(
                b_start + offset,
                b_stop + offset,
                dict(zip(names, arrays, strict=True)),
            )
            del ready[b_start, b_stop]
            # The caller runs with its own autograd mode while it holds a
            # batch: a no_grad held across the yield would leak into its
            # code, and streams finishing in another order than they
            # started would restore each other's modes wrongly.
            with torch.set_grad_enabled(outer):
                yield batch


def _stream_dask(net, X, names, act, flatten, batch_size, progress):
    # One row chunk of X is computed at a time; only its activations' batches
    # exist at once, never the whole of X or of a layer.
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    offset = 0
    for block, rows in zip(X.to_delayed().reshape(-1), X.chunks[0], strict=True):
        values = np.asarray(block.compute())
        yield from _stream_array(
            net, values, names, act, flatten, batch_size, progress, offset
        )
        offset += rows


@contextmanager
def stream_layers(
    net,
    X,
    names: Sequence[str],
    *,
    activation=None,
    flatten: bool = False,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> Iterator[Iterator[LayerBatch]]:
    """Context manager giving an iterator over each batch's activations.

    See :meth:`skviz.InspectableMixin.stream_layers`.
    """
    parse_layer_names(names, net.layer_names, if_str=", not a str.")
    names = list(names)
    act = resolve_activation(activation)
    if is_dask_array(X):
        check_dask_input(X, net.__dict__.get("input_shape_"))
        batches = _stream_dask(net, X, names, act, flatten, batch_size, progress)
    else:
        batches = _stream_array(net, X, names, act, flatten, batch_size, progress)
    try:
        yield batches
    finally:
        # Runs the generator's own clean-up (hooks off, sinks dropped, locks
        # released) whether the caller finished, stopped early or raised.
        batches.close()


def aligned(*streams: Iterator[LayerBatch]) -> Iterator[tuple[LayerBatch, ...]]:
    """Zip streams over the same samples into batches covering the same rows.

    Two nets may cut the same samples into batches of different sizes (a
    first batch whose batch axis is unclear asks for a smaller next one);
    each yielded tuple holds the same rows of every stream.
    """
    pending: list[LayerBatch | None] = [None] * len(streams)
    iterators = [iter(s) for s in streams]
    while True:
        for k, it in enumerate(iterators):
            if pending[k] is None:
                pending[k] = next(it, None)
        if any(p is None for p in pending):
            if not all(p is None for p in pending):
                raise RuntimeError("The streams cover different numbers of samples.")
            return
        start = pending[0].start
        stop = min(p.stop for p in pending)
        parts = []
        for k, p in enumerate(pending):
            if p.start != start:
                raise RuntimeError("The streams are not over the same samples.")
            cut = stop - p.start
            parts.append(LayerBatch(start, stop, {n: a[:cut] for n, a in p.items()}))
            rest = {n: a[cut:] for n, a in p.items()}
            pending[k] = LayerBatch(stop, p.stop, rest) if stop < p.stop else None
        yield tuple(parts)
