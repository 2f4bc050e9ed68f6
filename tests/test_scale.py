"""Beyond RAM and beyond one process: ``out=``, progress, dask arrays, and
model selection on a dask.distributed cluster."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _models import FailingNet, WineClassifier
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
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
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(wine):
    X, y = wine
    return make_net().fit(X, y)


def forward_count(net):
    calls = []
    handle = net.module_.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls, handle


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
    # Forwards: 2 probes, then batches of 10; fail in the middle of the run.
    net.module_.n_forward = 0
    net.module_.fail_at = 2 + 5
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
    calls, handle = forward_count(fitted)
    try:
        with pytest.raises((ValueError, TypeError), match=message):
            fitted.transform_layer(X, "dense0", out=out)
    finally:
        handle.remove()
    # Only the two probe forwards ran: the sink is checked before batches.
    assert len(calls) <= 2


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
