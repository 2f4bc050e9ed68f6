"""Real architecture patterns give exactly what plain forward hooks give.

Every expected value comes from forward hooks registered by hand that clone
their outputs (a later in-place ReLU would change them otherwise). Batch
sizes are chosen so that the batch axis is ambiguous where it can be (a
batch as long as the sequence, as many samples as recurrent layers).
"""

import math

import numpy as np
import pytest
import torch
from _models import make_net
from _refs import ForwardCounter, leftover_hooks
from _zoo import MobileBlockNet, RecurrentNet, ResidualNet, TinyEncoder, tokens


def _images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3, 8, 8)).astype(np.float32), np.arange(n) % 3


def hand_hook_calls_kw(module, name, *args, **kwargs):
    """Every output of ``name`` in one forward pass, cloned, in call order."""
    calls = []

    def clone(out):
        if isinstance(out, torch.Tensor):
            return out.detach().clone()
        if isinstance(out, torch.nn.utils.rnn.PackedSequence):
            return out  # not compared
        if isinstance(out, tuple | list):
            return type(out)(clone(o) for o in out)
        if out is None:
            return None
        return {k: clone(v) for k, v in out.items()}

    handle = dict(module.named_modules())[name].register_forward_hook(
        lambda _m, _i, out: calls.append(clone(out))
    )
    # Eval mode, as inspection uses (BatchNorm's running statistics, no
    # Dropout); the modes are put back afterwards.
    modes = [(m, m.training) for m in module.modules()]
    try:
        with torch.no_grad():
            module.eval()
            module(*args, **kwargs)
    finally:
        handle.remove()
        for m, training in modes:
            m.training = training
    return calls


# ---------------------------------------------------------------------------
# Residual CNN: a shared in-place ReLU that runs twice per block
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def residual():
    X, y = _images()
    return make_net(ResidualNet, max_epochs=2, lr=0.05).fit(X, y), X


RESIDUAL_REFS = [
    ("bn1", "bn1", 0),  # overwritten in place by the stem's ReLU
    ("relu", "relu", 0),
    ("layer1.0.bn1", "layer1.0.bn1", 0),
    ("layer1.0.relu@0", "layer1.0.relu", 0),
    ("layer1.0.relu@1", "layer1.0.relu", 1),
    ("layer1.1.relu@1", "layer1.1.relu", 1),
    ("layer1", "layer1", 0),
    ("pool", "pool", 0),
]


def test_residual_block_outputs_equal_cloning_hooks(residual):
    net, X = residual
    refs = [ref for ref, _, _ in RESIDUAL_REFS]
    with ForwardCounter(net.module_) as forwards:
        D = net.transform_layers(X, refs, batch_size=8)
    assert forwards.count == 3
    for ref, module, call in RESIDUAL_REFS:
        expected = hand_hook_calls_kw(net.module_, module, torch.from_numpy(X))[call]
        np.testing.assert_allclose(D[ref], expected.numpy(), rtol=1e-5, atol=1e-6)
    # The in-place ReLU really overwrites bn1's output: a hook that keeps the
    # tensor without cloning it sees post-ReLU values.
    assert (D["bn1"] < 0).any()
    assert leftover_hooks(net.module_) == []


def test_residual_summary_names_both_runs_of_the_shared_relu(residual):
    net, X = residual
    infos = {info.ref: info for info in net.layer_info(X)}
    assert {"layer1.0.relu@0", "layer1.0.relu@1"} <= set(infos)
    assert infos["layer1.0.relu@1"].shape == (8, 8, 8)
    with pytest.raises(ValueError, match=r"'layer1.0.relu@0', 'layer1.0.relu@1'"):
        net.transform_layer(X, "layer1.0.relu")


# ---------------------------------------------------------------------------
# MobileNet-style block: depthwise conv, squeeze-excitation, Hardswish
# ---------------------------------------------------------------------------


