"""Network diagram whose edges show each batch's weight update (seed 003).

Nodes are the units of consecutive ``Linear`` layers, edges their weights.
In every frame an edge is red where the weight grew and blue where it
shrank (relative to the layer's mean update); the largest ``top_fraction``
of ``|update - mean|`` per layer are fully opaque and the rest fade with
alpha ``((update - mean) / threshold) ** 2`` -- seed 003's rule.

All colours are computed at once with array operations
(:func:`update_colors`); rendering reuses one ``LineCollection`` and one
``scatter`` and only swaps colours per frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import numpy as np

from ..progress import progress_bar
from . import _checks as checks

__all__ = ["NetworkUpdateAnimation", "update_colors", "update_thresholds"]

_SCALINGS = ("seed", "layer")
# Colour arrays above this size are refused: frames x edges x 4 float32.
_MAX_COLOR_BYTES = 2 * 2**30


def update_thresholds(
    updates: Sequence[np.ndarray],
    top_fraction: float = 1e-4,
    scaling: str = "seed",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer centre and opacity threshold of the update colour rule.

    For layer ``i`` with ``n_i`` finite update values (all frames together),
    the centre is their mean and the threshold the ``k_i``-th largest
    ``|update - centre|`` (0-based, as in a descending sort), where

    * ``scaling="seed"``: ``k_i = int(n_min * top_fraction * sqrt(n_i / n_min))``
      with ``n_min`` the smallest ``n_i`` -- seed 003's rule: the smallest
      layer gets its top ``top_fraction`` opaque, larger layers
      proportionally fewer, so one big layer does not flood the picture;
    * ``scaling="layer"``: ``k_i = int(n_i * top_fraction)``, every layer
      its own top fraction.

    Parameters
    ----------
    updates : sequence of ndarray
        One array per layer, any shape (all frames of the layer together).
    top_fraction : float, default=1e-4
        In (0, 1).
    scaling : {"seed", "layer"}, default="seed"

    Returns
    -------
    centers, thresholds : ndarray of shape (n_layers,), float32
    """
    if not 0 < top_fraction < 1:
        raise ValueError(f"top_fraction must be in (0, 1), got {top_fraction!r}.")
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}.")
    flats = []
    for i, u in enumerate(updates):
        flat = np.asarray(u, dtype=np.float32).ravel()
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            raise ValueError(f"updates[{i}] holds no finite value.")
        flats.append(flat)
    n_min = min(f.size for f in flats)
    centers = np.empty(len(flats), np.float32)
    thresholds = np.empty(len(flats), np.float32)
    for i, flat in enumerate(flats):
        n = flat.size
        if scaling == "seed":
            # the seed's expression, evaluated the same way so that the
            # index (and with it every colour) matches it exactly
            k = int(n_min * top_fraction * (n / n_min) ** (1 / 2))
        else:
            k = int(n * top_fraction)
        center = np.float32(flat.mean(dtype=np.float64))
        dev = np.abs(flat - center)
        thresholds[i] = np.partition(dev, n - 1 - k)[n - 1 - k]
        centers[i] = center
    return centers, thresholds


