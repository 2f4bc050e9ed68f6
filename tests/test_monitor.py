"""ActivationMonitor: every statistic against a hand computation from
hand-hooked activations of the same batches (training source) and of the
monitoring set (eval source)."""

import numpy as np
import pytest
import torch
from _models import (
    DigitsCNN,
    FailingNet,
    ReusedBlock,
    SequenceLSTM,
    WineClassifier,
    make_net,
)
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch import nn

from skviz.record import ActivationMonitor

QS = (0.05, 0.25, 0.5, 0.75, 0.95)


class HandHook(Callback):
    """Clones the outputs of modules: training batches (train mode) in order,
    and the monitoring set at each epoch end (eval mode, hooks of its own)."""

    def __init__(self, names, X_mon=None, select=None):
        self.names = names
        self.X_mon = X_mon
        self.select = select

    def initialize(self):
        self.train_ = {n: [] for n in self.names}
        self.eval_ = {n: [] for n in self.names}
        return self

    def _hook(self, store, name):
        def hook(module, inp, out):
            out = out if self.select is None else self.select(out)
            if module.training:
                store[name].append(out.detach().clone())

        return hook

    def on_train_begin(self, net, **kwargs):
        mods = dict(net.module_.named_modules())
        self.handles_ = [
            mods[n].register_forward_hook(self._hook(self.train_, n))
            for n in self.names
        ]

    def on_train_end(self, net, **kwargs):
        for h in self.handles_:
            h.remove()

    def on_epoch_end(self, net, **kwargs):
        if self.X_mon is None:
            return
        mods = dict(net.module_.named_modules())
        got = {}

        def grab(name):
            def hook(module, inp, out):
                got.setdefault(name, []).append(
                    (out if self.select is None else self.select(out)).detach().clone()
                )

            return hook

        handles = [mods[n].register_forward_hook(grab(n)) for n in self.names]
        net.module_.eval()
        with torch.no_grad():
            net.module_(torch.as_tensor(self.X_mon))
        net.module_.train()
        for h in handles:
            h.remove()
        for n in self.names:
            self.eval_[n].append(torch.cat(got[n]))


def manual(batches, labels=None, classes=None, tol=0.0, unit_axis=1, bounds=None):
    """Per-unit statistics of a window of batches, by hand (numpy, float64)."""
    A = np.concatenate([np.moveaxis(b.numpy(), unit_axis, 1) for b in batches])
    n, u = A.shape[:2]
    vals = A.reshape(n, u, -1).astype(np.float64)
    flat = vals.transpose(1, 0, 2).reshape(u, -1)
    active = (vals > tol).any(axis=2).mean(axis=0)
    mean_abs = np.abs(flat).mean(axis=1)
    avg = mean_abs.mean()
    out = {
        "active": active,
        "mean": flat.mean(axis=1),
        "std": flat.std(axis=1),
        "mean_abs": mean_abs,
        "dormancy": mean_abs / avg if avg > 0 else np.zeros(u),
    }
    if bounds is not None:
        lo, hi = bounds
        out["saturation"] = ((flat <= lo + 0.05) | (flat >= hi - 0.05)).mean(axis=1)
    if labels is not None:
        y = np.concatenate(labels)
        out["class_active"] = np.stack(
            [(vals[y == c] > tol).any(axis=2).mean(axis=0) for c in classes]
        )
        out["class_mean"] = np.stack([vals[y == c].mean(axis=(0, 2)) for c in classes])
        out["class_mean_abs"] = np.stack(
            [np.abs(vals[y == c]).mean(axis=(0, 2)) for c in classes]
        )
    last = batches[-1].numpy().ravel()
    out["quantiles"] = np.quantile(last, QS)
    return out


def check(mon, layer, source, row, expected):
    rec = mon.recording_
    for stat in ("active", "mean", "std", "mean_abs", "dormancy", "saturation"):
        if stat in expected:
            np.testing.assert_allclose(
                rec.values(stat, layer, source)[row],
                expected[stat],
                rtol=2e-5,
                atol=2e-6,
                err_msg=f"{stat} of {layer} at row {row}",
            )
    for stat in ("active", "mean", "mean_abs"):
        if f"class_{stat}" in expected:
            np.testing.assert_allclose(
                rec.class_values(stat, layer, source)[row],
                expected[f"class_{stat}"],
                rtol=2e-5,
                atol=2e-6,
            )


