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
import queue
import shutil
import stat
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["check_distinct_outs", "check_out", "make_sink"]

# Pages of a caller's memmap are handed back to the page cache every this
# many bytes, so that the process's resident memory stays near one batch.
_RELEASE_EVERY_BYTES = 16 * 2**20

# O_DIRECT wants file offsets, lengths and memory addresses aligned to the
# logical block size of the device; 4 KiB covers every common one.
_ALIGN = 4096

# Results below this size are written through the page cache: a caller who
# reads them right back finds them there, and the kernel's copy costs little.
_DIRECT_MIN_BYTES = 64 * 2**20

# Consecutive staged batches are written together in chunks of up to this
# size, and all the staged sinks of one call share this much staging memory.
_CHUNK_BYTES = 8 * 2**20
_STAGING_BYTES = 24 * 2**20


class _StagedWriter:
    """Writes staged rows on one background thread, in order.

    The forward pass of the next batches then overlaps the disk I/O (page
    faults of a mapping, ``write`` calls, zarr compression) of the last ones.
    Consecutive batches are gathered in a chunk of up to ``_CHUNK_BYTES``
    and written with one call: on a machine whose cores all run torch, every
    wake-up of this thread stalls a torch thread, so fewer and larger writes
    keep the forward pass fast. ``n_buffers`` rotating chunks share
    ``staging_bytes`` (but each holds at least one batch), which bounds the
    memory. Each chunk starts on an ``_ALIGN`` boundary and its first row is
    placed ``shift`` bytes into it, so that a writer can line the rows up
    with their place in a file.

    Parameters
    ----------
    write : callable ``(rows, start, stop)``
        Run on the writer thread for each chunk of committed rows.
    row_shape, dtype
        Layout of one row.
    n_rows : int
        Rows in all; a small result gets a small chunk.
    """

    def __init__(
        self,
        write: Callable[[np.ndarray, int, int], None],
        row_shape: tuple[int, ...],
        dtype,
        n_rows: int,
        staging_bytes: int = _STAGING_BYTES,
        n_buffers: int = 3,
    ):
        self._write = write
        self._row_shape, self._dtype = tuple(row_shape), np.dtype(dtype)
        self._row_bytes = math.prod(self._row_shape) * self._dtype.itemsize
        self._chunk_bytes = min(
            _CHUNK_BYTES, staging_bytes // n_buffers, n_rows * self._row_bytes
        )
        self._n_buffers = n_buffers
        self._n_allocated = 0
        self._free: queue.Queue = queue.Queue()
        self._todo: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._chunk: _Chunk | None = None
        self._thread = threading.Thread(
            target=self._run, name="skviz-writer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._todo.get()) is not None:
            try:
                if self._error is None:
                    self._write(chunk.rows(), chunk.start, chunk.stop)
            except BaseException as err:  # re-raised in the caller's thread
                self._error = err
            finally:
                self._free.put(chunk.buffer)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def region(self, start: int, stop: int, shift: int = 0) -> np.ndarray:
        self._check()
        chunk = self._chunk
        if chunk is None or not chunk.can_extend(start, stop):
            self._send()
            need = max(self._chunk_bytes, (stop - start) * self._row_bytes)
            chunk = self._chunk = _Chunk(
                self._buffer(need + _ALIGN),
                start,
                shift,
                need,
                self._row_shape,
                self._dtype,
            )
        return chunk.extend(start, stop)

    def _buffer(self, nbytes: int) -> np.ndarray:
        if self._free.empty() and self._n_allocated < self._n_buffers:
            self._n_allocated += 1
            return _aligned_bytes(nbytes)
        buffer = self._free.get()
        self._check()
        return buffer if len(buffer) >= nbytes else _aligned_bytes(nbytes)

    def commit(self, start: int, stop: int) -> None:
        self._chunk.stop = stop
        if self._chunk.full:
            self._send()

    def _send(self) -> None:
        chunk, self._chunk = self._chunk, None
        if chunk is None:
            return
        if chunk.stop > chunk.start:
            self._todo.put(chunk)
        else:  # nothing was committed to it
            self._free.put(chunk.buffer)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Write what is staged, wait for every write, raise the first error."""
        self._send()
        self._todo.put(None)
        self._thread.join()
        self._check()


class _Chunk:
    """Consecutive committed rows ``start:stop`` staged in one buffer.

    Row ``start`` sits ``shift`` bytes into the buffer and every later row
    right after it, so a batch handed out again (after a failed attempt)
    lands where the first attempt did.
    """

    def __init__(
        self,
        buffer: np.ndarray,
        start: int,
        shift: int,
        capacity: int,
        row_shape: tuple[int, ...],
        dtype: np.dtype,
    ):
        self.buffer, self.start, self.stop, self.shift = buffer, start, start, shift
        self._row_shape, self._dtype = row_shape, dtype
        self._row_bytes = math.prod(row_shape) * dtype.itemsize
        self._limit = shift + capacity
        self._batch_rows = 0

    def _offset(self, row: int) -> int:
        return self.shift + (row - self.start) * self._row_bytes

    def can_extend(self, start: int, stop: int) -> bool:
        return start == self.stop and self._offset(stop) <= self._limit

    def extend(self, start: int, stop: int) -> np.ndarray:
        self._batch_rows = stop - start
        return self._view(start, stop)

    @property
    def full(self) -> bool:
        """No room for another batch of the size of the last one."""
        return self._offset(self.stop + self._batch_rows) > self._limit

    def rows(self) -> np.ndarray:
        """The committed rows; a batch handed out but never committed is left out."""
        return self._view(self.start, self.stop)

    def _view(self, start: int, stop: int) -> np.ndarray:
        view = self.buffer[self._offset(start) : self._offset(stop)].view(self._dtype)
        return view.reshape(stop - start, *self._row_shape)


def _aligned_bytes(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    skip = -raw.ctypes.data % _ALIGN
    return raw[skip : skip + nbytes]


class _RowFile:
    """Positional writes of row blocks into a file that already has its size.

    Large results bypass the page cache where the OS and the file system
    allow it (``O_DIRECT``). Streamed through the page cache, 4 GB of rows
    cost 6 s of kernel CPU time in ``write`` alone on the benchmark machine
    (0.3 s with ``O_DIRECT``), plus the kernel's writeback, all taken from
    the forward pass running beside it (``benchmarks/bench_scale.py``). The
    block-aligned middle of each chunk goes to the disk straight from the
    staging buffer; its unaligned head and tail, and everything when
    ``O_DIRECT`` is refused, go through the page cache.

    Parameters
    ----------
    path : path of the file, opened here and closed by :meth:`close`
    data_offset : int
        Byte position of row 0 in the file.
    row_bytes, itemsize : int
        Bytes of one row and of one element.
    total_bytes : int
        Bytes of all rows together; small results stay in the page cache.
    """

    def __init__(
        self, path, data_offset: int, row_bytes: int, itemsize: int, total_bytes: int
    ):
        self._data_offset, self._row_bytes = data_offset, row_bytes
        self._fd = os.open(path, os.O_WRONLY | _O_BINARY)
        self._direct_fd = None
        if total_bytes >= _DIRECT_MIN_BYTES and data_offset % itemsize == 0:
            self._direct_fd = _open_direct(path)

    @property
    def direct(self) -> bool:
        return self._direct_fd is not None

    def _position(self, start: int) -> int:
        return self._data_offset + start * self._row_bytes

    def shift(self, start: int) -> int:
        """Where a batch starting at row ``start`` goes in a staging buffer."""
        return self._position(start) % _ALIGN if self.direct else 0

    def write(self, rows: np.ndarray, start: int) -> None:
        if rows.nbytes == 0:
            return
        data = memoryview(rows).cast("B")
        position = self._position(start)
        if self.direct:
            head = min(len(data), -position % _ALIGN)
            middle = (len(data) - head) // _ALIGN * _ALIGN
            _pwrite_all(self._fd, data[:head], position)
            done = self._write_direct(data[head : head + middle], position + head)
            data, position = data[head + done :], position + head + done
        _pwrite_all(self._fd, data, position)

    def _write_direct(self, data: memoryview, position: int) -> int:
        """Write what O_DIRECT takes of ``data``; return the bytes written."""
        done = 0
        try:
            while done < len(data):
                written = os.pwrite(self._direct_fd, data[done:], position + done)
                if written <= 0 or written % _ALIGN:
                    done += max(written, 0)
                    break
                done += written
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
            # The file system refused this buffer after all: go on buffered.
            self._close_direct()
        return done

    def _close_direct(self) -> None:
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None

    def close(self) -> None:
        self._close_direct()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows opens in text mode otherwise


def _open_direct(path) -> int | None:
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or not hasattr(os, "pwrite"):
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:  # e.g. a tmpfs of an older kernel
        return None


def _pwrite_all(fd: int, data: memoryview, position: int) -> None:
    while data:
        if hasattr(os, "pwrite"):
            written = os.pwrite(fd, data, position)
        else:  # Windows: only the writer thread uses this descriptor
            os.lseek(fd, position, os.SEEK_SET)
            written = os.write(fd, data)
        data, position = data[written:], position + written


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

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * np.dtype(self.dtype).itemsize

    def _start_writer(self, staging_bytes: int) -> None:
        self._writer = _StagedWriter(
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

    _file: _RowFile | None = None

    def _open_file(self, path, data_offset: int) -> None:
        self._file = _RowFile(
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
        self, array: np.memmap, mm: mmap.mmap, staging_bytes: int = _STAGING_BYTES
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
        staging_bytes: int = _STAGING_BYTES,
    ):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
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
                _reserve(file.fileno(), data_offset, data_bytes, path)
            self._open_file(self.tmp, data_offset)
            self._start_writer(staging_bytes)
        except BaseException:
            self._close(quiet=True)
            self.tmp.unlink(missing_ok=True)
            raise

    def finish(self) -> np.ndarray:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            # A replaced file keeps its permissions, as with np.save.
            shutil.copymode(self.path, self.tmp)
        os.replace(self.tmp, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self) -> None:
        self._close(quiet=True)
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _reserve(fd: int, offset: int, nbytes: int, path: Path) -> None:
    """Claim the disk space up front, so that a full disk is reported before
    the first batch rather than after hours of work.

    ``fd`` must be open for writing only: where the file system lacks
    fallocate, glibc emulates it with a read and a write per block, which
    would cost a million system calls for 4 GB; on a write-only descriptor
    the emulation fails at once (EBADF) and is skipped.
    """
    if not hasattr(os, "posix_fallocate") or nbytes == 0:
        return
    try:
        os.posix_fallocate(fd, offset, nbytes)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                err.errno,
                f"Not enough disk space for {nbytes / 2**20:,.1f} MiB of activations "
                f"in {str(path.parent)!r}",
            ) from err
        # Other refusals (no fallocate, the EBADF above) are harmless: the
        # file is already sized, and the writes will allocate.


class ZarrSink(_StagedSink):
    """Write batches into a zarr array stored in a folder."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, ...],
        dtype: np.dtype,
        rows_per_chunk: int,
        staging_bytes: int = _STAGING_BYTES,
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
        self._start_writer(staging_bytes)

    def _write(self, rows: np.ndarray, start: int, stop: int) -> None:
        self.array[start:stop] = rows

    def finish(self):
        self._close_writer()
        if self.path.exists():
            # The old store stays whole until the new one has its name: the
            # two swap in one step, then the old one (now under the
            # temporary name) is removed. Had removal come first, a failure
            # half-way (a read-only file inside) would leave neither.
            _replace_folder(self.tmp, self.path)
            _remove_old(self.tmp)
        else:
            os.replace(self.tmp, self.path)
        return self._zarr.open_array(str(self.path), mode="r")

    def abort(self) -> None:
        self._close_writer(quiet=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove_old(path: Path) -> None:
    """Remove a replaced store; what cannot be removed is left with a warning."""
    import warnings

    failed = []
    # ``onexc`` from Python 3.12 on, ``onerror`` before (deprecated since).
    keyword = "onexc" if sys.version_info >= (3, 12) else "onerror"
    shutil.rmtree(path, **{keyword: lambda _fn, name, _exc: failed.append(name)})
    if failed:
        warnings.warn(
            f"The new result is in place, but the store it replaced could not be "
            f"removed completely; remove {str(path)!r} by hand.",
            RuntimeWarning,
            stacklevel=4,
        )


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's ``renameat2``; False where unsupported."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(
        at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_folder(new: Path, target: Path) -> None:
    """Put folder ``new`` under the name ``target``; the old ``target`` ends up at ``new``.

    Atomic where the OS can swap two names; elsewhere two renames, undone if
    the second fails, so that the old folder is never lost.
    """
    if _exchange(new, target):
        return
    parked = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(target, parked)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(parked, target)
        raise
    os.rename(parked, new)


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
        How many sinks the call builds: they share ``_STAGING_BYTES``.
    """
    staging_bytes = _STAGING_BYTES // max(1, n_sinks)
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
    if path.is_file() and not path.stat().st_mode & stat.S_IWUSR:
        # The mode, not os.access: an administrator may write anything, but a
        # file its owner made read-only is not one to replace.
        raise PermissionError(
            errno.EACCES,
            f"out {str(path)!r} exists and is read-only; it is not replaced",
            str(path),
        )


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
