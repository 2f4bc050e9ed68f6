"""A fast GIF writer for pictures whose colours are known in advance.

matplotlib's pillow writer leaves the colours to Pillow, which builds an
adaptive palette for every frame: slow, and frames then flicker between
palettes. The network diagram only blends its two edge colours, the
background and the ink, so one fixed palette fits every frame and a lookup
table maps each frame onto it with one gather.
"""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

import numpy as np
from matplotlib.animation import AbstractMovieWriter
from PIL import Image

__all__ = ["PaletteGifWriter", "gif_palette"]


def gif_palette(colors, background=(1.0, 1.0, 1.0), ink=(0.0, 0.0, 0.0)):
    """A fixed palette of 100 colours (padded to 256) for the diagram's frames.

    Ramps from the background to each edge colour and to the ink (text,
    node outlines), blends of the two edge colours over each other, and
    ink over each edge colour: every colour the diagram can produce lies
    close to one entry, so frames are mapped without an adaptive
    quantisation per frame. Ramps have 16 steps (alpha in steps of 1/15):
    finer steps tell apart shades the eye does not, and every extra shade
    costs the GIF's compression; 56 steps made files 1.7 times larger.
    """
    bg = np.asarray(background, float)
    ink = np.asarray(ink, float)
    pos, neg = (np.asarray(c, float) for c in colors)
    entries = []

    def ramp(a, b, n):
        for t in np.linspace(0, 1, n):
            entries.append((1 - t) * a + t * b)

    ramp(bg, ink, 16)
    ramp(bg, pos, 16)
    ramp(bg, neg, 16)
    for ap in np.linspace(1 / 6, 1, 6):
        over_bg = (1 - ap) * bg + ap * pos
        for an in np.linspace(1 / 6, 1, 6):
            entries.append((1 - an) * over_bg + an * neg)
    ramp(pos, ink, 8)
    ramp(neg, ink, 8)
    pal = np.clip(np.round(np.asarray(entries) * 255), 0, 255).astype(np.uint8)
    return np.vstack([pal, np.repeat(pal[:1], 256 - len(pal), axis=0)])


@lru_cache(maxsize=4)
def _palette_lut_cached(palette_bytes: bytes, bits: int) -> np.ndarray:
    palette = np.frombuffer(palette_bytes, np.uint8).reshape(-1, 3)
    levels = 1 << bits
    width = 256 // levels
    centers = (np.arange(levels) * width + (width - 1) / 2).astype(np.float32)
    pal = palette.astype(np.float32)
    pal_term = np.square(pal).sum(axis=1)
    gb = np.stack(np.meshgrid(centers, centers, indexing="ij"), -1).reshape(-1, 2)
    lut = np.empty(levels**3, np.uint8)
    block = levels * levels
    for r_i, r in enumerate(centers):
        rgb = np.column_stack([np.full(block, r, np.float32), gb])
        # |c - p|^2 = |c|^2 - 2 c.p + |p|^2; |c|^2 does not change the argmin
        scores = rgb @ (-2 * pal.T) + pal_term
        lut[r_i * block : (r_i + 1) * block] = scores.argmin(axis=1)
    lut.flags.writeable = False
    return lut


def _palette_lut(palette: np.ndarray, bits: int = 6) -> np.ndarray:
    """Nearest palette entry for every colour, with ``bits`` bits per channel.

    Built once per palette (``2**(3*bits)`` colours against 256 entries) so
    that a frame is mapped with one gather. Each bin is matched by its
    centre, so pure white and black land on their exact entries.
    """
    return _palette_lut_cached(np.ascontiguousarray(palette, np.uint8).tobytes(), bits)


class PaletteGifWriter(AbstractMovieWriter):
    """GIF writer mapping every frame onto one fixed palette (see the module doc)."""

    def __init__(self, fps, palette, bits=6, **kwargs):
        super().__init__(fps=fps, **kwargs)
        self._palette = palette.astype(np.uint8).ravel().tolist()
        self._lut = _palette_lut(palette, bits)
        self._shift = 8 - bits
        self._bits = bits

    def setup(self, fig, outfile, dpi=None):
        super().setup(fig, outfile, dpi=dpi)
        self._frames = []

    def grab_frame(self, **savefig_kwargs):
        buf = BytesIO()
        self.fig.savefig(buf, **{**savefig_kwargs, "format": "rgba", "dpi": self.dpi})
        w, h = self.frame_size
        rgba = np.frombuffer(buf.getbuffer(), np.uint8).reshape(h, w, 4)
        shift, bits = self._shift, self._bits
        key = (rgba[..., 0] >> shift).astype(np.uint32) << (2 * bits)
        key |= (rgba[..., 1] >> shift).astype(np.uint32) << bits
        key |= rgba[..., 2] >> shift
        im = Image.fromarray(self._lut[key])
        im.putpalette(self._palette)
        self._frames.append(im)

    def finish(self):
        self._frames[0].save(
            self.outfile,
            save_all=True,
            append_images=self._frames[1:],
            duration=int(1000 / self.fps),
            loop=0,
        )
        self._frames = []
