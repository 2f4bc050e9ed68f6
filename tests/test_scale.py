"""Beyond RAM and beyond one process: ``out=``, progress, dask arrays, and
model selection on a dask.distributed cluster."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from _models import FailingNet, WineClassifier
from _refs import ForwardCounter
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from torch import nn

from skviz import InspectableNeuralNetClassifier


def make_net(module=WineClassifier, **kwargs):
    params = {
        "max_epochs": 3,
        "lr": 0.03,
        "optimizer": torch.optim.Adam,
        "criterion": nn.CrossEntropyLoss,
        "batch_size": 32,
        "train_split": None,
        "verbose": 0,
    }
    params.update(kwargs)
    return InspectableNeuralNetClassifier(module, **params)


@pytest.fixture(scope="module")
def fitted(wine):
    X, y = wine
    return make_net().fit(X, y)


def leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------


@pytest.mark.parametrize("flatten", [False, True])
def test_out_array_and_memmap_equal_in_memory(fitted, wine, tmp_path, flatten):
    X, _ = wine
    expected = fitted.transform_layer(X, "dense1", flatten=flatten, batch_size=16)
    target = np.full(expected.shape, np.nan, dtype=np.float32)
    got = fitted.transform_layer(
        X, "dense1", out=target, batch_size=16, flatten=flatten
    )
    assert got is target
    np.testing.assert_array_equal(target, expected)

    mm = np.lib.format.open_memmap(
        tmp_path / "m.npy", mode="w+", dtype=np.float32, shape=expected.shape
    )
    got = fitted.transform_layer(X, "dense1", out=mm, batch_size=16, flatten=flatten)
    assert got is mm
    del got, mm
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), expected)


def test_out_memmap_view_with_offset_lands_in_the_right_bytes(fitted, wine, tmp_path):
    # A view into a memmap that itself starts at a file offset: rows must be
    # written at the view's place in the file, and nowhere else.
    X, _ = wine
    expected = fitted.transform_layer(X, "dense0")
    header = 3 * 4096 + 12  # not a multiple of the allocation granularity
    path = tmp_path / "raw.bin"
    path.write_bytes(b"\xff" * header)
    big = np.memmap(path, dtype=np.float32, mode="r+", offset=header, shape=(200, 20))
    big[:] = -1.0
    fitted.transform_layer(X, "dense0", out=big[7:185])
    big.flush()
    del big
    raw = path.read_bytes()
    assert raw[:header] == b"\xff" * header
    on_disk = np.frombuffer(raw[header:], dtype=np.float32).reshape(200, 20)
    np.testing.assert_array_equal(on_disk[7:185], expected)
    assert (on_disk[:7] == -1).all() and (on_disk[185:] == -1).all()


def test_out_copy_on_write_memmap_leaves_the_file_alone(fitted, wine, tmp_path):
    X, _ = wine
    path = tmp_path / "cow.npy"
    np.save(path, np.zeros((178, 20), np.float32))
    cow = np.load(path, mmap_mode="c")
    got = fitted.transform_layer(X, "dense0", out=cow)
    np.testing.assert_array_equal(got, fitted.transform_layer(X, "dense0"))
    assert not np.load(path).any()


class DirectIO:
    """What the file sinks did with O_DIRECT: descriptors opened (None where
    the file system refused) and bytes written through them."""

    def __init__(self):
        self.opened: list[int | None] = []
        self.direct_bytes = 0

    def require(self):
        assert self.opened, "the file sink never tried O_DIRECT"
        if self.opened[0] is None:
            pytest.skip("this file system refuses O_DIRECT")
        # Unaligned writes would be refused and silently redone buffered.
        assert self.direct_bytes > 0, "no byte went through O_DIRECT"


@pytest.fixture
def direct_io(monkeypatch):
    """Force the O_DIRECT path of file sinks on small results, with chunks
    of a few pages that do not end on a page boundary."""
    from skviz import _writer

    seen = DirectIO()
    open_direct, pwrite = _writer.open_direct, os.pwrite

    def spy_open(path):
        seen.opened.append(open_direct(path))
        return seen.opened[-1]

    def spy_pwrite(fd, data, position):
        written = pwrite(fd, data, position)
        if fd in seen.opened:
            seen.direct_bytes += written
        return written

    monkeypatch.setattr(_writer, "DIRECT_MIN_BYTES", 0)
    monkeypatch.setattr(_writer, "CHUNK_BYTES", 3 * 4096 + 80)
    monkeypatch.setattr(_writer, "open_direct", spy_open)
    monkeypatch.setattr(os, "pwrite", spy_pwrite)
    return seen


@pytest.mark.parametrize("batch_size", [16, 61, 178])
@pytest.mark.parametrize("header", [0, 3 * 4096 + 12, 4096 - 40])
def test_direct_writes_land_in_the_right_bytes(
    fitted, wine, tmp_path, direct_io, batch_size, header
):
    # Unaligned heads and tails go through the page cache, the aligned
    # middle straight to the disk: the file must hold exactly the rows,
    # at the view's offset, and nothing else may change.
    X, _ = wine
    expected = fitted.transform_layer(X, "dense0", batch_size=batch_size)
    path = tmp_path / "raw.bin"
    path.write_bytes(b"\xff" * header)
    big = np.memmap(path, dtype=np.float32, mode="r+", offset=header, shape=(200, 20))
    big[:] = -1.0  # dirty pages of the caller's mapping over the target rows
    got = fitted.transform_layer(X, "dense0", out=big[7:185], batch_size=batch_size)
    direct_io.require()
    np.testing.assert_array_equal(got, expected)  # seen through the mapping
    big.flush()
    del big, got
    raw = path.read_bytes()
    assert raw[:header] == b"\xff" * header
    on_disk = np.frombuffer(raw[header:], dtype=np.float32).reshape(200, 20)
    np.testing.assert_array_equal(on_disk[7:185], expected)
    assert (on_disk[:7] == -1).all() and (on_disk[185:] == -1).all()


def test_direct_writes_into_npy_path(fitted, wine, tmp_path, direct_io):
    X, _ = wine
    expected = fitted.transform_layers(X, ["dense0", "dense1"], batch_size=25)
    got = fitted.transform_layers(
        X,
        ["dense0", "dense1"],
        batch_size=25,
        out={"dense0": tmp_path / "d0.npy", "dense1": tmp_path / "d1.npy"},
    )
    direct_io.require()
    for name, number in [("dense0", 0), ("dense1", 1)]:
        np.testing.assert_array_equal(
            np.load(tmp_path / f"d{number}.npy"), expected[name]
        )
        np.testing.assert_array_equal(got[name], expected[name])
    assert leftovers(tmp_path) == ["d0.npy", "d1.npy"]


def test_direct_write_refused_midway_goes_on_buffered(
    fitted, wine, tmp_path, direct_io, monkeypatch
):
    # Some file systems accept O_DIRECT at open() and refuse a write later.
    X, _ = wine
    expected = fitted.transform_layer(X, "dense0")
    real_pwrite = os.pwrite
    refused = []

    def pwrite(fd, data, position):
        if fd in direct_io.opened:
            refused.append(fd)
            raise OSError(22, "Invalid argument")
        return real_pwrite(fd, data, position)

    monkeypatch.setattr(os, "pwrite", pwrite)
    got = fitted.transform_layer(X, "dense0", out=tmp_path / "a.npy", batch_size=178)
    if direct_io.opened == [None]:
        pytest.skip("this file system refuses O_DIRECT")
    assert len(refused) == 1  # refused once, then never tried again
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), expected)
    np.testing.assert_array_equal(got, expected)


def test_full_disk_is_reported_before_any_batch(fitted, wine, tmp_path, monkeypatch):
    import errno

    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate on this platform")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises(OSError, match="Not enough disk space"):
            fitted.transform_layer(wine[0], "dense0", out=tmp_path / "a.npy")
    # The first batch tells the result's shape; the space is claimed before
    # the second.
    assert forwards.count <= 1
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("code", ["EOPNOTSUPP", "EBADF"])
def test_file_systems_without_fallocate_still_work(
    fitted, wine, tmp_path, monkeypatch, code
):
    import errno

    def unsupported(fd, offset, length):
        raise OSError(getattr(errno, code), "refused")

    monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    got = fitted.transform_layer(wine[0], "dense0", out=tmp_path / "a.npy")
    np.testing.assert_array_equal(got, fitted.transform_layer(wine[0], "dense0"))


def test_small_results_stay_in_the_page_cache(fitted, wine, tmp_path, monkeypatch):
    from skviz import _writer

    opened = []
    monkeypatch.setattr(_writer, "open_direct", lambda path: opened.append(path))
    fitted.transform_layer(wine[0], "dense0", out=tmp_path / "a.npy")
    assert opened == []


def test_staged_writer_gathers_batches_and_drops_uncommitted_rows(monkeypatch):
    from skviz import _writer

    monkeypatch.setattr(_writer, "CHUNK_BYTES", 4 * 10 * 8)  # 4 batches of 10 rows
    writes = []
    writer = _writer.StagedWriter(
        lambda rows, start, stop: writes.append((rows.copy(), start, stop)),
        row_shape=(2,),
        dtype=np.float32,
        n_rows=10**5,
    )
    for start in range(0, 60, 10):
        writer.region(start, start + 10)[:] = start
        writer.commit(start, start + 10)
    writer.region(60, 70)[:] = -1  # never committed
    writer.close()
    assert [(start, stop) for _, start, stop in writes] == [(0, 40), (40, 60)]
    rows = np.concatenate([r for r, _, _ in writes])
    np.testing.assert_array_equal(rows[:, 0], np.repeat(np.arange(0, 60, 10), 10))


def test_staged_writer_retried_batch_replaces_the_abandoned_one():
    from skviz import _writer

    writes = []
    writer = _writer.StagedWriter(
        lambda rows, start, stop: writes.append((rows.copy(), start, stop)),
        row_shape=(1,),
        dtype=np.float32,
        n_rows=10**5,
    )
    writer.region(0, 2)[:] = 1
    writer.commit(0, 2)
    writer.region(2, 4)[:] = 99  # abandoned attempt
    writer.region(2, 4)[:] = 3
    writer.commit(2, 4)
    writer.close()
    assert [(start, stop) for _, start, stop in writes] == [(0, 4)]
    np.testing.assert_array_equal(writes[0][0][:, 0], [1, 1, 3, 3])


def test_staged_writer_recycles_chunks_that_got_no_rows():
    from skviz import _writer

    writer = _writer.StagedWriter(
        lambda *a: None, row_shape=(2,), dtype=np.float32, n_rows=10, n_buffers=2
    )
    done = threading.Event()

    def abandon_chunks():
        # Each out-of-order start abandons an empty chunk; with its buffer
        # lost, the third would wait for a free buffer forever.
        for start in [0, 10, 20, 30, 40]:
            writer.region(start, start + 10)
        done.set()

    thread = threading.Thread(target=abandon_chunks, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set(), "region() waits for a buffer that never comes back"
    writer.close()


def test_staging_memory_is_shared_by_the_sinks_of_one_call(tmp_path):
    from skviz import _sinks, _writer

    one = _sinks.make_sink(tmp_path / "a.npy", (10**6, 64), np.float32, 128, "a")
    many = _sinks.make_sink(
        tmp_path / "b.npy", (10**6, 64), np.float32, 128, "b", n_sinks=30
    )
    try:
        assert one._writer._chunk_bytes == _writer.CHUNK_BYTES
        assert many._writer._chunk_bytes * 3 * 30 <= _writer.STAGING_BYTES
    finally:
        one.abort()
        many.abort()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_zero_width_rows(tmp_path, suffix):
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    from skviz import _sinks

    sink = _sinks.make_sink(tmp_path / f"z{suffix}", (10, 0), np.float32, 4, "z")
    for start in range(0, 10, 4):
        sink.region(start, min(start + 4, 10))
        sink.commit(start, min(start + 4, 10))
    assert sink.finish().shape == (10, 0)


def test_interrupted_finish_keeps_descriptors_until_the_writer_stops(
    tmp_path, monkeypatch
):
    # A KeyboardInterrupt while waiting for the writer must not close the
    # file under a thread that may still write to it.
    from skviz import _sinks

    release = threading.Event()
    sink = _sinks.make_sink(tmp_path / "a.npy", (8, 2), np.float32, 4, "a")
    real_write = sink._file.write

    def slow_write(rows, start):
        release.wait(timeout=10)
        real_write(rows, start)

    def interrupted_join(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sink._file, "write", slow_write)
    sink.region(0, 8)[:] = 7
    sink.commit(0, 8)
    monkeypatch.setattr(sink._writer._thread, "join", interrupted_join)
    with pytest.raises(KeyboardInterrupt):
        sink.finish()
    assert sink._file._fd is not None  # still open: the writer is busy
    monkeypatch.undo()
    release.set()
    sink.abort()
    assert sink._file._fd is None
    assert leftovers(tmp_path) == []


def test_staged_writer_reraises_a_write_error():
    from skviz import _writer

    def fail(rows, start, stop):
        raise OSError(28, "No space left on device")

    writer = _writer.StagedWriter(fail, row_shape=(2,), dtype=np.float32, n_rows=10)
    writer.region(0, 10)[:] = 0
    writer.commit(0, 10)
    with pytest.raises(OSError, match="No space"):
        writer.close()


def test_out_float64_array_receives_cast_values(fitted, wine):
    X, _ = wine
    expected = fitted.transform_layer(X, "dense0")
    target = np.zeros(expected.shape, dtype=np.float64)
    fitted.transform_layer(X, "dense0", out=target)
    np.testing.assert_array_equal(target, expected.astype(np.float64))


def test_out_npy_and_zarr_paths(fitted, wine, tmp_path):
    zarr = pytest.importorskip("zarr")
    X, _ = wine
    expected = fitted.transform_layers(X, ["dense0", "dense1"], batch_size=25)
    got = fitted.transform_layers(
        X,
        ["dense0", "dense1"],
        batch_size=25,
        out={"dense0": tmp_path / "d0.npy", "dense1": str(tmp_path / "d1.zarr")},
    )
    assert isinstance(got["dense0"], np.memmap)
    np.testing.assert_array_equal(np.load(tmp_path / "d0.npy"), expected["dense0"])
    np.testing.assert_array_equal(got["dense0"], expected["dense0"])
    stored = zarr.open_array(str(tmp_path / "d1.zarr"), mode="r")
    np.testing.assert_array_equal(stored[:], expected["dense1"])
    assert leftovers(tmp_path) == ["d0.npy", "d1.zarr"]


def test_out_npy_overwrites_only_on_success(fitted, wine, tmp_path):
    X, _ = wine
    path = tmp_path / "a.npy"
    np.save(path, np.arange(3))
    fitted.transform_layer(X, "dense0", out=path)
    np.testing.assert_array_equal(np.load(path), fitted.transform_layer(X, "dense0"))


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_no_file(wine, tmp_path, suffix, error):
    if suffix == ".zarr":
        pytest.importorskip("zarr")
    X, y = wine
    X4 = X[:, :4]
    net = make_net(FailingNet, module__n_inputs=4, module__n_classes=3).fit(X4, y)
    # Forwards: one per batch of 10; fail in the middle of the run.
    net.module_.n_forward = 0
    net.module_.fail_at = 5
    net.module_.fail_with = error
    path = tmp_path / f"first{suffix}"
    with pytest.raises(error):
        net.transform_layer(X4, "second", out=path, batch_size=10)
    assert leftovers(tmp_path) == []
    for name, m in net.module_.named_modules():
        assert not m._forward_hooks, name


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (np.zeros((5, 20), np.float32), "shape"),
        (np.zeros((178, 20), np.int64), "dtype"),
        (np.zeros((178, 40), np.float32)[:, ::2], "contiguous"),
        ("activations.csv", "must end in"),
        ("no/such/folder/a.npy", "does not exist"),
        (12, "out must be"),
    ],
)
def test_bad_out_fails_before_any_batch(fitted, wine, out, message):
    X, _ = wine
    with ForwardCounter(fitted.module_) as forwards:
        with pytest.raises((ValueError, TypeError), match=message):
            fitted.transform_layer(X, "dense0", out=out)
    # Only a wrong shape needs the first batch, which tells the result's
    # shape; everything else is refused before any forward.
    assert forwards.count == (1 if message == "shape" else 0)


def test_out_for_unrequested_layer(fitted, wine):
    X, _ = wine
    with pytest.raises(ValueError, match="not requested"):
        fitted.transform_layers(X, ["dense0"], out={"dense1": np.zeros((178, 10))})


def test_read_only_out_refused(fitted, wine):
    X, _ = wine
    target = np.zeros((178, 20), np.float32)
    target.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fitted.transform_layer(X, "dense0", out=target)


def test_progress_bar_switch(fitted, wine, capsys):
    X, _ = wine
    fitted.transform_layer(X, "dense0", progress=True, batch_size=50)
    assert "rows" in capsys.readouterr().err
    fitted.transform_layer(X, "dense0", progress=False, batch_size=50)
    fitted.transform_layer(X, "dense0", batch_size=50)  # not a terminal: quiet
    assert capsys.readouterr().err == ""


def test_float64_input_is_cast_per_batch_not_copied_whole(fitted):
    # The fast path must not build a float32 copy of all of X up front:
    # peak allocations stay near the (small) result plus one batch.
    import tracemalloc

    X64 = np.random.default_rng(0).normal(size=(50_000, 13))
    whole_copy = X64.astype(np.float32).nbytes  # 2.6 MB
    result_size = 50_000 * 3 * 4  # "output" has 3 units: 0.6 MB
    tracemalloc.start()
    try:
        got = fitted.transform_layer(X64, "output", batch_size=512)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < result_size + whole_copy / 2
    np.testing.assert_allclose(
        got, fitted.transform_layer(X64.astype(np.float32), "output"), rtol=1e-5
    )


# --------------------------------------------------------------------------
# dask arrays
# --------------------------------------------------------------------------


def test_dask_array_in_lazy_dask_array_out(fitted, wine, monkeypatch):
    da = pytest.importorskip("dask.array")
    X, _ = wine
    dX = da.from_array(X, chunks=(50, 5))

    def no_driver_compute(*args, **kwargs):
        raise AssertionError("X was materialised on the driver")

    monkeypatch.setattr(da.Array, "compute", no_driver_compute)
    monkeypatch.setattr(da.Array, "__array__", no_driver_compute)
    lazy = fitted.transform_layer(dX, "dense1")
    lazy_flat = fitted.transform_layers(dX, ["dense0"], flatten=True)["dense0"]
    monkeypatch.undo()

    assert isinstance(lazy, da.Array)
    assert lazy.shape == (178, 10)
    assert lazy.dtype == np.float32
    assert lazy.chunks == ((50, 50, 50, 28), (10,))
    np.testing.assert_array_equal(lazy.compute(), fitted.transform_layer(X, "dense1"))
    np.testing.assert_array_equal(
        lazy_flat.compute(), fitted.transform_layer(X, "dense0")
    )


def test_dask_transform_and_errors(fitted, wine):
    da = pytest.importorskip("dask.array")
    X, _ = wine
    fitted.set_params(layer="dense0")
    got = fitted.transform(da.from_array(X, chunks=60))
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), fitted.transform(X))
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        fitted.transform_layer(da.zeros((10, 5), chunks=5), "dense0")
    with pytest.raises(ValueError, match="out is not supported"):
        fitted.transform_layer(
            da.from_array(X, chunks=60), "dense0", out=np.zeros((178, 20), np.float32)
        )


def test_dask_conv_shapes(wine):
    da = pytest.importorskip("dask.array")
    from _models import DigitsCNN
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)[:120]
    net = make_net(DigitsCNN, max_epochs=1).fit(X, y[:120])
    lazy = net.transform_layers(da.from_array(X, chunks=(32, 1, 8, 8)), ["cnn1", "fc1"])
    assert lazy["cnn1"].shape == (120, 5, 6, 6)
    assert lazy["fc1"].shape == (120, 32)
    eager = net.transform_layers(X, ["cnn1", "fc1"])
    for name in eager:
        np.testing.assert_allclose(lazy[name].compute(), eager[name], rtol=1e-6)


# --------------------------------------------------------------------------
# distributed model selection
# --------------------------------------------------------------------------


class SeededWine(WineClassifier):
    """Initialises the same weights in any process, so that a search on a
    cluster and a local search train identical nets."""

    def __init__(self, num_units=20):
        torch.manual_seed(0)
        super().__init__(num_units)


@pytest.mark.slow
def test_grid_search_on_local_cluster_matches_local(wine, monkeypatch):
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    import joblib

    X, y = wine
    probe = Pipeline(
        [
            ("net", make_net(SeededWine, max_epochs=4, iterator_train__shuffle=False)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    grid = {
        "net__lr": [0.003, 0.03],
        "net__module__num_units": [4, 12],
        "net__layer": ["dense0", "dense1"],
    }
    local = GridSearchCV(probe, grid, cv=3).fit(X, y)

    # Worker processes import this test module to unpickle SeededWine.
    tests_dir = str(Path(__file__).parent)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])
    )
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_backend("dask"),
    ):
        remote = GridSearchCV(probe, grid, cv=3, n_jobs=-1).fit(X, y)
        workers_used = len(client.scheduler_info()["workers"])

    assert workers_used == 2
    np.testing.assert_array_equal(
        remote.cv_results_["rank_test_score"], local.cv_results_["rank_test_score"]
    )
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"],
        local.cv_results_["mean_test_score"],
        atol=1e-6,
    )
    assert remote.best_params_ == local.best_params_


def test_dask_with_pandas_output_is_a_clear_error(wine):
    da = pytest.importorskip("dask.array")
    X, y = wine
    net = make_net(layer="dense0").fit(X, y).set_output(transform="pandas")
    with pytest.raises(ValueError, match="cannot wrap a lazy dask array"):
        net.transform(da.from_array(X, chunks=60))
