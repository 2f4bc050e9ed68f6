"""The read API of a recording: parameter values over training steps.

A :class:`Recording` is what :func:`skviz.record.load` returns and what a
fitted :class:`~skviz.record.WeightRecorder` hands out as ``recording_``;
plots and animations accept it. It reads a :class:`~skviz.record.RowStore`
laid out as below and never writes it:

* ``"step"``, ``"epoch"``, ``"batch"``: one int64 per row;
* one float32 field per recorded parameter (``weight_key(name)``) and, with
  gradients, one more (``gradient_key(name)``), rows shaped like the
  parameter;
* optionally ``"relative"``: one float32 per tracked parameter and row.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._store import RowStore
from ._tensors import relative_scale

__all__ = ["Recording"]

KINDS = ("weight", "update", "gradient")
INDEX_KEYS = ("step", "epoch", "batch")
RELATIVE_KEY = "relative"
# Rows are read in chunks of about this many bytes when a whole recording is
# reduced (histograms, relative updates), so that memory-mapped recordings
# larger than RAM can still be summarised.
CHUNK_BYTES = 32 * 2**20


def weight_key(name: str) -> str:
    """Store field of the values of parameter ``name`` (also its spill-file stem)."""
    return f"w_{name}"


def gradient_key(name: str) -> str:
    """Store field of the gradients of parameter ``name``."""
    return f"g_{name}"


def add_index_fields(store: RowStore) -> None:
    for key in INDEX_KEYS:
        # 24 bytes a row: always in memory, outside the budget
        store.add(key, (), np.int64, budgeted=False)


def add_param_fields(
    store: RowStore, shapes: dict[str, tuple[int, ...]], gradients: bool
) -> None:
    for name, shape in shapes.items():
        store.add(weight_key(name), shape, np.float32, label=name)
        if gradients:
            # a recorded step whose batch computed no gradient reads NaN
            store.add(gradient_key(name), shape, np.float32, fill=np.nan, label=name)


def add_relative_field(store: RowStore, n_params: int) -> None:
    store.add(RELATIVE_KEY, (n_params,), np.float32, fill=np.nan, budgeted=False)


def _format_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


class Recording:
    """Parameters (and optionally gradients) recorded over training steps.

    Row 0 holds the parameters before the first recorded batch, row ``k``
    the parameters after the ``k``-th recorded batch, so
    ``updates(name)[k - 1]`` is exactly what the optimizer changed between
    two recorded snapshots. Every array handed out is a read-only view
    (memory-mapped where the rows live on disk).

    A recording obtained from a recorder (``recorder.recording_``) is live:
    it grows while the net trains on (``partial_fit``). A new recording
    (``fit`` from scratch) releases it; :meth:`save` keeps one.

    Parameters
    ----------
    store : RowStore
        The rows, laid out as described in this module.
    param_names : sequence of str
    shapes : dict of str to tuple
    skipped : dict of str to int, optional
    n_batches_seen : int, default=0
    relative_update_names : sequence of str, default=()
    recorder_params : dict, optional

    Attributes
    ----------
    param_names : list of str
        Recorded parameters, in the module's order.
    shapes : dict of str to tuple
        Shape of each recorded parameter.
    skipped : dict of str to int
        Parameters the recorder left out for their size, and their sizes.
    n_batches_seen : int
        Training batches seen while recording.
    relative_update_names : list of str
        Parameters whose relative update size was tracked during training
        (empty when it was not).
    recorder_params : dict
        Constructor parameters of the recorder that made the recording.
    """

    def __init__(
        self,
        store: RowStore,
        *,
        param_names: Sequence[str] = (),
        shapes: dict[str, tuple[int, ...]] | None = None,
        skipped: dict[str, int] | None = None,
        n_batches_seen: int = 0,
        relative_update_names: Sequence[str] = (),
        recorder_params: dict[str, Any] | None = None,
    ):
        self._store = store
        self.param_names = list(param_names)
        self.shapes = dict(shapes or {})
        self.skipped = dict(skipped or {})
        self.n_batches_seen = int(n_batches_seen)
        self.relative_update_names = list(relative_update_names)
        self.recorder_params = dict(recorder_params or {})

    def __repr__(self) -> str:
        extra = ", gradients" if self.has_gradients else ""
        return (
            f"Recording({len(self.param_names)} parameters, {self.n_steps} steps"
            f"{extra})"
        )

    # ------------------------------------------------------------------
    # size, storage and the step index
    # ------------------------------------------------------------------

    @property
    def store(self) -> RowStore:
        """The :class:`RowStore` that holds the rows."""
        return self._store

    @property
    def n_steps(self) -> int:
        """Number of recorded snapshots (rows), including row 0."""
        return self._store.n_rows

    @property
    def has_gradients(self) -> bool:
        """Whether gradients were recorded."""
        return any(gradient_key(n) in self._store for n in self.param_names)

    def _index(self, key: str) -> np.ndarray:
        if key not in self._store:
            return np.empty(0, np.int64)
        return self._store.view(key)

    @property
    def steps(self) -> np.ndarray:
        """Training batches done at each row, shape ``(n_steps,)``."""
        return self._index("step")

    @property
    def epochs(self) -> np.ndarray:
        """skorch's epoch number at each row (0 for row 0)."""
        return self._index("epoch")

    @property
    def batches(self) -> np.ndarray:
        """Batches done within the epoch at each row."""
        return self._index("batch")

    @property
    def nbytes(self) -> int:
        """Bytes of recording arrays held in memory (allocated capacity)."""
        return self._store.nbytes

    @property
    def disk_bytes(self) -> int:
        """Bytes of recording arrays in memory-mapped files."""
        return self._store.disk_bytes

    @property
    def storage(self) -> dict[str, str]:
        """Where each recorded parameter's array lives: ``"memory"`` or a path."""
        return {n: self._store.location(weight_key(n)) for n in self.param_names}

    def step_index(self, kind: str = "weight") -> pd.DataFrame:
        """Step, epoch and batch of each row of :meth:`values` for ``kind``."""
        _check_kind(kind)
        start = 0 if kind == "weight" else 1
        return pd.DataFrame(
            {
                "step": self.steps[start:],
                "epoch": self.epochs[start:],
                "batch": self.batches[start:],
            }
        )

    # ------------------------------------------------------------------
    # values
    # ------------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}.")
        if weight_key(name) not in self._store:
            close = difflib.get_close_matches(name, self.param_names, n=3)
            near = f" Did you mean {close}?" if close else ""
            raise ValueError(
                f"{name!r} was not recorded.{near} Recorded parameters: "
                f"{self.param_names}."
            )

    def trajectory(self, name: str) -> np.ndarray:
        """Recorded values of one parameter.

        Parameters
        ----------
        name : str
            A name from :attr:`param_names`.

        Returns
        -------
        ndarray of shape ``(n_steps, *shape)``, float32
            A read-only view (memory-mapped when the array was spilled);
            row ``k`` is the parameter at :attr:`steps` ``[k]``.
        """
        self._check_name(name)
        return self._store.view(weight_key(name))

    def updates(self, name: str) -> np.ndarray:
        """Change of one parameter between consecutive recorded snapshots.

        Returns
        -------
        ndarray of shape ``(n_steps - 1, *shape)``, float32
            ``trajectory(name)[k + 1] - trajectory(name)[k]``; row ``k``
            belongs to step :attr:`steps` ``[k + 1]``.
        """
        traj = self.trajectory(name)
        return np.subtract(traj[1:], traj[:-1])

    def grad_trajectory(self, name: str) -> np.ndarray:
        """Recorded gradients of one parameter (needs ``gradients=True``).

        Returns
        -------
        ndarray of shape ``(n_steps - 1, *shape)``, float32
            Row ``k`` is the gradient computed in the batch that led to
            snapshot ``k + 1``, aligned with :meth:`updates`.
        """
        self._check_name(name)
        if not self.has_gradients:
            raise ValueError(
                "Gradients were not recorded; create the recorder with gradients=True."
            )
        return self._store.view(gradient_key(name))[1:]

    def values(self, name: str, kind: str = "weight") -> np.ndarray:
        """:meth:`trajectory`, :meth:`updates` or :meth:`grad_trajectory` by ``kind``."""
        _check_kind(kind)
        if kind == "update":
            return self.updates(name)
        if kind == "gradient":
            return self.grad_trajectory(name)
        return self.trajectory(name)

    def iter_values(
        self, name: str, kind: str = "weight", chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[np.ndarray]:
        """Yield ``kind`` values of ``name`` in blocks of rows.

        For reductions over recordings too large for memory (histograms).
        ``kind`` is ``"weight"``, ``"update"`` or ``"gradient"``.
        """
        _check_kind(kind)
        data = (
            self.grad_trajectory(name) if kind == "gradient" else self.trajectory(name)
        )
        n = data.shape[0] - (1 if kind == "update" else 0)
        for start, stop in _row_blocks(n, data, chunk_bytes):
            if kind == "update":
                yield np.subtract(data[start + 1 : stop + 1], data[start:stop])
            else:
                yield np.asarray(data[start:stop])

    def relative_update_sizes(self) -> pd.DataFrame:
        """``std(W_k - W_{k-1}) / std(W_{k-1})`` per parameter and step.

        Uses the values tracked during training when the recorder had
        ``relative_updates=True`` (all learnable parameters), else computes
        them from the recorded snapshots (recorded parameters only). For a
        parameter whose values are all equal (BatchNorm weights start at 1)
        the update is compared with their size, the root mean square, as
        their spread is 0; where they are all 0 (biases that start at 0)
        nothing to compare with exists: NaN, and a warning names them.

        Returns
        -------
        DataFrame
            One row per recorded step after the first (index ``step``), one
            column per parameter.
        """
        steps = pd.Index(self.steps[1:], name="step")
        if RELATIVE_KEY in self._store:
            data = np.array(self._store.view(RELATIVE_KEY)[1:], dtype=np.float32)
            table = pd.DataFrame(
                data, index=steps, columns=list(self.relative_update_names)
            )
        else:
            columns = {n: self._relative_from_trajectory(n) for n in self.param_names}
            table = pd.DataFrame(columns, index=steps, columns=list(self.param_names))
        undefined = [name for name in table if table[name].isna().any()]
        if undefined:
            warnings.warn(
                f"Relative update sizes are undefined (NaN) for {undefined} at steps "
                "where all the parameter's values were 0: there is nothing to "
                "compare the update with.",
                RuntimeWarning,
                stacklevel=2,
            )
        return table

    def _relative_from_trajectory(self, name: str) -> np.ndarray:
        traj = self.trajectory(name)
        n = traj.shape[0]
        out = np.full(max(n - 1, 0), np.nan, np.float32)
        for start, stop in _row_blocks(n - 1, traj, CHUNK_BYTES):
            block = np.asarray(traj[start : stop + 1], dtype=np.float64).reshape(
                stop - start + 1, -1
            )
            num = np.diff(block, axis=0).std(axis=1)
            den = relative_scale(block[:-1])
            with np.errstate(divide="ignore", invalid="ignore"):
                out[start:stop] = np.where(den > 0, num / den, np.nan)
        return out

    # ------------------------------------------------------------------
    # chosen elements
    # ------------------------------------------------------------------

    def element_indices(self, name: str, indices=None) -> tuple[np.ndarray, list[str]]:
        """Flat positions and labels of chosen elements of one parameter.

        Parameters
        ----------
        name : str
            A recorded parameter.
        indices : int, tuple, list of them, or None
            Flat (C-order) ints or index tuples such as ``(3, 7)``. ``None``
            takes all elements of parameters with at most 10,000 of them.

        Returns
        -------
        flat : ndarray of int64
            Positions in the flattened parameter.
        labels : list of str
            One label per position, such as ``"[3, 7]"``.
        """
        self._check_name(name)
        shape = self.shapes[name]
        size = int(np.prod(shape, dtype=np.int64))
        if indices is None:
            if size > 10_000:
                raise ValueError(
                    f"{name} has {size:,} elements; pass indices=[...] to choose "
                    "which ones go into the frame."
                )
            flat = np.arange(size)
        else:
            flat = np.asarray(
                [_flat_position(item, name, shape, size) for item in _items(indices)],
                dtype=np.int64,
            )
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
        flat, labels = self.element_indices(name, indices)
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
    # files
    # ------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the recording to ``path``; :func:`skviz.record.load` reads it.

        A path ending in ``.npz`` gets one uncompressed ``.npz`` archive;
        any other path becomes a folder with ``meta.json`` and one ``.npy``
        file per array (which :func:`~skviz.record.load` can memory-map);
        missing parent folders are made. No pickles are written; loading
        refuses them.

        An existing recording at ``path`` is replaced atomically: the new
        one is written completely under a temporary name beside it and
        then swapped in, so an error, Ctrl-C or a full disk leaves the old
        one as it was, and saving a memory-mapped recording over its own
        files is safe. A replaced file keeps its permission bits.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        PermissionError
            ``path`` (or a file in the folder) is read-only (its owner's
            write bit is cleared); nothing is written.
        ValueError
            ``path`` is a file where a folder recording goes or the other way
            round, or a folder that holds files that are not part of a
            recording (it is not replaced); nothing is written.
        """
        from ._io import save

        return save(self, path)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")


def _row_blocks(n: int, data: np.ndarray, chunk_bytes: int):
    """``(start, stop)`` of blocks of at most ``chunk_bytes`` among ``n`` rows."""
    row_bytes = int(np.prod(data.shape[1:], dtype=np.int64)) * data.itemsize
    chunk = max(1, chunk_bytes // max(row_bytes, 1))
    for start in range(0, max(n, 0), chunk):
        yield start, min(n, start + chunk)


def _items(indices) -> list:
    # one int or one index tuple is one element, not a list of them
    if isinstance(indices, (int, np.integer)) or (
        isinstance(indices, tuple)
        and all(isinstance(i, (int, np.integer)) for i in indices)
    ):
        indices = [indices]
    items = list(indices)
    if not items:
        raise ValueError("indices is empty.")
    return items


def _flat_position(item, name: str, shape: tuple[int, ...], size: int) -> int:
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        if not -size <= item < size:
            raise ValueError(
                f"flat index {item} out of range for {name} of shape {shape}."
            )
        return int(item) % size
    if isinstance(item, tuple) and len(item) == len(shape):
        try:
            return int(np.ravel_multi_index(item, shape))
        except ValueError:
            raise ValueError(
                f"index {item} out of range for {name} of shape {shape}."
            ) from None
    raise ValueError(
        f"indices of {name} (shape {shape}) must be flat ints or "
        f"tuples of {len(shape)} ints; got {item!r}."
    )
