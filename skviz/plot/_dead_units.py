"""Active fraction of every unit of several layers, dead units marked."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, reports
from .base import get_figure_axes, tick_step

__all__ = ["DeadUnitsDisplay"]

ActivationSpec = str | Callable | None
_REPORT_COLUMNS = ("layer", "unit", "active_fraction", "dead", "saturated")


class DeadUnitsDisplay:
    """Fraction of samples on which each unit is active, per layer.

    One panel per layer: a bar per unit (its active fraction), dead units
    (never active) marked with a red cross, saturated units in orange.
    Active means value > ``tol``. Each layer is judged by the rule of the
    function that made it (see :func:`skviz.analysis.dead_rule`): ReLU
    units are dead when never active; for activations with a negative side
    (LeakyReLU, ELU, GELU, ...) the same test means never positive, which
    the panel says; Tanh/Sigmoid layers are judged by saturation; linear,
    normalised and recurrent outputs get no marks. Many layers wrap into
    columns of shorter panels. :meth:`from_estimator` leaves the output
    layer out unless ``include_output=True``, and the figure's title says
    so.

    Parameters
    ----------
    report : pandas.DataFrame
        As returned by :func:`skviz.analysis.unit_report` (columns
        ``layer``, ``unit``, ``active_fraction``, ``dead``, ``saturated``).
    n_samples : int, optional
        How many samples the report was computed on (for the title).
        Default: ``report.attrs["n_samples"]`` if there.
    tol : float, optional
        The activity threshold used (for the title). Default:
        ``report.attrs["tol"]`` if there.
    channel_layers : sequence of str, optional
        Layers whose units are channels (conv), for the axis labels.
        Default: ``report.attrs["channel_layers"]`` if there, else none.

    ``report.attrs["left_out"]`` (output layers left out) and
    ``report.attrs["negative_slope_layers"]`` (layer -> activation type),
    set by :func:`skviz.reports.dead_units_report`, are named in the figure.

    Attributes
    ----------
    report_ : pandas.DataFrame
    layers_ : list of str
    left_out_ : list of str
        Output layers the report left out.
    negative_slope_layers_ : dict of str to str
        Layers with a negative side (judged "never positive"), and their
        activation type.
    rule_texts_ : dict of str to str
        ``report.attrs["rule_texts"]``: how each layer was judged, in words
        (see :func:`skviz.analysis.dead_rule`).
    figure_ : matplotlib Figure
    axes_ : ndarray of Axes, shape (n_layers, 1)
    ax_ : matplotlib Axes
        The first panel.
    """

    def __init__(
        self,
        report: pd.DataFrame,
        *,
        n_samples: int | None = None,
        tol: float | None = None,
        channel_layers: Sequence[str] | None = None,
    ):
        missing = [
            c for c in _REPORT_COLUMNS if c not in getattr(report, "columns", ())
        ]
        if missing:
            raise ValueError(
                f"report lacks the columns {missing}; build it with "
                "skviz.analysis.unit_report or net.dead_units_report."
            )
        if len(report) == 0:
            raise ValueError("report is empty.")
        self.report_ = report
        self.layers_ = list(pd.unique(report["layer"]))
        # What analysis.unit_report records about its numbers, unless given.
        known = getattr(report, "attrs", {})
        self.n_samples = known.get("n_samples") if n_samples is None else n_samples
        self.tol = known.get("tol") if tol is None else tol
        if channel_layers is None:
            channel_layers = known.get("channel_layers", ())
        self.channel_layers = list(channel_layers)
        self.left_out_ = list(known.get("left_out", ()))
        self.negative_slope_layers_ = dict(known.get("negative_slope_layers", {}))
        self.rule_texts_ = dict(known.get("rule_texts", {}))

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        layers: Sequence[str] | None = None,
        *,
        activation: ActivationSpec | Mapping[str, ActivationSpec] = None,
        tol: float = 0.0,
        saturation_bounds: Mapping[str, Any] | None = None,
        saturation_margin: float = 0.05,
        saturation_threshold: float = 0.95,
        per_channel: bool = True,
        batch_size: int | None = None,
        include_output: bool = False,
        axes=None,
    ) -> DeadUnitsDisplay:
        """Compute the report with one capture pass, then plot.

        Parameters
        ----------
        net : fitted Inspectable skorch net
        X : array-like
            Samples, in any form ``net.predict`` accepts.
        y : array-like of shape (n_samples,), optional
            Adds ``n_classes_active`` to the report.
        layers : list of str, optional
            Default: the outputs of the net's activation modules, every run
            of a reused one as ``relu@k`` (see
            :func:`skviz.reports.default_report_layers`), without the output
            layer (see ``include_output``).
        activation : str, callable or dict of layer to those, optional
            Applied to a layer's output first, for activations applied
            functionally (``F.relu(self.dense0(x))``); a dict gives one per
            layer. ``"tanh"``/``"sigmoid"`` also turn on the saturation check.
        tol : float, default=0.0
            Active means value > ``tol``, in every layer: for LeakyReLU,
            ELU, GELU and other activations with a negative side, a dead
            unit is one that is never positive (it still passes a signal).
        saturation_bounds : dict of layer to {"tanh", "sigmoid", (low, high)}, optional
            Overrides the asymptotes found from module types/activations.
        saturation_margin, saturation_threshold : float
            See :func:`skviz.analysis.unit_report`.
        per_channel : bool, default=True
            Conv layers: one unit per channel (active on a sample when any
            position is); False makes every element a unit.
        batch_size : int, optional
        include_output : bool, default=False
            Also report the output layer (the last layer with parameters,
            and the leaves after it) when ``layers`` is not given. Its
            units are logits or scores, so "never > 0" says nothing there.
        axes : Axes or array of Axes, optional
            One per layer.
        """
        report = reports.dead_units_report(
            net,
            X,
            y,
            layers,
            activation=activation,
            tol=tol,
            saturation_bounds=saturation_bounds,
            saturation_margin=saturation_margin,
            saturation_threshold=saturation_threshold,
            per_channel=per_channel,
            batch_size=batch_size,
            include_output=include_output,
        )
        return cls(report).plot(axes=axes)

    @classmethod
    def from_activations(
        cls,
        activations: Mapping[str, np.ndarray],
        y=None,
        *,
        tol: float = 0.0,
        saturation_bounds: Mapping[str, Any] | None = None,
        saturation_margin: float = 0.05,
        saturation_threshold: float = 0.95,
        per_channel: bool = True,
        axes=None,
    ) -> DeadUnitsDisplay:
        """Report and plot from precomputed activations (``{layer: array}``)."""
        report = analysis.unit_report(
            activations,
            y=y,
            tol=tol,
            saturation_bounds=saturation_bounds,
            saturation_margin=saturation_margin,
            saturation_threshold=saturation_threshold,
            per_channel=per_channel,
        )
        return cls(report).plot(axes=axes)

    def plot(self, *, axes=None) -> DeadUnitsDisplay:
        """Draw one bar panel per layer.

        Parameters
        ----------
        axes : Axes or array of Axes, optional
            ``len(layers_)`` Axes; a new figure when None.

        Returns
        -------
        self
        """
        n = len(self.layers_)
        if axes is None:
            # Many layers (every ReLU run of a ResNet) wrap into columns of
            # shorter panels, so the figure stays under ~2,000 px.
            ncols = 1 if n <= 12 else 2 if n <= 40 else 3
            nrows = -(-n // ncols)
            panel = min(2.0, max(0.8, 14.0 / nrows))
            fig, full = get_figure_axes(
                None,
                nrows,
                ncols,
                figsize=(8.0 + 5.0 * (ncols - 1), 1.2 + panel * nrows),
                what="DeadUnitsDisplay",
            )
            for ax in full.ravel()[n:]:
                ax.set_visible(False)
            grid = full.ravel()[:n].reshape(n, 1)
            self._compact = panel < 1.5
        else:
            fig, grid = get_figure_axes(axes, n, 1, what="DeadUnitsDisplay")
            self._compact = False
        for layer, ax in zip(self.layers_, grid[:, 0], strict=True):
            self._plot_layer(ax, self.report_[self.report_["layer"] == layer])
        handles: dict = {}
        for ax in grid[:, 0]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        if len(handles) < 2:
            handles = {}  # bars alone need no legend
        if axes is None:
            if handles:
                fig.legend(
                    list(handles.values()),
                    list(handles),
                    loc="outside lower center",
                    ncols=len(handles),
                    fontsize="small",
                    frameon=False,
                )
            tol = 0.0 if self.tol is None else self.tol
            sub = f"active: value > {tol:g}"
            if self.n_samples is not None:
                sub = f"{self.n_samples} samples, {sub}"
            title = f"Active fraction per unit ({sub})"
            if self.left_out_:
                which = ", ".join(repr(layer) for layer in self.left_out_)
                title += (
                    f"\noutput layer {which} left out (logits): "
                    "include_output=True shows it"
                )
            fig.suptitle(title)
        elif handles:
            grid[0, 0].legend(
                list(handles.values()),
                list(handles),
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize="small",
            )
        self.figure_, self.axes_, self.ax_ = fig, grid, grid[0, 0]
        return self

    def _plot_layer(self, ax, rows: pd.DataFrame) -> None:
        units = rows["unit"].to_numpy()
        frac = rows["active_fraction"].to_numpy(dtype=float)
        dead = rows["dead"].to_numpy(dtype=bool)
        sat = rows["saturated"].to_numpy(dtype=bool)
        if len(units) <= 128:
            colors = np.where(sat, "tab:orange", "tab:blue")
            ax.bar(units, frac, width=0.8, color=colors, label="active fraction")
        else:
            # Hundreds of bar patches take seconds to draw; one filled step
            # outline per colour shows the same heights.
            edges = np.append(units, units[-1] + 1) - 0.5
            ax.stairs(
                np.where(sat, 0.0, frac),
                edges,
                fill=True,
                color="tab:blue",
                label="active fraction",
            )
            if sat.any():
                ax.stairs(
                    np.where(sat, frac, 0.0), edges, fill=True, color="tab:orange"
                )
        if sat.any():
            # Proxy so the legend shows the orange meaning once.
            ax.bar([], [], color="tab:orange", label="saturated")
        if dead.any():
            # Markers sit on the axis line, half outside the axes, so they
            # are drawn unclipped (only when there are any: an empty
            # unclipped line breaks constrained layout).
            ax.plot(
                units[dead],
                np.zeros(dead.sum()),
                "x",
                color="tab:red",
                markersize=7,
                markeredgewidth=2,
                clip_on=False,
                label="dead (never active)",
                zorder=3,
            )
        layer = rows["layer"].iloc[0]
        kind = "channel" if layer in self.channel_layers else "unit"
        rule = rows["rule"].iloc[0] if "rule" in rows else "relu"
        if rule in ("relu", "negative_slope"):
            title = f"{layer}: {int(dead.sum())} of {len(units)} {kind}s dead"
        elif rule == "saturation":
            title = f"{layer}: {len(units)} {kind}s, judged by saturation"
        else:
            title = f"{layer}: {len(units)} {kind}s, {self.rule_texts_.get(layer, 'no dead rule')}"
        if rule == "relu" and "assumed" in self.rule_texts_.get(layer, ""):
            title += " (ReLU assumed after it)"
        if layer in self.negative_slope_layers_:
            title += (
                f" · {self.negative_slope_layers_[layer]}: dead = never > "
                f"{self.tol or 0:g}; its negative side still passes a signal"
            )
        bounded = (
            "saturated_fraction" in rows and rows["saturated_fraction"].notna().any()
        )
        if bounded or sat.any():
            title += f", {int(sat.sum())} saturated"
        small = getattr(self, "_compact", False)
        ax.set_title(title, loc="left", fontsize="small" if small else "medium")
        ax.set_ylim(0, 1.05)
        ax.set_xlim(units.min() - 0.6, units.max() + 0.6)
        ax.set_ylabel("active" if small else "active fraction")
        ax.set_xlabel(f"{kind} index", fontsize="small" if small else None)
        if small:
            ax.set_yticks([0, 1])
            ax.tick_params(labelsize="small")
        step = tick_step(len(units), 25)
        ax.set_xticks(units[::step])
        ax.grid(axis="y", alpha=0.3)
