"""Recording files: save to and load from an ``.npz`` archive or a folder.

A folder holds ``meta.json`` and one ``.npy`` file per array (which
:func:`load` can memory-map); an ``.npz`` archive holds the same arrays and
the metadata as a JSON string (``meta``). The arrays and the metadata's
checks are described in :mod:`skviz.record._format`. Nothing is ever
pickled, and files that hold pickles are refused unread.

Saving never loses the recording it replaces: everything is written under a
temporary name next to the target (arrays first, the metadata last, each
file synced to the disk), and only the complete result is put in place, in
one step (:mod:`skviz.atomic`). An exception, Ctrl-C or a full disk while
writing leaves the old files as they were. This is also what makes saving a
memory-mapped recording over its own files safe: the old files are read
while the new ones are written elsewhere, and the swap leaves the mapping on
the old, unchanged data.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import zipfile
import zlib
from contextlib import suppress
from pathlib import Path

import numpy as np

from ..atomic import install_folder, refuse_read_only, replace_file, temporary_sibling
from ._format import ArraySpec, Layout, contents, parse_meta, recording_from, seal
from ._recording import Recording

__all__ = ["load", "save"]

# Arrays are written, checksummed and verified in blocks of about this size.
CHUNK_BYTES = 8 * 2**20
_MAX_META_BYTES = 256 * 2**20
_NO_FOLDER_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES, errno.EPERM}
# What a recording folder may hold; any other entry is someone else's.
_RECORDING_FILE = re.compile(
    r"meta\.json|(step|epoch|batch|relative_updates|(weight|gradient)_\d{4,})\.npy"
)


def save(recording: Recording, path: str | os.PathLike) -> Path:
    """Write ``recording`` to ``path`` (see :meth:`Recording.save`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}.")
    path = Path(path)
    meta, arrays = contents(recording)
    # Through a symbolic link, the recording it points to is replaced.
    target = Path(os.path.realpath(path))
    if path.suffix == ".npz":
        _check_file_target(target)
        _save_npz(meta, arrays, target)
    else:
        _check_folder_target(target)
        _save_folder(meta, arrays, target)
    return path


def _check_file_target(target: Path) -> None:
    if target.is_dir():
        raise ValueError(
            f"Cannot save an .npz recording at {str(target)!r}: it is a folder."
        )
    refuse_read_only(target, "recording")


def _check_folder_target(target: Path) -> None:
    """Refuse, before writing anything, a folder that saving would damage."""
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise ValueError(
            f"Cannot save a folder recording at {str(target)!r}: a file has that "
            "name (a path ending in '.npz' saves an archive)."
        )
    entries = list(target.iterdir())
    foreign = sorted(
        p.name
        for p in entries
        if not (_RECORDING_FILE.fullmatch(p.name) and p.is_file()) or p.is_symlink()
    )
    if foreign:
        raise ValueError(
            f"{str(target)!r} holds files that are not part of a recording "
            f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); "
            "it is not replaced. Save to a new folder, or empty this one."
        )
    refuse_read_only(target, "recording")
    for entry in entries:
        refuse_read_only(entry, "recording file")


