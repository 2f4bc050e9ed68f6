"""Where captured activations go: memory, a caller's array, a file.

A sink hands out a writable region for each batch (``region``), is told when
that region is complete (``commit``), and produces the result at the end
(``finish``) or cleans up after a failure (``abort``). Files are written
under a temporary name in the target folder and renamed only on success, so
an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["make_sink"]

# Pages of a caller's memmap are handed back to the page cache every this
# many bytes, so that the process's resident memory stays near one batch.
_RELEASE_EVERY_BYTES = 16 * 2**20


class _StagedWriter:
    """Writes staged batches on one background thread, in order.

    The forward pass of the next batch then overlaps the disk I/O (page
    faults of a mapping, ``write`` calls, zarr compression) of the last one.
    A few rotating buffers bound the memory to a few batches.
    """

    def __init__(
        self, write: Callable[[np.ndarray, int, int], None], n_buffers: int = 3
    ):
        self._write = write
        self._n_buffers = n_buffers
        self._buffers: list[np.ndarray] = []
        self._free: queue.Queue = queue.Queue()
        self._todo: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._current: np.ndarray | None = None
        self._thread = threading.Thread(
            target=self._run, name="skviz-writer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            buffer, start, stop = item
            try:
                if self._error is None:
                    self._write(buffer[: stop - start], start, stop)
            except BaseException as err:  # re-raised in the caller's thread
                self._error = err
            finally:
                self._free.put(buffer)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def region(self, start: int, stop: int, row_shape, dtype) -> np.ndarray:
        self._check()
        rows = stop - start
        if self._free.empty() and len(self._buffers) < self._n_buffers:
            buffer = np.empty((rows, *row_shape), dtype=dtype)
            self._buffers.append(buffer)
        else:
            buffer = self._free.get()
            if len(buffer) < rows:
                buffer = np.empty((rows, *row_shape), dtype=dtype)
        self._current = buffer
        return buffer[:rows]

    def commit(self, start: int, stop: int) -> None:
        self._todo.put((self._current, start, stop))

    def close(self) -> None:
        """Wait for every write; raise the first error a write met."""
        self._todo.put(None)
        self._thread.join()
        self._check()


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
    """Base of the sinks whose writes go through a :class:`_StagedWriter`."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def _start_writer(self) -> None:
        self._writer = _StagedWriter(self._write)

    def region(self, start: int, stop: int) -> np.ndarray:
        return self._writer.region(start, stop, self.shape[1:], self.dtype)

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


class MemmapSink(_StagedSink):
    """Write into the caller's ``np.memmap`` without growing this process's RSS.

    Rows go to the backing file with ``os.pwrite`` where there is one (the
    mapping sees them through the shared page cache, and no page of it is
    faulted into this process); copy-on-write maps (``mode="c"``) and maps
    without a file name are written through the mapping, whose finished
    pages are then unmapped again. Like any write to a memmap, the data
    reaches the disk by the kernel's writeback; ``out.flush()`` forces it.
    """

    def __init__(self, array: np.memmap, mm: mmap.mmap):
        self.array, self._mmap = array, mm
        self.shape, self.dtype = array.shape, array.dtype
        self._row_bytes = array[:1].nbytes
        self._offset = array.ctypes.data - _mmap_address(mm)
        self._released = self._offset - self._offset % mmap.PAGESIZE
        self._fd = None
        filename = getattr(array, "filename", None)
        if filename is not None and getattr(array, "mode", "c") in ("r+", "w+"):
            map_start = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
            self._file_offset = map_start + self._offset
            self._fd = os.open(filename, os.O_WRONLY)
        self._start_writer()

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        if self._fd is not None:
            data = memoryview(rows).cast("B")
            position = self._file_offset + start * self._row_bytes
            while data:
                written = os.pwrite(self._fd, data, position)
                data, position = data[written:], position + written
            return
        self.array[start:stop] = rows
        end = self._offset + stop * self._row_bytes
        end -= end % mmap.PAGESIZE
        if end - self._released >= _RELEASE_EVERY_BYTES:
            # Written rows live on in the shared page cache; unmapping them
            # here only keeps them out of this process's resident memory.
            self._mmap.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> np.memmap:
        try:
            self._close_writer()
        finally:
            self._close_fd()
        return self.array

    def abort(self) -> None:
        self._close_writer(quiet=True)
        self._close_fd()


