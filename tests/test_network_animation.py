"""NetworkUpdateAnimation: seed 003's colour rule, layout, frames and files."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_wine
from skorch import NeuralNetClassifier

from skviz.animate import NetworkUpdateAnimation, update_colors, update_thresholds
from skviz.record import WeightRecorder

RED = (1.0, 0.0, 0.0)
BLUE = (0.0, 0.0, 1.0)


def _seed_baseline():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "seed003_baseline.py"
    spec = importlib.util.spec_from_file_location("seed003_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# a hand-made 2 x 3 layer over two frames; values exact in float32
HAND = np.array(
    [
        [[0.75, -0.25, 0.0], [0.25, 0.5, -1.25]],
        [[0.25, 0.25, 0.25], [0.25, 0.25, 0.25]],
    ],
    dtype=np.float32,
)


def test_colour_rule_on_a_hand_made_update():
    # mean of the 12 values: (0 + 1.5) / 12 = 0.125
    # d = update - 0.125: frame 0 -> 0.625, -0.375, -0.125, 0.125, 0.375, -1.375
    #                     frame 1 -> 0.125 everywhere
    # |d| sorted: 1.375, 0.625, 0.375, ...; top_fraction 0.1 of 12 values
    # -> index int(12 * 0.1) = 1 -> threshold 0.625
    given = HAND.copy()
    anim = NetworkUpdateAnimation.from_updates([HAND], top_fraction=0.1)
    np.testing.assert_array_equal(HAND, given)  # the caller's array is untouched
    np.testing.assert_allclose(anim.centers_, [0.125])
    np.testing.assert_allclose(anim.thresholds_, [0.625])
    expected = np.array(
        [
            [
                (*RED, 1.0),  # d = t exactly: (d/t)^2 = 1
                (*BLUE, 0.36),  # (0.375 / 0.625)^2
                (*BLUE, 0.04),  # (0.125 / 0.625)^2
                (*RED, 0.04),
                (*RED, 0.36),
                (*BLUE, 1.0),  # |d| > t: opaque
            ],
            [(*RED, 0.04)] * 6,
        ]
    )
    assert anim.colors.shape == (2, 6, 4)
    np.testing.assert_array_equal(anim.colors[..., :3], expected[..., :3])
    np.testing.assert_allclose(anim.colors[..., 3], expected[..., 3], rtol=1e-6)

    # the drawn LineCollection carries exactly these colours, frame by frame
    anim.plot(figsize=(4, 3))
    np.testing.assert_allclose(anim.lines_.get_colors(), expected[0], rtol=1e-6)
    anim.draw_frame(1)
    np.testing.assert_allclose(anim.lines_.get_colors(), expected[1], rtol=1e-6)
    assert anim.ax_.get_title() == "update 2 of 2"
    # edge (out i, in j) runs from input node j to output node i
    seg = anim.segments.reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(seg[1, 2, 0], anim.node_xy[2])  # input 2
    np.testing.assert_array_equal(seg[1, 2, 1], anim.node_xy[3 + 1])  # output 1


def test_update_colors_edge_cases():
    u = np.array([0.0, np.nan, 2.0, -3.0, 0.5], dtype=np.float32)
    c = update_colors(u, center=0.0, threshold=1.0)
    np.testing.assert_array_equal(c[0], [0, 0, 0, 0])  # no change: transparent
    np.testing.assert_array_equal(c[1], [0, 0, 0, 0])  # NaN: transparent
    np.testing.assert_array_equal(c[2], [*RED, 1])
    np.testing.assert_array_equal(c[3], [*BLUE, 1])
    np.testing.assert_array_equal(c[4], [*RED, 0.25])
    zero = update_colors(u, center=0.0, threshold=0.0)  # every change opaque
    np.testing.assert_array_equal(zero[:, 3], [0, 0, 1, 1, 1])
    custom = update_colors(u, 0.0, 1.0, positive=(0, 1, 0), negative=(1, 0, 1))
    np.testing.assert_array_equal(custom[2], [0, 1, 0, 1])
    np.testing.assert_array_equal(custom[3], [1, 0, 1, 1])
    with pytest.raises(ValueError, match="threshold"):
        update_colors(u, 0.0, -1.0)


def test_colours_match_the_seed_loops():
    seed = _seed_baseline()
    rng = np.random.default_rng(0)
    # changes as the seed keeps them: (out, in, batches), heavy-tailed
    changes = [
        (rng.standard_t(3, size=(4, 6, 30)) * 1e-3).astype(np.float32),
        (rng.standard_t(3, size=(3, 4, 30)) * 1e-3).astype(np.float32),
    ]
    tf_lists, ave_lists = seed.seed_thresholds(changes)
    frames_first = [np.moveaxis(c, -1, 0) for c in changes]

    centers, thresholds = update_thresholds(frames_first, top_fraction=1e-4)
    np.testing.assert_array_equal(thresholds, np.asarray(tf_lists, np.float32))
    np.testing.assert_allclose(centers, ave_lists, rtol=1e-5)

    anim = NetworkUpdateAnimation.from_updates(frames_first)
    for frame in (0, 7, 29):
        base = np.asarray(
            seed.create_colors(changes, frame, tf_lists, ave_lists), np.float32
        )
        mine = np.concatenate(
            [
                update_colors(u[frame], a, t).reshape(-1, 4)
                for u, a, t in zip(frames_first, ave_lists, tf_lists, strict=True)
            ]
        )
        np.testing.assert_array_equal(mine[:, :3], base[:, :3])
        # the seed squares with libm's powf, numpy exactly: at most 1 ulp apart
        ulp = np.spacing(np.maximum(mine[:, 3], base[:, 3]))
        assert np.all(np.abs(mine[:, 3] - base[:, 3]) <= ulp)
        # and with its own (float64) mean the animation draws the same picture
        np.testing.assert_allclose(anim.colors[frame], base, atol=1e-5)


def test_wide_columns_are_reduced_to_the_units_that_move_most():
    rng = np.random.default_rng(1)
    first = rng.normal(size=(5, 3, 6)).astype(np.float32)
    first[:, :, 4] *= 10  # input 4 and 1 move most
    first[:, :, 1] *= 5
    second = rng.normal(size=(5, 2, 3)).astype(np.float32)
    anim = NetworkUpdateAnimation.from_updates(
        [first, second], layers=["a", "b"], max_units=4, scaling="layer"
    )
    norm = np.square(first.astype(np.float64)).sum(axis=(0, 1))
    expected = np.sort(np.argsort(-norm)[:4])
    assert {1, 4} <= set(expected)
    np.testing.assert_array_equal(anim.units_[0], expected)
    assert anim.n_units_ == [6, 3, 2]
    assert anim.column_labels[0] == "a in\n(top 4 of 6\nby update norm)"
    assert anim.column_labels[1:] == ["a", "b"]
    assert anim.segments.shape == (3 * 4 + 2 * 3, 2, 2)
    assert anim.node_xy.shape == (4 + 3 + 2, 2)
    # thresholds come from the whole layer, colours are the kept edges'
    centers, thresholds = update_thresholds([first, second], scaling="layer")
    np.testing.assert_array_equal(anim.thresholds_, thresholds)
    full = update_colors(first, centers[0], thresholds[0])[:, :, expected]
    np.testing.assert_array_equal(anim.colors[:, :12], full.reshape(5, 12, 4))


def test_frames_selection_and_validation():
    u = np.random.default_rng(2).normal(size=(10, 2, 3)).astype(np.float32)
    steps = np.arange(1, 11) * 5
    anim = NetworkUpdateAnimation.from_updates([u], frames=4, steps=steps)
    assert anim.n_frames_ == 4 and list(anim.frames_) == [0, 1, 2, 3]
    assert anim.frame_titles[0] == "step 5"
    anim = NetworkUpdateAnimation.from_updates([u], frames=slice(1, None, 3))
    assert list(anim.frames_) == [1, 4, 7]
    anim = NetworkUpdateAnimation.from_updates([u], frames=[9, -1])
    assert list(anim.frames_) == [9, 9]
    with pytest.raises(ValueError, match="out of range"):
        NetworkUpdateAnimation.from_updates([u], frames=[10])
    with pytest.raises(ValueError, match="not consecutive"):
        NetworkUpdateAnimation.from_updates([u, u])
    with pytest.raises(ValueError, match="n_updates, out, in"):
        NetworkUpdateAnimation.from_updates([u[0]])
    with pytest.raises(ValueError, match="top_fraction"):
        NetworkUpdateAnimation.from_updates([u], top_fraction=0)
    with pytest.raises(ValueError, match="labels needs 2"):
        NetworkUpdateAnimation.from_updates([u], labels=["x"])


def _fit_wine(net_class, X, y, recorder, **kwargs):
    """The wine MLP trained one epoch with ``recorder`` as callback ``"rec"``."""
    from _models import WineClassifier

    torch.manual_seed(0)
    net = net_class(
        WineClassifier,
        max_epochs=1,
        batch_size=16,
        lr=0.05,
        criterion=torch.nn.CrossEntropyLoss,
        callbacks=[("rec", recorder)],
        verbose=0,
        **kwargs,
    )
    return net.fit(X, y)


@pytest.fixture(scope="module")
def recorder():
    X, y = load_wine(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    rec = WeightRecorder(["dense0.weight", "dense1.weight", "output.weight"])
    return _fit_wine(NeuralNetClassifier, X, y, rec), rec


def test_from_recorder_uses_the_recorded_updates(recorder):
    net, rec = recorder
    # every unit (the default max_units=12 would drop some of dense0's 20)
    anim = NetworkUpdateAnimation.from_estimator(net, max_units=20)
    assert anim.layers_ == ["dense0", "dense1", "output"]
    assert anim.n_units_ == [13, 20, 10, 3]
    assert anim.n_frames_ == rec.n_steps_ - 1
    updates = [rec.updates(f"{n}.weight") for n in anim.layers_]
    centers, thresholds = update_thresholds(updates)
    expected = np.concatenate(
        [
            update_colors(u, c, t).reshape(len(u), -1, 4)
            for u, c, t in zip(updates, centers, thresholds, strict=True)
        ],
        axis=1,
    )
    np.testing.assert_array_equal(anim.colors, expected)
    assert anim.frame_titles[2] == "step 3 · epoch 1, batch 3"

    sub = NetworkUpdateAnimation.from_recorder(
        rec, ["dense1", "output.weight"], frames=3
    )
    assert sub.n_units_ == [20, 10, 3] and sub.n_frames_ == 3
    with pytest.raises(ValueError, match="not consecutive"):
        NetworkUpdateAnimation.from_recorder(rec, ["dense0", "output"])
    with pytest.raises(ValueError, match="was not recorded"):
        NetworkUpdateAnimation.from_recorder(rec, ["dense2"])
    with pytest.raises(TypeError, match="list of names"):
        NetworkUpdateAnimation.from_recorder(rec, "dense0")


def test_from_a_saved_recording(recorder, tmp_path):
    from skviz.record import load

    net, rec = recorder
    rec.save(tmp_path / "rec")
    loaded = NetworkUpdateAnimation.from_recorder(load(tmp_path / "rec"))
    live = NetworkUpdateAnimation.from_estimator(net)
    np.testing.assert_array_equal(loaded.colors, live.colors)
    assert loaded.frame_titles == live.frame_titles
    with pytest.raises(TypeError, match="Recording"):
        NetworkUpdateAnimation.from_recorder(net)


def test_gif_has_one_frame_per_update(recorder, tmp_path, capsys):
    _, rec = recorder
    anim = NetworkUpdateAnimation.from_recorder(rec, frames=5)
    anim.plot(figsize=(4, 2.5))
    path = anim.save(tmp_path / "updates.gif", fps=5, dpi=50, progress=True)
    assert "frames" in capsys.readouterr().err  # the progress bar
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 5
        assert gif.size == (200, 125)
        assert gif.info["duration"] == 200
    # the layout engine is back once rendering is over
    assert anim.figure_.get_layout_engine() is not None
    # .mp4 and .html are written too now (tests/test_animation_base.py);
    # a suffix without a writer names the formats that work
    with pytest.raises(ValueError, match=r"\.gif, \.mp4 or \.html"):
        anim.save(tmp_path / "updates.avi")


def test_to_jshtml_embeds_every_frame(recorder):
    _, rec = recorder
    anim = NetworkUpdateAnimation.from_recorder(rec, frames=3)
    anim.plot(figsize=(3, 2))
    html = anim.to_jshtml(fps=4)
    assert set(re.findall(r"frames\[(\d+)\] = ", html)) == {"0", "1", "2"}
    assert "<script" in html


@pytest.mark.parametrize("fps", [0, -2, True, "10"])
def test_bad_fps_is_refused_before_rendering(recorder, tmp_path, fps):
    _, rec = recorder
    anim = NetworkUpdateAnimation.from_recorder(rec, frames=3)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        anim.save(tmp_path / "updates.gif", fps=fps)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        anim.to_jshtml(fps=fps)
    assert not hasattr(anim, "lines_")  # nothing was drawn
    assert list(tmp_path.iterdir()) == []


def test_sqrt_scaling_grows_with_the_square_root_of_the_layer_size():
    rng = np.random.default_rng(3)
    # 5 x 4 x 6 = 120 values, then 5 x 2 x 4 = 40 values (the smallest layer)
    big = rng.normal(size=(5, 4, 6)).astype(np.float32)
    small = rng.normal(size=(5, 2, 4)).astype(np.float32)
    centers, thresholds = update_thresholds([big, small], top_fraction=0.1)
    # opaque counts: int(40 * 0.1 * sqrt(120 / 40)) = 6 and int(40 * 0.1) = 4
    for u, c, t, k in zip([big, small], centers, thresholds, [6, 4], strict=True):
        dev = np.sort(np.abs(u.ravel() - c))[::-1]
        assert t == dev[k]
    layer = update_thresholds([big, small], top_fraction=0.1, scaling="layer")[1]
    assert layer[0] == np.sort(np.abs(big.ravel() - centers[0]))[::-1][12]
    with pytest.raises(ValueError, match="scaling must be one of"):
        update_thresholds([big], scaling="seed 003")


def test_scaling_seed_is_a_deprecated_name_of_sqrt():
    u = np.random.default_rng(4).normal(size=(6, 2, 3)).astype(np.float32)
    with pytest.warns(FutureWarning, match="scaling='sqrt'"):
        old = update_thresholds([u], 0.1, scaling="seed")
    np.testing.assert_array_equal(old, update_thresholds([u], 0.1, scaling="sqrt"))
    with pytest.warns(FutureWarning, match="scaling='sqrt'"):
        anim = NetworkUpdateAnimation.from_updates([u], scaling="seed")
    new = NetworkUpdateAnimation.from_updates([u])
    np.testing.assert_array_equal(anim.colors, new.colors)
    # the footer says the rule, not where it came from
    assert anim.rule == new.rule
    assert "seed" not in new.rule and "√(layer size)" in new.rule
    per_layer = NetworkUpdateAnimation.from_updates([u], scaling="layer")
    assert "(per layer)" in per_layer.rule


def test_auto_frames_spread_over_a_long_recording():
    u = np.random.default_rng(5).normal(size=(90, 2, 3)).astype(np.float32)
    anim = NetworkUpdateAnimation.from_updates([u])
    # 30 updates from the first to the last, evenly: round(k * 89 / 29)
    expected = np.round(np.arange(30) * 89 / 29).astype(int)
    assert anim.n_frames_ == 30 and expected[0] == 0 and expected[-1] == 89
    np.testing.assert_array_equal(anim.frames_, expected)
    assert anim.frame_titles[1] == "update 4 of 90"  # round(89 / 29) = 3
    # thresholds still come from all 90 updates
    centers, thresholds = update_thresholds([u])
    np.testing.assert_array_equal(anim.thresholds_, thresholds)
    np.testing.assert_array_equal(
        anim.colors[1], update_colors(u[3], centers[0], thresholds[0]).reshape(6, 4)
    )
    # short recordings keep every update; None still draws all
    assert NetworkUpdateAnimation.from_updates([u[:30]]).n_frames_ == 30
    assert NetworkUpdateAnimation.from_updates([u], frames=None).n_frames_ == 90
    with pytest.raises(ValueError, match="frames must be 'auto'"):
        NetworkUpdateAnimation.from_updates([u], frames="all")


def test_default_gif_of_a_wide_net_is_small(tmp_path):
    # 784 -> 30 -> 10, 40 updates: the defaults draw 12 units of each wide
    # column, 30 frames, 800 x 400 pixels
    rng = np.random.default_rng(6)
    first = (rng.standard_t(3, size=(40, 30, 784)) * 1e-3).astype(np.float32)
    second = (rng.standard_t(3, size=(40, 10, 30)) * 1e-3).astype(np.float32)
    anim = NetworkUpdateAnimation.from_updates([first, second], layers=["l1", "l2"])
    assert [len(u) for u in anim.units_] == [12, 12, 10]
    assert anim.segments.shape == (12 * 12 + 10 * 12, 2, 2)
    assert anim.n_frames_ == 30
    path = anim.save(tmp_path / "wide.gif", progress=False)
    with Image.open(path) as gif:
        assert gif.size == (800, 400) and gif.n_frames == 30
    assert path.stat().st_size < 2e6
    assert anim.lines_.get_linewidths()[0] == 0.75


def test_input_units_are_labelled_with_feature_names():
    rng = np.random.default_rng(7)
    u = rng.normal(size=(4, 3, 20)).astype(np.float32)
    u[:, :, 5] *= 100  # input 5 moves most: always drawn
    names = [f"f{i}" for i in range(20)]
    anim = NetworkUpdateAnimation.from_updates([u], feature_names=names)
    assert anim.input_names == [names[i] for i in anim.units_[0]]
    assert len(anim.input_names) == 12 and "f5" in anim.input_names
    anim.plot()
    texts = [t.get_text() for t in anim.ax_.texts]
    assert texts == anim.input_names
    # each name sits at its node
    first = anim.node_xy[:12]
    np.testing.assert_array_equal([t.xy for t in anim.ax_.texts], first)
    with pytest.raises(ValueError, match="feature_names has 3 names"):
        NetworkUpdateAnimation.from_updates([u], feature_names=["a", "b", "c"])
    assert NetworkUpdateAnimation.from_updates([u]).input_names is None


def test_from_estimator_names_the_inputs_of_a_net_fitted_on_a_dataframe():
    import pandas as pd

    from skviz import InspectableNeuralNetClassifier

    data = load_wine(as_frame=True)
    X = ((data.data - data.data.mean()) / data.data.std()).astype(np.float32)
    assert isinstance(X, pd.DataFrame)
    net = _fit_wine(
        InspectableNeuralNetClassifier,
        X,
        data.target.to_numpy(),
        WeightRecorder(),
        train_split=None,
    )
    anim = NetworkUpdateAnimation.from_estimator(net)
    assert anim.layers_[0] == "dense0"
    columns = list(data.data.columns)
    assert anim.input_names == [columns[i] for i in anim.units_[0]]
    # a hidden layer's inputs are not the features
    assert NetworkUpdateAnimation.from_estimator(net, ["dense1"]).input_names is None
    # the caller's names win
    own = [f"x{i}" for i in range(13)]
    anim = NetworkUpdateAnimation.from_estimator(net, feature_names=own)
    assert anim.input_names == [own[i] for i in anim.units_[0]]
