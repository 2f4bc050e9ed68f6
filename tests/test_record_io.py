"""Recording files: exact save/load round trips in both formats, what load
returns, and files with pickles refused unread."""

import json
import pickle

import numpy as np
import pytest
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
