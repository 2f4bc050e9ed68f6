"""The Recording read API: tidy frames, chosen elements, values by kind, the
step index and reading in blocks."""

import numpy as np
import pytest
import torch
from _recording_helpers import make_net, wine_data

from skviz.record import WeightRecorder


@pytest.fixture(scope="module")
def wine():
    return wine_data()


@pytest.fixture(scope="module")
def recording(wine):
    X, y = wine
    rec = WeightRecorder(["dense1.weight", "output.bias"], gradients=True)
    make_net([rec], max_epochs=1).fit(X, y)
    return rec.recording_


def test_to_frame_is_tidy_and_matches_the_trajectory(wine):
    X, y = wine
    rec = WeightRecorder(["dense1.weight"])
    make_net([rec], max_epochs=1).fit(X, y)
    frame = rec.to_frame("dense1.weight", indices=[(0, 1), (9, 19), 5])
    assert list(frame.columns) == ["step", "epoch", "batch", "param", "index", "value"]
    assert list(frame["index"].cat.categories) == ["[0, 1]", "[9, 19]", "[0, 5]"]
    assert len(frame) == 3 * rec.n_steps_
    traj = rec.trajectory("dense1.weight")
    wide = frame.pivot(index="step", columns="index", values="value")
    np.testing.assert_array_equal(wide["[9, 19]"], traj[:, 9, 19])
    np.testing.assert_array_equal(wide["[0, 5]"], traj[:, 0, 5])
    upd = rec.to_frame("dense1.weight", indices=(2, 3), kind="update")
    np.testing.assert_array_equal(upd["value"], np.diff(traj[:, 2, 3]))
    np.testing.assert_array_equal(upd["step"], rec.steps_[1:])
    with pytest.raises(ValueError, match="out of range"):
        rec.to_frame("dense1.weight", indices=[(10, 0)])
    with pytest.raises(ValueError, match="not recorded"):
        rec.to_frame("dense0.weight")
    with pytest.raises(ValueError, match="Gradients were not recorded"):
        rec.to_frame("dense1.weight", kind="gradient")


def test_element_indices_flat_and_tuples(recording):
    flat, labels = recording.element_indices("dense1.weight", [(0, 1), 5, -1])
    np.testing.assert_array_equal(flat, [1, 5, 199])
    assert labels == ["[0, 1]", "[0, 5]", "[9, 19]"]
    flat, labels = recording.element_indices("output.bias")
    np.testing.assert_array_equal(flat, [0, 1, 2])
    assert labels == ["[0]", "[1]", "[2]"]
    flat, _ = recording.element_indices("dense1.weight", (3, 4))  # one tuple
    np.testing.assert_array_equal(flat, [3 * 20 + 4])
    with pytest.raises(ValueError, match="out of range"):
        recording.element_indices("dense1.weight", 200)
    with pytest.raises(ValueError, match="empty"):
        recording.element_indices("dense1.weight", [])
    with pytest.raises(ValueError, match="tuples of 2 ints"):
        recording.element_indices("dense1.weight", [(1, 2, 3)])
    with pytest.raises(ValueError, match="not recorded"):
        recording.element_indices("dense0.weight", 0)


def test_values_by_kind_and_their_step_index(recording):
    name = "dense1.weight"
    traj = recording.trajectory(name)
    np.testing.assert_array_equal(recording.values(name), traj)
    np.testing.assert_array_equal(
        recording.values(name, "update"), np.diff(traj, axis=0)
    )
    np.testing.assert_array_equal(
        recording.values(name, "gradient"), recording.grad_trajectory(name)
    )
    assert not recording.grad_trajectory(name).flags.writeable
    index = recording.step_index("update")
    assert list(index.columns) == ["step", "epoch", "batch"]
    np.testing.assert_array_equal(index["step"], recording.steps[1:])
    np.testing.assert_array_equal(recording.step_index()["step"], recording.steps)
    with pytest.raises(ValueError, match="kind must be one of"):
        recording.values(name, "bias")
    with pytest.raises(ValueError, match="kind must be one of"):
        recording.step_index("weights")
    with pytest.raises(TypeError, match="name must be a str"):
        recording.trajectory(0)


@pytest.mark.parametrize("kind", ["weight", "update", "gradient"])
def test_iter_values_blocks_join_into_the_values(recording, kind):
    name = "dense1.weight"
    row_bytes = 10 * 20 * 4
    blocks = list(recording.iter_values(name, kind, chunk_bytes=3 * row_bytes))
    assert [len(b) for b in blocks[:-1]] == [3] * (len(blocks) - 1)
    np.testing.assert_array_equal(np.concatenate(blocks), recording.values(name, kind))


@pytest.mark.parametrize("chunk_bytes", [None, 3 * 10 * 20 * 4])
def test_relative_update_sizes_from_the_snapshots(recording, chunk_bytes, monkeypatch):
    if chunk_bytes is not None:  # reduce a few rows at a time
        monkeypatch.setattr("skviz.record._recording.CHUNK_BYTES", chunk_bytes)
    table = recording.relative_update_sizes()
    assert list(table.columns) == recording.param_names
    assert table.index.name == "step"
    for name in recording.param_names:
        traj = recording.trajectory(name).astype(np.float64)
        traj = traj.reshape(recording.n_steps, -1)
        expected = np.diff(traj, axis=0).std(axis=1) / traj[:-1].std(axis=1)
        np.testing.assert_allclose(table[name], expected, rtol=1e-5)


class _NormNet(torch.nn.Module):
    """BatchNorm's weight starts at 1 (spread 0) and its bias at 0."""

    def __init__(self):
        super().__init__()
        self.dense = torch.nn.Linear(13, 6)
        self.norm = torch.nn.BatchNorm1d(6)
        self.out = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.out(torch.relu(self.norm(self.dense(x))))


@pytest.mark.parametrize("tracked", [True, False])
def test_relative_updates_of_constant_parameters(tracked):
    X, y = wine_data()
    rec = WeightRecorder(relative_updates=tracked)
    net = make_net([("rec", rec)], max_epochs=1, module=_NormNet).fit(X, y)
    with pytest.warns(RuntimeWarning, match=r"undefined \(NaN\) for \[.*'norm.bias'"):
        table = rec.recording_.relative_update_sizes()
    # norm.weight starts as all ones: its first update is compared with its
    # size (1), not with its spread (0), so it is a number.
    first = rec.recording_.updates("norm.weight")[0]
    expected = first.std() / np.sqrt(np.mean(np.ones(6)))
    np.testing.assert_allclose(table["norm.weight"].iloc[0], expected, rtol=1e-4)
    assert np.isfinite(table["norm.weight"]).all()
    # norm.bias starts as all zeros: nothing to compare its first update with
    assert np.isnan(table["norm.bias"].iloc[0])
    assert np.isfinite(table["norm.bias"].iloc[1:]).all()
    assert net.history[-1, "train_loss"] > 0
