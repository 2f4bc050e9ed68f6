"""The layout of a saved recording, and the checks that a loaded one is whole.

Arrays: ``step``, ``epoch``, ``batch`` (int64, when any parameter was
recorded), ``weight_0000`` ... and ``gradient_0000`` ... (float32, one per
recorded parameter, in the order of ``param_names``) and
``relative_updates`` (float32). The metadata (``meta.json`` of a folder,
the ``meta`` entry of an ``.npz``) is written last and lists every array
with its shape, dtype, data bytes and CRC-32, and carries a CRC-32 of
itself. A recording is read only when the metadata is whole, lists exactly
the arrays its parameters call for, and every array matches its entry:
a truncated file, a file from another save, an edited field or a missing
array is refused by name rather than read as a different recording.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
import zlib
from dataclasses import dataclass

import numpy as np

from ._recording import (
    INDEX_KEYS,
    RELATIVE_KEY,
    Recording,
    gradient_key,
    weight_key,
)
from ._store import RowStore

FORMAT = "skviz.WeightRecorder"
# 1: no array listing (refused: its files cannot be checked against each other)
FORMAT_VERSION = 2
META_CRC = "meta_crc32"
_INT64 = np.dtype(np.int64)
_FLOAT32 = np.dtype(np.float32)
_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12 on
_REPR.maxstring = _REPR.maxother = 60
_short = _REPR.repr


@dataclass(frozen=True)
class Saved:
    """One saved array: its name in the files, its store field, its rows."""

    key: str
    field: str
    row_shape: tuple[int, ...]
    dtype: np.dtype


def saved_arrays(
    names: list[str],
    shapes: dict[str, tuple[int, ...]],
    gradients: bool,
    n_relative: int,
) -> list[Saved]:
    """The arrays of a recording, in the order they are written."""
    out = [Saved(k, k, (), _INT64) for k in INDEX_KEYS] if names else []
    for i, name in enumerate(names):
        shape = tuple(shapes[name])
        out.append(Saved(f"weight_{i:04d}", weight_key(name), shape, _FLOAT32))
        if gradients:
            out.append(Saved(f"gradient_{i:04d}", gradient_key(name), shape, _FLOAT32))
    if n_relative:
        out.append(Saved("relative_updates", RELATIVE_KEY, (n_relative,), _FLOAT32))
    return out


def contents(recording: Recording) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata (without its array listing) and the arrays to save."""
    store = recording.store
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": {k: _jsonable(v) for k, v in recording.recorder_params.items()},
        "param_names": list(recording.param_names),
        "shapes": {k: list(v) for k, v in recording.shapes.items()},
        "skipped": dict(recording.skipped),
        "n_steps": recording.n_steps,
        "n_batches_seen": recording.n_batches_seen,
        "relative_update_names": list(recording.relative_update_names),
        "has_gradients": recording.has_gradients,
    }
    n_relative = len(recording.relative_update_names) if RELATIVE_KEY in store else 0
    layout = saved_arrays(
        recording.param_names, recording.shapes, recording.has_gradients, n_relative
    )
    return meta, {s.key: store.view(s.field) for s in layout}


def seal(meta: dict, listing: dict[str, dict]) -> dict:
    """``meta`` with its array listing and its own checksum, ready to write."""
    meta = {**meta, "arrays": listing}
    meta[META_CRC] = _meta_crc(meta)
    return meta


def _meta_crc(meta: dict) -> int:
    body = {k: v for k, v in meta.items() if k != META_CRC}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return zlib.crc32(text.encode("ascii"))


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


