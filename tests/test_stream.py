"""``net.stream_layers``: each batch's activations, one forward per batch, no leftovers."""

import numpy as np
import pytest
import torch
from _models import WineClassifier, make_net
from _refs import ForwardCounter, hand_hooks, leftover_hooks, run_in_thread

from skviz.stream import aligned

LAYERS = ["dense0", "dense1", "output"]


@pytest.fixture(scope="module")
def net_and_X(wine):
    X, y = wine
    return make_net(WineClassifier, max_epochs=2).fit(X, y), X


def _by_hand(net, X, batch_size):
    """Hand-hooked outputs of every batch, concatenated."""
    parts = {name: [] for name in LAYERS}
    for start in range(0, len(X), batch_size):
        out = hand_hooks(
            net.module_.eval(), LAYERS, torch.from_numpy(X[start : start + batch_size])
        )
        for name in LAYERS:
            parts[name] += out[name]
    return {name: np.concatenate(p) for name, p in parts.items()}


@pytest.mark.parametrize("batch_size", [16, 50, 500])
def test_batches_equal_hand_hooks_and_forwards_are_counted(net_and_X, batch_size):
    net, X = net_and_X
    expected = _by_hand(net, X, batch_size)
    with ForwardCounter(net.module_) as counter:
        with net.stream_layers(X, LAYERS, batch_size=batch_size) as batches:
            got = list(batches)
    assert counter.count == -(-len(X) // batch_size)
    assert [b.start for b in got] == list(range(0, len(X), batch_size))
    assert got[-1].stop == len(X)
    for name in LAYERS:
        values = np.concatenate([b[name] for b in got])
        assert values.dtype == np.float32
        np.testing.assert_allclose(values, expected[name], rtol=1e-6, atol=1e-6)
    assert leftover_hooks(net.module_) == []


def test_stopping_early_or_raising_leaves_no_hook_and_no_lock(net_and_X):
    net, X = net_and_X
    net.module_.train()
    with net.stream_layers(X, LAYERS, batch_size=10) as batches:
        first = next(iter(batches))
        assert leftover_hooks(net.module_) != []  # hooks live while streaming
    assert first.stop == 10
    assert leftover_hooks(net.module_) == []
    with pytest.raises(KeyError, match="boom"):
        with net.stream_layers(X, LAYERS, batch_size=10) as batches:
            for _ in batches:
                raise KeyError("boom")
    assert leftover_hooks(net.module_) == []
    # A fresh thread can inspect: the locks were released.
    run_in_thread(lambda: net.transform_layer(X[:5], "dense0"))
    assert net.module_.training  # the mode it had before


def test_predict_inside_the_loop_does_not_write_into_handed_out_rows(net_and_X):
    net, X = net_and_X
    expected = _by_hand(net, X, 40)
    with net.stream_layers(X, LAYERS, batch_size=40) as batches:
        kept = []
        for batch in batches:
            net.predict(X[::-1][:40])
            kept.append(batch)
    np.testing.assert_allclose(
        np.concatenate([b["dense0"] for b in kept]), expected["dense0"], rtol=1e-6
    )


def test_two_nets_advance_together_one_forward_per_batch_each(wine):
    X, y = wine
    a = make_net(WineClassifier, seed=0).fit(X, y)
    b = make_net(WineClassifier, seed=1).fit(X, y)
    with ForwardCounter(a.module_) as ca, ForwardCounter(b.module_) as cb:
        with (
            a.stream_layers(X, ["dense0"], batch_size=32) as sa,
            b.stream_layers(X, ["output"], batch_size=32) as sb,
        ):
            pairs = list(aligned(sa, sb))
    assert ca.count == cb.count == len(pairs) == -(-len(X) // 32)
    assert all(pa.start == pb.start and pa.stop == pb.stop for pa, pb in pairs)
    assert leftover_hooks(a.module_) == leftover_hooks(b.module_) == []


def test_aligned_cuts_batches_of_different_sizes_to_common_rows():
    from skviz.stream import LayerBatch

    rows = np.arange(10.0)[:, None]

    def stream(size):
        for s in range(0, 10, size):
            yield LayerBatch(s, min(s + size, 10), {"x": rows[s : s + size]})

    pairs = list(aligned(stream(4), stream(3)))
    assert [(p.start, p.stop) for p, _ in pairs] == [
        (0, 3),
        (3, 4),
        (4, 6),
        (6, 8),
        (8, 9),
        (9, 10),
    ]
    for p, q in pairs:
        np.testing.assert_array_equal(p["x"], q["x"])
        np.testing.assert_array_equal(p["x"][:, 0], np.arange(p.start, p.stop))


def test_dask_input_streams_chunk_by_chunk(net_and_X):
    da = pytest.importorskip("dask.array")
    net, X = net_and_X
    with net.stream_layers(da.from_array(X, chunks=60), ["dense1"], batch_size=25) as b:
        got = list(b)
    assert max(batch.stop - batch.start for batch in got) <= 25
    np.testing.assert_allclose(
        np.concatenate([g["dense1"] for g in got]),
        net.transform_layer(X, "dense1"),
        rtol=1e-5,
        atol=1e-6,
    )


def test_bad_names_fail_before_any_forward(net_and_X):
    net, X = net_and_X
    with ForwardCounter(net.module_) as counter:
        with pytest.raises(ValueError, match="dense"):
            with net.stream_layers(X, ["dense9"]):
                pass
        with pytest.raises(TypeError):
            net.stream_layers(X, "dense0").__enter__()
        with pytest.raises(ValueError, match="empty"):
            net.stream_layers(X, []).__enter__()
    assert counter.count == 0


def test_autograd_mode_is_the_callers_in_the_loop_and_after(wine):
    X, y = wine
    a = make_net(WineClassifier, seed=0).fit(X, y)
    b = make_net(WineClassifier, seed=1).fit(X, y)
    assert torch.is_grad_enabled()
    with (
        a.stream_layers(X, ["dense0"], batch_size=64) as sa,
        b.stream_layers(X, ["dense0"], batch_size=64) as sb,
    ):
        # Both streams end inside aligned(), a first: the order they started.
        for _ in aligned(sa, sb):
            assert torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    with torch.no_grad(), a.stream_layers(X, ["dense0"]) as batches:
        for _ in batches:
            assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