def test_depthwise_block_with_squeeze_excitation_equals_cloning_hooks():
    X, y = _images()
    net = make_net(MobileBlockNet, max_epochs=2, lr=0.05).fit(X, y)
    refs = ["act0", "depthwise", "act1", "se.pool", "se.gate", "se", "pointwise"]
    D = net.transform_layers(X, refs, batch_size=5)
    for ref in refs:
        expected = hand_hook_calls_kw(net.module_, ref, torch.from_numpy(X))[0]
        np.testing.assert_allclose(D[ref], expected.numpy(), rtol=1e-5, atol=1e-6)
    assert D["se.gate"].shape == (24, 8, 1, 1)
    assert net.module_.training  # fit left train mode; inspection restored it


# ---------------------------------------------------------------------------
# Transformer encoder with a dict input, batch-first and batch-second
# ---------------------------------------------------------------------------


ENCODER_REFS = [
    "embed",
    "encoder.layers.0.self_attn[0]",
    "encoder.layers.0.linear1",
    "encoder.layers.0.norm1",
    "encoder.layers.1",
    "encoder",
]


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_outputs_equal_cloning_hooks(batch_first):
    X, y = tokens()
    net = make_net(
        TinyEncoder, max_epochs=2, lr=0.01, module__batch_first=batch_first
    ).fit(X, y)
    # batch_size 6 = the sequence length: every (steps, batch, dim) tensor
    # has two axes of the batch's size; the encoder's layout decides.
    D = net.transform_layers(X, ENCODER_REFS, batch_size=6)
    tensors = {k: torch.from_numpy(v) for k, v in X.items()}
    for ref in ENCODER_REFS:
        name, _, index = ref.partition("[")
        expected = hand_hook_calls_kw(net.module_, name, **tensors)[0]
        if index:
            expected = expected[int(index[0])]
        expected = expected.numpy()
        if not batch_first and name != "embed":
            expected = np.swapaxes(expected, 0, 1)
        np.testing.assert_allclose(D[ref], expected, rtol=1e-5, atol=1e-6)
        assert D[ref].shape[:2] == (18, 6)


def test_transformer_summary_of_a_dict_input():
    X, y = tokens()
    net = make_net(TinyEncoder, max_epochs=1).fit(X, y)
    summary = net.layer_summary(X).set_index("name")
    assert summary.loc["embed", "output_shape"] == "(None, 6, 8)"
    assert summary.loc["encoder.layers.0.self_attn", "output_shape"] == (
        "((None, 6, 8), NoneType)"
    )


# ---------------------------------------------------------------------------
# LSTM and GRU in every layout
# ---------------------------------------------------------------------------

LAYOUTS = [
    (kind, batch_first, bidirectional, packed)
    for kind in ("lstm", "gru")
    for batch_first in (True, False)
    for bidirectional in (False, True)
    for packed in (False, True)
]


@pytest.mark.parametrize(
    ("kind", "batch_first", "bidirectional", "packed"),
    LAYOUTS,
    ids=[
        f"{k}-{'bf' if bf else 'tf'}-{'bi' if bi else 'uni'}-{'packed' if p else 'padded'}"
        for k, bf, bi, p in LAYOUTS
    ],
)
def test_recurrent_layouts_equal_cloning_hooks(
    kind, batch_first, bidirectional, packed
):
    rng = np.random.default_rng(0)
    steps = 4
    X = rng.normal(size=(12, steps, 3)).astype(np.float32)
    net = make_net(
        RecurrentNet,
        max_epochs=1,
        module__kind=kind,
        module__batch_first=batch_first,
        module__bidirectional=bidirectional,
        module__packed=packed,
    ).fit(X, np.arange(12) % 2)
    h_ref = "rnn[1][0]" if kind == "lstm" else "rnn[1]"
    refs = [h_ref, "unpack", "head"] + ([] if packed else ["rnn[0]"])
    layers = 2 * (2 if bidirectional else 1)
    # batch_size 4 = steps = layers x directions (bidirectional): ambiguous
    D = net.transform_layers(X, refs, batch_size=4)
    ((_out, state),) = hand_hook_calls_kw(net.module_, "rnn", torch.from_numpy(X))
    h_n = state[0] if kind == "lstm" else state
    np.testing.assert_allclose(D[h_ref], h_n.movedim(1, 0).numpy(), atol=1e-6)
    assert D[h_ref].shape == (12, layers, 5)
    (unpacked,) = hand_hook_calls_kw(net.module_, "unpack", torch.from_numpy(X))
    unpacked = unpacked.numpy() if batch_first else np.swapaxes(unpacked.numpy(), 0, 1)
    np.testing.assert_allclose(D["unpack"], unpacked, atol=1e-6)
    if not packed:
        np.testing.assert_allclose(D["rnn[0]"], unpacked, atol=1e-6)


