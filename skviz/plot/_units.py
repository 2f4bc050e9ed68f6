"""Dead and saturated units of several layers: report and picture."""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis
from .base import get_figure_axes, inspected_module, tick_step

__all__ = ["DeadUnitsDisplay", "unit_report_from_estimator"]

ActivationSpec = str | Callable | None

_REPORT_COLUMNS = ("layer", "unit", "active_fraction", "dead", "saturated")


def _pass_through_types():
    from torch import nn

    # Their output repeats their input (in eval mode), so listing them
    # would only repeat the previous layer's rows.
    return (
        nn.Dropout,
        nn.Dropout1d,
        nn.Dropout2d,
        nn.Dropout3d,
        nn.AlphaDropout,
        nn.FeatureAlphaDropout,
        nn.Flatten,
        nn.Unflatten,
        nn.Identity,
    )


def _module_bounds(module) -> tuple[float, float] | None:
    """Asymptotes of a bounded activation module, None for the others."""
    from torch import nn

    if isinstance(module, nn.Tanh | nn.Softsign):
        return (-1.0, 1.0)
    if isinstance(module, nn.Sigmoid | nn.Hardsigmoid):
        return (0.0, 1.0)
    if isinstance(module, nn.Hardtanh):  # also ReLU6
        return (float(module.min_val), float(module.max_val))
    return None


_SINGLE_TENSOR = re.compile(r"^\([^()]*\)$")


def default_report_layers(net, X) -> list[str]:
    """Leaf layers that run once and return one tensor, pass-through excluded.

    Found with :meth:`layer_summary` (a forward pass of one sample).
    """
    module = inspected_module(net)
    modules = dict(module.named_modules())
    summary = net.layer_summary(X)
    skip = _pass_through_types()
    layers = [
        row.name
        for row in summary.itertuples()
        if row.calls == 1
        and _SINGLE_TENSOR.match(str(row.output_shape))
        and not list(modules[row.name].children())
        and not isinstance(modules[row.name], skip)
    ]
    if not layers:
        raise ValueError(
            "No layer of this net runs once and returns a single tensor; pass "
            "layers=[...] explicitly (see net.layer_summary(X))."
        )
    return layers


def _activation_for(activation: Any, layer: str) -> ActivationSpec:
    if isinstance(activation, Mapping):
        return activation.get(layer)
    return activation


def _apply_activation(values: np.ndarray, spec: ActivationSpec) -> np.ndarray:
    """The same element-wise functions as ``transform_layer(activation=...)``."""
    if spec is None:
        return values
    import torch

    from ..capture import resolve_activation

    if not isinstance(spec, str) and not callable(spec):
        raise TypeError(f"activation must be a str or a callable, got {spec!r}.")
    fn = resolve_activation(spec)
    with torch.no_grad():
        return fn(torch.from_numpy(values)).numpy()


