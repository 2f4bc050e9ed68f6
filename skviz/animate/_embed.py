"""How big an animation's HTML gets, and what is reduced so that it fits.

matplotlib's ``HTMLWriter`` embeds every frame as a base64 image. Once the
frames pass ``rcParams["animation.embed_limit"]`` it logs a warning and
drops every later frame: a notebook shows an animation that stops early,
after all frames were drawn anyway. skviz instead plans before rendering:

1. **Estimate.** Six frames spread over the animation (the middle one of
   each sixth) are rendered exactly as the writer will render them (same
   format, same dpi); their mean size times the number of frames, plus the
   player's page, is the estimate (within a few percent on both skviz
   animations). When even uncompressed PNG frames would fit, nothing is
   rendered to know it.
2. **Reduce what the caller left open.** Over the limit, a dpi the caller
   did not choose is lowered, at most to 72 (text stays legible), and then
   frames are skipped evenly (every 2nd, 3rd, ... frame, always ending on the
   last one), down to 10 frames. A warning names both and how to get every
   frame at full size; reductions aim at 90 % of the limit, so that frames
   larger than the sampled ones still fit.
3. **Or refuse.** When that is not enough, ``ValueError`` gives the numbers
   and the parameters to change, before any frame is written.

The writer itself gets no limit, so it never drops a frame; the finished
HTML is measured, and a warning says so in the rare case it still passed
the limit.
"""

from __future__ import annotations

import base64
import math
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np

__all__ = ["HtmlPlan", "plan_html", "warn_if_over"]

MB = 1024 * 1024  # matplotlib's megabyte for embed_limit
MIN_DPI = 72.0
MIN_FRAMES = 10
TARGET = 0.9  # reductions aim below the limit: the estimate is a mean
N_SAMPLES = 6
# The player's script and style around the frames (about 8 kB in
# matplotlib 3.11, with room to spare), and each frame's line of script.
PAGE_BYTES = 16_000
FRAME_LINE_BYTES = 40


@dataclass(frozen=True)
class HtmlPlan:
    """What to render: which frames, at which dpi, and how big it gets."""

    frames: list[int]
    dpi: float
    nbytes: int  # estimated HTML of what is rendered (an upper bound if unsampled)
    n_frames: int
    full_dpi: float
    full_nbytes: int  # estimated HTML of every frame at full_dpi
    limit: float  # bytes; infinite for no limit


def plan_html(
    anim, *, dpi: float, dpi_given: bool, embed_limit: float, frame_format: str
) -> HtmlPlan:
    """Plan the HTML of ``anim`` within ``embed_limit`` MB (see the module's docstring).

    ``dpi`` is the resolution asked for (the figure's when the caller gave
    none); ``dpi_given`` whether the caller chose it, in which case it is
    kept. Warns when something is reduced; raises ``ValueError`` when
    nothing left open reduces enough.
    """
    n = anim.n_frames_
    limit = embed_limit * MB
    every = list(range(n))
    bound = _html_bytes(_raw_frame_bound(anim.figure_, dpi, frame_format), n)
    if bound <= limit:
        return HtmlPlan(every, dpi, bound, n, dpi, bound, limit)

    measure = _FrameSizes(anim, frame_format)
    full_nbytes = _html_bytes(measure.mean(dpi), n)
    if full_nbytes <= limit:
        return HtmlPlan(every, dpi, full_nbytes, n, dpi, full_nbytes, limit)

    target = TARGET * limit
    new_dpi, per_frame = dpi, measure.mean(dpi)
    if not dpi_given:
        new_dpi, per_frame = _lower_dpi(measure, n, dpi, target)
    frames = every
    for step in range(2, n + 1):
        if _html_bytes(per_frame, len(frames)) <= target:
            break
        fewer = _every(step, n)
        if len(fewer) < min(n, MIN_FRAMES):
            break
        frames = fewer
    nbytes = _html_bytes(per_frame, len(frames))
    plan = HtmlPlan(frames, new_dpi, nbytes, n, dpi, full_nbytes, limit)
    if nbytes > limit:
        raise ValueError(_too_big(plan, dpi_given))
    warnings.warn(_reduced(plan), UserWarning, stacklevel=3)
    return plan


def _lower_dpi(measure: _FrameSizes, n: int, dpi: float, target: float):
    """The highest dpi down to 72 whose frames fit ``target``, and their size.

    A frame's bytes grow as a power of dpi: 2 (its pixels) to start with,
    then the power seen between the last two measurements (compression of
    flat areas makes it smaller), for a few steps.
    """
    floor = min(dpi, MIN_DPI)
    power, last = 2.0, (dpi, measure.mean(dpi))
    new_dpi, per_frame = last
    for _ in range(3):
        if _html_bytes(per_frame, n) <= target or new_dpi <= floor:
            break
        # the frames' share of the target, per frame
        wanted = ((target - PAGE_BYTES) / n - FRAME_LINE_BYTES) * 77 / 78
        scale = (max(wanted, 1.0) / per_frame) ** (1 / power)
        new_dpi = max(floor, math.floor(new_dpi * scale * 10) / 10)
        per_frame = measure.mean(new_dpi)
        if new_dpi != last[0] and per_frame != last[1]:
            power = math.log(per_frame / last[1]) / math.log(new_dpi / last[0])
            power = min(max(power, 0.5), 3.0)
        last = (new_dpi, per_frame)
    return new_dpi, per_frame