class LabelTap(Callback):
    def initialize(self):
        self.y_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.y_.append(batch[1].numpy())


@pytest.mark.parametrize("every", [1, 3])
def test_training_statistics_match_hand_hooks(wine, every):
    X, y = wine
    mon = ActivationMonitor(["dense0", "dense1"], every=every, per_class=True)
    hand, tap = HandHook(["dense0", "dense1"]), LabelTap()
    net = make_net(
        WineClassifier,
        max_epochs=2,
        batch_size=40,
        iterator_train__shuffle=True,
        callbacks=[mon, hand, tap],
    ).fit(X, y)
    n_batches = 2 * int(np.ceil(len(X) / 40))
    assert mon.n_batches_seen_ == n_batches
    assert mon.recording_.n_checkpoints("train") == n_batches // every
    steps = mon.recording_.steps("train")
    np.testing.assert_array_equal(steps, np.arange(1, n_batches // every + 1) * every)
    for layer in ("dense0", "dense1"):
        for row in range(n_batches // every):
            window = slice(row * every, (row + 1) * every)
            expected = manual(
                hand.train_[layer][window], tap.y_[window], classes=[0, 1, 2]
            )
            check(mon, layer, "train", row, expected)
            q = mon.recording_.store("train").view(f"quantiles/{layer}")[row]
            np.testing.assert_allclose(q, expected["quantiles"], rtol=1e-5, atol=1e-6)
    assert not net.module_.dense0._forward_hooks


def test_eval_statistics_match_hand_hooks_and_dead_unit_report(wine):
    X, y = wine
    X_mon, y_mon = X[::3], y[::3]
    mon = ActivationMonitor(
        every=None, monitor_set=(X_mon, y_mon), per_class=True, tau=0.1
    )
    hand = HandHook(["dense0", "dense1"], X_mon=X_mon)
    net = make_net(
        WineClassifier, max_epochs=3, lr=0.5, batch_size=16, callbacks=[mon, hand]
    ).fit(X, y)
    assert mon.layers_ == ["dense0", "dense1"]  # the dead-unit report's layers
    assert mon.recording_.sources == ["eval"]
    assert mon.recording_.n_checkpoints() == 3
    np.testing.assert_array_equal(mon.recording_.index()["epoch"], [1, 2, 3])
    for layer in ("dense0", "dense1"):
        for row in range(3):
            A = hand.eval_[layer][row]
            expected = manual([A], [y_mon], classes=[0, 1, 2])
            check(mon, layer, "eval", row, expected)
    report = net.dead_units_report(X_mon)
    last = mon.to_frame().query("step == step.max()")
    np.testing.assert_allclose(
        last["active"].to_numpy(), report["active_fraction"].to_numpy(), atol=1e-6
    )
    np.testing.assert_array_equal(last["dead"].to_numpy(), report["dead"].to_numpy())


def test_conv_statistics_are_per_channel(digits):
    X, y = digits
    X, y = X[:120], y[:120]
    layers = ["cnn1", "act1", "pool1", "act2"]
    mon = ActivationMonitor(layers, every=2, tol=0.01)
    hand = HandHook(layers)
    make_net(DigitsCNN, batch_size=30, callbacks=[mon, hand]).fit(X, y)
    assert mon.n_units_ == {"cnn1": 5, "act1": 5, "pool1": 5, "act2": 32}
    for layer in layers:
        for row in range(mon.recording_.n_checkpoints()):
            window = hand.train_[layer][2 * row : 2 * row + 2]
            check(mon, layer, "train", row, manual(window, tol=0.01))


def test_sequence_output_is_summarised_over_time():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 7, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64)
    mon = ActivationMonitor(["lstm[0]"], every=1)
    hand = HandHook(["lstm"], select=lambda out: out[0])
    make_net(SequenceLSTM, batch_size=16, callbacks=[mon, hand]).fit(X, y)
    assert mon.n_units_ == {"lstm[0]": 6}  # hidden features, not time steps
    for row in range(mon.recording_.n_checkpoints()):
        expected = manual([hand.train_["lstm"][row]], unit_axis=2)
        check(mon, "lstm[0]", "train", row, expected)


def test_second_run_of_a_reused_module():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)

    class Runs(Callback):
        def on_train_begin(self, net, **kwargs):
            self.runs_ = []

            def hook(module, inp, out):
                if module.training:
                    self.runs_.append(out.detach().clone())

            self.h_ = net.module_.block.register_forward_hook(hook)

        def on_train_end(self, net, **kwargs):
            self.h_.remove()

    runs = Runs()
    mon = ActivationMonitor(["block@1", "block@0"], every=1)
    make_net(ReusedBlock, batch_size=20, callbacks=[mon, runs]).fit(X, y)
    for row in range(mon.recording_.n_checkpoints()):
        check(mon, "block@0", "train", row, manual([runs.runs_[2 * row]]))
        check(mon, "block@1", "train", row, manual([runs.runs_[2 * row + 1]]))


class TanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(13, 8)
        self.act = nn.Tanh()
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        return self.out(self.act(3 * self.fc(x)))


def test_saturation_of_bounded_layers(wine):
    X, y = wine
    mon = ActivationMonitor(["fc", "act"], every=1)
    hand = HandHook(["act"])
    make_net(TanhNet, batch_size=64, callbacks=[mon, hand]).fit(X, y)
    rec = mon.recording_
    assert rec.bounded == {"act": (-1.0, 1.0)}
    assert np.isnan(rec.values("saturation", "fc", "train")).all()
    for row in range(rec.n_checkpoints()):
        expected = manual([hand.train_["act"][row]], bounds=(-1.0, 1.0))
        check(mon, "act", "train", row, expected)
    sat = mon.layer_fractions().query("layer == 'act'")["saturated_fraction"]
    assert (sat > 0).all()


def test_same_trained_weights_with_and_without_the_monitor(wine):
    X, y = wine

    def fit(callbacks):
        net = make_net(
            FailingNet,
            module__n_inputs=13,
            module__n_classes=3,
            max_epochs=3,
            batch_size=32,
            iterator_train__shuffle=True,
            train_split=ValidSplit(5),
            callbacks=callbacks,
        )
        return net.fit(X, y)

    plain = fit([])
    mon = ActivationMonitor(
        ["first", "drop", "second"], every=2, monitor_set="valid", per_class=True
    )
    watched = fit([mon])
    for (name, a), (_, b) in zip(
        plain.module_.state_dict().items(),
        watched.module_.state_dict().items(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert mon.recording_.n_checkpoints("eval") == 3
    assert mon.recording_.n_checkpoints("train") > 0


def _hooks(net):
    if "module_" not in net.__dict__:
        return []
    return [
        (name, h)
        for name, m in net.module_.named_modules()
        for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    ]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_no_hook_remains_when_fit_raises(wine, error):
    X, y = wine
    mon = ActivationMonitor(["first", "second"], every=1)
    net = make_net(
        FailingNet, module__n_inputs=13, module__n_classes=3, callbacks=[mon]
    )
    net.initialize()
    net.module_.fail_at, net.module_.fail_with = 4, error
    if error is KeyboardInterrupt:
        net.partial_fit(X, y)  # skorch swallows it and ends training
    else:
        with pytest.raises(RuntimeError, match="failure inside forward"):
            net.partial_fit(X, y)
    assert _hooks(net) == []
    assert "fit_loop" not in net.__dict__
    assert mon.recording_.n_checkpoints("train") >= 1
    net.module_.fail_at = None
    net.partial_fit(X, y)  # monitoring goes on
    assert _hooks(net) == []


def test_no_hook_after_fit_and_pickle(wine, tmp_path):
    import pickle

    X, y = wine
    mon = ActivationMonitor(every=5, monitor_set=X[:30])
    net = make_net(WineClassifier, callbacks=[mon]).fit(X, y)
    assert _hooks(net) == []
    copy = pickle.loads(pickle.dumps(net))
    (cb,) = [c for _, c in copy.callbacks_ if isinstance(c, ActivationMonitor)]
    np.testing.assert_array_equal(
        cb.values("active", "dense0"), mon.values("active", "dense0")
    )
    copy.partial_fit(X, y)  # the copy monitors on
    assert cb.recording_.n_checkpoints("eval") == 4
    assert _hooks(copy) == []


def test_partial_fit_continues_and_fit_restarts(wine):
    X, y = wine
    mon = ActivationMonitor(["dense0"], every=2)
    net = make_net(WineClassifier, batch_size=60, callbacks=[mon])  # 3 batches
    net.fit(X, y)
    first = mon.recording_
    np.testing.assert_array_equal(first.steps("train"), [2, 4, 6])
    net.partial_fit(X, y)
    np.testing.assert_array_equal(first.steps("train"), [2, 4, 6, 8, 10, 12])
    assert list(first.index("train")["epoch"]) == [1, 2, 2, 3, 4, 4]
    net.fit(X, y)
    assert mon.recording_ is not first
    np.testing.assert_array_equal(mon.recording_.steps("train"), [2, 4, 6])
    assert first.n_checkpoints("train") == 6  # handed out: stays readable


def test_clone_and_grid_search(wine):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    X, y = wine
    mon = ActivationMonitor(["dense0"], every=3, tau=0.1)
    net = make_net(WineClassifier, callbacks=[mon]).fit(X, y)
    fresh = clone(net)
    params = fresh.get_params()
    assert "callbacks" in params
    (cb,) = params["callbacks"]
    assert cb.get_params() == mon.get_params()
    assert "recording_" not in cb.__dict__
    search = GridSearchCV(fresh, {"lr": [0.01, 0.1]}, cv=2).fit(X, y)
    (best,) = [
        c
        for _, c in search.best_estimator_.callbacks_
        if isinstance(c, ActivationMonitor)
    ]
    assert best.recording_.n_checkpoints("train") > 0


# importing torch.compile's machinery warns about torch.jit deprecations
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_compile_raises_a_clear_error_before_training(wine):
    X, y = wine
    mon = ActivationMonitor(["dense0"])
    net = make_net(WineClassifier, callbacks=[mon], compile=True)
    with pytest.raises(ValueError, match="compile=True"):
        net.fit(X, y)
    assert _hooks(net) == []
    assert "fit_loop" not in net.__dict__


def test_plain_skorch_net(wine):
    from skorch import NeuralNetClassifier

    X, y = wine
    mon = ActivationMonitor(["dense0"], every=1, monitor_set=X[:20])
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        WineClassifier, max_epochs=2, train_split=None, verbose=0, callbacks=[mon]
    ).fit(X, y)
    assert mon.recording_.n_checkpoints("eval") == 2
    assert _hooks(net) == []
    net.set_params(callbacks=[ActivationMonitor()])
    with pytest.raises(ValueError, match=r"layers=\[\.\.\.\]"):
        net.fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every": 0}, ValueError, "every must be >= 1"),
        ({"every": 1.5}, TypeError, "every must be an int"),
        ({"every": None}, ValueError, "nothing to monitor"),
        ({"monitor_set": "test"}, ValueError, "monitor_set must be"),
        ({"tau": "a"}, TypeError, "tau must be a number"),
        ({"quantiles": (0.5, 2)}, ValueError, "quantiles"),
        ({"memory_budget": -1}, ValueError, "memory_budget"),
        ({"layers": ["dense"]}, ValueError, "dense0"),
        ({"layers": ["zz*"]}, ValueError, "No layer matches"),
        ({"monitor_set": "valid"}, ValueError, "train_split=None"),
        ({"per_class": True, "every": None, "monitor_set": "X"}, ValueError, ""),
        ({"monitor_set": np.empty((0, 13), np.float32)}, ValueError, "no sample"),
    ],
)
def test_bad_parameters_raise_before_training(wine, kwargs, error, match):
    X, y = wine
    if isinstance(kwargs.get("monitor_set"), str) and kwargs["monitor_set"] == "X":
        kwargs = {**kwargs, "monitor_set": X[:10]}
        match = "monitor_set=\\(X, y\\)"
    mon = ActivationMonitor(**kwargs)
    net = make_net(WineClassifier, callbacks=[mon])
    with pytest.raises(error, match=match):
        net.fit(X, y)
    assert _hooks(net) == []
    assert "fit_loop" not in net.__dict__


