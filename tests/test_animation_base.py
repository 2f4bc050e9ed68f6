"""What both animations share (skviz.animate._movie): files, frames, fps, figure.

Every test runs on the network diagram and on the layer animation, built
with the same number of frames.
"""

import inspect
import math
import re
from pathlib import Path

import matplotlib.animation
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import make_circles
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.animate import LayerTransformAnimation, NetworkUpdateAnimation

N_FRAMES = 7  # the layer net below: 1 + 3 transitions x 2 frames


@pytest.fixture(scope="module")
def layer_data():
    X, y = make_circles(n_samples=40, noise=0.05, factor=0.4, random_state=0)
    X, y = X.astype(np.float32), y.astype(np.int64)
    torch.manual_seed(0)
    net = InspectableNeuralNetClassifier(
        nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)),
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        lr=0.1,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    return net, X, y


def _network():
    rng = np.random.default_rng(0)
    updates = [
        rng.normal(size=(N_FRAMES, 4, 3)).astype(np.float32),
        rng.normal(size=(N_FRAMES, 2, 4)).astype(np.float32),
    ]
    return NetworkUpdateAnimation.from_updates(updates)


def _layer(layer_data):
    net, X, y = layer_data
    return LayerTransformAnimation.from_estimator(
        net,
        X,
        y,
        frames_per_transition=2,
        hold_frames=0,
        grid_lines=5,
        grid_resolution=9,
        region_resolution=6,
    )


@pytest.fixture(params=["network", "layer"])
def anim(request):
    if request.param == "network":
        return _network()
    return _layer(request.getfixturevalue("layer_data"))


def test_both_have_n_frames_(anim):
    assert anim.n_frames_ == N_FRAMES


def test_the_network_keeps_n_frames_for_one_release():
    anim = _network()
    with pytest.warns(FutureWarning, match="n_frames_"):
        assert anim.n_frames == N_FRAMES


@pytest.mark.parametrize("suffix", [".gif", ".html"])
def test_save_returns_the_path_written(anim, tmp_path, suffix):
    given = str(tmp_path / f"anim{suffix}")
    path = anim.save(given, fps=5, dpi=30)
    assert path == Path(given) and isinstance(path, Path)
    assert path.stat().st_size > 0


def test_gif_frames_size_and_duration(anim, tmp_path):
    anim.plot(figsize=(3, 2))
    path = anim.save(tmp_path / "anim.gif", fps=4, dpi=40)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.size == (120, 80)  # figsize x dpi
        assert gif.info["duration"] == 250
        # Pillow merges equal consecutive frames; these all differ
        assert gif.n_frames == N_FRAMES


def test_dpi_defaults_to_the_figure_s(anim, tmp_path):
    anim.plot(figsize=(3, 2))
    anim.figure_.set_dpi(30)
    with Image.open(anim.save(tmp_path / "anim.gif")) as gif:
        assert gif.size == (90, 60)


def test_to_jshtml_embeds_every_frame(anim):
    html = anim.to_jshtml(fps=5, dpi=30)
    assert "<script" in html
    assert html.count("data:image/png;base64") == N_FRAMES
    assert set(re.findall(r"frames\[(\d+)\] = ", html)) == {
        str(i) for i in range(N_FRAMES)
    }


def test_save_html_writes_what_to_jshtml_returns(anim, tmp_path):
    html = anim.to_jshtml(fps=5, dpi=30)
    text = anim.save(tmp_path / "anim.html", fps=5, dpi=30).read_text()
    assert text.count("data:image/png;base64") == N_FRAMES
    assert text.startswith(html[:200])


def test_repr_html_shows_the_animation_and_leaves_no_extra_figure(anim):
    before = plt.get_fignums()
    html = anim._repr_html_()
    assert html.count("data:image/png;base64") == N_FRAMES
    # the figure made for the HTML is not left for the notebook to show again
    assert plt.get_fignums() == before


@pytest.mark.parametrize("output", ["to_jshtml", "_repr_html_"])
def test_html_closes_a_figure_plot_made_and_it_stays_usable(anim, output, tmp_path):
    before = plt.get_fignums()
    anim.plot(figsize=(3, 2))  # as a user would, earlier in the same cell
    fig = anim.figure_
    getattr(anim, output)()
    assert plt.get_fignums() == before  # no still of the last frame beneath
    assert anim.figure_ is fig
    anim.draw_frame(1)
    with Image.open(anim.save(tmp_path / "again.gif", dpi=20)) as gif:
        assert gif.n_frames == N_FRAMES
    assert anim.to_jshtml(dpi=20).count("data:image/png;base64") == N_FRAMES


@pytest.mark.parametrize("output", ["to_jshtml", "_repr_html_"])
def test_html_leaves_the_figure_of_axes_the_caller_passed_open(anim, output):
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    anim.plot(ax)
    getattr(anim, output)()
    # theirs: it may hold more than the animation, or live in a GUI window
    assert plt.fignum_exists(fig.number)
    plt.close(fig)