def warn_if_over(plan: HtmlPlan, html: str) -> None:
    """Say so when the finished HTML passed the limit after all."""
    if len(html) > plan.limit:
        warnings.warn(
            f"The animation's HTML is {_mb(len(html))}, over embed_limit="
            f"{_mb(plan.limit)} (estimated {_mb(plan.nbytes)} from "
            f"{N_SAMPLES} frames); every frame was kept. Pass a lower dpi= or a "
            "larger embed_limit= to silence this.",
            UserWarning,
            stacklevel=3,
        )


class _FrameSizes:
    """Mean base64 size of sampled frames, rendered as the writer does, by dpi."""

    def __init__(self, anim, frame_format: str):
        self.anim = anim
        self.format = frame_format
        n = anim.n_frames_
        # the middle of each of N_SAMPLES equal stretches: first and last
        # frames (inputs, outputs) tend to be the plainest, not typical
        k = min(n, N_SAMPLES)
        self.samples = sorted(set(((np.arange(k) + 0.5) * n / k).astype(int)))
        self._means: dict[float, float] = {}

    def mean(self, dpi: float) -> float:
        if dpi not in self._means:
            import matplotlib as mpl

            fig, sizes = self.anim.figure_, []
            # Animation.save renders with savefig.bbox=None; so do these
            with self.anim._frozen_layout(), mpl.rc_context({"savefig.bbox": None}):
                for frame in self.samples:
                    self.anim.draw_frame(int(frame))
                    buffer = BytesIO()
                    fig.savefig(buffer, format=self.format, dpi=dpi)
                    sizes.append(len(base64.encodebytes(buffer.getvalue())))
            self._means[dpi] = float(np.mean(sizes))
        return self._means[dpi]


def _html_bytes(frame_bytes: float, n_frames: int) -> int:
    # the HTML escapes each of base64's newlines (one per 77 characters)
    return int(PAGE_BYTES + n_frames * (frame_bytes * 78 / 77 + FRAME_LINE_BYTES))


def _raw_frame_bound(fig, dpi: float, frame_format: str) -> float:
    """Base64 bytes a PNG frame cannot exceed: every RGBA pixel stored raw.

    Infinite for other formats, which are then always sampled.
    """
    if frame_format != "png":
        return math.inf
    width, height = np.ceil(fig.get_size_inches() * dpi)
    raw = height * (4 * width + 1)  # a filter byte per row
    # deflate's stored blocks, PNG chunks and base64's 4/3 with newlines
    return (raw * 1.01 + 4096) * 4 / 3 * 77 / 76


def _every(step: int, n: int) -> list[int]:
    """Every ``step``-th frame from the first, ending on the last."""
    frames = list(range(0, n, step))
    if frames[-1] != n - 1:
        frames.append(n - 1)
    return frames


def _ordinal(step: int) -> str:
    suffix = (
        "th"
        if 10 <= step % 100 <= 20
        else {1: "st", 2: "nd", 3: "rd"}.get(step % 10, "th")
    )
    return f"{step}{suffix}"


def _mb(nbytes: float) -> str:
    return f"{nbytes / MB:.3g} MB"


def _size(plan: HtmlPlan) -> str:
    return (
        f"every frame ({plan.n_frames}) at {plan.full_dpi:g} dpi would make about "
        f"{_mb(plan.full_nbytes)} of HTML, over embed_limit="
        f"{_mb(plan.limit)} (rcParams['animation.embed_limit'] unless passed)"
    )


def _full_size_hint(plan: HtmlPlan) -> str:
    needed = math.ceil(plan.full_nbytes / MB * 1.1)
    return (
        f"pass embed_limit={needed} (MB) or set rcParams['animation.embed_limit'], "
        "or write a file: save('animation.mp4') or save('animation.gif')"
    )


def _reduced(plan: HtmlPlan) -> str:
    if len(plan.frames) < plan.n_frames:
        step = plan.frames[1] - plan.frames[0]
        shown = (
            f"{len(plan.frames)} of the {plan.n_frames} frames (every "
            f"{_ordinal(step)}, and the last)"
        )
    else:
        shown = "every frame"
    if plan.dpi < plan.full_dpi:
        shown += f" at {plan.dpi:g} dpi"
    return (
        f"The animation was reduced to fit in a notebook: {_size(plan)}. Showing "
        f"{shown} instead, about {_mb(plan.nbytes)}. For every frame at "
        f"full size, {_full_size_hint(plan)}."
    )


def _too_big(plan: HtmlPlan, dpi_given: bool) -> str:
    dpi = f"{plan.dpi:g} dpi" + (" (as passed)" if dpi_given else "")
    return (
        f"The animation is too large to embed: {_size(plan)}, and still about "
        f"{_mb(plan.nbytes)} with {len(plan.frames)} frames at {dpi}. "
        "Pass a lower dpi=, draw a smaller figure (plot(figsize=...)) or build "
        f"the animation with fewer frames; or {_full_size_hint(plan)}."
    )
