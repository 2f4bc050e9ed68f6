"""One forward pass per batch, and batch axes told from the first real batch.

Every count comes from a pre-hook on the root module (or a counter in the
module's own forward, which survives pickling for the dask path); every
expected value from the fitted weights or a hook registered by hand.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from _models import (
    CountingWine,
    SequenceLSTM,
    TimeMajor,
    TwoInputs,
    make_net,
)
from _refs import ForwardCounter, hand_hook_calls, manual_wine, wb
from skorch.dataset import Dataset

from skviz.layers import AmbiguousBatchAxisWarning

# ---------------------------------------------------------------------------
# One forward per batch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 7, 32, -1])
def test_mlp_one_forward_per_batch(wine_net, wine, batch_size):
    X = wine[0][:40]
    n_batches = 1 if batch_size == -1 else math.ceil(len(X) / batch_size)
    with ForwardCounter(wine_net.module_) as forwards:
        D = wine_net.transform_layers(X, ["dense1", "dense0"], batch_size=batch_size)
    assert forwards.count == n_batches
    expected = manual_wine(wine_net.module_, X)
    for name in ("dense0", "dense1"):
        np.testing.assert_allclose(D[name], expected[name], rtol=1e-5, atol=1e-5)


def test_transform_and_feature_names_one_forward_per_batch(wine_net, wine):
    X = wine[0][:50]
    net = wine_net.set_params(layer="dense1")
    try:
        with ForwardCounter(net.module_) as forwards:
            Z = net.transform(X)
        assert forwards.count == math.ceil(50 / net.batch_size)
        # The shape is known from the transform: no forward for the names.
        with ForwardCounter(net.module_) as forwards:
            names = net.get_feature_names_out()
        assert forwards.count == 0
        assert len(names) == Z.shape[1] == 10
    finally:
        net.set_params(layer=None)


def test_single_sample_call_runs_one_forward(wine_net, wine):
    X = wine[0][:1]
    with ForwardCounter(wine_net.module_) as forwards:
        A = wine_net.transform_layer(X, "dense1")
    assert forwards.count == 1
    assert A.shape == (1, 10)
    np.testing.assert_allclose(
        A, manual_wine(wine_net.module_, X)["dense1"], rtol=1e-5, atol=1e-5
    )


def test_cnn_three_layers_one_forward_per_batch(cnn_net, digits):
    X = digits[0][:70]
    names = ["cnn1", "act1", "pool1"]
    with ForwardCounter(cnn_net.module_) as forwards:
        D = cnn_net.transform_layers(X, names, batch_size=16)
    assert forwards.count == math.ceil(70 / 16)
    hooked = {
        name: hand_hook_calls(cnn_net.module_, name, torch.from_numpy(X))[0].numpy()
        for name in names
    }
    for name in names:
        np.testing.assert_allclose(D[name], hooked[name], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def lstm_net():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 7, 3)).astype(np.float32)
    net = make_net(SequenceLSTM).fit(X, np.arange(12) % 2)
    return net, X


def _hooked_lstm(net, X):
    ((out, (h_n, c_n)),) = hand_hook_calls(net.module_, "lstm", torch.from_numpy(X))
    # h_n, c_n are (num_layers, batch, hidden): the samples are on axis 1.
    return out.numpy(), h_n.movedim(1, 0).numpy(), c_n.movedim(1, 0).numpy()


@pytest.mark.parametrize("batch_size", [1, 2, 5, 12])
def test_lstm_one_forward_per_batch_and_batch_second_state(lstm_net, batch_size):
    # num_layers is 2: a batch of 2 gives h_n the shape (2, 2, 6), where
    # the first batch alone cannot tell the axes apart. The layout of
    # nn.LSTM (h_n batch-second) decides; batches of 1 are ambiguous too.
    net, X = lstm_net
    names = ["lstm[0]", "lstm[1][0]", "lstm[1][1]"]
    with ForwardCounter(net.module_) as forwards:
        D = net.transform_layers(X, names, batch_size=batch_size)
    assert forwards.count == math.ceil(len(X) / batch_size)
    out, h_n, c_n = _hooked_lstm(net, X)
    np.testing.assert_allclose(D["lstm[0]"], out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(D["lstm[1][0]"], h_n, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(D["lstm[1][1]"], c_n, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def two_input_net():
    rng = np.random.default_rng(0)
    X = {
        "x1": rng.normal(size=(30, 3)).astype(np.float32),
        "x2": rng.normal(size=(30, 2)).astype(np.float32),
    }
    return make_net(TwoInputs).fit(X, np.arange(30) % 2), X


def _manual_two_inputs(module, X):
    Wa, ba = wb(module.a)
    Wb, bb = wb(module.b)
    return {
        "a": X["x1"].astype(np.float64) @ Wa.T + ba,
        "b": X["x2"].astype(np.float64) @ Wb.T + bb,
    }


@pytest.mark.parametrize("batch_size", [1, 4, 30])
def test_dict_input_one_forward_per_batch(two_input_net, batch_size):
    net, X = two_input_net
    with ForwardCounter(net.module_) as forwards:
        D = net.transform_layers(X, ["a", "b"], batch_size=batch_size)
    assert forwards.count == math.ceil(30 / batch_size)
    expected = _manual_two_inputs(net.module_, X)
    for name in ("a", "b"):
        np.testing.assert_allclose(D[name], expected[name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_dataset_input_one_forward_per_batch(wine_net, wine, batch_size):
    X = wine[0][:20]
    dataset = Dataset(X, np.zeros(len(X), dtype=np.int64))
    with ForwardCounter(wine_net.module_) as forwards:
        A = wine_net.transform_layer(dataset, "dense0", batch_size=batch_size)
    assert forwards.count == math.ceil(20 / batch_size)
    np.testing.assert_allclose(
        A, manual_wine(wine_net.module_, X)["dense0"], rtol=1e-5, atol=1e-5
    )


def test_dead_units_report_with_layers_one_forward_per_batch(wine_net, wine):
    X = wine[0][:60]
    with ForwardCounter(wine_net.module_) as forwards:
        wine_net.dead_units_report(X, layers=["dense0", "dense1"], batch_size=16)
    assert forwards.count == math.ceil(60 / 16)


def test_dask_three_layers_one_forward_per_chunk(wine):
    da = pytest.importorskip("dask.array")
    import dask

    X, y = wine
    net = make_net(CountingWine, batch_size=64).fit(X, y)
    lazy = net.transform_layers(
        da.from_array(X, chunks=50), ["dense0", "dense1", "output"]
    )
    CountingWine.forwards = 0
    D = dict(zip(lazy, dask.compute(*lazy.values(), scheduler="sync"), strict=True))
    # 178 rows in chunks of 50: 4 chunks, each within one batch of 64.
    assert CountingWine.forwards == 4
    expected = manual_wine(net.module_, X)
    for name, A in D.items():
        np.testing.assert_allclose(A, expected[name], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Batch axes the first batch cannot tell
# ---------------------------------------------------------------------------


@pytest.fixture
def time_major_net():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)).astype(np.float32)
    return make_net(TimeMajor, max_epochs=1).fit(X, np.arange(10) % 2), X


def _time_major(X, steps=4):
    scale = np.arange(1, steps + 1, dtype=np.float64)
    return scale[None, :, None] * X.astype(np.float64)[:, None, :]


def test_unambiguous_batches_find_a_second_axis(time_major_net):
    net, X = time_major_net
    A = net.transform_layer(X, "encode", batch_size=3)
    assert A.shape == (10, 4, 3)
    np.testing.assert_allclose(A, _time_major(X), rtol=1e-6)


def test_unclear_first_batch_is_held_until_a_batch_of_another_size(time_major_net):
    # batch_size equals the 4 steps: the first batch's output is (4, 4, 3),
    # and the module documents no layout. That batch is held back, the next
    # one is asked for 3 samples, and the two tell the axis: still one
    # forward pass per batch, nothing computed twice.
    net, X = time_major_net
    with ForwardCounter(net.module_) as forwards:
        A = net.transform_layer(X, "encode", batch_size=4)
    assert forwards.rows == [4, 3, 3]
    np.testing.assert_allclose(A, _time_major(X), rtol=1e-6)
    assert not net.module_._forward_hooks and not net.module_.encode._forward_hooks


def test_one_unclear_batch_warns(time_major_net):
    # Four samples in one batch: no batch of another size can tell.
    net, X = time_major_net
    net.__dict__.get("layer_batch_axes_", {}).clear()
    with pytest.warns(AmbiguousBatchAxisWarning, match="'encode'.*Axis 0 was taken"):
        net.transform_layer(X[:4], "encode", batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = net.transform_layer(X[:4], "encode", batch_size=3)  # 3 + 1
    np.testing.assert_allclose(A, _time_major(X[:4]), rtol=1e-6)


def _fixed_loader(dataset, **kwargs):
    """An iterator_valid that is no DataLoader class: batches of fixed size."""
    return torch.utils.data.DataLoader(dataset, **kwargs)


def test_a_later_batch_that_contradicts_the_convention_raises(time_major_net):
    # A loader of fixed batches cannot avoid the unclear size: the first
    # two batches cannot tell, and the last, smaller one shows axis 0 was
    # wrong. An error, never mixed-up samples.
    _, X = time_major_net
    net = make_net(TimeMajor, max_epochs=1, iterator_valid=_fixed_loader)
    net.fit(X, np.arange(10) % 2)
    with pytest.raises(RuntimeError, match="could not tell which axis"):
        net.transform_layer(Dataset(X, np.zeros(len(X))), "encode", batch_size=4)
    assert not net.module_.encode._forward_hooks


def test_a_datasets_unclear_first_batch_is_held_too(time_major_net):
    net, X = time_major_net
    net.__dict__.get("layer_batch_axes_", {}).clear()
    with ForwardCounter(net.module_) as forwards:
        A = net.transform_layer(Dataset(X, np.zeros(len(X))), "encode", batch_size=4)
    assert forwards.rows == [4, 3, 3]
    np.testing.assert_allclose(A, _time_major(X), rtol=1e-6)


def test_axis_learned_earlier_decides_an_ambiguous_first_batch(time_major_net):
    net, X = time_major_net
    net.transform_layer(X[:2], "encode")  # (4, 2, 3): axis 1, certain
    A = net.transform_layer(X, "encode", batch_size=4)
    np.testing.assert_allclose(A, _time_major(X), rtol=1e-6)
    one = net.transform_layer(X[:1], "encode")  # (4, 1, 3): only axis 1 fits
    np.testing.assert_allclose(one, _time_major(X[:1]), rtol=1e-6)


# ---------------------------------------------------------------------------
# Structured layer discovery
# ---------------------------------------------------------------------------


def test_layer_info_of_an_mlp(wine_net, wine):
    with ForwardCounter(wine_net.module_) as forwards:
        infos = wine_net.layer_info(wine[0])
    assert forwards.count == 1 and forwards.rows == [5]
    assert [(i.ref, i.type, i.shape, i.calls) for i in infos] == [
        ("dense0", "Linear", (20,), 1),
        ("dense1", "Linear", (10,), 1),
        ("output", "Linear", (3,), 1),
    ]
    assert all(i.is_leaf and i.is_tensor for i in infos)
    assert infos[0].describe() == "(None, 20)"


def test_layer_info_of_runs_and_tuples(lstm_net):
    net, X = lstm_net
    (lstm,) = [i for i in net.layer_info(X) if i.name == "lstm"]
    assert not lstm.is_tensor and lstm.shape is None
    tensors = lstm.tensors()
    assert list(tensors) == ["lstm[0]", "lstm[1][0]", "lstm[1][1]"]
    assert tensors["lstm[0]"].batch_axis == 0
    assert tensors["lstm[0]"].sample_shape == (7, 6)
    assert tensors["lstm[1][0]"].batch_axis == 1
    assert tensors["lstm[1][0]"].sample_shape == (2, 6)
    assert lstm.describe() == "((None, 7, 6), ((2, None, 6), (2, None, 6)))"


def test_layer_info_of_a_reused_module():
    from _models import ReusedBlock

    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 4)).astype(np.float32)
    net = make_net(ReusedBlock).fit(X, np.arange(9) % 2)
    infos = net.layer_info(X)
    assert [(i.ref, i.call, i.calls) for i in infos] == [
        ("inp", 0, 1),
        ("block@0", 0, 2),
        ("block@1", 1, 2),
        ("out", 0, 1),
    ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_layer_info_max_samples_is_checked(wine_net, wine, bad):
    with pytest.raises(ValueError, match="max_samples"):
        wine_net.layer_info(wine[0], max_samples=bad)


# ---------------------------------------------------------------------------
# The last Linear of a batch computed straight into the result
# ---------------------------------------------------------------------------


class _CountLinear:
    """Counts F.linear, which nn.Linear.forward calls."""

    def __init__(self, monkeypatch):
        import torch.nn.modules.linear as linear_module

        self.calls = 0
        original = linear_module.F.linear

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(linear_module.F, "linear", counted)


def _hooked_in_batches(module, layer, X, batch_size):
    """The layer's own output, by a hand-made hook, on the same batches."""
    return np.concatenate(
        [
            hand_hook_calls(module, layer, torch.from_numpy(X[i : i + batch_size]))[
                0
            ].numpy()
            for i in range(0, len(X), batch_size)
        ]
    )


