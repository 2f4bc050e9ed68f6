"""Files under a RowStore: its private spill folder, and pickling by reference.

A :class:`~skviz.record.RowStore` spills fields to ``.npy`` files in a
private folder (:func:`make_spill_folder`) that goes when the store is
garbage-collected, at the latest when the process ends. A store may also
read arrays memory-mapped from files that are not its own (a recording
loaded with ``mmap_mode``).

Pickling (and ``copy.deepcopy``) keeps what is on disk on disk: a field
held in a file is pickled as a reference (:class:`FileRef`: the path, the
file's identity and its layout), never as its data, and the copy maps the
file again, read-only:

* **a spill file** (the store's own): the copy takes its **own hard link**
  to the file, in a private folder of its own next to the original's, and
  maps that. The data then lives as long as either store holds a name for
  it: the original removing its folder takes only its own names away, so
  the copy never reads a removed or reused file. (Reference-counting the
  original's cleanup would not cover a copy made in another process; an
  open file would not survive the copy being pickled again.) The original
  never rewrites a committed row, and the copy reads only those. Once a
  file has been handed out, the original keeps it (rather than deleting it
  when it grows into a new one) until its folder goes, so a copy unpickled
  later still finds it. Where the file system refuses hard links, the copy
  copies the file instead, on disk.
* **a file the store does not own**: mapped again from its path, as
  :func:`~skviz.record.load` would, once it is checked to be the same,
  unchanged file (device, inode, size, modification time).

Either way the file's identity, taken when the field mapped it, is checked
when pickling and again when unpickling. A file removed or replaced under
its name while the field still maps the old one (say, a recording saved
over the folder another was loaded from with ``mmap_mode``) cannot be
referred to: its rows are pickled by value, with a warning.
A file that is gone or is no longer the same file (typically: the pickle is
loaded after the original recording, or its whole process, has ended) is
**not** read: the copy unpickles (so a pickled net still loads), warns, and
every read of the recording raises ``ValueError`` saying why. A pickle of a
recording on disk is a reference; :meth:`Recording.save` keeps one.
"""

from __future__ import annotations

import errno
import mmap
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FileRef", "LostFile", "file_identity", "make_spill_folder", "mapped_file"]

_PREFIX = "skviz-record-"
# Errors of os.link that mean "no hard link here", not "no file".
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}


class LostFile(Exception):
    """A referenced file is gone or changed; the message says which and why."""


def make_spill_folder(owner, directory) -> tuple[Path, weakref.finalize]:
    """A fresh private folder in ``directory``, removed when ``owner`` goes."""
    path = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=directory))
    return path, weakref.finalize(owner, shutil.rmtree, str(path), ignore_errors=True)


def mapped_file(data: np.ndarray) -> Path | None:
    """The file ``data`` maps as a whole (an ``np.memmap`` as created), or None.

    A view of a memmap (a slice) is not a file-backed field: its offset in
    the file is not what ``np.memmap.offset`` says.
    """
    if isinstance(data, np.memmap) and isinstance(data.base, mmap.mmap):
        filename = getattr(data, "filename", None)
        if filename and data.flags.c_contiguous:
            return Path(filename)
    return None


def _identity(st: os.stat_result, owned: bool) -> tuple[int, ...]:
    # A spill file's original goes on writing rows past those referenced
    # (changing its mtime); a file someone else owns must be unchanged.
    ids = (st.st_dev, st.st_ino, st.st_size)
    return ids if owned else (*ids, st.st_mtime_ns)


def file_identity(path: Path, owned: bool) -> tuple[int, ...] | None:
    """What tells the file at ``path`` from any other; None if there is none.

    Taken when a field maps a file, and compared when pickling: a file
    removed or replaced under the same name since (a recording saved over
    the folder a recording was loaded from) is not the one the field reads.
    """
    try:
        return _identity(os.stat(path), owned)
    except OSError:
        return None


@dataclass(frozen=True)
class FileRef:
    """A field held in a file, as pickled: where, which file, and its layout."""

    path: str
    offset: int
    dtype: str
    row_shape: tuple[int, ...]
    n_rows: int
    owned: bool
    mode: str
    identity: tuple[int, ...]

    @classmethod
    def of(
        cls, data: np.memmap, path: Path, n_rows: int, owned: bool, identity
    ) -> FileRef:
        mode = "c" if getattr(data, "mode", "r") == "c" else "r"
        return cls(
            str(path),
            int(data.offset),
            data.dtype.str,
            tuple(data.shape[1:]),
            n_rows,
            owned,
            mode,
            tuple(identity),
        )

    def reopen(self, folder) -> tuple[np.ndarray, Path]:
        """Map the first ``n_rows`` rows again; ``folder(parent)`` gives a private one.

        Returns the array and the path the copy holds (its own link for a
        spill file, the same path otherwise). Raises :class:`LostFile`, also
        for a file that cannot be opened or linked again: unpickling a net
        must not fail for its recording.
        """
        try:
            return self._map(folder)
        except OSError as err:
            raise LostFile(
                f"the file {self.path!r} that holds these rows could not be "
                f"mapped again ({err})"
            ) from err

    def _map(self, folder) -> tuple[np.ndarray, Path]:
        source = Path(self.path)
        if self.owned:
            path = self._own_name(source, folder)
        else:
            self._check(source)
            path = source
        shape = (self.n_rows, *self.row_shape)
        if not np.prod(shape, dtype=np.int64):
            return np.empty(shape, self.dtype), path
        data = np.memmap(
            path, dtype=self.dtype, mode=self.mode, offset=self.offset, shape=shape
        )
        return data, path

    def _check(self, path: Path) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise self._lost("is gone") from None
        if _identity(st, self.owned) != self.identity:
            raise self._lost("has been replaced or changed")

    def _own_name(self, source: Path, folder) -> Path:
        """The copy's own name for a spill file: a hard link, else a copy."""
        self._check(source)
        target = folder(source.parent.parent) / source.name
        try:
            os.link(source, target)
        except FileNotFoundError:
            raise self._lost("is gone") from None
        except OSError as err:
            if err.errno not in _NO_LINK:
                raise
            # No hard links here: a copy of our own, on disk all the same.
            shutil.copyfile(source, target)
            checked = source  # still the file referenced once copied
        else:
            checked = target  # the link is to the file referenced
        try:
            self._check(checked)
        except LostFile:
            target.unlink(missing_ok=True)
            raise
        return target

    def _lost(self, what: str) -> LostFile:
        if self.owned:
            why = (
                "It was a spill file of the recording this one was pickled from, "
                "removed with that recording (when it was garbage-collected, or "
                "when its process ended). A pickled recording on disk refers to "
                "its files; Recording.save() keeps a recording. To train on, start "
                "a new recording with the recorder's initialize() (the net keeps "
                "its weights)."
            )
        else:
            why = "It was the file of a recording loaded with mmap_mode."
        return LostFile(f"the file {self.path!r} that holds these rows {what}. {why}")
