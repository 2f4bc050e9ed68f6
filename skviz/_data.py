"""Input checks and batching for fitting and inspection.

Everything a user may pass as ``X`` is checked here before any forward pass
runs, with a message that names what is wrong (the column, the key, the
dtype, the argument), and turned into batches:

* arrays, tensors, numeric DataFrames and other array-likes are sliced into
  batches directly, with no per-sample Dataset/DataLoader collate;
* scipy sparse matrices and arrays are sliced by rows and made dense one
  batch at a time;
* everything else (dicts of arrays, Datasets, lists) goes through the net's
  own skorch dataset and ``iterator_valid``, as ``predict`` does, but
  always in order and with every sample (no shuffling, no dropped last
  batch).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from skorch.dataset import unpack_data
from torch.utils.data import IterableDataset

__all__ = [
    "ArrayBatches",
    "DatasetBatches",
    "SparseBatches",
    "as_array_if_array_like",
    "check_array_input",
    "check_batch_size",
    "check_dict_input",
    "fit_input_attributes",
    "forward_takes_columns",
    "input_dtype",
    "is_sparse",
    "make_batches",
    "module_float_dtype",
    "normalize_input",
    "numpy_dtype_of",
]


def module_float_dtype(module: torch.nn.Module) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def numpy_dtype_of(dtype: torch.dtype) -> np.dtype:
    return torch.empty((), dtype=dtype).numpy().dtype


def is_sparse(X: Any) -> bool:
    try:
        import scipy.sparse
    except ImportError:  # scipy comes with scikit-learn; be safe anyway
        return False
    return scipy.sparse.issparse(X)


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int: positive, or -1 for all samples at once."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or (batch_size < 1 and batch_size != -1)
    ):
        raise ValueError(
            f"batch_size must be a positive integer or -1 (all samples in one "
            f"batch, as in skorch), got {batch_size!r}."
        )
    return int(batch_size)


# --------------------------------------------------------------------------
# What X is
# --------------------------------------------------------------------------


def forward_takes_columns(module: torch.nn.Module | None, X: pd.DataFrame) -> bool:
    """Whether ``module.forward`` takes every column of ``X`` as an argument."""
    if module is None:
        return False
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    return all(str(c) in params for c in X.columns)


def _frame_to_array(X: pd.DataFrame, what: str) -> np.ndarray:
    bad = [
        f"{col!r} ({dtype})"
        for col, dtype in X.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if bad:
        raise ValueError(
            f"{what}: X has non-numeric column(s) {', '.join(bad)}; the net takes "
            "numbers only. Encode them first (e.g. OneHotEncoder for categories, "
            ".astype(float) for booleans)."
        )
    # float32 directly: the dtype every float module takes, and half the copy.
    # copy=True: pandas 3 hands out read-only views, on which torch warns.
    return X.to_numpy(dtype=np.float32, copy=True)


def normalize_input(X: Any, module: torch.nn.Module | None, what: str) -> Any:
    """``X`` as an ndarray, tensor, sparse matrix, dict or Dataset.

    DataFrames become float32 arrays (unless ``forward`` takes their
    columns by name), other array-likes (anything with ``__array__``)
    ndarrays. Streams whose length is unknown are refused.
    """
    if isinstance(X, IterableDataset) or (
        isinstance(X, Iterator) and not isinstance(X, Mapping)
    ):
        raise TypeError(
            f"{what}: X is a {type(X).__name__}, a stream of unknown length; "
            "activations are written into arrays of one row per sample, so the "
            "number of samples must be known up front. Pass an array, a dict of "
            "arrays or a map-style Dataset (one with __len__ and __getitem__)."
        )
    if isinstance(X, pd.DataFrame):
        if forward_takes_columns(module, X):
            return X
        return _frame_to_array(X, what)
    if isinstance(X, np.ndarray | torch.Tensor | Mapping) or is_sparse(X):
        return X
    return as_array_if_array_like(X)


def input_dtype(
    X_dtype: np.dtype | torch.dtype,
    module_dtype: torch.dtype,
    fitted_dtype: torch.dtype | None,
    what: str,
) -> torch.dtype | None:
    """The dtype batches of ``X`` are cast to; None keeps X's own.

    Floats take the module's float dtype. Integers and booleans stay as
    they are (token ids for an embedding) unless the net was fitted on
    floats: then they are numbers, and are cast like floats.
    """
    if isinstance(X_dtype, torch.dtype):
        is_float = X_dtype.is_floating_point
        is_integral = not is_float and not X_dtype.is_complex
    else:
        is_float = X_dtype.kind == "f"
        is_integral = X_dtype.kind in "biu"
    if is_float:
        if fitted_dtype is not None and not fitted_dtype.is_floating_point:
            raise TypeError(
                f"{what}: X is {X_dtype}, but the net was fitted on integer input "
                f"({fitted_dtype}, e.g. token ids). Pass integers."
            )
        return module_dtype
    if is_integral and fitted_dtype is not None and fitted_dtype.is_floating_point:
        return module_dtype
    return None


def as_array_if_array_like(values: Any) -> Any:
    """Array-likes as ndarrays, for skorch: objects that only offer
    ``__array__``, and (nested) lists of numbers.

    Arrays, tensors, frames, dicts, Datasets, sparse matrices and lists of
    arrays (skorch's several inputs) are left as they are.
    """
    if isinstance(values, list | tuple):
        if any(isinstance(v, np.ndarray | torch.Tensor | Mapping) for v in values):
            return values
        try:
            array = np.asarray(values)
        except ValueError:  # ragged
            return values
        return array if array.dtype.kind in "biuf" else values
    if (
        values is None
        or isinstance(
            values,
            np.ndarray | torch.Tensor | pd.DataFrame | pd.Series | Mapping,
        )
        or isinstance(values, torch.utils.data.Dataset)
        or is_sparse(values)
        or not hasattr(values, "__array__")
    ):
        return values
    return np.asarray(values)


def fit_input_attributes(X: Any) -> dict[str, Any]:
    """Fitted attributes that describe the training input.

    ``input_shape_`` (one sample's shape), ``input_dtype_`` and
    ``n_features_in_`` for arrays, tensors, numeric DataFrames and sparse
    matrices; ``input_shapes_`` (per key) for a dict of arrays.
    """
    if isinstance(X, Mapping):
        shapes = {
            key: tuple(int(s) for s in value.shape[1:])
            for key, value in X.items()
            if isinstance(value, np.ndarray | torch.Tensor) and value.ndim >= 1
        }
        return {"input_shapes_": shapes} if shapes else {}
    if not (isinstance(X, np.ndarray | torch.Tensor | pd.DataFrame) or is_sparse(X)):
        return {}
    attrs: dict[str, Any] = {"input_shape_": tuple(int(s) for s in X.shape[1:])}
    if isinstance(X, torch.Tensor):
        attrs["input_dtype_"] = X.dtype
    elif isinstance(X, np.ndarray) or is_sparse(X):
        # Integer inputs (token ids) stay integers when the shapes of layers
        # are learned from zeros.
        dtype = np.dtype(X.dtype).newbyteorder("=")
        attrs["input_dtype_"] = torch.from_numpy(np.zeros(0, dtype)).dtype
    else:
        attrs["input_dtype_"] = torch.float32
    if len(X.shape) == 2:
        attrs["n_features_in_"] = int(X.shape[1])
    return attrs


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def _all_finite(X, isfinite, block_bytes: int = 8 * 2**20) -> bool:
    # In blocks of rows: a mask of all of X would cost a quarter of X's size
    # (a 2M x 64 float32 X: 128 MB), more than out-of-core runs may use.
    row_bytes = max(1, X[:1].numel() if isinstance(X, torch.Tensor) else X[:1].size)
    step = max(1, block_bytes // row_bytes)
    return all(bool(isfinite(X[i : i + step]).all()) for i in range(0, len(X), step))


def check_array_input(
    X: Any,
    fitted_shape: tuple[int, ...] | None,
    what: str,
    owner: str = "the net",
) -> None:
    """Validate an ndarray, tensor or sparse matrix before any forward pass runs.

    ``what`` starts every message (where the check runs); ``owner`` is who
    expects the fitted shape, in scikit-learn's wording.
    """
    if len(X.shape) == 0:
        raise ValueError(
            f"{what}: expected an array with one row per sample, got a scalar."
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"{what}: X is empty (0 samples, shape {tuple(X.shape)}); "
            "pass at least one sample."
        )
    if len(X.shape) > 1 and 0 in X.shape[1:]:
        # Wording as sklearn's check_array, which estimator checks match.
        raise ValueError(
            f"{what}: X has 0 feature(s) (shape={tuple(X.shape)}) while a minimum "
            "of 1 is required."
        )
    if isinstance(X, torch.Tensor):
        if X.is_complex():
            raise ValueError(f"{what}: Complex data not supported (X is {X.dtype}).")
        finite = not X.is_floating_point() or _all_finite(X, torch.isfinite)
    else:
        dtype = np.dtype(X.dtype)
        if dtype.kind == "c":
            raise ValueError(f"{what}: Complex data not supported (X is {dtype}).")
        if dtype.kind not in "biuf":
            raise ValueError(
                f"{what}: X must be numeric, got an array of dtype {dtype}."
            )
        if is_sparse(X):
            finite = dtype.kind != "f" or bool(np.isfinite(X.data).all())
        else:
            finite = dtype.kind != "f" or _all_finite(X, np.isfinite)
    if not finite:
        raise ValueError(
            f"{what}: X contains NaN or infinity; the net cannot give meaningful "
            "activations for them. Impute or drop those samples first."
        )
    if fitted_shape is not None and tuple(X.shape[1:]) != tuple(fitted_shape):
        if len(fitted_shape) == 1 and len(X.shape) == 1:
            raise ValueError(
                f"{what}: expected a 2-D array of samples, got a 1-D array. Reshape "
                "your data either using array.reshape(-1, 1) if your data has a "
                "single feature or array.reshape(1, -1) if it contains a single "
                "sample."
            )
        if len(fitted_shape) == 1 and len(X.shape) == 2:
            raise ValueError(
                f"{what}: X has {X.shape[1]} features, but {owner} is expecting "
                f"{fitted_shape[0]} features as input."
            )
        raise ValueError(
            f"{what}: each sample of X has shape {tuple(X.shape[1:])}, but the net "
            f"was fitted on samples of shape {tuple(fitted_shape)}."
        )


def check_dict_input(
    X: Mapping,
    fitted_shapes: Mapping[str, tuple[int, ...]] | None,
    what: str,
    owner: str = "the net",
) -> None:
    """Validate every array of a dict input, and that they agree on the samples."""
    lengths = {}
    for key, value in X.items():
        if isinstance(value, np.ndarray | torch.Tensor):
            fitted = None if fitted_shapes is None else fitted_shapes.get(key)
            check_array_input(value, fitted, f"{what}: X[{key!r}]", owner)
            lengths[key] = len(value)
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{what}: the arrays of X have different numbers of samples: {lengths}."
        )


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------


def _batch_size_for(batch_size: int, n: int) -> int:
    # -1 means one batch of everything, as skorch's batch_size=-1.
    return batch_size if batch_size > 0 else max(n, 1)


class ArrayBatches:
    """Slices of an ndarray or tensor, moved to the device batch by batch.

    ``dtype`` is the torch dtype of every batch; None keeps X's own (in
    native byte order).
    """

    #: Batch sizes the next batch should not have, when it can (set by the
    #: capture between batches).
    avoid: frozenset[int] = frozenset()

    def __init__(self, X, batch_size: int, device, dtype: torch.dtype | None):
        self.X = X
        self.n = int(X.shape[0])
        self.batch_size = _batch_size_for(batch_size, self.n)
        self.device = device
        self.dtype = dtype

    def _to_tensor(self, part) -> torch.Tensor:
        # Each batch is a private copy: a module may change its input in
        # place (``x /= 255``, an inplace activation on x), which must not
        # reach the caller's X. The copy is also writable, which torch wants
        # (pandas 3 frames are read-only), and in native byte order, which
        # torch needs. Casting here, per batch, keeps a float64 X from being
        # copied whole.
        if isinstance(part, np.ndarray):
            if self.dtype is None:
                np_dtype = part.dtype.newbyteorder("=")
            else:
                np_dtype = numpy_dtype_of(self.dtype)
            part = torch.from_numpy(np.array(part, dtype=np_dtype, order="C"))
            return part.to(device=self.device)
        return part.to(device=self.device, dtype=self.dtype, copy=True)

    @property
    def input_key(self) -> tuple:
        """What calls on X have in common: the shape of one sample and dtype.

        Facts learned about the module on one call (how often a layer
        runs) hold for later calls with the same key.
        """
        return (type(self).__name__, tuple(self.X.shape[1:]), str(self.X.dtype))

    def _rows(self, start: int, stop: int):
        return self.X[start:stop]

    def __iter__(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        start = 0
        while start < self.n:
            size = min(self.batch_size, self.n - start)
            # A size the consumer asked to avoid (one that another axis of
            # an output also has) becomes the next smaller one.
            while size > 1 and size in self.avoid:
                size -= 1
            stop = start + size
            yield start, stop, self._to_tensor(self._rows(start, stop))
            start = stop


class SparseBatches(ArrayBatches):
    """Row slices of a scipy sparse matrix or array, made dense one batch at a time."""

    def __init__(self, X, batch_size: int, device, dtype: torch.dtype | None):
        # CSR slices rows cheaply; COO and friends cannot be sliced at all.
        super().__init__(X.tocsr(), batch_size, device, dtype)

    def _rows(self, start: int, stop: int):
        return self.X[start:stop].toarray()


class DatasetBatches:
    """Batches from the net's skorch dataset and validation iterator.

    Shuffling and ``drop_last`` are switched off: inspection returns one
    row per sample of X, in order.
    """

    def __init__(self, net, X, batch_size: int):
        self.net = net
        self.dataset = net.get_dataset(X)
        try:
            self.n = len(self.dataset)
        except TypeError:
            raise TypeError(
                f"X's dataset ({type(self.dataset).__name__}) has no length; "
                "activations are written into arrays of one row per sample, so the "
                "number of samples must be known up front."
            ) from None
        self.batch_size = _batch_size_for(batch_size, self.n)
        if self.n == 0:
            raise ValueError(
                "Inspection: X is empty (0 samples); pass at least one sample."
            )

    # Samples of a dataset may differ from call to call (lengths of
    # sequences): nothing learned on one call is taken for the next.
    input_key = None
    #: Batch sizes the next batch should not have, when it can (set by the
    #: capture between batches; honoured by DataLoaders without workers).
    avoid: frozenset[int] = frozenset()

    def _loader(self, dataset):
        kwargs = self.net.get_params_for("iterator_valid")
        kwargs.update(batch_size=self.batch_size, shuffle=False, drop_last=False)
        iterator = self.net.iterator_valid
        if isinstance(iterator, type) and issubclass(
            iterator, torch.utils.data.DataLoader
        ):
            if "generator" not in kwargs:
                # A DataLoader draws a seed for its workers from torch's
                # global random state even when it does not shuffle;
                # inspecting from a training callback would then change the
                # training run.
                kwargs["generator"] = torch.Generator()
            for key in ("batch_size", "shuffle", "drop_last", "sampler"):
                kwargs.pop(key, None)
            kwargs["batch_sampler"] = _InOrderBatches(self, len(dataset))
        return iterator(dataset, **kwargs)

    def __iter__(self):
        start = 0
        for batch in self._loader(self.dataset):
            Xi = unpack_data(batch)[0]
            stop = start + _batch_len(Xi)
            yield start, stop, Xi
            start = stop


class _InOrderBatches:
    """Indices of consecutive batches, of the sizes ``ArrayBatches`` would cut.

    Asked for each batch only when the loader needs it (without workers),
    so a size the capture asks to avoid is avoided, as for arrays.
    """

    def __init__(self, owner: DatasetBatches, n: int):
        self.owner, self.n = owner, n

    def __iter__(self):
        start = 0
        while start < self.n:
            size = min(self.owner.batch_size, self.n - start)
            while size > 1 and size in self.owner.avoid:
                size -= 1
            yield list(range(start, start + size))
            start += size

    def __len__(self) -> int:
        return -(-self.n // self.owner.batch_size)


def _batch_len(Xi) -> int:
    if isinstance(Xi, dict):
        Xi = next(iter(Xi.values()))
    if isinstance(Xi, list | tuple):
        Xi = Xi[0]
    return len(Xi)


def make_batches(
    X: Any,
    batch_size: int,
    *,
    device,
    module_dtype: torch.dtype,
    fitted: Mapping[str, Any],
    dataset_batches: Callable[[Any, int], DatasetBatches],
    what: str,
    owner: str = "the net",
):
    """Check a normalized ``X`` and cut it into batches (see the module docstring).

    ``fitted`` holds the fitted input attributes (``input_shape_``,
    ``input_dtype_``, ``input_shapes_``) where known.
    """
    if isinstance(X, np.ndarray | torch.Tensor) or is_sparse(X):
        check_array_input(X, fitted.get("input_shape_"), what, owner)
        dtype = input_dtype(X.dtype, module_dtype, fitted.get("input_dtype_"), what)
        batches = SparseBatches if is_sparse(X) else ArrayBatches
        return batches(X, batch_size, device, dtype)
    if isinstance(X, Mapping):
        check_dict_input(X, fitted.get("input_shapes_"), what, owner)
    return dataset_batches(X, batch_size)