class _NoBias(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(13, 6, bias=False)
        self.out = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("layer", ["dense0", "dense1", "output"])
def test_direct_linear_equals_the_modules_own_output(wine, layer, activation):
    from _models import WineClassifier

    X, y = wine
    net = make_net(WineClassifier, max_epochs=1).fit(X, y)
    net.transform_layer(X[:4], layer)  # learns the layer's runs and shape
    hooked = _hooked_in_batches(net.module_, layer, X, 16)
    if activation == "relu":
        hooked = np.maximum(hooked, 0)
    A = net.transform_layer(X, layer, batch_size=16, activation=activation)
    np.testing.assert_array_equal(A, hooked)


@pytest.mark.parametrize("module", ["double", "no_bias"])
def test_direct_linear_in_double_precision_and_without_bias(wine, module):
    from _models import DoubleWine

    X, y = wine
    cls, layer = (DoubleWine, "dense1") if module == "double" else (_NoBias, "hidden")
    net = make_net(cls, max_epochs=1).fit(X, y)
    net.transform_layer(X[:4], layer)
    Xm = X.astype(np.float64) if module == "double" else X
    hooked = _hooked_in_batches(net.module_, layer, Xm, 16)
    A = net.transform_layer(X, layer, batch_size=16)
    assert A.dtype == hooked.dtype
    np.testing.assert_array_equal(A, hooked)


def test_direct_linear_skips_the_modules_forward(wine, monkeypatch):
    from _models import WineClassifier

    X, y = wine
    net = make_net(WineClassifier, max_epochs=1).fit(X, y)
    net.transform_layer(X[:4], "dense1")
    count = _CountLinear(monkeypatch)
    net.transform_layer(X[:64], "dense1", batch_size=16)
    # 4 batches. The first tells the output's shape: dense0 and dense1 run
    # through F.linear. In the 3 others only dense0 does: dense1 is computed
    # into the result by the pre-hook.
    assert count.calls == 2 + 3
    assert not net.module_.dense1._forward_pre_hooks


def test_direct_linear_steps_aside_for_a_users_hook(wine, monkeypatch):
    from _models import WineClassifier

    X, y = wine
    net = make_net(WineClassifier, max_epochs=1).fit(X, y)
    net.transform_layer(X[:4], "dense1")
    seen = []
    handle = net.module_.dense1.register_forward_hook(
        lambda _m, _i, out: seen.append(out.shape[0])
    )
    try:
        count = _CountLinear(monkeypatch)
        A = net.transform_layer(X[:64], "dense1", batch_size=16)
    finally:
        handle.remove()
    assert count.calls == 8 and seen == [16, 16, 16, 16]
    np.testing.assert_allclose(
        A, manual_wine(net.module_, X[:64])["dense1"], rtol=1e-5, atol=1e-5
    )
