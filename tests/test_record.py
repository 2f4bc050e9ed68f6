"""WeightRecorder: true copies, bounded memory, save/load, sklearn integration,
and the training-dynamics displays built on it."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from _models import WineClassifier
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from skviz.plot import (
    RelativeUpdateDisplay,
    UpdateHistogramDisplay,
    WeightDistributionDisplay,
    WeightTrajectoryDisplay,
)
from skviz.record import WeightRecorder, find_recorder

N_TRAIN_BATCHES = 9  # 178 wine samples, 80 % train split, batches of 16


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y.astype(np.int64)


def make_net(callbacks, max_epochs=2, **kwargs):
    params = dict(
        max_epochs=max_epochs,
        batch_size=16,
        lr=0.05,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        criterion=torch.nn.CrossEntropyLoss,
        callbacks=callbacks,
        device="cpu",
        verbose=0,
    )
    params.update(kwargs)
    return NeuralNetClassifier(WineClassifier, **params)


class CopyCallback(Callback):
    """Independent record: a clone of every parameter after each training batch."""

    def __init__(self, names):
        self.names = names

    def initialize(self):
        self.copies_ = {n: [] for n in self.names}
        self.grads_ = {n: [] for n in self.names}
        self.aliases_ = {n: [] for n in self.names}
        return self

    def _params(self, net):
        return dict(net.module_.named_parameters())

    def on_train_begin(self, net, **kwargs):
        if not self.copies_[self.names[0]]:
            for n, p in self._params(net).items():
                if n in self.names:
                    self.copies_[n].append(p.detach().clone().numpy())

    def on_grad_computed(self, net, named_parameters, **kwargs):
        for n, p in named_parameters:
            if n in self.names:
                self.grads_[n].append(p.grad.detach().clone().numpy())

    def on_batch_end(self, net, training=None, **kwargs):
        if not training:
            return
        state = net.module_.state_dict()
        for n in self.names:
            self.copies_[n].append(state[n].detach().clone().numpy())
            # seed 003's way: on a CPU this is the live tensor itself
            self.aliases_[n].append(state[n].to("cpu"))


# ----------------------------------------------------------------------
# recording
# ----------------------------------------------------------------------


def test_snapshots_are_true_copies_equal_to_an_independent_copy(wine):
    X, y = wine
    names = ["dense0.weight", "dense1.weight", "output.bias"]
    rec = WeightRecorder(names)
    copier = CopyCallback(names)
    make_net([rec, copier]).fit(X, y)

    assert rec.param_names_ == names
    assert rec.n_steps_ == 1 + 2 * N_TRAIN_BATCHES
    for n in names:
        traj = rec.trajectory(n)
        expected = np.stack(copier.copies_[n])
        assert traj.dtype == np.float32
        assert traj.shape == expected.shape
        np.testing.assert_array_equal(traj, expected)
        # every batch changes every weight matrix: no two snapshots alike
        assert np.all(
            np.any(np.diff(traj, axis=0).reshape(len(traj) - 1, -1) != 0, axis=1)
        )
        # the seed's aliasing recorder would fail this very comparison
        aliased = np.stack([t.numpy() for t in copier.aliases_[n]])
        assert not np.array_equal(aliased, expected[1:])
        assert len({a.tobytes() for a in aliased}) == 1


def test_recorded_arrays_do_not_change_when_training_goes_on(wine):
    X, y = wine
    rec = WeightRecorder(["dense0.weight"])
    net = make_net([rec], max_epochs=1)
    net.fit(X, y)
    first = np.array(rec.trajectory("dense0.weight"))
    net.partial_fit(X, y)
    np.testing.assert_array_equal(rec.trajectory("dense0.weight")[: len(first)], first)
    with pytest.raises(ValueError):
        rec.trajectory("dense0.weight")[0, 0, 0] = 1.0  # read-only view


def test_index_arrays_and_every(wine):
    X, y = wine
    rec = WeightRecorder("dense1", every=4)
    net = make_net([rec], max_epochs=3)
    net.fit(X, y)
    seen = 3 * N_TRAIN_BATCHES
    assert rec.n_batches_seen_ == seen
    np.testing.assert_array_equal(rec.steps_, np.arange(0, seen + 1, 4))
    # step s is batch ((s - 1) % 9) + 1 of epoch (s - 1) // 9 + 1
    s = rec.steps_[1:]
    np.testing.assert_array_equal(rec.epochs_, [0, *((s - 1) // N_TRAIN_BATCHES + 1)])
    np.testing.assert_array_equal(rec.batches_, [0, *((s - 1) % N_TRAIN_BATCHES + 1)])
    assert rec.param_names_ == ["dense1.weight", "dense1.bias"]  # module name
    assert rec.updates("dense1.weight").shape == (len(s), 10, 20)


def test_default_selection_skips_large_parameters_with_a_warning(wine):
    X, y = wine
    rec = WeightRecorder(max_size=200)
    with pytest.warns(UserWarning, match=r"dense0.weight \(260 elements\)"):
        make_net([rec], max_epochs=1).fit(X, y)
    assert rec.skipped_ == {"dense0.weight": 260}
    assert "dense0.weight" not in rec.param_names_
    assert rec.param_names_ == [
        "dense0.bias",
        "dense1.weight",
        "dense1.bias",
        "output.weight",
        "output.bias",
    ]


def test_unknown_parameter_fails_before_any_training(wine):
    X, y = wine
    net = make_net([WeightRecorder(["dense0.weight", "dense9.*"])])
    with pytest.raises(ValueError, match="dense9") as err:
        net.fit(X, y)
    assert "dense0.weight" in str(err.value)  # lists what exists
    assert len(net.history) == 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"every": 0}, ValueError),
        ({"every": 1.5}, TypeError),
        ({"memory_budget": -1}, ValueError),
        ({"params": 3}, TypeError),
        ({"params": []}, TypeError),
        ({"gradients": "yes"}, TypeError),
        ({"directory": "/no/such/folder"}, ValueError),
    ],
)
def test_bad_parameters_raise_at_initialize(kwargs, error):
    net = make_net([WeightRecorder(**kwargs)])
    with pytest.raises(error):
        net.initialize()


def test_partial_fit_and_warm_start_continue_the_time_axis(wine):
    X, y = wine
    rec = WeightRecorder(["output.weight"])
    net = make_net([rec], max_epochs=1)
    net.fit(X, y)
    n1 = rec.n_steps_
    last = np.array(rec.trajectory("output.weight")[-1])
    net.partial_fit(X, y)
    assert rec.n_steps_ == n1 + N_TRAIN_BATCHES  # no second "initial" row
    np.testing.assert_array_equal(rec.steps_, np.arange(rec.n_steps_))
    assert list(np.unique(rec.epochs_)) == [0, 1, 2]
    np.testing.assert_array_equal(rec.trajectory("output.weight")[n1 - 1], last)
    np.testing.assert_array_equal(
        rec.updates("output.weight")[n1 - 1],
        rec.trajectory("output.weight")[n1] - last,
    )

    net.set_params(warm_start=True)
    net.fit(X, y)
    assert rec.n_steps_ == n1 + 2 * N_TRAIN_BATCHES
    assert rec.epochs_[-1] == 3

    net.set_params(warm_start=False)
    net.fit(X, y)  # re-initialised: a new recording
    assert rec.n_steps_ == n1
    assert rec.epochs_[-1] == 1


def test_clone_and_grid_search_see_only_parameters(wine):
    X, y = wine
    rec = WeightRecorder(["output.weight"], every=2, memory_budget=10**6)
    net = make_net([("rec", rec)], max_epochs=1)
    net.fit(X, y)
    assert rec.n_steps_ > 0

    fresh = clone(rec)
    assert fresh.get_params() == rec.get_params()
    assert set(rec.get_params()) == {
        "params",
        "every",
        "gradients",
        "relative_updates",
        "max_size",
        "memory_budget",
        "directory",
    }
    assert not any(k.endswith("_") for k in vars(fresh))

    search = GridSearchCV(clone(net), {"lr": [0.01, 0.05]}, cv=2, refit=True)
    search.fit(X, y)
    best_rec = find_recorder(search.best_estimator_)
    assert best_rec is not rec
    # refit on all of X: 9 training batches, recorded at steps 0, 2, 4, 6, 8
    np.testing.assert_array_equal(best_rec.steps_, [0, 2, 4, 6, 8])
    assert best_rec.every == 2
    assert rec.n_steps_ == 5 and rec.epochs_[-1] == 1  # the original is untouched


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
    buffers = [*spilled._weights_.values(), *spilled._grads_.values()]
    assert 0 < sum(b.nbytes for b in buffers if not b.on_disk) <= budget
    index_bytes = sum(b.nbytes for b in spilled._index_.values())
    assert (
        spilled.nbytes_ == sum(b.nbytes for b in buffers if not b.on_disk) + index_bytes
    )
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


def test_gradients_are_those_of_the_recorded_batch(wine):
    X, y = wine
    names = ["dense1.weight", "output.bias"]
    rec = WeightRecorder(names, gradients=True)
    copier = CopyCallback(names)
    lr = 0.05
    net = make_net([rec, copier], max_epochs=1, optimizer__momentum=0.0, lr=lr)
    net.fit(X, y)
    for n in names:
        grads = rec.grad_trajectory(n)
        np.testing.assert_array_equal(grads, np.stack(copier.grads_[n]))
        # plain SGD: the update is -lr * gradient
        np.testing.assert_allclose(rec.updates(n), -lr * grads, rtol=1e-4, atol=1e-7)


def test_relative_updates_online_match_the_snapshots(wine):
    X, y = wine
    rec = WeightRecorder(["dense1.weight", "output"], relative_updates=True)
    make_net([rec], max_epochs=1).fit(X, y)
    online = rec.relative_update_sizes()
    # tracked for every learnable parameter, recorded or not
    assert list(online.columns) == [n for n, _ in WineClassifier().named_parameters()]
    for n in rec.param_names_:
        traj = rec.trajectory(n).astype(np.float64).reshape(rec.n_steps_, -1)
        expected = np.diff(traj, axis=0).std(axis=1) / traj[:-1].std(axis=1)
        np.testing.assert_allclose(online[n].to_numpy(), expected, rtol=1e-4)
    np.testing.assert_array_equal(online.index.to_numpy(), rec.steps_[1:])

    offline = WeightRecorder(["dense1.weight"])
    torch.manual_seed(0)
    make_net([offline], max_epochs=1).fit(X, y)
    table = offline.relative_update_sizes()
    traj = (
        offline.trajectory("dense1.weight")
        .astype(np.float64)
        .reshape(offline.n_steps_, -1)
    )
    expected = np.diff(traj, axis=0).std(axis=1) / traj[:-1].std(axis=1)
    np.testing.assert_allclose(table["dense1.weight"], expected, rtol=1e-6)


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


@pytest.mark.parametrize("suffix", [".npz", ""])
def test_save_load_round_trip_is_exact(wine, tmp_path, suffix):
    X, y = wine
    rec = WeightRecorder(
        ["dense1.weight", "output.bias"], gradients=True, relative_updates=True, every=2
    )
    make_net([rec], max_epochs=2).fit(X, y)
    path = rec.save(tmp_path / f"rec{suffix}")
    loaded = WeightRecorder.load(path)
    assert loaded.get_params() == rec.get_params()
    assert loaded.param_names_ == rec.param_names_
    assert loaded.shapes_ == rec.shapes_
    assert loaded.n_batches_seen_ == rec.n_batches_seen_
    for attr in ("steps_", "epochs_", "batches_"):
        np.testing.assert_array_equal(getattr(loaded, attr), getattr(rec, attr))
    for n in rec.param_names_:
        np.testing.assert_array_equal(loaded.trajectory(n), rec.trajectory(n))
        np.testing.assert_array_equal(loaded.grad_trajectory(n), rec.grad_trajectory(n))
    a, b = loaded.relative_update_sizes(), rec.relative_update_sizes()
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert list(a.columns) == list(b.columns)
    if suffix == "":
        mapped = WeightRecorder.load(path, mmap_mode="r")
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
        with pytest.raises(ValueError, match="not a readable skviz"):
            WeightRecorder.load(tmp_path / path)
    assert not marker.exists()

    with pytest.raises(FileNotFoundError):
        WeightRecorder.load(tmp_path / "missing.npz")


def test_pickled_net_keeps_the_recording_without_slack(wine):
    X, y = wine
    rec = WeightRecorder(["dense1.weight"], relative_updates=True)
    net = make_net([("rec", rec)], max_epochs=1)
    net.fit(X, y)
    restored = pickle.loads(pickle.dumps(net))
    rec2 = find_recorder(restored)
    np.testing.assert_array_equal(
        rec2.trajectory("dense1.weight"), rec.trajectory("dense1.weight")
    )
    assert rec2.trajectory("dense1.weight").base.shape[0] == rec.n_steps_
    restored.partial_fit(X, y)  # goes on recording after unpickling
    assert rec2.n_steps_ == rec.n_steps_ + N_TRAIN_BATCHES
    assert np.isfinite(rec2.relative_update_sizes().to_numpy()[-1]).all()


def test_find_recorder_errors(wine):
    net = make_net([])
    with pytest.raises(ValueError, match="initialized"):
        find_recorder(net)
    net.initialize()
    with pytest.raises(ValueError, match="no WeightRecorder"):
        find_recorder(net)
    net = make_net([("a", WeightRecorder()), ("b", WeightRecorder())]).initialize()
    with pytest.raises(ValueError, match="several"):
        find_recorder(net)
    assert find_recorder(net, "b") is dict(net.callbacks_)["b"]


# ----------------------------------------------------------------------
# displays
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(wine):
    X, y = wine
    torch.manual_seed(0)
    rec = WeightRecorder(
        ["dense0.weight", "dense1.weight", "dense1.bias", "output.weight"]
    )
    net = make_net([("rec", rec)], max_epochs=3)
    net.fit(X, y)
    return net, rec


def test_trajectory_display_draws_the_weights_that_moved_most(recorded):
    import matplotlib.pyplot as plt

    net, rec = recorded
    traj = rec.trajectory("dense1.weight")
    moved = np.abs(traj[-1].astype(float) - traj[0]).ravel()
    top = np.argsort(-moved, kind="stable")[:3]
    disp = WeightTrajectoryDisplay.from_estimator(net, "dense1.weight", n=3)
    assert list(disp.indices_) == list(top)
    assert len(disp.lines_) == 3
    for line, flat in zip(disp.lines_, top, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), rec.steps_)
        np.testing.assert_array_equal(
            line.get_ydata(), traj.reshape(len(traj), -1)[:, flat]
        )
    assert disp.ax_.get_xlabel() == "step (training batches)"

    _, ax = plt.subplots()
    disp = WeightTrajectoryDisplay.from_recorder(
        rec, "dense1.weight", indices=[(1, 2)], kind="update", ax=ax
    )
    assert disp.ax_ is ax
    np.testing.assert_array_equal(disp.lines_[0].get_ydata(), np.diff(traj[:, 1, 2]))
    np.testing.assert_array_equal(disp.lines_[0].get_xdata(), rec.steps_[1:])
    assert "change per step" in ax.get_title()


def test_update_histogram_uses_explicit_bins(recorded):
    _, rec = recorded
    upd = rec.updates("dense1.weight").ravel()
    disp = UpdateHistogramDisplay.from_recorder(rec, "dense1.weight", bins=40)
    edges = np.linspace(float(upd.min()), float(upd.max()), 41)
    np.testing.assert_allclose(disp.bin_edges, edges)
    np.testing.assert_array_equal(disp.counts[0], np.histogram(upd, edges)[0])
    assert disp.outside[0] == 0

    edges = np.array([-1e-3, -1e-4, 0.0, 1e-4, 1e-3])
    disp = UpdateHistogramDisplay.from_recorder(
        rec, ["dense1.weight", "output"], bins=edges, density=True, log=True
    )
    assert disp.params == ["dense1.weight", "output.weight"]
    np.testing.assert_array_equal(disp.bin_edges, edges)
    inside = np.histogram(upd, edges)[0]
    np.testing.assert_array_equal(disp.counts[0], inside)
    assert disp.outside[0] == upd.size - inside.sum()
    assert np.isclose((disp.heights_[0] * np.diff(edges)).sum(), 1.0)
    assert disp.ax_.get_yscale() == "log"
    assert "outside the bins" in disp.artists_[0].get_label()
    with pytest.raises(ValueError, match="increasing"):
        UpdateHistogramDisplay.from_recorder(rec, bins=[1.0, 0.0])
    with pytest.raises(ValueError, match="No recorded parameter"):
        UpdateHistogramDisplay.from_recorder(rec, "nope")


def test_relative_update_display_log_scale_and_reference(recorded):
    _, rec = recorded
    disp = RelativeUpdateDisplay.from_recorder(rec, "dense*")
    assert list(disp.values.columns) == [
        "dense0.weight",
        "dense1.weight",
        "dense1.bias",
    ]
    assert disp.ax_.get_yscale() == "log"
    ref = [ln for ln in disp.ax_.get_lines() if ln.get_linestyle() == "--"]
    assert len(ref) == 1 and np.allclose(ref[0].get_ydata(), 1e-3)
    traj = rec.trajectory("dense0.weight").astype(np.float64).reshape(rec.n_steps_, -1)
    expected = np.diff(traj, axis=0).std(axis=1) / traj[:-1].std(axis=1)
    np.testing.assert_allclose(disp.lines_[0].get_ydata(), expected, rtol=1e-6)


def test_weight_distribution_ridges(recorded):
    import matplotlib.pyplot as plt

    _, rec = recorded
    disp = WeightDistributionDisplay.from_recorder(rec, n_snapshots=4, bins=10)
    assert list(disp.densities) == ["dense0.weight", "dense1.weight", "output.weight"]
    rows = np.round(np.linspace(0, rec.n_steps_ - 1, 4)).astype(int)
    np.testing.assert_array_equal(disp.steps, rec.steps_[rows])
    for name, dens in disp.densities.items():
        values = rec.trajectory(name)[rows].reshape(4, -1)
        edges = disp.bin_edges[name]
        assert np.isclose(edges[0], values.min()) and np.isclose(
            edges[-1], values.max()
        )
        for r in range(4):
            np.testing.assert_allclose(
                dens[r], np.histogram(values[r], edges, density=True)[0]
            )
        assert len(disp.ridges_[name]) == 4
    assert sum(ax.get_visible() for ax in disp.axes_.flat) == 3

    _, axes = plt.subplots(1, 2)
    disp = WeightDistributionDisplay.from_recorder(
        rec, ["dense1.weight", "output"], axes=axes
    )
    assert disp.axes_.flat[0] is axes[0]
    assert disp.axes_.flat[1].get_title() == "output.weight"
    with pytest.raises(ValueError, match="3 panel"):
        WeightDistributionDisplay.from_recorder(rec, axes=axes)


def test_displays_reject_a_recorder_that_recorded_nothing():
    with pytest.raises(ValueError, match="recorded nothing"):
        RelativeUpdateDisplay.from_recorder(WeightRecorder())
    with pytest.raises(TypeError, match="WeightRecorder"):
        UpdateHistogramDisplay.from_recorder(object())


def test_no_warnings_during_a_plain_recording(wine):
    X, y = wine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_net([WeightRecorder(["output.weight"])], max_epochs=1).fit(X, y)
