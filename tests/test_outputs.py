"""``out=`` never loses data: old results survive every failure, byte for byte.

Each failure is injected where a user meets it: an exception or Ctrl-C
inside the forward pass, a refused rename, a removal that stops half-way,
a full disk. Destinations that cannot work are refused before any forward.
"""

import errno
import hashlib
import os
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _models import FailingNet, WineClassifier, make_net
from _refs import ForwardCounter, leftover_hooks

from skviz import atomic


@pytest.fixture(scope="module")
def fitted(wine):
    X, y = wine
    return make_net(WineClassifier, batch_size=32).fit(X, y)


def snapshot(path: Path) -> dict[str, str]:
    """Digest of every file under ``path`` (or of the file itself)."""
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    )
    return {
        str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
    }


def _os_with(**replaced):
    """The ``os`` module as skviz's file replacement sees it, with some functions replaced."""
    return SimpleNamespace(**{**vars(os), **replaced})


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def old_outputs(fitted, wine, tmp_path):
    """An existing .npy and .zarr result of dense1 (something to lose)."""
    pytest.importorskip("zarr")
    X = wine[0][:40]
    npy, store = tmp_path / "acts.npy", tmp_path / "acts.zarr"
    fitted.transform_layer(X, "dense1", out=npy)
    fitted.transform_layer(X, "dense1", out=store)
    return {".npy": npy, ".zarr": store}


# ---------------------------------------------------------------------------
# Failures while replacing an existing result
# ---------------------------------------------------------------------------


@pytest.fixture
def failing(wine):
    X, y = wine
    net = make_net(FailingNet, module__n_inputs=13, module__n_classes=3).fit(X, y)
    return net, X


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("fail_at", [1, 2, 6])
def test_failure_inside_forward_keeps_the_old_result(
    failing, tmp_path, suffix, error, fail_at
):
    pytest.importorskip("zarr")
    net, X = failing
    target = tmp_path / f"acts{suffix}"
    # "second" runs after the point where FailingNet raises.
    net.transform_layer(X[:20], "second", out=target)
    before = snapshot(target)
    net.module_.n_forward, net.module_.fail_at = 0, fail_at
    net.module_.fail_with = error
    with pytest.raises(error):
        net.transform_layer(X, "second", out=target, batch_size=16)
    net.module_.fail_at = None
    assert snapshot(target) == before
    assert visible(tmp_path) == [target.name]
    assert leftover_hooks(net.module_) == []


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_refused_rename_keeps_the_old_result(
    fitted, wine, old_outputs, suffix, error, monkeypatch
):
    target = old_outputs[suffix]
    before = snapshot(target)

    def refuse(*args, **kwargs):
        raise error(errno.EIO, "injected") if error is OSError else error()

    # Only skviz's own renames fail (zarr renames files of its own).
    monkeypatch.setattr(atomic, "os", _os_with(replace=refuse, rename=refuse))
    monkeypatch.setattr(atomic, "exchange", refuse)
    with pytest.raises(error):
        fitted.transform_layer(wine[0], "dense0", out=target)
    monkeypatch.undo()
    assert snapshot(target) == before
    assert visible(target.parent) == ["acts.npy", "acts.zarr"]


def test_zarr_swap_without_renameat2_keeps_the_old_store_when_the_second_rename_fails(
    fitted, wine, old_outputs, monkeypatch
):
    target = old_outputs[".zarr"]
    before = snapshot(target)
    real_rename = os.rename
    calls = []

    def second_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_rename(src, dst)

    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    monkeypatch.setattr(atomic, "os", _os_with(rename=second_fails))
    with pytest.raises(KeyboardInterrupt):
        fitted.transform_layer(wine[0], "dense0", out=target)
    monkeypatch.undo()
    assert snapshot(target) == before
    assert visible(target.parent) == ["acts.npy", "acts.zarr"]


@pytest.mark.parametrize("swap", ["renameat2", "two renames"])
def test_zarr_replacement_whose_old_store_cannot_be_removed(
    fitted, wine, old_outputs, monkeypatch, swap
):
    # The old store is swapped out first, so a removal that stops half-way
    # (a read-only folder inside it) leaves the new result whole.
    import zarr

    target = old_outputs[".zarr"]
    if swap == "two renames":
        monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    real_rmtree = shutil.rmtree

    def stops_half_way(path, *args, **kwargs):
        handler = kwargs.get("onexc") or kwargs.get("onerror")
        handler(os.unlink, str(path), PermissionError(errno.EACCES, "read-only"))

    monkeypatch.setattr(atomic, "shutil", SimpleNamespace(rmtree=stops_half_way))
    X = wine[0]
    with pytest.warns(RuntimeWarning, match="could not be removed completely"):
        fitted.transform_layer(X, "dense0", out=target)
    monkeypatch.undo()
    np.testing.assert_array_equal(
        zarr.open_array(str(target), mode="r")[:], fitted.transform_layer(X, "dense0")
    )
    for leftover in target.parent.glob(".acts.zarr.*"):
        real_rmtree(leftover)


