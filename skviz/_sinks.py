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
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["make_sink"]

# Outputs smaller than this stay writable in RAM; beyond it, pages of a
# caller's memmap that are complete are handed back to the page cache so the
# process's resident memory stays at about one batch.
_RELEASE_EVERY_BYTES = 16 * 2**20


class ArraySink:
    """Write into an ndarray: a fresh one, or one the caller passed as ``out``."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self._mmap = _backing_mmap(array)
        self._released = 0  # bytes at the start of the mapping already released
        self._pending = 0

    def region(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]

    def commit(self, start: int, stop: int) -> None:
        if self._mmap is None:
            return
        self._pending += (stop - start) * self.array[:1].nbytes
        if self._pending >= _RELEASE_EVERY_BYTES:
            self._release(stop)

    def _release(self, stop: int) -> None:
        # The rows written so far are in the shared page cache; unmapping them
        # from this process keeps its RSS flat without losing data.
        offset = self.array.ctypes.data - _mmap_address(self._mmap)
        end = offset + stop * self.array[:1].nbytes
        end -= end % mmap.PAGESIZE
        begin = self._released
        if end > begin:
            self._mmap.flush(begin, end - begin)
            self._mmap.madvise(mmap.MADV_DONTNEED, begin, end - begin)
            self._released = end
        self._pending = 0

    def finish(self) -> np.ndarray:
        if isinstance(self.array, np.memmap):
            self.array.flush()
        return self.array

    def abort(self) -> None:
        pass


class NpyFileSink:
    """Stream batches into a ``.npy`` file with plain writes (no mapping)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        self.shape, self.dtype = shape, dtype
        self._staging: np.ndarray | None = None
        self._file = open(self.tmp, "wb")  # closed in finish() or abort()
        try:
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": shape,
            }
            np.lib.format.write_array_header_2_0(self._file, header)
        except BaseException:
            self.abort()
            raise

    def region(self, start: int, stop: int) -> np.ndarray:
        rows = stop - start
        if self._staging is None or len(self._staging) < rows:
            self._staging = np.empty((rows, *self.shape[1:]), dtype=self.dtype)
        return self._staging[:rows]

    def commit(self, start: int, stop: int) -> None:
        self._file.write(memoryview(self._staging[: stop - start]).cast("B"))

    def finish(self) -> np.ndarray:
        self._file.close()
        os.replace(self.tmp, self.path)
        return np.load(self.path, mmap_mode="r")

    def abort(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class ZarrSink:
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
        self._staging: np.ndarray | None = None

    def region(self, start: int, stop: int) -> np.ndarray:
        rows = stop - start
        if self._staging is None or len(self._staging) < rows:
            self._staging = np.empty(
                (rows, *self.array.shape[1:]), dtype=self.array.dtype
            )
        return self._staging[:rows]

    def commit(self, start: int, stop: int) -> None:
        self.array[start:stop] = self._staging[: stop - start]

    def finish(self):
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        return self._zarr.open_array(str(self.path), mode="r")

    def abort(self) -> None:
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
        return ArraySink(out)
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
