"""Saving a recording never loses the one it replaces (issue 11).

Each failure is injected where a user meets it: an exception or Ctrl-C at
every step of the write, a refused rename or permission, a full disk, and
saving a memory-mapped recording over its own files. After each, the old
recording is checked byte for byte (sha256 of every file) and nothing is
left beside it.
"""

import errno
import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
from _recording_helpers import WideWine, recorded, snapshot, visible, wine_data

from skviz import atomic
from skviz.record import _io, load

SUFFIXES = ["", ".npz"]


@pytest.fixture(scope="module")
def wine():
    return wine_data()


@pytest.fixture(scope="module")
def two(wine):
    """Two different recordings of the same parameters: old and new."""
    X, y = wine
    kwargs = dict(
        params=["output.bias"], gradients=True, relative_updates=True, max_epochs=1
    )
    return (
        recorded(X, y, seed=0, **kwargs).recording_,
        recorded(X, y, seed=1, **kwargs).recording_,
    )


def assert_same_recording(a, b):
    assert a.param_names == b.param_names and a.n_steps == b.n_steps
    for name in a.param_names:
        np.testing.assert_array_equal(a.trajectory(name), b.trajectory(name))
    np.testing.assert_array_equal(a.steps, b.steps)


# ---------------------------------------------------------------------------
# Saving a memory-mapped recording over its own files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("width", [20, 1000], ids=["small", "3MB"])
@pytest.mark.parametrize("mmap_mode", ["r", "c"])
def test_saving_a_mapped_recording_over_its_own_folder_keeps_it(
    wine, tmp_path, width, mmap_mode
):
    X, y = wine
    net = dict(module=WideWine, module__width=width)
    rec = recorded(X, y, max_epochs=7, net=net)
    folder = rec.save(tmp_path / "rec")
    if width == 1000:
        assert sum(p.stat().st_size for p in folder.iterdir()) > 3 * 10**6
    before = snapshot(folder)
    mapped = load(folder, mmap_mode=mmap_mode)
    assert mapped.save(folder) == folder
    # the same content, byte for byte, and both recordings read it back
    assert snapshot(folder) == before
    assert visible(tmp_path) == ["rec"]
    assert_same_recording(load(folder), rec.recording_)
    assert_same_recording(mapped, rec.recording_)


def test_saving_a_loaded_archive_over_itself_keeps_it(two, tmp_path):
    path = two[0].save(tmp_path / "rec.npz")
    before = snapshot(path)
    load(path).save(path)
    assert snapshot(path) == before
    assert_same_recording(load(path), two[0])


# ---------------------------------------------------------------------------
# A failure at every step of the write
# ---------------------------------------------------------------------------


class HookedFile:
    """A file whose every write first calls ``before(data)`` (which may raise)."""

    def __init__(self, file, before):
        self._file, self._before = file, before

    def write(self, data):
        self._before(data)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def hook_writes(monkeypatch, before, on_open=None):
    """Every file the recording I/O opens calls ``before(data)`` at each write."""

    def hooked_open(*args, **kwargs):
        if on_open is not None:
            on_open()
        return HookedFile(open(*args, **kwargs), before)

    monkeypatch.setattr(_io, "open", hooked_open, raising=False)