def test_memory_is_flat_in_batch_size_and_spills(wine, tmp_path):
    X, y = wine
    sizes = []
    for batch_size in (8, 64):
        mon = ActivationMonitor(["dense0", "dense1"], every=1)
        net = make_net(WineClassifier, batch_size=batch_size, callbacks=[mon])
        net.fit(X, y)
        per_row = mon.recording_.nbytes / mon.recording_.store("train").capacity
        sizes.append(per_row)
    assert sizes[0] == sizes[1]
    mon = ActivationMonitor(["dense0"], every=1, memory_budget=0, directory=tmp_path)
    with pytest.warns(UserWarning, match="memory-mapped"):
        make_net(WineClassifier, callbacks=[mon]).fit(X, y)
    assert mon.recording_.disk_bytes > 0
    assert np.isfinite(mon.values("mean", "dense0")).all()


def test_functional_activation_is_applied_before_the_statistics(wine):
    X, y = wine
    mon = ActivationMonitor(
        ["dense0", "dense1"], every=1, activation={"dense0": "relu"}
    )
    hand = HandHook(["dense0", "dense1"])
    make_net(WineClassifier, batch_size=60, lr=1.0, callbacks=[mon, hand]).fit(X, y)
    for row in range(mon.recording_.n_checkpoints()):
        relu = [torch.relu(hand.train_["dense0"][row])]
        check(mon, "dense0", "train", row, manual(relu))
        check(mon, "dense1", "train", row, manual([hand.train_["dense1"][row]]))
    # after ReLU a dead unit is all zeros: dormant (score 0) too
    frame = mon.to_frame(layers="dense0")
    assert (frame.loc[frame["dead"], "dormancy"] == 0).all()
    with pytest.raises(ValueError, match="not monitored"):
        make_net(
            WineClassifier,
            callbacks=[ActivationMonitor(["dense0"], activation={"fc": "relu"})],
        ).fit(X, y)
    with pytest.raises(ValueError, match="Unknown activation"):
        make_net(
            WineClassifier,
            callbacks=[ActivationMonitor(["dense0"], activation="rel")],
        ).fit(X, y)


