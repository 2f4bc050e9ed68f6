"""Storage of a recording: the RowStore on its own (preallocation, growth,
spilling past a memory budget, pickling) and a WeightRecorder spilling to
disk."""

import copy
import errno
import gc
import os
import pickle
import tracemalloc
import warnings
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _recording_helpers import WideWine, make_net, wine_data

from skviz.record import RowStore, WeightRecorder, find_recorder, load


@pytest.fixture(scope="module")
def wine():
    return wine_data()


def test_memory_budget_spills_to_disk_and_reads_back_identically(wine, tmp_path):
    X, y = wine
    names = ["dense0.weight", "dense1.weight", "output.weight"]

    def run(**kwargs):
        torch.manual_seed(0)
        rec = WeightRecorder(names, gradients=True, **kwargs)
        net = make_net([rec], max_epochs=1, train_split=None)
        net.initialize()
        # fit_loop with more epochs than max_epochs: the planned capacity is
        # too small, so the arrays must also grow (in memory and on disk)
        net.fit_loop(X, y, epochs=3)
        return rec

    in_memory = run(memory_budget=None)
    budget = 20_000
    with pytest.warns(UserWarning, match="memory_budget"):
        spilled = run(memory_budget=budget, directory=tmp_path)

    assert in_memory.disk_bytes_ == 0
    assert set(in_memory.storage_.values()) == {"memory"}
    on_disk = [n for n, s in spilled.storage_.items() if s != "memory"]
    assert on_disk  # something went to disk ...
    # ... and the parameter arrays (allocated capacity) kept in memory fit the
    # budget; only the step/epoch/batch index (24 bytes a row) is outside it
    store = spilled.recording_.store
    index = ("step", "epoch", "batch")
    # bytes of each field at the store's capacity, wherever it lives
    allocated = {k: store.capacity * store.view(k)[0].nbytes for k in store}
    params_in_memory = sum(
        n
        for k, n in allocated.items()
        if k not in index and store.location(k) == "memory"
    )
    assert 0 < params_in_memory <= budget
    assert store.budget_bytes == params_in_memory
    index_bytes = sum(allocated[k] for k in index)
    assert spilled.nbytes_ == params_in_memory + index_bytes
    del store  # the recording's files live as long as someone holds it
    for n in on_disk:
        path = spilled.storage_[n]
        assert path.startswith(str(tmp_path)) and path.endswith(".npy")
        assert isinstance(spilled.trajectory(n), np.memmap)
    assert spilled.n_steps_ == in_memory.n_steps_ == 1 + 3 * 12
    for n in names:
        np.testing.assert_array_equal(spilled.trajectory(n), in_memory.trajectory(n))
        np.testing.assert_array_equal(
            spilled.grad_trajectory(n), in_memory.grad_trajectory(n)
        )
    np.testing.assert_array_equal(spilled.steps_, in_memory.steps_)

    # a new recording removes the old spill files
    folder = next(tmp_path.iterdir())
    assert any(folder.iterdir())
    spilled.initialize()
    assert not folder.exists()


def test_an_old_recording_keeps_its_files_until_dropped(wine, tmp_path):
    X, y = wine
    rec = WeightRecorder(["dense0.weight"], memory_budget=0, directory=tmp_path)
    net = make_net([rec], max_epochs=1)
    with pytest.warns(UserWarning, match="memory_budget"):
        net.fit(X, y)
    old = rec.recording_
    expected = np.array(old.trajectory("dense0.weight"))
    (folder,) = tmp_path.iterdir()
    with pytest.warns(UserWarning, match="memory_budget"):
        net.fit(X, y)  # a new recording, in a new folder
    assert len(list(tmp_path.iterdir())) == 2
    np.testing.assert_array_equal(old.trajectory("dense0.weight"), expected)
    del old
    assert not folder.exists()


# ----------------------------------------------------------------------
# the row store on its own
# ----------------------------------------------------------------------


def _fill(store, rows, rng):
    """Write ``rows`` rows of random values; returns what was written."""
    written = {k: [] for k in store}
    for _ in range(rows):
        i = store.ensure_row(store.n_rows)
        for key in store:
            value = rng.normal(size=store.row(key, i).shape)
            store.row(key, i)[...] = value
            written[key].append(np.array(store.row(key, i)))
        store.commit_row()
    return {k: np.stack(v) for k, v in written.items()}


