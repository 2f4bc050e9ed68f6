"""Input checks and batching for inspection calls.

Plain arrays, tensors and numeric DataFrames take a fast path: they are
sliced into batches directly, with no per-sample Dataset/DataLoader collate.
Everything else (dicts, Datasets, lists, sparse matrices) goes through the
net's own skorch dataset and ``iterator_valid`` so it behaves as ``predict``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from skorch.dataset import unpack_data


def module_float_dtype(module: torch.nn.Module) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def numpy_dtype_of(dtype: torch.dtype) -> np.dtype:
    return torch.empty((), dtype=dtype).numpy().dtype


def is_numeric_frame(X: Any) -> bool:
    return isinstance(X, pd.DataFrame) and all(
        pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
        for dt in X.dtypes
    )


def frame_to_array(X: pd.DataFrame) -> np.ndarray:
    # float32 directly: the dtype every float module takes, and half the copy.
    # copy=True: pandas 3 hands out read-only views, on which torch warns.
    return X.to_numpy(dtype=np.float32, copy=True)


def _all_finite(X, isfinite, block_bytes: int = 8 * 2**20) -> bool:
    # In blocks of rows: a mask of all of X would cost a quarter of X's size
    # (a 2M x 64 float32 X: 128 MB), more than out-of-core runs may use.
    row_bytes = max(1, X[:1].numel() if isinstance(X, torch.Tensor) else X[:1].size)
    step = max(1, block_bytes // row_bytes)
    return all(bool(isfinite(X[i : i + step]).all()) for i in range(0, len(X), step))


def check_array_input(X: Any, fitted_shape: tuple[int, ...] | None, what: str) -> None:
    """Validate an ndarray or tensor before any forward pass runs."""
    if X.ndim == 0:
        raise ValueError(
            f"{what}: expected an array with one row per sample, got a scalar."
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"{what}: X is empty (0 samples, shape {tuple(X.shape)}); "
            "pass at least one sample."
        )
    if X.ndim > 1 and 0 in X.shape[1:]:
        # Wording as sklearn's check_array, which estimator checks match.
        raise ValueError(
            f"{what}: X has 0 feature(s) (shape={tuple(X.shape)}) while a minimum "
            "of 1 is required."
        )
    if isinstance(X, np.ndarray):
        if X.dtype.kind == "c":
            raise ValueError(f"{what}: Complex data not supported (X is {X.dtype}).")
        if X.dtype.kind not in "biuf":
            raise ValueError(
                f"{what}: X must be numeric, got an array of dtype {X.dtype}."
            )
        finite = X.dtype.kind != "f" or _all_finite(X, np.isfinite)
    else:
        finite = not X.is_floating_point() or _all_finite(X, torch.isfinite)
    if not finite:
        raise ValueError(
            f"{what}: X contains NaN or infinity; the net cannot give meaningful "
            "activations for them. Impute or drop those samples first."
        )
    if fitted_shape is not None and tuple(X.shape[1:]) != tuple(fitted_shape):
        if len(fitted_shape) == 1 and X.ndim == 2:
            raise ValueError(
                f"{what}: X has {X.shape[1]} features, but the net was fitted with "
                f"{fitted_shape[0]} features."
            )
        raise ValueError(
            f"{what}: each sample of X has shape {tuple(X.shape[1:])}, but the net "
            f"was fitted on samples of shape {tuple(fitted_shape)}."
        )


class ArrayBatches:
    """Slices of an ndarray or tensor, moved to the device batch by batch."""

    def __init__(self, X, batch_size: int, device, dtype: torch.dtype):
        self.X = X
        self.n = int(X.shape[0])
        # -1 means one batch of everything, as skorch's batch_size=-1.
        self.batch_size = batch_size if batch_size > 0 else max(self.n, 1)
        self.device = device
        # Integer inputs (token ids for an embedding) keep their dtype.
        is_float = (
            X.dtype.kind == "f" if isinstance(X, np.ndarray) else X.is_floating_point()
        )
        self.dtype = dtype if is_float else None

    def _to_tensor(self, part) -> torch.Tensor:
        # Each batch is a private copy: a module may change its input in
        # place (``x /= 255``, an inplace activation on x), which must not
        # reach the caller's X. The copy is
        # also writable, which torch wants (pandas 3 frames are read-only).
        # Casting here, per batch, keeps a float64 X from being copied whole.
        if isinstance(part, np.ndarray):
            np_dtype = None if self.dtype is None else numpy_dtype_of(self.dtype)
            part = torch.from_numpy(np.array(part, dtype=np_dtype, order="C"))
            return part.to(device=self.device)
        return part.to(device=self.device, dtype=self.dtype, copy=True)

    def __iter__(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        for start in range(0, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            yield start, stop, self._to_tensor(self.X[start:stop])


class DatasetBatches:
    """Batches from the net's skorch dataset and validation iterator."""

    def __init__(self, net, X, batch_size: int):
        self.net = net
        self.dataset = net.get_dataset(X)
        self.n = len(self.dataset)
        self.batch_size = batch_size if batch_size > 0 else max(self.n, 1)
        if self.n == 0:
            raise ValueError(
                "Inspection: X is empty (0 samples); pass at least one sample."
            )

    def _loader(self, dataset):
        kwargs = self.net.get_params_for("iterator_valid")
        kwargs["batch_size"] = self.batch_size
        kwargs["shuffle"] = False
        return self.net.iterator_valid(dataset, **kwargs)

    def __iter__(self):
        start = 0
        for batch in self._loader(self.dataset):
            Xi = unpack_data(batch)[0]
            stop = start + _batch_len(Xi)
            yield start, stop, Xi
            start = stop


def _batch_len(Xi) -> int:
    if isinstance(Xi, dict):
        Xi = next(iter(Xi.values()))
    if isinstance(Xi, list | tuple):
        Xi = Xi[0]
    return len(Xi)
