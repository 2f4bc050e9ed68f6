"""Lazy activations of dask arrays.

Each chunk of rows becomes one task that runs ``transform_layers`` with the
fitted net on whichever worker holds the chunk; X is never gathered on the
driver. The net travels once per graph as a single delayed object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["is_dask_array", "transform_dask"]


def is_dask_array(X: Any) -> bool:
    # Checked by type name so that dask stays an optional dependency.
    return type(X).__module__.startswith("dask.array") and hasattr(X, "map_blocks")


def _block_layer(block: np.ndarray, net, name: str, kwargs: dict) -> np.ndarray:
    return net.transform_layer(block, name, **kwargs)


def transform_dask(
    net,
    X,
    names: Sequence[str],
    shapes: dict[str, tuple[int, ...]],
    dtypes: dict[str, np.dtype],
    **kwargs,
) -> dict[str, Any]:
    """One lazy dask array per layer, chunked by X's row chunks.

    Parameters
    ----------
    net : fitted inspectable net
    X : dask.array.Array of shape (n_samples, ...)
    names : layer references
    shapes, dtypes : per-sample output shape and dtype of each layer (after
        ``flatten`` if requested), known from a probe on the driver.
    **kwargs : passed to ``transform_layer`` on each chunk.
    """
    import dask

    # Only rows may be split: a sample cut in two cannot go through the net.
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    net_task = dask.delayed(net)
    results = {}
    for name in names:
        shape = shapes[name]
        chunks = (X.chunks[0], *((s,) for s in shape))
        extra: dict[str, Any] = {}
        if len(shape) + 1 > X.ndim:
            extra["new_axis"] = list(range(X.ndim, len(shape) + 1))
        elif len(shape) + 1 < X.ndim:
            extra["drop_axis"] = list(range(len(shape) + 1, X.ndim))
        results[name] = X.map_blocks(
            _block_layer,
            net_task,
            name,
            kwargs,
            dtype=dtypes[name],
            chunks=chunks,
            token=f"skviz-{name}",
            meta=np.empty((0,) * (len(shape) + 1), dtype=dtypes[name]),
            **extra,
        )
    return results
