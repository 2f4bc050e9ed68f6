"""skviz in a real notebook, as a Jupyter user sees it.

One notebook, built here with nbformat, runs top to bottom in a fresh
ipykernel (nbclient) on this checkout's skviz, with matplotlib's inline
backend and without ipywidgets: it fits a tiny net while recording its
weights, ends cells with a display and with both animations, and renders a
GIF with a progress bar. Its outputs are what the front end would show.
Small on purpose: the whole notebook runs in a few seconds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]

SETUP = f"""\
%matplotlib inline
import importlib.util
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML
from sklearn.datasets import make_circles
from torch import nn

import skviz
from skviz import InspectableNeuralNetClassifier, WeightRecorder
from skviz.animate import LayerTransformAnimation, NetworkUpdateAnimation

assert skviz.__file__.startswith({str(ROOT)!r}), skviz.__file__
assert importlib.util.find_spec("ipywidgets") is None

X, y = make_circles(n_samples=40, noise=0.05, factor=0.4, random_state=0)
X, y = X.astype(np.float32), y.astype(np.int64)
torch.manual_seed(0)
net = InspectableNeuralNetClassifier(
    nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)),
    criterion=nn.CrossEntropyLoss, max_epochs=1, batch_size=8, lr=0.1,
    train_split=None, verbose=0, callbacks=[WeightRecorder()],
).fit(X, y)
layers = dict(frames_per_transition=2, hold_frames=0, grid_lines=5,
              grid_resolution=9, region_resolution=6)
"""

# 5 batches of 8 samples: 5 updates; the layers: 1 + 3 transitions x 2 frames
N_FRAMES = {"network": 5, "layers": 7}

# name -> (source, what its outputs must be)
CELLS = {
    "display": ("net.plot_activation('0', X[:5], y[:5])", "figure"),
    "network": (
        "updates = NetworkUpdateAnimation.from_estimator(net)\n"
        "updates.plot(figsize=(4, 2.5))  # drawn in the same cell\n"
        "updates",
        "player",
    ),
    "layers": (
        "moves = LayerTransformAnimation.from_estimator(net, X, y, **layers)\nmoves",
        "player",
    ),
    "to_jshtml": (
        "moves = LayerTransformAnimation.from_estimator(net, X, y, **layers)\n"
        "HTML(moves.to_jshtml())",
        "player",
    ),
    # the caller's figure is theirs; closing it shows the player alone
    "own axes, closed": (
        "fig, ax = plt.subplots(figsize=(4, 2.5))\n"
        "updates.plot(ax)\n"
        "plt.close(fig)\n"
        "updates",
        "player",
    ),
    "own axes, open": (
        "fig, ax = plt.subplots(figsize=(4, 2.5))\nupdates.plot(ax)\nupdates",
        "player and the caller's figure",
    ),
    "progress": (
        "updates.save('updates.gif', dpi=30, progress=True).name",
        "bar emptied",
    ),
    # last: it changes an rc parameter
    "over the limit": (
        "full_mb = len(updates.to_jshtml(progress=False)) / 2**20\n"
        "plt.rcParams['animation.embed_limit'] = 0.8 * full_mb\n"
        "updates",
        "player",
    ),
}

TQDM_TEXT = re.compile(r"IProgress|TqdmWarning|Rendering frames|\d+/\d+ \[|frame/s")


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    cells = [SETUP] + [source for source, _ in CELLS.values()]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells]
    )
    cwd = tmp_path_factory.mktemp("notebook")
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    env.pop("MPLBACKEND", None)  # the kernel's own: inline
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": cwd}}
    )
    client.execute(env=env)  # raises on the first cell that fails
    nbformat.write(nb, cwd / "skviz.ipynb")  # to look at it after a failure
    return dict(zip(["setup", *CELLS], nb.cells, strict=True)), cwd


def _mimes(cell) -> list[str]:
    return [
        mime
        for out in cell.outputs
        if out.output_type in ("display_data", "execute_result")
        for mime, data in out.data.items()
        if data  # an emptied progress bar leaves an empty text/plain
    ]


def _frames(html: str) -> int:
    return len(set(re.findall(r"frames\[(\d+)\] = ", html)))


def test_import_and_fit_print_nothing(notebook):
    cells, _ = notebook
    # no TqdmWarning: IProgress not found, no skorch table, no other warning
    assert cells["setup"].outputs == []


@pytest.mark.parametrize("name", list(CELLS))
def test_no_cell_shows_progress_text_or_an_error(notebook, name):
    cells, _ = notebook
    for out in cells[name].outputs:
        assert out.output_type != "error"
        if name != "over the limit":
            assert out.output_type != "stream", out.get("text")
        text = out.get("text", "") + "".join(map(str, out.get("data", {}).values()))
        assert not TQDM_TEXT.search(text), text[:200]


def test_over_the_limit_the_notebook_says_what_was_reduced(notebook):
    cells, _ = notebook
    (stream,) = [o for o in cells["over the limit"].outputs if "text" in o]
    assert stream.name == "stderr"
    assert "reduced to fit in a notebook" in stream.text
    assert "every frame at" in stream.text and "pass embed_limit=" in stream.text
    # matplotlib's "This and further frames will be dropped" never shows
    assert "dropped" not in stream.text


def test_a_display_shows_one_figure(notebook):
    cells, _ = notebook
    assert _mimes(cells["display"]).count("image/png") == 1


@pytest.mark.parametrize(
    "name", [name for name, (_, shown) in CELLS.items() if shown == "player"]
)
def test_an_animation_that_ends_a_cell_plays_inline_alone(notebook, name):
    cells, _ = notebook
    mimes = _mimes(cells[name])
    assert mimes.count("text/html") == 1
    assert "image/png" not in mimes  # no still of the last frame beneath
    # (a slow machine may also show a progress bar, emptied when done)
    (html,) = [
        out.data["text/html"]
        for out in cells[name].outputs
        if "text/html" in out.get("data", {})
    ]
    assert '<div class="animation">' in html and "new Animation(frames" in html
    n_frames = N_FRAMES["network" if "updates" in CELLS[name][0] else "layers"]
    assert html.count("data:image/png;base64") == _frames(html) == n_frames


def test_a_figure_whose_axes_the_caller_passed_stays_theirs(notebook):
    cells, _ = notebook
    assert sorted(_mimes(cells["own axes, open"])) == [
        "image/png",
        "text/html",
        "text/plain",
        "text/plain",
    ]


def test_a_progress_bar_updates_in_place_and_is_emptied(notebook):
    cells, cwd = notebook
    cell = cells["progress"]
    bars = [out for out in cell.outputs if out.output_type == "display_data"]
    assert len(bars) == 1  # one output, updated in place
    assert bars[0].data == {"text/plain": ""}  # emptied when done
    assert cell.outputs[-1].data["text/plain"] == "'updates.gif'"
    assert (cwd / "updates.gif").stat().st_size > 0
