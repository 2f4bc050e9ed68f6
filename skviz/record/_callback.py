"""The skorch callback that records parameters during ``fit``.

:class:`WeightRecorder` chooses the parameters when training starts,
reserves rows for each training call, and after every ``every``-th
training batch copies the chosen parameters (and optionally their
gradients) into a :class:`~skviz.record.RowStore`. What it recorded is
read through its :class:`~skviz.record.Recording`, ``recording_``; the
recorder's own read methods hand that object's answers on.

Every snapshot is a copy. ``state_dict()[k].to("cpu")`` (what hand-written
recorders often use) returns the live parameter on a CPU, so a list of such
"snapshots" holds the same tensor many times over.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from ..capture import unwrap_compiled
from ._io import load as _load
from ._reading import RecordingReader
from ._recording import (
    RELATIVE_KEY,
    Recording,
    add_index_fields,
    add_param_fields,
    add_relative_field,
    gradient_key,
    weight_key,
)
from ._select import as_param_patterns, param_matches
from ._store import RowStore
from ._tensors import copy_into, relative_step

__all__ = ["WeightRecorder"]


def _named_learnable(net) -> dict[str, torch.nn.Parameter]:
    # torch.compile prefixes every name with "_orig_mod."; users know theirs.
    module = unwrap_compiled(net.module_)
    return {n: p for n, p in module.named_parameters() if p.requires_grad}


class WeightRecorder(RecordingReader, Callback):
    """Record parameters (and optionally gradients) during training.

    After every ``every``-th training batch the chosen parameters are copied
    into preallocated float32 arrays of shape ``(steps, *param.shape)``.
    Row 0 is the state before the first batch. The arrays live in memory up
    to ``memory_budget`` bytes and in ``.npy`` memory maps beyond it, so a
    long recording is bounded by disk, not RAM.

    Fitting again from scratch (``fit`` without ``warm_start``) starts a
    new recording; ``partial_fit`` and ``warm_start=True`` continue it, with
    the step, epoch and batch axes continuing too. Everything recorded lives
    in attributes ending in ``_``, so ``clone`` and ``GridSearchCV`` see only
    the constructor parameters.

    Parameters
    ----------
    params : str, list of str or None, default=None
        Parameters to record, from ``module_.named_parameters()`` (names
        as the user wrote them, also under ``torch.compile``). Each entry is
        an exact name (``"l2.weight"``), a glob pattern (``"l[2-5].weight"``,
        ``"*.bias"``) or a module name (``"l2"`` selects ``l2.weight`` and
        ``l2.bias``). ``None`` records every learnable parameter with at most
        ``max_size`` elements and warns which ones it leaves out. An entry
        that matches nothing raises ``ValueError`` when training starts.
    every : int, default=1
        Record after every ``every``-th training batch (counted across
        epochs and calls to ``partial_fit``). Validation batches are never
        recorded.
    gradients : bool, default=False
        Also record the gradient of each recorded parameter, as computed in
        the recorded batch before the optimizer step (skorch's
        ``on_grad_computed``; with optimizers that evaluate the loss several
        times per step, such as LBFGS, the first evaluation's gradient).
    relative_updates : bool, default=False
        Also track ``std(W_k - W_{k-1}) / std(W_{k-1})`` at each recorded
        step for every learnable parameter of the module, including those
        whose values are not recorded. Costs one extra copy of the tracked
        parameters on their device. Without it,
        :meth:`relative_update_sizes` computes the same ratio from the
        recorded snapshots.
    max_size : int, default=1_000_000
        With ``params=None``, parameters with more elements are skipped
        (with a warning naming them). Explicitly selected parameters are
        always recorded.
    memory_budget : int or None, default=256 MiB
        Bytes of parameter (and gradient) arrays kept in memory, counted at
        their allocated capacity; arrays that do not fit are memory-mapped
        ``.npy`` files instead (a warning says where). ``0`` puts them all on
        disk, ``None`` all in memory. The step/epoch/batch index (24 bytes a
        row) and the relative-update table always stay in memory.
    directory : str, path or None, default=None
        Where spilled arrays go: a fresh private folder is made inside it
        (the system's temporary folder when None) and removed when the
        recording is garbage-collected. Use :meth:`save` to keep a
        recording. Pickling or deep-copying the net keeps spilled arrays on
        disk: the copy refers to the files (taking its own hard link to
        each), so a pickle read after the recording, or its process, has
        gone finds no rows (the net loads, reading the recording raises).

    Attributes
    ----------
    recording_ : Recording
        What was recorded, read-only and live: it grows while training goes
        on. Plots and animations accept it, and :func:`skviz.record.load`
        returns the same kind of object. A new recording (``fit`` from
        scratch, :meth:`initialize`) replaces it; one already handed out
        stays as it was.
    param_names_ : list of str
        Recorded parameters, in the module's order.
    shapes_ : dict of str to tuple
        Shape of each recorded parameter.
    skipped_ : dict of str to int
        Parameters left out by ``max_size`` and their sizes.
    n_steps_ : int
        Number of recorded snapshots (rows), including row 0.
    n_batches_seen_ : int
        Training batches seen since the recording started.
    steps_, epochs_, batches_ : ndarray of shape ``(n_steps_,)``
        For each row: training batches done so far, skorch's epoch number
        (0 for row 0) and batches done within that epoch.

    Examples
    --------
    >>> from skviz.record import WeightRecorder
    >>> rec = WeightRecorder(["l2.weight", "l3.weight"], every=1)
    >>> net = NeuralNetClassifier(Net, callbacks=[rec], batch_size=16)  # doctest: +SKIP
    >>> net.fit(X, y)  # doctest: +SKIP
    >>> rec.trajectory("l2.weight").shape  # doctest: +SKIP
    (91, 100, 1000)
    >>> rec.recording_.save("run1.npz")  # doctest: +SKIP
    """

    def __init__(
        self,
        params: str | Sequence[str] | None = None,
        *,
        every: int = 1,
        gradients: bool = False,
        relative_updates: bool = False,
        max_size: int = 1_000_000,
        memory_budget: int | None = 256 * 2**20,
        directory: str | os.PathLike | None = None,
    ):
        self.params = params
        self.every = every
        self.gradients = gradients
        self.relative_updates = relative_updates
        self.max_size = max_size
        self.memory_budget = memory_budget
        self.directory = directory

    # ------------------------------------------------------------------
    # validation and state
    # ------------------------------------------------------------------

    def _validate_params(self) -> None:
        as_param_patterns(self.params)
        for key in ("every", "max_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{key} must be an int, got {value!r}.")
            if value < 1:
                raise ValueError(f"{key} must be >= 1, got {value}.")
        budget = self.memory_budget
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
                raise TypeError(
                    f"memory_budget must be an int (bytes) or None, got {budget!r}."
                )
            if budget < 0:
                raise ValueError(f"memory_budget must be >= 0, got {budget}.")
        for key in ("gradients", "relative_updates"):
            if not isinstance(getattr(self, key), (bool, np.bool_)):
                raise TypeError(f"{key} must be a bool, got {getattr(self, key)!r}.")
        if self.directory is not None:
            if not isinstance(self.directory, (str, os.PathLike)):
                raise TypeError(
                    f"directory must be a path or None, got {self.directory!r}."
                )
            if not Path(self.directory).is_dir():
                raise ValueError(f"directory {str(self.directory)!r} does not exist.")

    def initialize(self):
        """Validate the parameters and start an empty recording."""
        self._validate_params()
        self._reset()
        return self

    def _reset(self) -> None:
        store = RowStore(
            memory_budget=self.memory_budget,
            directory=self.directory,
            name="WeightRecorder",
        )
        add_index_fields(store)
        # The previous recording is dropped, not emptied: a Recording handed
        # out earlier stays readable, and its spill files go with it.
        self.recording_ = Recording(store, recorder_params=self.get_params())
        self._rel_shapes_: dict[str, tuple[int, ...]] = {}
        self._weight_keys_: list[str] = []
        self._grad_keys_: list[str] = []
        self._live_: list[torch.Tensor] = []
        self._prev_: list[torch.Tensor] = []
        self._tracked_: list[torch.Tensor] = []
        self._batch_in_epoch_ = 0
        self._epoch_ = 0
        self._planned_ = False
        self._grad_row_ = -1

    # ------------------------------------------------------------------
    # skorch callback hooks
    # ------------------------------------------------------------------

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._attach(net)

    def _attach(self, net) -> None:
        """Find the recorded parameters on ``net`` (at every training call).

        Parameters are looked up again for each call rather than kept from
        the last one: a module replaced in between must not be recorded
        through stale references.
        """
        if "recording_" not in self.__dict__:
            self.initialize()
        rec = self.recording_
        named = _named_learnable(net)
        if not rec.param_names and rec.n_steps == 0:
            self._select(named)
        changed = [
            n
            for n in [*rec.param_names, *rec.relative_update_names]
            if n not in named or tuple(named[n].shape) != self._shape_of(n)
        ]
        if changed:
            raise ValueError(
                "The module's parameters changed since the recording started "
                f"({sorted(set(changed))} are gone or have a new shape). "
                "Re-initialize the net (net.initialize()) to start a new "
                "recording, or use a new WeightRecorder."
            )
        self._live_ = [named[n] for n in rec.param_names]
        self._weight_keys_ = [weight_key(n) for n in rec.param_names]
        self._grad_keys_ = [
            gradient_key(n) for n in rec.param_names if gradient_key(n) in rec.store
        ]
        if self.relative_updates:
            if not rec.relative_update_names:
                rec.relative_update_names = list(named)
                self._rel_shapes_ = {n: tuple(named[n].shape) for n in named}
                add_relative_field(rec.store, len(named))
            self._tracked_ = [named[n] for n in rec.relative_update_names]
            if len(self._prev_) != len(self._tracked_):
                # first call, or unpickled: the next ratio starts from here
                with torch.no_grad():
                    self._prev_ = [p.detach().clone() for p in self._tracked_]
        # what the rows from now on are recorded with
        rec.recorder_params = self.get_params()
        rec.store.memory_budget = self.memory_budget
        rec.store.directory = self.directory
        self._planned_ = False
        self._grad_row_ = -1  # a batch interrupted before this call is void

    def _shape_of(self, name: str) -> tuple[int, ...]:
        shapes = self.recording_.shapes
        return shapes[name] if name in shapes else self._rel_shapes_[name]

    def _select(self, named: dict[str, torch.nn.Parameter]) -> None:
        patterns = as_param_patterns(self.params)
        if not named:
            raise ValueError("The module has no learnable parameters to record.")
        skipped = {}
        if patterns is None:
            chosen = [n for n, p in named.items() if p.numel() <= self.max_size]
            skipped = {
                n: p.numel() for n, p in named.items() if p.numel() > self.max_size
            }
            if skipped:
                listed = ", ".join(f"{n} ({k:,} elements)" for n, k in skipped.items())
                warnings.warn(
                    f"WeightRecorder records parameters of at most max_size="
                    f"{self.max_size:,} elements and skips: {listed}. Name them "
                    "in params=[...] to record them anyway.",
                    UserWarning,
                    stacklevel=3,
                )
        else:
            unmatched = [
                p for p in patterns if not any(param_matches(n, p) for n in named)
            ]
            if unmatched:
                hints = []
                for p in unmatched:
                    close = difflib.get_close_matches(p, list(named), n=3)
                    hints.append(
                        f"{p!r}" + (f" (did you mean {close}?)" if close else "")
                    )
                raise ValueError(
                    f"WeightRecorder: no learnable parameter matches {', '.join(hints)}. "
                    f"Parameters of this module: {list(named)}."
                )
            chosen = [n for n in named if any(param_matches(n, p) for p in patterns)]
        rec = self.recording_
        rec.skipped = skipped
        if not chosen:
            raise ValueError(
                f"WeightRecorder: every parameter is larger than max_size="
                f"{self.max_size:,}; raise max_size or name parameters in params."
            )
        rec.param_names = chosen
        rec.shapes = {n: tuple(named[n].shape) for n in chosen}
        add_param_fields(rec.store, rec.shapes, self.gradients)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not self._live_:
            self._attach(net)  # fit_loop called directly: no on_train_begin
        self._batch_in_epoch_ = 0
        self._epoch_ = len(net.history)
        if not self._planned_:
            self._planned_ = True
            self._plan(net, dataset_train)
        if self.recording_.n_steps == 0:
            self._record_row(epoch=0, batch=0)

    def _plan(self, net, dataset_train) -> None:
        """Reserve rows for this training call: max_epochs x batches per epoch."""
        try:
            per_epoch = len(net.get_iterator(dataset_train, training=True))
        except Exception:  # iterable datasets have no length: grow as we go
            per_epoch = 0
        epochs = getattr(net, "max_epochs", 0) or 0
        rec = self.recording_
        seen = rec.n_batches_seen
        upcoming = (seen + per_epoch * epochs) // self.every - seen // self.every
        needed = rec.n_steps + upcoming + (1 if rec.n_steps == 0 else 0)
        rec.store.reserve(max(needed, 1))

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            # Gradients copied so far belong to a batch that never finished
            # (its step raised): this batch's gradients replace them.
            self._grad_row_ = -1

    def on_grad_computed(
        self, net, named_parameters, X=None, y=None, training=None, **kwargs
    ):
        if not self._grad_keys_ or not self._live_:
            return
        rec = self.recording_
        if (rec.n_batches_seen + 1) % self.every:
            return
        row = rec.n_steps
        if self._grad_row_ == row:
            return  # LBFGS & co. evaluate several times per step; keep the first
        store = rec.store
        store.ensure_row(row)
        grads = [p.grad for p in self._live_]
        copy_into(grads, [store.row(k, row) for k in self._grad_keys_])
        self._grad_row_ = row

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training or not self._live_:
            return
        rec = self.recording_
        rec.n_batches_seen += 1
        self._batch_in_epoch_ += 1
        if rec.n_batches_seen % self.every:
            return
        self._record_row(epoch=self._epoch_, batch=self._batch_in_epoch_)

    def _record_row(self, epoch: int, batch: int) -> None:
        rec = self.recording_
        store = rec.store
        row = store.ensure_row(store.n_rows)
        copy_into(self._live_, [store.row(k, row) for k in self._weight_keys_])
        if self._grad_row_ != row:
            for key in self._grad_keys_:
                store.row(key, row)[...] = np.nan
        store.row("step", row)[...] = rec.n_batches_seen
        store.row("epoch", row)[...] = epoch
        store.row("batch", row)[...] = batch
        if RELATIVE_KEY in store:
            store.row(RELATIVE_KEY, row)[...] = self._track_relative(first=row == 0)
        store.commit_row()

    def _track_relative(self, first: bool) -> np.ndarray:
        if first or not self._tracked_:
            with torch.no_grad():
                for prev, p in zip(self._prev_, self._tracked_, strict=True):
                    prev.copy_(p.detach())
            n = len(self.recording_.relative_update_names)
            return np.full(n, np.nan, np.float32)
        return relative_step(self._tracked_, self._prev_)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # Holding parameters between calls would pin a replaced module.
        self._live_ = []
        self._tracked_ = []

    def __getstate__(self):
        # The recording pickles its committed rows (files by reference); live
        # tensors stay behind.
        state = self.__dict__.copy()
        for key in ("_live_", "_tracked_", "_prev_"):
            if key in state:
                state[key] = []
        return state

    @staticmethod
    def load(
        path: str | os.PathLike, mmap_mode: str | None = None, *, verify: bool = True
    ) -> Recording:
        """Read a saved recording: the same as :func:`skviz.record.load`.

        Returns
        -------
        Recording
            Not a WeightRecorder: a recording read from a file belongs to no
            net. The recorder's parameters are in its ``recorder_params``.
        """
        return _load(path, mmap_mode, verify=verify)