def _store(**kwargs):
    store = RowStore(**kwargs)
    store.add("step", (), np.int64, budgeted=False)
    store.add("a", (4, 5), np.float32)
    store.add("b", (30,), np.float32, fill=np.nan)
    return store


def test_row_store_preallocates_and_writes_in_place():
    store = _store()
    assert store.n_rows == store.capacity == 0 and store.nbytes == 0
    store.reserve(10)
    assert store.capacity == 10 and store.n_rows == 0
    assert store.nbytes == 10 * (8 + 4 * 20 + 4 * 30)
    # rows not written yet hold the fill value
    assert np.isnan(store.row("b", 9)).all()
    written = _fill(store, 10, np.random.default_rng(0))
    assert store.capacity == 10  # no growth within the reservation
    assert store.n_rows == 10
    for key, values in written.items():
        view = store.view(key)
        assert view.shape == (10, *store.row(key, 0).shape)
        assert not view.flags.writeable
        np.testing.assert_array_equal(view, values)
    store.reserve(5)  # never shrinks
    assert store.capacity == 10
    with pytest.raises(IndexError, match="ensure_row"):
        store.commit_row()
    with pytest.raises(ValueError, match="already exists"):
        store.add("a", (1,))


def test_row_store_grows_by_doubling_and_keeps_the_rows():
    store = _store()
    assert store.ensure_row(0) == 0 and store.capacity == 16  # the smallest
    written = _fill(store, 40, np.random.default_rng(1))
    assert store.capacity == 64  # 16 -> 32 -> 64
    for key, values in written.items():
        np.testing.assert_array_equal(store.view(key), values)
    # a field added later has the same capacity; earlier rows read as its fill
    store.add("late", (2,), np.float32, fill=-1.0)
    assert store.view("late").shape == (40, 2)
    assert (store.view("late") == -1).all()


def test_row_store_spills_past_the_budget_with_the_same_values(tmp_path):
    in_memory = _store(memory_budget=None)
    reference = _fill(in_memory, 50, np.random.default_rng(2))
    spilled = _store(memory_budget=1500, directory=tmp_path, name="Test")
    rng = np.random.default_rng(2)
    with pytest.warns(UserWarning, match=r"Test: .*memory_budget=1500.*'b'") as record:
        first = _fill(spilled, 10, rng)
    assert len(record) == 1
    # 16 rows of "a" (1,280 bytes) fit the budget; "b" (1,920 more) does not
    assert spilled.capacity == 16
    assert spilled.location("a") == "memory" and spilled.location("b") != "memory"
    assert spilled.budget_bytes == 1280
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per store
        rest = _fill(spilled, 40, rng)
    # at 32 rows "a" (2,560 bytes) no longer fits either
    assert spilled.capacity == 64 and spilled.budget_bytes == 0
    for key in reference:
        written = np.concatenate([first[key], rest[key]])
        np.testing.assert_array_equal(written, reference[key])
        np.testing.assert_array_equal(spilled.view(key), in_memory.view(key))
    assert in_memory.disk_bytes == 0
    assert {in_memory.location(k) for k in in_memory} == {"memory"}
    assert spilled.location("step") == "memory"  # unbudgeted: never spilled
    (folder,) = tmp_path.iterdir()
    for key in ("a", "b"):
        path = spilled.location(key)
        assert path.startswith(str(folder)) and path.endswith(".npy")
        assert isinstance(spilled.view(key), np.memmap)
    assert spilled.disk_bytes == 64 * (4 * 20 + 4 * 30)
    assert spilled.nbytes == 64 * 8
    spilled.release()
    assert not folder.exists()
    assert spilled.n_rows == 0 and spilled.nbytes == spilled.disk_bytes == 0


def test_row_store_zero_budget_puts_every_budgeted_field_on_disk(tmp_path):
    store = _store(memory_budget=0, directory=tmp_path)
    with pytest.warns(UserWarning, match="memory_budget=0"):
        store.reserve(3)
    assert store.budget_bytes == 0
    assert store.location("a") != "memory" and store.location("b") != "memory"


