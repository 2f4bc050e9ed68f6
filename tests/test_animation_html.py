"""How big an animation's HTML gets, and what to_jshtml does past embed_limit.

matplotlib's own writer drops every frame past the limit with only a log
message; skviz estimates the size first, lowers what the caller left open
(dpi, then every n-th frame) with a warning, or refuses (skviz.animate._embed).
"""

import base64
import logging
import math
import re
import warnings

import matplotlib as mpl
import numpy as np
import pytest
import test_animation_base as base

from skviz.animate import NetworkUpdateAnimation
from skviz.animate import _embed as embed

N_FRAMES = 30
layer_data = base.layer_data  # the fixture: the same small net


def _network(n_frames=N_FRAMES):
    rng = np.random.default_rng(0)
    updates = [
        rng.normal(size=(n_frames, 6, 4)).astype(np.float32),
        rng.normal(size=(n_frames, 3, 6)).astype(np.float32),
    ]
    return NetworkUpdateAnimation.from_updates(updates).plot(figsize=(3, 2))


def _n_frames(html: str) -> int:
    return len(set(re.findall(r"frames\[(\d+)\] = ", html)))


def _full_mb(anim, dpi=100.0) -> float:
    """The estimated MB of every frame at ``dpi`` (sampled, never bounded)."""
    sizes = embed._FrameSizes(anim, "png")
    return embed._html_bytes(sizes.mean(dpi), anim.n_frames_) / embed.MB


@pytest.mark.parametrize("which", ["network", "layer"])
def test_the_estimate_is_close_to_the_html_made(which, layer_data):
    anim = _network() if which == "network" else base._layer(layer_data)
    estimate = _full_mb(anim, 60.0) * embed.MB
    html = anim.to_jshtml(dpi=60, embed_limit=math.inf)
    assert _n_frames(html) == anim.n_frames_
    assert estimate == pytest.approx(len(html), rel=0.1)


def test_within_the_limit_nothing_is_reduced_or_said():
    anim = _network()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = anim.to_jshtml(dpi=40)
    assert _n_frames(html) == N_FRAMES


def test_over_the_limit_dpi_then_frames_are_reduced_and_said(caplog):
    anim = _network()
    full = _full_mb(anim)
    with pytest.warns(UserWarning, match="reduced to fit") as record:
        html = anim.to_jshtml(embed_limit=full / 2)
    message = str(record[0].message)
    # what was reduced, and how to get every frame at full size
    assert "at 72 dpi" in message and "every 2nd, and the last" in message
    needed = int(re.search(r"pass embed_limit=(\d+)", message).group(1))
    assert needed >= full
    assert _n_frames(html) == len(range(0, N_FRAMES, 2)) + 1
    assert len(html) <= full / 2 * embed.MB
    assert "will be dropped" not in caplog.text  # matplotlib's writer dropped none
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _n_frames(anim.to_jshtml(embed_limit=needed)) == N_FRAMES


def test_a_small_excess_costs_only_dpi():
    anim = _network()
    with pytest.warns(UserWarning, match="every frame at") as record:
        html = anim.to_jshtml(embed_limit=_full_mb(anim) * 0.8)
    assert _n_frames(html) == N_FRAMES
    dpi = float(re.search(r"every frame at ([\d.]+) dpi", str(record[0].message))[1])
    assert 72 <= dpi < 100


def test_a_dpi_given_is_kept_and_frames_are_reduced():
    anim = _network()
    full = _full_mb(anim, 50.0)
    with pytest.warns(UserWarning, match=r"frames \(every 3rd, and the last\)") as w:
        html = anim.to_jshtml(dpi=50, embed_limit=full / 2.5)
    assert "dpi instead" not in str(w[0].message)
    assert _n_frames(html) == len(range(0, N_FRAMES, 3)) + 1
    first = re.search(r'frames\[0\] = "data:image/png;base64,([^"]*)"', html)[1]
    png = base64.b64decode(first.replace("\\\n", ""))
    width = int.from_bytes(png[16:20], "big")
    assert width == 150  # 3 in at 50 dpi


def test_what_cannot_fit_is_refused_with_the_numbers_before_rendering(monkeypatch):
    anim = _network()
    rendered = []
    monkeypatch.setattr(
        type(anim), "_render", lambda self, *args, **kwargs: rendered.append(args)
    )
    with pytest.raises(ValueError) as error:
        anim.to_jshtml(embed_limit=0.01)
    message = str(error.value)
    assert "too large to embed" in message and "embed_limit=0.01 MB" in message
    # the least it tried: 72 dpi, every 3rd frame (every 4th would leave 9)
    assert re.search(r"about [\d.]+ MB with 11 frames at 72 dpi\.", message)
    for hint in ("dpi=", "figsize", "save('animation.mp4')"):
        assert hint in message
    assert rendered == []


def test_few_frames_are_never_cut():
    # 7 frames: fewer than 10, so only a dpi left open could be lowered
    anim = _network(7)
    with pytest.raises(ValueError, match="with 7 frames at 40 dpi \\(as passed\\)"):
        anim.to_jshtml(dpi=40, embed_limit=0.01)


def test_the_rc_limit_is_the_default(monkeypatch):
    anim = _network()
    full = _full_mb(anim)
    # plan only: no frame is rendered
    monkeypatch.setattr(type(anim), "_render", lambda s, path, *a: path.touch())
    with mpl.rc_context({"animation.embed_limit": full / 3}):
        with pytest.warns(UserWarning, match=f"embed_limit={full / 3:.3g} MB"):
            anim.to_jshtml()


def test_a_saved_html_file_keeps_every_frame(tmp_path, caplog):
    anim = _network()
    caplog.set_level(logging.WARNING)
    with mpl.rc_context({"animation.embed_limit": 0.01}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            text = anim.save(tmp_path / "anim.html", dpi=40).read_text()
    assert _n_frames(text) == N_FRAMES
    assert "will be dropped" not in caplog.text


@pytest.mark.parametrize("limit", [0, -1, math.nan, True, "20"])
def test_bad_embed_limit_is_refused(limit):
    with pytest.raises(ValueError, match="embed_limit must be a number of MB"):
        _network().to_jshtml(embed_limit=limit)


def test_no_limit_skips_the_estimate(monkeypatch):
    anim = _network()
    monkeypatch.setattr(embed._FrameSizes, "mean", lambda *a: pytest.fail("sampled"))
    assert _n_frames(anim.to_jshtml(dpi=20, embed_limit=math.inf)) == N_FRAMES


def test_an_estimate_that_was_too_low_keeps_every_frame_and_says_so(monkeypatch):
    anim = _network()
    monkeypatch.setattr(embed._FrameSizes, "mean", lambda self, dpi: 1.0)
    with pytest.warns(UserWarning, match="over embed_limit=0.05 MB .* every frame"):
        html = anim.to_jshtml(dpi=40, embed_limit=0.05)
    assert _n_frames(html) == N_FRAMES
