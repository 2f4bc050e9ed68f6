"""Distribution of each layer's values over training, as quantile bands."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._monitored import FromMonitorMixin, monitored_layers
from ._recorded import STEP_LABEL
from .base import get_figure_axes

__all__ = ["ActivationQuantilesDisplay"]


class ActivationQuantilesDisplay(FromMonitorMixin):
    """Quantile bands of each layer's activations over checkpoints.

    One panel per layer (shared step axis): the band between each pair of
    symmetric quantiles (0.05-0.95, 0.25-0.75 by default), darker inside,
    and the median as a line. The quantiles are of all the layer's values:
    for the training source, on the last batch of each checkpoint's window;
    for the monitoring set, on its last batch.

    Parameters
    ----------
    values : DataFrame
        :meth:`ActivationRecording.quantile_frame`: ``step``, ``layer`` and
        one column per quantile.
    quantiles : tuple of float
    source : str

    Attributes
    ----------
    bands_ : dict of str to list of PolyCollection
    median_lines_ : dict of str to Line2D
    axes_ : ndarray of Axes
    figure_, ax_
        ``ax_`` is the first panel.
    """

    def __init__(
        self, *, values: pd.DataFrame, quantiles: tuple, source: str = "train"
    ):
        self.values = values
        self.quantiles = tuple(quantiles)
        self.source = source

    @classmethod
    def from_monitor(
        cls,
        monitor,
        layers: str | Sequence[str] | None = None,
        *,
        source: str | None = None,
        axes=None,
    ) -> ActivationQuantilesDisplay:
        """Read the quantiles from a monitor's recording and draw them.

        Parameters
        ----------
        monitor : ActivationMonitor, ActivationRecording or fitted net
        layers : str, list of str or None
        source : {"train", "eval"} or None
        axes : array of matplotlib Axes, optional
            One per layer.
        """
        recording, layers, source = monitored_layers(monitor, layers, source)
        values = recording.quantile_frame(source, layers)
        return cls(values=values, quantiles=recording.quantiles, source=source).plot(
            axes=axes
        )

    def plot(self, *, axes=None, color: str = "tab:blue") -> ActivationQuantilesDisplay:
        """Draw one panel per layer.

        Parameters
        ----------
        axes : array of matplotlib Axes, optional
            One per layer; a new figure when None.
        color : str, default="tab:blue"

        Returns
        -------
        self
        """
        layers = list(dict.fromkeys(self.values["layer"]))
        fig, grid = get_figure_axes(
            axes,
            len(layers),
            1,
            figsize=(7, 1.2 + 1.8 * len(layers)),
            what="ActivationQuantilesDisplay",
        )
        flat = list(grid[:, 0])
        if axes is None:
            for a in flat[1:]:
                a.sharex(flat[0])
        qs = sorted(self.quantiles)
        pairs = [(qs[i], qs[-1 - i]) for i in range(len(qs) // 2)]
        self.bands_, self.median_lines_ = {}, {}
        for ax, layer in zip(flat, layers, strict=True):
            part = self.values[self.values["layer"] == layer]
            steps = part["step"].to_numpy()
            self.bands_[layer] = []
            for k, (lo, hi) in enumerate(pairs):
                alpha = 0.2 + 0.5 * (k + 1) / max(len(pairs), 1)
                band = ax.fill_between(
                    steps,
                    part[lo].to_numpy(dtype=float),
                    part[hi].to_numpy(dtype=float),
                    color=color,
                    alpha=alpha,
                    linewidth=0,
                    label=f"{lo:g}-{hi:g}",
                )
                self.bands_[layer].append(band)
            middle = [q for q in qs if q not in {p for pair in pairs for p in pair}]
            if middle:
                (line,) = ax.plot(
                    steps,
                    part[middle[0]].to_numpy(dtype=float),
                    color="black",
                    linewidth=1.2,
                    marker="o" if len(steps) == 1 else None,
                    label=f"{'median' if middle[0] == 0.5 else middle[0]}",
                )
                self.median_lines_[layer] = line
            ax.axhline(0, color="0.5", linewidth=0.8, linestyle=":")
            ax.set_ylabel("value")
            ax.set_title(layer, fontsize="medium", loc="left")
        # above the first panel, right of its title: never over the bands
        flat[0].legend(
            fontsize="small",
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=len(pairs) + 1,
            frameon=False,
            borderaxespad=0.2,
        )
        flat[-1].set_xlabel(
            STEP_LABEL if self.source == "train" else STEP_LABEL + ", at epoch ends"
        )
        if axes is None:
            fig.suptitle("distribution of each layer's values", fontsize="medium")
        self.axes_ = grid[:, 0]
        self.figure_, self.ax_ = fig, flat[0]
        return self
