"""A row store: named arrays that grow by rows together, within a memory budget.

:class:`RowStore` knows nothing about weights. A recorder declares fields
(a row shape and a dtype each), reserves rows ahead when it can tell how
many will come, writes each row in place and commits it. Fields grow
together (doubling), and those counted against ``memory_budget`` move to
memory-mapped ``.npy`` files in a private folder once the budget is spent.
Pickling keeps what is on disk on disk (see :mod:`skviz.record._spill`).
"""

from __future__ import annotations

import math
import mmap
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from ._spill import FileRef, LostFile, file_identity, make_spill_folder, mapped_file

__all__ = ["RowStore"]

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


class _Field:
    """One field: its ``(capacity, *row_shape)`` array, in memory or in a file.

    ``owned``: the file is a spill file of this store, removed when the
    field moves on; ``shared``: a pickled copy may still link to it, so it
    stays until the store's spill folder goes.
    """

    __slots__ = (
        "budgeted",
        "data",
        "fill",
        "identity",
        "label",
        "owned",
        "path",
        "shared",
    )

    def __init__(
        self,
        data: np.ndarray,
        path: Path | None = None,
        *,
        fill,
        budgeted,
        label,
        owned: bool = True,
    ):
        self.data = data
        self.path = path
        self.fill = fill
        self.budgeted = budgeted
        self.label = label
        self.owned = owned
        self.shared = False
        # the file mapped now, told from one put under its name later
        self.identity = None if path is None else file_identity(path, owned)

    @property
    def on_disk(self) -> bool:
        return self.path is not None

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def row_nbytes(self) -> int:
        return int(np.prod(self.data.shape[1:], dtype=np.int64)) * self.data.itemsize

    def release(self) -> None:
        path, self.path = self.path, None
        self.data = np.empty((0, *self.data.shape[1:]), self.data.dtype)
        if path is not None and self.owned and not self.shared:
            try:
                path.unlink()
            except OSError:
                pass


