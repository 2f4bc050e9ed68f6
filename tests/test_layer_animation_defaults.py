"""LayerTransformAnimation defaults that keep it readable: one activation
mapping per net, a 3-D camera chosen from the data, legible text, grid
lines that fade where they bunch up."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import make_circles
from torch import nn

from skviz.animate import LayerTransformAnimation
from skviz.animate._geometry import camera_angles, line_alpha, plane_normal
from tests.test_layer_animation import SMALL, _fit


class Act(nn.Module):
    """d1 -> act -> d2 -> act -> out, the activation applied functionally."""

    def __init__(self, act="tanh"):
        super().__init__()
        self.act = act
        self.d1 = nn.Linear(2, 3)
        self.d2 = nn.Linear(3, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        f = torch.tanh if self.act == "tanh" else F.relu
        return self.out(f(self.d2(f(self.d1(x)))))


@pytest.fixture(scope="module")
def circles():
    X, y = make_circles(n_samples=60, noise=0.05, factor=0.4, random_state=0)
    return X.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def nets(circles):
    return _fit(Act, *circles, module__act="tanh"), _fit(
        Act, *circles, module__act="relu"
    )


def test_compare_takes_one_activation_mapping_per_net(nets, circles):
    X, y = circles
    tanh_net, relu_net = nets
    acts = [{"d1": "tanh", "d2": "tanh"}, {"d1": "relu", "d2": "relu"}]
    anim = LayerTransformAnimation.compare(
        [tanh_net, relu_net], X, y, activations=acts, **SMALL
    )
    labels = [[s.label for s in stages] for stages in anim.stages_]
    assert labels[0] == ["input", "d1", "tanh(d1)", "d2", "tanh(d2)", "out"]
    assert labels[1] == ["input", "d1", "relu(d1)", "d2", "relu(d2)", "out"]
    for net, stages, name in [
        (tanh_net, anim.stages_[0], "tanh"),
        (relu_net, anim.stages_[1], "relu"),
    ]:
        np.testing.assert_allclose(
            stages[4].values,
            net.transform_layer(X, "d2", activation=name),
            rtol=1e-6,
        )
    # None: that net has no functional activation to add
    anim = LayerTransformAnimation.compare(
        [tanh_net, relu_net], X, y, activations=[None, {"d1": "relu"}], **SMALL
    )
    assert [s.label for s in anim.stages_[0]] == ["input", "d1", "d2", "out"]
    assert "relu(d1)" in [s.label for s in anim.stages_[1]]


def test_one_dict_for_several_nets_is_refused_before_any_forward(
    nets, circles, monkeypatch
):
    X, y = circles
    tanh_net, relu_net = nets
    calls = []
    monkeypatch.setattr(
        type(tanh_net), "capture_layers", lambda *a, **k: calls.append(1)
    )
    with pytest.raises(ValueError, match=r"one entry per net.*\[activations\] \* 2"):
        LayerTransformAnimation.compare(
            [tanh_net, relu_net], X, y, activations={"d2": "relu"}, **SMALL
        )
    with pytest.raises(ValueError, match="3 entries for 2 nets"):
        LayerTransformAnimation.compare(
            [tanh_net, relu_net], X, y, activations=[None, None, None]
        )
    with pytest.raises(TypeError, match=r"activations\[1\] must be a dict"):
        LayerTransformAnimation.compare(
            [tanh_net, relu_net], X, y, activations=[None, "relu"]
        )
    with pytest.raises(TypeError, match="one dict or None per net"):
        LayerTransformAnimation.compare([tanh_net, relu_net], X, y, activations="relu")
    assert calls == []


def test_same_dict_for_every_net_on_request(nets, circles):
    X, y = circles
    acts = {"d1": "relu"}
    anim = LayerTransformAnimation.compare(
        list(nets), X, y, activations=[acts] * 2, **SMALL
    )
    assert all("relu(d1)" in [s.label for s in st] for st in anim.stages_)
    # one net: a dict is that net's, as before
    one = LayerTransformAnimation.from_estimator(
        nets[0], X, y, activations=acts, **SMALL
    )
    assert "relu(d1)" in [s.label for s in one.stages_[0]]


def _turn(a, b):
    """Signed difference of two angles in degrees, in [-180, 180)."""
    return (a - b + 180) % 360 - 180


def test_plane_normal_and_camera_by_hand():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(2, 200))
    # points on the plane z = x: normal (-1, 0, 1) / sqrt(2), pointing up
    points = np.c_[u, v, u]
    normal = plane_normal(points, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(normal, [-(0.5**0.5), 0, 0.5**0.5], atol=1e-9)
    # elevation of the normal 45 degrees, leaned to 30; azimuth 180
    elev, azim = camera_angles(normal)
    assert elev == pytest.approx(30.0) and _turn(azim, 180.0) == pytest.approx(0)
    assert _turn(camera_angles(normal, swing=10)[1], 190.0) == pytest.approx(0)
    # a flat input (z = 0) is seen from 60 degrees above, matplotlib's azimuth
    flat = np.c_[u, v, np.zeros_like(u)]
    assert camera_angles(plane_normal(flat, np.array([0, 0, 1.0]))) == pytest.approx(
        (60.0, -60.0)
    )
    # points on a line define no plane: the reference decides, within reason
    line = np.c_[u, 2 * u, np.zeros_like(u)]
    n = plane_normal(line, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(n, [0, 0, 1], atol=1e-9)


def _sight(elev, azim):
    e, a = np.radians([elev, azim])
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def test_three_d_planes_are_never_seen_edge_on(nets, circles):
    X, y = circles
    anim = LayerTransformAnimation.from_estimator(
        nets[0], X, y, projection="3d", activations={"d1": "tanh"}, **SMALL
    )
    stages = anim.stages_[0]
    seen = []
    for frame in range(anim.n_frames_):
        state = anim.frame_coordinates(frame)
        if state["alpha"] != 0:
            continue
        P = stages[state["stage_from"]].coords
        normal = np.linalg.eigh(np.cov((P - P.mean(0)).T))[1][:, 0]
        sight = _sight(*state["camera"])
        seen.append(np.degrees(np.arcsin(abs(sight @ normal))))
    # the camera leans at most 30 degrees from the normal and swings 25
    assert min(seen) >= 90 - 30 - 25
    anim.draw_frame(5)
    assert (anim.axes_[0].elev, anim.axes_[0].azim) == pytest.approx(
        anim.frame_coordinates(5)["camera"]
    )
    # the fixed, turning camera of before on request
    fixed = LayerTransformAnimation.from_estimator(
        nets[0], X, y, projection="3d", elev=22, **SMALL
    )
    step = 360 / fixed.n_frames_
    assert fixed.camera(3) == pytest.approx((22.0, -60 + 3 * step))
    plt.close("all")


def test_bunched_grid_lines_fade():
    t = np.linspace(0, 1, 50)
    limits = np.array([[0.0, 1.0], [0.0, 1.0]])
    # 10 rows and 10 columns of an undeformed grid: base opacity
    rows = [np.c_[t, np.full(50, v)] for v in np.linspace(0.05, 0.95, 10)]
    cols = [np.c_[np.full(50, v), t] for v in np.linspace(0.05, 0.95, 10)]
    assert line_alpha(np.array(rows + cols), limits, 0.55) == 0.55
    # all 20 lines squeezed onto one diagonal: 20 per cell, each so faint
    # that together they are as dark as one line
    diagonal = np.repeat(np.c_[t, t][None], 20, axis=0)
    alpha = line_alpha(diagonal, limits, 0.55)
    assert alpha == pytest.approx(1 - 0.45 ** (2 / 20))
    assert 1 - (1 - alpha) ** 20 == pytest.approx(1 - 0.45**2)


def test_gif_text_is_legible_and_late_stages_fade_their_grid(nets, circles, tmp_path):
    X, y = circles
    anim = LayerTransformAnimation.compare(
        list(nets),
        X,
        y,
        titles=["tanh", "ReLU"],
        frames_per_transition=2,
        hold_frames=0,
        activations=[{"d1": "tanh"}, {"d1": "relu"}],
    )
    last = anim.n_frames_ - 1
    anim.draw_frame(last)
    fig = anim.figure_
    dpi = fig.dpi
    texts = [
        t for t in fig.findobj(plt.Text) if t.get_text().strip() and t.get_visible()
    ]
    smallest = min(t.get_fontsize() for t in texts) * dpi / 72
    assert smallest >= 10  # pixels, at the figure's (and the GIF's) dpi
    for p, view in enumerate(anim.views_):
        state = anim.frame_coordinates(last, p)
        assert view.lines.get_alpha() == pytest.approx(
            line_alpha(state["lines"], state["limits"], 0.55)
        )
    path = anim.save(tmp_path / "a.gif", progress=False)
    with Image.open(path) as gif:
        expected = fig.get_size_inches() * dpi
        assert np.all(np.abs(np.array(gif.size) - expected) <= 1)
    plt.close("all")
