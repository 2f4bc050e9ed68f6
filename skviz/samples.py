"""Counting and picking samples in every container skorch accepts.

``len(X)`` is the number of samples only for arrays and frames: for a dict
of arrays (``input_ids``/``attention_mask``), a skorch ``SliceDict`` or a
list of arrays it is the number of keys or parts. Displays that check
labels against ``X`` or draw a few of its samples count and pick the way
skorch does, through the two functions here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from skorch.dataset import get_len
from skorch.utils import multi_indexing

from ._data import is_sparse

__all__ = ["n_samples", "take_samples"]


def n_samples(X: Any) -> int:
    """The number of samples in ``X``, counted as skorch counts them.

    Arrays, tensors and sparse matrices: their first axis. DataFrames and
    ``Dataset`` objects: their length. Dicts (and ``SliceDict``), lists
    and tuples of arrays: the common length of their values.

    Raises
    ------
    ValueError
        When the values of a dict or list disagree on the number of samples.
    """
    if isinstance(X, np.ndarray | torch.Tensor) or is_sparse(X):
        return int(X.shape[0])
    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, Mapping):
        return len(X)
    try:
        return int(get_len(X))
    except ValueError:
        lengths = {k: len(v) for k, v in X.items()} if isinstance(X, Mapping) else None
        detail = f": {lengths}" if lengths else ""
        raise ValueError(
            f"The parts of X disagree on the number of samples{detail}."
        ) from None


def take_samples(X: Any, rows: Any) -> Any:
    """The samples of ``X`` at positions ``rows``, in the same kind of container.

    A ``Dataset`` comes back as a ``torch.utils.data.Subset``; dicts and
    ``SliceDict`` keep their keys; DataFrames keep their index.
    """
    rows = np.asarray(rows)
    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, Mapping):
        return torch.utils.data.Subset(X, rows.tolist())
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(rows, device=X.device)]
    if isinstance(X, np.ndarray):
        return X[rows]
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if hasattr(X, "tocsr"):
        return X.tocsr()[rows]
    if isinstance(X, Mapping):
        if hasattr(X, "_len"):  # skorch's SliceDict indexes its own rows
            return X[rows]
        return {k: take_samples(v, rows) for k, v in X.items()}
    return multi_indexing(X, rows)
