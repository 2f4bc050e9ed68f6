"""Layer references: dotted names, runs (``name@k``), tuple/dict outputs.

Expected values come from manual forwards (numpy, from the fitted weights)
and hooks registered by hand, never from skviz.
"""

import math

import numpy as np
import pytest
import torch
from _models import (
    InplaceReLU,
    NestedSequential,
    ReusedBlock,
    SequenceLSTM,
    WineClassifier,
)
from _refs import ForwardCounter, hand_hook_calls, wb
from torch import nn

from skviz import InspectableNeuralNetClassifier


def _fit(module_cls, X, y, **kwargs):
    torch.manual_seed(0)
    net = InspectableNeuralNetClassifier(
        module_cls,
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        lr=0.05,
        train_split=None,
        verbose=0,
        **kwargs,
    )
    return net.fit(X, y)


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(45, 4)).astype(np.float32), np.arange(45) % 2


# ---------------------------------------------------------------------------
# LSTM: (out, (h_n, c_n)) with h_n and c_n batch-second
# ---------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def manual_lstm(lstm, X):
    """PyTorch's LSTM equations in numpy (gate order i, f, g, o)."""
    n, T, _ = X.shape
    H = lstm.hidden_size
    layer_input = X.astype(np.float64)
    h_n, c_n = [], []
    for k in range(lstm.num_layers):
        W_ih = getattr(lstm, f"weight_ih_l{k}").detach().double().numpy()
        W_hh = getattr(lstm, f"weight_hh_l{k}").detach().double().numpy()
        b = (
            getattr(lstm, f"bias_ih_l{k}").detach().double().numpy()
            + getattr(lstm, f"bias_hh_l{k}").detach().double().numpy()
        )
        h = np.zeros((n, H))
        c = np.zeros((n, H))
        outputs = []
        for t in range(T):
            gates = layer_input[:, t] @ W_ih.T + h @ W_hh.T + b
            i, f, g, o = np.split(gates, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            outputs.append(h)
        layer_input = np.stack(outputs, axis=1)
        h_n.append(h)
        c_n.append(c)
    return layer_input, np.stack(h_n), np.stack(c_n)  # (n,T,H), (L,n,H), (L,n,H)


@pytest.fixture(scope="module")
def lstm_net():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 7, 3)).astype(np.float32)
    return _fit(SequenceLSTM, X, np.arange(23) % 2), X


