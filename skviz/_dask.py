"""Lazy activations of dask arrays.

Each chunk of rows becomes one task that runs ``transform_layer`` with the
fitted net on whichever worker holds the chunk; X is never gathered on the
driver. The net travels as one pickled payload per graph and is unpickled
once per worker process.
"""

from __future__ import annotations

import math
import pickle
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["check_dask_input", "is_dask_array", "transform_dask"]


def is_dask_array(X: Any) -> bool:
    # Checked by type name so that dask stays an optional dependency.
    return type(X).__module__.startswith("dask.array") and hasattr(X, "map_blocks")


# Nets unpickled on this worker process, by token: one copy per process, not
# one per chunk. Guarded, since a worker may run several tasks at once.
_NETS: dict[str, Any] = {}
_NETS_LOCK = threading.Lock()
_NETS_KEPT = 4


def _worker_net(token: str, payload: bytes):
    with _NETS_LOCK:
        net = _NETS.get(token)
        if net is None:
            while len(_NETS) >= _NETS_KEPT:
                _NETS.pop(next(iter(_NETS)))
            net = _NETS[token] = pickle.loads(payload)
        return net


def _block_layers(block: np.ndarray, token: str, payload: bytes, names, kwargs):
    # capture_layers, not transform_layers: the cached net must not keep a
    # reference to every chunk it saw (``inspection_X_``).
    return _worker_net(token, payload).capture_layers(block, list(names), **kwargs)


def check_dask_input(X, fitted_shape: tuple[int, ...] | None) -> None:
    """Refuse a dask array whose result could not be laid out, before any task."""
    if X.ndim and any(math.isnan(rows) for rows in X.chunks[0]):
        raise ValueError(
            "The dask array X has chunks of unknown size (after boolean "
            "indexing, say); the result's chunks must be known. Call "
            "X.compute_chunk_sizes() first."
        )
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(
            "X is an empty dask array (0 samples); pass at least one sample."
        )
    if fitted_shape is not None and tuple(X.shape[1:]) != tuple(fitted_shape):
        raise ValueError(
            f"each sample of the dask array X has shape {tuple(X.shape[1:])}, but the "
            f"net was fitted on samples of shape {tuple(fitted_shape)}."
        )


def transform_dask(
    net,
    X,
    names: Sequence[str],
    shapes: dict[str, tuple[int, ...]],
    dtypes: dict[str, np.dtype],
    **kwargs,
) -> dict[str, Any]:
    """One lazy dask array per layer, chunked by X's row chunks.

    Each chunk of rows is one task that captures every requested layer in
    one forward pass per batch; the layers' arrays are views into those
    tasks' results, so computing several of them together (``dask.compute``)
    runs the net once per chunk, not once per layer.

    Parameters
    ----------
    net : fitted inspectable net
    X : dask.array.Array of shape (n_samples, ...)
    names : layer references
    shapes, dtypes : per-sample output shape and dtype of each layer (after
        ``flatten`` if requested), known on the driver.
    **kwargs : passed to ``capture_layers`` on each chunk.
    """
    import dask
    import dask.array as da

    # Only rows may be split: a sample cut in two cannot go through the net.
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    # The graph carries the pickled net as one shared key of plain bytes.
    # Shipping the live net object instead would let a worker serialise it
    # for a peer while one of its own tasks has capture hooks attached.
    payload = dask.delayed(pickle.dumps(net))
    token = uuid.uuid4().hex
    capture = dask.delayed(_block_layers, pure=True)
    blocks = X.to_delayed().reshape(-1)
    captured = [
        capture(block, token, payload, tuple(names), kwargs) for block in blocks
    ]
    results = {}
    for name in names:
        parts = [
            da.from_delayed(
                result[name], shape=(rows, *shapes[name]), dtype=dtypes[name]
            )
            for result, rows in zip(captured, X.chunks[0], strict=True)
        ]
        results[name] = da.concatenate(parts, axis=0)
    return results
