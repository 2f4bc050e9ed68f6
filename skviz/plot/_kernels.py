"""Conv2d kernels as small images: colour filters of a first layer, or one
tile per (output channel, input channel)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from .. import analysis
from ..layers import LayerRef, check_module_names
from . import _kernel_mosaic as mosaic
from .base import (
    annotate_cells,
    cell_text,
    check_indices,
    get_figure_ax,
    layer_module,
)

__all__ = ["KernelGridDisplay"]

# Without out_channels, at most this many kernels are drawn: a 10 x 10 grid
# of colour filters (all 64 of resnet's and VGG's first layers, 96 of
# AlexNet's), or 32 rows of per-channel tiles.
_MAX_OUT = {"rgb": 100, "channels": 32}
_NUMBER_SIZE = 6  # points, for the weights written in the pixels
_TILE_LABEL_SIZE = 7  # points, for "out k" above each kernel of a grid


def _channels(selection, total: int, limit: int, what: str):
    """Indices to show and a note for the title when not all are shown."""
    if selection is None:
        if total <= limit:
            return np.arange(total), None
        return np.arange(limit), f"first {limit} of {total} {what} channels"
    idx = check_indices(selection, total, f"{what}_channels")
    note = None if len(idx) == total else f"{len(idx)} of {total} {what} channels"
    return idx, note


def _resolve_mode(mode: str, n_in: int, in_channels) -> str:
    if mode not in ("auto", "rgb", "channels"):
        raise ValueError(f"mode must be 'auto', 'rgb' or 'channels', got {mode!r}.")
    if mode == "auto":
        return "rgb" if n_in == 3 and in_channels is None else "channels"
    if mode == "rgb":
        n_drawn = n_in if in_channels is None else len(np.atleast_1d(in_channels))
        if n_drawn != 3:
            raise ValueError(
                "mode='rgb' draws 3 input channels as red, green and blue; this "
                f"layer has {n_in} input channels"
                + ("" if in_channels is None else f" and in_channels names {n_drawn}")
                + ". Pass in_channels=[r, g, b] or use mode='channels'."
            )
    return mode


class KernelGridDisplay:
    """The kernels of a ``Conv2d`` layer as one mosaic of small images.

    Two pictures, chosen by ``mode``:

    * ``"rgb"``, the classic picture of a first layer on colour images:
      each output channel's kernel is one small colour image whose red,
      green and blue are its 3 input channels, the kernels in a
      near-square grid (64 kernels: 8 x 8). Weights map to ``[0, 1]``
      symmetrically around 0, so mid-grey is 0 in every channel, and the
      title states the scale; there is no colour bar, as a colour stands
      for three weights.
    * ``"channels"``: one tile per (output, input channel) pair, rows
      output and columns input channels (a layer with one input channel
      per kernel, such as a first layer on grey images or a depthwise
      convolution, wraps into a near-square grid), a diverging colour map
      centred at 0 with a colour bar.

    Labels are only written where they fit the drawn size: ``out k`` above
    each kernel of a grid when the kernels are wide enough, else row and
    column labels on the axes; the weights in the pixels of a
    ``"channels"`` mosaic when a pixel holds the number.

    For a grouped convolution (``groups > 1``) the input channels are those
    within each output channel's group, as in ``conv.weight``.

    Parameters
    ----------
    weight : ndarray of shape (n_out, n_in, kh, kw)
        The layer's full weight (``conv.weight``).
    bias : ndarray of shape (n_out,), optional
        Kept for reference (``bias_``); not drawn.
    layer : str, optional
        Name for the title.
    out_channels, in_channels : sequence of int, optional
        Which kernels to draw; by default all, or the first ``max_out``
        / ``max_in`` when there are more (stated in the title).
    mode : {"auto", "rgb", "channels"}, default="auto"
        ``"rgb"`` needs 3 drawn input channels (``in_channels`` picks 3 of
        a wider layer). ``"auto"`` is ``"rgb"`` for a weight with 3 input
        channels when ``in_channels`` is not given, and ``"channels"``
        otherwise; :meth:`from_estimator` also keeps grouped convolutions
        in ``"channels"``.
    scale : {"shared", "kernel"}, default="shared"
        ``"shared"``: one colour scale ``[-m, m]`` for all drawn kernels,
        ``m`` the largest absolute weight among them, so kernels compare.
        ``"kernel"``: each kernel divided by its own largest absolute
        weight (over its 3 channels in ``"rgb"`` mode), so the pattern of
        weak kernels shows too.
    max_out : int, optional
        How many output channels to draw when ``out_channels`` is not
        given: by default 100 in ``"rgb"`` mode (a 10 x 10 grid), 32 in
        ``"channels"`` mode.
    max_in : int, default=16
        How many input channels to draw when ``in_channels`` is not given.

    Attributes
    ----------
    weight_ : ndarray of shape (n_out, n_in, kh, kw)
    bias_ : ndarray or None
    mode_ : {"rgb", "channels"}
    out_channels_, in_channels_ : ndarray of int
        The channels drawn, in drawing order (in ``"rgb"`` mode the input
        channels drawn as red, green and blue).
    kernels_ : ndarray of shape (n_shown_out, n_shown_in, kh, kw)
        The drawn kernels, in weight units.
    scales_ : ndarray of shape (n_shown_out, n_shown_in)
        The weight mapped to the end of the colour scale for each kernel:
        one value everywhere for ``scale="shared"``, ``max |w|`` of each
        kernel for ``scale="kernel"`` (of each 3-channel kernel in
        ``"rgb"`` mode, repeated over its channels).
    image_ : ndarray of shape (H, W) or (H, W, 3)
        The mosaic as drawn, NaN in the gaps: ``kernels_ / scales_`` for
        ``scale="kernel"`` in ``"channels"`` mode; in ``"rgb"`` mode the
        colour of each pixel, ``(1 + kernels_ / scales_) / 2`` in
        ``[0, 1]``.
    vmin_, vmax_ : float
        Colour limits: the weights (``scale="shared"``) or shares of each
        kernel's ``max |w|`` (``-1, 1`` for ``scale="kernel"``) mapped to
        the ends of the colour map, or to 0 and 1 of each colour in
        ``"rgb"`` mode.
    scale_ : str
    figure_, ax_ : matplotlib Figure and Axes
    """

    def __init__(
        self,
        weight,
        bias=None,
        *,
        layer: str | None = None,
        out_channels: Sequence[int] | None = None,
        in_channels: Sequence[int] | None = None,
        mode: Literal["auto", "rgb", "channels"] = "auto",
        scale: Literal["shared", "kernel"] = "shared",
        max_out: int | None = None,
        max_in: int = 16,
    ):
        W = np.asarray(weight)
        if W.ndim != 4 or 0 in W.shape:
            raise ValueError(
                "weight must be a non-empty 4-D array (out_channels, in_channels, "
                f"kh, kw), got shape {W.shape}."
            )
        if scale not in ("shared", "kernel"):
            raise ValueError(f"scale must be 'shared' or 'kernel', got {scale!r}.")
        mode = _resolve_mode(mode, W.shape[1], in_channels)
        for name, value in (("max_out", max_out), ("max_in", max_in)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        self.weight_ = analysis.mask_nonfinite(
            W, f"kernels of {layer or 'the layer'!r}"
        )
        self.bias_ = None if bias is None else np.asarray(bias).copy()
        self.layer = layer
        self.mode_ = mode
        self._select(
            out_channels, in_channels, scale, max_out or _MAX_OUT[mode], max_in
        )

    def _select(self, out_channels, in_channels, scale, max_out, max_in) -> None:
        """The drawn kernels, their colour scale and the mosaic image."""
        n_out, n_in, kh, kw = self.weight_.shape
        rgb = self.mode_ == "rgb"
        outs, out_note = _channels(out_channels, n_out, max_out, "out")
        ins, in_note = _channels(in_channels, n_in, 3 if rgb else max_in, "in")
        K = self.weight_[np.ix_(outs, ins)]
        # a kernel is one 2-D tile, or in "rgb" mode the 3 channels together
        over = (1, 2, 3) if rgb else (2, 3)
        with np.errstate(invalid="ignore"):
            absmax = np.nan_to_num(np.nanmax(np.abs(K), axis=over, keepdims=True))
        if scale == "shared":
            limit = float(absmax.max(initial=0.0)) or 1.0
            scales = np.full(absmax.shape, limit)
        else:
            limit = 1.0
            scales = np.where(absmax > 0, absmax, 1.0)
        # shared scale: the image stays in weight units, as the colour bar
        shown = K / scales if scale == "kernel" else K
        self.scales_ = np.broadcast_to(scales, K.shape)[:, :, 0, 0].copy()

        n_o, n_i = len(outs), len(ins)
        # Kernels that are not tied to input-channel columns (colour
        # filters, or one input channel each) wrap into a near-square grid.
        wrap = mosaic.wrap_columns(n_o) if rgb or (n_i == 1 and n_o > 1) else None
        self._mosaic = mosaic.Mosaic(n_o, n_i, kh, kw, wrap)
        gaps = np.isnan(self._mosaic.place(np.zeros((n_o, n_i, kh, kw))))
        if rgb:
            colours = (1.0 + np.moveaxis(K / scales, 1, -1)) / 2  # (n_o, kh, kw, 3)
            image = self._mosaic.place(colours, colour=True)
            nan = np.isnan(image).any(axis=-1)
        else:
            image = self._mosaic.place(shown)
            nan = np.isnan(image)
        self._gaps, self._masked = gaps, nan & ~gaps
        self.out_channels_, self.in_channels_ = outs, ins
        self.kernels_ = K
        self.image_ = image
        self.scale_ = scale
        self.vmin_, self.vmax_ = -limit, limit
        self._shown = shown
        self._notes = [n for n in (out_note, in_note) if n]

    @classmethod
    def from_estimator(cls, net, layer: str, *, ax=None, **kwargs) -> KernelGridDisplay:
        """Read the kernels of ``nn.Conv2d`` layer ``layer`` and plot them.

        ``kwargs`` are those of :meth:`from_weights`: the kernels to draw,
        the picture and its scale (``out_channels``, ``in_channels``,
        ``mode``, ``scale``, ``max_out``, ``max_in``), then ``annotate``
        and ``cmap``. A grouped convolution is drawn per channel with
        ``mode="auto"``: its input channels are not colours.
        """
        from torch import nn

        known = net.layer_names()
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a str, got {type(layer).__name__}.")
        ref = LayerRef.parse(layer, known)
        # The engine's words for an unknown layer, as transform_layer says them.
        check_module_names([ref.module], known)
        if ref.text != ref.module:
            raise ValueError(
                f"KernelGridDisplay reads the weight of a module, which has no "
                f"calls or output indices: pass {ref.module!r}, not {layer!r}."
            )
        module = layer_module(
            net, ref.module, nn.Conv2d, "nn.Conv2d", "KernelGridDisplay"
        )
        if kwargs.get("mode", "auto") == "auto" and module.groups != 1:
            kwargs["mode"] = "channels"
        W = module.weight.detach().cpu().numpy()
        b = None if module.bias is None else module.bias.detach().cpu().numpy()
        return cls.from_weights(W, b, layer=ref.module, ax=ax, **kwargs)

    @classmethod
    def from_weights(
        cls,
        weight,
        bias=None,
        *,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "RdBu_r",
        **kwargs,
    ) -> KernelGridDisplay:
        """Plot kernels given as an array of shape ``(n_out, n_in, kh, kw)``.

        ``kwargs`` are the class parameters (``layer``, ``out_channels``,
        ``in_channels``, ``mode``, ``scale``, ``max_out``, ``max_in``);
        ``ax``, ``annotate`` and ``cmap`` are those of :meth:`plot`.
        """
        return cls(weight, bias, **kwargs).plot(ax=ax, annotate=annotate, cmap=cmap)

    def plot(
        self,
        *,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "RdBu_r",
    ) -> KernelGridDisplay:
        """Draw the mosaic.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        annotate : bool, optional
            Write each weight in its pixel (``"channels"`` mode only); by
            default only when every number fits its pixel as drawn, as in
            a mosaic of a few small kernels.
        cmap : str, default="RdBu_r"
            A diverging colour map (white is 0) for ``"channels"`` mode;
            ``"rgb"`` mode draws the weights as colours.

        Returns
        -------
        self
        """
        rgb = self.mode_ == "rgb"
        if annotate and rgb:
            raise ValueError(
                "annotate=True writes one weight per pixel, but a pixel of an 'rgb' "
                "mosaic shows three; use mode='channels' to read the numbers."
            )
        lines = self._title_lines()
        own = ax is None
        fig, ax = get_figure_ax(ax, figsize=self._figsize(lines))
        im = self._draw_rgb(ax) if rgb else self._draw_tiles(ax, fig, cmap)
        ax.set_title("\n".join(lines), fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        # Labels and numbers are chosen from the size the axes really get;
        # text wider than a caller's small axes is wrapped.
        fig.draw_without_rendering()
        if not own:  # ours is sized for the title
            mosaic.wrap_text(ax.title, ax.get_window_extent().width)
        if self._mosaic.wrap and self._tile_labels_fit(ax):
            self._label_tiles(ax)
        else:
            if self._mosaic.wrap:
                ax.set_xlabel("out k = first of its row + column", fontsize="small")
            self._axis_labels(ax)
            mosaic.wrap_text(ax.xaxis.label, ax.get_window_extent().width)
            fig.draw_without_rendering()
            # The labels took room from the mosaic: fit them again. Fewer
            # labels only give the mosaic room back.
            self._axis_labels(ax)
        if mosaic.keep_inside(ax.title, ax, fig):
            fig.draw_without_rendering()
            mosaic.keep_inside(ax.title, ax, fig)
        if annotate is None:
            annotate = not rgb and self._numbers_fit(ax)
        if annotate:
            before = len(ax.texts)
            for a in range(len(self.out_channels_)):
                for b in range(len(self.in_channels_)):
                    annotate_cells(
                        ax,
                        im,
                        self.kernels_[a, b],
                        shown=self._shown[a, b],
                        origin=self._mosaic.origin(a, b),
                        fontsize=_NUMBER_SIZE,
                    )
            # inside the mosaic: nothing for the layout to make room for
            for text in ax.texts[before:]:
                text.set_in_layout(False)
        self.figure_, self.ax_ = fig, ax
        return self

    # ------------------------------------------------------------------
    # drawing
    # ------------------------------------------------------------------

    def _title_lines(self) -> list[str]:
        n_out, n_in, kh, kw = self.weight_.shape
        name = f" of {self.layer}" if self.layer else ""
        lines = [f"Kernels{name}: {n_out} out × {n_in} in channels, {kh}×{kw}"]
        if self._notes:
            lines.append("showing " + ", ".join(self._notes))
        limit = self.vmax_
        if self.mode_ == "rgb":
            r, g, b = self.in_channels_
            lines.append(f"in {r} → red, in {g} → green, in {b} → blue")
            if self.scale_ == "shared":
                how = f"one scale for all kernels, ±{limit:.3g} → 0…1"
            else:
                how = "each kernel on its own scale, ±its max |w| → 0…1"
            how += ", grey = 0"
            if self._masked.any():
                how += ", × = non-finite"
        elif self.scale_ == "shared":
            how = f"one colour scale for all kernels, ±{limit:.3g}, 0 = white"
        else:
            how = "colour scale per kernel, ±its own max |w|, 0 = white"
        lines.append(how)
        return lines

    def _figsize(self, lines: list[str]) -> tuple[float, float]:
        """A size for a figure of our own: pixels large enough for a number
        in each pixel of a small mosaic, about 6 inches for the mosaic in all,
        wide enough for the title (constrained layout does not wrap it)."""
        rows, cols = self._mosaic.shape
        pixel = float(np.clip(6.0 / max(rows, cols), 0.05, 0.36))
        side = 0.9 if self.mode_ == "rgb" else 2.4  # labels, and a colour bar
        width = max(0.085 * max(map(len, lines)) + 1.2, cols * pixel + side)
        height = rows * pixel + 1.2 + 0.2 * len(lines)
        return float(width), float(np.clip(height, 2.2, 14.0))

    def _draw_rgb(self, ax):
        image = self.image_
        rgba = np.concatenate(
            [np.nan_to_num(image, nan=0.5), (~self._gaps & ~self._masked)[..., None]],
            axis=-1,
        )
        im = ax.imshow(rgba.astype(float), interpolation="nearest")
        if self._masked.any():
            rows, cols = np.nonzero(self._masked)
            ax.scatter(cols, rows, marker="x", color="0.4", s=12, linewidths=1)
            ax.set_xlim(-0.5, image.shape[1] - 0.5)
            ax.set_ylim(image.shape[0] - 0.5, -0.5)
        return im

    def _draw_tiles(self, ax, fig, cmap):
        import matplotlib as mpl

        image, limit = self.image_, self.vmax_
        im = ax.imshow(
            np.ma.masked_invalid(image),
            cmap=mpl.colormaps[cmap].with_extremes(bad="white"),
            vmin=-limit,
            vmax=limit,
            interpolation="nearest",
        )
        if self._masked.any():
            # Masked (non-finite) weights in grey, distinct from the white gaps.
            ax.imshow(
                np.ma.masked_where(~self._masked, np.zeros(image.shape)),
                cmap=mpl.colors.ListedColormap(["0.55"]),
                interpolation="nearest",
            )
        label = (
            "weight"
            if self.scale_ == "shared"
            else "weight / max |weight| of its kernel"
        )
        # At most about 4 inches tall beside a tall mosaic.
        height = ax.get_position().height * fig.get_figheight()
        fig.colorbar(im, ax=ax, label=label, shrink=min(0.8, 4.0 / max(height, 1e-9)))
        return im

    # ------------------------------------------------------------------
    # labels that fit
    # ------------------------------------------------------------------

    def _tile_labels_fit(self, ax) -> bool:
        """Whether ``out k`` fits above each kernel of the grid as drawn."""
        m = self._mosaic
        pixel = mosaic.pixel_px(ax, m.shape)
        widest = f"out {max(self.out_channels_)}"
        width, height = mosaic.text_px(ax, widest, _TILE_LABEL_SIZE)
        return (
            1.15 * width <= (m.kw + mosaic.GAP) * pixel
            and height <= (m.label_gap + mosaic.GAP) * pixel
        )

    def _label_tiles(self, ax) -> None:
        """``out k`` above each kernel of a wrapped grid."""
        kw = self._mosaic.kw
        for a, channel in enumerate(self.out_channels_):
            r, c = self._mosaic.origin(a)
            ax.text(
                c + (kw - 1) / 2,
                r - 0.55,
                f"out {channel}",
                ha="center",
                va="bottom",
                fontsize=_TILE_LABEL_SIZE,
            )

    def _axis_labels(self, ax) -> None:
        """Tick labels on the axes, as many as fit: output channels down the
        side; input channels along the bottom, or for a grid the position in
        its row (kernel = first of the row + column)."""
        import matplotlib as mpl

        m = self._mosaic
        outs, ins = self.out_channels_, self.in_channels_
        rows, cols = m.grid
        pixel = mosaic.pixel_px(ax, m.shape)
        size = mpl.rcParams["ytick.labelsize"]
        ys = [m.origin(r * (m.wrap or 1))[0] + (m.kh - 1) / 2 for r in range(rows)]
        xs = [c * (m.kw + mosaic.GAP) + (m.kw - 1) / 2 for c in range(cols)]
        if m.wrap:
            y_text = [
                f"out {outs[r * m.wrap]}–{outs[min((r + 1) * m.wrap, len(outs)) - 1]}"
                if min((r + 1) * m.wrap, len(outs)) - r * m.wrap > 1
                else f"out {outs[r * m.wrap]}"
                for r in range(rows)
            ]
            x_text = [f"+{c}" for c in range(cols)]
        else:
            y_text = [f"out {c}" for c in outs]
            x_text = [f"in {c}" for c in ins]
        height = mosaic.text_px(ax, y_text[0], size)[1]
        ystep = mosaic.fit_step(m.row_pitch * pixel, height, rows)
        ax.set_yticks(ys[::ystep], y_text[::ystep])
        spacing = (m.kw + mosaic.GAP) * pixel
        width, height = mosaic.text_px(ax, max(x_text, key=len), size)
        xstep = mosaic.fit_step(spacing, width, cols)
        rotation = 0
        if xstep > 1 and not m.wrap:
            rotation = 90
            xstep = mosaic.fit_step(spacing, height, cols)
        ax.set_xticks(xs[::xstep], x_text[::xstep], rotation=rotation)

    def _numbers_fit(self, ax) -> bool:
        """Whether the widest weight, as written, fits inside one pixel."""
        finite = self.kernels_[np.isfinite(self.kernels_)]
        if finite.size == 0:
            return False
        widest = max((cell_text(v) for v in finite.tolist()), key=len)
        width, height = mosaic.text_px(ax, widest, _NUMBER_SIZE)
        pixel = mosaic.pixel_px(ax, self._mosaic.shape)
        return 1.15 * width <= pixel and 1.15 * height <= pixel
