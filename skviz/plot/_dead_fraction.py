"""Dead and dormant fraction of each layer's units over training."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._monitored import FromMonitorMixin, monitored_layers
from ._recorded import STEP_LABEL
from .base import get_figure_ax

__all__ = ["DeadFractionDisplay"]


class DeadFractionDisplay(FromMonitorMixin):
    """Fraction of dead and of dormant units per layer, over checkpoints.

    One colour per layer: dead units (active on no sample) solid, dormant
    units (dormancy score <= ``tau``, Sokar et al. 2023) dashed.

    Parameters
    ----------
    values : DataFrame
        :meth:`ActivationRecording.layer_fractions`: ``step``, ``layer``,
        ``dead_fraction``, ``dormant_fraction``.
    tau : float
    source : str

    Attributes
    ----------
    lines_ : dict of (str, str) to Line2D
        ``(layer, "dead" or "dormant")`` -> line.
    figure_, ax_
    """

    def __init__(self, *, values: pd.DataFrame, tau: float, source: str = "train"):
        self.values = values
        self.tau = tau
        self.source = source

    @classmethod
    def from_monitor(
        cls,
        monitor,
        layers: str | Sequence[str] | None = None,
        *,
        source: str | None = None,
        ax=None,
    ) -> DeadFractionDisplay:
        """Compute the fractions from a monitor's recording and draw them.

        Parameters
        ----------
        monitor : ActivationMonitor, ActivationRecording or fitted net
        layers : str, list of str or None
        source : {"train", "eval"} or None
            None: the monitoring set when there is one.
        ax : matplotlib Axes, optional
        """
        recording, layers, source = monitored_layers(monitor, layers, source)
        values = recording.layer_fractions(source, layers)
        return cls(values=values, tau=recording.tau, source=source).plot(ax=ax)

    def plot(self, *, ax=None) -> DeadFractionDisplay:
        """Draw two lines per layer.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        self
        """
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        fig, ax = get_figure_ax(ax, figsize=(7, 4))
        layers = list(dict.fromkeys(self.values["layer"]))
        colors = plt.get_cmap("tab10")
        self.lines_ = {}
        single = self.values["step"].nunique() == 1
        for k, layer in enumerate(layers):
            part = self.values[self.values["layer"] == layer]
            steps = part["step"].to_numpy()
            color = colors(k % 10)
            for kind, style in (("dead", "-"), ("dormant", "--")):
                (line,) = ax.plot(
                    steps,
                    part[f"{kind}_fraction"].to_numpy(dtype=float),
                    linestyle=style,
                    color=color,
                    marker="o" if single else None,
                    label=f"{layer} {kind}",
                )
                self.lines_[(layer, kind)] = line
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(
            STEP_LABEL if self.source == "train" else STEP_LABEL + ", at epoch ends"
        )
        ax.set_ylabel("fraction of the layer's units")
        ax.set_title(
            f"dead (never active) and dormant (score <= {self.tau:g}) units per layer",
            fontsize="medium",
        )
        handles = [Line2D([], [], color=colors(k % 10)) for k in range(len(layers))]
        handles += [
            Line2D([], [], color="0.3", linestyle="-"),
            Line2D([], [], color="0.3", linestyle="--"),
        ]
        ax.legend(
            handles,
            [*layers, "dead", "dormant"],
            fontsize="small",
            loc="best",
            ncol=1 if len(layers) <= 6 else 2,
        )
        self.figure_, self.ax_ = fig, ax
        return self
