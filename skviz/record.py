"""Record parameters during ``fit``: a skorch callback with bounded memory.

:class:`WeightRecorder` copies chosen parameters (and optionally their
gradients) after every ``every``-th training batch into preallocated
float32 arrays, in memory up to ``memory_budget`` bytes and in ``.npy``
memory maps beyond it. Row 0 holds the parameters before the first batch,
row ``k`` the parameters after the ``k``-th recorded batch, so
``updates(name)[k - 1]`` is exactly what the optimizer changed between two
recorded snapshots.

Every snapshot is a copy. ``state_dict()[k].to("cpu")`` (what hand-written
recorders often use) returns the live parameter on a CPU, so a list of such
"snapshots" holds the same tensor many times over.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import math
import mmap
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from skorch.callbacks import Callback

from .capture import unwrap_compiled

__all__ = ["WeightRecorder", "find_recorder"]

_FORMAT = "skviz.WeightRecorder"
_FORMAT_VERSION = 1
_KINDS = ("weight", "update", "gradient")
# Rows are read in chunks of about this many bytes when a whole recording is
# reduced (histograms, relative updates), so that memory-mapped recordings
# larger than RAM can still be summarised.
_CHUNK_BYTES = 32 * 2**20


class _Buffer:
    """A growable ``(capacity, *shape)`` array in memory or in an ``.npy`` map."""

    __slots__ = ("data", "path")

    def __init__(self, data: np.ndarray, path: Path | None = None):
        self.data = data
        self.path = path

    @property
    def capacity(self) -> int:
        return self.data.shape[0]

    @property
    def on_disk(self) -> bool:
        return self.path is not None

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def release(self) -> None:
        path, self.path = self.path, None
        self.data = np.empty((0, *self.data.shape[1:]), self.data.dtype)
        if path is not None:
            try:
                path.unlink()
            except OSError:
                pass


_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def _resident_empty(shape, dtype) -> np.ndarray:
    """``np.empty`` whose pages are mapped now rather than on first write.

    A recording writes each page of its arrays once, during training; left
    to page faults, mapping fresh memory one page at a time costs several
    times the copying itself. Where the OS offers it (Linux
    ``MAP_POPULATE``), large arrays are mapped in one call up front instead.
    """
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if not _POPULATE or nbytes < 2**20:
        return np.empty(shape, dtype=dtype)
    try:
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _POPULATE
        memory = mmap.mmap(-1, nbytes, flags=flags)
    except (OSError, ValueError, AttributeError):
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(memory, dtype=dtype).reshape(shape)


def _allocate(shape, dtype, path: Path | None, fill=None) -> _Buffer:
    if path is None:
        data = _resident_empty(shape, dtype)
    else:
        data = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    if fill is not None:
        data[...] = fill
    return _Buffer(data, path)


def _matches(name: str, pattern: str) -> bool:
    # A module name ("l2") selects all of its parameters ("l2.weight", ...).
    return fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern + ".")


def _as_patterns(params) -> list[str] | None:
    if params is None:
        return None
    if isinstance(params, str):
        return [params]
    if isinstance(params, Iterable) and not isinstance(params, (bytes, dict)):
        patterns = list(params)
        if patterns and all(isinstance(p, str) for p in patterns):
            return patterns
    raise TypeError(
        "params must be None, a parameter name or glob pattern, or a non-empty "
        f"list of them; got {params!r}."
    )


def _user_module(net) -> torch.nn.Module:
    # torch.compile prefixes every name with "_orig_mod."; users know theirs.
    return unwrap_compiled(net.module_)


def _named_learnable(net) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in _user_module(net).named_parameters() if p.requires_grad}


def _copy_into(tensors: Sequence[torch.Tensor | None], rows: Sequence[np.ndarray]):
    """Copy each tensor into its float32 row; ``None`` (no gradient) gives NaN.

    CPU tensors go straight into the row. Tensors on an accelerator are
    flattened into one buffer per device and moved in one transfer, so a
    recorded step costs one device synchronisation, not one per parameter.
    """
    by_device: dict[torch.device, list[int]] = {}
    for i, (t, row) in enumerate(zip(tensors, rows, strict=True)):
        if t is None:
            row[...] = np.nan
        elif t.device.type == "cpu":
            torch.from_numpy(row).copy_(t.detach())
        else:
            by_device.setdefault(t.device, []).append(i)
    for indices in by_device.values():
        flat = torch.cat(
            [tensors[i].detach().reshape(-1).to(torch.float32) for i in indices]
        ).to("cpu")
        flat_np = flat.numpy()
        offset = 0
        for i in indices:
            row = rows[i]
            row[...] = flat_np[offset : offset + row.size].reshape(row.shape)
            offset += row.size


def _format_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def find_recorder(net, name: str | None = None) -> WeightRecorder:
    """The :class:`WeightRecorder` among ``net.callbacks_``.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialized net.
    name : str, optional
        The callback's name in ``net.callbacks_``; needed only when the net
        has several recorders.

    Returns
    -------
    WeightRecorder
    """
    callbacks = getattr(net, "callbacks_", None)
    if callbacks is None:
        raise ValueError(
            "The net has no initialized callbacks; fit it (or call "
            "net.initialize()) with a WeightRecorder in callbacks=[...]."
        )
    found = [(n, cb) for n, cb in callbacks if isinstance(cb, WeightRecorder)]
    if name is not None:
        for n, cb in found:
            if n == name:
                return cb
        raise ValueError(
            f"No WeightRecorder named {name!r}; recorders of this net: "
            f"{[n for n, _ in found]}."
        )
    if not found:
        raise ValueError(
            "The net has no WeightRecorder callback; pass "
            "callbacks=[WeightRecorder(...)] when creating it."
        )
    if len(found) > 1:
        raise ValueError(
            f"The net has several WeightRecorders {[n for n, _ in found]}; "
            "pass name=... to choose one."
        )
    return found[0][1]


class WeightRecorder(Callback):
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
        recording is reset or the recorder is garbage-collected. Use
        :meth:`save` to keep a recording.

    Attributes
    ----------
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
    steps_, epochs_, batches_ : ndarray of shape (n_steps_,)
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
        _as_patterns(self.params)
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
        self._release_storage()
        self.param_names_: list[str] = []
        self.shapes_: dict[str, tuple[int, ...]] = {}
        self.skipped_: dict[str, int] = {}
        self.n_steps_ = 0
        self.n_batches_seen_ = 0
        self.relative_update_names_: list[str] = []
        self._rel_shapes_: dict[str, tuple[int, ...]] = {}
        self._weights_: dict[str, _Buffer] = {}
        self._grads_: dict[str, _Buffer] = {}
        self._index_: dict[str, _Buffer] = {}
        self._rel_: _Buffer | None = None
        self._live_: list[torch.Tensor] = []
        self._prev_: list[torch.Tensor] = []
        self._tracked_: list[torch.Tensor] = []
        self._batch_in_epoch_ = 0
        self._epoch_ = 0
        self._planned_ = False
        self._grad_row_ = -1
        self._spill_dir_: Path | None = None
        self._finalizer_ = None
        self._warned_spill_ = False

    def _release_storage(self) -> None:
        for attr in ("_weights_", "_grads_", "_index_"):
            for buf in getattr(self, attr, {}).values():
                buf.release()
        finalizer = getattr(self, "_finalizer_", None)
        if finalizer is not None:
            finalizer()  # removes the private spill folder

    def _check_initialized(self) -> None:
        if not hasattr(self, "n_steps_"):
            raise ValueError(
                "This WeightRecorder has recorded nothing yet: pass it in a "
                "net's callbacks and fit the net, or use WeightRecorder.load()."
            )

    # ------------------------------------------------------------------
    # storage
    # ------------------------------------------------------------------

    def _buffers(self) -> list[_Buffer]:
        bufs = [*self._weights_.values(), *self._grads_.values()]
        bufs += list(self._index_.values())
        if self._rel_ is not None:
            bufs.append(self._rel_)
        return bufs

    @property
    def nbytes_(self) -> int:
        """Bytes of recording arrays held in memory (allocated capacity)."""
        self._check_initialized()
        return sum(b.nbytes for b in self._buffers() if not b.on_disk)

    @property
    def disk_bytes_(self) -> int:
        """Bytes of recording arrays in memory-mapped files."""
        self._check_initialized()
        return sum(b.nbytes for b in self._buffers() if b.on_disk)

    @property
    def storage_(self) -> dict[str, str]:
        """Where each recorded parameter's array lives: ``"memory"`` or a path."""
        self._check_initialized()
        return {
            n: (str(b.path) if b.on_disk else "memory")
            for n, b in self._weights_.items()
        }

    def _spill_path(self, label: str) -> Path:
        if self._spill_dir_ is None:
            path = Path(tempfile.mkdtemp(prefix="skviz-record-", dir=self.directory))
            self._spill_dir_ = path
            self._finalizer_ = weakref.finalize(
                self, shutil.rmtree, str(path), ignore_errors=True
            )
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
        for gen in range(1_000_000):
            path = self._spill_dir_ / f"{stem}.{gen}.npy"
            if not path.exists():
                return path
        raise RuntimeError("could not name a spill file")  # pragma: no cover

    def _reserve(self, capacity: int) -> None:
        """Make every buffer hold at least ``capacity`` rows.

        Buffers grow to ``capacity`` (the caller passes a plan or a doubled
        size); each one goes to memory while the total stays within
        ``memory_budget`` and to disk otherwise. Existing rows are copied.
        """
        specs: list[tuple[dict, str, tuple, Any, Any, str]] = []
        for name in self.param_names_:
            specs.append(
                (
                    self._weights_,
                    name,
                    self.shapes_[name],
                    np.float32,
                    None,
                    f"w_{name}",
                )
            )
            if self.gradients:
                specs.append(
                    (
                        self._grads_,
                        name,
                        self.shapes_[name],
                        np.float32,
                        np.nan,
                        f"g_{name}",
                    )
                )
        for key in ("step", "epoch", "batch"):
            specs.append((self._index_, key, (), np.int64, None, key))
        # the budget covers parameter and gradient arrays; the index arrays
        # (24 bytes a row) always stay in memory
        in_memory = sum(
            b.nbytes
            for b in [*self._weights_.values(), *self._grads_.values()]
            if not b.on_disk
        )
        budget = math.inf if self.memory_budget is None else self.memory_budget
        # index arrays first: they are tiny and always wanted in memory
        specs.sort(key=lambda s: s[3] is not np.int64)
        for store, key, shape, dtype, fill, label in specs:
            old = store.get(key)
            if old is not None and old.capacity >= capacity:
                continue
            nbytes = (
                capacity
                * int(np.prod(shape, dtype=np.int64))
                * np.dtype(dtype).itemsize
            )
            freed = old.nbytes if old is not None and not old.on_disk else 0
            to_disk = dtype is np.float32 and in_memory - freed + nbytes > budget
            path = self._spill_path(label) if to_disk else None
            if to_disk and not self._warned_spill_:
                self._warned_spill_ = True
                warnings.warn(
                    f"WeightRecorder: the recording exceeds memory_budget="
                    f"{self.memory_budget} bytes; {label[2:]!r} and any further "
                    f"arrays that do not fit are memory-mapped in "
                    f"{self._spill_dir_}.",
                    UserWarning,
                    stacklevel=3,
                )
            new = _allocate((capacity, *shape), dtype, path, fill=fill)
            if old is not None:
                new.data[: self.n_steps_] = old.data[: self.n_steps_]
                old.release()
            store[key] = new
            if dtype is np.float32:
                in_memory += (0 if to_disk else nbytes) - freed
        if self.relative_update_names_:
            old = self._rel_
            if old is None or old.capacity < capacity:
                new = _allocate(
                    (capacity, len(self.relative_update_names_)),
                    np.float32,
                    None,
                    fill=np.nan,
                )
                if old is not None:
                    new.data[: self.n_steps_] = old.data[: self.n_steps_]
                self._rel_ = new

    def _ensure_row(self, row: int) -> None:
        capacity = self._index_["step"].capacity if self._index_ else 0
        if row >= capacity:
            self._reserve(max(row + 1, 2 * capacity, 16))

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
        if not hasattr(self, "n_steps_"):
            self.initialize()
        named = _named_learnable(net)
        if not self.param_names_ and self.n_steps_ == 0:
            self._select(named)
        changed = [
            n
            for n in [*self.param_names_, *self.relative_update_names_]
            if n not in named or tuple(named[n].shape) != self._shape_of(n)
        ]
        if changed:
            raise ValueError(
                "The module's parameters changed since the recording started "
                f"({sorted(set(changed))} are gone or have a new shape). "
                "Re-initialize the net (net.initialize()) to start a new "
                "recording, or use a new WeightRecorder."
            )
        self._live_ = [named[n] for n in self.param_names_]
        if self.relative_updates:
            if not self.relative_update_names_:
                self.relative_update_names_ = list(named)
                self._rel_shapes_ = {n: tuple(named[n].shape) for n in named}
            self._tracked_ = [named[n] for n in self.relative_update_names_]
            if len(self._prev_) != len(self._tracked_):
                # first call, or unpickled: the next ratio starts from here
                with torch.no_grad():
                    self._prev_ = [p.detach().clone() for p in self._tracked_]
        self._planned_ = False

    def _shape_of(self, name: str) -> tuple[int, ...]:
        if name in self.shapes_:
            return self.shapes_[name]
        return self._rel_shapes_[name]

    def _select(self, named: dict[str, torch.nn.Parameter]) -> None:
        patterns = _as_patterns(self.params)
        if not named:
            raise ValueError("The module has no learnable parameters to record.")
        if patterns is None:
            chosen = [n for n, p in named.items() if p.numel() <= self.max_size]
            self.skipped_ = {
                n: p.numel() for n, p in named.items() if p.numel() > self.max_size
            }
            if self.skipped_:
                listed = ", ".join(
                    f"{n} ({k:,} elements)" for n, k in self.skipped_.items()
                )
                warnings.warn(
                    f"WeightRecorder records parameters of at most max_size="
                    f"{self.max_size:,} elements and skips: {listed}. Name them "
                    "in params=[...] to record them anyway.",
                    UserWarning,
                    stacklevel=3,
                )
        else:
            unmatched = [p for p in patterns if not any(_matches(n, p) for n in named)]
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
            chosen = [n for n in named if any(_matches(n, p) for p in patterns)]
        if not chosen:
            raise ValueError(
                f"WeightRecorder: every parameter is larger than max_size="
                f"{self.max_size:,}; raise max_size or name parameters in params."
            )
        self.param_names_ = chosen
        self.shapes_ = {n: tuple(named[n].shape) for n in chosen}

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not self._live_:
            self._attach(net)  # fit_loop called directly: no on_train_begin
        self._batch_in_epoch_ = 0
        self._epoch_ = len(net.history)
        if not self._planned_:
            self._planned_ = True
            self._plan(net, dataset_train)
        if self.n_steps_ == 0:
            self._record_row(epoch=0, batch=0)

    def _plan(self, net, dataset_train) -> None:
        """Reserve rows for this training call: max_epochs x batches per epoch."""
        try:
            per_epoch = len(net.get_iterator(dataset_train, training=True))
        except Exception:  # iterable datasets have no length: grow as we go
            per_epoch = 0
        epochs = getattr(net, "max_epochs", 0) or 0
        seen = self.n_batches_seen_
        upcoming = (seen + per_epoch * epochs) // self.every - seen // self.every
        needed = self.n_steps_ + upcoming + (1 if self.n_steps_ == 0 else 0)
        current = self._index_["step"].capacity if self._index_ else 0
        if needed > current:
            self._reserve(max(needed, 1))

    def on_grad_computed(
        self, net, named_parameters, X=None, y=None, training=None, **kwargs
    ):
        if not self.gradients or not self._live_:
            return
        if (self.n_batches_seen_ + 1) % self.every:
            return
        row = self.n_steps_
        if self._grad_row_ == row:
            return  # LBFGS & co. evaluate several times per step; keep the first
        self._ensure_row(row)
        grads = [p.grad for p in self._live_]
        _copy_into(grads, [self._grads_[n].data[row] for n in self.param_names_])
        self._grad_row_ = row

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training or not self._live_:
            return
        self.n_batches_seen_ += 1
        self._batch_in_epoch_ += 1
        if self.n_batches_seen_ % self.every:
            return
        self._record_row(epoch=self._epoch_, batch=self._batch_in_epoch_)

    def _record_row(self, epoch: int, batch: int) -> None:
        row = self.n_steps_
        self._ensure_row(row)
        _copy_into(
            self._live_, [self._weights_[n].data[row] for n in self.param_names_]
        )
        if self.gradients and self._grad_row_ != row:
            for n in self.param_names_:
                self._grads_[n].data[row] = np.nan
        self._index_["step"].data[row] = self.n_batches_seen_
        self._index_["epoch"].data[row] = epoch
        self._index_["batch"].data[row] = batch
        if self._rel_ is not None:
            self._rel_.data[row] = self._track_relative(first=row == 0)
        self.n_steps_ = row + 1

    def _track_relative(self, first: bool) -> np.ndarray:
        if first or not self._tracked_:
            with torch.no_grad():
                for prev, p in zip(self._prev_, self._tracked_, strict=True):
                    prev.copy_(p.detach())
            return np.full(len(self.relative_update_names_), np.nan, np.float32)
        by_device: dict[torch.device, list[int]] = {}
        for i, p in enumerate(self._tracked_):
            by_device.setdefault(p.device, []).append(i)
        out = np.empty(len(self._tracked_), np.float32)
        with torch.no_grad():
            for indices in by_device.values():
                ratios = []
                for i in indices:
                    p, prev = self._tracked_[i].detach(), self._prev_[i]
                    num = (p.float() - prev.float()).std(correction=0)
                    den = prev.float().std(correction=0)
                    ratios.append(torch.where(den > 0, num / den, torch.nan))
                    prev.copy_(p)
                # one transfer per device and step
                out[indices] = torch.stack(ratios).to("cpu").numpy()
        return out

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # Holding parameters between calls would pin a replaced module.
        self._live_ = []
        self._tracked_ = []

    # ------------------------------------------------------------------
    # pickling
    # ------------------------------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_live_", "_tracked_", "_prev_"):
            if key in state:
                state[key] = []
        state.pop("_finalizer_", None)
        if "n_steps_" in state:
            n = self.n_steps_
            for key in ("_weights_", "_grads_", "_index_"):
                state[key] = {k: np.array(b.data[:n]) for k, b in state[key].items()}
            if state.get("_rel_") is not None:
                state["_rel_"] = np.array(self._rel_.data[:n])
            state["_spill_dir_"] = None
        return state

    def __setstate__(self, state):
        if "n_steps_" in state:
            for key in ("_weights_", "_grads_", "_index_"):
                state[key] = {k: _Buffer(a) for k, a in state[key].items()}
            if state.get("_rel_") is not None:
                state["_rel_"] = _Buffer(state["_rel_"])
            state["_finalizer_"] = None
            state["_prev_"] = []
        self.__dict__.update(state)

    # ------------------------------------------------------------------
    # access
    # ------------------------------------------------------------------

    def _index_view(self, key: str) -> np.ndarray:
        self._check_initialized()
        if not self._index_:
            return np.empty(0, np.int64)
        view = self._index_[key].data[: self.n_steps_]
        view = view.view()
        view.flags.writeable = False
        return view

    @property
    def steps_(self) -> np.ndarray:
        return self._index_view("step")

    @property
    def epochs_(self) -> np.ndarray:
        return self._index_view("epoch")

    @property
    def batches_(self) -> np.ndarray:
        return self._index_view("batch")

    def _check_name(self, name: str) -> None:
        self._check_initialized()
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}.")
        if name not in self._weights_:
            close = difflib.get_close_matches(name, self.param_names_, n=3)
            near = f" Did you mean {close}?" if close else ""
            raise ValueError(
                f"{name!r} was not recorded.{near} Recorded parameters: "
                f"{self.param_names_}."
            )

    def trajectory(self, name: str) -> np.ndarray:
        """Recorded values of one parameter.

        Parameters
        ----------
        name : str
            A name from :attr:`param_names_`.

        Returns
        -------
        ndarray of shape (n_steps_, *shape), float32
            A read-only view (memory-mapped when the array was spilled);
            row ``k`` is the parameter at :attr:`steps_` ``[k]``.
        """
        self._check_name(name)
        view = self._weights_[name].data[: self.n_steps_].view()
        view.flags.writeable = False
        return view

    def updates(self, name: str) -> np.ndarray:
        """Change of one parameter between consecutive recorded snapshots.

        Returns
        -------
        ndarray of shape (n_steps_ - 1, *shape), float32
            ``trajectory(name)[k + 1] - trajectory(name)[k]``; row ``k``
            belongs to step :attr:`steps_` ``[k + 1]``.
        """
        traj = self.trajectory(name)
        return np.subtract(traj[1:], traj[:-1])

    def grad_trajectory(self, name: str) -> np.ndarray:
        """Recorded gradients of one parameter (needs ``gradients=True``).

        Returns
        -------
        ndarray of shape (n_steps_ - 1, *shape), float32
            Row ``k`` is the gradient computed in the batch that led to
            snapshot ``k + 1``, aligned with :meth:`updates`.
        """
        self._check_name(name)
        if not self._grads_:
            raise ValueError(
                "Gradients were not recorded; create the recorder with gradients=True."
            )
        view = self._grads_[name].data[1 : self.n_steps_].view()
        view.flags.writeable = False
        return view

    def relative_update_sizes(self) -> pd.DataFrame:
        """``std(W_k - W_{k-1}) / std(W_{k-1})`` per parameter and step.

        Uses the values tracked during training when ``relative_updates=True``
        (all learnable parameters), else computes them from the recorded
        snapshots (recorded parameters only). NaN where ``std(W_{k-1})`` is 0.

        Returns
        -------
        DataFrame
            One row per recorded step after the first (index ``step``), one
            column per parameter.
        """
        self._check_initialized()
        steps = pd.Index(self.steps_[1:], name="step")
        if self._rel_ is not None:
            data = np.array(self._rel_.data[1 : self.n_steps_], dtype=np.float32)
            return pd.DataFrame(
                data, index=steps, columns=list(self.relative_update_names_)
            )
        columns = {}
        for name in self.param_names_:
            columns[name] = self._relative_from_trajectory(name)
        return pd.DataFrame(columns, index=steps, columns=list(self.param_names_))

    def _relative_from_trajectory(self, name: str) -> np.ndarray:
        traj = self.trajectory(name)
        n = traj.shape[0]
        out = np.full(max(n - 1, 0), np.nan, np.float32)
        row_bytes = max(traj[0].nbytes, 1)
        chunk = max(1, _CHUNK_BYTES // row_bytes)
        for start in range(0, n - 1, chunk):
            stop = min(n - 1, start + chunk)
            block = np.asarray(traj[start : stop + 1], dtype=np.float64).reshape(
                stop - start + 1, -1
            )
            num = np.diff(block, axis=0).std(axis=1)
            den = block[:-1].std(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[start:stop] = np.where(den > 0, num / den, np.nan)
        return out

    def iter_values(
        self, name: str, kind: str = "weight", chunk_bytes: int = _CHUNK_BYTES
    ):
        """Yield ``kind`` values of ``name`` in blocks of rows.

        For reductions over recordings too large for memory (histograms).
        ``kind`` is ``"weight"``, ``"update"`` or ``"gradient"``.
        """
        data = self._data_of(name, kind)
        n = data.shape[0] - (1 if kind == "update" else 0)
        row_bytes = max(int(np.prod(data.shape[1:], dtype=np.int64)) * 4, 1)
        chunk = max(1, chunk_bytes // row_bytes)
        for start in range(0, max(n, 0), chunk):
            stop = min(n, start + chunk)
            if kind == "update":
                yield np.subtract(data[start + 1 : stop + 1], data[start:stop])
            else:
                yield np.asarray(data[start:stop])

    def _data_of(self, name: str, kind: str) -> np.ndarray:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
        if kind == "gradient":
            return self.grad_trajectory(name)
        return self.trajectory(name)

    def values(self, name: str, kind: str = "weight") -> np.ndarray:
        """:meth:`trajectory`, :meth:`updates` or :meth:`grad_trajectory` by ``kind``."""
        if kind == "update":
            self._data_of(name, kind)
            return self.updates(name)
        return self._data_of(name, kind)

    def step_index(self, kind: str = "weight") -> pd.DataFrame:
        """Step, epoch and batch of each row of :meth:`values` for ``kind``."""
        self._check_initialized()
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
        start = 0 if kind == "weight" else 1
        return pd.DataFrame(
            {
                "step": self.steps_[start:],
                "epoch": self.epochs_[start:],
                "batch": self.batches_[start:],
            }
        )

    def _flat_indices(self, name: str, indices) -> tuple[np.ndarray, list[str]]:
        shape = self.shapes_[name]
        size = int(np.prod(shape, dtype=np.int64))
        if indices is None:
            if size > 10_000:
                raise ValueError(
                    f"{name} has {size:,} elements; pass indices=[...] to choose "
                    "which ones go into the frame."
                )
            flat = np.arange(size)
        else:
            if isinstance(indices, (int, np.integer)) or (
                isinstance(indices, tuple)
                and all(isinstance(i, (int, np.integer)) for i in indices)
            ):
                indices = [indices]
            items = list(indices)
            if not items:
                raise ValueError("indices is empty.")
            flat_list = []
            for item in items:
                if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                    if not -size <= item < size:
                        raise ValueError(
                            f"flat index {item} out of range for {name} of shape {shape}."
                        )
                    flat_list.append(int(item) % size)
                elif isinstance(item, tuple) and len(item) == len(shape):
                    try:
                        flat_list.append(int(np.ravel_multi_index(item, shape)))
                    except ValueError:
                        raise ValueError(
                            f"index {item} out of range for {name} of shape {shape}."
                        ) from None
                else:
                    raise ValueError(
                        f"indices of {name} (shape {shape}) must be flat ints or "
                        f"tuples of {len(shape)} ints; got {item!r}."
                    )
            flat = np.asarray(flat_list, dtype=np.int64)
        labels = [
            _format_index(np.unravel_index(i, shape)) if shape else "[]" for i in flat
        ]
        return flat, labels

    def to_frame(self, name: str, indices=None, kind: str = "weight") -> pd.DataFrame:
        """Tidy table of chosen elements of one parameter over time.

        Parameters
        ----------
        name : str
            A recorded parameter.
        indices : int, tuple, list of them, or None
            Elements to include: flat (C-order) ints or index tuples such as
            ``(3, 7)``. ``None`` takes all elements of parameters with at most
            10,000 of them.
        kind : {"weight", "update", "gradient"}, default="weight"

        Returns
        -------
        DataFrame
            Columns ``step, epoch, batch, param, index, value``; ``index`` is
            an ordered categorical such as ``"[3, 7]"``.
        """
        data = self.values(name, kind)
        flat, labels = self._flat_indices(name, indices)
        n = data.shape[0]
        picked = np.asarray(data).reshape(n, -1)[:, flat]
        idx = self.step_index(kind)
        k = len(flat)
        return pd.DataFrame(
            {
                "step": np.repeat(idx["step"].to_numpy(), k),
                "epoch": np.repeat(idx["epoch"].to_numpy(), k),
                "batch": np.repeat(idx["batch"].to_numpy(), k),
                "param": name,
                "index": pd.Categorical(
                    np.tile(np.asarray(labels, dtype=object), n),
                    categories=list(dict.fromkeys(labels)),
                    ordered=True,
                ),
                "value": picked.ravel(),
            }
        )

    # ------------------------------------------------------------------
    # save / load
    # ------------------------------------------------------------------

    def _arrays_for_saving(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_initialized()
        n = self.n_steps_
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "params": {k: _jsonable(v) for k, v in self.get_params().items()},
            "param_names": list(self.param_names_),
            "shapes": {k: list(v) for k, v in self.shapes_.items()},
            "skipped": dict(self.skipped_),
            "n_steps": n,
            "n_batches_seen": self.n_batches_seen_,
            "relative_update_names": list(self.relative_update_names_),
            "has_gradients": bool(self._grads_),
        }
        arrays = {}
        if self._index_:
            for key in ("step", "epoch", "batch"):
                arrays[key] = self._index_[key].data[:n]
        for i, name in enumerate(self.param_names_):
            arrays[f"weight_{i:04d}"] = self._weights_[name].data[:n]
            if self._grads_:
                arrays[f"gradient_{i:04d}"] = self._grads_[name].data[:n]
        if self._rel_ is not None:
            arrays["relative_updates"] = self._rel_.data[:n]
        return meta, arrays

    def save(self, path: str | os.PathLike) -> Path:
        """Write the recording to ``path``.

        A path ending in ``.npz`` gets one uncompressed ``.npz`` archive;
        any other path becomes a folder with ``meta.json`` and one ``.npy``
        file per array (which :meth:`load` can memory-map). No pickles are
        written; :meth:`load` refuses them.

        Returns
        -------
        pathlib.Path
        """
        meta, arrays = self._arrays_for_saving()
        path = Path(path)
        if path.suffix == ".npz":
            np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
            return path
        path.mkdir(parents=True, exist_ok=True)
        (path / "meta.json").write_text(json.dumps(meta, indent=1))
        for key, arr in arrays.items():
            np.save(path / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        return path

    @classmethod
    def load(
        cls, path: str | os.PathLike, mmap_mode: str | None = None
    ) -> WeightRecorder:
        """Read a recording written by :meth:`save`.

        Files are read with ``allow_pickle=False``: a file that holds pickled
        objects is refused with ``ValueError`` and never executed.

        Parameters
        ----------
        path : str or path
            An ``.npz`` file or a folder written by :meth:`save`.
        mmap_mode : {None, "r", "c"}, default=None
            For folders: memory-map the arrays instead of reading them.

        Returns
        -------
        WeightRecorder
            With the constructor parameters and everything recorded.
        """
        if mmap_mode not in (None, "r", "c"):
            raise ValueError(f"mmap_mode must be None, 'r' or 'c', got {mmap_mode!r}.")
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No recording at {str(path)!r}.")
        try:
            if path.is_dir():
                meta = json.loads((path / "meta.json").read_text())
                _check_meta(meta)

                def read(key):
                    return np.load(
                        path / f"{key}.npy", mmap_mode=mmap_mode, allow_pickle=False
                    )

            else:
                archive = np.load(path, allow_pickle=False)
                if not isinstance(archive, np.lib.npyio.NpzFile):
                    raise ValueError("not an .npz archive")
                files = {k: archive[k] for k in archive.files}
                meta = json.loads(str(files.pop("meta")))
                _check_meta(meta)

                def read(key):
                    return files[key]

            rec = cls._from_saved(meta, read)
        except (ValueError, KeyError, OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(
                f"{str(path)!r} is not a readable skviz WeightRecorder recording: {exc}"
            ) from exc
        return rec

    @classmethod
    def _from_saved(cls, meta: dict, read) -> WeightRecorder:
        params = meta["params"]
        rec = cls(**{k: params[k] for k in params if k in cls._constructor_keys()})
        rec._reset()
        n = int(meta["n_steps"])
        rec.param_names_ = [str(s) for s in meta["param_names"]]
        rec.shapes_ = {k: tuple(int(d) for d in v) for k, v in meta["shapes"].items()}
        rec.skipped_ = {str(k): int(v) for k, v in meta["skipped"].items()}
        rec.n_batches_seen_ = int(meta["n_batches_seen"])
        rec.relative_update_names_ = [str(s) for s in meta["relative_update_names"]]

        def checked(key, shape, dtype):
            arr = read(key)
            if arr.dtype != dtype or arr.shape != shape:
                raise ValueError(
                    f"array {key!r} has {arr.dtype}{arr.shape}, expected {np.dtype(dtype)}{shape}"
                )
            return _Buffer(arr)

        if rec.param_names_:
            for key in ("step", "epoch", "batch"):
                rec._index_[key] = checked(key, (n,), np.int64)
        for i, name in enumerate(rec.param_names_):
            shape = (n, *rec.shapes_[name])
            rec._weights_[name] = checked(f"weight_{i:04d}", shape, np.float32)
            if meta["has_gradients"]:
                rec._grads_[name] = checked(f"gradient_{i:04d}", shape, np.float32)
        if rec.relative_update_names_:
            rec._rel_ = checked(
                "relative_updates", (n, len(rec.relative_update_names_)), np.float32
            )
        rec.n_steps_ = n
        return rec

    @classmethod
    def _constructor_keys(cls) -> set[str]:
        import inspect

        return {
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"
        }


def _jsonable(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _check_meta(meta) -> None:
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError("missing skviz metadata")
    if meta.get("version") != _FORMAT_VERSION:
        raise ValueError(f"unsupported format version {meta.get('version')!r}")
