"""Where captured activations go: memory, a caller's array, a file.

A sink hands out a writable region for each batch (``region``), is told when
that region is complete (``commit``), and produces the result at the end
(``finish``) or cleans up after a failure (``abort``). Files are written
under a temporary name in the target folder and renamed only on success, so
an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import math
import mmap
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._writer import STAGING_BYTES, RowFile, StagedWriter, reserve_space
from .atomic import install_folder, refuse_read_only, replace_file, temporary_sibling

__all__ = ["check_distinct_outs", "check_out", "make_sink"]

# Pages of a caller's memmap are handed back to the page cache every this
# many bytes, so that the process's resident memory stays near one batch.
_RELEASE_EVERY_BYTES = 16 * 2**20


class ArraySink:
    """Write straight into an in-memory ndarray: a fresh one or the caller's."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def region(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]

    def commit(self, start: int, stop: int) -> None:
        pass

    def finish(self) -> np.ndarray:
        return self.array

    def abort(self) -> None:
        pass


class _StagedSink:
    """Base of the sinks whose writes go through a :class:`StagedWriter`."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * np.dtype(self.dtype).itemsize

    def _start_writer(self, staging_bytes: int) -> None:
        self._writer = StagedWriter(
            self._write, self.shape[1:], self.dtype, self.shape[0], staging_bytes
        )

    def _shift(self, start: int) -> int:
        return 0

    def region(self, start: int, stop: int) -> np.ndarray:
        return self._writer.region(start, stop, self._shift(start))

    def commit(self, start: int, stop: int) -> None:
        self._writer.commit(start, stop)

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        raise NotImplementedError

    def _close_writer(self, *, quiet: bool = False) -> None:
        try:
            self._writer.close()
        except BaseException:
            if not quiet:
                raise


class _RowFileSink(_StagedSink):
    """Base of the sinks that write rows at their positions in one file."""

    _file: RowFile | None = None

    def _open_file(self, path, data_offset: int) -> None:
        self._file = RowFile(
            path,
            data_offset,
            self.row_bytes,
            self.dtype.itemsize,
            self.row_bytes * self.shape[0],
        )

    def _shift(self, start: int) -> int:
        return self._file.shift(start) if self._file is not None else 0

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        self._file.write(rows, start)

    def _close(self, *, quiet: bool = False) -> None:
        try:
            self._close_writer(quiet=quiet)
        finally:
            # Interrupted while waiting for the writer, the thread may still
            # write: its descriptors stay open until abort() has joined it,
            # so that a reused descriptor number never receives our rows.
            writer = getattr(self, "_writer", None)
            if self._file is not None and (writer is None or not writer.alive):
                self._file.close()


class MemmapSink(_RowFileSink):
    """Write into the caller's ``np.memmap`` without growing this process's RSS.

    Rows go to the backing file with positional writes where there is one
    (the mapping sees them through the shared page cache, or reads them back
    from the disk, and no page of it is faulted into this process);
    copy-on-write maps (``mode="c"``) and maps without a file name are
    written through the mapping, whose finished pages are then unmapped
    again. Like any write to a memmap, data that went through the page
    cache reaches the disk by the kernel's writeback; ``out.flush()`` forces
    it.
    """

    def __init__(
        self, array: np.memmap, mm: mmap.mmap, staging_bytes: int = STAGING_BYTES
    ):
        self.array, self._mmap = array, mm
        self.shape, self.dtype = array.shape, array.dtype
        self._offset = array.ctypes.data - _mmap_address(mm)
        self._released = self._offset - self._offset % mmap.PAGESIZE
        filename = getattr(array, "filename", None)
        try:
            if filename is not None and getattr(array, "mode", "c") in ("r+", "w+"):
                map_start = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
                self._open_file(filename, map_start + self._offset)
            self._start_writer(staging_bytes)
        except BaseException:
            self._close(quiet=True)
            raise

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        if self._file is not None:
            super()._write(rows, start, stop)
            return
        self.array[start:stop] = rows
        end = self._offset + stop * self.row_bytes
        end -= end % mmap.PAGESIZE
        if end - self._released >= _RELEASE_EVERY_BYTES:
            # Written rows live on in the shared page cache; unmapping them
            # here only keeps them out of this process's resident memory.
            self._mmap.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def finish(self) -> np.memmap:
        self._close()
        return self.array

    def abort(self) -> None:
        self._close(quiet=True)


class NpyFileSink(_RowFileSink):
    """Write batches into a ``.npy`` file at their row positions (no mapping)."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, ...],
        dtype: np.dtype,
        staging_bytes: int = STAGING_BYTES,
    ):
        self.path = path
        self.tmp = temporary_sibling(path)
        self.shape, self.dtype = shape, np.dtype(dtype)
        try:
            with open(self.tmp, "wb") as file:
                header = {
                    "descr": np.lib.format.dtype_to_descr(self.dtype),
                    "fortran_order": False,
                    "shape": shape,
                }
                np.lib.format.write_array_header_2_0(file, header)
                data_offset = file.tell()
                data_bytes = math.prod(shape) * self.dtype.itemsize
                file.truncate(data_offset + data_bytes)
                reserve_space(file.fileno(), data_offset, data_bytes, path)
            self._open_file(self.tmp, data_offset)
            self._start_writer(staging_bytes)
        except BaseException:
            self._close(quiet=True)
            self.tmp.unlink(missing_ok=True)
            raise

    def finish(self) -> np.ndarray:
        self._close()
        # A replaced file keeps its permissions, as with np.save.
        replace_file(self.tmp, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self) -> None:
        self._close(quiet=True)
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class ZarrSink(_StagedSink):
    """Write batches into a zarr array stored in a folder."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, ...],
        dtype: np.dtype,
        rows_per_chunk: int,
        staging_bytes: int = STAGING_BYTES,
    ):
        try:
            import zarr
        except ImportError as err:
            raise ImportError(
                "Writing to a .zarr store needs the optional dependency zarr: "
                "pip install 'skviz[scale]'."
            ) from err
        self._zarr = zarr
        self.path = path
        self.tmp = temporary_sibling(path)
        self.array = zarr.open_array(
            str(self.tmp),
            mode="w",
            shape=shape,
            chunks=(max(1, min(rows_per_chunk, shape[0])), *shape[1:]),
            dtype=dtype,
        )
        self.shape, self.dtype = self.array.shape, self.array.dtype
        self._start_writer(staging_bytes)

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        self.array[start:stop] = rows

    def finish(self):
        self._close_writer()
        # The old store stays whole until the new one has its name.
        install_folder(self.tmp, self.path)
        return self._zarr.open_array(str(self.path), mode="r")

    def abort(self) -> None:
        self._close_writer(quiet=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _backing_mmap(array: np.ndarray) -> mmap.mmap | None:
    # Views of an np.memmap keep a reference to the mapping in ``_mmap``.
    mm = getattr(array, "_mmap", None) if isinstance(array, np.memmap) else None
    return mm if isinstance(mm, mmap.mmap) else None


def _mmap_address(mm: mmap.mmap) -> int:
    return np.frombuffer(mm, dtype=np.uint8, count=0).ctypes.data if len(mm) else 0


def make_sink(
    out: Any,
    shape: tuple[int, ...],
    dtype: np.dtype,
    rows_per_chunk: int,
    name: str,
    n_sinks: int = 1,
):
    """Build the sink for one requested layer.

    Parameters
    ----------
    out : None, ndarray (incl. ``np.memmap``), str or PathLike
        ``None`` allocates in memory. An array must have exactly ``shape``
        and a dtype that float32 can be cast to safely. A path ending in
        ``.npy`` is written as a NumPy file, one ending in ``.zarr`` as a
        zarr store; both are replaced only when the run succeeds.
    n_sinks : int
        How many sinks the call builds: they share ``STAGING_BYTES``.
    """
    staging_bytes = STAGING_BYTES // max(1, n_sinks)
    if out is None:
        # Not np.empty: numpy asks the kernel for transparent huge pages on
        # big arrays, and faulting those in cost as much as a first layer's
        # whole forward pass (benchmarks/bench_transform.py). torch's CPU
        # allocator does not ask; the array is an ordinary writable ndarray.
        torch_dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
        return ArraySink(torch.empty(shape, dtype=torch_dtype).numpy())
    check_out(out, name)
    if isinstance(out, np.ndarray):
        if tuple(out.shape) != tuple(shape):
            raise ValueError(
                f"out for {name!r} has shape {tuple(out.shape)}, expected {tuple(shape)}."
            )
        if not np.can_cast(dtype, out.dtype, casting="same_kind"):
            raise ValueError(
                f"out for {name!r} has dtype {out.dtype}; it needs a float dtype such as {dtype}."
            )
        mm = _backing_mmap(out)
        return ArraySink(out) if mm is None else MemmapSink(out, mm, staging_bytes)
    path = Path(out)
    if path.suffix == ".npy":
        return NpyFileSink(path, shape, dtype, staging_bytes)
    return ZarrSink(path, shape, dtype, rows_per_chunk, staging_bytes)


def check_out(out: Any, name: str) -> None:
    """Refuse an ``out`` that cannot work, whatever the result's shape.

    Called before the first batch: a wrong kind of path, a missing or
    read-only folder, a read-only file (as ``np.save`` would), an array
    that cannot be written.
    """
    if out is None:
        return
    if isinstance(out, np.ndarray):
        if out.dtype.kind != "f":
            raise ValueError(
                f"out for {name!r} has dtype {out.dtype}; it needs a float dtype."
            )
        if not out.flags.writeable:
            raise ValueError(f"out for {name!r} is read-only.")
        if not out.flags.c_contiguous:
            raise ValueError(f"out for {name!r} must be C-contiguous.")
        return
    if not isinstance(out, str | os.PathLike):
        raise TypeError(
            f"out must be None, a NumPy array or memmap, or a path ending in .npy/.zarr; got {type(out).__name__}."
        )
    path = Path(out)
    if path.suffix not in (".npy", ".zarr"):
        raise ValueError(f"out path {str(path)!r} must end in '.npy' or '.zarr'.")
    if not path.parent.is_dir():
        raise ValueError(
            f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(
            errno.EACCES,
            f"Cannot write into folder {str(path.parent)!r} (no write permission)",
            str(path),
        )
    if path.suffix == ".npy" and path.is_dir():
        raise ValueError(
            f"out {str(path)!r} is a folder; a .npy output is a file. Remove it or "
            "choose another name."
        )
    if path.suffix == ".zarr" and path.exists() and not path.is_dir():
        raise ValueError(
            f"out {str(path)!r} is a file; a .zarr output is a folder (a zarr "
            "store). Remove it or choose another name."
        )
    if path.is_file():
        refuse_read_only(path, "out")


def check_distinct_outs(outs: Mapping[str, Any]) -> None:
    """Refuse two layers writing to the same array, memmap file or path."""
    seen: list[tuple[str, Any, Path | None]] = []
    for name, out in outs.items():
        if out is None:
            continue
        path = None
        if isinstance(out, str | os.PathLike):
            path = Path(out).resolve()
        elif isinstance(out, np.memmap) and getattr(out, "filename", None):
            path = Path(out.filename).resolve()
        for other_name, other, other_path in seen:
            same_file = path is not None and path == other_path
            same_memory = (
                isinstance(out, np.ndarray)
                and isinstance(other, np.ndarray)
                and np.may_share_memory(out, other)
            )
            if same_file or same_memory:
                raise ValueError(
                    f"out gives {other_name!r} and {name!r} the same destination; "
                    "each layer needs its own array or file."
                )
        seen.append((name, out, path))
