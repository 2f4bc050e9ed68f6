"""Histogram of all per-step weight changes (or values), on explicit bins."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..record import (
    Recording,
    WeightRecorder,
    as_recording,
    select_params,
)
from ._recorded import FromRecorderMixin, check_kind
from .base import get_figure_ax

__all__ = ["UpdateHistogramDisplay"]


class UpdateHistogramDisplay(FromRecorderMixin):
    """Histogram of per-step changes (or values) on explicit bins.

    Parameters
    ----------
    bin_edges : ndarray of shape (n_bins + 1,)
    counts : ndarray of shape (n_params, n_bins)
    params : list of str
    outside : ndarray of shape (n_params,)
        Values that fell outside the bins (or were not finite).
    kind : {"update", "weight", "gradient"}
    density : bool

    Attributes
    ----------
    artists_ : list of the step patches
    figure_, ax_
    """

    def __init__(
        self, *, bin_edges, counts, params, outside, kind="update", density=False
    ):
        self.bin_edges = bin_edges
        self.counts = counts
        self.params = params
        self.outside = outside
        self.kind = kind
        self.density = density

    @classmethod
    def from_recorder(
        cls,
        recorder: Recording | WeightRecorder,
        params: str | Sequence[str] | None = None,
        *,
        bins=100,
        range: tuple[float, float] | None = None,
        kind: str = "update",
        density: bool = False,
        log: bool = False,
        ax=None,
    ) -> UpdateHistogramDisplay:
        """Count all per-step changes of the chosen parameters.

        Parameters
        ----------
        recorder : Recording or WeightRecorder
            What was recorded, or the recorder that recorded it.
        params : str, list of str or None
            Names, glob patterns or module names; None takes every
            recorded parameter.
        bins : int or array of edges, default=100
            An int spreads that many equal bins over ``range`` (or over the
            finite min..max of all chosen values); an array is used as the
            edges, unchanged. The same edges serve every parameter.
        range : (float, float), optional
        kind : {"update", "weight", "gradient"}, default="update"
        density : bool, default=False
            Normalise each parameter's histogram to unit area.
        log : bool, default=False
            Log-scaled count axis.
        ax : matplotlib Axes, optional
        """
        recording = as_recording(recorder)
        check_kind(kind)
        names = select_params(recording.param_names, params)
        if kind == "update" and recording.n_steps < 2:
            raise ValueError("Updates need at least two recorded snapshots.")
        edges = _bin_edges(recording, names, kind, bins, range)
        counts = np.zeros((len(names), len(edges) - 1), np.int64)
        outside = np.zeros(len(names), np.int64)
        for i, name in enumerate(names):
            for block in recording.iter_values(name, kind):
                flat = block.ravel()
                finite = flat[np.isfinite(flat)]
                c, _ = np.histogram(finite, bins=edges)
                counts[i] += c
                outside[i] += flat.size - int(c.sum())
        disp = cls(
            bin_edges=edges,
            counts=counts,
            params=names,
            outside=outside,
            kind=kind,
            density=density,
        )
        return disp.plot(ax=ax, log=log)

    @property
    def heights_(self) -> np.ndarray:
        """What is drawn: counts, or densities when ``density=True``."""
        counts = np.asarray(self.counts, float)
        if not self.density:
            return counts
        widths = np.diff(self.bin_edges)
        total = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, counts / (total * widths), 0.0)

    def plot(self, *, ax=None, log: bool = False) -> UpdateHistogramDisplay:
        """Draw one step outline per parameter (filled when alone).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        log : bool, default=False
            Log-scaled count axis.

        Returns
        -------
        self
        """
        fig, ax = get_figure_ax(ax, figsize=(7, 4))
        heights = self.heights_
        self.artists_ = []
        single = len(self.params) == 1
        for i, name in enumerate(self.params):
            label = name
            if self.outside[i]:
                label += f" ({int(self.outside[i]):,} outside the bins)"
            art = ax.stairs(
                heights[i],
                self.bin_edges,
                fill=single,
                alpha=0.8 if single else 1.0,
                label=label,
            )
            self.artists_.append(art)
        if log:
            ax.set_yscale("log")
        xlabel, title = {
            "update": ("change per step", "per-step changes"),
            "weight": ("weight", "weights"),
            "gradient": ("gradient", "gradients"),
        }[self.kind]
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density" if self.density else "count")
        n_bins = len(self.bin_edges) - 1
        ax.set_title(f"distribution of {title} ({n_bins} bins)")
        if self.kind != "weight":
            ax.axvline(0, color="0.6", linewidth=0.8, zorder=0)
        ax.legend(fontsize="small", loc="best")
        self.figure_, self.ax_ = fig, ax
        return self


def _bin_edges(recording, names, kind, bins, range_) -> np.ndarray:
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}.")
        if range_ is None:
            lo, hi = np.inf, -np.inf
            for name in names:
                for block in recording.iter_values(name, kind):
                    finite = block[np.isfinite(block)]
                    if finite.size:
                        lo = min(lo, float(finite.min()))
                        hi = max(hi, float(finite.max()))
            if not np.isfinite(lo):
                raise ValueError("The chosen parameters hold no finite value to bin.")
        else:
            lo, hi = (float(v) for v in range_)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(
                    f"range must be two finite numbers lo < hi, got {range_!r}."
                )
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        return np.linspace(lo, hi, int(bins) + 1)
    if range_ is not None:
        raise ValueError("range only applies when bins is an int.")
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError(
            "bins must be an int or an increasing 1-D array of >= 2 edges."
        )
    if not np.all(np.isfinite(edges)):
        raise ValueError("bin edges must be finite.")
    return edges