def test_packed_sequence_output_says_why_and_what_to_capture():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 4, 3)).astype(np.float32)
    net = make_net(RecurrentNet, max_epochs=1, module__packed=True).fit(
        X, np.arange(10) % 2
    )
    with ForwardCounter(net.module_) as forwards:
        with pytest.raises(ValueError, match="is a PackedSequence") as info:
            net.transform_layer(X, "rnn[0]")
    assert "'rnn[1][0]'" in str(info.value)
    assert "pad_packed_sequence" in str(info.value)
    assert forwards.count == 1
    summary = net.layer_summary(X).set_index("name")
    assert summary.loc["rnn", "output_shape"].startswith("(PackedSequence, ")


# ---------------------------------------------------------------------------
# Hugging Face BERT, built from a tiny config (optional: transformers)
# ---------------------------------------------------------------------------


class _TinyBert(torch.nn.Module):
    def __init__(self, n_classes=2):
        super().__init__()
        transformers = pytest.importorskip("transformers")
        config = transformers.BertConfig(
            vocab_size=30,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=16,
        )
        torch.manual_seed(0)
        self.bert = transformers.BertModel(config)
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, input_ids, attention_mask):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
        return self.head(out.pooler_output)


def test_bert_outputs_equal_cloning_hooks():
    pytest.importorskip("transformers")
    X, y = tokens(n=10, steps=5)
    net = make_net(_TinyBert, max_epochs=1, lr=0.01).fit(X, y)
    refs = [
        "bert.embeddings",
        "bert.encoder.layer.0.intermediate",
        "bert.encoder.layer.1.output",
        "bert.pooler",
        "bert['last_hidden_state']",
    ]
    D = net.transform_layers(X, refs, batch_size=5)
    tensors = {k: torch.from_numpy(v) for k, v in X.items()}
    for ref in refs:
        name = ref.split("[")[0]
        expected = hand_hook_calls_kw(net.module_, name, **tensors)[0]
        if "[" in ref:
            expected = expected["last_hidden_state"]
        np.testing.assert_allclose(D[ref], expected.numpy(), rtol=1e-5, atol=1e-6)
    assert D["bert.pooler"].shape == (10, 16)
    assert math.isclose(float(np.abs(D["bert.pooler"]).max()) <= 1.0, 1.0)


def test_bert_dead_unit_defaults_are_its_activations():
    pytest.importorskip("transformers")
    from skviz import reports

    X, y = tokens(n=10, steps=5)
    net = make_net(_TinyBert, max_epochs=1, lr=0.01).fit(X, y)
    layers = reports.default_report_layers(net, X)
    # The GELU of each layer's intermediate block and the pooler's Tanh;
    # never position_embeddings, whose output does not depend on the batch.
    assert layers == [
        "bert.encoder.layer.0.intermediate.intermediate_act_fn",
        "bert.encoder.layer.1.intermediate.intermediate_act_fn",
        "bert.pooler.activation",
    ]
    report = net.dead_units_report(X)
    assert report.attrs["rules"] == {
        layers[0]: "negative_slope",
        layers[1]: "negative_slope",
        layers[2]: "saturation",
    }
    # Sequence outputs: the 32 intermediate features are the units.
    assert (report["layer"] == layers[0]).sum() == 32
    A = net.transform_layer(X, layers[0])
    np.testing.assert_allclose(
        report[report.layer == layers[0]]["active_fraction"],
        (A > 0).any(axis=1).mean(axis=0),
    )
