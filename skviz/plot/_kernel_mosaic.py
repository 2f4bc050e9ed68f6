"""Where the kernel mosaic puts each kernel, and which labels fit once it is drawn.

The mosaic is one image: kernels side by side with blank pixels between
them. Its geometry (``Mosaic``) is pure arithmetic; the fitting helpers
measure text against the drawn axes, so that labels and numbers are only
written where they cannot run into each other.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GAP",
    "Mosaic",
    "fit_step",
    "keep_inside",
    "pixel_px",
    "text_px",
    "wrap_columns",
    "wrap_text",
]

GAP = 1  # blank pixels between neighbouring kernels


def wrap_columns(n: int) -> int:
    """Kernels per row when kernels are not tied to input-channel columns.

    Up to 4 in one row; more in a near-square grid (16 kernels: 4 x 4,
    64: 8 x 8), so that they do not shrink into one long strip.
    """
    return n if n <= 4 else int(np.ceil(np.sqrt(n)))


@dataclass(frozen=True)
class Mosaic:
    """Placement of ``n_out x n_in`` kernels of ``kh x kw`` pixels.

    With ``wrap`` (kernels per row) the output channels fill a grid row by
    row, and ``label_gap`` blank pixels above each row leave room for a
    label per kernel; without it rows are output and columns input
    channels.
    """

    n_out: int
    n_in: int
    kh: int
    kw: int
    wrap: int | None = None

    @property
    def label_gap(self) -> int:
        return max(1, int(np.ceil(self.kh / 3))) if self.wrap else 0

    @property
    def grid(self) -> tuple[int, int]:
        """Kernels per column and per row."""
        if self.wrap:
            return -(-self.n_out // self.wrap), self.wrap
        return self.n_out, self.n_in

    @property
    def shape(self) -> tuple[int, int]:
        """Pixels of the whole mosaic, gaps included."""
        rows, cols = self.grid
        return (
            rows * (self.kh + self.label_gap) + (rows - 1) * GAP,
            cols * self.kw + (cols - 1) * GAP,
        )

    @property
    def row_pitch(self) -> int:
        """Pixels from one row of kernels to the next."""
        return self.kh + self.label_gap + GAP

    def origin(self, a: int, b: int = 0) -> tuple[int, int]:
        """Top-left pixel of kernel (``a``-th drawn out, ``b``-th drawn in)."""
        r, c = divmod(a, self.wrap) if self.wrap else (a, b)
        return r * self.row_pitch + self.label_gap, c * (self.kw + GAP)

    def place(self, tiles: np.ndarray, colour: bool = False) -> np.ndarray:
        """The mosaic of ``tiles``, NaN in the gaps.

        ``tiles`` is ``(n_out, n_in, kh, kw)``, or with ``colour``
        ``(n_out, kh, kw, 3)``: one colour image per output channel.
        """
        image = np.full(self.shape + ((3,) if colour else ()), np.nan)
        for a in range(self.n_out):
            for b in range(1 if colour else self.n_in):
                r, c = self.origin(a, b)
                image[r : r + self.kh, c : c + self.kw] = (
                    tiles[a] if colour else tiles[a, b]
                )
        return image


def pixel_px(ax, shape: tuple[int, int]) -> float:
    """Side of one image pixel in display pixels, as the axes are drawn now."""
    box = ax.get_window_extent()
    # imshow keeps square pixels: the tighter side decides
    return float(min(box.width / shape[1], box.height / shape[0]))


def text_px(ax, text: str, fontsize, rotation: float = 0) -> tuple[float, float]:
    """Width and height in display pixels of ``text`` as it would be drawn in ``ax``."""
    probe = ax.text(0, 0, text, fontsize=fontsize, rotation=rotation)
    try:
        box = probe.get_window_extent()
    finally:
        probe.remove()
    return float(box.width), float(box.height)


def fit_step(spacing: float, size: float, n: int) -> int:
    """Label every k-th of ``n`` positions ``spacing`` apart so that labels of
    extent ``size`` (along the axis) keep a small margin between them.

    Steps are 1, 2 or 5 times a power of ten (labels 0, 5, 10, ...); at
    worst only the first position is labelled.
    """
    need = 1.15 * size
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * spacing >= need or step >= n:
                return step
        magnitude *= 10


def wrap_text(text, width: float) -> None:
    """Break the lines of a drawn ``Text`` so that it is at most ``width``
    display pixels wide (words are kept whole)."""
    box = text.get_window_extent()
    content = text.get_text()
    if not content or box.width <= width:
        return
    lines = content.splitlines()
    chars = max(12, int(max(map(len, lines)) * width / box.width))
    text.set_text("\n".join(textwrap.fill(line, chars) for line in lines))


def keep_inside(title, ax, fig) -> bool:
    """Shift an axes title sideways into the figure; True when it moved.

    A title wider than a narrow mosaic (a tall column of tiles beside its
    colour bar) is centred on the mosaic and can run off the figure's edge.
    """
    box, page = title.get_window_extent(), fig.bbox
    shift = max(page.x0 - box.x0, 0.0) or min(page.x1 - box.x1, 0.0)
    if not shift or box.width > page.width:
        return False
    width = ax.get_window_extent().width
    x, y = title.get_position()
    title.set_position((x + shift / width, y))
    return True
