"""Recording files: exact save/load round trips in both formats, what load
returns, and files with pickles refused unread."""

import io
import json
import pickle
import shutil
import zipfile
import zlib

import numpy as np
import pytest
import torch
from _recording_helpers import make_net, wine_data

from skviz.record import Recording, WeightRecorder, load


@pytest.fixture(scope="module")
def wine():
    return wine_data()


@pytest.mark.parametrize("suffix", [".npz", ""])
def test_save_load_round_trip_is_exact(wine, tmp_path, suffix):
    X, y = wine
    rec = WeightRecorder(
        ["dense1.weight", "output.bias"], gradients=True, relative_updates=True, every=2
    )
    make_net([rec], max_epochs=2).fit(X, y)
    path = rec.save(tmp_path / f"rec{suffix}")
    loaded = WeightRecorder.load(path)  # the same as skviz.record.load
    assert isinstance(loaded, Recording)
    assert loaded.recorder_params == rec.get_params()
    assert loaded.param_names == rec.param_names_
    assert loaded.shapes == rec.shapes_
    assert loaded.n_batches_seen == rec.n_batches_seen_
    assert loaded.n_steps == rec.n_steps_
    for attr in ("steps", "epochs", "batches"):
        np.testing.assert_array_equal(getattr(loaded, attr), getattr(rec, attr + "_"))
    for n in rec.param_names_:
        np.testing.assert_array_equal(loaded.trajectory(n), rec.trajectory(n))
        np.testing.assert_array_equal(loaded.grad_trajectory(n), rec.grad_trajectory(n))
    a, b = loaded.relative_update_sizes(), rec.relative_update_sizes()
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert list(a.columns) == list(b.columns)
    if suffix == "":
        mapped = load(path, mmap_mode="r")
        assert isinstance(mapped.trajectory("dense1.weight"), np.memmap)