def unit_report_from_estimator(
    net,
    X,
    y=None,
    *,
    layers: Sequence[str] | None = None,
    activation: ActivationSpec | Mapping[str, ActivationSpec] = None,
    tol: float = 0.0,
    saturation_bounds: Mapping[str, Any] | None = None,
    saturation_margin: float = 0.05,
    saturation_threshold: float = 0.95,
    per_channel: bool = True,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Dead/saturated unit report of a fitted net from ONE forward pass.

    Parameters are those of :meth:`DeadUnitsDisplay.from_estimator`.
    Saturation is checked for layers that are ``nn.Tanh``, ``nn.Sigmoid``,
    ``nn.Softsign``, ``nn.Hardsigmoid`` or ``nn.Hardtanh`` (``ReLU6``)
    modules, for layers given ``activation="tanh"`` or ``"sigmoid"``, and
    for those named in ``saturation_bounds`` (which wins).
    """
    module = inspected_module(net)
    # Cheap argument checks first: the forward pass may be long.
    if not 0 < saturation_threshold <= 1:
        raise ValueError(
            f"saturation_threshold must be in (0, 1], got {saturation_threshold}."
        )
    if not saturation_margin >= 0:
        raise ValueError(f"saturation_margin must be >= 0, got {saturation_margin}.")
    if not isinstance(tol, numbers.Real) or isinstance(tol, bool):
        raise TypeError(f"tol must be a number, got {tol!r}.")
    if layers is None:
        layers = default_report_layers(net, X)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if isinstance(activation, Mapping):
        unknown = sorted(set(activation) - set(layers))
        if unknown:
            raise ValueError(f"activation names layers not in layers: {unknown}.")
    unknown = sorted(set(saturation_bounds or {}) - set(layers))
    if unknown:
        raise ValueError(f"saturation_bounds names layers not in layers: {unknown}.")
    modules = dict(module.named_modules())
    bounds: dict[str, Any] = {}
    for layer in layers:
        spec = _activation_for(activation, layer)
        if isinstance(spec, str) and spec in analysis.SATURATION_BOUNDS:
            bounds[layer] = spec
        elif spec is None:
            base = re.split(r"[@\[]", layer, maxsplit=1)[0]
            found = _module_bounds(modules.get(base))
            if found is not None:
                bounds[layer] = found
    bounds.update(saturation_bounds or {})
    y = None if y is None else np.asarray(y)
    values = net.transform_layers(X, layers, batch_size=batch_size)
    values = {
        layer: _apply_activation(A, _activation_for(activation, layer))
        for layer, A in values.items()
    }
    return _unit_report(
        values,
        y,
        tol=tol,
        saturation_bounds=bounds,
        saturation_margin=saturation_margin,
        saturation_threshold=saturation_threshold,
        per_channel=per_channel,
    )


def _unit_report(
    values: Mapping[str, np.ndarray], y, *, tol: float, per_channel: bool, **kwargs
) -> pd.DataFrame:
    """:func:`skviz.analysis.unit_report`, with what the picture needs in ``attrs``.

    ``attrs``: ``n_samples``, ``tol`` and ``channel_layers`` (the layers
    whose units are conv channels).
    """
    report = analysis.unit_report(
        values, y=y, tol=tol, per_channel=per_channel, **kwargs
    )
    report.attrs.update(
        n_samples=len(next(iter(values.values()))),
        tol=tol,
        channel_layers=[k for k, v in values.items() if np.ndim(v) > 2 and per_channel],
    )
    return report


class DeadUnitsDisplay:
    """Fraction of samples on which each unit is active, per layer.

    One panel per layer: a bar per unit (its active fraction), dead units
    (never active) marked with a red cross, saturated units in orange.

    Parameters
    ----------
    report : pandas.DataFrame
        As returned by :func:`skviz.analysis.unit_report` (columns
        ``layer``, ``unit``, ``active_fraction``, ``dead``, ``saturated``).
    n_samples : int, optional
        How many samples the report was computed on (for the title).
    tol : float, optional
        The activity threshold used (for the title).
    channel_layers : sequence of str, default=()
        Layers whose units are channels (conv), for the axis labels.

    Attributes
    ----------
    report_ : pandas.DataFrame
    layers_ : list of str
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
        channel_layers: Sequence[str] = (),
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
        self.n_samples = n_samples
        self.tol = tol
        self.channel_layers = list(channel_layers)

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        *,
        layers: Sequence[str] | None = None,
        activation: ActivationSpec | Mapping[str, ActivationSpec] = None,
        tol: float = 0.0,
        saturation_bounds: Mapping[str, Any] | None = None,
        saturation_margin: float = 0.05,
        saturation_threshold: float = 0.95,
        per_channel: bool = True,
        batch_size: int | None = None,
        axes=None,
    ) -> DeadUnitsDisplay:
        """Compute the report with one ``transform_layers`` pass, then plot.

        Parameters
        ----------
        net : fitted Inspectable skorch net
        X : array-like
            Samples, in any form ``transform_layers`` accepts.
        y : array-like of shape (n_samples,), optional
            Adds ``n_classes_active`` to the report.
        layers : list of str, optional
            Default: every leaf layer that runs once and returns one tensor,
            without pass-through modules (Dropout, Flatten, Identity).
        activation : str, callable or dict of layer to those, optional
            Applied to a layer's output first, for activations applied
            functionally (``F.relu(self.dense0(x))``); a dict gives one per
            layer. ``"tanh"``/``"sigmoid"`` also turn on the saturation check.
        tol : float, default=0.0
            Active means value > ``tol``.
        saturation_bounds : dict of layer to {"tanh", "sigmoid", (low, high)}, optional
            Overrides the asymptotes found from module types/activations.
        saturation_margin, saturation_threshold : float
            See :func:`skviz.analysis.unit_report`.
        per_channel : bool, default=True
            Conv layers: one unit per channel (active on a sample when any
            position is); False makes every element a unit.
        batch_size : int, optional
        axes : Axes or array of Axes, optional
            One per layer.
        """
        report = unit_report_from_estimator(
            net,
            X,
            y,
            layers=layers,
            activation=activation,
            tol=tol,
            saturation_bounds=saturation_bounds,
            saturation_margin=saturation_margin,
            saturation_threshold=saturation_threshold,
            per_channel=per_channel,
            batch_size=batch_size,
        )
        return cls._from_report(report, axes)

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
        report = _unit_report(
            activations,
            y,
            tol=tol,
            saturation_bounds=saturation_bounds,
            saturation_margin=saturation_margin,
            saturation_threshold=saturation_threshold,
            per_channel=per_channel,
        )
        return cls._from_report(report, axes)

    @classmethod
    def _from_report(cls, report: pd.DataFrame, axes) -> DeadUnitsDisplay:
        """Plot a report of :func:`_unit_report` (its ``attrs`` name the context)."""
        return cls(
            report,
            n_samples=report.attrs["n_samples"],
            tol=report.attrs["tol"],
            channel_layers=report.attrs["channel_layers"],
        ).plot(axes=axes)

    def plot(self, axes=None) -> DeadUnitsDisplay:
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
        fig, grid = get_figure_axes(
            axes, n, 1, figsize=(8.0, 1.0 + 2.0 * n), what="DeadUnitsDisplay"
        )
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
            fig.suptitle(f"Active fraction per unit ({sub})")
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
        colors = np.where(sat, "tab:orange", "tab:blue")
        ax.bar(units, frac, width=0.8, color=colors, label="active fraction")
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
        title = f"{layer}: {int(dead.sum())} of {len(units)} {kind}s dead"
        bounded = (
            "saturated_fraction" in rows and rows["saturated_fraction"].notna().any()
        )
        if bounded or sat.any():
            title += f", {int(sat.sum())} saturated"
        ax.set_title(title, loc="left", fontsize="medium")
        ax.set_ylim(0, 1.05)
        ax.set_xlim(units.min() - 0.6, units.max() + 0.6)
        ax.set_ylabel("active fraction")
        ax.set_xlabel(f"{kind} index")
        step = tick_step(len(units), 25)
        ax.set_xticks(units[::step])
        ax.grid(axis="y", alpha=0.3)