def test_lstm_outputs_match_manual_lstm_and_hand_hook(lstm_net):
    net, X = lstm_net
    names = ["lstm[0]", "lstm[1][0]", "lstm[1][1]"]
    D = net.transform_layers(X, names, batch_size=5)
    out, h_n, c_n = manual_lstm(net.module_.lstm, X)

    assert D["lstm[0]"].shape == (23, 7, 6)
    # h_n / c_n are (num_layers, batch, hidden); skviz puts the batch first.
    assert D["lstm[1][0]"].shape == (23, 2, 6)
    assert D["lstm[1][1]"].shape == (23, 2, 6)
    np.testing.assert_allclose(D["lstm[0]"], out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        D["lstm[1][0]"], h_n.transpose(1, 0, 2), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        D["lstm[1][1]"], c_n.transpose(1, 0, 2), rtol=1e-5, atol=1e-5
    )
    # The last layer's h_n is the last step of the output sequence.
    np.testing.assert_allclose(D["lstm[1][0]"][:, -1], D["lstm[0]"][:, -1], atol=1e-6)

    (hooked,) = hand_hook_calls(net.module_, "lstm", torch.from_numpy(X))
    np.testing.assert_allclose(D["lstm[0]"], hooked[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(
        D["lstm[1][0]"], hooked[1][0].movedim(1, 0).numpy(), atol=1e-6
    )


def test_lstm_single_sample_batches(lstm_net):
    # In batches of one sample, h_n is (2, 1, 6): only axis 1 has the
    # batch's size, so the first batch tells it.
    net, X = lstm_net
    A = net.transform_layer(X[:3], "lstm[1][0]", batch_size=1)
    _, h_n, _ = manual_lstm(net.module_.lstm, X[:3])
    np.testing.assert_allclose(A, h_n.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "lstm[1]", "lstm[2]", "lstm[0][0]"])
def test_lstm_ambiguous_or_invalid_reference_lists_choices(lstm_net, name):
    net, X = lstm_net
    with pytest.raises(ValueError) as info:
        net.transform_layer(X, name)
    message = str(info.value)
    for choice in ("'lstm[0]'", "'lstm[1][0]'", "'lstm[1][1]'"):
        assert choice in message


def test_lstm_summary_marks_batch_dimension(lstm_net):
    net, X = lstm_net
    summary = net.layer_summary(X).set_index("name")
    assert summary.loc["lstm", "output_shape"] == (
        "((None, 7, 6), ((2, None, 6), (2, None, 6)))"
    )
    assert summary.loc["head", "output_shape"] == "(None, 2)"
    assert summary.loc["lstm", "calls"] == 1
    assert summary.loc["lstm", "n_params"] == sum(
        p.numel() for p in net.module_.lstm.parameters()
    )


# ---------------------------------------------------------------------------
# A module that runs twice per forward
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reused_net(small_data):
    X, y = small_data
    return _fit(ReusedBlock, X, y)


def manual_reused(module, X):
    Wi, bi = wb(module.inp)
    Wb, bb = wb(module.block)
    inp = X.astype(np.float64) @ Wi.T + bi
    first = np.tanh(inp) @ Wb.T + bb
    second = np.tanh(first) @ Wb.T + bb
    return {"inp": inp, "block@0": first, "block@1": second}


def test_reused_module_runs_addressed_separately(reused_net, small_data):
    X, _ = small_data
    D = reused_net.transform_layers(X, ["block@0", "block@1", "inp@0"], batch_size=8)
    expected = manual_reused(reused_net.module_, X)
    np.testing.assert_allclose(D["block@0"], expected["block@0"], atol=1e-5)
    np.testing.assert_allclose(D["block@1"], expected["block@1"], atol=1e-5)
    np.testing.assert_allclose(D["inp@0"], expected["inp"], atol=1e-5)
    assert not np.allclose(D["block@0"], D["block@1"])

    calls = hand_hook_calls(reused_net.module_, "block", torch.from_numpy(X))
    assert len(calls) == 2
    np.testing.assert_allclose(D["block@0"], calls[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(D["block@1"], calls[1].numpy(), atol=1e-6)


def test_reused_module_first_run_stops_early(reused_net, small_data):
    X, _ = small_data
    with ForwardCounter(reused_net.module_, ["block", "out"]) as counter:
        reused_net.transform_layer(X, "block@0", batch_size=10)
    counts = counter.counts
    n_batches = math.ceil(len(X) / 10)
    # "@0" names the run, so every forward, the first batch's too, stops
    # right after block's first run: one forward per batch, no probe.
    assert counts == {"block": n_batches, "out": 0}


def test_reused_module_bare_name_is_ambiguous(reused_net, small_data):
    X, _ = small_data
    with pytest.raises(ValueError, match=r"'block@0', 'block@1'") as info:
        reused_net.transform_layer(X, "block")
    assert "2 times" in str(info.value)


@pytest.mark.parametrize("name", ["block@2", "inp@1"])
def test_reused_module_run_out_of_range(reused_net, small_data, name):
    X, _ = small_data
    with pytest.raises(ValueError, match=r"numbered from 0"):
        reused_net.transform_layer(X, name)


def test_reused_module_summary_counts_calls(reused_net, small_data):
    X, _ = small_data
    calls = reused_net.layer_summary(X).set_index("name")["calls"].to_dict()
    assert calls == {"inp": 1, "block": 2, "out": 1}


# ---------------------------------------------------------------------------
# Nested containers, in-place activations, compiled modules
# ---------------------------------------------------------------------------


def test_nested_sequential_dotted_names(small_data):
    X, y = small_data
    net = _fit(NestedSequential, X, y)
    assert net.layer_names() == [
        "features",
        "features.0",
        "features.1",
        "features.2",
        "head",
    ]
    D = net.transform_layers(X, ["features.0", "features.1", "features"])
    W0, b0 = wb(net.module_.features[0])
    W2, b2 = wb(net.module_.features[2])
    h0 = X.astype(np.float64) @ W0.T + b0
    np.testing.assert_allclose(D["features.0"], h0, atol=1e-5)
    np.testing.assert_allclose(D["features.1"], np.maximum(h0, 0), atol=1e-5)
    # A container's output is its last child's output.
    np.testing.assert_allclose(D["features"], np.maximum(h0, 0) @ W2.T + b2, atol=1e-5)


def test_inplace_relu_does_not_overwrite_captured_linear_output(small_data):
    X, y = small_data
    net = _fit(InplaceReLU, X, y)
    W, b = wb(net.module_.fc)
    pre = X.astype(np.float64) @ W.T + b
    assert (pre < 0).any()

    D = net.transform_layers(X, ["fc", "relu"], batch_size=16)
    np.testing.assert_allclose(D["fc"], pre, atol=1e-5)
    np.testing.assert_allclose(D["relu"], np.maximum(pre, 0), atol=1e-5)
    np.testing.assert_allclose(net.transform_layer(X, "fc"), pre, atol=1e-5)

    # The pitfall skviz avoids: a hook that keeps ``output.detach()`` (seed
    # 001's hook) holds a view of the tensor that ReLU(inplace=True) then
    # overwrites, so the "Linear output" it reports has no negatives left.
    kept = []
    handle = net.module_.fc.register_forward_hook(
        lambda _m, _i, out: kept.append(out.detach())
    )
    try:
        with torch.no_grad():
            net.module_(torch.from_numpy(X))
    finally:
        handle.remove()
    np.testing.assert_allclose(kept[0].numpy(), np.maximum(pre, 0), atol=1e-5)


def test_compiled_module_uses_the_users_names(small_data):
    X, y = small_data
    net = _fit(NestedSequential, X, y)
    expected = net.transform_layer(X, "features.0")
    # skorch's compile=True stores torch.compile(module); wrapping by hand
    # gives the same OptimizedModule without tracing anything.
    net.module_ = torch.compile(net.module_, backend="eager")
    assert all("_orig_mod" not in name for name in net.layer_names())
    assert "features.0" in net.layer_names()
    np.testing.assert_array_equal(net.transform_layer(X, "features.0"), expected)


# ---------------------------------------------------------------------------
# Dict outputs, batch-independent outputs, modules that never run
# ---------------------------------------------------------------------------


class _DictEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 3)

    def forward(self, x):
        z = self.proj(x)
        return {"weights": torch.softmax(z, dim=1), "values": z}


class _DictNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = _DictEncoder()
        self.scale = nn.Identity()  # sees only a batch-independent tensor
        self.unused = nn.Linear(3, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        out = self.enc(x)
        gain = self.scale(torch.ones(3))
        return self.head(out["weights"] * out["values"] * gain)


@pytest.fixture(scope="module")
def dict_net(small_data):
    X, y = small_data
    return _fit(_DictNet, X, y)


@pytest.mark.parametrize("ref", ["enc['values']", "enc[values]", 'enc["values"]'])
def test_dict_output_by_key(dict_net, small_data, ref):
    X, _ = small_data
    W, b = wb(dict_net.module_.enc.proj)
    A = dict_net.transform_layer(X, ref)
    np.testing.assert_allclose(A, X.astype(np.float64) @ W.T + b, atol=1e-5)


def test_dict_output_bare_name_lists_keys(dict_net, small_data):
    X, _ = small_data
    with pytest.raises(ValueError, match="Choose one of") as info:
        dict_net.transform_layer(X, "enc")
    assert "enc['weights']" in str(info.value)
    assert "enc['values']" in str(info.value)
    with pytest.raises(ValueError, match=r"Choose one of"):
        dict_net.transform_layer(X, "enc['nope']")


def test_batch_independent_output_is_refused(dict_net, small_data):
    X, _ = small_data
    with pytest.raises(ValueError, match="no axis holds one entry per sample"):
        dict_net.transform_layer(X, "scale")


def test_module_that_never_runs_is_refused(dict_net, small_data):
    X, _ = small_data
    with pytest.raises(ValueError, match="did not run"):
        dict_net.transform_layer(X, "unused")


# ---------------------------------------------------------------------------
# Malformed and unknown names
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_like():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 13)).astype(np.float32)
    return _fit(WineClassifier, X, np.arange(30) % 3), X


@pytest.mark.parametrize(
    ("name", "close"),
    [
        ("dense", ["'dense0'", "'dense1'"]),
        ("Dense0", ["'dense0'"]),
        ("dense_0", ["'dense0'"]),
        ("outptu", ["'output'"]),
        ("dense7@1", ["'dense0'"]),
    ],
)
def test_unknown_layer_names_close_matches(wine_like, name, close):
    net, X = wine_like
    with pytest.raises(ValueError, match="layer_names") as info:
        net.transform_layer(X, name)
    for match in close:
        assert match in str(info.value)


def test_unknown_layer_without_close_match(wine_like):
    net, X = wine_like
    with pytest.raises(ValueError, match="Unknown layer 'zzz'") as info:
        net.transform_layer(X, "zzz")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize("name", ["", "  ", "dense0@", "dense0@x", "dense0[", "@1"])
def test_malformed_reference(wine_like, name):
    net, X = wine_like
    with pytest.raises(ValueError):
        net.transform_layer(X, name)


def test_names_argument_types(wine_like):
    net, X = wine_like
    with pytest.raises(TypeError, match="transform_layers"):
        net.transform_layer(X, ["dense0"])
    with pytest.raises(TypeError, match="transform_layer"):
        net.transform_layers(X, "dense0")
    with pytest.raises(ValueError, match="empty"):
        net.transform_layers(X, [])
    with pytest.raises(ValueError, match="duplicates"):
        net.transform_layers(X, ["dense0", "dense0"])
    with pytest.raises(ValueError, match="Unknown activation"):
        net.transform_layer(X, "dense0", activation="softsign")
