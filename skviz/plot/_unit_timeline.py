"""Each unit's fate over training: a units x checkpoints heatmap of activity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._monitored import FromMonitorMixin, monitored_layers
from ._recorded import STEP_LABEL
from .base import get_figure_ax

__all__ = ["UnitTimelineDisplay"]

DEAD_COLOR = "tab:red"


def _edges(steps: np.ndarray) -> np.ndarray:
    """Cell edges around each checkpoint's step (half-way between neighbours)."""
    steps = np.asarray(steps, dtype=float)
    if len(steps) == 1:
        return np.array([steps[0] - 0.5, steps[0] + 0.5])
    mid = (steps[1:] + steps[:-1]) / 2
    return np.concatenate(
        [[steps[0] - (mid[0] - steps[0])], mid, [steps[-1] + (steps[-1] - mid[-1])]]
    )


class UnitTimelineDisplay(FromMonitorMixin):
    """Fraction of samples on which each unit is active, over training.

    One row per unit (or per group of units), one column per checkpoint;
    layers are stacked top to bottom in forward order. Units that died are
    drawn in red from the checkpoint from which they stay dead to the end,
    and sorted by that moment (earliest death on top); the units that stay
    alive follow, least active first. A layer with more than ``max_units``
    units is shown in ``max_units`` rows, each the mean of consecutive
    units in that order (red where every unit of the row is dead).

    Parameters
    ----------
    active : dict of str to ndarray of shape (n_rows, n_checkpoints)
        Per layer, the shown rows' active fraction.
    dead : dict of str to bool ndarray of the same shape
        Cells dead for good.
    steps : ndarray of shape (n_checkpoints,)
    n_units : dict of str to int
    order : dict of str to ndarray
        Per layer, the unit indices in display order.
    group_size : dict of str to int
        Units per row (1 when each unit has its own row).
    source : str

    Attributes
    ----------
    image_ : QuadMesh
    dead_image_ : QuadMesh
    colorbar_ : Colorbar
    figure_, ax_
    """

    def __init__(
        self,
        *,
        active: dict[str, np.ndarray],
        dead: dict[str, np.ndarray],
        steps: np.ndarray,
        n_units: dict[str, int],
        order: dict[str, np.ndarray],
        group_size: dict[str, int],
        source: str = "train",
    ):
        self.active = active
        self.dead = dead
        self.steps = steps
        self.n_units = n_units
        self.order = order
        self.group_size = group_size
        self.source = source

    @classmethod
    def from_monitor(
        cls,
        monitor,
        layers: str | Sequence[str] | None = None,
        *,
        source: str | None = None,
        max_units: int = 64,
        ax=None,
    ) -> UnitTimelineDisplay:
        """Compute the timeline from a monitor's recording and draw it.

        Parameters
        ----------
        monitor : ActivationMonitor, ActivationRecording or fitted net
        layers : str, list of str or None
            Monitored layers to show; None: all.
        source : {"train", "eval"} or None
            None: the monitoring set when there is one.
        max_units : int, default=64
            Rows per layer at most; larger layers are aggregated.
        ax : matplotlib Axes, optional
        """
        if isinstance(max_units, bool) or not isinstance(max_units, int | np.integer):
            raise TypeError(f"max_units must be an int, got {max_units!r}.")
        if max_units < 1:
            raise ValueError(f"max_units must be >= 1, got {max_units}.")
        recording, layers, source = monitored_layers(monitor, layers, source)
        fate = recording.unit_fate(source, layers)
        active, dead, order, groups, n_units = {}, {}, {}, {}, {}
        n_checkpoints = recording.n_checkpoints(source)
        for layer in layers:
            values = np.asarray(recording.values("active", layer, source), float).T
            info = fate[fate["layer"] == layer]
            since = info["dead_since_checkpoint"].to_numpy()
            died = since >= 0
            # earliest death first; the living after, least active first
            key = np.where(died, since, n_checkpoints + 1)
            unit_order = np.lexsort((info["final_active"].to_numpy(), key))
            cells = died[:, None] & (
                np.arange(n_checkpoints)[None, :] >= since[:, None]
            )
            values, cells = values[unit_order], cells[unit_order]
            n = len(unit_order)
            size = int(np.ceil(n / max_units))
            if size > 1:
                parts = np.array_split(np.arange(n), int(np.ceil(n / size)))
                values = np.stack([values[p].mean(axis=0) for p in parts])
                cells = np.stack([cells[p].all(axis=0) for p in parts])
            active[layer], dead[layer] = values, cells
            order[layer], groups[layer], n_units[layer] = unit_order, size, n
        return cls(
            active=active,
            dead=dead,
            steps=np.asarray(recording.steps(source)),
            n_units=n_units,
            order=order,
            group_size=groups,
            source=source,
        ).plot(ax=ax)

    def plot(self, *, ax=None, cmap: str = "viridis") -> UnitTimelineDisplay:
        """Draw the heatmap.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None (its height follows the
            number of rows).
        cmap : str, default="viridis"
            Colour map of the active fraction, on the fixed scale 0..1.

        Returns
        -------
        self
        """
        from matplotlib.colors import ListedColormap

        layers = list(self.active)
        rows = [len(self.active[layer]) for layer in layers]
        total = sum(rows)
        height = min(10.0, 1.6 + 0.13 * total + 0.25 * len(layers))
        fig, ax = get_figure_ax(ax, figsize=(8, max(3.0, height)))
        values = np.concatenate([self.active[layer] for layer in layers])
        dead = np.concatenate([self.dead[layer] for layer in layers])
        x = _edges(self.steps)
        y = np.arange(total + 1)
        self.image_ = ax.pcolormesh(
            x, y, values, cmap=cmap, vmin=0.0, vmax=1.0, shading="flat"
        )
        self.dead_image_ = ax.pcolormesh(
            x,
            y,
            np.ma.masked_where(~dead, np.ones_like(values)),
            cmap=ListedColormap([DEAD_COLOR]),
            vmin=0,
            vmax=1,
            shading="flat",
        )
        self.colorbar_ = fig.colorbar(self.image_, ax=ax, pad=0.01)
        self.colorbar_.set_label("fraction of samples active")
        bounds = np.cumsum([0, *rows])
        for b in bounds[1:-1]:
            ax.axhline(b, color="white", linewidth=2.5)
        centres = (bounds[:-1] + bounds[1:]) / 2
        labels = []
        for layer in layers:
            n, size = self.n_units[layer], self.group_size[layer]
            what = f"{n} units" if size == 1 else f"{n} units,\n{size} per row"
            labels.append(f"{layer}\n({what})")
        ax.set_yticks(centres, labels)
        ax.tick_params(axis="y", length=0)
        single = all(self.group_size[layer] == 1 for layer in layers)
        if single and total <= 60:
            # unit numbers next to the rows, layer names further out
            units = np.concatenate([self.order[layer] for layer in layers])
            ax.set_yticks(np.arange(total) + 0.5, [str(u) for u in units], minor=True)
            ax.tick_params(axis="y", which="minor", labelsize=6, length=2)
            widest = max(len(str(u)) for u in units)
            ax.tick_params(axis="y", which="major", pad=6 + 4.5 * widest)
        ax.set_ylim(total, 0)
        ax.set_xlabel(
            STEP_LABEL if self.source == "train" else STEP_LABEL + ", at epoch ends"
        )
        where = "training batches" if self.source == "train" else "monitoring set"
        ax.set_title(
            f"unit activity over training ({where})\nred: dead for good (never "
            "active again); units sorted by time of death",
            fontsize="medium",
        )
        self.figure_, self.ax_ = fig, ax
        return self