def test_full_disk_keeps_the_old_npy(fitted, wine, old_outputs, monkeypatch):
    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate on this platform")
    target = old_outputs[".npy"]
    before = snapshot(target)

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="Not enough disk space"):
        fitted.transform_layer(wine[0], "dense0", out=target)
    assert snapshot(target) == before
    assert visible(target.parent) == ["acts.npy", "acts.zarr"]


def test_read_only_npy_is_refused_before_any_forward(fitted, wine, tmp_path):
    target = tmp_path / "acts.npy"
    np.save(target, np.arange(4.0))
    target.chmod(0o444)
    before = snapshot(target)
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(PermissionError, match="read-only"):
            fitted.transform_layer(wine[0], "dense0", out=target)
    assert forwards.count == 0
    assert snapshot(target) == before
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


def test_replaced_npy_keeps_the_old_files_mode(fitted, wine, tmp_path):
    target = tmp_path / "acts.npy"
    np.save(target, np.arange(4.0))
    target.chmod(0o640)
    fitted.transform_layer(wine[0], "dense0", out=target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# ---------------------------------------------------------------------------
# Destinations that cannot work, refused before any forward
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "x.npy").mkdir() or d / "x.npy", "is a folder"),
        (lambda d: (d / "x.zarr").write_text("") or d / "x.zarr", "is a file"),
        (lambda d: d / "missing" / "x.npy", "does not exist"),
        (lambda d: d / "x.csv", "must end in"),
    ],
    ids=["folder_named_npy", "file_named_zarr", "no_folder", "suffix"],
)
def test_wrong_kind_of_path_is_refused_before_any_forward(
    fitted, wine, tmp_path, make, message
):
    target = make(tmp_path)
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(ValueError, match=message):
            fitted.transform_layer(wine[0], "dense0", out=target)
    assert forwards.count == 0


def _shared_destinations(tmp_path):
    array = np.zeros((300, 20), np.float32)
    memmap_path = tmp_path / "m.npy"
    memmap = np.lib.format.open_memmap(
        memmap_path, mode="w+", dtype=np.float32, shape=(178, 20)
    )
    return {
        "same_array": (array[:178], array[:178]),
        "overlapping_views": (array[:178], array[100:278]),
        "same_path": (tmp_path / "a.npy", str(tmp_path / "sub" / ".." / "a.npy")),
        "memmap_and_its_file": (memmap, memmap_path),
    }


@pytest.mark.parametrize(
    "case", ["same_array", "overlapping_views", "same_path", "memmap_and_its_file"]
)
def test_one_destination_for_two_layers_is_refused(fitted, wine, tmp_path, case):
    (tmp_path / "sub").mkdir()
    first, second = _shared_destinations(tmp_path)[case]
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(ValueError, match="same destination"):
            fitted.transform_layers(
                wine[0],
                ["dense0", "dense0@0"],
                out={"dense0": first, "dense0@0": second},
            )
    assert forwards.count == 0
    assert not (tmp_path / "a.npy").exists()


@pytest.mark.parametrize(
    ("names", "out_key"),
    [([" dense0"], " dense0"), ([" dense0 "], "dense0"), (["dense0"], "dense0 ")],
)
def test_out_is_matched_to_the_layer_whatever_the_spaces(
    fitted, wine, tmp_path, names, out_key
):
    target = tmp_path / "d0.npy"
    D = fitted.transform_layers(wine[0], names, out={out_key: target})
    assert list(D) == names
    np.testing.assert_array_equal(
        np.load(target), fitted.transform_layer(wine[0], "dense0")
    )
    assert isinstance(D[names[0]], np.memmap)


def test_the_same_layer_twice_with_spaces_is_a_duplicate(fitted, wine):
    with pytest.raises(ValueError, match="duplicates"):
        fitted.transform_layers(wine[0], ["dense0", " dense0"])
