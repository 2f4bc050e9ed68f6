"""Linear CKA between the layers of one net or of two nets, in one pass."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Literal

import numpy as np
import pandas as pd

from ..stream import aligned
from ._hsic import CovarianceCKA, MinibatchCKA
from ._layers import Pool, as_features, check_finite, check_pool, layers_in_order

__all__ = ["DEFAULT_MAX_BYTES", "cka", "cka_between"]

Estimator = Literal["auto", "linear", "minibatch"]
ESTIMATORS = ("auto", "linear", "minibatch")

#: Memory the streamed cross-covariances may take (float64, all layers
#: together): 512 MiB, about 8,000 features in all.
DEFAULT_MAX_BYTES = 512 * 2**20


def _check_options(estimator, max_bytes) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}.")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}.")


def _streamed_layers(
    widths: Sequence[int], estimator: str, max_bytes: int
) -> list[int]:
    """Layers whose pairs get the exact streamed estimator.

    ``"auto"`` takes layers narrowest first while their cross-covariances
    fit in ``max_bytes``; pairs with any other layer use the minibatch one.
    """
    if estimator == "linear":
        return list(range(len(widths)))
    if estimator == "minibatch":
        return []
    chosen: list[int] = []
    for i in sorted(range(len(widths)), key=lambda i: widths[i]):
        if CovarianceCKA.nbytes([widths[k] for k in [*chosen, i]]) > max_bytes:
            break
        chosen.append(i)
    return sorted(chosen)


class _Accumulator:
    """Both estimators over one list of layers, created from the first batch."""

    def __init__(self, estimator: str, max_bytes: int):
        self.estimator, self.max_bytes = estimator, max_bytes
        self.streamed: list[int] | None = None
        self.covariance: CovarianceCKA | None = None
        self.minibatch: MinibatchCKA | None = None
        self.n = 0

    def update(self, features: list[np.ndarray]) -> None:
        if self.streamed is None:
            widths = [f.shape[1] for f in features]
            self.streamed = _streamed_layers(widths, self.estimator, self.max_bytes)
            if self.streamed:
                self.covariance = CovarianceCKA([widths[i] for i in self.streamed])
            if len(self.streamed) < len(widths):
                self.minibatch = MinibatchCKA(len(widths))
        self.n += features[0].shape[0]
        if self.covariance is not None:
            self.covariance.update([features[i] for i in self.streamed])
        if self.minibatch is not None:
            self.minibatch.update(features)

    def result(self, rows: list[int], cols: list[int]):
        """CKA values, the estimator of each pair, the constant layers."""
        if self.n < 2:
            raise ValueError(
                f"CKA needs at least 2 samples, got {self.n}: one sample has no "
                "variance to compare."
            )
        values = np.zeros((len(rows), len(cols)))
        kinds = np.full((len(rows), len(cols)), "linear", dtype=object)
        constant = np.zeros(max([*rows, *cols]) + 1, dtype=bool)
        if self.minibatch is not None:
            values[:] = self.minibatch.cka(rows, cols)
            kinds[:] = "minibatch"
            constant |= self.minibatch.constant()
        if self.covariance is not None:
            place = {layer: k for k, layer in enumerate(self.streamed)}
            r = [k for k, i in enumerate(rows) if i in place]
            c = [k for k, j in enumerate(cols) if j in place]
            exact = self.covariance.cka(
                [place[rows[k]] for k in r], [place[cols[k]] for k in c]
            )
            values[np.ix_(r, c)] = exact
            kinds[np.ix_(r, c)] = "linear"
            constant[self.streamed] = self.covariance.constant()
        return values, kinds, constant


def _frame(values, kinds, index, columns, attrs) -> pd.DataFrame:
    frame = pd.DataFrame(values, index=pd.Index(index), columns=pd.Index(columns))
    estimators = {
        col: {row: kinds[i, j] for i, row in enumerate(index)}
        for j, col in enumerate(columns)
    }
    used = sorted(set(kinds.ravel()))
    frame.attrs.update(attrs)
    frame.attrs["estimator"] = used[0] if len(used) == 1 else "mixed"
    frame.attrs["estimators"] = estimators
    return frame


def _warn_constant(names: list[str]) -> None:
    if names:
        warnings.warn(
            f"Layer(s) {names} are constant over these samples: CKA is undefined "
            "for them and set to 0 against every other layer (1 on the diagonal).",
            RuntimeWarning,
            stacklevel=3,
        )


def _run(nets, X, layer_lists, *, pool, activation, batch_size, progress, acc):
    """Stream every net over X together and feed the accumulator."""
    flatten = pool == "flatten"
    with ExitStack() as stack:
        streams = [
            stack.enter_context(
                net.stream_layers(
                    X,
                    layers,
                    activation=activation,
                    flatten=flatten,
                    batch_size=batch_size,
                    progress=progress,
                )
            )
            for net, layers in zip(nets, layer_lists, strict=True)
        ]
        for batches in aligned(*streams):
            features = []
            for batch, layers in zip(batches, layer_lists, strict=True):
                for layer in layers:
                    values = as_features(batch[layer], pool)
                    check_finite(values, layer, batch.start)
                    features.append(values)
            acc.update(features)


def _batch_size(net, batch_size):
    if batch_size is not None:
        return batch_size
    return net.get_params_for("iterator_valid").get("batch_size", net.batch_size)


def cka(
    net,
    X,
    layers: Sequence[str] | None = None,
    *,
    pool: Pool = "flatten",
    estimator: Estimator = "auto",
    max_bytes: int = DEFAULT_MAX_BYTES,
    activation=None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Linear CKA between every pair of layers of a net, in one pass over X.

    Centred kernel alignment (Kornblith et al. 2019) tells how similar two
    representations of the same samples are, whatever their widths: 1 for
    representations equal up to rotation, isotropic scaling and a shift.
    The samples go through the net once, batch by batch; nothing of size
    ``n_samples`` is kept, so X may be a memmap or a dask array of any
    length.

    Parameters
    ----------
    net : fitted Inspectable net
    X : array-like, memmap or dask array
        Samples, in any form ``predict`` accepts.
    layers : list of str, optional
        Layer references; by default every leaf layer that runs once and
        returns one tensor, the output layer included. Sorted in forward
        order.
    pool : {"flatten", "mean", "max"}, default="flatten"
        Conv outputs: every element a feature, or one per channel (its mean
        or maximum over positions).
    estimator : {"auto", "linear", "minibatch"}, default="auto"
        ``"linear"``: the exact CKA of all samples from streamed centred
        cross-covariances (memory ``8 * D**2`` bytes for ``D`` features in
        all). ``"minibatch"``: the average of the unbiased HSIC of each
        batch (Nguyen et al. 2021; memory ``O(batch_size**2)``, an estimate
        that depends on the batch size). ``"auto"``: exact for the layers
        (narrowest first) whose cross-covariances fit in ``max_bytes``,
        minibatch for pairs with any wider layer.
    max_bytes : int, default=512 MiB
        Memory of the exact estimator's accumulator under ``"auto"``.
    activation : str or callable, optional
        As in ``transform_layers``, applied to every layer.
    batch_size : int, optional
        Rows per forward pass (and per minibatch); by default the net's.
    progress : bool, optional
        Progress bar, as in ``transform_layers``.

    Returns
    -------
    pandas.DataFrame
        Layers x layers, symmetric, in [0, 1], diagonal exactly 1.
        ``attrs``: ``estimator`` (``"linear"``, ``"minibatch"`` or
        ``"mixed"``), ``estimators`` (the one of each pair, as a nested
        dict: ``pd.DataFrame(attrs["estimators"])``), ``n_samples``,
        ``batch_size``, ``pool`` and ``constant_layers``.

    Notes
    -----
    A layer that is constant over the samples has no CKA with anything
    (its Gram matrix is zero once centred): it gets 0 against every other
    layer, 1 on the diagonal, and a ``RuntimeWarning`` names it. Fewer than
    2 samples raise ``ValueError``; so does a NaN in any activation.
    """
    check_pool(pool)
    _check_options(estimator, max_bytes)
    net.inspected_module()
    layers = layers_in_order(net, X, layers)
    batch_size = _batch_size(net, batch_size)
    acc = _Accumulator(estimator, max_bytes)
    _run(
        [net],
        X,
        [layers],
        pool=pool,
        activation=activation,
        batch_size=batch_size,
        progress=progress,
        acc=acc,
    )
    index = list(range(len(layers)))
    values, kinds, constant = acc.result(index, index)
    values = np.clip((values + values.T) / 2, 0.0, 1.0)
    np.fill_diagonal(values, 1.0)
    constant_layers = [layer for layer, c in zip(layers, constant, strict=True) if c]
    _warn_constant(constant_layers)
    frame = _frame(
        values,
        kinds,
        layers,
        layers,
        {
            "n_samples": acc.n,
            "batch_size": batch_size,
            "pool": pool,
            "constant_layers": constant_layers,
        },
    )
    frame.index.name = frame.columns.name = "layer"
    return frame