class Faults:
    """Counts each write step of a save and raises at step ``fail_at``.

    The steps: opening a file, each write into it, syncing, creating and
    chmod-ing, and every rename, replace and swap; only skviz's own calls
    are patched (``_io``'s and ``atomic``'s names), never the global ones.
    """

    def __init__(self, fail_at=None, error=RuntimeError):
        self.fail_at, self.error, self.steps = fail_at, error, []

    def step(self, what):
        self.steps.append(what)
        if len(self.steps) == self.fail_at:
            if isinstance(self.error, OSError):
                raise self.error
            raise self.error(f"injected at step {len(self.steps)}: {what}")

    def wrap(self, what, fn):
        def wrapped(*args, **kwargs):
            self.step(what)
            return fn(*args, **kwargs)

        return wrapped

    def install(self, monkeypatch, exchange=True):
        hook_writes(
            monkeypatch, lambda data: self.step("write"), lambda: self.step("open")
        )
        names = ("mkdir", "chmod", "replace", "rename")
        for module in (_io, atomic):
            patched = {n: self.wrap(n, getattr(os, n)) for n in names}
            # counted, not done: syncing to the disk is what makes tests slow
            patched["fsync"] = self.wrap("fsync", lambda fd: None)
            monkeypatch.setattr(
                module, "os", SimpleNamespace(**{**vars(os), **patched})
            )
        swap = atomic.exchange if exchange else (lambda a, b: False)
        monkeypatch.setattr(atomic, "exchange", self.wrap("exchange", swap))
        return self


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("swap", ["renameat2", "two renames"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failure_at_every_write_step_keeps_the_old_recording(
    two, tmp_path, monkeypatch, suffix, swap, error
):
    old, new = two
    (tmp_path / "ref").mkdir()
    done = new.save(tmp_path / "ref" / f"rec{suffix}")
    after = snapshot(done)
    target = old.save(tmp_path / f"rec{suffix}")
    before = snapshot(target)
    with monkeypatch.context() as patch:
        counted = Faults().install(patch, exchange=swap == "renameat2")
        new.save(tmp_path / f"count{suffix}")  # a new name: nothing to swap
        old.save(tmp_path / f"count{suffix}")  # replacing: every step
    swapped = "exchange" if swap == "renameat2" else "rename"
    if suffix == ".npz":
        swapped = "replace"
    assert {"open", "write", "fsync", swapped} <= set(counted.steps)
    for fail_at in range(1, len(counted.steps) + 1):
        old.save(target)
        with monkeypatch.context() as patch:
            Faults(fail_at, error).install(patch, exchange=swap == "renameat2")
            try:
                new.save(target)
            except error:
                failed = True
            else:
                failed = False
        # the old recording, byte for byte, until the new one is complete
        assert snapshot(target) in (before, after), fail_at
        if failed and snapshot(target) == before:
            assert_same_recording(load(target), old)
        assert visible(tmp_path) == sorted(["count" + suffix, "ref", target.name])
    assert snapshot(new.save(target)) == after


def full_disk(written, room=None):
    """A write hook: a disk with ``room`` bytes left (None: it only counts)."""

    def write(data):
        written.append(len(data) if isinstance(data, str) else memoryview(data).nbytes)
        if room is not None and sum(written) > room:
            raise OSError(errno.ENOSPC, "No space left on device")

    return write


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.97])
def test_a_full_disk_keeps_the_old_recording(
    two, tmp_path, monkeypatch, suffix, fraction
):
    old, new = two
    target = old.save(tmp_path / f"rec{suffix}")
    before = snapshot(target)
    written = []
    with monkeypatch.context() as patch:
        hook_writes(patch, full_disk(written))
        new.save(tmp_path / "ref" / f"rec{suffix}")  # how much a save writes
    room = int(sum(written) * fraction)
    written.clear()
    hook_writes(monkeypatch, full_disk(written, room))
    with pytest.raises(OSError, match="No space left"):
        new.save(target)
    monkeypatch.undo()
    assert snapshot(target) == before
    assert visible(tmp_path) == sorted(["ref", target.name])


@pytest.mark.parametrize(
    ("suffix", "refused"),
    [
        ("", "mkdir"),
        ("", "open"),
        ("", "install"),
        (".npz", "open"),
        (".npz", "install"),
    ],
)
def test_a_refused_permission_keeps_the_old_recording(
    two, tmp_path, monkeypatch, suffix, refused
):
    old, new = two
    target = old.save(tmp_path / f"rec{suffix}")
    before = snapshot(target)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied (injected)")

    if refused == "open":
        monkeypatch.setattr(_io, "open", refuse, raising=False)
    elif refused == "mkdir":
        monkeypatch.setattr(_io, "os", SimpleNamespace(**{**vars(os), "mkdir": refuse}))
    else:  # every way of putting the new recording in place
        monkeypatch.setattr(atomic, "exchange", refuse)
        refused_os = {**vars(os), "rename": refuse, "replace": refuse}
        monkeypatch.setattr(atomic, "os", SimpleNamespace(**refused_os))
    with pytest.raises(PermissionError, match="injected"):
        new.save(target)
    monkeypatch.undo()
    assert snapshot(target) == before
    assert visible(tmp_path) == [target.name]


