"""Ridge plot of each layer's weight distribution at a few moments of training."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..record import (
    Recording,
    WeightRecorder,
    as_recording,
    select_params,
)
from ._recorded import FromRecorderMixin
from .base import get_figure_axes

__all__ = ["WeightDistributionDisplay"]


def _weights_or_all(names: list[str]) -> list[str]:
    weights = [n for n in names if n.endswith("weight")]
    return weights or list(names)


def _check_count(key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{key} must be an int >= 1, got {value!r}.")


class WeightDistributionDisplay(FromRecorderMixin):
    """Ridge plot: each layer's weight distribution at a few moments.

    One panel per parameter; in each, one ridge per chosen snapshot (first
    at the top), all on the parameter's shared bins. Heights are densities
    scaled so that the tallest ridge of the panel spans ``1 + overlap``
    rows.

    Parameters
    ----------
    steps : ndarray of shape (n_snapshots,)
    epochs : ndarray of shape (n_snapshots,)
    bin_edges : dict of str to ndarray
    densities : dict of str to ndarray of shape (n_snapshots, n_bins)
    overlap : float

    Attributes
    ----------
    ridges_ : dict of str to list of PolyCollection
    axes_ : ndarray of Axes
    figure_
    """

    def __init__(self, *, steps, epochs, bin_edges, densities, overlap=0.8):
        self.steps = steps
        self.epochs = epochs
        self.bin_edges = bin_edges
        self.densities = densities
        self.overlap = overlap

    @classmethod
    def from_recorder(
        cls,
        recorder: Recording | WeightRecorder,
        params: str | Sequence[str] | None = None,
        *,
        n_snapshots: int = 8,
        bins: int | str = "auto",
        overlap: float = 0.8,
        axes=None,
        ncols: int | None = None,
    ) -> WeightDistributionDisplay:
        """Histogram each chosen parameter at ``n_snapshots`` evenly spaced steps.

        Parameters
        ----------
        recorder : Recording or WeightRecorder
            What was recorded, or the recorder that recorded it.
        params : str, list of str or None
            Names, glob patterns or module names; None: every recorded
            ``*.weight`` (all recorded parameters if there is none).
        n_snapshots : int, default=8
            Snapshots drawn, evenly spaced from the first to the last
            (fewer when fewer were recorded).
        bins : int or "auto", default="auto"
            Bins per parameter, spread over its finite min..max over the
            chosen snapshots. ``"auto"``: numpy's ``"auto"`` rule on the
            last snapshot's values, kept between 8 and 80 bins (a 10 x 10
            layer gets few bins, a large one many).
        overlap : float, default=0.8
        axes : array of Axes, optional
            One per parameter.
        ncols : int, optional
            Panels per row of a new figure (default: up to 4).
        """
        recording = as_recording(recorder)
        _check_count("n_snapshots", n_snapshots)
        if not (isinstance(bins, str) and bins == "auto"):
            _check_count("bins", bins)
        if not overlap >= 0:
            raise ValueError(f"overlap must be >= 0, got {overlap!r}.")
        names = select_params(recording.param_names, params, default=_weights_or_all)
        n = recording.n_steps
        rows = np.unique(
            np.round(np.linspace(0, n - 1, min(n_snapshots, n))).astype(int)
        )
        edges, dens = {}, {}
        for name in names:
            traj = recording.trajectory(name)
            picked = np.asarray(traj[rows], dtype=np.float64).reshape(len(rows), -1)
            edges[name], dens[name] = _ridges(name, picked, bins)
        disp = cls(
            steps=recording.steps[rows],
            epochs=recording.epochs[rows],
            bin_edges=edges,
            densities=dens,
            overlap=overlap,
        )
        return disp.plot(axes=axes, ncols=ncols)

    def plot(
        self, *, axes=None, ncols: int | None = None, cmap="viridis"
    ) -> WeightDistributionDisplay:
        """Draw the ridges.

        Parameters
        ----------
        axes : array of Axes, optional
            One per parameter; a new figure when None.
        ncols : int, optional
            Panels per row of a new figure (default: up to 4).
        cmap : str, default="viridis"
            Colours of the ridges, first to last snapshot.

        Returns
        -------
        self
        """
        import matplotlib as mpl

        names = list(self.densities)
        k = len(names)
        ncols = min(k, 4) if ncols is None else int(ncols)
        if ncols < 1:
            raise ValueError(f"ncols must be >= 1, got {ncols}.")
        nrows = -(-k // ncols)
        if axes is None:
            fig, grid = get_figure_axes(
                None, nrows, ncols, figsize=(3.2 * ncols, 3.6 * nrows)
            )
            for extra in grid.flat[k:]:
                extra.set_visible(False)
        else:
            fig, grid = get_figure_axes(axes, 1, k, what="WeightDistributionDisplay")
        panels = list(grid.flat[:k])
        n_rows = len(self.steps)
        colors = mpl.colormaps[cmap](np.linspace(0.15, 0.9, max(n_rows, 1)))
        self.ridges_ = {}
        for ax, name in zip(panels, names, strict=True):
            e = self.bin_edges[name]
            d = self.densities[name]
            top = d.max()
            scale = (1 + self.overlap) / top if top > 0 else 0.0
            centers = (e[:-1] + e[1:]) / 2
            polys = []
            for r in range(n_rows):
                base = n_rows - 1 - r  # first snapshot on top
                y = base + d[r] * scale
                # later ridges are drawn over earlier ones, lower ones in front
                poly = ax.fill_between(
                    centers,
                    base,
                    y,
                    color=colors[r],
                    alpha=0.85,
                    linewidth=0.8,
                    edgecolor="0.2",
                    zorder=r + 1,
                )
                polys.append(poly)
            self.ridges_[name] = polys
            ax.set_yticks(
                np.arange(n_rows)[::-1], [f"step {int(s)}" for s in self.steps]
            )
            ax.set_ylim(-0.2, n_rows - 1 + 1 + self.overlap + 0.1)
            ax.set_xlim(e[0], e[-1])
            ax.set_xlabel("weight")
            ax.set_title(name)
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
            ax.tick_params(axis="y", length=0)
        fig.suptitle("weight distribution over training")
        self.figure_, self.axes_ = fig, grid
        return self


def _ridges(name: str, picked: np.ndarray, bins) -> tuple[np.ndarray, np.ndarray]:
    """Shared bin edges and one density row per snapshot of ``picked``."""
    finite = picked[np.isfinite(picked)]
    if finite.size == 0:
        raise ValueError(f"{name} holds no finite value.")
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    if isinstance(bins, str):
        last = picked[-1][np.isfinite(picked[-1])]
        n_auto = len(np.histogram_bin_edges(last, bins="auto")) - 1
        n_bins = int(np.clip(n_auto, 8, 80))
    else:
        n_bins = int(bins)
    edges = np.linspace(lo, hi, n_bins + 1)
    dens = np.empty((len(picked), n_bins))
    for r, row in enumerate(picked):
        values = row[np.isfinite(row)]
        dens[r] = (
            np.histogram(values, bins=edges, density=True)[0] if values.size else 0.0
        )
    return edges, dens
