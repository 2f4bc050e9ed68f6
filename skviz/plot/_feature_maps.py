"""Feature maps of conv/activation/pooling layers beside the input images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from .. import analysis
from ..samples import n_samples, take_samples
from . import _feature_map_layout as layout
from .base import (
    check_indices,
    class_label,
    color_scale,
    get_figure_axes,
    missing_layers_message,
)

__all__ = ["FeatureMapDisplay"]


def _sample_indices(samples, n: int) -> np.ndarray:
    if isinstance(samples, int | np.integer):
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}.")
        return np.arange(min(int(samples), n))
    idx = np.asarray(samples)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(
            "samples must be a positive int (the first k samples) or a non-empty "
            f"sequence of row positions, got {samples!r}."
        )
    if idx.min() < -n or idx.max() >= n:
        raise ValueError(
            f"samples must be positions in [0, {n - 1}], got {idx.tolist()}."
        )
    return idx % n


def _as_images(X, image_shape) -> np.ndarray:
    """``(k, H, W)`` grey or ``(k, H, W, 3)`` colour images from input samples."""
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    elif hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    A = np.asarray(X, dtype=float)
    if image_shape is not None:
        try:
            A = A.reshape((len(A), *image_shape))
        except ValueError:
            raise ValueError(
                f"image_shape={tuple(image_shape)} does not fit samples of shape "
                f"{A.shape[1:]}."
            ) from None
    if A.ndim == 4 and A.shape[1] == 1:
        return A[:, 0]
    if A.ndim == 4 and A.shape[1] == 3:
        return np.moveaxis(A, 1, -1)
    if A.ndim == 4 and A.shape[-1] in (1, 3):  # channels-last
        return A[..., 0] if A.shape[-1] == 1 else A
    if A.ndim == 3:
        return A
    raise ValueError(
        f"Cannot draw input samples of shape {A.shape[1:]} as images: expected "
        "(1 or 3, H, W) or (H, W). Pass image_shape=(H, W) for flat inputs, or "
        "show_input=False."
    )


def _layers_with_maps(net, X) -> list[str]:
    """Layers whose output is one (N, C, H, W) tensor, from the net's layer discovery."""
    return [
        info.ref
        for info in net.layer_info(X)
        if info.calls == 1 and info.shape is not None and len(info.shape) == 3
    ]


def _given_channels(channels, layer: str):
    return channels.get(layer) if isinstance(channels, Mapping) else channels


def _channel_choice(channels, layer: str, n_channels: int, max_channels: int):
    choice = _given_channels(channels, layer)
    if choice is None:
        return list(range(min(n_channels, max_channels)))
    return check_indices(choice, n_channels, f"channels for {layer!r}").tolist()