def test_save_leaves_the_figure_open(anim, tmp_path):
    anim.plot(figsize=(3, 2))
    anim.save(tmp_path / "anim.gif", dpi=20)
    assert plt.fignum_exists(anim.figure_.number)


@pytest.mark.parametrize("fps", [0, -2, math.nan, math.inf, True, "10"])
def test_bad_fps_is_refused_before_anything_is_drawn(anim, tmp_path, fps):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match="fps must be a positive number"):
        anim.save(tmp_path / "anim.gif", fps=fps)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        anim.to_jshtml(fps=fps)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        anim.animation(fps=fps)
    assert plt.get_fignums() == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dpi", [0, -1, math.nan, math.inf])
def test_bad_dpi_is_refused(anim, tmp_path, dpi):
    with pytest.raises(ValueError, match="dpi must be a positive number"):
        anim.save(tmp_path / "anim.gif", dpi=dpi)
    with pytest.raises(ValueError, match="dpi must be a positive number"):
        anim.to_jshtml(dpi=dpi)
    assert list(tmp_path.iterdir()) == []


def _duration(animation, path):
    # matplotlib's own save takes the frame rate from the animation's interval
    animation.save(path, writer="pillow", dpi=10)
    with Image.open(path) as gif:
        return gif.info["duration"]


@pytest.mark.parametrize("fps", [1e-9, 1e-300, 1 / 700, 250.0])
def test_fps_no_writer_can_store_is_refused(anim, tmp_path, fps):
    with pytest.raises(ValueError, match="fps must be between"):
        anim.save(tmp_path / "anim.gif", fps=fps)
    with pytest.raises(ValueError, match="fps must be between"):
        anim.to_jshtml(fps=fps)
    assert list(tmp_path.iterdir()) == []


def test_animation_takes_fps(anim, tmp_path):
    assert _duration(anim.animation(fps=20), tmp_path / "a.gif") == 50
    with pytest.warns(FutureWarning, match="fps=10"):
        old_spelling = anim.animation(interval=100)
    assert _duration(old_spelling, tmp_path / "b.gif") == 100


@pytest.mark.parametrize("frame", [N_FRAMES, -N_FRAMES - 1, 100])
def test_frame_out_of_range_is_an_index_error(anim, frame):
    with pytest.raises(IndexError, match=rf"valid: -{N_FRAMES} to {N_FRAMES - 1}"):
        anim.draw_frame(frame)
    with pytest.raises(IndexError, match="out of range"):
        anim.plot(frame=frame)


@pytest.mark.parametrize("frame", [1.0, True, "1", None])
def test_frame_that_is_no_integer_is_a_type_error(anim, frame):
    with pytest.raises(TypeError, match="frame must be an integer"):
        anim.draw_frame(frame)


def test_negative_frames_count_from_the_end(anim):
    anim.draw_frame(-1)
    assert anim.frame_ == N_FRAMES - 1
    anim.draw_frame(np.int64(2))
    assert anim.frame_ == 2


def test_progress_default_is_the_same_and_quiet_off_a_terminal(anim, capsys):
    for method in (anim.save, anim.to_jshtml):
        assert inspect.signature(method).parameters["progress"].default is None
    anim.to_jshtml(dpi=20)
    assert capsys.readouterr().err == ""  # not a terminal: no bar
    anim.to_jshtml(dpi=20, progress=True)
    assert "Rendering frames" in capsys.readouterr().err


def test_figure_is_made_when_first_needed(anim):
    before = set(plt.get_fignums())
    assert not hasattr(anim, "frame_")  # building draws nothing
    assert set(plt.get_fignums()) == before
    fig = anim.figure_  # reading the figure draws the first frame
    assert set(plt.get_fignums()) == before | {fig.number}
    assert anim.frame_ == 0
    anim.to_jshtml(dpi=20)
    assert anim.figure_ is fig  # and every later call uses it


def test_plot_draws_where_asked(anim):
    fig, ax = plt.subplots(layout="constrained")
    assert anim.plot(ax) is anim
    assert anim.figure_ is fig


def test_layout_engine_is_back_after_saving(anim, tmp_path):
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    anim.plot(ax)
    engine = fig.get_layout_engine()
    anim.save(tmp_path / "anim.gif", dpi=30)
    assert fig.get_layout_engine() is engine


def test_writer_chooses_the_format(anim, tmp_path):
    writer = matplotlib.animation.PillowWriter(fps=2)
    path = anim.save(tmp_path / "anim.gif", dpi=20, writer=writer)
    with Image.open(path) as gif:
        assert gif.info["duration"] == 500
    with pytest.raises(ValueError, match=r"\.gif, \.mp4 or \.html"):
        anim.save(tmp_path / "anim.avi")


def test_mp4_without_ffmpeg_says_so_before_drawing(anim, tmp_path, monkeypatch):
    monkeypatch.setattr(
        matplotlib.animation.writers, "is_available", lambda name: False
    )
    with pytest.raises(RuntimeError, match="ffmpeg"):
        anim.save(tmp_path / "anim.mp4")
    assert not hasattr(anim, "frame_")
    assert list(tmp_path.iterdir()) == []
