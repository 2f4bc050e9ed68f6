"""Conv2d kernels as small images, one per (output channel, input channel)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from .. import analysis
from .base import (
    annotate_cells,
    check_indices,
    get_figure_ax,
    layer_module,
    tick_step,
)

__all__ = ["KernelGridDisplay"]

_GAP = 1  # blank pixels between neighbouring kernels in the mosaic
# Numbers are written in the kernels' pixels only when a pixel is at least
# this wide (inches): "-0.25" in 6-point type needs about 0.25 in.
_MIN_ANNOTATED_PIXEL = 0.28


def _wrap_columns(n: int) -> int:
    """Kernels per row when a single input channel leaves a free arrangement.

    Up to 4 in one row; more in a near-square grid (16 kernels: 4 x 4), so
    that they do not shrink into one long strip.
    """
    return n if n <= 4 else int(np.ceil(np.sqrt(n)))


def _channels(selection, total: int, limit: int, what: str):
    """Indices to show and a note for the title when not all are shown."""
    if selection is None:
        if total <= limit:
            return np.arange(total), None
        return np.arange(limit), f"first {limit} of {total} {what} channels"
    idx = check_indices(selection, total, f"{what}_channels")
    note = None if len(idx) == total else f"{len(idx)} of {total} {what} channels"
    return idx, note


class KernelGridDisplay:
    """Grid of the kernels of a ``Conv2d`` layer: rows output, columns input channels.

    All kernels are drawn as one mosaic image (white gaps between kernels)
    with a diverging colour map centred at 0; the colour scale is shared by
    all kernels or per kernel (``scale``), as the title states. With a
    single input channel (first-layer kernels) the kernels wrap into a
    near-square grid (16 kernels: 4 x 4), each labelled ``out k`` above it.
    Each weight is written in its pixel when the pixels are large enough
    to hold the number.

    For a grouped convolution (``groups > 1``) the columns are the input
    channels within each output channel's group, as in ``conv.weight``.

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
    scale : {"shared", "kernel"}, default="shared"
        ``"shared"``: one colour scale ``[-m, m]`` for all drawn kernels,
        ``m`` the largest absolute weight among them, so kernels compare.
        ``"kernel"``: each kernel divided by its own largest absolute
        weight, so the pattern of weak kernels shows too.
    max_out, max_in : int, default=32, 16
        How many channels to draw when ``out_channels``/``in_channels``
        are not given.

    Attributes
    ----------
    weight_ : ndarray of shape (n_out, n_in, kh, kw)
    bias_ : ndarray or None
    out_channels_, in_channels_ : ndarray of int
        The channels drawn, in drawing order.
    kernels_ : ndarray of shape (n_shown_out, n_shown_in, kh, kw)
        The drawn kernels, in weight units.
    scales_ : ndarray of shape (n_shown_out, n_shown_in)
        The value mapped to the end of the colour scale for each kernel:
        one value everywhere for ``scale="shared"``, ``max |w|`` of each
        kernel for ``scale="kernel"``.
    image_ : ndarray
        The mosaic as drawn (``kernels_ / scales_`` for ``scale="kernel"``),
        NaN in the gaps.
    vmin_, vmax_ : float
        Colour limits of the image (``-1, 1`` for ``scale="kernel"``).
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
        scale: Literal["shared", "kernel"] = "shared",
        max_out: int = 32,
        max_in: int = 16,
    ):
        W = np.asarray(weight)
        if W.ndim != 4 or 0 in W.shape:
            raise ValueError(
                "weight must be a non-empty 4-D array (out_channels, in_channels, "
                f"kh, kw), got shape {W.shape}."
            )
        self.weight_ = analysis.mask_nonfinite(
            W, f"kernels of {layer or 'the layer'!r}"
        )
        self.bias_ = None if bias is None else np.asarray(bias).copy()
        self.layer = layer
        self._select(out_channels, in_channels, scale, max_out, max_in)

    def _select(self, out_channels, in_channels, scale, max_out, max_in) -> None:
        """The drawn kernels, their colour scale and the mosaic image."""
        if scale not in ("shared", "kernel"):
            raise ValueError(f"scale must be 'shared' or 'kernel', got {scale!r}.")
        n_out, n_in, kh, kw = self.weight_.shape
        outs, out_note = _channels(out_channels, n_out, max_out, "out")
        ins, in_note = _channels(in_channels, n_in, max_in, "in")
        K = self.weight_[np.ix_(outs, ins)]
        with np.errstate(invalid="ignore"):
            absmax = np.nanmax(np.abs(K), axis=(2, 3)) if K.size else np.zeros(0)
        absmax = np.nan_to_num(absmax)
        if scale == "shared":
            shared = float(absmax.max(initial=0.0)) or 1.0
            scales = np.full(absmax.shape, shared)
            shown, limit = K, shared
            scale_text = f"one colour scale for all kernels, ±{shared:.3g}"
            cbar_label = "weight"
        else:
            scales = np.where(absmax > 0, absmax, 1.0)
            shown, limit = K / scales[:, :, None, None], 1.0
            scale_text = "colour scale per kernel, ±its own max |w|"
            cbar_label = "weight / max |weight| of its kernel"

        n_o, n_i = len(outs), len(ins)
        # With a single input channel (first-layer kernels) the kernels wrap
        # into a near-square grid, each labelled above it (room left for the
        # label); otherwise rows are output and columns input channels.
        self._wrap = _wrap_columns(n_o) if n_i == 1 and n_o > 1 else None
        self._label_gap = max(1, int(np.ceil(kh / 3))) if self._wrap else 0
        rows, cols = self._grid_shape(n_o, n_i)
        image = np.full(
            (
                rows * (kh + self._label_gap) + (rows - 1) * _GAP,
                cols * kw + (cols - 1) * _GAP,
            ),
            np.nan,
        )
        masked = np.zeros(image.shape, dtype=bool)
        for a in range(n_o):
            for b in range(n_i):
                r, c = self._origin(a, b)
                image[r : r + kh, c : c + kw] = shown[a, b]
                masked[r : r + kh, c : c + kw] = np.isnan(shown[a, b])

        self.out_channels_, self.in_channels_ = outs, ins
        self.kernels_, self.scales_ = K, scales
        self.image_ = image
        self.scale_ = scale
        self.vmin_, self.vmax_ = -limit, limit
        self._shown, self._masked = shown, masked
        self._notes = [n for n in (out_note, in_note) if n]
        self._scale_text, self._cbar_label = scale_text, cbar_label

    def _grid_shape(self, n_o: int, n_i: int) -> tuple[int, int]:
        """Kernels per column and per row of the mosaic."""
        if self._wrap:
            return -(-n_o // self._wrap), self._wrap
        return n_o, n_i

    def _origin(self, a: int, b: int) -> tuple[int, int]:
        """Top-left pixel of kernel (out ``a``, in ``b``) in the mosaic."""
        kh, kw = self.weight_.shape[2:]
        r, c = divmod(a, self._wrap) if self._wrap else (a, b)
        return r * (kh + self._label_gap + _GAP) + self._label_gap, c * (kw + _GAP)

    @classmethod
    def from_estimator(cls, net, layer: str, *, ax=None, **kwargs) -> KernelGridDisplay:
        """Read the kernels of ``nn.Conv2d`` layer ``layer`` and plot them.

        ``kwargs`` are those of :meth:`from_weights`: the kernels to draw
        and their scale (``out_channels``, ``in_channels``, ``scale``,
        ``max_out``, ``max_in``), then ``annotate`` and ``cmap``.
        """
        from torch import nn

        module = layer_module(net, layer, nn.Conv2d, "nn.Conv2d", "KernelGridDisplay")
        W = module.weight.detach().cpu().numpy()
        b = None if module.bias is None else module.bias.detach().cpu().numpy()
        return cls.from_weights(W, b, layer=layer, ax=ax, **kwargs)

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
        ``in_channels``, ``scale``, ``max_out``, ``max_in``); ``ax``,
        ``annotate`` and ``cmap`` are those of :meth:`plot`.
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
            Write each weight in its pixel; by default only when a pixel is
            large enough for the number (about 0.28 inch), as in a mosaic
            of a few small kernels.
        cmap : str, default="RdBu_r"
            A diverging colour map (white is 0).

        Returns
        -------
        self
        """
        n_out, n_in, kh, kw = self.weight_.shape
        outs, ins, K = self.out_channels_, self.in_channels_, self.kernels_
        n_o, n_i = len(outs), len(ins)
        image, limit = self.image_, self.vmax_
        name = f" of {self.layer}" if self.layer else ""
        lines = [f"Kernels{name}: {n_out} out × {n_in} in channels, {kh}×{kw}"]
        if self._notes:
            lines.append("showing " + ", ".join(self._notes))
        lines.append(self._scale_text + ", 0 = white")
        # One size per pixel of the mosaic: large enough for a number in
        # each pixel of a small mosaic, at most about 6 inches in all.
        pixel = float(np.clip(6.0 / max(image.shape), 0.05, 0.36))
        # Wide enough for the title, which constrained layout cannot wrap.
        width = max(
            0.085 * max(len(line) for line in lines) + 1.2,
            image.shape[1] * pixel + 2.4,
        )
        height = image.shape[0] * pixel + 1.2 + 0.2 * len(lines)
        fig, ax = get_figure_ax(ax, figsize=(width, float(np.clip(height, 2.2, 14.0))))
        import matplotlib as mpl

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
        if annotate is None:
            annotate = _pixel_inches(fig, ax, image.shape) >= _MIN_ANNOTATED_PIXEL
        if annotate:
            for a in range(n_o):
                for b in range(n_i):
                    annotate_cells(
                        ax,
                        im,
                        K[a, b],
                        shown=self._shown[a, b],
                        origin=self._origin(a, b),
                        fontsize=6,
                    )
        if self._wrap:
            self._label_kernels(ax, outs)
        else:
            self._tick_labels(ax, outs, ins)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        fig.colorbar(im, ax=ax, label=self._cbar_label, shrink=0.8)
        ax.set_title("\n".join(lines), fontsize="medium")
        self.figure_, self.ax_ = fig, ax
        return self

    def _label_kernels(self, ax, outs) -> None:
        """``out k`` above each kernel of a wrapped grid; no ticks."""
        kw = self.weight_.shape[3]
        for a, channel in enumerate(outs):
            r, c = self._origin(a, 0)
            ax.text(
                c + (kw - 1) / 2,
                r - 0.55,
                f"out {channel}",
                ha="center",
                va="bottom",
                fontsize="small",
            )
        ax.set_xticks([])
        ax.set_yticks([])

    def _tick_labels(self, ax, outs, ins) -> None:
        """Rows are output channels, columns input channels."""
        kh, kw = self.weight_.shape[2:]
        rows, cols = len(outs), len(ins)
        ystep, xstep = tick_step(rows, 32), tick_step(cols, 24)
        ax.set_yticks(
            [self._origin(r, 0)[0] + (kh - 1) / 2 for r in range(0, rows, ystep)],
            [f"out {c}" for c in outs][::ystep],
        )
        ax.set_xticks(
            [c * (kw + _GAP) + (kw - 1) / 2 for c in range(0, cols, xstep)],
            [f"in {c}" for c in ins][::xstep],
            rotation=90 if cols > 6 else 0,
        )


def _pixel_inches(fig, ax, shape) -> float:
    """Side of one mosaic pixel in inches, as the axes are placed now."""
    box = ax.get_position()
    width = box.width * fig.get_figwidth() / shape[1]
    height = box.height * fig.get_figheight() / shape[0]
    # imshow keeps square pixels: the tighter side decides
    return float(min(width, height))
