"""WeightRecorder, the skorch callback: true copies, the step index, parameter
selection, partial_fit, gradients, relative updates, pickling and sklearn
integration, and the Recording a fitted recorder hands out."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from _models import WineClassifier
from _recording_helpers import N_TRAIN_BATCHES, make_net, wine_data
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from skviz.record import Recording, WeightRecorder, as_recording, find_recorder


@pytest.fixture(scope="module")
def wine():
    return wine_data()


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


class FlakySGD(torch.optim.SGD):
    """SGD whose ``fail_at``-th step raises after computing the gradient."""

    def __init__(self, params, fail_at=None, error=RuntimeError, **kwargs):
        super().__init__(params, **kwargs)
        self.fail_at, self.error, self.n_steps = fail_at, error, 0

    def step(self, closure=None):
        self.n_steps += 1
        if self.n_steps == self.fail_at:
            closure()  # the batch's gradient is computed (and recorded) ...
            raise self.error("injected: the optimizer step failed")  # ... no step
        return super().step(closure)


class GradsOfCompletedBatches(Callback):
    """Independent record: the gradient of each training batch that ended."""

    def __init__(self, name):
        self.name = name

    def initialize(self):
        self.completed_, self.pending_ = [], None
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grad = dict(net.module_.named_parameters())[self.name].grad
        self.pending_ = grad.detach().clone().numpy()

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.completed_.append(self.pending_)


class FailInGradComputed(Callback):
    """Raises in the ``fail_at``-th ``on_grad_computed``, after the recorder's."""

    def __init__(self, fail_at, error=RuntimeError):
        self.fail_at, self.error = fail_at, error

    def initialize(self):
        self.n_ = 0
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.n_ += 1
        if self.n_ == self.fail_at:
            raise self.error("injected")


@pytest.mark.parametrize("how", ["optimizer", "callback"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("loop", ["partial_fit", "fit_loop"])
@pytest.mark.parametrize("every", [1, 2])
def test_the_gradient_of_a_batch_that_never_finished_is_not_recorded(
    wine, how, error, loop, every
):
    X, y = wine
    names = ["dense1.weight", "output.bias"]
    lr = 0.05
    rec = WeightRecorder(names, gradients=True, every=every)
    reference = GradsOfCompletedBatches(names[0])
    fail_at = 4  # a recorded batch for both values of every
    callbacks = [rec, reference]
    kwargs = dict(optimizer=FlakySGD, optimizer__fail_at=fail_at)
    kwargs["optimizer__error"] = error
    if how == "callback":
        callbacks.append(FailInGradComputed(fail_at, error))
        kwargs = {}
    net = make_net(callbacks, max_epochs=1, optimizer__momentum=0.0, lr=lr, **kwargs)
    net.initialize()
    train = net.fit_loop if loop == "fit_loop" else net.partial_fit
    try:  # skorch's partial_fit ends training quietly on KeyboardInterrupt
        train(X, y)
    except error:
        pass
    assert rec.n_batches_seen_ == fail_at - 1  # the interrupted batch is not counted
    train(X, y)  # goes on: the next batch is the first good one
    assert rec.n_batches_seen_ == fail_at - 1 + N_TRAIN_BATCHES
    for n in names:
        grads = rec.grad_trajectory(n)
        assert np.isfinite(grads).all()
        # plain SGD: each recorded update is -lr times its recorded gradient
        # (every=2: the update spans two batches; the gradient is the second's)
        if every == 1:
            np.testing.assert_allclose(
                rec.updates(n), -lr * grads, rtol=1e-4, atol=1e-7
            )
    # each recorded gradient is that of its own, completed batch
    expected = np.stack(reference.completed_[every - 1 :: every])
    np.testing.assert_array_equal(rec.grad_trajectory(names[0]), expected)


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


def test_no_warnings_during_a_plain_recording(wine):
    X, y = wine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_net([WeightRecorder(["output.weight"])], max_epochs=1).fit(X, y)


# ----------------------------------------------------------------------
# the Recording of a fitted recorder
# ----------------------------------------------------------------------


def test_a_fitted_recorder_hands_out_its_live_recording(wine):
    X, y = wine
    rec = WeightRecorder(["dense1.weight", "output.bias"], gradients=True)
    net = make_net([rec], max_epochs=1)
    net.fit(X, y)
    recording = rec.recording_
    assert isinstance(recording, Recording)
    assert as_recording(rec) is recording
    assert as_recording(recording) is recording
    assert recording.param_names == rec.param_names_
    assert recording.shapes == rec.shapes_
    assert recording.n_steps == rec.n_steps_ == 1 + N_TRAIN_BATCHES
    assert recording.n_batches_seen == rec.n_batches_seen_
    assert recording.has_gradients
    np.testing.assert_array_equal(recording.steps, rec.steps_)
    np.testing.assert_array_equal(recording.epochs, rec.epochs_)
    np.testing.assert_array_equal(recording.batches, rec.batches_)
    for n in rec.param_names_:
        np.testing.assert_array_equal(recording.trajectory(n), rec.trajectory(n))
        np.testing.assert_array_equal(recording.updates(n), rec.updates(n))
        np.testing.assert_array_equal(
            recording.grad_trajectory(n), rec.grad_trajectory(n)
        )
    assert recording.recorder_params == rec.get_params()

    net.partial_fit(X, y)  # the same recording grows
    assert rec.recording_ is recording
    assert recording.n_steps == 1 + 2 * N_TRAIN_BATCHES

    net.fit(X, y)  # from scratch: a new recording; the old one stays as it was
    assert rec.recording_ is not recording
    assert rec.n_steps_ == 1 + N_TRAIN_BATCHES
    assert recording.n_steps == 1 + 2 * N_TRAIN_BATCHES
    assert recording.trajectory("dense1.weight").shape[0] == recording.n_steps


def test_recorder_attributes_are_read_only_views_of_the_recording(wine):
    X, y = wine
    rec = WeightRecorder(["output.weight"])
    assert not hasattr(rec, "n_steps_")  # not fitted: no fitted attribute
    assert not hasattr(rec, "recording_")
    make_net([rec], max_epochs=1).fit(X, y)
    with pytest.raises(AttributeError):
        rec.n_steps_ = 3
    assert [k for k in vars(rec) if not k.startswith("_") and k.endswith("_")] == [
        "recording_"
    ]


def test_as_recording_errors(wine):
    with pytest.raises(TypeError, match="Recording or a fitted WeightRecorder"):
        as_recording(object())
    with pytest.raises(TypeError, match="got NeuralNetClassifier"):
        as_recording(make_net([]))
    with pytest.raises(ValueError, match="recorded nothing"):
        as_recording(WeightRecorder())
    rec = WeightRecorder().initialize()
    with pytest.raises(ValueError, match="no snapshot"):
        as_recording(rec)
    with pytest.raises(ValueError, match="no snapshot"):
        as_recording(rec.recording_)