class RowStore:
    """Named arrays that share one row axis, preallocated, grown and spilled.

    Each field holds rows of a fixed shape and dtype. Rows ``0 ..
    n_rows - 1`` are committed; the store grows every field to the same
    capacity, copying committed rows. Fields declared with
    ``budgeted=True`` are kept in memory while their allocated bytes stay
    within ``memory_budget`` and are memory-mapped ``.npy`` files beyond
    it (one warning per store says where); other fields (small indexes)
    always stay in memory and are not counted.

    Parameters
    ----------
    memory_budget : int or None, default=None
        Bytes of budgeted fields kept in memory, counted at their allocated
        capacity. ``0`` puts them all on disk, ``None`` all in memory.
    directory : str, path or None, default=None
        Where spilled fields go: a fresh private folder is made inside it
        (the system's temporary folder when None) on the first spill and
        removed by :meth:`release` or when the store is garbage-collected.

    Pickling (and ``copy.deepcopy``) copies the committed rows of fields in
    memory and refers to fields in files, which the copy maps again
    read-only (its own hard link to a spill file); see
    :mod:`skviz.record._spill`.
    name : str, default="RowStore"
        Who is recording, for the spill warning.

    Examples
    --------
    >>> import numpy as np
    >>> store = RowStore(memory_budget=None)
    >>> store.add("step", (), np.int64, budgeted=False)
    >>> store.add("w", (2, 3), np.float32)
    >>> store.reserve(10)
    >>> i = store.ensure_row(store.n_rows)
    >>> store.row("step", i)[...] = 7
    >>> store.row("w", i)[...] = 1.0
    >>> store.commit_row()
    >>> store.view("w").shape
    (1, 2, 3)
    """

    def __init__(
        self,
        *,
        memory_budget: int | None = None,
        directory: str | os.PathLike | None = None,
        name: str = "RowStore",
    ):
        self.memory_budget = memory_budget
        self.directory = directory
        self.name = name
        self._fields: dict[str, _Field] = {}
        self._n_rows = 0
        self._capacity = 0
        self._spill_dir: Path | None = None
        self._finalizer = None
        self._warned = False
        self._lost: str | None = None

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RowStore:
        """A store over existing arrays (read from files, say), all committed.

        The arrays are used as they are (memory maps stay memory maps) and
        count as unbudgeted fields: in memory, or on disk for an
        ``np.memmap`` of a whole file (whose file is not the store's: it is
        never removed, and pickling refers to it).

        Parameters
        ----------
        arrays : mapping of str to ndarray
            All with the same number of rows.

        Returns
        -------
        RowStore
        """
        store = cls()
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise ValueError(f"arrays have different numbers of rows: {lengths}.")
        for key, data in arrays.items():
            store._fields[key] = _Field(
                data,
                mapped_file(data),
                fill=None,
                budgeted=False,
                label=key,
                owned=False,
            )
        store._n_rows = store._capacity = lengths.pop() if lengths else 0
        return store

    # ------------------------------------------------------------------
    # fields
    # ------------------------------------------------------------------

    def add(
        self,
        key: str,
        row_shape: tuple[int, ...] = (),
        dtype=np.float32,
        *,
        fill=None,
        budgeted: bool = True,
        label: str | None = None,
    ) -> None:
        """Declare a field, allocated at the store's current capacity.

        Parameters
        ----------
        key : str
            The field's name (also the stem of its spill file).
        row_shape : tuple of int, default=()
        dtype : dtype, default=float32
        fill : scalar, optional
            Value of rows not yet written (e.g. NaN); by default they are
            left uninitialised.
        budgeted : bool, default=True
            Counted against ``memory_budget`` and spilled when it is spent.
            Unbudgeted fields always stay in memory.
        label : str, optional
            What the spill warning calls the field; the key by default.
        """
        if key in self._fields:
            raise ValueError(f"field {key!r} already exists.")
        empty = np.empty((0, *row_shape), dtype=dtype)
        self._fields[key] = _Field(
            empty, fill=fill, budgeted=budgeted, label=key if label is None else label
        )
        if self._capacity:
            self._grow(self._capacity, [key])

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    @property
    def n_rows(self) -> int:
        """Committed rows."""
        return self._n_rows

    @property
    def capacity(self) -> int:
        """Rows allocated in every field."""
        return self._capacity

    # ------------------------------------------------------------------
    # writing
    # ------------------------------------------------------------------

    def reserve(self, capacity: int) -> None:
        """Make every field hold at least ``capacity`` rows.

        Fields grow to exactly ``capacity``; committed rows are copied. A
        budgeted field goes to memory while the budgeted total stays within
        ``memory_budget`` and to disk otherwise.
        """
        self._check_whole()
        if capacity > self._capacity:
            self._grow(capacity, list(self._fields))

    def ensure_row(self, row: int) -> int:
        """Make row ``row`` writable (doubling the capacity if needed); returns it."""
        if row >= self._capacity:
            self.reserve(max(row + 1, 2 * self._capacity, 16))
        return row

    def row(self, key: str, row: int) -> np.ndarray:
        """Writable view of one row of a field (0-d for scalar rows)."""
        return self._fields[key].data[row, ...]

    def rows(self, key: str, rows: slice) -> np.ndarray:
        """Writable view of several rows of a field (``ensure_row`` them first)."""
        return self._fields[key].data[rows]

    def commit_row(self) -> None:
        """Count row :attr:`n_rows` as written: readers see it from now on."""
        if self._n_rows >= self._capacity:
            raise IndexError("commit_row() past the capacity; call ensure_row first.")
        self._n_rows += 1

    def _grow(self, capacity: int, keys: list[str]) -> None:
        in_memory = self.budget_bytes
        budget = math.inf if self.memory_budget is None else self.memory_budget
        # unbudgeted fields first: they are small and always wanted in memory
        keys = sorted(keys, key=lambda k: self._fields[k].budgeted)
        for key in keys:
            old = self._fields[key]
            if len(old.data) >= capacity:
                continue
            nbytes = capacity * old.row_nbytes()
            freed = old.nbytes if old.budgeted and not old.on_disk else 0
            to_disk = old.budgeted and in_memory - freed + nbytes > budget
            shape = (capacity, *old.data.shape[1:])
            path = self._spill_path(key) if to_disk else None
            if path is None:
                data = _resident_empty(shape, old.data.dtype)
            else:
                self._warn_spill(old.label)
                data = np.lib.format.open_memmap(
                    path, mode="w+", dtype=old.data.dtype, shape=shape
                )
            new = _Field(
                data, path, fill=old.fill, budgeted=old.budgeted, label=old.label
            )
            if old.fill is not None:
                new.data[...] = old.fill
            # a field added after rows were committed has none of them
            kept = min(self._n_rows, len(old.data))
            new.data[:kept] = old.data[:kept]
            old.release()
            self._fields[key] = new
            if old.budgeted:
                in_memory += (0 if to_disk else nbytes) - freed
        self._capacity = max(self._capacity, capacity)

    def _spill_path(self, key: str) -> Path:
        if self._spill_dir is None:
            self._spill_dir, self._finalizer = make_spill_folder(self, self.directory)
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
        for gen in range(1_000_000):
            path = self._spill_dir / f"{stem}.{gen}.npy"
            if not path.exists():
                return path
        raise RuntimeError("could not name a spill file")  # pragma: no cover

    def _warn_spill(self, label: str) -> None:
        if self._warned:
            return
        self._warned = True
        warnings.warn(
            f"{self.name}: the recording exceeds memory_budget="
            f"{self.memory_budget} bytes; {label!r} and any further arrays "
            f"that do not fit are memory-mapped in {self._spill_dir}.",
            UserWarning,
            stacklevel=2,
        )

    def release(self) -> None:
        """Drop every field's rows and remove the spill folder."""
        for field in self._fields.values():
            field.release()
        self._n_rows = self._capacity = 0
        if self._finalizer is not None:
            self._finalizer()  # removes the private spill folder

    # ------------------------------------------------------------------
    # reading
    # ------------------------------------------------------------------

    def view(self, key: str) -> np.ndarray:
        """Read-only view of the committed rows of a field.

        Memory-mapped when the field was spilled.
        """
        self._check_whole()
        view = self._fields[key].data[: self._n_rows].view()
        view.flags.writeable = False
        return view

    def _check_whole(self) -> None:
        if self._lost is not None:
            raise ValueError(f"This recording's rows are not readable: {self._lost}")

    def location(self, key: str) -> str:
        """``"memory"`` or the path of the ``.npy`` file that holds the field."""
        self._check_whole()
        field = self._fields[key]
        return str(field.path) if field.on_disk else "memory"

    @property
    def nbytes(self) -> int:
        """Bytes of fields held in memory (allocated capacity)."""
        return sum(f.nbytes for f in self._fields.values() if not f.on_disk)

    @property
    def disk_bytes(self) -> int:
        """Bytes of fields in memory-mapped files (allocated capacity)."""
        return sum(f.nbytes for f in self._fields.values() if f.on_disk)

    @property
    def budget_bytes(self) -> int:
        """Bytes of budgeted fields held in memory: what ``memory_budget`` bounds."""
        return sum(
            f.nbytes for f in self._fields.values() if f.budgeted and not f.on_disk
        )

    # ------------------------------------------------------------------
    # pickling: rows in memory by value, files by reference (see _spill)
    # ------------------------------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        n = self._n_rows
        fields = {}
        for key, f in self._fields.items():
            if self._by_reference(f):
                # the original keeps the file for the copies that link to it
                f.shared = f.shared or f.owned
                ref = FileRef.of(f.data, f.path, n, f.owned, f.identity)
                fields[key] = (ref, f.fill, f.budgeted, f.label)
            else:
                fields[key] = _Field(
                    np.array(f.data[:n]),
                    fill=f.fill,
                    budgeted=f.budgeted,
                    label=f.label,
                )
        state["_fields"] = fields
        # a spill folder belongs to this process's store, not to its copies
        state.update(_capacity=n, _spill_dir=None, _finalizer=None)
        return state

    def _by_reference(self, field: _Field) -> bool:
        if not field.on_disk or mapped_file(field.data) is None:
            return False
        if field.identity is not None and field.identity == file_identity(
            field.path, field.owned
        ):
            return True
        warnings.warn(
            f"{self.name}: {str(field.path)!r} was removed or replaced since "
            f"{field.label!r} was mapped from it; its rows are pickled by value "
            "(in memory).",
            RuntimeWarning,
            stacklevel=4,
        )
        return False

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_lost", None)  # pickled before issue 11
        for key, f in list(self._fields.items()):
            if isinstance(f, tuple):
                self._fields[key] = self._reopen(*f)

    def _reopen(self, ref: FileRef, fill, budgeted: bool, label: str) -> _Field:
        try:
            data, path = ref.reopen(self._copy_folder)
        except LostFile as lost:
            if self._lost is None:  # one warning per store, for the first file
                warnings.warn(
                    f"{self.name}: an unpickled recording cannot be read: {lost}",
                    RuntimeWarning,
                    stacklevel=4,
                )
            self._lost = self._lost or str(lost)
            shape = (0, *ref.row_shape)
            return _Field(
                np.empty(shape, ref.dtype), fill=fill, budgeted=budgeted, label=label
            )
        return _Field(
            data, path, fill=fill, budgeted=budgeted, label=label, owned=ref.owned
        )

    def _copy_folder(self, near: Path) -> Path:
        """This copy's private folder, next to the original's where possible."""
        if self._spill_dir is None:
            try:
                made = make_spill_folder(self, near)
            except OSError:  # the system's temporary folder, then
                made = make_spill_folder(self, None)
            self._spill_dir, self._finalizer = made
        return self._spill_dir

    def __repr__(self) -> str:
        return (
            f"RowStore({len(self._fields)} fields, {self._n_rows} of "
            f"{self._capacity} rows, {self.nbytes:,} bytes in memory, "
            f"{self.disk_bytes:,} on disk)"
        )