@dataclass(frozen=True)
class ArraySpec:
    """What the metadata says one saved array holds."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int
    crc32: int

    def describe(self) -> str:
        return f"{self.dtype}{self.shape}"


@dataclass(frozen=True)
class Layout:
    """Checked metadata of a saved recording."""

    meta: dict
    arrays: dict[str, ArraySpec]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(meta: dict, key: str, kind: str):
    value = meta[key]
    ok = {
        "count": lambda v: _is_int(v) and v >= 0,
        "bool": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "names": lambda v: (
            isinstance(v, list)
            and all(isinstance(s, str) for s in v)
            and len(set(v)) == len(v)
        ),
    }[kind](value)
    if not ok:
        wanted = {
            "count": "an integer >= 0",
            "bool": "true or false",
            "object": "a JSON object",
            "names": "a list of distinct strings",
        }[kind]
        raise ValueError(
            f"metadata field {key!r} must be {wanted}, got {_short(value)}"
        )
    return value


_KEYS = (
    "params",
    "param_names",
    "shapes",
    "skipped",
    "n_steps",
    "n_batches_seen",
    "relative_update_names",
    "has_gradients",
    "arrays",
    META_CRC,
)


def parse_meta(meta: object) -> Layout:
    """Check the metadata of a saved recording; ``ValueError`` names what is wrong."""
    if not isinstance(meta, dict):
        raise ValueError(f"the metadata is not a JSON object: {_short(meta)}")
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"not written by skviz (format {_short(meta.get('format'))}, "
            f"expected {FORMAT!r})"
        )
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"unsupported format version {_short(meta.get('version'))} "
            f"(this skviz reads version {FORMAT_VERSION})"
        )
    missing = [k for k in _KEYS if k not in meta]
    if missing:
        raise ValueError(f"the metadata lacks the fields {missing}")
    for key in ("params", "shapes", "skipped", "arrays"):
        _field(meta, key, "object")
    names = _field(meta, "param_names", "names")
    _field(meta, "relative_update_names", "names")
    n = _field(meta, "n_steps", "count")
    _field(meta, "n_batches_seen", "count")
    gradients = _field(meta, "has_gradients", "bool")
    if not _is_int(meta[META_CRC]):
        raise ValueError(f"metadata field {META_CRC!r} must be an integer")
    shapes = meta["shapes"]
    if set(shapes) != set(names):
        raise ValueError(
            "metadata fields 'shapes' and 'param_names' name different parameters"
        )
    for name, shape in shapes.items():
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ValueError(
                f"shape of {name!r} must be a list of integers >= 0, got {_short(shape)}"
            )
    for name, size in meta["skipped"].items():
        if not _is_int(size) or size < 0:
            raise ValueError(f"skipped size of {name!r} must be an integer >= 0")
    arrays = _listed_arrays(meta, n, names, gradients)
    if not arrays and n:
        raise ValueError(f"n_steps is {n} but no array is listed")
    if meta[META_CRC] != _meta_crc(meta):
        raise ValueError(
            "the metadata was changed after it was written (its checksum differs)"
        )
    return Layout(meta, arrays)


def _listed_arrays(meta: dict, n: int, names: list, gradients: bool) -> dict:
    layout = saved_arrays(
        names, meta["shapes"], gradients, len(meta["relative_update_names"])
    )
    expected = {s.key: ((n, *s.row_shape), s.dtype) for s in layout}
    listing = meta["arrays"]
    if set(listing) != set(expected):
        missing = sorted(set(expected) - set(listing))
        extra = sorted(set(listing) - set(expected))
        raise ValueError(
            f"the metadata lists the wrong arrays (missing {missing}, "
            f"unexpected {extra})"
        )
    specs = {}
    for key, (shape, dtype) in expected.items():
        entry = listing[key]
        try:
            spec = ArraySpec(
                tuple(entry["shape"]),
                np.dtype(entry["dtype"]),
                entry["bytes"],
                entry["crc32"],
            )
            valid = (
                set(entry) == {"shape", "dtype", "bytes", "crc32"}
                and _is_int(spec.nbytes)
                and _is_int(spec.crc32)
                and all(_is_int(d) for d in spec.shape)
            )
        except (TypeError, KeyError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"the metadata entry of array {key!r} is malformed")
        if spec.shape != shape or spec.dtype != dtype:
            raise ValueError(
                f"array {key!r} is listed as {spec.describe()}, but n_steps={n} "
                f"and the parameter shapes call for {dtype}{shape}"
            )
        if spec.nbytes != math.prod(shape) * dtype.itemsize:  # no overflow
            raise ValueError(f"array {key!r} is listed with a wrong size")
        specs[key] = spec
    return specs


def recording_from(layout: Layout, arrays: dict[str, np.ndarray]) -> Recording:
    """The Recording of checked, loaded arrays (keyed by saved name)."""
    meta = layout.meta
    names = list(meta["param_names"])
    layout = saved_arrays(
        names, meta["shapes"], meta["has_gradients"], len(meta["relative_update_names"])
    )
    fields = {s.field: arrays[s.key] for s in layout}
    return Recording(
        RowStore.from_arrays(fields),
        param_names=names,
        shapes={k: tuple(v) for k, v in meta["shapes"].items()},
        skipped=dict(meta["skipped"]),
        n_batches_seen=meta["n_batches_seen"],
        relative_update_names=list(meta["relative_update_names"]),
        recorder_params=dict(meta["params"]),
    )