class NpyFileSink(_StagedSink):
    """Stream batches into a ``.npy`` file with plain writes (no mapping)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        self.shape, self.dtype = shape, dtype
        self._file = open(self.tmp, "wb")  # closed in finish() or abort()
        try:
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": shape,
            }
            np.lib.format.write_array_header_2_0(self._file, header)
        except BaseException:
            self._file.close()
            self.tmp.unlink(missing_ok=True)
            raise
        self._start_writer()

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        self._file.write(memoryview(rows).cast("B"))

    def finish(self) -> np.ndarray:
        self._close_writer()
        self._file.close()
        os.replace(self.tmp, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self) -> None:
        self._close_writer(quiet=True)
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class ZarrSink(_StagedSink):
    """Write batches into a zarr array stored in a folder."""

    def __init__(
        self, path: Path, shape: tuple[int, ...], dtype: np.dtype, rows_per_chunk: int
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
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        self.array = zarr.open_array(
            str(self.tmp),
            mode="w",
            shape=shape,
            chunks=(max(1, min(rows_per_chunk, shape[0])), *shape[1:]),
            dtype=dtype,
        )
        self.shape, self.dtype = self.array.shape, self.array.dtype
        self._start_writer()

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        self.array[start:stop] = rows

    def finish(self):
        self._close_writer()
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
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
    out: Any, shape: tuple[int, ...], dtype: np.dtype, rows_per_chunk: int, name: str
):
    """Build the sink for one requested layer.

    Parameters
    ----------
    out : None, ndarray (incl. ``np.memmap``), str or PathLike
        ``None`` allocates in memory. An array must have exactly ``shape``
        and a dtype that float32 can be cast to safely. A path ending in
        ``.npy`` is written as a NumPy file, one ending in ``.zarr`` as a
        zarr store; both are replaced only when the run succeeds.
    """
    if out is None:
        # Not np.empty: numpy asks the kernel for transparent huge pages on
        # big arrays, and faulting those in cost as much as a first layer's
        # whole forward pass (benchmarks/bench_transform.py). torch's CPU
        # allocator does not ask; the array is an ordinary writable ndarray.
        torch_dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
        return ArraySink(torch.empty(shape, dtype=torch_dtype).numpy())
    if isinstance(out, np.ndarray):
        if tuple(out.shape) != tuple(shape):
            raise ValueError(
                f"out for {name!r} has shape {tuple(out.shape)}, expected {tuple(shape)}."
            )
        if (
            not np.can_cast(dtype, out.dtype, casting="same_kind")
            or out.dtype.kind != "f"
        ):
            raise ValueError(
                f"out for {name!r} has dtype {out.dtype}; it needs a float dtype such as {dtype}."
            )
        if not out.flags.writeable:
            raise ValueError(f"out for {name!r} is read-only.")
        if not out.flags.c_contiguous:
            raise ValueError(f"out for {name!r} must be C-contiguous.")
        mm = _backing_mmap(out)
        return ArraySink(out) if mm is None else MemmapSink(out, mm)
    if isinstance(out, str | os.PathLike):
        path = Path(out)
        if not path.parent.is_dir():
            raise ValueError(
                f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist."
            )
        if path.suffix == ".npy":
            return NpyFileSink(path, shape, dtype)
        if path.suffix == ".zarr":
            return ZarrSink(path, shape, dtype, rows_per_chunk)
        raise ValueError(f"out path {str(path)!r} must end in '.npy' or '.zarr'.")
    raise TypeError(
        f"out must be None, a NumPy array or memmap, or a path ending in .npy/.zarr; got {type(out).__name__}."
    )