def test_row_store_pickles_committed_rows_and_spilled_fields_stay_on_disk(tmp_path):
    store = _store(memory_budget=0, directory=tmp_path)
    with pytest.warns(UserWarning, match="memory_budget"):
        written = _fill(store, 20, np.random.default_rng(3))
    restored = pickle.loads(pickle.dumps(store))
    assert restored.n_rows == restored.capacity == 20
    # issue 11: the spilled fields are not pulled into memory by pickling
    assert restored.disk_bytes == 20 * (4 * 20 + 4 * 30)
    assert restored.nbytes == 20 * 8  # the unbudgeted index, by value
    for key, values in written.items():
        np.testing.assert_array_equal(restored.view(key), values)
    # and it grows on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spilling again, into a new folder
        _fill(restored, 1, np.random.default_rng(4))
    assert restored.n_rows == 21 and restored.capacity == 40
    np.testing.assert_array_equal(restored.view("a")[:20], written["a"])


def test_row_store_from_arrays_reads_them_as_they_are():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    step = np.arange(3)
    store = RowStore.from_arrays({"a": a, "step": step})
    assert store.n_rows == store.capacity == 3
    np.testing.assert_array_equal(store.view("a"), a)
    assert "a" in store and "b" not in store and len(store) == 2
    with pytest.raises(ValueError, match="different numbers of rows"):
        RowStore.from_arrays({"a": a, "b": step[:2]})
    assert RowStore.from_arrays({}).n_rows == 0


# ----------------------------------------------------------------------
# pickling a recording on disk (issue 11): by reference, never by value
# ----------------------------------------------------------------------


def _digests(recording):
    """CRC-32 of every recorded array (comparing values without copies)."""
    return {
        n: zlib.crc32(np.ascontiguousarray(recording.trajectory(n)))
        for n in recording.param_names
    }


def _on_disk(recording):
    return all(s != "memory" for s in recording.storage.values())


def spilled_net(wine, tmp_path):
    """A net whose recorder spilled some 70 MB to disk in ``tmp_path/spill``
    (not a fixture: the test must be able to drop the last reference)."""
    X, y = wine
    (tmp_path / "spill").mkdir()
    rec = WeightRecorder(memory_budget=0, directory=tmp_path / "spill")
    net = make_net([("rec", rec)], max_epochs=6, module=WideWine, module__width=20_000)
    with pytest.warns(UserWarning, match="memory_budget"):
        net.fit(X, y)
    assert rec.disk_bytes_ > 50 * 2**20
    return net


def _traced_peak(fn, arg):
    """``fn(arg)`` and the peak of memory allocated meanwhile (numpy included)."""
    tracemalloc.start()
    try:
        result = fn(arg)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_spilled_recording_stays_on_disk_through_pickling(wine, tmp_path, how):
    net = spilled_net(wine, tmp_path)
    rec = find_recorder(net)
    spilled = rec.disk_bytes_
    digests = _digests(rec.recording_)
    if how == "pickle":
        blob, peak = _traced_peak(pickle.dumps, net)
        assert len(blob) < spilled / 10  # the net's own weights, not the rows
        copy_, peak_in = _traced_peak(pickle.loads, blob)
        peak = max(peak, peak_in)
    else:
        copy_, peak = _traced_peak(copy.deepcopy, net)
    assert peak < spilled / 5  # the rows were never pulled into memory
    rec2 = find_recorder(copy_)
    assert rec2.recording_ is not rec.recording_
    assert _on_disk(rec2.recording_) and rec2.disk_bytes_ > 50 * 2**20
    assert rec2.nbytes_ < 2**20  # the step index only
    assert _digests(rec2.recording_) == digests
    assert set(rec2.storage_.values()).isdisjoint(rec.storage_.values())

    # the original goes (its spill folder with it); the copy reads on
    folder = Path(rec.storage_["hidden.weight"]).parent
    assert Path(rec2.storage_["hidden.weight"]).parent.parent == folder.parent
    del rec, net
    gc.collect()
    assert not folder.exists()
    assert _digests(rec2.recording_) == digests
    X, y = wine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it spills on, into its own folder
        copy_.partial_fit(X, y)  # and records on
    assert rec2.n_steps_ == 1 + 12 * 9
    recorded = rec2.recording_
    assert {
        n: zlib.crc32(np.ascontiguousarray(recorded.trajectory(n)[:55]))
        for n in recorded.param_names
    } == digests
    del copy_, rec2, recorded
    gc.collect()
    assert list((tmp_path / "spill").iterdir()) == []  # the copy's folder went too


