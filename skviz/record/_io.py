"""Recording files: save to and load from an ``.npz`` archive or a folder.

A folder holds ``meta.json`` and one ``.npy`` file per array (which
:func:`load` can memory-map); an ``.npz`` archive holds the same arrays and
the metadata as a JSON string. Arrays: ``step``, ``epoch``, ``batch``
(int64, when any parameter was recorded), ``weight_0000`` ... and
``gradient_0000`` ... (float32, one per recorded parameter, in the order
of ``param_names``) and ``relative_updates`` (float32). Nothing is ever
pickled, and files that hold pickles are refused unread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._recording import (
    INDEX_KEYS,
    RELATIVE_KEY,
    Recording,
    gradient_key,
    weight_key,
)
from ._store import RowStore

__all__ = ["load", "save"]

# The format is that of the files WeightRecorder has always written.
_FORMAT = "skviz.WeightRecorder"
_FORMAT_VERSION = 1


def _jsonable(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _contents(recording: Recording) -> tuple[dict, dict[str, np.ndarray]]:
    store = recording.store
    meta = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "params": {k: _jsonable(v) for k, v in recording.recorder_params.items()},
        "param_names": list(recording.param_names),
        "shapes": {k: list(v) for k, v in recording.shapes.items()},
        "skipped": dict(recording.skipped),
        "n_steps": recording.n_steps,
        "n_batches_seen": recording.n_batches_seen,
        "relative_update_names": list(recording.relative_update_names),
        "has_gradients": recording.has_gradients,
    }
    arrays = {}
    if recording.param_names:
        for key in INDEX_KEYS:
            arrays[key] = store.view(key)
    for i, name in enumerate(recording.param_names):
        arrays[f"weight_{i:04d}"] = store.view(weight_key(name))
        if recording.has_gradients:
            arrays[f"gradient_{i:04d}"] = store.view(gradient_key(name))
    if RELATIVE_KEY in store:
        arrays["relative_updates"] = store.view(RELATIVE_KEY)
    return meta, arrays


def save(recording: Recording, path: str | os.PathLike) -> Path:
    """Write ``recording`` to ``path`` (see :meth:`Recording.save`)."""
    meta, arrays = _contents(recording)
    path = Path(path)
    if path.suffix == ".npz":
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
        return path
    path.mkdir(parents=True, exist_ok=True)
    (path / "meta.json").write_text(json.dumps(meta, indent=1))
    for key, arr in arrays.items():
        np.save(path / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    return path


def load(path: str | os.PathLike, mmap_mode: str | None = None) -> Recording:
    """Read a recording written by :meth:`Recording.save` or ``WeightRecorder.save``.

    Files are read with ``allow_pickle=False``: a file that holds pickled
    objects is refused with ``ValueError`` and never executed.

    Parameters
    ----------
    path : str or path
        An ``.npz`` file or a folder written by ``save``.
    mmap_mode : {None, "r", "c"}, default=None
        For folders: memory-map the arrays instead of reading them.

    Returns
    -------
    Recording
        With everything recorded and, as ``recorder_params``, the
        parameters of the recorder that made it.
    """
    if mmap_mode not in (None, "r", "c"):
        raise ValueError(f"mmap_mode must be None, 'r' or 'c', got {mmap_mode!r}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No recording at {str(path)!r}.")
    try:
        if path.is_dir():
            meta = json.loads((path / "meta.json").read_text())
            _check_meta(meta)

            def read(key):
                return np.load(
                    path / f"{key}.npy", mmap_mode=mmap_mode, allow_pickle=False
                )

        else:
            archive = np.load(path, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            files = {k: archive[k] for k in archive.files}
            meta = json.loads(str(files.pop("meta")))
            _check_meta(meta)

            def read(key):
                return files[key]

        return _from_saved(meta, read)
    except (ValueError, KeyError, OSError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable skviz WeightRecorder recording: {exc}"
        ) from exc


def _from_saved(meta: dict, read) -> Recording:
    n = int(meta["n_steps"])
    param_names = [str(s) for s in meta["param_names"]]
    shapes = {k: tuple(int(d) for d in v) for k, v in meta["shapes"].items()}
    relative_names = [str(s) for s in meta["relative_update_names"]]

    def checked(key, shape, dtype):
        arr = read(key)
        if arr.dtype != dtype or arr.shape != shape:
            raise ValueError(
                f"array {key!r} has {arr.dtype}{arr.shape}, expected {np.dtype(dtype)}{shape}"
            )
        return arr

    arrays = {}
    if param_names:
        for key in INDEX_KEYS:
            arrays[key] = checked(key, (n,), np.int64)
    for i, name in enumerate(param_names):
        shape = (n, *shapes[name])
        arrays[weight_key(name)] = checked(f"weight_{i:04d}", shape, np.float32)
        if meta["has_gradients"]:
            arrays[gradient_key(name)] = checked(f"gradient_{i:04d}", shape, np.float32)
    if relative_names:
        arrays[RELATIVE_KEY] = checked(
            "relative_updates", (n, len(relative_names)), np.float32
        )
    store = RowStore.from_arrays(arrays)
    return Recording(
        store,
        param_names=param_names,
        shapes=shapes,
        skipped={str(k): int(v) for k, v in meta["skipped"].items()},
        n_batches_seen=int(meta["n_batches_seen"]),
        relative_update_names=relative_names,
        recorder_params=dict(meta["params"]),
    )


def _check_meta(meta) -> None:
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError("missing skviz metadata")
    if meta.get("version") != _FORMAT_VERSION:
        raise ValueError(f"unsupported format version {meta.get('version')!r}")
