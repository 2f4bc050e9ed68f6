"""Training dynamics from a :class:`~skviz.record.WeightRecorder`.

* :class:`WeightTrajectoryDisplay` -- chosen weights (or their per-step
  changes) over the training steps;
* :class:`UpdateHistogramDisplay` -- histogram of all per-step changes, on
  explicit bins;
* :class:`RelativeUpdateDisplay` -- ``std(update) / std(weight)`` per
  parameter over steps, on a log scale with a reference line;
* :class:`WeightDistributionDisplay` -- ridge plot of each layer's weight
  distribution at a few moments of training.

Each has ``from_recorder(recorder, ...)`` and ``from_estimator(net, ...)``
(which finds the recorder among the net's callbacks); both compute the data
and call ``plot(ax=...)``. The numbers behind each picture stay on the
display.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import get_figure_ax, get_figure_axes

__all__ = [
    "RelativeUpdateDisplay",
    "UpdateHistogramDisplay",
    "WeightDistributionDisplay",
    "WeightTrajectoryDisplay",
]

_STEP_LABEL = "step (training batches)"


def _check_recorder(recorder):
    from ..record import WeightRecorder

    if not isinstance(recorder, WeightRecorder):
        raise TypeError(
            f"recorder must be a skviz.record.WeightRecorder, got {type(recorder).__name__}."
        )
    recorder._check_initialized()
    if recorder.n_steps_ == 0:
        raise ValueError("The recorder holds no snapshot yet; fit the net first.")
    return recorder


def _select_params(recorder, params, default) -> list[str]:
    """Recorded names matching ``params`` (names, globs, module names)."""
    from ..record import _as_patterns, _matches

    patterns = _as_patterns(params)
    names = recorder.param_names_
    if patterns is None:
        return default(names)
    unmatched = [p for p in patterns if not any(_matches(n, p) for n in names)]
    if unmatched:
        raise ValueError(
            f"No recorded parameter matches {unmatched}; recorded: {names}."
        )
    return [n for n in names if any(_matches(n, p) for p in patterns)]


def _mark_epochs(ax, steps, epochs) -> None:
    """Faint vertical lines where a new epoch starts (after the first)."""
    if epochs is None or len(epochs) < 2:
        return
    e, s = np.asarray(epochs), np.asarray(steps)
    for i in np.flatnonzero((np.diff(e) > 0) & (e[:-1] > 0)) + 1:
        ax.axvline(s[i] - 0.5, color="0.85", linewidth=0.8, zorder=0)


class WeightTrajectoryDisplay:
    """Chosen elements of one parameter over training (seed 003's line plots).

    Parameters
    ----------
    steps : ndarray of shape (n_points,)
    values : ndarray of shape (n_points, n_elements)
    labels : list of str
        Element labels such as ``"[0, 3]"``.
    param : str
    kind : {"weight", "update", "gradient"}
    epochs : ndarray of shape (n_points,), optional
        Draws a faint line where each epoch starts.

    Attributes
    ----------
    lines_ : list of Line2D
    figure_, ax_ : matplotlib Figure and Axes
    """

    def __init__(self, *, steps, values, labels, param, kind="weight", epochs=None):
        self.steps = steps
        self.values = values
        self.labels = labels
        self.param = param
        self.kind = kind
        self.epochs = epochs

    @classmethod
    def from_recorder(
        cls,
        recorder,
        param: str,
        *,
        indices=None,
        n: int = 5,
        kind: str = "weight",
        ax=None,
        **line_kw,
    ) -> WeightTrajectoryDisplay:
        """Plot elements of ``param`` over the recorded steps.

        Parameters
        ----------
        recorder : WeightRecorder
        param : str
            A recorded parameter, e.g. ``"l3.weight"``.
        indices : int, tuple, list of them, or None
            Elements to draw (flat ints or index tuples, as in
            :meth:`WeightRecorder.to_frame`). None draws the ``n`` elements
            that moved most (largest ``|last - first|``).
        n : int, default=5
        kind : {"weight", "update", "gradient"}, default="weight"
            ``"update"`` draws the change from one recorded step to the next
            (seed 003's "weight_change").
        ax : matplotlib Axes, optional
        **line_kw
            Passed to ``ax.plot``.
        """
        recorder = _check_recorder(recorder)
        if kind not in ("weight", "update", "gradient"):
            raise ValueError(
                f"kind must be 'weight', 'update' or 'gradient', got {kind!r}."
            )
        if indices is None:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"n must be an int >= 1, got {n!r}.")
            traj = recorder.trajectory(param)
            moved = np.abs(
                np.asarray(traj[-1], np.float64) - np.asarray(traj[0], np.float64)
            ).ravel()
            moved = np.where(np.isfinite(moved), moved, -np.inf)
            indices = [
                int(i) for i in np.argsort(-moved, kind="stable")[: min(n, moved.size)]
            ]
        flat, labels = recorder._flat_indices(param, indices)
        data = recorder.values(param, kind)
        values = np.asarray(data).reshape(data.shape[0], -1)[:, flat]
        index = recorder.step_index(kind)
        disp = cls(
            steps=index["step"].to_numpy(),
            values=values,
            labels=labels,
            param=param,
            kind=kind,
            epochs=index["epoch"].to_numpy(),
        )
        disp.indices_ = flat
        return disp.plot(ax=ax, **line_kw)

    @classmethod
    def from_estimator(cls, net, param: str, *, recorder_name=None, **kwargs):
        """As :meth:`from_recorder`, with the recorder of a fitted net."""
        from ..record import find_recorder

        return cls.from_recorder(find_recorder(net, recorder_name), param, **kwargs)

    def plot(self, ax=None, **line_kw) -> WeightTrajectoryDisplay:
        """Draw the lines; returns self."""
        fig, ax = get_figure_ax(ax, figsize=(7, 4))
        values = np.asarray(self.values)
        # one point per step is a line; a single step needs a marker
        style = {"marker": "o"} if len(self.steps) == 1 else {}
        self.lines_ = []
        for j, label in enumerate(self.labels):
            (line,) = ax.plot(
                self.steps,
                values[:, j],
                label=f"{self.param}{label}",
                **{**style, **line_kw},
            )
            self.lines_.append(line)
        _mark_epochs(ax, np.asarray(self.steps), self.epochs)
        what = {
            "weight": ("weight", "weights over training"),
            "update": ("change since the previous step", "change per step"),
            "gradient": ("gradient", "gradients over training"),
        }[self.kind]
        ax.set_xlabel(_STEP_LABEL)
        ax.set_ylabel(what[0])
        ax.set_title(f"{self.param}: {what[1]}")
        if self.kind != "weight":
            ax.axhline(0, color="0.6", linewidth=0.8, zorder=0)
        if len(self.labels) <= 12:
            ax.legend(fontsize="small", loc="best")
        self.figure_, self.ax_ = fig, ax
        return self


class UpdateHistogramDisplay:
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
        recorder,
        params=None,
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
        recorder : WeightRecorder
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
        recorder = _check_recorder(recorder)
        if kind not in ("weight", "update", "gradient"):
            raise ValueError(
                f"kind must be 'weight', 'update' or 'gradient', got {kind!r}."
            )
        names = _select_params(recorder, params, list)
        if kind == "update" and recorder.n_steps_ < 2:
            raise ValueError("Updates need at least two recorded snapshots.")
        edges = _bin_edges(recorder, names, kind, bins, range)
        counts = np.zeros((len(names), len(edges) - 1), np.int64)
        outside = np.zeros(len(names), np.int64)
        for i, name in enumerate(names):
            for block in recorder.iter_values(name, kind):
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

    @classmethod
    def from_estimator(cls, net, params=None, *, recorder_name=None, **kwargs):
        """As :meth:`from_recorder`, with the recorder of a fitted net."""
        from ..record import find_recorder

        return cls.from_recorder(find_recorder(net, recorder_name), params, **kwargs)

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

    def plot(self, ax=None, *, log: bool = False) -> UpdateHistogramDisplay:
        """Draw one step outline per parameter (filled when alone); returns self."""
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


def _bin_edges(recorder, names, kind, bins, range_) -> np.ndarray:
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}.")
        if range_ is None:
            lo, hi = np.inf, -np.inf
            for name in names:
                for block in recorder.iter_values(name, kind):
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


class RelativeUpdateDisplay:
    """``std(update) / std(weight)`` per parameter over steps, log scale.

    Unlike skorch's ``SkorchDoctor.plot_param_updates`` (which plots
    ``std(gradient) / std(weight)``, blind to the learning rate and the
    optimizer), the ratio here is of the change the optimizer really made.

    Parameters
    ----------
    values : DataFrame
        Index: step; one column per parameter.
    reference : float or None
        Drawn as a dashed line (the common rule of thumb is about 1e-3).

    Attributes
    ----------
    lines_ : list of Line2D
    figure_, ax_
    """

    def __init__(self, *, values: pd.DataFrame, reference: float | None = 1e-3):
        self.values = values
        self.reference = reference

    @classmethod
    def from_recorder(
        cls, recorder, params=None, *, reference: float | None = 1e-3, ax=None
    ) -> RelativeUpdateDisplay:
        """Plot the relative update size of the chosen parameters.

        Parameters
        ----------
        recorder : WeightRecorder
            Values tracked during training (``relative_updates=True``) are
            used when present, else they are computed from the snapshots.
        params : str, list of str or None
            Names, glob patterns or module names; None: all available.
        reference : float or None, default=1e-3
        ax : matplotlib Axes, optional
        """
        recorder = _check_recorder(recorder)
        if recorder.n_steps_ < 2:
            raise ValueError("Relative updates need at least two recorded snapshots.")
        table = recorder.relative_update_sizes()
        if params is not None:
            from ..record import _as_patterns, _matches

            patterns = _as_patterns(params)
            keep = [c for c in table.columns if any(_matches(c, p) for p in patterns)]
            if not keep:
                raise ValueError(
                    f"No parameter matches {patterns}; available: {list(table.columns)}."
                )
            table = table[keep]
        if reference is not None and not (np.isfinite(reference) and reference > 0):
            raise ValueError(
                f"reference must be a positive number or None, got {reference!r}."
            )
        return cls(values=table, reference=reference).plot(ax=ax)

    @classmethod
    def from_estimator(cls, net, params=None, *, recorder_name=None, **kwargs):
        """As :meth:`from_recorder`, with the recorder of a fitted net."""
        from ..record import find_recorder

        return cls.from_recorder(find_recorder(net, recorder_name), params, **kwargs)

    def plot(self, ax=None, **line_kw) -> RelativeUpdateDisplay:
        """Draw one line per parameter; returns self."""
        fig, ax = get_figure_ax(ax, figsize=(7, 4))
        steps = self.values.index.to_numpy()
        style = {"marker": "o"} if len(steps) == 1 else {}
        self.lines_ = []
        for name in self.values.columns:
            y = self.values[name].to_numpy(dtype=float)
            # zero ratios (a frozen step) have no place on a log axis
            y = np.where(y > 0, y, np.nan)
            (line,) = ax.plot(steps, y, label=name, **{**style, **line_kw})
            self.lines_.append(line)
        ax.set_yscale("log")
        if self.reference is not None:
            ax.axhline(
                self.reference,
                color="0.3",
                linestyle="--",
                linewidth=1,
                label=f"{self.reference:g} (rule of thumb)",
            )
        ax.set_xlabel(_STEP_LABEL)
        ax.set_ylabel("std(update) / std(weight)")
        ax.set_title("relative update size per parameter")
        ncol = 1 if len(self.lines_) <= 8 else 2
        ax.legend(fontsize="small", loc="best", ncol=ncol)
        self.figure_, self.ax_ = fig, ax
        return self


class WeightDistributionDisplay:
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
        recorder,
        params=None,
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
        recorder : WeightRecorder
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
        recorder = _check_recorder(recorder)
        for key, value in (("n_snapshots", n_snapshots), ("bins", bins)):
            if key == "bins" and isinstance(value, str) and value == "auto":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < 1
            ):
                raise ValueError(f"{key} must be an int >= 1, got {value!r}.")
        if not overlap >= 0:
            raise ValueError(f"overlap must be >= 0, got {overlap!r}.")

        def default(names):
            weights = [n for n in names if n.endswith("weight")]
            return weights or list(names)

        names = _select_params(recorder, params, default)
        n = recorder.n_steps_
        rows = np.unique(
            np.round(np.linspace(0, n - 1, min(n_snapshots, n))).astype(int)
        )
        edges, dens = {}, {}
        for name in names:
            traj = recorder.trajectory(name)
            picked = np.asarray(traj[rows], dtype=np.float64).reshape(len(rows), -1)
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
            e = np.linspace(lo, hi, n_bins + 1)
            d = np.empty((len(rows), n_bins))
            for r in range(len(rows)):
                values = picked[r][np.isfinite(picked[r])]
                d[r] = (
                    np.histogram(values, bins=e, density=True)[0]
                    if values.size
                    else 0.0
                )
            edges[name], dens[name] = e, d
        disp = cls(
            steps=recorder.steps_[rows],
            epochs=recorder.epochs_[rows],
            bin_edges=edges,
            densities=dens,
            overlap=overlap,
        )
        return disp.plot(axes=axes, ncols=ncols)

    @classmethod
    def from_estimator(cls, net, params=None, *, recorder_name=None, **kwargs):
        """As :meth:`from_recorder`, with the recorder of a fitted net."""
        from ..record import find_recorder

        return cls.from_recorder(find_recorder(net, recorder_name), params, **kwargs)

    def plot(
        self, axes=None, *, ncols: int | None = None, cmap="viridis"
    ) -> WeightDistributionDisplay:
        """Draw the ridges; returns self."""
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
