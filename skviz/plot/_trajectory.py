"""Per-batch line plots of chosen weights (or their per-step changes)."""

from __future__ import annotations

import numpy as np

from ..record import Recording, WeightRecorder, as_recording
from ._recorded import STEP_LABEL, FromRecorderMixin, check_kind
from .base import get_figure_ax

__all__ = ["WeightTrajectoryDisplay"]


def _mark_epochs(ax, steps, epochs) -> None:
    """Faint vertical lines where a new epoch starts (after the first)."""
    if epochs is None or len(epochs) < 2:
        return
    e, s = np.asarray(epochs), np.asarray(steps)
    for i in np.flatnonzero((np.diff(e) > 0) & (e[:-1] > 0)) + 1:
        ax.axvline(s[i] - 0.5, color="0.85", linewidth=0.8, zorder=0)


class WeightTrajectoryDisplay(FromRecorderMixin):
    """Chosen elements of one parameter over training, one line each.

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
    indices_ : ndarray of int
        Flat positions of the drawn elements (set by :meth:`from_recorder`).
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
        recorder: Recording | WeightRecorder,
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
        recorder : Recording or WeightRecorder
            What was recorded, or the recorder that recorded it.
        param : str
            A recorded parameter, e.g. ``"l3.weight"``.
        indices : int, tuple, list of them, or None
            Elements to draw (flat ints or index tuples, as in
            :meth:`Recording.to_frame <skviz.record.Recording.to_frame>`).
            None draws the ``n`` elements that moved most (largest
            ``|last - first|``).
        n : int, default=5
        kind : {"weight", "update", "gradient"}, default="weight"
            ``"update"`` draws the change from one recorded step to the next.
        ax : matplotlib Axes, optional
        **line_kw
            Passed to ``ax.plot``.
        """
        recording = as_recording(recorder)
        check_kind(kind)
        if indices is None:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"n must be an int >= 1, got {n!r}.")
            traj = recording.trajectory(param)
            moved = np.abs(
                np.asarray(traj[-1], np.float64) - np.asarray(traj[0], np.float64)
            ).ravel()
            moved = np.where(np.isfinite(moved), moved, -np.inf)
            indices = [
                int(i) for i in np.argsort(-moved, kind="stable")[: min(n, moved.size)]
            ]
        flat, labels = recording.element_indices(param, indices)
        data = recording.values(param, kind)
        values = np.asarray(data).reshape(data.shape[0], -1)[:, flat]
        index = recording.step_index(kind)
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

    def plot(self, *, ax=None, **line_kw) -> WeightTrajectoryDisplay:
        """Draw the lines.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **line_kw
            Passed to ``ax.plot``.

        Returns
        -------
        self
        """
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
        ax.set_xlabel(STEP_LABEL)
        ax.set_ylabel(what[0])
        ax.set_title(f"{self.param}: {what[1]}")
        if self.kind != "weight":
            ax.axhline(0, color="0.6", linewidth=0.8, zorder=0)
        if len(self.labels) <= 12:
            ax.legend(fontsize="small", loc="best")
        self.figure_, self.ax_ = fig, ax
        return self
