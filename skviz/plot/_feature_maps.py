"""Feature maps of conv/activation/pooling layers beside the input images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from .. import analysis
from .base import (
    check_indices,
    class_label,
    color_scale,
    get_figure_axes,
    missing_layers_message,
)

__all__ = ["FeatureMapDisplay"]


def _select_rows(X, rows: np.ndarray):
    """The chosen samples of X, in the same container type."""
    import pandas as pd
    import torch

    if isinstance(X, pd.DataFrame):
        return X.iloc[rows]
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(rows)]
    if isinstance(X, np.ndarray):
        return X[rows]
    raise TypeError(
        "FeatureMapDisplay.from_estimator needs X as an array, tensor or DataFrame "
        f"(to pick samples and draw them), got {type(X).__name__}."
    )


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


def _channel_choice(channels, layer: str, n_channels: int, max_channels: int):
    choice = channels.get(layer) if isinstance(channels, Mapping) else channels
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
    scale : {"layer", "map"}, default="layer"
        ``"layer"``: one colour scale per layer over all drawn samples
        and channels, with a colour bar, so maps compare. ``"map"``:
        each map its own scale (shows structure in weak maps).
        Either way a layer with negative values gets a diverging map
        centred at 0, a non-negative one a sequential map from 0.

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
    scale_ : str
    figure_ : matplotlib Figure
    axes_ : ndarray of Axes, shape (n_samples, n_columns)
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
        self.limits_ = {}
        self._cmaps = {}
        for layer, chans in self.channels_.items():
            layer_cmap, vmin, vmax, _ = color_scale(clean[layer][:, chans])
            self.limits_[layer] = (vmin, vmax)
            self._cmaps[layer] = layer_cmap
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
        X : ndarray, tensor or DataFrame
            Input samples; the chosen ones are also drawn as images.
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
            Draw the input image in the first column.
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
        n = len(X)
        rows = _sample_indices(samples, n)
        X_sel = _select_rows(X, rows)
        maps = net.capture_layers(
            X_sel, layers, activation=None, flatten=False, batch_size=None
        )
        flat = [k for k, v in maps.items() if v.ndim != 4]
        if flat:
            working = _layers_with_maps(net, _select_rows(X, rows[:1]))
            shapes = ", ".join(f"{k!r} -> {maps[k].shape[1:]}" for k in flat)
            raise ValueError(
                f"FeatureMapDisplay needs layers with (N, C, H, W) outputs; {shapes}. "
                f"Layers with feature maps: {working or 'none in this net'}."
            )
        images = _as_images(X_sel, image_shape) if show_input else None
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

        Parameters
        ----------
        axes : array of Axes, optional
            ``n_samples x n_columns`` Axes (columns: the input if any, then
            the chosen channels of each layer).
        cmap : str, optional
            Override the colour map of the feature maps.

        Returns
        -------
        self
        """
        chosen, scale = self.channels_, self.scale_
        has_input = self.images_ is not None
        n_rows = len(self.sample_labels_)
        n_cols = int(has_input) + sum(len(c) for c in chosen.values())
        how = (
            "one colour scale per layer"
            if scale == "layer"
            else "each map on its own colour scale"
        )
        if self._signed:
            how += "; 0 = white where values go negative"
        title = [f"Feature maps of {', '.join(chosen)}", how]
        # Constrained layout cannot wrap a suptitle: make room for it.
        width = max(1.0 + 1.15 * n_cols, 0.6 + 0.09 * max(map(len, title)))
        fig, grid = get_figure_axes(
            axes,
            n_rows,
            n_cols,
            figsize=(width, 1.6 + 1.2 * n_rows),
            what="FeatureMapDisplay",
        )
        import matplotlib as mpl

        if has_input:
            for i in range(n_rows):
                img = self.images_[i]
                if img.ndim == 3:
                    lo, hi = np.nanmin(img), np.nanmax(img)
                    if lo < 0 or hi > 1:
                        img = (img - lo) / ((hi - lo) or 1.0)
                    grid[i, 0].imshow(img, interpolation="nearest")
                else:
                    grid[i, 0].imshow(img, cmap="gray_r", interpolation="nearest")
            grid[0, 0].set_title("input", fontsize="small")
        col = int(has_input)
        for layer, chans in chosen.items():
            A = self.maps_[layer][:, chans]
            vmin, vmax = self.limits_[layer]
            colormap = mpl.colormaps[cmap or self._cmaps[layer]].with_extremes(
                bad="0.6"
            )
            image = None
            for j, c in enumerate(chans):
                for i in range(n_rows):
                    values = A[i, j]
                    if scale == "map":
                        m_cmap, lo, hi, _ = color_scale(values)
                        m_colormap = mpl.colormaps[cmap or m_cmap].with_extremes(
                            bad="0.6"
                        )
                        grid[i, col].imshow(
                            np.ma.masked_invalid(values),
                            cmap=m_colormap,
                            vmin=lo,
                            vmax=hi,
                            interpolation="nearest",
                        )
                    else:
                        image = grid[i, col].imshow(
                            np.ma.masked_invalid(values),
                            cmap=colormap,
                            vmin=vmin,
                            vmax=vmax,
                            interpolation="nearest",
                        )
                grid[0, col].set_title(f"{layer}\nch {c}", fontsize="small")
                col += 1
            if image is not None:
                span = grid[:, col - len(chans) : col].ravel().tolist()
                fig.colorbar(
                    image,
                    ax=span,
                    location="bottom",
                    shrink=0.9 if len(chans) > 1 else 1.0,
                    aspect=12 * max(len(chans), 1),
                    label=layer,
                )
        for ax in grid.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        for i, label in enumerate(self.sample_labels_):
            grid[i, 0].set_ylabel(label, fontsize="small")
        if axes is None:
            fig.suptitle("\n".join(title))
        self.figure_, self.axes_, self.ax_ = fig, grid, grid[0, 0]
        return self