def update_colors(
    updates: np.ndarray,
    center: float,
    threshold: float,
    positive=(1.0, 0.0, 0.0),
    negative=(0.0, 0.0, 1.0),
) -> np.ndarray:
    """RGBA colour of every update value under seed 003's rule.

    With ``d = update - center``: ``d > 0`` takes ``positive``, ``d < 0``
    ``negative``, each with alpha 1 where ``|d| > threshold`` and
    ``(d / threshold) ** 2`` otherwise; ``d == 0`` and NaN give transparent
    black ``(0, 0, 0, 0)``. A threshold of 0 makes every non-zero ``d``
    opaque.

    Parameters
    ----------
    updates : ndarray of any shape
    center, threshold : float
    positive, negative : RGB triples in [0, 1]

    Returns
    -------
    ndarray of shape (*updates.shape, 4), float32
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}.")
    d = np.asarray(updates, dtype=np.float32) - np.float32(center)
    # 0: no change (transparent black), 1: positive, 2: negative
    kind = (d > 0).view(np.uint8) + 2 * (d < 0).view(np.uint8)
    table = np.zeros((3, 4), np.float32)
    table[1, :3], table[2, :3] = positive, negative
    rgba = table[kind]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alpha = d / np.float32(threshold)
        np.multiply(alpha, alpha, out=alpha)
        # (d/t)^2 > 1 exactly when |d| > t: the clip is the "opaque" branch
        np.minimum(alpha, np.float32(1), out=alpha)
    alpha[kind == 0] = 0
    rgba[..., 3] = alpha
    return rgba


def _color_name(rgb) -> str:
    from matplotlib.colors import to_hex

    names = {(1.0, 0.0, 0.0): "red", (0.0, 0.0, 1.0): "blue"}
    return names.get(tuple(float(c) for c in rgb), to_hex(rgb))


def _weight_name(layer: str) -> str:
    return layer if layer.endswith(".weight") else f"{layer}.weight"


def _layer_label(name: str) -> str:
    return name[: -len(".weight")] if name.endswith(".weight") else name


def _top_units(norm2: np.ndarray, k: int) -> np.ndarray:
    # stable: ties keep the lower index; result in the original order
    order = np.argsort(-norm2, kind="stable")[:k]
    return np.sort(order)


def _gif_palette(colors, background=(1.0, 1.0, 1.0), ink=(0.0, 0.0, 0.0)):
    """A fixed 256-colour palette for the diagram's frames.

    Ramps from the background to each edge colour and to the ink (text,
    node outlines), blends of the two edge colours over each other, and
    ink over each edge colour: every colour the diagram can produce lies
    close to one entry, so frames are mapped without an adaptive
    quantisation per frame.
    """
    bg = np.asarray(background, float)
    ink = np.asarray(ink, float)
    pos, neg = (np.asarray(c, float) for c in colors)
    entries = []

    def ramp(a, b, n):
        for t in np.linspace(0, 1, n):
            entries.append((1 - t) * a + t * b)

    ramp(bg, ink, 48)
    ramp(bg, pos, 56)
    ramp(bg, neg, 56)
    for ap in np.linspace(0.125, 1, 8):
        over_bg = (1 - ap) * bg + ap * pos
        for an in np.linspace(0.125, 1, 8):
            entries.append((1 - an) * over_bg + an * neg)
    ramp(pos, ink, 16)
    ramp(neg, ink, 16)
    pal = np.clip(np.round(np.asarray(entries[:256]) * 255), 0, 255).astype(np.uint8)
    if len(pal) < 256:
        pal = np.vstack([pal, np.repeat(pal[:1], 256 - len(pal), axis=0)])
    return pal


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


def _palette_writer_class():
    from matplotlib.animation import AbstractMovieWriter
    from PIL import Image

    class PaletteGifWriter(AbstractMovieWriter):
        """GIF writer mapping every frame onto one fixed palette.

        matplotlib's pillow writer leaves the colours to Pillow, which
        builds an adaptive palette for every frame: slow, and frames then
        flicker between palettes. The diagram's colours are known in
        advance, so one palette fits every frame and a lookup table maps
        each frame to it.
        """

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
            self.fig.savefig(
                buf, **{**savefig_kwargs, "format": "rgba", "dpi": self.dpi}
            )
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

    return PaletteGifWriter


class NetworkUpdateAnimation:
    """Animated network diagram of weight updates, one frame per update.

    Build it with :meth:`from_recorder` (or :meth:`from_estimator`,
    :meth:`from_updates`); draw one frame with :meth:`plot`; write a GIF
    with :meth:`save` or get notebook HTML with :meth:`to_jshtml`.

    Parameters
    ----------
    segments : ndarray of shape (n_edges, 2, 2)
        Edge end points ``((x0, y0), (x1, y1))``.
    colors : ndarray of shape (n_frames, n_edges, 4)
        Edge colours per frame.
    node_xy : ndarray of shape (n_nodes, 2)
    column_labels : list of str
    frame_titles : list of str
    rule : str
        One line describing the colour rule, shown under the diagram.

    Attributes
    ----------
    layers_ : list of str
        Weight parameters drawn, first to last.
    units_ : list of ndarray
        For each column (input of the first layer, then each layer's
        output), the unit indices drawn.
    n_units_ : list of int
        Units of each column before any reduction.
    centers_, thresholds_ : ndarray of shape (n_layers,)
        Mean update and opacity threshold of each layer.
    frames_ : ndarray of shape (n_frames,)
        Which updates (0-based, among all given) the frames show.
    steps_, epochs_, batches_ : ndarray of shape (n_frames,) or None
    figure_, ax_, lines_, nodes_ : set by :meth:`plot`
        ``lines_`` is the edges' ``LineCollection``, ``nodes_`` the nodes'
        ``PathCollection``.
    """

    def __init__(
        self,
        *,
        segments: np.ndarray,
        colors: np.ndarray,
        node_xy: np.ndarray,
        column_labels: list[str],
        frame_titles: list[str],
        rule: str = "",
        positive=(1.0, 0.0, 0.0),
        negative=(0.0, 0.0, 1.0),
    ):
        self.segments = segments
        self.colors = colors
        self.node_xy = node_xy
        self.column_labels = column_labels
        self.frame_titles = frame_titles
        self.rule = rule
        self.positive = positive
        self.negative = negative

    @property
    def n_frames(self) -> int:
        return int(self.colors.shape[0])

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------

    @classmethod
    def from_updates(
        cls,
        updates: Sequence[np.ndarray],
        *,
        layers: Sequence[str] | None = None,
        frames=None,
        steps=None,
        epochs=None,
        batches=None,
        top_fraction: float = 1e-4,
        scaling: str = "seed",
        max_units: int = 100,
        labels: Sequence[str] | None = None,
        positive=(1.0, 0.0, 0.0),
        negative=(0.0, 0.0, 1.0),
    ) -> NetworkUpdateAnimation:
        """Build the animation from per-layer update arrays.

        Parameters
        ----------
        updates : sequence of ndarray of shape (n_updates, out_i, in_i)
            Weight updates of consecutive Linear layers (``out_i == in_{i+1}``),
            the same ``n_updates`` for all. Centres and thresholds use all
            ``n_updates``, also when only some are drawn.
        layers : sequence of str, optional
            Names of the layers (for labels); default ``"layer0"``, ...
        frames : int, slice, array of int or None
            Updates to draw: an int ``n`` draws the first ``n`` (the seed drew
            100), a slice or index array picks them; None draws all.
        steps, epochs, batches : array of shape (n_updates,), optional
            Shown in the frame titles.
        top_fraction : float, default=1e-4
            Fraction of largest ``|update - mean|`` drawn fully opaque (see
            :func:`update_thresholds`).
        scaling : {"seed", "layer"}, default="seed"
        max_units : int, default=100
            Columns with more units show only the ``max_units`` units with the
            largest update norm (over all updates of the edges touching them);
            the column label says so.
        labels : sequence of str, optional
            Column labels (``len(updates) + 1``); default ``"<first> in"``
            then the layer names.
        positive, negative : colour, default red and blue
            Any matplotlib colour (alpha ignored).
        """
        from matplotlib.colors import to_rgb

        arrays = [np.asarray(u) for u in updates]
        if not arrays:
            raise ValueError("updates is empty: pass at least one layer's updates.")
        for i, u in enumerate(arrays):
            if u.ndim != 3:
                raise ValueError(
                    f"updates[{i}] must have shape (n_updates, out, in), got {u.shape}."
                )
        n_updates = arrays[0].shape[0]
        if n_updates == 0:
            raise ValueError("updates hold no update (n_updates == 0).")
        if any(u.shape[0] != n_updates for u in arrays):
            raise ValueError(
                f"all layers need the same number of updates, got {[u.shape[0] for u in arrays]}."
            )
        names = (
            list(layers)
            if layers is not None
            else [f"layer{i}" for i in range(len(arrays))]
        )
        if len(names) != len(arrays):
            raise ValueError(
                f"{len(names)} layer names for {len(arrays)} update arrays."
            )
        for i in range(len(arrays) - 1):
            if arrays[i].shape[1] != arrays[i + 1].shape[2]:
                raise ValueError(
                    f"layers {names[i]!r} ({arrays[i].shape[1]} outputs) and "
                    f"{names[i + 1]!r} ({arrays[i + 1].shape[2]} inputs) are not "
                    "consecutive: the diagram needs out_i == in_{i+1}."
                )
        if (
            isinstance(max_units, bool)
            or not isinstance(max_units, (int, np.integer))
            or max_units < 1
        ):
            raise ValueError(f"max_units must be an int >= 1, got {max_units!r}.")
        frame_idx = _frame_indices(frames, n_updates)
        pos_rgb, neg_rgb = to_rgb(positive), to_rgb(negative)

        centers, thresholds = update_thresholds(arrays, top_fraction, scaling)

        n_units = [arrays[0].shape[2], *(u.shape[1] for u in arrays)]
        units = []
        for c, n in enumerate(n_units):
            if n <= max_units:
                units.append(np.arange(n))
                continue
            norm2 = np.zeros(n)
            if c > 0:  # incoming edges: rows of the layer before
                norm2 += _sq_sum(arrays[c - 1], axis=(0, 2))
            if c < len(arrays):  # outgoing edges: columns of the next layer
                norm2 += _sq_sum(arrays[c], axis=(0, 1))
            units.append(_top_units(norm2, max_units))

        xy_cols = []
        for c, idx in enumerate(units):
            k = len(idx)
            y = np.full(k, 0.5) if k == 1 else 1.0 - np.arange(k) / (k - 1)
            xy_cols.append(np.column_stack([np.full(k, float(c)), y]))
        node_xy = np.vstack(xy_cols)

        segs, cols = [], []
        for i, u in enumerate(arrays):
            rows_, cols_ = units[i + 1], units[i]
            src, dst = xy_cols[i], xy_cols[i + 1]
            # edge order: output unit major, input unit minor (row-major W)
            seg = np.empty((len(rows_), len(cols_), 2, 2))
            seg[:, :, 0, :] = src[None, :, :]
            seg[:, :, 1, :] = dst[:, None, :]
            segs.append(seg.reshape(-1, 2, 2))
            n_bytes = len(frame_idx) * len(rows_) * len(cols_) * 16
            if n_bytes > _MAX_COLOR_BYTES:
                raise ValueError(
                    f"colours of {len(frame_idx)} frames x {len(rows_) * len(cols_)} "
                    f"edges of {names[i]!r} would take {n_bytes / 2**30:.1f} GiB; "
                    "draw fewer frames or lower max_units."
                )
            sub = u[frame_idx][:, rows_][:, :, cols_]
            cols.append(
                update_colors(sub, centers[i], thresholds[i], pos_rgb, neg_rgb).reshape(
                    len(frame_idx), -1, 4
                )
            )
        segments = np.concatenate(segs)
        colors = np.concatenate(cols, axis=1)

        if labels is None:
            col_labels = [f"{names[0]} in", *names]
        else:
            col_labels = [str(s) for s in labels]
            if len(col_labels) != len(n_units):
                raise ValueError(
                    f"labels needs {len(n_units)} entries (the input of the first "
                    f"layer, then each layer), got {len(col_labels)}."
                )
        for c, (idx, n) in enumerate(zip(units, n_units, strict=True)):
            if len(idx) < n:
                col_labels[c] += f"\n(top {len(idx)} of {n}\nby update norm)"

        def pick(a):
            if a is None:
                return None
            a = np.asarray(a)
            if a.shape != (n_updates,):
                raise ValueError(
                    f"steps/epochs/batches need shape ({n_updates},), got {a.shape}."
                )
            return a[frame_idx]

        steps_, epochs_, batches_ = pick(steps), pick(epochs), pick(batches)
        titles = []
        for j, f in enumerate(frame_idx):
            if steps_ is None:
                title = f"update {f + 1} of {n_updates}"
            else:
                title = f"step {int(steps_[j])}"
                if epochs_ is not None:
                    title += f" · epoch {int(epochs_[j])}"
                    if batches_ is not None:
                        title += f", batch {int(batches_[j])}"
            titles.append(title)

        share = f"{top_fraction * 100:g} %"
        scope = "seed 003 scaling" if scaling == "seed" else "per layer"
        rule = (
            f"Δ = update − layer mean: {_color_name(pos_rgb)} Δ > 0, "
            f"{_color_name(neg_rgb)} Δ < 0; opaque: top {share} of |Δ| ({scope}), "
            "else alpha (Δ/threshold)²"
        )
        anim = cls(
            segments=segments,
            colors=colors,
            node_xy=node_xy,
            column_labels=col_labels,
            frame_titles=titles,
            rule=rule,
            positive=pos_rgb,
            negative=neg_rgb,
        )
        anim.layers_ = names
        anim.units_ = units
        anim.n_units_ = n_units
        anim.centers_ = centers
        anim.thresholds_ = thresholds
        anim.frames_ = frame_idx
        anim.steps_, anim.epochs_, anim.batches_ = steps_, epochs_, batches_
        return anim

    @classmethod
    def from_recorder(cls, recorder, layers: Sequence[str] | None = None, **kwargs):
        """Build the animation from a :class:`~skviz.record.WeightRecorder`.

        Parameters
        ----------
        recorder : WeightRecorder
            With the weights of consecutive Linear layers recorded.
        layers : sequence of str, optional
            Layer (``"l3"``) or parameter (``"l3.weight"``) names, first to
            last. Default: every recorded 2-D ``*.weight``, in module order.
        **kwargs
            As for :meth:`from_updates` (``frames``, ``top_fraction``,
            ``scaling``, ``max_units``, ``labels``, colours).
        """
        from ..record import WeightRecorder

        if not isinstance(recorder, WeightRecorder):
            raise TypeError(
                f"recorder must be a WeightRecorder, got {type(recorder).__name__}."
            )
        recorder._check_initialized()
        if layers is None:
            params = [
                n
                for n in recorder.param_names_
                if n.endswith(".weight") and len(recorder.shapes_[n]) == 2
            ]
            if not params:
                raise ValueError(
                    "The recorder holds no 2-D weight; record Linear layers "
                    f"(recorded: {recorder.param_names_})."
                )
        else:
            if isinstance(layers, str):
                raise TypeError(
                    "layers must be a list of names, e.g. ['l3', 'l4', 'l5']."
                )
            params = [_weight_name(str(layer)) for layer in layers]
            for p in params:
                if p not in recorder.param_names_:
                    raise ValueError(
                        f"{p!r} was not recorded; recorded: {recorder.param_names_}."
                    )
                if len(recorder.shapes_[p]) != 2:
                    raise ValueError(
                        f"{p!r} has shape {recorder.shapes_[p]}; the diagram needs "
                        "2-D (Linear) weights."
                    )
        if recorder.n_steps_ < 2:
            raise ValueError(
                "The recording has fewer than two snapshots: no update to show."
            )
        updates = [recorder.updates(p) for p in params]
        return cls.from_updates(
            updates,
            layers=[_layer_label(p) for p in params],
            steps=recorder.steps_[1:],
            epochs=recorder.epochs_[1:],
            batches=recorder.batches_[1:],
            **kwargs,
        )

    @classmethod
    def from_estimator(
        cls, net, layers: Sequence[str] | None = None, *, recorder_name=None, **kwargs
    ):
        """Build the animation from the :class:`WeightRecorder` of a fitted net."""
        from ..record import find_recorder

        return cls.from_recorder(find_recorder(net, recorder_name), layers, **kwargs)

    # ------------------------------------------------------------------
    # drawing
    # ------------------------------------------------------------------

    def plot(self, ax=None, *, frame: int = 0, figsize=(10, 5), linewidth: float = 1.0):
        """Draw one frame and keep the artists that later frames update.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            New figure of ``figsize`` when None.
        frame : int, default=0
        figsize : tuple, default=(10, 5)
            The seed's size.
        linewidth : float, default=1.0

        Returns
        -------
        self
        """
        from matplotlib.collections import LineCollection

        from ..plot.base import get_figure_ax

        frame = self._check_frame(frame)
        fig, ax = get_figure_ax(ax, figsize=figsize)
        n_cols = len(self.column_labels)
        lines = LineCollection(
            self.segments, colors=self.colors[frame], linewidths=linewidth, zorder=1
        )
        ax.add_collection(lines)
        cols = self.node_xy[:, 0].astype(int)
        counts = np.bincount(cols, minlength=n_cols)
        # circles smaller than the gap to their neighbours in the column
        height_pt = ax.get_position().height * fig.get_figheight() * 72
        gap_pt = height_pt / np.maximum(counts - 1, 1)
        size = np.clip(0.7 * gap_pt, 2.0, 10.0)[cols] ** 2
        nodes = ax.scatter(
            self.node_xy[:, 0],
            self.node_xy[:, 1],
            s=size,
            facecolors="white",
            edgecolors="black",
            linewidths=0.6,
            zorder=2,
        )
        ax.set_xlim(-0.15, n_cols - 1 + 0.15)
        ax.set_ylim(-0.04, 1.04)
        ax.set_xticks(np.arange(n_cols), self.column_labels)
        ax.tick_params(axis="x", length=0)
        ax.get_yaxis().set_visible(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if self.rule:
            ax.set_xlabel(self.rule, fontsize="small")
        self.figure_, self.ax_ = fig, ax
        self.lines_, self.nodes_ = lines, nodes
        self.draw_frame(frame)
        return self

    def _check_frame(self, frame) -> int:
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise TypeError(f"frame must be an int, got {frame!r}.")
        if not -self.n_frames <= frame < self.n_frames:
            raise ValueError(f"frame {frame} out of range for {self.n_frames} frames.")
        return int(frame) % self.n_frames

    def draw_frame(self, frame: int):
        """Show ``frame`` on the plotted figure; returns the changed artists."""
        if not hasattr(self, "lines_"):
            self.plot()
        frame = self._check_frame(frame)
        self.lines_.set_color(self.colors[frame])
        self.ax_.title.set_text(self.frame_titles[frame])
        self.frame_ = frame
        return (self.lines_, self.ax_.title)

    def animation(self, interval: int = 100, **kwargs):
        """A :class:`matplotlib.animation.FuncAnimation` over all frames.

        The figure is made by :meth:`plot` when not yet drawn.
        """
        from matplotlib.animation import FuncAnimation

        if not hasattr(self, "lines_"):
            self.plot()
        return FuncAnimation(
            self.figure_,
            self.draw_frame,
            frames=range(self.n_frames),
            interval=interval,
            repeat=True,
            cache_frame_data=False,
            **kwargs,
        )

    def save(
        self,
        path: str | os.PathLike,
        *,
        fps: float = 10,
        dpi: float | None = None,
        progress: bool = True,
        writer=None,
    ) -> Path:
        """Render every frame and write the animation.

        Parameters
        ----------
        path : str or path
            ``.gif`` files are written with Pillow on one fixed palette; other
            suffixes go to ``writer`` (a matplotlib writer name or instance).
        fps : float, default=10
        dpi : float, optional
            Resolution; the figure's when None.
        progress : bool, default=True
            Show a tqdm progress bar while rendering.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        fps = checks.check_fps(fps)
        if writer is None:
            if path.suffix.lower() != ".gif":
                raise ValueError(
                    f"{path.name}: without writer=..., only .gif is written; pass "
                    "writer='ffmpeg' (or another matplotlib writer) for other formats."
                )
            writer = _palette_writer_class()(
                fps=fps, palette=_gif_palette((self.positive, self.negative))
            )
        anim = self.animation(interval=1000 / fps)
        bar = progress_bar(self.n_frames, progress, "frames", "frame")
        with _frozen_layout(self.figure_), _one_draw_per_frame(self.figure_), bar:
            anim.save(
                path,
                writer=writer,
                fps=None if not isinstance(writer, str) else fps,
                dpi=dpi,
                progress_callback=lambda i, n: bar.update(1),
            )
        return path

    def to_jshtml(
        self,
        *,
        fps: float = 10,
        progress: bool = False,
        embed_limit: float | None = None,
    ) -> str:
        """HTML with every frame embedded, for notebooks (``IPython.display.HTML``).

        Parameters
        ----------
        fps : float, default=10
        progress : bool, default=False
            Show a tqdm progress bar while rendering.
        embed_limit : float, optional
            Size limit in MB (matplotlib's ``animation.embed_limit`` when None).
        """
        import tempfile

        from matplotlib.animation import HTMLWriter

        fps = checks.check_fps(fps)
        anim = self.animation(interval=1000 / fps)
        writer = HTMLWriter(
            fps=fps, embed_frames=True, default_mode="loop", embed_limit=embed_limit
        )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "animation.html")
            bar = progress_bar(self.n_frames, progress, "frames", "frame")
            with (
                _frozen_layout(self.figure_),
                _one_draw_per_frame(self.figure_),
                bar,
            ):
                anim.save(
                    out, writer=writer, progress_callback=lambda i, n: bar.update(1)
                )
            return out.read_text()


