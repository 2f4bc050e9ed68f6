"""Weights of a Linear layer as a heatmap: units x inputs, bias alongside."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import analysis
from .base import annotate_cells, get_figure_ax, layer_module, tick_step

__all__ = ["WeightHeatmapDisplay"]


def _input_names(net, layer: str, n_inputs: int):
    """Feature names of ``X`` when ``layer`` is the first layer that reads it.

    Only the first module with parameters can see the raw features, and only
    if its input width matches; deeper layers read hidden units.
    """
    names = getattr(net, "feature_names_in_", None)
    if names is None or len(names) != n_inputs:
        return None
    module = net.inspected_module()
    first = next(
        (
            n
            for n, m in module.named_modules()
            if n and not list(m.children()) and any(True for _ in m.parameters())
        ),
        None,
    )
    return list(names) if first == layer else None


class WeightHeatmapDisplay:
    """Heatmap of a Linear layer's weights: one row per unit, one column per input.

    The bias is the last column, after a white gap, on the same colour scale
    as the weights. The colour scale is diverging and symmetric around 0.

    Parameters
    ----------
    weight : ndarray of shape (n_units, n_inputs)
    bias : ndarray of shape (n_units,), optional
    feature_names : sequence of str, optional
        Names of the inputs (columns).
    layer : str, optional
        Name for the title.
    max_inputs : int or None, default=40
        With more inputs, only the ``max_inputs`` inputs with the largest
        column L2 norm are drawn, strongest first (stated in the title).
        None draws all.
    max_units : int or None, default=64
        With more units, the ``max_units`` units with the largest row L2
        norm, in index order (stated in the title). None draws all.
    sort_inputs : bool, default=False
        Order the inputs by decreasing L2 norm even when all are drawn.
    vmax : float, optional
        Colour limits ``[-vmax, vmax]``; default the largest absolute
        drawn weight or bias. Larger values saturate (colour bar arrows).

    Attributes
    ----------
    weight_ : ndarray of shape (n_units, n_inputs)
        The full weight matrix (also the columns and rows not shown).
    bias_ : ndarray of shape (n_units,) or None
    feature_names_ : list of str
    shown_units_, shown_inputs_ : ndarray of int
        Rows and columns of ``weight_`` that are drawn, in drawing order.
    image_ : ndarray of shape (n_shown_units, n_shown_inputs [+ 1])
        The drawn values (weights, then bias); NaN where masked.
    vmin_, vmax_ : float
        Colour limits (``vmin_ == -vmax_``).
    selection_ : str
        How inputs/units were chosen, as stated in the title.
    figure_, ax_ : matplotlib Figure and Axes
    colorbar_ : matplotlib Colorbar
    """

    def __init__(
        self,
        weight,
        bias=None,
        *,
        feature_names: Sequence[str] | None = None,
        layer: str | None = None,
        max_inputs: int | None = 40,
        max_units: int | None = 64,
        sort_inputs: bool = False,
        vmax: float | None = None,
    ):
        for name, value in (("max_inputs", max_inputs), ("max_units", max_units)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"{name} must be a positive int or None, got {value!r}."
                )
        W = np.asarray(weight)
        if W.ndim != 2 or 0 in W.shape:
            raise ValueError(
                f"weight must be a non-empty 2-D array (n_units, n_inputs), got {W.shape}."
            )
        W = analysis.mask_nonfinite(W, f"weights of {layer or 'the layer'!r}")
        if bias is not None:
            bias = analysis.mask_nonfinite(bias, f"bias of {layer or 'the layer'!r}")
            if bias.shape != (W.shape[0],):
                raise ValueError(
                    f"bias must have shape ({W.shape[0]},) to match weight {W.shape}, "
                    f"got {bias.shape}."
                )
        if feature_names is None:
            feature_names = [f"in {j}" for j in range(W.shape[1])]
        feature_names = [str(f) for f in feature_names]
        if len(feature_names) != W.shape[1]:
            raise ValueError(
                f"feature_names has {len(feature_names)} names but the layer has "
                f"{W.shape[1]} inputs."
            )
        self.weight_, self.bias_ = W, bias
        self.feature_names_ = feature_names
        self.layer = layer

        units, inputs, notes = self._select(max_inputs, max_units, sort_inputs)
        image = W[np.ix_(units, inputs)]
        if bias is not None:
            image = np.column_stack([image, bias[units]])
        finite = np.abs(image[np.isfinite(image)])
        limit = float(vmax) if vmax is not None else float(finite.max(initial=0.0))
        limit = limit or 1.0
        self.shown_units_, self.shown_inputs_ = units, inputs
        self.image_ = image
        self.vmin_, self.vmax_ = -limit, limit
        self.selection_ = "; ".join(notes) if notes else "all units and inputs"
        self._notes = notes
        self._overflow = bool(finite.size and finite.max() > limit)

    @classmethod
    def from_estimator(
        cls,
        net,
        layer: str,
        *,
        feature_names: Sequence[str] | None = None,
        ax=None,
        **kwargs,
    ) -> WeightHeatmapDisplay:
        """Read the weights of ``nn.Linear`` layer ``layer`` and plot them.

        Parameters
        ----------
        net : fitted skorch net
        layer : str
            Dotted name of an ``nn.Linear`` module.
        feature_names : sequence of str, optional
            Names of the layer's inputs. By default ``net.feature_names_in_``
            (set when the net was fitted on a DataFrame) if ``layer`` is the
            first layer of the net and its width matches; else ``in 0``, ...
        ax : matplotlib Axes, optional
        **kwargs
            Those of :meth:`from_weights`: which weights are drawn and the
            colour limits (``max_inputs``, ``max_units``, ``sort_inputs``,
            ``vmax``), and ``annotate``, ``cmap``.
        """
        from torch import nn

        module = layer_module(
            net, layer, nn.Linear, "nn.Linear", "WeightHeatmapDisplay"
        )
        W = module.weight.detach().cpu().numpy()
        b = None if module.bias is None else module.bias.detach().cpu().numpy()
        if feature_names is None:
            feature_names = _input_names(net, layer, W.shape[1])
        return cls.from_weights(
            W, b, feature_names=feature_names, layer=layer, ax=ax, **kwargs
        )

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
    ) -> WeightHeatmapDisplay:
        """Plot a weight matrix given as an array (``(n_units, n_inputs)``).

        ``kwargs`` are the class parameters (``feature_names``, ``layer``,
        ``max_inputs``, ``max_units``, ``sort_inputs``, ``vmax``); ``ax``,
        ``annotate`` and ``cmap`` are those of :meth:`plot`.
        """
        return cls(weight, bias, **kwargs).plot(ax=ax, annotate=annotate, cmap=cmap)

    def _select(self, max_inputs, max_units, sort_inputs):
        W = self.weight_
        n_units, n_inputs = W.shape
        notes = []
        # Column norms rank inputs by how strongly the layer listens to them.
        col_norm = np.sqrt(np.nansum(W**2, axis=0))
        if max_inputs is not None and n_inputs > max_inputs:
            inputs = np.argsort(-col_norm, kind="stable")[:max_inputs]
            notes.append(f"top {max_inputs} of {n_inputs} inputs by L2 norm")
        elif sort_inputs:
            inputs = np.argsort(-col_norm, kind="stable")
            notes.append("inputs sorted by L2 norm")
        else:
            inputs = np.arange(n_inputs)
        if max_units is not None and n_units > max_units:
            row_norm = np.sqrt(np.nansum(W**2, axis=1))
            units = np.sort(np.argsort(-row_norm, kind="stable")[:max_units])
            notes.append(f"top {max_units} of {n_units} units by L2 norm")
        else:
            units = np.arange(n_units)
        return units, inputs, notes

    def plot(
        self,
        *,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "RdBu_r",
    ) -> WeightHeatmapDisplay:
        """Draw the heatmap.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        annotate : bool, optional
            Write the values in the cells; default when at most 300 cells.
        cmap : str, default="RdBu_r"
            A diverging colour map (white is 0).

        Returns
        -------
        self
        """
        image, units, inputs = self.image_, self.shown_units_, self.shown_inputs_
        has_bias = self.bias_ is not None
        limit = self.vmax_
        n_rows, n_cols = image.shape
        fig, ax = get_figure_ax(
            ax,
            figsize=(
                min(3.0 + 0.42 * n_cols, 16.0),
                min(2.4 + 0.26 * n_rows, 14.0),
            ),
        )
        import matplotlib as mpl

        colormap = mpl.colormaps[cmap].with_extremes(bad="0.8")
        im = ax.imshow(
            np.ma.masked_invalid(image),
            cmap=colormap,
            vmin=-limit,
            vmax=limit,
            aspect="auto",
            interpolation="nearest",
        )
        if has_bias:
            # A white gap separates the bias column from the weights.
            ax.axvline(n_cols - 1.5, color="white", linewidth=4)
        labels = [self.feature_names_[j] for j in inputs] + (
            ["bias"] if has_bias else []
        )
        step = tick_step(n_cols, 60)
        ticks = list(range(0, n_cols - has_bias, step)) + (
            [n_cols - 1] if has_bias else []
        )
        ax.set_xticks(ticks, [labels[t] for t in ticks], rotation=90)
        ystep = tick_step(n_rows, 40)
        ax.set_yticks(range(0, n_rows, ystep), [str(u) for u in units[::ystep]])
        ax.set_xlabel("input" + (" (last column: bias)" if has_bias else ""))
        ax.set_ylabel("unit")
        if annotate is None:
            annotate = n_rows * n_cols <= 300
        if annotate:
            annotate_cells(ax, im, image)
        self.colorbar_ = fig.colorbar(
            im,
            ax=ax,
            extend="both" if self._overflow else "neither",
            label="weight"
            + (" / bias" if has_bias else "")
            + f" (symmetric, ±{limit:.3g})",
        )
        name = f" of {self.layer}" if self.layer else ""
        n_units, n_inputs = self.weight_.shape
        title = f"Weights{name} ({n_units} units × {n_inputs} inputs)"
        if self._notes:
            title += "\n" + "; ".join(self._notes)
        ax.set_title(title)
        self.figure_, self.ax_ = fig, ax
        return self