class FeatureMapDisplay:
    """Input images and the channels of one or more layers, one row per sample.

    Parameters
    ----------
    maps : dict of str to ndarray of shape (n_samples, C, H, W)
        Layer outputs for the same samples (``net.transform_layers``).
    images : ndarray of shape (n_samples, H, W) or (n_samples, H, W, 3), optional
        The input samples as images, drawn in the first column.
    sample_labels : sequence of str, optional
        One label per row.
    channels : sequence of int or dict of layer to sequence, optional
        Channels to draw (the same for every layer, or per layer); by
        default the first ``max_channels`` of each layer.
    max_channels : int, default=8
        Without ``channels``, layers with more channels show their first
        ``max_channels``, and the title says so.
    scale : {"layer", "map"}, default="layer"
        ``"layer"``: one colour scale per layer over all drawn samples
        and channels, so maps compare; its colour bar is in the layer's
        units. ``"map"``: each map its own scale (shows structure in weak
        maps), ``[-m, m]`` or ``[0, m]`` with ``m`` the map's largest
        ``|value|``; the colour bar shows shares of ``m``. Either way a
        layer with negative values gets a diverging map centred at 0, a
        non-negative one a sequential map from 0 (unless ``cmap`` is
        given to :meth:`plot`).

    The figure made by :meth:`plot` holds at most 8 maps side by side and
    continues downwards; see there.

    Attributes
    ----------
    maps_ : dict of str to ndarray
        All channels of every layer, masked (NaN where non-finite).
    images_ : ndarray or None
    sample_labels_ : list of str
    channels_ : dict of str to list of int
        The channels drawn per layer.
    limits_ : dict of str to (float, float)
        Colour limits per layer for ``scale="layer"`` (symmetric around 0
        when the layer has negative values, else from 0).
    map_limits_ : dict of str to ndarray of shape (n_samples, n_drawn, 2)
        Colour limits of every drawn map for ``scale="map"`` (empty for
        ``"layer"``).
    scale_ : str
    figure_ : matplotlib Figure
    axes_ : ndarray of Axes, shape (n_samples, n_columns)
        Row ``i`` and column ``c`` (the input, then every drawn channel of
        every layer) of the grid, wherever the figure places the panel.
    ax_ : matplotlib Axes
        The top-left panel.
    """

    def __init__(
        self,
        maps: Mapping[str, np.ndarray],
        *,
        images=None,
        sample_labels: Sequence[str] | None = None,
        channels: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
        max_channels: int = 8,
        scale: Literal["layer", "map"] = "layer",
    ):
        if scale not in ("layer", "map"):
            raise ValueError(f"scale must be 'layer' or 'map', got {scale!r}.")
        if not isinstance(max_channels, int) or max_channels < 1:
            raise ValueError(
                f"max_channels must be a positive int, got {max_channels!r}."
            )
        if not isinstance(maps, Mapping) or not maps:
            raise ValueError("maps must be a non-empty dict of layer name to array.")
        n = None
        clean = {}
        for layer, values in maps.items():
            A = np.asarray(values)
            if A.ndim != 4:
                raise ValueError(
                    f"{layer!r} has shape {A.shape}; feature maps need "
                    "(n_samples, channels, height, width)."
                )
            if n is None:
                n = len(A)
            elif len(A) != n:
                raise ValueError("all layers must hold the same samples.")
            clean[layer] = analysis.mask_nonfinite(A, f"feature maps of {layer!r}")
        if n == 0:
            raise ValueError("maps hold no samples.")
        if images is not None:
            images = np.asarray(images, dtype=float)
            if images.ndim not in (3, 4) or len(images) != n:
                raise ValueError(
                    f"images must have shape ({n}, H, W) or ({n}, H, W, 3), "
                    f"got {images.shape}."
                )
        if sample_labels is None:
            sample_labels = [f"sample {i}" for i in range(n)]
        if len(sample_labels) != n:
            raise ValueError(
                f"sample_labels needs {n} labels, got {len(sample_labels)}."
            )
        self.maps_ = clean
        self.images_ = images
        self.sample_labels_ = [str(s) for s in sample_labels]
        if isinstance(channels, Mapping):
            unknown = sorted(set(channels) - set(clean))
            if unknown:
                raise ValueError(f"channels names unknown layers {unknown}.")
        self.channels_ = {
            layer: _channel_choice(channels, layer, A.shape[1], max_channels)
            for layer, A in clean.items()
        }
        # layers whose channels max_channels cut (not an explicit choice): total
        self._capped = {
            layer: A.shape[1]
            for layer, A in clean.items()
            if _given_channels(channels, layer) is None and A.shape[1] > max_channels
        }
        self.limits_ = {}
        self.map_limits_ = {}
        self._cmaps = {}
        for layer, chans in self.channels_.items():
            layer_cmap, vmin, vmax, signed = color_scale(clean[layer][:, chans])
            self.limits_[layer] = (vmin, vmax)
            self._cmaps[layer] = layer_cmap
            if scale == "map":
                self.map_limits_[layer] = layout.map_limits(
                    clean[layer][:, chans], signed
                )
        self.scale_ = scale
        self._signed = any(np.nanmin(A, initial=0.0) < 0 for A in clean.values())

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        layers: str | Sequence[str] | None = None,
        *,
        samples: int | Sequence[int] = 5,
        class_names=None,
        show_input: bool = True,
        image_shape: tuple[int, int] | None = None,
        channels: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
        max_channels: int = 8,
        scale: Literal["layer", "map"] = "layer",
        axes=None,
        cmap: str | None = None,
    ) -> FeatureMapDisplay:
        """Capture the layers for a few samples (one capture pass).

        Parameters
        ----------
        net : fitted Inspectable skorch net
        X : array-like, dict, SliceDict or Dataset
            Input samples, anything the net's ``predict`` accepts. When X
            is an array, tensor or DataFrame the chosen samples are also
            drawn as images.
        y : array-like of shape (n_samples,), optional
            True classes, for the row labels.
        layers : str or list of str
            Layers with 4-D outputs ``(N, C, H, W)``: conv, activation,
            pooling, normalisation... Required.
        samples : int or sequence of int, default=5
            The first ``samples`` rows of X, or these row positions.
        class_names : sequence or dict, optional
            Text for each class label in the row labels:
            ``class_names[label]``.
        show_input : bool, default=True
            Draw the input image in the first column (array-like X only).
        image_shape : (int, int), optional
            Reshape flat inputs to this image size.
        channels, max_channels, scale
            Which channels are drawn, on which colour scale; see the class.
        axes : array of Axes, optional
            ``n_samples x n_columns`` Axes.
        cmap : str, optional
            See :meth:`plot`.
        """
        if layers is None:
            raise TypeError(missing_layers_message("FeatureMapDisplay", y))
        layers = [layers] if isinstance(layers, str) else list(layers)
        n = n_samples(X)
        rows = _sample_indices(samples, n)
        X_sel = take_samples(X, rows)
        maps = net.capture_layers(
            X_sel, layers, activation=None, flatten=False, batch_size=None
        )
        flat = [k for k, v in maps.items() if v.ndim != 4]
        if flat:
            working = _layers_with_maps(net, take_samples(X, rows[:1]))
            shapes = ", ".join(f"{k!r} -> {maps[k].shape[1:]}" for k in flat)
            raise ValueError(
                f"FeatureMapDisplay needs layers with (N, C, H, W) outputs; {shapes}. "
                f"Layers with feature maps: {working or 'none in this net'}."
            )
        # Only array-like inputs are images; a dict of token ids or a
        # Dataset has nothing to draw beside the maps.
        drawable = isinstance(X_sel, np.ndarray) or any(
            hasattr(X_sel, a) for a in ("detach", "iloc")
        )
        images = _as_images(X_sel, image_shape) if show_input and drawable else None
        labels = [f"#{r}" for r in rows]
        if y is not None:
            y = np.asarray(y)
            if len(y) != n:
                raise ValueError(f"y has {len(y)} labels for {n} samples.")
            labels = [
                f"#{r}: {class_label(v, class_names)}"
                for r, v in zip(rows, y[rows].tolist(), strict=True)
            ]
        return cls.from_activations(
            maps,
            images=images,
            sample_labels=labels,
            channels=channels,
            max_channels=max_channels,
            scale=scale,
            axes=axes,
            cmap=cmap,
        )

    @classmethod
    def from_activations(
        cls, maps, *, axes=None, cmap: str | None = None, **kwargs
    ) -> FeatureMapDisplay:
        """Plot precomputed maps (``{layer: (n, C, H, W)}``).

        ``kwargs`` are the class parameters (``images``, ``sample_labels``,
        ``channels``, ``max_channels``, ``scale``); ``axes`` and ``cmap``
        are those of :meth:`plot`.
        """
        return cls(maps, **kwargs).plot(axes=axes, cmap=cmap)

    def plot(self, *, axes=None, cmap: str | None = None) -> FeatureMapDisplay:
        """Draw the grid.

        On a figure of its own, at most 8 maps stand side by side: layers
        that do not fit on the row of the layers before them start a new
        band of rows (one row per sample, the input image again on the
        left), so the figure grows downwards instead of sideways. Each
        layer gets a colour bar under its maps.

        Parameters
        ----------
        axes : array of Axes, optional
            ``n_samples x n_columns`` Axes (columns: the input if any, then
            the chosen channels of each layer), drawn as one band.
        cmap : str, optional
            Override the colour map of the feature maps.

        Returns
        -------
        self
        """
        import matplotlib as mpl

        chosen = self.channels_
        has_input = self.images_ is not None
        n_rows = len(self.sample_labels_)
        first = int(has_input)
        n_cols = first + sum(len(c) for c in chosen.values())
        title = self._title_lines(cmap)
        fig, grid, inputs = self._axes(axes, n_rows, n_cols, title)
        for column in inputs:
            self._draw_inputs(column)
        if has_input:
            grid[0, 0].set_title("input", fontsize="small")
        col = first
        for layer, chans in chosen.items():
            A = self.maps_[layer][:, chans]
            colormap = mpl.colormaps[cmap or self._cmaps[layer]].with_extremes(
                bad="0.6"
            )
            # A name wider than a panel would run into its neighbours' titles:
            # then it is written once, above the titles of the layer's maps,
            # when it fits their width (the colour bar names the layer too).
            named = layout.fits_panel(grid[0, col], layer, "small")
            if not named and layout.fits_panel(
                grid[0, col], layer, "small", panels=len(chans)
            ):
                layout.name_above_title(grid[0, col], layer, "small")
            for j, c in enumerate(chans):
                for i in range(n_rows):
                    lo, hi = (
                        self.map_limits_[layer][i, j]
                        if self.scale_ == "map"
                        else self.limits_[layer]
                    )
                    grid[i, col + j].imshow(
                        np.ma.masked_invalid(A[i, j]),
                        cmap=colormap,
                        vmin=lo,
                        vmax=hi,
                        interpolation="nearest",
                    )
                grid[0, col + j].set_title(
                    f"{layer}\nch {c}" if named else f"ch {c}", fontsize="small"
                )
            layout.colorbar(
                fig,
                grid[:, col : col + len(chans)],
                layer,
                colormap,
                self.limits_[layer] if self.scale_ == "layer" else None,
                self.map_limits_.get(layer),
            )
            col += len(chans)
        for ax in fig.axes if axes is None else grid.flat:
            if ax.images:
                ax.set_xticks([])
                ax.set_yticks([])
                # Hidden axes (the frame stays) are skipped by the layout:
                # a figure of 100+ panels lays out several times faster.
                ax.xaxis.set_visible(False)
                if not ax.get_ylabel():
                    ax.yaxis.set_visible(False)
        if axes is None:
            fig.suptitle("\n".join(title))
        self.figure_, self.axes_, self.ax_ = fig, grid, grid[0, 0]
        return self

    def _title_lines(self, cmap) -> list[str]:
        """What the figure shows and on which colour scales."""
        lines = [f"Feature maps of {', '.join(self.channels_)}"]
        if self.scale_ == "layer":
            how = "one colour scale per layer"
        else:
            how = (
                "each map on its own colour scale (bars: share of the map's "
                "largest |value|)"
            )
        if cmap is None and self._signed:
            how += "; 0 = white in layers with negative values"
        lines.append(how)
        if self._capped:
            groups: dict = {}
            for layer, total in self._capped.items():
                groups.setdefault((len(self.channels_[layer]), total), []).append(layer)
            lines.append(
                "showing "
                + "; ".join(
                    f"the first {k} of {n} channels of {', '.join(layers)}"
                    for (k, n), layers in groups.items()
                )
                + " (max_channels)"
            )
        return lines

    def _axes(self, axes, n_rows: int, n_cols: int, title: list[str]):
        """``(figure, logical grid, input columns to draw)``.

        The logical grid is ``(n_samples, n_columns)`` whatever the layout:
        on a figure of ours its panels lie in bands of rows (see
        :meth:`plot`); each band repeats the input images.
        """
        has_input = self.images_ is not None
        if axes is not None:
            fig, grid = get_figure_axes(axes, n_rows, n_cols, what="FeatureMapDisplay")
            return fig, grid, [grid[:, 0]] if has_input else []
        first = int(has_input)
        bands = layout.bands(self.channels_, layout.MAPS_PER_ROW)
        width = first + max(len(b) for b in bands)
        height = 0.25 + 0.2 * len(title) + len(bands) * (n_rows * layout.PANEL + 0.75)
        fig, cells = get_figure_axes(
            None,
            n_rows * len(bands),
            width,
            figsize=(
                max(0.8 + layout.PANEL * width, 0.6 + 0.09 * max(map(len, title))),
                height,
            ),
            what="FeatureMapDisplay",
        )
        start = {}  # (layer, position) -> logical column
        col = first
        for layer, chans in self.channels_.items():
            for j in range(len(chans)):
                start[(layer, j)] = col + j
            col += len(chans)
        grid = np.empty((n_rows, n_cols), dtype=object)
        inputs = []
        for b, band in enumerate(bands):
            rows = cells[b * n_rows : (b + 1) * n_rows]
            if has_input:
                inputs.append(rows[:, 0])
                if b == 0:
                    grid[:, 0] = rows[:, 0]
            for k, key in enumerate(band):
                grid[:, start[key]] = rows[:, first + k]
            for ax in rows[:, first + len(band) :].ravel():
                ax.set_axis_off()
        return fig, grid, inputs

    def _draw_inputs(self, column) -> None:
        for i, ax in enumerate(column):
            img = self.images_[i]
            if img.ndim == 3:
                lo, hi = np.nanmin(img), np.nanmax(img)
                if lo < 0 or hi > 1:
                    img = (img - lo) / ((hi - lo) or 1.0)
                ax.imshow(img, interpolation="nearest")
            else:
                ax.imshow(img, cmap="gray_r", interpolation="nearest")
            ax.set_ylabel(self.sample_labels_[i], fontsize="small")
