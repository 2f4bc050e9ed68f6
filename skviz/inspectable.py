"""``InspectableMixin``: layer activations of a fitted skorch net.

The mixin turns any skorch net into an sklearn transformer whose output is
the activations of one layer (``layer``), and adds ``transform_layer(s)``,
``layer_names`` and ``layer_summary`` for interactive use.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.utils import to_tensor

from . import _data
from ._dask import check_dask_input, is_dask_array, transform_dask
from ._inputs import SkorchInputMixin
from ._sinks import check_distinct_outs, check_out, make_sink
from .capture import (
    LayerCapture,
    StopForward,
    discover,
    inspection_lock,
    inspection_session,
    numpy_dtype,
    resolve_activation,
    unwrap_compiled,
)
from .layers import (
    LayerInfo,
    LayerRef,
    ancestors_of,
    check_module_names,
    parse_layer_names,
    select_run,
    select_tensor,
)
from .progress import progress_bar

ActivationArg = str | Callable[[torch.Tensor], torch.Tensor] | None


class InspectableMixin(SkorchInputMixin, TransformerMixin):
    """Read the activations of any layer of a fitted skorch net.

    Put this mixin to the left of a skorch net class. It adds one
    constructor parameter, ``layer``: the layer whose activations
    :meth:`transform` returns, so that the net can be a step of a
    :class:`~sklearn.pipeline.Pipeline` and ``layer`` a searchable
    hyper-parameter.

    Layers are addressed by their dotted names in ``module_.named_modules()``
    (see :meth:`layer_names`). A module that runs several times per forward
    pass is addressed per run as ``"name@k"`` (k from 0); one tensor of a
    tuple, list or dict output as ``"name[i]"`` or ``"name['key']"``, nested
    as needed (LSTM: ``"lstm[0]"`` is the output sequence, ``"lstm[1][0]"``
    is ``h_n``). Ambiguous names raise a ``ValueError`` that lists the
    choices.

    All inspection runs in eval mode under ``torch.no_grad()`` on
    ``net.device``; the train/eval mode of every submodule is restored
    afterwards and no hook outlives a call. Calls on one net are serialised.
    """

    def __init__(self, module, *args, layer: str | None = None, **kwargs):
        self.layer = layer
        super().__init__(module, *args, **kwargs)

    # ------------------------------------------------------------------
    # skorch plumbing
    # ------------------------------------------------------------------

    def _get_param_names(self):
        # sklearn's set_output stores its config as an attribute that does
        # not end in "_"; skorch would take it for a constructor parameter.
        # clone() copies it separately.
        return [k for k in super()._get_param_names() if k != "_sklearn_output_config"]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform() returns the layer's dtype, not X's: float32 unless the
        # module is double. sklearn's default tag claims float64 is kept.
        module = getattr(self, "module_", None)
        dtype = torch.float32
        if isinstance(module, torch.nn.Module):
            dtype = _data.module_float_dtype(module)
        tags.transformer_tags.preserves_dtype = [str(numpy_dtype(dtype))]
        return tags

    def __getstate__(self):
        module = self.__dict__.get("module_")
        if isinstance(module, torch.nn.Module):
            # An inspection running in another thread has hooks attached;
            # wait for it rather than fail on (or copy) its hooks.
            with inspection_lock(unwrap_compiled(module)):
                state = super().__getstate__()
        else:
            state = super().__getstate__()
        # The samples of the latest inspection are a convenience for
        # interactive plotting; they never travel with a pickled net.
        state.pop("inspection_X_", None)
        state.pop("inspection_y_", None)
        return state

    def inspected_module(self) -> torch.nn.Module:
        """The fitted module that inspection runs on: the user's own.

        ``module_`` itself, or the module inside a ``torch.compile`` wrapper
        (inspection runs it eagerly, under the user's names).
        """
        check_is_fitted(self, "module_")
        return unwrap_compiled(self.module_)

    def _forward_batch(self, module: torch.nn.Module, Xi: Any) -> Any:
        if type(self).infer is not NeuralNet.infer:
            return self.infer(Xi)
        x = to_tensor(Xi, device=self.device)
        if isinstance(x, Mapping):
            return module(**x)
        return module(x)

    def _initialize_module(self, *args, **kwargs):
        # Output shapes belong to the module being (re)built; set_params
        # (module__num_units=...) rebuilds the module without initialize().
        self.layer_shapes_ = {}
        self.layer_batch_axes_ = {}
        self.layer_calls_ = {}
        return super()._initialize_module(*args, **kwargs)

    # Fitting and inspecting one net exclude each other: an inspection in
    # another thread would otherwise put the module in eval mode in the
    # middle of training (Dropout off, BatchNorm statistics updated by the
    # inspected samples) and hand it back in the wrong mode.

    # ------------------------------------------------------------------
    # Layer discovery
    # ------------------------------------------------------------------

    def layer_names(self) -> list[str]:
        """Dotted names of all submodules, as in ``module_.named_modules()``.

        The root module is excluded. Requires a fitted (initialized) net.
        """
        return [name for name, _ in self.inspected_module().named_modules() if name]

    def layer_info(self, X, *, max_samples: int = 5) -> list[LayerInfo]:
        """What every submodule does in one forward pass, in the order runs end.

        Runs one forward pass of the first ``max_samples`` samples of ``X``
        with a hook on every submodule.

        Parameters
        ----------
        X : array-like
            At least one sample, in any form ``predict`` accepts.
        max_samples : int, default=5
            Samples of that forward pass. Batch axes are told by their size
            (see :func:`skviz.layers.find_batch_axis`); an odd count that
            rarely equals another axis (channels, heads, sequence length)
            leaves the fewest to a module's documented layout.

        Returns
        -------
        list of skviz.layers.LayerInfo
            One per run of a submodule (``name``, ``ref``, ``type``,
            ``call``, ``calls``, ``is_leaf``, ``is_tensor``, ``shape`` of one
            sample, ``output`` structure): leaves in forward order, each
            container after its children. Modules that did not run are
            absent.
        """
        if (
            isinstance(max_samples, bool)
            or not isinstance(max_samples, numbers.Integral)
            or max_samples < 1
        ):
            raise ValueError(
                f"max_samples must be a positive int, got {max_samples!r}."
            )
        module = self.inspected_module()
        modules = {name: m for name, m in module.named_modules() if name}
        source = self._batches(X, batch_size=int(max_samples))
        with inspection_lock(self), inspection_session(module):
            start, stop, Xi = next(iter(source))
            return discover(
                modules,
                lambda: self._forward_batch(module, Xi),
                stop - start,
                ancestors_of(modules, list(modules)),
            )

    def layer_summary(self, X_sample) -> pd.DataFrame:
        """Keras-style summary of every layer, from one small forward pass.

        Parameters
        ----------
        X_sample : array-like
            At least one sample, in any form ``predict`` accepts; the first
            five are used (see :meth:`layer_info`).

        Returns
        -------
        pandas.DataFrame
            One row per submodule in definition order, with columns
            ``name``, ``type``, ``output_shape`` (``None`` marks the batch
            dimension; ``-`` for modules that did not run), ``n_params``
            (parameters of the module and its children) and ``calls``
            (how many times it ran per forward pass).
        """
        runs: dict[str, list[LayerInfo]] = {}
        for info in self.layer_info(X_sample):
            runs.setdefault(info.name, []).append(info)
        rows = []
        for name, m in self.inspected_module().named_modules():
            if not name:
                continue
            seen = runs.get(name, [])
            shape = " | ".join(sorted({info.describe() for info in seen})) or "-"
            rows.append(
                {
                    "name": name,
                    "type": type(m).__name__,
                    "output_shape": shape,
                    "n_params": sum(p.numel() for p in m.parameters()),
                    "calls": len(seen),
                }
            )
        return pd.DataFrame(
            rows, columns=["name", "type", "output_shape", "n_params", "calls"]
        )

    # ------------------------------------------------------------------
    # Activations
    # ------------------------------------------------------------------

    def transform_layer(
        self,
        X,
        name: str,
        *,
        activation: ActivationArg = None,
        flatten: bool = False,
        batch_size: int | None = None,
        out=None,
        progress: bool | None = None,
    ):
        """Activations of one layer for every sample of ``X``.

        Parameters
        ----------
        X : array-like, tensor, DataFrame, dict, Dataset or dask array
            Anything ``predict`` accepts. Arrays, tensors and numeric
            DataFrames are batched directly (no per-sample collate). A
            ``dask.array`` gives a lazy dask array back (see Returns).
        name : str
            Layer reference, see the class docstring (``"dense0"``,
            ``"block@1"``, ``"lstm[0]"``).
        activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"} or callable, optional
            Applied to the captured output, for nets that apply their
            activation functionally (``F.relu(self.dense0(x))``). A callable
            must keep the shape of its input.
        flatten : bool, default=False
            Return ``(n_samples, n_features)`` instead of
            ``(n_samples, *layer_shape)``.
        batch_size : int, optional
            Rows per forward pass; defaults to ``iterator_valid__batch_size``
            or ``batch_size`` of the net; -1 means all rows at once.
        out : ndarray, np.memmap, str or PathLike, optional
            Where to write the result, batch by batch, instead of a new
            in-memory array: an array (or ``np.memmap``) of exactly the
            result's shape and a float dtype, or a path ending in ``.npy`` or
            ``.zarr``. Files are written under a temporary name and renamed
            when complete, so an interrupted run leaves no partial file under
            ``out``. Memory stays at about one batch whatever the row count.
        progress : bool, optional
            Show a tqdm progress bar. By default one appears only in an
            interactive terminal and only for calls that last over 2 s.

        Returns
        -------
        ndarray of shape ``(n_samples, *layer_shape)``
            On CPU; float32 (float64 for double-precision layers). The
            forward pass stops as soon as the layer has run. With ``out`` an
            array: ``out`` itself; a ``.npy`` path: a read-only memmap of the
            file; a ``.zarr`` path: the zarr array. With a dask ``X``: a lazy
            ``dask.array`` chunked along rows like ``X``.
        """
        if not isinstance(name, str):
            raise TypeError(
                f"name must be a str, got {type(name).__name__}; "
                "use transform_layers for several layers."
            )
        return self.transform_layers(
            X,
            [name],
            activation=activation,
            flatten=flatten,
            batch_size=batch_size,
            out=None if out is None else {name: out},
            progress=progress,
        )[name]

    def transform_layers(
        self,
        X,
        names: Sequence[str],
        *,
        activation: ActivationArg = None,
        flatten: bool = False,
        batch_size: int | None = None,
        out: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """Activations of several layers from one forward pass per batch.

        Parameters are as in :meth:`transform_layer`; ``names`` is a list of
        layer references and ``out``, if given, a dict from some or all of
        those names to their destinations.

        Returns
        -------
        dict of str to ndarray
            Keyed by the names as given, in the given order.
        """
        result = self.capture_layers(
            X,
            names,
            activation=activation,
            flatten=flatten,
            batch_size=batch_size,
            out=out,
            progress=progress,
        )
        if not is_dask_array(X):
            self.inspection_X_ = X
            self.inspection_y_ = None
        return result

    def capture_layers(
        self,
        X,
        names: Sequence[str],
        *,
        activation: ActivationArg = None,
        flatten: bool = False,
        batch_size: int | None = None,
        out: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """:meth:`transform_layers` without remembering ``X`` for plots.

        The public capture API for displays, animations and workers: it
        leaves the estimator's state as it was (sklearn requires this of
        ``transform``), apart from a memo of layer shapes. Parameters and
        result are those of :meth:`transform_layers`.
        """
        refs = parse_layer_names(
            names, self.layer_names, if_str="; for one layer use transform_layer."
        )
        names = list(names)
        texts = [r.text for r in refs]
        act = resolve_activation(activation)
        module = self.inspected_module()
        all_modules = dict(module.named_modules())
        known = [n for n in all_modules if n]
        # Keyed like the references (" fc1" and "fc1" are one layer).
        out = {LayerRef.parse(k, known).text: v for k, v in (out or {}).items()}
        if not set(out) <= set(texts):
            raise ValueError(
                f"out names layers that were not requested: {sorted(set(out) - set(texts))}."
            )
        for name, destination in out.items():
            check_out(destination, name)
        check_distinct_outs(out)
        if is_dask_array(X):
            if out:
                raise ValueError(
                    "out is not supported for dask inputs: the result is a lazy dask "
                    "array; store it with dask's own to_zarr()/store()."
                )
            check_dask_input(X, self.__dict__.get("input_shape_"))
            shapes = {
                name: (math.prod(shape),) if flatten else shape
                for name, shape in self._layer_shapes(names).items()
            }
            dtype = numpy_dtype(_data.module_float_dtype(module))
            return transform_dask(
                self,
                X,
                names,
                shapes,
                dict.fromkeys(names, dtype),
                activation=activation,
                flatten=flatten,
                batch_size=batch_size,
            )
        source = self._batches(X, batch_size=batch_size)

        def open_sink(target):
            shape = target.sample_shape
            return make_sink(
                out.get(target.name),
                (source.n, *((math.prod(shape),) if flatten else shape)),
                numpy_dtype(target.dtype),
                source.batch_size,
                target.name,
                n_sinks=len(refs),
            )

        batches = self.capture_batches(
            source, refs, open_sink, act, progress, f"capturing {len(names)} layer(s)"
        )
        while True:
            try:
                next(batches)
            except StopIteration as done:
                results = done.value
                break
        return dict(zip(names, results, strict=True))

    def capture_batches(
        self,
        source,
        refs: Sequence[LayerRef],
        open_sink,
        act,
        progress: bool | None,
        label: str,
        capture_type: type[LayerCapture] = LayerCapture,
    ):
        """The capture engine, one forward pass per batch of ``source``.

        A generator: it yields the capture after each batch (its sinks hold
        the batch's rows) and returns ``capture.finish``'s results. The
        hooks, the inspection lock and the eval/no-grad session last from
        the first ``next`` until the generator ends or is closed; the
        memos of layer shapes and module runs are updated at the end.
        Used by :meth:`capture_layers` and by :mod:`skviz.stream`.
        """
        module = self.inspected_module()
        all_modules = dict(module.named_modules())
        hooked = {r.module: all_modules[r.module] for r in refs}
        hints = self.__dict__.get("layer_batch_axes_", {})
        calls_memo = self.__dict__.setdefault("layer_calls_", {})
        known_calls = calls_memo.get(source.input_key, {})
        with (
            inspection_lock(self),
            inspection_session(module),
            capture_type(
                hooked,
                refs,
                open_sink,
                act,
                hints,
                known_calls,
                ancestors_of(all_modules, list(hooked)),
            ) as capture,
            progress_bar(source.n, progress, label) as bar,
        ):
            for start, stop, Xi in source:
                capture.begin_batch(start, stop)
                capture.running = True
                try:
                    self._forward_batch(module, Xi)
                except StopForward:
                    pass
                finally:
                    capture.running = False
                capture.end_batch(source.n)
                source.avoid = capture.avoid
                bar.update(stop - start)
                yield capture
            results = capture.finish(source.n)
        self._remember_targets(capture.targets)
        if source.input_key is not None and capture.observed_calls:
            calls_memo.setdefault(source.input_key, {}).update(capture.observed_calls)
        return results

    def stream_layers(
        self,
        X,
        names: Sequence[str],
        *,
        activation: ActivationArg = None,
        flatten: bool = False,
        batch_size: int | None = None,
        progress: bool | None = None,
    ):
        """Activations of several layers, one batch at a time, kept by no one.

        A context manager whose value iterates over
        :class:`skviz.stream.LayerBatch` objects (``{name: ndarray}`` of the
        batch's rows, with ``start`` and ``stop``), one forward pass per
        batch, so that statistics over any number of samples need memory of
        one batch. Leaving the ``with`` block (at the end, after a
        ``break`` or an exception) removes the hooks and ends the
        inspection. Parameters are those of :meth:`capture_layers`; a dask
        ``X`` is computed one row chunk at a time. Do not run this net's
        own ``predict`` inside the loop from another thread: it waits.

        Examples
        --------
        >>> with net.stream_layers(X, ["fc1", "fc2"]) as batches:  # doctest: +SKIP
        ...     for batch in batches:
        ...         total += batch["fc1"].sum(axis=0)
        """
        from .stream import stream_layers

        return stream_layers(
            self,
            X,
            names,
            activation=activation,
            flatten=flatten,
            batch_size=batch_size,
            progress=progress,
        )

    def _batches(self, X, batch_size: int | None):
        if batch_size is None:
            batch_size = self.get_params_for("iterator_valid").get(
                "batch_size", self.batch_size
            )
        batch_size = _data.check_batch_size(batch_size)
        module = self.inspected_module()
        what = type(self).__name__
        return _data.make_batches(
            _data.normalize_input(X, module, what),
            batch_size,
            device=self.device,
            module_dtype=_data.module_float_dtype(module),
            fitted=self._fitted_input(),
            dataset_batches=lambda X, size: _data.DatasetBatches(self, X, size),
            what=what,
            owner=what,
        )

    # ------------------------------------------------------------------
    # sklearn transformer API
    # ------------------------------------------------------------------

    def _check_layer_param(self) -> str:
        if self.layer is None:
            raise ValueError(
                f"{type(self).__name__}.layer is None, so transform() does not know "
                "which layer to return. Set it, e.g. net.set_params(layer='dense0'), "
                "or call transform_layer(X, name). Layers: net.layer_names()."
            )
        return self.layer

    def transform(self, X) -> np.ndarray:
        """Activations of ``self.layer``, flattened to ``(n_samples, n_features)``.

        Unlike :meth:`transform_layer`, the samples are not remembered for
        ``plot_activation(X=None)``: a transformer's ``transform`` leaves the
        estimator unchanged.
        """
        layer = self._check_layer_param()
        configured = getattr(self, "_sklearn_output_config", {}).get("transform")
        if is_dask_array(X) and configured not in (None, "default"):
            raise ValueError(
                f"set_output(transform={configured!r}) cannot wrap a lazy dask array; "
                "use set_output(transform='default') for dask inputs."
            )
        return self.capture_layers(
            X, [layer], activation=None, flatten=True, batch_size=None
        )[layer]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """One name per column of :meth:`transform`: ``"<layer>_<index>"``.

        Multi-dimensional layers get one index per dimension, e.g.
        ``"cnn1_2_0_5"`` for channel 2, row 0, column 5.
        """
        check_is_fitted(self)
        layer = self._check_layer_param()
        shape = self._layer_shape(layer)
        if not shape:
            return np.asarray([layer], dtype=object)
        index = np.indices(shape).reshape(len(shape), -1).T
        return np.asarray(
            [layer + "_" + "_".join(map(str, idx)) for idx in index], dtype=object
        )

    def _layer_shape(self, layer: str) -> tuple[int, ...]:
        return self._layer_shapes([layer])[layer]

    def _layer_shapes(self, layers: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """Shape of one sample's output of each layer, from the memo or one forward."""
        shapes = self.__dict__.get("layer_shapes_", {})
        missing = [layer for layer in layers if layer not in shapes]
        if missing:
            self._remember_shapes(self._discover_shapes(missing))
            shapes = self.layer_shapes_
        return {layer: shapes[layer] for layer in layers}

    def _discover_shapes(self, layers: Sequence[str]) -> dict[str, tuple[int, ...]]:
        input_shape = getattr(self, "input_shape_", None)
        if input_shape is None:
            raise ValueError(
                "Cannot tell the output shape of the layer: the net was not fitted on "
                "an array. Call transform() once first."
            )
        known = self.layer_names()
        refs = [LayerRef.parse(layer, known) for layer in layers]
        check_module_names([ref.module for ref in refs], known)
        module = self.inspected_module()
        named = dict(module.named_modules())
        hooked = {ref.module: named[ref.module] for ref in refs}
        # Zeros of the fitted sample shape are a valid input to learn shapes
        # from; the values do not matter. Integer inputs (token ids) stay
        # integers.
        dtype = getattr(self, "input_dtype_", None)
        if dtype is None or dtype.is_floating_point:
            dtype = _data.module_float_dtype(module)
        dummy = torch.zeros((1, *input_shape), dtype=dtype, device=self.device)
        with inspection_lock(self), inspection_session(module):
            infos = discover(
                hooked,
                lambda: self._forward_batch(module, dummy),
                1,
                ancestors_of(named, list(hooked)),
            )
        shapes = {}
        for layer, ref in zip(layers, refs, strict=True):
            runs = [info.output for info in infos if info.name == ref.module]
            info = select_tensor(ref, runs[select_run(ref, len(runs))], 1)
            shapes[layer] = info.sample_shape
        return shapes

    def _remember_targets(self, targets) -> None:
        """Memo the shape of each captured output, and its batch axis if certain.

        A later call whose first batch cannot tell the batch axis (a batch
        of one sample) takes it from here.
        """
        self._remember_shapes({t.name: t.sample_shape for t in targets})
        axes = {t.name: t.batch_axis for t in targets if not t.guessed}
        if axes:
            memo = self.__dict__.get("layer_batch_axes_")
            if memo is None:
                memo = self.layer_batch_axes_ = {}
            memo.update(axes)

    def _remember_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None:
        # A memo of facts derived from module_, not fitted state: updated in
        # place so that transform() and get_feature_names_out() leave the
        # estimator's attributes as they were.
        memo = self.__dict__.get("layer_shapes_")
        if memo is None:
            memo = self.layer_shapes_ = {}
        memo.update(shapes)
