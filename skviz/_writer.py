"""Writing rows into files off the forward pass.

The sinks of :mod:`skviz._sinks` that write files hand each batch to a
:class:`StagedWriter`: a background thread that gathers consecutive batches
into chunks and writes them at their row positions (:class:`RowFile`),
through ``O_DIRECT`` for large results so that the page cache's copying and
writeback do not take CPU time from the forward pass. Disk space is claimed
up front (:func:`reserve_space`).
"""

from __future__ import annotations

import errno
import math
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "CHUNK_BYTES",
    "DIRECT_MIN_BYTES",
    "STAGING_BYTES",
    "RowFile",
    "StagedWriter",
    "open_direct",
    "reserve_space",
]

# O_DIRECT wants file offsets, lengths and memory addresses aligned to the
# logical block size of the device; 4 KiB covers every common one.
ALIGN = 4096

# Results below this size are written through the page cache: a caller who
# reads them right back finds them there, and the kernel's copy costs little.
DIRECT_MIN_BYTES = 64 * 2**20

# Consecutive staged batches are written together in chunks of up to this
# size, and all the staged sinks of one call share this much staging memory.
CHUNK_BYTES = 8 * 2**20
STAGING_BYTES = 24 * 2**20


class StagedWriter:
    """Writes staged rows on one background thread, in order.

    The forward pass of the next batches then overlaps the disk I/O (page
    faults of a mapping, ``write`` calls, zarr compression) of the last ones.
    Consecutive batches are gathered in a chunk of up to ``CHUNK_BYTES``
    and written with one call: on a machine whose cores all run torch, every
    wake-up of this thread stalls a torch thread, so fewer and larger writes
    keep the forward pass fast. ``n_buffers`` rotating chunks share
    ``staging_bytes`` (but each holds at least one batch), which bounds the
    memory. Each chunk starts on an ``ALIGN`` boundary and its first row is
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
        staging_bytes: int = STAGING_BYTES,
        n_buffers: int = 3,
    ):
        self._write = write
        self._row_shape, self._dtype = tuple(row_shape), np.dtype(dtype)
        self._row_bytes = math.prod(self._row_shape) * self._dtype.itemsize
        self._chunk_bytes = min(
            CHUNK_BYTES, staging_bytes // n_buffers, n_rows * self._row_bytes
        )
        self._n_buffers = n_buffers
        self._n_allocated = 0
        self._free: queue.Queue = queue.Queue()
        self._todo: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._chunk: Chunk | None = None
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
            chunk = self._chunk = Chunk(
                self._buffer(need + ALIGN),
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


class Chunk:
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
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    skip = -raw.ctypes.data % ALIGN
    return raw[skip : skip + nbytes]


class RowFile:
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
        if total_bytes >= DIRECT_MIN_BYTES and data_offset % itemsize == 0:
            self._direct_fd = open_direct(path)

    @property
    def direct(self) -> bool:
        return self._direct_fd is not None

    def _position(self, start: int) -> int:
        return self._data_offset + start * self._row_bytes

    def shift(self, start: int) -> int:
        """Where a batch starting at row ``start`` goes in a staging buffer."""
        return self._position(start) % ALIGN if self.direct else 0

    def write(self, rows: np.ndarray, start: int) -> None:
        if rows.nbytes == 0:
            return
        data = memoryview(rows).cast("B")
        position = self._position(start)
        if self.direct:
            head = min(len(data), -position % ALIGN)
            middle = (len(data) - head) // ALIGN * ALIGN
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
                if written <= 0 or written % ALIGN:
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


def open_direct(path) -> int | None:
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


def reserve_space(fd: int, offset: int, nbytes: int, path: Path) -> None:
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
