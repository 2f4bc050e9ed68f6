"""Replacing a file or a folder so that the old one survives any failure.

A small utility of the core that the output sinks (:mod:`skviz._sinks`) and
the recording files (:mod:`skviz.record`) share. The new content is written
completely under a temporary sibling name (:func:`temporary_sibling`), then
put in place in one step:

* a file with :func:`replace_file` (``os.replace`` of the complete file,
  keeping the old file's permission bits, as ``np.save`` does);
* a folder with :func:`install_folder`: where the target exists, the two
  folders swap names in one system call (Linux ``renameat2`` with
  ``RENAME_EXCHANGE``, :func:`exchange`) or, where that is missing, by two
  renames of which the second is undone if it fails
  (:func:`replace_folder`); only then is the old folder removed
  (:func:`remove_old`).

Until that step the old content is untouched, whatever happens while the
new one is written (an exception, Ctrl-C, a full disk).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import uuid
import warnings
from pathlib import Path

__all__ = [
    "exchange",
    "install_folder",
    "refuse_read_only",
    "remove_old",
    "replace_file",
    "replace_folder",
    "temporary_sibling",
]

_RENAME_EXCHANGE = 2  # linux/fs.h


def temporary_sibling(target: Path, tag: str = "tmp") -> Path:
    """A fresh hidden name next to ``target``, on the same file system.

    Parameters
    ----------
    target : Path
        The path the content is meant for.
    tag : str, default="tmp"
        Last part of the name, saying what the sibling holds.

    Returns
    -------
    Path
        ``.{target.name}.{random}.{tag}`` in ``target``'s folder.
    """
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.{tag}")


def refuse_read_only(path: Path, what: str) -> None:
    """Raise ``PermissionError`` if ``path`` exists and its owner may not write it.

    The mode bits, not ``os.access``: an administrator may write anything,
    but a file its owner made read-only is not one to replace.

    Parameters
    ----------
    path : Path
    what : str
        How the message names ``path`` (``"out"``, ``"recording"``).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not mode & stat.S_IWUSR:
        raise PermissionError(
            errno.EACCES,
            f"{what} {str(path)!r} exists and is read-only; it is not replaced",
            str(path),
        )


def replace_file(new: Path, target: Path) -> None:
    """Put the complete file ``new`` under the name ``target`` in one step.

    A replaced file keeps its permission bits, as with ``np.save``.
    """
    try:
        os.chmod(new, stat.S_IMODE(os.stat(target).st_mode))
    except FileNotFoundError:
        pass
    os.replace(new, target)


def exchange(a: Path, b: Path) -> bool:
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


def replace_folder(new: Path, target: Path) -> Path:
    """Put folder ``new`` under the name ``target``; return where the old one went.

    Atomic where the OS can swap two names (the old folder ends up at
    ``new``); elsewhere two renames, undone if the second fails, so that the
    old folder is never lost (it ends up under a hidden name next to
    ``target``). Either way the caller removes the returned folder.
    """
    if exchange(new, target):
        return new
    parked = temporary_sibling(target, "old")
    os.rename(target, parked)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(parked, target)
        raise
    return parked


def remove_old(path: Path, stacklevel: int = 4) -> None:
    """Remove a replaced folder; what cannot be removed is left with a warning."""
    failed = []
    # ``onexc`` from Python 3.12 on, ``onerror`` before (deprecated since).
    keyword = "onexc" if sys.version_info >= (3, 12) else "onerror"
    shutil.rmtree(path, **{keyword: lambda _fn, name, _exc: failed.append(name)})
    if failed:
        warnings.warn(
            f"The new result is in place, but the store it replaced could not be "
            f"removed completely; remove {str(path)!r} by hand.",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def install_folder(new: Path, target: Path, stacklevel: int = 5) -> None:
    """Put the complete folder ``new`` at ``target``, replacing any folder there.

    The old folder stays whole until the new one has its name: the two swap
    in one step (:func:`replace_folder`), then the old one is removed. Had
    removal come first, a failure half-way (a read-only file inside) would
    leave neither.
    """
    if os.path.exists(target):
        remove_old(replace_folder(new, target), stacklevel)
    else:
        os.replace(new, target)