@contextmanager
def _one_draw_per_frame(fig):
    """Skip the canvas redraw that ``Animation.save`` makes before each grab.

    ``Animation.save`` draws every frame with ``canvas.draw_idle()`` and the
    writer then draws it again in ``savefig`` to grab the pixels, so the
    first draw is never seen. Disabling ``draw_idle`` on this canvas while
    saving halves the drawing work; it is restored afterwards.
    """
    canvas = fig.canvas
    own = "draw_idle" in vars(canvas)
    previous = vars(canvas).get("draw_idle")
    canvas.draw_idle = lambda *args, **kwargs: None
    try:
        yield
    finally:
        if own:
            canvas.draw_idle = previous
        else:
            del canvas.draw_idle


@contextmanager
def _frozen_layout(fig):
    """Lay the figure out once, then keep it fixed while frames are drawn.

    Only colours and the title change between frames, so re-running a
    layout engine (constrained layout measures every text) for each frame
    is wasted work. The engine is restored afterwards.
    """
    engine = fig.get_layout_engine()
    if engine is None:
        yield
        return
    fig.draw_without_rendering()
    try:
        # None (not "none", which keeps a placeholder engine that makes
        # savefig run an extra non-rendering draw per frame)
        fig.set_layout_engine(None)
    except RuntimeError:  # engines that refuse to be swapped (colorbars)
        yield
        return
    try:
        yield
    finally:
        fig.set_layout_engine(engine)


def _sq_sum(u: np.ndarray, axis) -> np.ndarray:
    out = np.zeros(u.shape[1] if axis == (0, 2) else u.shape[2])
    # chunks over the update axis keep the float64 temporary small
    step = max(1, (8 * 2**20) // max(u[0].size * 8, 1))
    for s in range(0, u.shape[0], step):
        block = np.asarray(u[s : s + step], dtype=np.float64)
        block = np.where(np.isfinite(block), block, 0.0)
        out += np.square(block).sum(axis=axis)
    return out


def _frame_indices(frames, n_updates: int) -> np.ndarray:
    if frames is None:
        return np.arange(n_updates)
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}.")
        return np.arange(min(int(frames), n_updates))
    if isinstance(frames, slice):
        idx = np.arange(n_updates)[frames]
    else:
        idx = np.asarray(frames)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(
                "frames must be None, an int, a slice or a 1-D array of ints."
            )
        if idx.size and (idx.min() < -n_updates or idx.max() >= n_updates):
            raise ValueError(f"frames out of range for {n_updates} updates.")
        idx = idx % n_updates
    if idx.size == 0:
        raise ValueError("frames selects no update.")
    return idx.astype(np.int64)
