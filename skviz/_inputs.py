"""How a skorch net takes its input, for fitting and prediction.

:class:`SkorchInputMixin` is the part of the estimator core that sits
between the user's data and skorch: it records what the net was fitted on
(``input_shape_``, ``input_dtype_``, ``n_features_in_``, ...), checks what
``predict`` is given against it in scikit-learn's words, casts float64
arrays and float labels for the module, turns array-likes into arrays, keeps
fitting and inspection of one net apart, and keeps ``predict`` from
drawing on torch's global random state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from skorch import NeuralNetClassifier

from . import _data
from .capture import inspection_lock

__all__ = ["SkorchInputMixin"]

# How many forward_iter calls (predict, predict_proba, forward) this thread
# is inside: their data loaders get a generator of their own.
_PREDICTING = threading.local()


class SkorchInputMixin:
    """Input handling of :class:`~skviz.InspectableMixin` (see the module docstring)."""

    def _fitted_input(self) -> dict[str, Any]:
        keys = ("input_shape_", "input_dtype_", "input_shapes_")
        return {key: self.__dict__[key] for key in keys if key in self.__dict__}

    def _cast_float_array(self, X):
        # float64 arrays (what StandardScaler emits) would reach a float32
        # module as double tensors.
        if (
            isinstance(X, np.ndarray)
            and X.dtype.kind == "f"
            and hasattr(self, "module_")
        ):
            target = _data.numpy_dtype_of(_data.module_float_dtype(self.module_))
            if X.dtype != target:
                X = X.astype(target)
        return X

    def get_dataset(self, X, y=None):
        what = type(self).__name__
        X = _data.normalize_input(X, getattr(self, "module_", None), what)
        if isinstance(X, np.ndarray | torch.Tensor):
            # What predict is given must fit what the net was fitted on
            # (fit records its input before it gets here).
            _data.check_array_input(X, self.__dict__.get("input_shape_"), what, what)
        if isinstance(X, Mapping):
            # One array per forward() argument: each gets the same cast.
            X = {key: self._cast_float_array(value) for key, value in X.items()}
        else:
            X = self._cast_float_array(X)
        return super().get_dataset(X, self._prepare_y(y))

    def _prepare_y(self, y):
        if not (isinstance(y, np.ndarray) and y.dtype.kind == "f"):
            return y
        if not np.isfinite(y).all():
            raise ValueError(
                f"{type(self).__name__}: y contains NaN or infinity; drop or impute "
                "those samples first."
            )
        if isinstance(self, NeuralNetClassifier) and y.ndim == 1:
            if np.array_equal(y, np.round(y)):
                # Class labels stored as floats (1.0, 2.0): the criterion wants
                # class indices.
                return y.astype(np.int64)
        # Float targets (regression, soft labels) meet the module's float
        # output in the criterion.
        return self._cast_float_array(y)

    # Fitting and inspecting one net exclude each other: an inspection in
    # another thread would otherwise put the module in eval mode in the
    # middle of training (Dropout off, BatchNorm statistics updated by the
    # inspected samples) and hand it back in the wrong mode.

    def initialize(self):
        # A net started afresh has seen no input yet (a module rebuilt by
        # set_params keeps the input it was fitted on).
        for key in ("input_shape_", "input_dtype_", "input_shapes_", "n_features_in_"):
            self.__dict__.pop(key, None)
        return super().initialize()

    def fit(self, X, y=None, **fit_params):
        X, y = _data.as_array_if_array_like(X), _data.as_array_if_array_like(y)
        with inspection_lock(self):
            return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        X, y = _data.as_array_if_array_like(X), _data.as_array_if_array_like(y)
        with inspection_lock(self):
            if not self.initialized_:
                self.initialize()
            self._record_input(X)
            return super().partial_fit(X, y, classes=classes, **fit_params)

    def _record_input(self, X) -> None:
        what = f"{type(self).__name__}.fit"
        if isinstance(X, pd.DataFrame):
            columns = np.asarray(X.columns, dtype=object)
            if all(isinstance(c, str) for c in columns):
                self.feature_names_in_ = columns
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif hasattr(self, "feature_names_in_") and not getattr(
            self, "warm_start", False
        ):
            del self.feature_names_in_
        X = _data.normalize_input(X, getattr(self, "module_", None), what)
        if isinstance(X, np.ndarray | torch.Tensor) or _data.is_sparse(X):
            _data.check_array_input(X, None, what)
        elif isinstance(X, Mapping):
            _data.check_dict_input(X, None, what)
        attrs = _data.fit_input_attributes(X)
        for key in ("input_shape_", "input_shapes_"):
            # The module was fitted on that shape: training goes on with it.
            if (
                key in self.__dict__
                and attrs.get(key, self.__dict__[key]) != (self.__dict__[key])
            ):
                if key == "input_shape_" and len(self.input_shape_) == 1:
                    _data.check_array_input(
                        X, self.input_shape_, what, type(self).__name__
                    )
                raise ValueError(
                    f"{what}: each sample has shape {attrs.get(key)}, but the net "
                    f"was trained on {self.__dict__[key]}; call fit() to start over."
                )
        for key, value in attrs.items():
            setattr(self, key, value)

    # -- random state --------------------------------------------------

    def forward_iter(self, X, training=False, device="cpu"):
        # skorch's data loaders draw a seed from torch's global random state
        # even when they do not shuffle. predict() called from a training
        # callback (or a display) would then change the training run; the
        # validation loop of fit, which does not come through here, keeps
        # drawing as plain skorch does.
        batches = super().forward_iter(X, training=training, device=device)
        while True:
            _PREDICTING.depth = getattr(_PREDICTING, "depth", 0) + 1
            try:
                batch = next(batches)
            except StopIteration:
                return
            finally:
                _PREDICTING.depth -= 1
            yield batch

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if (
            not training
            and getattr(_PREDICTING, "depth", 0)
            and isinstance(iterator, torch.utils.data.DataLoader)
            and iterator.generator is None
        ):
            iterator.generator = torch.Generator()
        return iterator