def _save_folder(meta: dict, arrays: dict[str, np.ndarray], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        os.mkdir(tmp)
        listing = {}
        for key, arr in arrays.items():
            with open(tmp / f"{key}.npy", "xb") as file:
                listing[key] = _write_npy(file, arr)
                _sync(file)
        # The metadata comes last: a folder without it is never a recording.
        with open(tmp / "meta.json", "x", encoding="ascii") as file:
            file.write(json.dumps(seal(meta, listing), indent=1))
            _sync(file)
        _keep_modes(target, tmp)
        _sync_folder(tmp)
        install_folder(tmp, target, stacklevel=6)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _sync_folder(target.parent, quiet=True)


def _save_npz(meta: dict, arrays: dict[str, np.ndarray], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        with open(tmp, "xb") as file:
            # As np.savez writes it: uncompressed, one .npy entry per array.
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                listing = {}
                for key, arr in arrays.items():
                    with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                        listing[key] = _write_npy(member, arr)
                text = np.array(json.dumps(seal(meta, listing)))
                with zf.open("meta.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, text, allow_pickle=False)
            _sync(file)
        replace_file(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_npy(file, arr: np.ndarray) -> dict:
    """Write ``arr`` as ``.npy`` in blocks; return its entry in the listing."""
    header = {
        "descr": np.lib.format.dtype_to_descr(arr.dtype),
        "fortran_order": False,
        "shape": tuple(arr.shape),
    }
    np.lib.format.write_array_header_1_0(file, header)
    row_bytes = arr[:1].nbytes if len(arr) else 1
    rows = max(1, CHUNK_BYTES // max(row_bytes, 1))
    crc = 0
    for start in range(0, len(arr), rows):
        block = np.ascontiguousarray(arr[start : start + rows])
        crc = zlib.crc32(block, crc)
        file.write(memoryview(block).cast("B"))
    return {
        "shape": list(arr.shape),
        "dtype": arr.dtype.str,
        "bytes": int(arr.nbytes),
        "crc32": crc,
    }


def _sync(file) -> None:
    file.flush()
    os.fsync(file.fileno())


def _sync_folder(path: Path, quiet: bool = False) -> None:
    """Make the names in ``path`` durable (where the OS can sync a folder).

    A file system that cannot sync a folder says so (EINVAL and the like);
    only an error that means lost data (EIO, a full disk) is raised, and not
    at all when ``quiet`` (after the new recording is in place).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if not quiet and err.errno not in _NO_FOLDER_SYNC:
            raise
    finally:
        os.close(fd)


def _keep_modes(target: Path, tmp: Path) -> None:
    """Give the new folder and files the permission bits of those they replace."""
    if not target.is_dir():
        return
    for new in tmp.iterdir():
        with suppress(FileNotFoundError):
            os.chmod(new, stat.S_IMODE(os.stat(target / new.name).st_mode))
    os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))


def load(
    path: str | os.PathLike, mmap_mode: str | None = None, *, verify: bool = True
) -> Recording:
    """Read a recording written by :meth:`Recording.save` or ``WeightRecorder.save``.

    Files are read with ``allow_pickle=False``: a file that holds pickled
    objects is refused and never executed. A recording is read whole and
    checked against its metadata, or not at all.

    Parameters
    ----------
    path : str or path
        An ``.npz`` file or a folder written by ``save``.
    mmap_mode : {None, "r", "c"}, default=None
        For folders: memory-map the arrays instead of reading them.
    verify : bool, default=True
        Check every array against the CRC-32 its metadata lists. This reads
        every byte once, also with ``mmap_mode`` (in blocks, in bounded
        memory). ``False`` skips only that: the metadata, the arrays'
        shapes, dtypes and file sizes are always checked.

    Returns
    -------
    Recording
        With everything recorded and, as ``recorder_params``, the
        parameters of the recorder that made it.

    Raises
    ------
    FileNotFoundError
        Nothing exists at ``path``.
    ValueError
        With a message that starts ``"not a readable recording: "`` and says
        what is wrong, when ``path`` is not a complete recording: a
        truncated or damaged archive or ``.npy`` file, missing, malformed or
        edited metadata, a missing array, arrays that disagree with the
        metadata or with each other (files of different saves), pickled
        content, or a format version this skviz does not read.
    """
    if mmap_mode not in (None, "r", "c"):
        raise ValueError(f"mmap_mode must be None, 'r' or 'c', got {mmap_mode!r}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No recording at {str(path)!r}.")
    try:
        if path.is_dir():
            layout, arrays = _load_folder(path, mmap_mode, verify)
        else:
            layout, arrays = _load_npz(path, verify)
        return recording_from(layout, arrays)
    except (MemoryError, PermissionError):
        raise
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ValueError) else repr(exc)
        raise ValueError(f"not a readable recording: {str(path)!r}: {reason}") from exc


def _load_folder(
    path: Path, mmap_mode: str | None, verify: bool
) -> tuple[Layout, dict[str, np.ndarray]]:
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise ValueError("the folder has no meta.json")
    if meta_path.stat().st_size > _MAX_META_BYTES:
        raise ValueError("meta.json is too large to be a recording's metadata")
    try:
        meta = json.loads(meta_path.read_bytes())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"meta.json is not valid JSON ({exc})") from exc
    layout = parse_meta(meta)
    arrays = {}
    for key, spec in layout.arrays.items():
        file = path / f"{key}.npy"
        if not file.is_file():
            raise ValueError(f"array file {file.name} is missing")
        with open(file, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            mapped = (file, mmap_mode) if mmap_mode else None
            arrays[key] = _read_npy(f, size, file.name, spec, verify, mapped)
    return layout, arrays


def _load_npz(path: Path, verify: bool) -> tuple[Layout, dict[str, np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as zf:
            layout = parse_meta(_read_meta_entry(zf))
            arrays = {}
            for key, spec in layout.arrays.items():
                info = _entry(zf, f"{key}.npy")
                with zf.open(info) as f:
                    arrays[key] = _read_npy(
                        f, info.file_size, info.filename, spec, verify
                    )
    except (ValueError, PermissionError, MemoryError):
        raise  # JSONDecodeError is a ValueError too: say it is the metadata
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ...
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
        what = (
            "a damaged or truncated .npz archive" if zipped else "not an .npz archive"
        )
        raise ValueError(f"{what} ({type(exc).__name__}: {exc})") from exc
    return layout, arrays


def _entry(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(name)
    except KeyError:
        raise ValueError(f"the archive has no {name}") from None


def _read_meta_entry(zf: zipfile.ZipFile):
    info = _entry(zf, "meta.npy")
    with zf.open(info) as f:
        shape, fortran, dtype = _read_header(f, "meta.npy")
        if shape != () or dtype.kind != "U" or fortran:
            raise ValueError("the archive's meta entry is not a string")
        if info.file_size != f.tell() + dtype.itemsize or info.file_size > (
            _MAX_META_BYTES
        ):
            raise ValueError("the archive's meta entry has a wrong size")
        text = np.frombuffer(f.read(dtype.itemsize), dtype)[0]
    try:
        return json.loads(str(text))
    except ValueError as exc:
        raise ValueError(f"the archive's metadata is not valid JSON ({exc})") from exc


def _read_header(f, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
        raise ValueError(f"unsupported .npy version {version}")
    except zipfile.BadZipFile:
        raise  # the archive's own check failed: it is the archive that is damaged
    except Exception as exc:
        raise ValueError(f"{name} has no valid .npy header ({exc})") from exc


def _read_npy(
    f,
    size: int,
    name: str,
    spec: ArraySpec,
    verify: bool,
    mapped: tuple[Path, str] | None = None,
) -> np.ndarray:
    """Read (or map) one ``.npy`` whose header and size must match ``spec``."""
    shape, fortran, dtype = _read_header(f, name)
    if shape != spec.shape or dtype != spec.dtype or fortran:
        order = " in Fortran order" if fortran else ""
        raise ValueError(
            f"{name} holds {dtype}{shape}{order}, the metadata lists {spec.describe()}"
        )
    start = f.tell()
    have = size - start
    if have < spec.nbytes:
        raise ValueError(
            f"{name} is truncated: {have:,} of {spec.nbytes:,} bytes of data"
        )
    if have > spec.nbytes:
        raise ValueError(f"{name} has {have - spec.nbytes:,} bytes after its data")
    if mapped is not None and spec.nbytes:
        crc = _crc_of_stream(f, spec.nbytes) if verify else spec.crc32
        file, mode = mapped
        data = np.memmap(file, dtype=dtype, mode=mode, offset=start, shape=shape)
    else:
        data = np.empty(shape, dtype)
        _read_into(f, data, name)
        crc = zlib.crc32(data) if verify else spec.crc32
    if crc != spec.crc32:
        raise ValueError(
            f"{name} does not hold the data its metadata lists (CRC-32 differs): "
            "the file was changed or comes from another save"
        )
    return data


def _read_into(f, data: np.ndarray, name: str) -> None:
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        got = f.readinto(view[done:])
        if not got:
            raise ValueError(f"{name} ended before its data did")
        done += got


def _crc_of_stream(f, nbytes: int) -> int:
    buffer = memoryview(bytearray(min(CHUNK_BYTES, nbytes)))
    crc, left = 0, nbytes
    while left:
        got = f.readinto(buffer[: min(left, len(buffer))])
        if not got:
            raise EOFError("the file ended before its data did")
        crc = zlib.crc32(buffer[:got], crc)
        left -= got
    return crc
