"""Relative update size ``std(update) / std(weight)`` per parameter over steps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..record import (
    Recording,
    WeightRecorder,
    as_param_patterns,
    as_recording,
    param_matches,
)
from ._recorded import STEP_LABEL, FromRecorderMixin
from .base import get_figure_ax

__all__ = ["RelativeUpdateDisplay"]


class RelativeUpdateDisplay(FromRecorderMixin):
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
        cls,
        recorder: Recording | WeightRecorder,
        params: str | Sequence[str] | None = None,
        *,
        reference: float | None = 1e-3,
        ax=None,
    ) -> RelativeUpdateDisplay:
        """Plot the relative update size of the chosen parameters.

        Parameters
        ----------
        recorder : Recording or WeightRecorder
            Values tracked during training (``relative_updates=True``) are
            used when present, else they are computed from the snapshots.
        params : str, list of str or None
            Names, glob patterns or module names; None: all available. At
            least one available parameter must match.
        reference : float or None, default=1e-3
        ax : matplotlib Axes, optional
        """
        recording = as_recording(recorder)
        if recording.n_steps < 2:
            raise ValueError("Relative updates need at least two recorded snapshots.")
        table = recording.relative_update_sizes()
        if params is not None:
            patterns = as_param_patterns(params)
            keep = [
                c for c in table.columns if any(param_matches(c, p) for p in patterns)
            ]
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

    def plot(self, *, ax=None, **line_kw) -> RelativeUpdateDisplay:
        """Draw one line per parameter.

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
        ax.set_xlabel(STEP_LABEL)
        ax.set_ylabel("std(update) / std(weight)")
        ax.set_title("relative update size per parameter")
        ncol = 1 if len(self.lines_) <= 8 else 2
        ax.legend(fontsize="small", loc="best", ncol=ncol)
        self.figure_, self.ax_ = fig, ax
        return self