def cka_between(
    net_a,
    net_b,
    X,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    *,
    pool: Pool = "flatten",
    estimator: Estimator = "auto",
    max_bytes: int = DEFAULT_MAX_BYTES,
    activation=None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Linear CKA between the layers of two nets on the same samples.

    Both nets run over X together, batch by batch (one forward pass per
    batch and net); two seeds, two activation functions, the best and the
    runner-up of a search. Parameters are those of :func:`cka`, per net.
    ``batch_size`` defaults to ``net_a``'s and is used for both.

    Returns
    -------
    pandas.DataFrame
        Layers of ``net_a`` (rows, index named ``"layer_a"``) x layers of
        ``net_b`` (columns, ``"layer_b"``), in [0, 1], with the ``attrs``
        of :func:`cka`. Nothing is set to 1: the same net compared with
        itself gives 1 on the diagonal up to rounding.
    """
    check_pool(pool)
    _check_options(estimator, max_bytes)
    net_a.inspected_module()
    net_b.inspected_module()
    layers_a = layers_in_order(net_a, X, layers_a)
    layers_b = layers_in_order(net_b, X, layers_b)
    batch_size = _batch_size(net_a, batch_size)
    acc = _Accumulator(estimator, max_bytes)
    same = net_a is net_b or net_a.inspected_module() is net_b.inspected_module()
    if same:
        # One module cannot carry two captures at once: stream it once with
        # every layer either side asks for.
        union = list(dict.fromkeys([*layers_a, *layers_b]))
        nets, lists = [net_a], [union]
        rows = [union.index(layer) for layer in layers_a]
        cols = [union.index(layer) for layer in layers_b]
        names = union
    else:
        nets, lists = [net_a, net_b], [layers_a, layers_b]
        rows = list(range(len(layers_a)))
        cols = list(range(len(layers_a), len(layers_a) + len(layers_b)))
        names = [*layers_a, *layers_b]
    _run(
        nets,
        X,
        lists,
        pool=pool,
        activation=activation,
        batch_size=batch_size,
        progress=progress,
        acc=acc,
    )
    values, kinds, constant = acc.result(rows, cols)
    values = np.clip(values, 0.0, 1.0)
    constant_layers = sorted({names[i] for i in [*rows, *cols] if constant[i]})
    _warn_constant(constant_layers)
    frame = _frame(
        values,
        kinds,
        layers_a,
        layers_b,
        {
            "n_samples": acc.n,
            "batch_size": batch_size,
            "pool": pool,
            "constant_layers": constant_layers,
        },
    )
    frame.index.name, frame.columns.name = "layer_a", "layer_b"
    return frame
