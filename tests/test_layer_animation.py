"""LayerTransformAnimation: stages, frames, projections, artists, output."""

import matplotlib.animation
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import make_circles
from torch import nn

from skviz import InspectableNeuralNetClassifier, InspectableNeuralNetRegressor
from skviz.animate import LayerTransformAnimation

SMALL = dict(grid_lines=5, grid_resolution=9, region_resolution=6)


class OutOfOrder(nn.Module):
    """Defined in another order than run; one activation module runs twice."""

    def __init__(self):
        super().__init__()
        self.act = nn.Tanh()
        self.out = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)
        self.hidden = nn.Linear(2, 4)

    def forward(self, x):
        return self.out(self.act(self.drop(self.act(self.hidden(x)))))


class Functional(nn.Module):
    """Activation applied with F.relu, as in seed 000."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 5)
        self.fc2 = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def _seq():
    return nn.Sequential(
        nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)
    )


def _fit(module, X, y, **kw):
    torch.manual_seed(0)
    net = InspectableNeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        lr=0.1,
        batch_size=32,
        train_split=None,
        verbose=0,
        **kw,
    )
    return net.fit(X, y)


@pytest.fixture(scope="module")
def data():
    X, y = make_circles(n_samples=60, noise=0.05, factor=0.4, random_state=0)
    return X.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def seq_net(data):
    return _fit(_seq(), *data)


@pytest.fixture(scope="module")
def ooo_net(data):
    return _fit(OutOfOrder(), *data)


@pytest.fixture(scope="module")
def fun_net(data):
    return _fit(Functional(), *data)


def _stage_frame(k, F, H):
    """Index of the first frame that shows stage k exactly (by the timeline's rule)."""
    return 0 if k == 0 else (1 + H) + (k - 1) * (F + H) + (F - 1)


def _input_grid(X, lines, res, padding=0.1):
    lo, hi = X.min(0).astype(float), X.max(0).astype(float)
    lo, hi = lo - padding * (hi - lo), hi + padding * (hi - lo)
    t = np.linspace(0, 1, res)
    rows = [
        np.c_[lo[0] + t * (hi[0] - lo[0]), np.full(res, v)]
        for v in np.linspace(lo[1], hi[1], lines)
    ]
    cols = [
        np.c_[np.full(res, v), lo[1] + t * (hi[1] - lo[1])]
        for v in np.linspace(lo[0], hi[0], lines)
    ]
    return np.array(rows + cols)


# ----------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------


def test_default_stages_follow_forward_order_not_definition_order(ooo_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(ooo_net, X, y, **SMALL)
    labels = [s.label for s in anim.stages_[0]]
    # drop (Dropout in eval) changes nothing and is left out; act runs twice.
    assert labels == ["input", "hidden", "act@0", "act@1", "out"]
    assert [s.module_type for s in anim.stages_[0][1:]] == [
        "Linear",
        "Tanh",
        "Tanh",
        "Linear",
    ]
    assert [s.width for s in anim.stages_[0]] == [2, 4, 4, 4, 2]


def test_explicit_layers_keep_the_requested_order(ooo_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(
        ooo_net, X, y, layers=["out", "drop", "hidden"], **SMALL
    )
    assert [s.label for s in anim.stages_[0]] == ["input", "out", "drop", "hidden"]


def test_layer_stages_equal_transform_layer(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(seq_net, X, y, align=False, **SMALL)
    stages = anim.stages_[0]
    assert [s.label for s in stages] == ["input", "0", "1", "2", "3", "4"]
    for st in stages[1:]:
        np.testing.assert_array_equal(st.values, seq_net.transform_layer(X, st.label))
    # Width 2 is drawn as is: the frame showing the last stage is the output.
    F, H = anim.frames_per_transition, anim.hold_frames
    last = anim.frame_coordinates(_stage_frame(5, F, H))
    np.testing.assert_array_equal(last["points"], seq_net.transform_layer(X, "4"))
    assert last["stage_from"] == last["stage_to"] == 5 and last["alpha"] == 0


def test_first_frame_is_the_input_and_its_grid(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(seq_net, X, y, **SMALL)
    first = anim.frame_coordinates(0)
    np.testing.assert_array_equal(first["points"], X.astype(np.float64))
    np.testing.assert_allclose(first["lines"], _input_grid(X, 5, 9), rtol=1e-6)
    # Rows are horizontal lines and columns vertical ones.
    assert np.ptp(first["lines"][0, :, 1]) == 0 and np.ptp(first["lines"][5, :, 0]) == 0


def test_wide_stage_is_pca_of_the_points_and_grid_follows(ooo_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(ooo_net, X, y, **SMALL)
    st = anim.stages_[0][1]  # "hidden", 4-D
    assert st.method == "pca"
    A = ooo_net.transform_layer(X, "hidden").astype(np.float64)
    # Own PCA through numpy's SVD; the drawing may turn it orthogonally.
    mean = A.mean(0)
    _, _, Vt = np.linalg.svd(A - mean, full_matrices=False)
    scores = (A - mean) @ Vt[:2].T
    R, *_ = np.linalg.lstsq(scores, st.coords, rcond=None)
    np.testing.assert_allclose(scores @ R, st.coords, atol=1e-4)
    np.testing.assert_allclose(R.T @ R, np.eye(2), atol=1e-4)
    # The grid goes through the same fit: its 4-D representation, projected.
    G = ooo_net.transform_layer(
        _input_grid(X, 5, 9).reshape(-1, 2).astype(np.float32), "hidden"
    )
    np.testing.assert_allclose(
        ((G - mean) @ Vt[:2].T @ R).reshape(10, 9, 2), st.line_coords, atol=1e-4
    )
    # The title says so.
    frame = _stage_frame(1, anim.frames_per_transition, anim.hold_frames)
    title = anim.frame_coordinates(frame)["title"]
    assert "4-D, PCA 2-D" in title and "hidden" in title


def test_align_false_gives_plain_pca(ooo_net, data):
    from sklearn.decomposition import PCA

    X, y = data
    anim = LayerTransformAnimation.from_estimator(ooo_net, X, y, align=False, **SMALL)
    st = anim.stages_[0][2]
    A = ooo_net.transform_layer(X, "act@0")
    np.testing.assert_allclose(st.coords, PCA(2).fit_transform(A), atol=1e-5)
    np.testing.assert_array_equal(st.rotation, np.eye(2))


def test_functional_activation_adds_a_stage_from_the_same_pass(fun_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(
        fun_net, X, y, activations={"fc1": "relu"}, align=False, **SMALL
    )
    stages = anim.stages_[0]
    assert [s.label for s in stages] == ["input", "fc1", "relu(fc1)", "fc2"]
    np.testing.assert_array_equal(
        stages[2].values, fun_net.transform_layer(X, "fc1", activation="relu")
    )
    with pytest.raises(ValueError, match="not among the layers"):
        LayerTransformAnimation.from_estimator(
            fun_net, X, y, activations={"fc3": "relu"}, **SMALL
        )


def test_one_capture_pass_for_all_layers(seq_net, data, monkeypatch):
    X, y = data
    calls = {"capture_layers": 0, "transform_layers": 0, "transform_layer": 0}
    cls = type(seq_net)
    for name in calls:
        original = getattr(cls, name)

        def counting(self, *a, _name=name, _orig=original, **k):
            calls[_name] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(cls, name, counting)
    big = []
    handle = seq_net.module_.register_forward_pre_hook(
        lambda m, inp: big.append(len(inp[0])) if len(inp[0]) > 2 else None
    )
    try:
        LayerTransformAnimation.from_estimator(seq_net, X, y, **SMALL)
    finally:
        handle.remove()
    assert calls == {"capture_layers": 1, "transform_layers": 0, "transform_layer": 0}
    # The default layers come from one discovery forward of 5 rows. Then
    # every row goes through the net twice: once in the capture pass over
    # points, grid and lattice (whatever the number of layers), and once in
    # predict_proba for the decision regions (with the cell centres).
    n_grid = len(X) + 2 * 5 * 9 + 6 * 6
    assert big[0] == 5
    assert sum(big[1:]) == n_grid + (n_grid + 5 * 5)


# ----------------------------------------------------------------------
# Frames
# ----------------------------------------------------------------------


@pytest.mark.parametrize(("F", "H"), [(1, 0), (4, 0), (3, 2)])
def test_frame_count_and_timeline(seq_net, data, F, H):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(
        seq_net, X, y, frames_per_transition=F, hold_frames=H, **SMALL
    )
    S = len(anim.stages_[0])
    assert anim.n_frames_ == len(anim.frames_) == (1 + H) + (S - 1) * (F + H)
    for k in range(S):
        row = anim.frames_.iloc[_stage_frame(k, F, H)]
        assert (row.kind, row.stage_from, row.stage_to) == ("stage", k, k)
    moves = anim.frames_[anim.frames_.kind == "move"]
    assert len(moves) == (S - 1) * (F - 1)


def test_interpolation_is_linear_with_exact_endpoints(seq_net, data):
    X, y = data
    F = 4
    anim = LayerTransformAnimation.from_estimator(
        seq_net, X, y, frames_per_transition=F, hold_frames=1, **SMALL
    )
    stages = anim.stages_[0]
    for t in range(len(stages) - 1):
        start = _stage_frame(t, F, 1)
        a, b = stages[t], stages[t + 1]
        np.testing.assert_array_equal(anim.frame_coordinates(start)["points"], a.coords)
        np.testing.assert_array_equal(
            anim.frame_coordinates(_stage_frame(t + 1, F, 1))["points"], b.coords
        )
        for j in range(1, F):
            i = start + 1 + j  # after the stage frame and its one hold frame
            state = anim.frame_coordinates(i)
            assert (state["stage_from"], state["stage_to"]) == (t, t + 1)
            alpha = state["alpha"]
            assert alpha == pytest.approx(j / F)
            np.testing.assert_allclose(
                state["points"], (1 - alpha) * a.coords + alpha * b.coords
            )
            np.testing.assert_allclose(
                state["lines"], (1 - alpha) * a.line_coords + alpha * b.line_coords
            )
            assert f"{a.label} → {b.label}" in state["title"]


def test_limits_are_fixed_within_a_transition_and_hold_both_ends(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(
        seq_net, X, y, frames_per_transition=5, hold_frames=2, **SMALL
    )
    ax = anim.axes_[0]
    frames = anim.frames_
    for t in range(len(anim.stages_[0]) - 1):
        idx = frames.index[(frames.kind == "move") & (frames.stage_from == t)]
        seen = set()
        for i in idx:
            anim.draw_frame(int(i))
            seen.add((ax.get_xlim(), ax.get_ylim()))
        assert len(seen) == 1
        ((xlim, ylim),) = seen
        for st in anim.stages_[0][t : t + 2]:
            assert xlim[0] <= st.coords[:, 0].min() and st.coords[:, 0].max() <= xlim[1]
            assert ylim[0] <= st.coords[:, 1].min() and st.coords[:, 1].max() <= ylim[1]


# ----------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------


def test_artists_are_reused_across_frames(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(seq_net, X, y, **SMALL).plot()
    view = anim.views_[0]
    ax = anim.axes_[0]
    before = (
        list(ax.lines),
        list(ax.collections),
        view.lines,
        view.regions,
        list(view.points),
    )
    for i in (7, 20, anim.n_frames_ - 1):
        artists = anim.draw_frame(i)
        after = (
            list(ax.lines),
            list(ax.collections),
            view.lines,
            view.regions,
            list(view.points),
        )
        assert all(
            a is b
            for x, z in zip(before[:2], after[:2], strict=True)
            for a, b in zip(x, z, strict=True)
        )
        assert after[2] is before[2] and after[3] is before[3]
        assert all(a is b for a, b in zip(before[4], after[4], strict=True))
        assert set(map(id, artists)) == {id(a) for a in view.artists()}
        state = anim.frame_coordinates(i)
        np.testing.assert_allclose(np.array(view.lines.get_segments()), state["lines"])
        for artist, c in zip(view.points, (0, 1), strict=True):
            x, yy = artist.get_data()
            np.testing.assert_allclose(np.c_[x, yy], state["points"][y == c])
        assert ax.get_title() == state["title"]


def test_decision_regions_are_the_predicted_class_at_cell_centres(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(seq_net, X, y, **SMALL).plot()
    lattice = anim.stages_[0][0].lattice_coords  # input space, 6 x 6 vertices
    centres = (lattice[:-1, :-1] + lattice[1:, 1:]) / 2
    expected = seq_net.predict_proba(centres.reshape(-1, 2).astype(np.float32)).argmax(
        1
    )
    np.testing.assert_array_equal(anim.cell_classes_[0], expected)
    # One compound path per predicted class, five vertices per cell.
    paths = anim.views_[0].regions.get_paths()
    assert len(paths) == len(np.unique(expected))
    assert sorted(len(p.vertices) // 5 for p in paths) == sorted(
        np.bincount(expected)[np.bincount(expected) > 0]
    )
    plain = LayerTransformAnimation.from_estimator(
        seq_net, X, y, decision_regions=False, **SMALL
    ).plot()
    assert (
        plain.views_[0].regions is None and plain.stages_[0][0].lattice_coords is None
    )


def test_predict_proba_stage(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(
        seq_net, X, y, predict_proba_stage=True, **SMALL
    )
    last = anim.stages_[0][-1]
    assert last.label == "predict_proba"
    np.testing.assert_allclose(last.coords, seq_net.predict_proba(X), atol=1e-6)


def test_compare_aligns_frames_and_holds_the_shorter_net(seq_net, fun_net, data):
    X, y = data
    F, H = 3, 1
    anim = LayerTransformAnimation.compare(
        [seq_net, fun_net],
        X,
        y,
        titles=["seq", "fun"],
        frames_per_transition=F,
        hold_frames=H,
        **SMALL,
    )
    n_long, n_short = len(anim.stages_[0]), len(anim.stages_[1])
    assert (n_long, n_short) == (6, 3)
    assert anim.n_frames_ == (1 + H) + (n_long - 1) * (F + H)
    assert len(anim.axes_) == 2
    # Transition t plays at the same frames in both panels.
    i = _stage_frame(1, F, H) + 1 + 1
    assert (
        anim.frame_coordinates(i, 0)["stage_from"]
        == anim.frame_coordinates(i, 1)["stage_from"]
        == 1
    )
    # After its last stage the shorter net holds it, with a constant view.
    held = [
        anim.frame_coordinates(i, 1)
        for i in range(_stage_frame(n_short, F, H), anim.n_frames_)
    ]
    for state in held:
        np.testing.assert_array_equal(state["points"], anim.stages_[1][-1].coords)
        np.testing.assert_array_equal(state["limits"], held[0]["limits"])
    anim.draw_frame(anim.n_frames_ - 1)
    assert anim.axes_[0].get_title().startswith("seq\n")
    assert anim.axes_[1].get_title().startswith("fun\n")


def test_three_d_projection_draws_width_three_as_is(seq_net, data):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(
        seq_net, X, y, projection="3d", frames_per_transition=2, hold_frames=0, **SMALL
    )
    assert anim.axes_[0].name == "3d"
    st = anim.stages_[0][1]
    assert st.method == "as is"
    np.testing.assert_array_equal(st.coords, seq_net.transform_layer(X, "0"))
    first = anim.stages_[0][0].coords
    np.testing.assert_array_equal(first[:, :2], X)
    np.testing.assert_array_equal(first[:, 2], 0)
    anim.draw_frame(0)
    azim0 = anim.axes_[0].azim
    anim.draw_frame(3)
    assert anim.axes_[0].azim != azim0
    x, yy, z = anim.views_[0].points[0].get_data_3d()
    np.testing.assert_allclose(
        np.c_[x, yy, z], anim.frame_coordinates(3)["points"][y == 0]
    )


# ----------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------


def test_net_with_non_2d_input_is_refused_clearly(data):
    X3 = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    y3 = (X3[:, 0] > 0).astype(np.int64)
    net = _fit(nn.Sequential(nn.Linear(3, 2)), X3, y3)
    with pytest.raises(
        ValueError, match=r"2 features per sample.*\(n_samples, 2\).*\(3,\)"
    ):
        LayerTransformAnimation.from_estimator(net, X3, y3)


def test_X_that_is_not_2d_is_refused(seq_net, data):
    X, y = data
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):
        LayerTransformAnimation.from_estimator(seq_net, np.c_[X, X[:, :1]], y)
    with pytest.raises(ValueError, match="one label per sample"):
        LayerTransformAnimation.from_estimator(seq_net, X, y[:-1])
    with pytest.raises(TypeError, match="inspectable net"):
        LayerTransformAnimation.from_estimator(object(), X, y)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"frames_per_transition": 0}, ValueError, "frames_per_transition"),
        ({"hold_frames": -1}, ValueError, "hold_frames"),
        ({"projection": "tsne"}, ValueError, "projection"),
        ({"layers": "0"}, TypeError, "list of layer names"),
        ({"layers": []}, ValueError, "empty"),
        ({"layers": ["nope"]}, ValueError, "nope"),
        ({"decision_regions": "yes"}, ValueError, "decision_regions"),
        ({"grid_lines": 1}, ValueError, "grid_lines"),
    ],
)
def test_bad_parameters(seq_net, data, kwargs, error, match):
    X, y = data
    with pytest.raises(error, match=match):
        LayerTransformAnimation.from_estimator(seq_net, X, y, **kwargs)


def test_regressor_without_regions_and_regions_refused(data):
    X, y = data
    torch.manual_seed(0)
    reg = InspectableNeuralNetRegressor(
        nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)),
        max_epochs=1,
        train_split=None,
        verbose=0,
    ).fit(X, y.astype(np.float32)[:, None])
    anim = LayerTransformAnimation.from_estimator(reg, X, **SMALL).plot()
    assert anim.views_[0].regions is None
    assert anim.stages_[0][-1].width == 1
    np.testing.assert_array_equal(anim.stages_[0][-1].coords[:, 1], 0)
    with pytest.raises(ValueError, match="classifiers"):
        LayerTransformAnimation.from_estimator(reg, X, decision_regions=True)


def test_dataframe_trained_net(data):
    X, y = data
    df = pd.DataFrame(X, columns=["radius_x", "radius_y"])
    net = _fit(_seq(), df, y)
    anim = LayerTransformAnimation.from_estimator(net, df, y, **SMALL)
    assert anim.frame_coordinates(0)["axis_labels"] == ("radius_x", "radius_y")
    assert anim.axes_[0].get_xlabel() == "radius_x"
    np.testing.assert_array_equal(
        anim.stages_[0][1].values, net.transform_layer(df, "0")
    )
    # An array for a net fitted on a frame still gets the feature names.
    from_array = LayerTransformAnimation.from_estimator(net, X, y, **SMALL)
    assert from_array.axes_[0].get_ylabel() == "radius_y"
    with pytest.raises(ValueError, match="differ from the feature names"):
        LayerTransformAnimation.from_estimator(net, df.set_axis(["a", "b"], axis=1), y)


def test_caller_objects_are_left_alone(seq_net, data):
    X, y = data
    X_before, y_before = X.copy(), y.copy()
    seq_net.transform_layer(X[:5], "0")
    seq_net.module_.train()
    LayerTransformAnimation.from_estimator(seq_net, X, y, **SMALL)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert seq_net.inspection_X_ is not None and len(seq_net.inspection_X_) == 5
    assert all(m.training for m in seq_net.module_.modules())
    assert not seq_net.module_._forward_hooks and not seq_net.module_[0]._forward_hooks


# ----------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------


def test_save_gif_html_and_filmstrip(seq_net, fun_net, data, tmp_path):
    X, y = data
    anim = LayerTransformAnimation.compare(
        [seq_net, fun_net], X, y, frames_per_transition=2, hold_frames=0, **SMALL
    )
    gif = tmp_path / "a.gif"
    anim.save(gif, fps=5, dpi=40, progress=False)
    with Image.open(gif) as im:
        assert im.format == "GIF" and 1 < im.n_frames <= anim.n_frames_
        expected = anim.figure_.get_size_inches() * 40
        assert np.all(np.abs(np.array(im.size) - expected) <= 1)
    html = anim.to_jshtml(fps=5, dpi=30, progress=False)
    assert "<script" in html and html.count("data:image/png;base64") == anim.n_frames_
    anim.save(tmp_path / "a.html", dpi=30, progress=False)
    assert (tmp_path / "a.html").read_text().startswith(html[:50])
    anim.save_filmstrip(tmp_path / "film.png", dpi=40)
    assert anim.filmstrip_axes_.shape == (2, 6)
    assert not anim.filmstrip_axes_[1, 3].axison and anim.filmstrip_axes_[1, 2].axison
    titles = [ax.get_title() for ax in anim.filmstrip_axes_[0]]
    assert titles[0].startswith("input") and titles[4].startswith("3 · ReLU")
    with Image.open(tmp_path / "film.png") as im:
        assert im.format == "PNG"
    with pytest.raises(ValueError, match=r"\.gif, \.mp4 or \.html"):
        anim.save(tmp_path / "a.avi")


def test_mp4_without_ffmpeg_says_so(seq_net, data, tmp_path, monkeypatch):
    X, y = data
    anim = LayerTransformAnimation.from_estimator(seq_net, X, y, **SMALL)
    monkeypatch.setattr(
        matplotlib.animation.writers, "is_available", lambda name: False
    )
    with pytest.raises(RuntimeError, match="ffmpeg"):
        anim.save(tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()


def test_user_axes_are_used(seq_net, fun_net, data):
    import matplotlib.pyplot as plt

    X, y = data
    fig, axes = plt.subplots(1, 2)
    anim = LayerTransformAnimation.compare([seq_net, fun_net], X, y, axes=axes, **SMALL)
    assert anim.figure_ is fig and list(anim.axes_) == list(axes)
    with pytest.raises(ValueError, match="2 panel"):
        LayerTransformAnimation.compare(
            [seq_net, fun_net], X, y, axes=axes[:1], **SMALL
        )
    with pytest.raises(ValueError, match="3-D axes"):
        LayerTransformAnimation.from_estimator(
            seq_net, X, y, projection="3d", axes=axes[0], **SMALL
        )


def test_folded_cells_are_turned_so_that_they_fill():
    from matplotlib.path import Path

    from skviz.animate._panel import _region_paths

    ccw = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    cells = np.stack([ccw, ccw[::-1] + 0.5])  # the second one folded over
    (path,) = _region_paths(cells, [np.array([0, 1])])
    assert list(path.codes[:5]) == [Path.MOVETO, *[Path.LINETO] * 3, Path.CLOSEPOLY]
    for poly in path.vertices.reshape(2, 5, 2):
        x, y = poly[:4, 0], poly[:4, 1]
        assert np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0
    # A point covered only by the folded cell is inside the compound path.
    assert path.contains_point((1.4, 1.4)) and path.contains_point((0.7, 0.7))


def test_stage_with_nan_is_named(seq_net, data):
    import copy

    X, y = data
    net = copy.deepcopy(seq_net)
    first = next(m for m in net.module_.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        first.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"Stage '.*Linear' holds NaN") as info:
        LayerTransformAnimation.from_estimator(net, X, y, **SMALL)
    assert f"{len(X)} of {len(X)} samples" in str(info.value)