# ---------------------------------------------------------------------------
# Targets refused before anything is written
# ---------------------------------------------------------------------------


def _read_only(target):
    if target.is_dir():
        return [target, *target.iterdir()]
    return [target]


@pytest.mark.parametrize(
    ("suffix", "which"),
    [(".npz", "file"), ("", "folder"), ("", "meta.json"), ("", "weight_0000.npy")],
)
def test_a_read_only_recording_is_refused_before_anything_is_written(
    two, tmp_path, monkeypatch, suffix, which
):
    old, new = two
    target = old.save(tmp_path / f"rec{suffix}")
    path = target if which in ("file", "folder") else target / which
    mode = stat.S_IMODE(path.stat().st_mode)
    path.chmod(mode & ~0o222)
    before = snapshot(target)
    with monkeypatch.context() as patch:
        faults = Faults().install(patch)
        with pytest.raises(PermissionError, match="read-only; it is not replaced"):
            new.save(target)
    assert faults.steps == []
    assert snapshot(target) == before
    assert stat.S_IMODE(path.stat().st_mode) == mode & ~0o222
    assert visible(tmp_path) == [target.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_replaced_recording_keeps_the_old_permissions(two, tmp_path, suffix):
    old, new = two
    target = old.save(tmp_path / f"rec{suffix}")
    paths = _read_only(target)
    modes = {}
    for i, path in enumerate(paths):
        modes[path] = 0o750 if path.is_dir() else (0o640, 0o604)[i % 2]
        path.chmod(modes[path])
    new.save(target)
    for path, mode in modes.items():
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name
    assert_same_recording(load(target), new)


def test_a_folder_with_other_files_is_not_replaced(two, tmp_path, monkeypatch):
    old, new = two
    target = old.save(tmp_path / "rec")
    (target / "notes.txt").write_text("mine")
    (target / "sub").mkdir()
    before = snapshot(target)
    with monkeypatch.context() as patch:
        faults = Faults().install(patch)
        with pytest.raises(ValueError, match=r"notes\.txt, sub.*not replaced"):
            new.save(target)
    assert faults.steps == []
    assert snapshot(target) == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "rec").write_text("x") and d / "rec", "a file has that name"),
        (lambda d: (d / "a.npz").mkdir() or d / "a.npz", "it is a folder"),
    ],
    ids=["file_for_folder", "folder_for_npz"],
)
def test_a_target_of_the_wrong_kind_is_refused(two, tmp_path, make, message):
    target = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match=message):
        two[0].save(target)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_an_empty_folder_and_new_parent_folders_are_written(two, tmp_path):
    (tmp_path / "empty").mkdir()
    new_parents = [tmp_path / "a" / "b" / "rec", tmp_path / "c" / "rec.npz"]
    for target in (tmp_path / "empty", *new_parents):
        assert two[0].save(target) == target
        assert_same_recording(load(target), two[0])


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failure_while_saving_a_mapped_recording_over_itself_keeps_it(
    two, tmp_path, monkeypatch, error
):
    target = two[0].save(tmp_path / "rec")
    before = snapshot(target)
    mapped = load(target, mmap_mode="r")
    with monkeypatch.context() as patch:
        counted = Faults().install(patch)
        mapped.save(target)
    for fail_at in range(1, len(counted.steps) + 1):
        mapped = load(target, mmap_mode="r")
        with monkeypatch.context() as patch:
            Faults(fail_at, error).install(patch)
            with pytest.raises(error):
                mapped.save(target)
        assert snapshot(target) == before, fail_at
        assert visible(tmp_path) == ["rec"]
        assert_same_recording(mapped, two[0])
