"""The skorch callback that watches units live and die during ``fit``.

:class:`ActivationMonitor` hooks the chosen layers while the net trains
(through :func:`skviz.capture.watch_outputs`, the engine's hooks), reduces
each output to a few per-unit numbers on its device
(:mod:`._unit_stats`) and writes one row per checkpoint into a
:class:`~skviz.record.RowStore` per source. What it recorded is read
through its :class:`ActivationRecording`, ``recording_``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from ..capture import unwrap_compiled, watch_outputs
from ..layers import select_path
from ._activation_recording import ActivationRecording, stat_key
from ._monitor_layers import discover_layers, plan_layers, with_activation
from ._monitor_reading import MonitorReader
from ._monitor_setup import (
    FitLoopGuard,
    add_fields,
    check_monitor_set,
    choose_layers,
    find_classes,
    validate_params,
)
from ._recording import add_index_fields
from ._store import RowStore
from ._unit_stats import UnitStats

__all__ = ["ActivationMonitor"]

# Checkpoints kept on the device before their rows are written: one
# transfer (and one synchronisation with an accelerator) per this many.
FLUSH_EVERY = 64


class ActivationMonitor(MonitorReader, Callback):
    """Per-unit activation statistics of chosen layers, streamed during ``fit``.

    At each checkpoint the monitor records, for every unit of every chosen
    layer: the fraction of samples on which it is active (value > ``tol``),
    the mean, standard deviation (population) and mean absolute value of its
    values, its dormancy score, and for bounded (tanh/sigmoid-like) layers
    the fraction of values within ``saturation_margin`` of an asymptote;
    optionally per class. Only these numbers are kept: memory grows as
    units x checkpoints, and the rows spill to disk past ``memory_budget``.

    Two sources, each optional:

    * **training batches** (``every=k``): the outputs the net computes in
      training mode inside ``fit`` (Dropout on, BatchNorm on batch
      statistics), accumulated over the ``k`` training batches since the
      previous checkpoint; a checkpoint every ``k`` batches, counted across
      epochs and ``partial_fit`` calls. No extra forward pass.
    * **a fixed monitoring set** (``monitor_set``): after each epoch the
      monitor runs that set through the net in eval mode (no autograd,
      torch's random state left as it was): the same samples every epoch,
      so checkpoints are comparable and the last one agrees with
      ``net.dead_units_report`` on those samples.

    Units: a feature of a ``(N, U)`` output, a channel of a conv output
    ``(N, C, ...)`` (its values are all positions), a feature of a sequence
    output ``(N, T, H)`` (all time steps). 3-D outputs are read channel-first
    when the layer is (or follows, through element-wise layers) a 1-d conv,
    norm or pooling layer, and feature-last otherwise. A unit is active on a
    sample when any of its values is > ``tol`` -- the dead-unit report's rule.

    The dormancy score (Sokar et al. 2023, "The Dormant Neuron Phenomenon in
    Deep Reinforcement Learning") of unit ``i`` of a layer with ``U`` units
    is ``mean|a_i| / ((1/U) sum_k mean|a_k|)``: 1 is an average unit, 0 a
    silent one. A unit is dormant when its score is <= ``tau``. In a layer
    whose values are all zero every score is 0 (all dormant), not NaN.

    Hooks exist only while ``fit``/``partial_fit`` runs: they are removed
    when training ends, also when it is interrupted (``KeyboardInterrupt``,
    which skorch swallows) or raises. ``fit`` from scratch starts a new
    recording; ``partial_fit`` and ``warm_start=True`` continue the time
    axis. Everything recorded ends in ``_``, so ``clone`` and
    ``GridSearchCV`` see only the parameters below.

    Parameters
    ----------
    layers : str, list of str or None, default=None
        Layer references (``"fc1"``, ``"relu@1"`` for the second run of a
        reused module, ``"lstm[0]"`` for one tensor of a tuple output) or
        glob patterns over them (``"act*"``). None: the layers of the
        dead-unit report, :func:`skviz.reports.default_report_layers` (skviz
        nets; plain skorch nets need ``layers``).
    every : int or None, default=1
        Checkpoint of the training source every ``every`` training batches;
        None: no training source.
    monitor_set : None, "valid", array-like or (X, y), default=None
        The eval-mode source, evaluated at each epoch end: ``"valid"`` (the
        net's validation split of that fit), or samples given here in any
        form ``predict`` accepts (with labels as ``(X, y)``, needed for
        ``per_class``). None: no eval source.
    activation : str, callable, dict or None, default=None
        Applied to a layer's output before its statistics, for activations
        applied functionally in ``forward`` (``F.relu(self.fc1(x))``: monitor
        ``"fc1"`` with ``activation="relu"``): a name (``"relu"``,
        ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"leaky_relu"``), a callable
        taking and returning a tensor of the same shape, or a dict of layer
        -> either. ``"tanh"`` and ``"sigmoid"`` also turn on saturation.
        As ``activation=`` of ``net.dead_units_report``.
    tol : float, default=0.0
        Active means > ``tol``.
    tau : float, default=0.025
        Dormant means dormancy score <= ``tau``.
    per_class : bool, default=False
        Also record active fraction, mean and mean ``|a|`` per class; needs the
        labels (``y`` of fit for training batches, ``(X, y)`` or the
        validation split for the monitoring set).
    saturation_margin : float, default=0.05
        See :func:`skviz.analysis.saturation_fraction`; saturation is
        measured for ``nn.Tanh``, ``nn.Sigmoid``, ``nn.Softsign``,
        ``nn.Hardsigmoid`` and ``nn.Hardtanh`` (``ReLU6``) outputs.
    quantiles : sequence of float or None, default=(0.05, 0.25, 0.5, 0.75, 0.95)
        Quantiles of each layer's values at each checkpoint (training
        source: of the last batch of the window; monitoring set: of its last
        batch), each from at most 1,024 of its values (evenly spaced runs of
        16). None records none.
    memory_budget : int or None, default=256 MiB
        Bytes of per-unit rows kept in memory before they spill to
        memory-mapped files (see :class:`~skviz.record.RowStore`).
    directory : str, path or None, default=None
        Where spilled rows go (the system's temporary folder when None).

    Attributes
    ----------
    recording_ : ActivationRecording
        What was recorded (live: it grows while training goes on). Rows
        are computed on the device and written in groups, at the latest at
        each epoch end; the monitor's own read methods (``to_frame``,
        ``unit_fate``, ...) write the pending ones first.
    layers_ : list of str
        Monitored layers, in forward order.
    n_units_ : dict of str to int
    n_batches_seen_ : int
        Training batches seen since the recording started.

    Notes
    -----
    Cost: per batch and monitored layer, a few element-wise passes over the
    output and their reductions on its device (no copy of the activations),
    plus a copy of at most 1,024 values for the quantiles. In
    ``benchmarks/bench_monitor.py`` (three ReLU layers of 512 units, batches
    of 128, ``every=1``, on a 2-core CPU) the monitor's own work was 8.6-9.3%
    of the fit's time with one torch thread and 11.6-12.8% with two. A larger
    ``every`` costs the same per batch; fewer layers cost less.

    Examples
    --------
    >>> from skviz.record import ActivationMonitor
    >>> mon = ActivationMonitor(every=5, monitor_set=(X_val, y_val))  # doctest: +SKIP
    >>> net = InspectableNeuralNetClassifier(Net, callbacks=[mon])  # doctest: +SKIP
    >>> net.fit(X, y)  # doctest: +SKIP
    >>> mon.unit_fate().query("final == 'dead'")  # doctest: +SKIP
    >>> mon.layer_fractions()  # doctest: +SKIP
    """

    def __init__(
        self,
        layers: str | Sequence[str] | None = None,
        *,
        every: int | None = 1,
        monitor_set: Any = None,
        activation: Any = None,
        tol: float = 0.0,
        tau: float = 0.025,
        per_class: bool = False,
        saturation_margin: float = 0.05,
        quantiles: Sequence[float] | None = (0.05, 0.25, 0.5, 0.75, 0.95),
        memory_budget: int | None = 256 * 2**20,
        directory: str | os.PathLike | None = None,
    ):
        self.layers = layers
        self.every = every
        self.monitor_set = monitor_set
        self.activation = activation
        self.tol = tol
        self.tau = tau
        self.per_class = per_class
        self.saturation_margin = saturation_margin
        self.quantiles = quantiles
        self.memory_budget = memory_budget
        self.directory = directory

    # ------------------------------------------------------------------
    # validation and state
    # ------------------------------------------------------------------

    def initialize(self):
        """Validate the parameters and start an empty recording."""
        validate_params(self)
        self._detach()
        self._reset()
        return self

    def _reset(self) -> None:
        stores = {}
        if self.every is not None:
            stores["train"] = self._new_store()
        if self.monitor_set is not None:
            stores["eval"] = self._new_store()
        self.recording_ = ActivationRecording(
            stores,
            tol=self.tol,
            tau=self.tau,
            quantiles=() if self.quantiles is None else tuple(self.quantiles),
            monitor_params=self.get_params(),
        )
        self.plans_ = []
        self.n_batches_seen_ = 0
        self._epoch_ = 0
        self._batch_in_epoch_ = 0
        self._planned_ = False
        self._clear_live()

    def _new_store(self) -> RowStore:
        store = RowStore(
            memory_budget=self.memory_budget,
            directory=self.directory,
            name="ActivationMonitor",
        )
        add_index_fields(store)
        return store

    def _clear_live(self) -> None:
        self._live_ = False  # attached to a running fit
        self._per_epoch_batches_ = 0
        self._watched_: dict = {}
        self._watch_ = None
        self._acc_: dict[str, list[UnitStats]] = {}
        self._pending_: dict[str, list[tuple[int, int, int]]] = {}
        self._collect_: str | None = None
        self._calls_: dict[str, int] = {}
        self._labels_ = None
        self._last_ = False
        self._classes_t_ = None

    @property
    def layers_(self) -> list[str]:
        return self._recording().layers

    @property
    def n_units_(self) -> dict[str, int]:
        return self._recording().n_units

    # ------------------------------------------------------------------
    # attaching and detaching
    # ------------------------------------------------------------------

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if "recording_" not in self.__dict__:
            self.initialize()
        self._attach(net, X, y)
        self._guard(net)

    def _attach(self, net, X, y) -> None:
        if getattr(net, "compile", False):
            raise ValueError(
                "ActivationMonitor cannot watch a net with compile=True: forward "
                "hooks added after torch.compile do not run in the compiled "
                "module. Train with compile=False while monitoring."
            )
        self._detach()
        rec = self.recording_
        module = unwrap_compiled(net.module_)
        modules = dict(module.named_modules())
        if not self.plans_:
            infos = discover_layers(net, X, y)
            refs = choose_layers(self, net, X, infos, modules)
            self.plans_ = with_activation(
                plan_layers(refs, infos, modules), self.activation
            )
            rec.layers = [p.ref for p in self.plans_]
            rec.n_units = {p.ref: p.n_units for p in self.plans_}
            rec.bounded = {p.ref: p.bounds for p in self.plans_ if p.bounds}
            if self.per_class:
                rec.classes = find_classes(self, net, y)
            for store in rec._stores.values():
                add_fields(self, store)
        missing = [p.module for p in self.plans_ if p.module not in modules]
        if missing:
            raise ValueError(
                f"The monitored layers {missing} are gone from the module since the "
                "recording started; re-initialize the net to start a new recording."
            )
        check_monitor_set(self)
        n_classes = 0 if rec.classes is None else len(rec.classes)
        quantiles = () if self.quantiles is None else self.quantiles
        self._acc_ = {
            source: [
                UnitStats(
                    p,
                    tol=self.tol,
                    margin=self.saturation_margin,
                    n_classes=n_classes,
                    quantiles=quantiles,
                )
                for p in self.plans_
            ]
            for source in rec.sources
        }
        if rec.classes is not None:
            self._classes_t_ = torch.as_tensor(rec.classes, device=net.device)
        self._by_module_: dict[str, list[int]] = {}
        for i, p in enumerate(self.plans_):
            self._by_module_.setdefault(p.module, []).append(i)
        self._watched_ = {name: modules[name] for name in self._by_module_}
        self._live_ = True
        rec.monitor_params = self.get_params()
        for store in rec._stores.values():
            store.memory_budget = self.memory_budget
            store.directory = self.directory
        self._planned_ = False

    def _guard(self, net) -> None:
        """Clean up however ``fit_loop`` ends.

        skorch calls ``on_train_end`` after a normal end and after a
        ``KeyboardInterrupt``, but not when training raises: the fit loop of
        this one net is wrapped (an instance attribute, gone afterwards) so
        that no exception leaves a hook on the module or a checkpoint unwritten.
        """
        net.__dict__["fit_loop"] = FitLoopGuard(net, self)

    def _unguard(self, net) -> None:
        if isinstance(net.__dict__.get("fit_loop"), FitLoopGuard):
            del net.__dict__["fit_loop"]

    def _hooks_on(self) -> None:
        # Hooks live for the training steps of an epoch (or one monitoring
        # pass) only: a net pickled by another callback at an epoch's end
        # carries none.
        if self._watch_ is None and self._watched_:
            self._watch_ = watch_outputs(self._watched_, self._on_run)

    def _hooks_off(self) -> None:
        watch = self.__dict__.get("_watch_")
        if watch is not None:
            watch.remove()
        self._watch_ = None
        self._collect_ = None

    def _detach(self) -> None:
        if self.__dict__.get("_acc_"):
            self._flush()
        self._hooks_off()
        self._live_ = False
        self._watched_ = {}

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self._unguard(net)
        self._detach()

    # ------------------------------------------------------------------
    # training batches
    # ------------------------------------------------------------------

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not self._live_:
            # fit_loop called directly (no on_train_begin): attached per epoch
            if "recording_" not in self.__dict__:
                self.initialize()
            self._attach(net, dataset_train, None)
            self._per_epoch_ = True
        if isinstance(self.monitor_set, str) and dataset_valid is None:
            self._detach()
            raise ValueError(
                "monitor_set='valid' needs a validation split, but this net has "
                "train_split=None; pass the samples as monitor_set=(X, y)."
            )
        self._epoch_ = len(net.history)
        self._batch_in_epoch_ = 0
        try:
            per_epoch = len(net.get_iterator(dataset_train, training=True))
        except Exception:  # iterable datasets: grow as we go
            per_epoch = 0
        self._per_epoch_batches_ = per_epoch
        if not self._planned_ and self.every is not None:
            self._planned_ = True
            store = self.recording_.store("train")
            seen = self.n_batches_seen_
            epochs = getattr(net, "max_epochs", 0) or 0
            upcoming = (seen + per_epoch * epochs) // self.every - seen // self.every
            store.reserve(max(store.n_rows + upcoming, 1))

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training or self.every is None or not self._live_:
            self._collect_ = None
            return
        self._hooks_on()
        self._collect_ = "train"
        self._calls_ = {}
        self._last_ = (self.n_batches_seen_ + 1) % self.every == 0
        self._labels_ = None
        if self._classes_t_ is not None:
            _, yi = unpack_data(batch)
            self._labels_ = self._class_index(yi, net.device)

    def _class_index(self, yi, device) -> torch.Tensor:
        classes = self._classes_t_
        y = to_tensor(yi, device=device).reshape(-1).to(classes.dtype)
        idx = torch.searchsorted(classes, y).clamp_(max=len(classes) - 1)
        # a label outside the known classes goes to an extra, dropped column
        return torch.where(classes[idx] == y, idx, len(classes))

    def _on_run(self, name: str, output) -> None:
        source = self._collect_
        if source is None:
            return
        call = self._calls_.get(name, 0)
        self._calls_[name] = call + 1
        acc = self._acc_[source]
        for i in self._by_module_[name]:
            plan = self.plans_[i]
            if plan.call == call:
                tensor = select_path(output, plan.path)
                acc[i].add(tensor, self._labels_, self._last_)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training or not self._live_:
            return
        self._collect_ = None
        self.n_batches_seen_ += 1
        self._batch_in_epoch_ += 1
        if not 0 < self._batch_in_epoch_ < self._per_epoch_batches_:
            # kept between the steps of an epoch (registering costs), off
            # after its last training batch and whenever the length is unknown
            self._hooks_off()
        if self.every is not None and self.n_batches_seen_ % self.every == 0:
            self._write("train")

    def _write(self, source: str) -> None:
        """Close a checkpoint; its row is written at the next flush."""
        for acc in self._acc_[source]:
            acc.close()
        self._pending_.setdefault(source, []).append(
            (self.n_batches_seen_, self._epoch_, self._batch_in_epoch_)
        )
        if len(self._pending_[source]) >= FLUSH_EVERY:
            self._flush(source)

    def _flush(self, source: str | None = None) -> None:
        """Write the closed checkpoints' rows (one transfer per layer).

        Called every ``FLUSH_EVERY`` checkpoints, at each epoch end, when
        training ends (also by an exception) and before anything is read.
        """
        pending = self.__dict__.get("_pending_") or {}
        for src in [source] if source is not None else list(pending):
            index = pending.get(src) or []
            if not index:
                continue
            pending[src] = []
            store = self.recording_.store(src)
            first = store.n_rows
            store.ensure_row(first + len(index) - 1)
            rows = slice(first, first + len(index))
            for plan, acc in zip(self.plans_, self._acc_[src], strict=True):
                for stat, values in acc.drain().items():
                    store.rows(stat_key(stat, plan.ref), rows)[...] = values
            for k, key in enumerate(("step", "epoch", "batch")):
                store.rows(key, rows)[...] = [i[k] for i in index]
            for _ in index:
                store.commit_row()

    # ------------------------------------------------------------------
    # the monitoring set
    # ------------------------------------------------------------------

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not self._live_:
            return
        if self.monitor_set is not None:
            self._evaluate(net, dataset_valid)
        self._flush()
        if self.__dict__.pop("_per_epoch_", False):
            self._detach()

    def _evaluate(self, net, dataset_valid) -> None:
        from ..capture import inspection_session

        ms = self.monitor_set
        if isinstance(ms, str):
            dataset = dataset_valid
        else:
            X, y = ms if isinstance(ms, tuple) and len(ms) == 2 else (ms, None)
            dataset = net.get_dataset(X, y)
        module = unwrap_compiled(net.module_)
        devices = []
        if torch.device(net.device).type == "cuda":
            devices = [torch.device(net.device).index or 0]
        # skorch's loaders draw a seed from torch's global random state even
        # without shuffling: training must not see the monitoring pass.
        self._hooks_on()
        with (
            torch.random.fork_rng(devices=devices),
            inspection_session(module),
            self._watch_,
        ):
            for batch in net.get_iterator(dataset, training=False):
                Xi, yi = unpack_data(batch)
                self._calls_ = {}
                self._last_ = True
                self._labels_ = (
                    self._class_index(yi, net.device)
                    if self._classes_t_ is not None
                    else None
                )
                self._collect_ = "eval"
                try:
                    net.infer(Xi)
                finally:
                    self._collect_ = None
        self._watch_ = None
        self._write("eval")

    # ------------------------------------------------------------------
    # pickling
    # ------------------------------------------------------------------

    def __getstate__(self):
        if "recording_" in self.__dict__ and self._acc_:
            self._flush()
        state = self.__dict__.copy()
        # hooks, accumulators and device tensors belong to the running fit
        for key in ("_watch_", "_labels_", "_classes_t_"):
            state[key] = None
        state.update(_acc_={}, _pending_={}, _watched_={}, _live_=False)
        state["_collect_"] = None
        return state