class _Payload:
    """Pickling this would run ``open(marker, "w")`` on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_refuses_pickled_content(wine, tmp_path):
    X, y = wine
    rec = WeightRecorder(["output.weight"])
    make_net([rec], max_epochs=1).fit(X, y)
    marker = tmp_path / "executed"

    # 1. an .npz whose metadata is replaced by a pickled object array
    good = rec.save(tmp_path / "good.npz")
    with np.load(good) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["weight_0000"] = np.array([_Payload(marker)], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    # 2. a plain pickle under an .npz name
    (tmp_path / "raw.npz").write_bytes(pickle.dumps(_Payload(marker)))
    # 3. a folder recording with one pickled .npy
    folder = rec.save(tmp_path / "folder")
    np.save(
        folder / "weight_0000.npy",
        np.array([_Payload(marker)], dtype=object),
        allow_pickle=True,
    )

    for path in ("evil.npz", "raw.npz", "folder"):
        with pytest.raises(ValueError, match=r"^not a readable recording: "):
            WeightRecorder.load(tmp_path / path)
    assert not marker.exists()

    with pytest.raises(FileNotFoundError):
        WeightRecorder.load(tmp_path / "missing.npz")


def test_load_returns_a_recording_that_saves_the_same_files(wine, tmp_path):
    X, y = wine
    rec = WeightRecorder(["dense0", "output.weight"], every=3)
    make_net([rec], max_epochs=1).fit(X, y)
    first = rec.save(tmp_path / "first")
    loaded = load(first)
    assert isinstance(loaded, Recording)
    assert not isinstance(loaded, WeightRecorder)  # it belongs to no net
    assert not loaded.has_gradients and loaded.relative_update_names == []
    assert repr(loaded) == "Recording(3 parameters, 4 steps)"
    second = loaded.save(tmp_path / "second")
    assert sorted(p.name for p in first.iterdir()) == sorted(
        p.name for p in second.iterdir()
    )
    assert json.loads((first / "meta.json").read_text()) == json.loads(
        (second / "meta.json").read_text()
    )
    for path in first.glob("*.npy"):
        np.testing.assert_array_equal(np.load(path), np.load(second / path.name))
    # the recorder's own save writes what its recording saves
    npz = rec.recording_.save(tmp_path / "rec.npz")
    np.testing.assert_array_equal(
        load(npz).trajectory("dense0.bias"), rec.trajectory("dense0.bias")
    )


def test_load_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="mmap_mode"):
        load(tmp_path, mmap_mode="w+")
    (tmp_path / "meta.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match=r"^not a readable recording: "):
        load(tmp_path)


# ----------------------------------------------------------------------
# Damaged and mixed files: refused by name, never read as something else
# ----------------------------------------------------------------------

PREFIX = "not a readable recording: "


@pytest.fixture(scope="module")
def saved(wine, tmp_path_factory):
    """A recording with every kind of array, saved in both formats."""
    X, y = wine
    torch.manual_seed(0)
    rec = WeightRecorder(
        ["dense1.weight", "output.bias"], gradients=True, relative_updates=True
    )
    make_net([rec], max_epochs=1).fit(X, y)
    folder = tmp_path_factory.mktemp("saved")
    return rec.recording_, rec.save(folder / "rec"), rec.save(folder / "rec.npz")


def refused(path, *phrases, **kwargs):
    """Load ``path``: a ValueError that starts with PREFIX and names the problem."""
    with pytest.raises(ValueError) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert message.startswith(PREFIX), message
    for phrase in phrases:
        assert phrase in message, message
    return message


def copy(src, tmp_path):
    dst = tmp_path / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    return dst


def reseal(meta):
    """The metadata checksum recomputed: an edit made to look consistent."""
    body = {k: v for k, v in meta.items() if k != "meta_crc32"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return {**body, "meta_crc32": zlib.crc32(text.encode("ascii"))}


def edit_meta(folder, change, seal=True):
    meta = json.loads((folder / "meta.json").read_text())
    change(meta)
    (folder / "meta.json").write_text(json.dumps(reseal(meta) if seal else meta))


def assert_equal_recordings(a, b):
    assert (a.param_names, a.shapes, a.skipped) == (b.param_names, b.shapes, b.skipped)
    assert (a.n_steps, a.n_batches_seen) == (b.n_steps, b.n_batches_seen)
    assert a.recorder_params == b.recorder_params
    assert a.relative_update_names == b.relative_update_names
    for n in a.param_names:
        np.testing.assert_array_equal(a.trajectory(n), b.trajectory(n))
        np.testing.assert_array_equal(a.grad_trajectory(n), b.grad_trajectory(n))
    for attr in ("steps", "epochs", "batches"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_array_equal(
        a.relative_update_sizes().to_numpy(), b.relative_update_sizes().to_numpy()
    )


def test_the_metadata_lists_every_array(saved):
    _, folder, _ = saved
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["version"] == 2
    files = sorted(p.stem for p in folder.glob("*.npy"))
    assert sorted(meta["arrays"]) == files
    for key, entry in meta["arrays"].items():
        data = np.load(folder / f"{key}.npy")
        assert entry == {
            "shape": list(data.shape),
            "dtype": data.dtype.str,
            "bytes": data.nbytes,
            "crc32": zlib.crc32(data),
        }
    assert reseal(meta) == meta


@pytest.mark.parametrize("mmap_mode", [None, "r"])
def test_a_truncated_npy_in_a_folder_is_refused(saved, tmp_path, mmap_mode):
    _, src, _ = saved
    for file in sorted(src.glob("*.npy")):
        size = file.stat().st_size
        for keep in (0, 5, 60, size - 4, size - 1):
            folder = copy(src, tmp_path / f"{file.stem}-{keep}")
            with open(folder / file.name, "r+b") as f:
                f.truncate(keep)
            refused(folder, file.name, mmap_mode=mmap_mode)
    folder = copy(src, tmp_path / "longer")
    with open(folder / "step.npy", "ab") as f:
        f.write(b"\0" * 8)
    refused(folder, "step.npy has 8 bytes after its data")


def test_a_missing_array_file_is_refused(saved, tmp_path):
    _, src, _ = saved
    for file in sorted(src.glob("*.npy")):
        folder = copy(src, tmp_path / file.stem)
        (folder / file.name).unlink()
        refused(folder, f"array file {file.name} is missing")
    folder = copy(src, tmp_path / "no-meta")
    (folder / "meta.json").unlink()
    refused(folder, "no meta.json")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("{", "meta.json is not valid JSON"),
        ("", "meta.json is not valid JSON"),
        ("\xff\xfe", "meta.json is not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"text"', "not a JSON object"),
        ('{"format": "skviz.WeightRecorder"}', "unsupported format version None"),
    ],
)
def test_meta_json_that_is_not_a_recordings_metadata_is_refused(
    saved, tmp_path, text, phrase
):
    folder = copy(saved[1], tmp_path)
    (folder / "meta.json").write_bytes(text.encode("latin-1"))
    refused(folder, phrase)


def test_meta_json_with_a_missing_field_is_refused(saved, tmp_path):
    fields = list(json.loads((saved[1] / "meta.json").read_text()))
    assert len(fields) == 12  # every field the metadata has, each left out
    for key in fields:
        folder = copy(saved[1], tmp_path / key)
        edit_meta(folder, lambda meta, k=key: meta.pop(k), seal=key != "meta_crc32")
        phrase = {"format": "not written by skviz", "version": "format version None"}
        refused(folder, phrase.get(key, f"lacks the fields ['{key}']"))


WRONG_TYPES = [
    ("params", [1], "'params' must be a JSON object"),
    ("param_names", "dense1.weight", "'param_names' must be a list of distinct"),
    ("param_names", ["output.bias", "output.bias"], "list of distinct strings"),
    ("param_names", [1, 2], "list of distinct strings"),
    ("shapes", {"dense1.weight": [10, 20]}, "name different parameters"),
    ("shapes", None, "'shapes' must be a JSON object"),
    ("skipped", {"x": "big"}, "skipped size of 'x'"),
    ("n_steps", "10", "'n_steps' must be an integer >= 0"),
    ("n_steps", -1, "'n_steps' must be an integer >= 0"),
    ("n_steps", True, "'n_steps' must be an integer >= 0"),
    ("n_steps", 10.0, "'n_steps' must be an integer >= 0"),
    ("n_batches_seen", None, "'n_batches_seen' must be an integer"),
    ("relative_update_names", {}, "'relative_update_names' must be a list"),
    ("has_gradients", 1, "'has_gradients' must be true or false"),
    ("arrays", [], "'arrays' must be a JSON object"),
    ("meta_crc32", "0", "'meta_crc32' must be an integer"),
    ("version", "2", "unsupported format version '2'"),
    ("version", 1, "unsupported format version 1"),
    ("format", "other", "not written by skviz"),
]


@pytest.mark.parametrize(("key", "value", "phrase"), WRONG_TYPES)
def test_meta_json_with_a_wrong_type_is_refused(saved, tmp_path, key, value, phrase):
    folder = copy(saved[1], tmp_path)
    edit_meta(folder, lambda meta: meta.update({key: value}), key != "meta_crc32")
    refused(folder, phrase)


def _shrink_listing(meta):
    meta["arrays"]["weight_0000"]["shape"][0] -= 1


def _huge(meta):
    """A consistent listing of 10**15 rows: the files, not memory, refuse it."""
    meta["n_steps"] = 10**15
    for entry in meta["arrays"].values():
        rows = entry["shape"][0]
        entry["bytes"] = entry["bytes"] // rows * 10**15
        entry["shape"][0] = 10**15


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (lambda m: m["shapes"]["output.bias"].append(1), "'weight_0001' is listed"),
        (_shrink_listing, "'weight_0000' is listed as float32(9,"),
        (
            _huge,
            "step.npy holds int64(10,), the metadata lists int64(1000000000000000,)",
        ),
        (lambda m: m.update(n_steps=m["n_steps"] + 1), "n_steps=11"),
        (lambda m: m.update(has_gradients=False), "unexpected ['gradient_0000'"),
        (lambda m: m["arrays"].pop("relative_updates"), "missing ['relative_upd"),
        (lambda m: m["arrays"]["step"].update(dtype="<f8"), "'step' is listed as"),
        (lambda m: m["arrays"]["step"].update(bytes=1), "listed with a wrong size"),
        (lambda m: m["arrays"]["step"].pop("crc32"), "entry of array 'step' is mal"),
        (lambda m: m["arrays"]["step"].update(shape="x"), "'step' is malformed"),
    ],
)
def test_a_listing_that_disagrees_with_the_recording_is_refused(
    saved, tmp_path, change, phrase
):
    folder = copy(saved[1], tmp_path)
    edit_meta(folder, change)
    refused(folder, phrase)


def test_arrays_whose_row_counts_disagree_are_refused(saved, tmp_path):
    recording, src, _ = saved
    n = recording.n_steps
    # one array with a row less, its listing made to match it
    folder = copy(src, tmp_path / "one")
    short = np.load(folder / "weight_0000.npy")[:-1]
    np.save(folder / "weight_0000.npy", short)
    refused(folder, "weight_0000.npy holds float32", f"({n}, 10, 20)")

    def shorter(meta):
        meta["arrays"]["weight_0000"].update(
            shape=list(short.shape), bytes=short.nbytes, crc32=zlib.crc32(short)
        )

    edit_meta(folder, shorter)
    refused(folder, f"'weight_0000' is listed as float32({n - 1}, 10, 20)")


@pytest.mark.parametrize("mmap_mode", [None, "r", "c"])
def test_a_folder_mixing_files_of_two_saves_is_refused(
    wine, saved, tmp_path, mmap_mode
):
    recording, src, _ = saved
    X, y = wine
    torch.manual_seed(1)  # same parameters, shapes and steps; other values
    other = WeightRecorder(
        ["dense1.weight", "output.bias"], gradients=True, relative_updates=True
    )
    make_net([other], max_epochs=1).fit(X, y)
    theirs = other.save(tmp_path / "other")
    for name in ["meta.json", *sorted(p.name for p in src.glob("*.npy"))]:
        if name in ("step.npy", "epoch.npy", "batch.npy"):
            continue  # the same in both saves
        folder = copy(src, tmp_path / f"mix-{name}")
        shutil.copyfile(theirs / name, folder / name)
        refused(
            folder, "CRC-32 differs" if name != "meta.json" else "", mmap_mode=mmap_mode
        )
    # without the checksum pass, sizes and shapes are still checked
    folder = copy(src, tmp_path / "cut")
    with open(folder / "weight_0000.npy", "r+b") as f:
        f.truncate(200)
    refused(folder, "truncated", mmap_mode=mmap_mode, verify=False)
    assert_equal_recordings(load(src, mmap_mode, verify=False), recording)


def test_an_edited_value_in_meta_json_is_refused(saved, tmp_path):
    folder = copy(saved[1], tmp_path)
    edit_meta(folder, lambda m: m.update(n_batches_seen=1), seal=False)
    refused(folder, "changed after it was written")
    folder = copy(saved[1], tmp_path / "b")
    text = (folder / "meta.json").read_text().replace("output.bias", "output.biaz")
    (folder / "meta.json").write_text(text)
    refused(folder, "changed after it was written")


@pytest.mark.parametrize("kind", ["folder", "npz"])
def test_damage_anywhere_is_refused_or_changes_nothing(saved, tmp_path, kind):
    """Truncation and flipped bytes at positions all over every file."""
    recording, folder, npz = saved
    files = sorted(folder.iterdir()) if kind == "folder" else [npz]
    for file in files:
        data = file.read_bytes()
        step = max(1, len(data) // (97 if kind == "npz" else 41))
        for cut in [*range(0, len(data), step), len(data) - 1]:
            damaged = copy(folder if kind == "folder" else npz, tmp_path / f"t{cut}")
            target = damaged / file.name if kind == "folder" else damaged
            target.write_bytes(data[:cut])
            refused(damaged)
            shutil.rmtree(damaged) if kind == "folder" else damaged.unlink()
        for pos in [*range(0, len(data), step), len(data) - 1]:
            damaged = copy(folder if kind == "folder" else npz, tmp_path / f"f{pos}")
            target = damaged / file.name if kind == "folder" else damaged
            flipped = bytearray(data)
            flipped[pos] ^= 0x55
            target.write_bytes(bytes(flipped))
            try:
                loaded = load(damaged)
            except ValueError as err:
                assert str(err).startswith(PREFIX), (file.name, pos, err)
            else:  # a byte that carries nothing (header padding, JSON space)
                assert_equal_recordings(loaded, recording)
            shutil.rmtree(damaged) if kind == "folder" else damaged.unlink()


def _rezip(src, dst, drop=(), add=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename not in drop:
                zout.writestr(info, zin.read(info))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_damaged_npz_archives_are_refused(saved, tmp_path):
    _, _, npz = saved
    (tmp_path / "empty.npz").write_bytes(b"")
    refused(tmp_path / "empty.npz", "not an .npz archive", "BadZipFile")
    (tmp_path / "cut.npz").write_bytes(npz.read_bytes()[:-100])
    refused(tmp_path / "cut.npz", "a damaged or truncated .npz archive")
    refused(_rezip(npz, tmp_path / "a.npz", drop=["meta.npy"]), "has no meta.npy")
    refused(
        _rezip(npz, tmp_path / "b.npz", drop=["weight_0001.npy"]),
        "has no weight_0001.npy",
    )
    buffer = io.BytesIO()
    np.save(buffer, np.array([1, 2]))
    bad_meta = _rezip(
        npz, tmp_path / "c.npz", drop=["meta.npy"], add={"meta.npy": buffer.getvalue()}
    )
    refused(bad_meta, "meta entry is not a string")
    buffer = io.BytesIO()
    np.save(buffer, np.array("{not json"))
    bad_json = _rezip(
        npz, tmp_path / "d.npz", drop=["meta.npy"], add={"meta.npy": buffer.getvalue()}
    )
    refused(bad_json, "metadata is not valid JSON")
    np.save(tmp_path / "plain.npy", np.arange(3))
    refused(tmp_path / "plain.npy", "not an .npz archive")


def test_load_documents_its_refusals():
    doc = load.__doc__
    assert "ValueError" in doc and '"not a readable recording: "' in doc
    for word in ("truncated", "metadata", "missing", "pickled"):
        assert word in doc