def test_fit_loop_called_directly_hooks_live_per_epoch(wine):
    X, y = wine
    mon = ActivationMonitor(["dense0"], every=1)
    net = make_net(WineClassifier, batch_size=60, callbacks=[mon])
    net.initialize()
    net.fit_loop(X, y, epochs=2)  # no on_train_begin / on_train_end
    assert _hooks(net) == []
    np.testing.assert_array_equal(mon.recording_.steps("train"), np.arange(1, 7))


def test_rows_are_readable_during_training(wine):
    X, y = wine
    seen = []

    class Reader(Callback):
        def on_batch_end(self, net, training=None, **kwargs):
            if training:
                seen.append(len(mon.to_frame(layers="dense0")))

    mon = ActivationMonitor(["dense0"], every=1)
    make_net(WineClassifier, batch_size=60, callbacks=[mon, Reader()]).fit(X, y)
    assert seen == [20 * k for k in range(1, 7)]


class PickleProbe(Callback):
    """Counts hooks during steps and at epoch ends, and pickles the net there."""

    def initialize(self):
        self.step_, self.epoch_end_, self.copies_ = [], [], []
        return self

    def on_batch_begin(self, net, training=None, **kwargs):
        if training:
            self.step_.append(len(_hooks(net)))

    def on_epoch_end(self, net, **kwargs):
        import pickle

        self.epoch_end_.append(len(_hooks(net)))
        self.copies_.append(pickle.dumps(net))


def test_hooks_live_only_during_a_training_step_and_the_net_pickles_mid_fit(wine):
    import pickle

    X, y = wine
    probe = PickleProbe()
    mon = ActivationMonitor(["dense0", "dense1"], every=1, monitor_set=X[:20])
    net = make_net(WineClassifier, batch_size=60, callbacks=[mon, probe])
    net.fit(X, y)
    assert probe.step_ == [2] * 6
    assert probe.epoch_end_ == [0, 0]
    copy = pickle.loads(probe.copies_[-1])
    assert "fit_loop" in copy.__dict__  # pickled inside fit: a guard, harmless
    copy.partial_fit(X, y)
    assert "fit_loop" not in copy.__dict__
    assert _hooks(copy) == []