def test_a_pickle_of_a_recording_whose_files_are_gone_loads_and_says_so(wine, tmp_path):
    X, y = wine
    net = spilled_net(wine, tmp_path)
    blob = pickle.dumps(net)
    expected = net.predict(X)
    del net
    gc.collect()
    with pytest.warns(RuntimeWarning, match="cannot be read: .* is gone") as said:
        restored = pickle.loads(blob)
    assert len(said) == 1  # once, not once per file
    np.testing.assert_array_equal(restored.predict(X), expected)  # the net loads
    rec = find_recorder(restored)
    assert rec.param_names_ == [
        "hidden.weight",
        "hidden.bias",
        "out.weight",
        "out.bias",
    ]
    for read in (rec.trajectory, rec.updates):
        with pytest.raises(ValueError, match=r"not readable: .*Recording.save"):
            read("hidden.weight")
    with pytest.raises(ValueError, match="not readable"):
        rec.recording_.save("never-written")
    with pytest.raises(ValueError, match=r"not readable.*recorder's initialize"):
        restored.partial_fit(X, y)  # it does not record on, over missing rows
    rec.initialize()  # a new recording; the net keeps its weights
    np.testing.assert_array_equal(restored.predict(X), expected)
    with pytest.warns(UserWarning, match="memory_budget"):
        restored.partial_fit(X, y)
    assert rec.n_steps_ == 1 + 6 * 9  # max_epochs=6


def test_a_file_handed_to_a_pickle_outlives_the_originals_growth(wine, tmp_path):
    X, y = wine
    rec = WeightRecorder(["dense0.weight"], memory_budget=0, directory=tmp_path)
    net = make_net([rec], max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
        blob = pickle.dumps(rec.recording_)
        expected = np.array(rec.trajectory("dense0.weight"))
        old_file = rec.storage_["dense0.weight"]
        net.partial_fit(X, y, epochs=3)  # grows into a new file
    assert rec.storage_["dense0.weight"] != old_file
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.trajectory("dense0.weight"), expected)


def test_without_hard_links_the_copy_takes_its_own_copy_on_disk(
    wine, tmp_path, monkeypatch
):
    from skviz.record import _spill

    X, y = wine
    rec = WeightRecorder(["dense0.weight"], memory_budget=0, directory=tmp_path)
    with pytest.warns(UserWarning, match="memory_budget"):
        make_net([rec], max_epochs=1).fit(X, y)
    expected = np.array(rec.trajectory("dense0.weight"))

    def no_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(_spill, "os", SimpleNamespace(**{**vars(os), "link": no_link}))
    restored = pickle.loads(pickle.dumps(rec.recording_))
    monkeypatch.undo()
    path = Path(restored.storage["dense0.weight"])
    assert path.stat().st_nlink == 1  # a file of its own
    del rec
    gc.collect()
    np.testing.assert_array_equal(restored.trajectory("dense0.weight"), expected)


@pytest.mark.parametrize("mmap_mode", ["r", "c"])
def test_a_mapped_recording_pickles_as_a_reference_to_its_files(
    wine, tmp_path, mmap_mode
):
    X, y = wine
    rec = WeightRecorder(["dense0.weight", "output"])
    make_net([rec], max_epochs=1).fit(X, y)
    folder = rec.save(tmp_path / "rec")
    mapped = load(folder, mmap_mode=mmap_mode)
    assert _on_disk(mapped)
    assert mapped.storage["dense0.weight"] == str(folder / "weight_0000.npy")
    blob = pickle.dumps(mapped)
    assert len(blob) < 4000
    restored = pickle.loads(blob)
    assert restored.storage == mapped.storage
    assert _digests(restored) == _digests(rec.recording_)
    # replaced after unpickling: the copy keeps the data it mapped
    other = WeightRecorder(["dense0.weight", "output"])
    make_net([other], max_epochs=2).fit(X, y)
    other.save(folder)
    assert _digests(restored) == _digests(rec.recording_)
    assert _digests(mapped) == _digests(rec.recording_)  # so does the original
    # and pickled again, it cannot refer to files replaced under their names:
    # its rows go by value, never the new recording's
    with pytest.warns(RuntimeWarning, match="removed or replaced"):
        again = pickle.loads(pickle.dumps(mapped))
    assert _digests(again) == _digests(rec.recording_)
    # replaced before unpickling: refused, not read as the new recording
    with pytest.warns(RuntimeWarning, match="has been replaced or changed"):
        stale = pickle.loads(blob)
    with pytest.raises(ValueError, match="not readable"):
        stale.trajectory("dense0.weight")
    assert list(folder.iterdir())  # the user's files are never removed
    del restored, mapped
    gc.collect()
    assert len(list(folder.iterdir())) == 7
