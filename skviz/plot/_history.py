"""Loss and score curves from a skorch net's ``history``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import analysis
from .base import get_figure_axes

__all__ = ["TrainingCurvesDisplay"]

# per_batch="auto" draws the batch losses of runs shorter than this many
# epochs: a curve of 1 to 4 points shows no course, its batches do.
_AUTO_BATCH_EPOCHS = 5


def _best_epochs(frame: pd.DataFrame, keys: Sequence[str]) -> dict[str, tuple]:
    """``{key: (epoch, how)}`` for the keys whose best epoch is known.

    skorch flags each epoch that improved a monitored value with
    ``<key>_best``; the last flagged epoch is the best. Without flags the
    best loss is its minimum; a score without flags has no known direction
    and gets no mark.
    """
    best = {}
    for key in keys:
        flags = frame.get(f"{key}_best")
        if flags is not None and flags.any():
            best[key] = (frame.index[np.flatnonzero(flags.to_numpy())[-1]], "skorch")
        elif key.endswith("loss") and frame[key].notna().any():
            best[key] = (frame[key].idxmin(), "minimum")
    return best


class TrainingCurvesDisplay:
    """Train/valid loss and recorded scores per epoch, best epochs marked.

    Reads ``net.history`` (skorch's record of every epoch); nothing is
    re-recorded. Losses (keys ending in ``loss``) go in the first panel,
    every other recorded score (``valid_acc``, ``EpochScoring`` results) in
    a second one. Training curves are solid, validation curves dashed.
    The best epoch of each curve is marked with a star: the last epoch
    skorch flagged ``<key>_best``, or for a loss without flags its minimum.
    A dotted vertical line marks the best epoch of ``valid_loss`` (or of
    ``train_loss`` without a validation split). With ``batches``, the loss
    of every training batch is drawn as a thin line under its epoch curve,
    the batches of epoch ``e`` spread over ``[e - 0.5, e + 0.5]`` around
    the epoch's value (their mean). The epoch axis has integer ticks.

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`skviz.analysis.history_frame`.
    keys : list of str, optional
        Curves to draw; default every numeric key (see :meth:`metric_keys`).
    batches : pandas.DataFrame, optional
        From :func:`skviz.analysis.batch_history_frame`: per-batch losses
        to draw under the epoch curves of the same keys.

    Attributes
    ----------
    history_ : pandas.DataFrame
        Index ``epoch``; one column per recorded number and ``*_best`` flag.
    keys_ : list of str
        The curves drawn.
    best_epochs_ : dict of str to int
        Best epoch per curve (only curves with a known best).
    best_source_ : dict of str to str
        ``"skorch"`` (from the ``*_best`` flags) or ``"minimum"``.
    batches_ : pandas.DataFrame or None
        The per-batch losses drawn (``position`` and one column per key).
    figure_ : matplotlib Figure
    axes_ : ndarray of Axes, shape (1, n_panels)
    ax_ : matplotlib Axes
        The loss panel.
    """

    def __init__(
        self,
        history: pd.DataFrame,
        *,
        keys: Sequence[str] | None = None,
        batches: pd.DataFrame | None = None,
    ):
        if not isinstance(history, pd.DataFrame) or history.empty:
            raise ValueError(
                "history must be a non-empty DataFrame from "
                "skviz.analysis.history_frame(net.history)."
            )
        self.history_ = history
        available = self._numeric_keys()
        if keys is None:
            keys = self.metric_keys()
        else:
            keys = [keys] if isinstance(keys, str) else list(keys)
            unknown = [k for k in keys if k not in available]
            if unknown:
                raise ValueError(
                    f"History has no numeric key(s) {unknown}; available: {available}."
                )
        if not keys:
            raise ValueError("The history records no numeric value per epoch.")
        self._values = {
            k: analysis.mask_nonfinite(
                history[k].to_numpy(), f"history values of {k!r}"
            )
            for k in keys
        }
        best = _best_epochs(
            history[keys + [c for c in history if c.endswith("_best")]], keys
        )
        self.keys_ = keys
        drawn = [k for k in keys if batches is not None and k in batches]
        self.batches_ = (
            batches[["epoch", "batch", "position", *drawn]] if drawn else None
        )
        self.best_epochs_ = {k: int(v[0]) for k, v in best.items()}
        self.best_source_ = {k: v[1] for k, v in best.items()}

    @classmethod
    def from_estimator(
        cls,
        net,
        *,
        keys: Sequence[str] | None = None,
        per_batch: bool | str = "auto",
        axes=None,
        **plot_kwargs,
    ) -> TrainingCurvesDisplay:
        """Plot the curves of a fitted skorch net (``net.history``).

        Parameters are those of :meth:`from_history`.
        """
        history = getattr(net, "history", None)
        if history is None or len(history) == 0:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(net).__name__} has no training history yet; call fit first."
            )
        return cls.from_history(
            history, keys=keys, per_batch=per_batch, axes=axes, **plot_kwargs
        )

    @classmethod
    def from_history(
        cls,
        history,
        *,
        keys: Sequence[str] | None = None,
        per_batch: bool | str = "auto",
        axes=None,
        **plot_kwargs,
    ) -> TrainingCurvesDisplay:
        """Plot from a skorch ``History`` or a list of per-epoch dicts.

        Parameters
        ----------
        history : skorch.history.History or list of dict
        keys : list of str, optional
            Curves to draw; default every numeric key.
        per_batch : bool or "auto", default="auto"
            Also draw the loss of every training batch (skorch's
            ``net.history[:, "batches", :, "train_loss"]``). ``"auto"``:
            for runs of fewer than 5 epochs, whose epoch curve has too few
            points to show how training went. True raises when the history
            records no batches.
        axes : Axes or array of Axes, optional
        **plot_kwargs
            ``logy`` for :meth:`plot`.
        """
        if per_batch not in ("auto", True, False):
            raise ValueError(
                f"per_batch must be True, False or 'auto', got {per_batch!r}."
            )
        frame = analysis.history_frame(history)
        batches = None
        if per_batch is True or (
            per_batch == "auto" and len(frame) < _AUTO_BATCH_EPOCHS
        ):
            batches = analysis.batch_history_frame(history)
            if batches.empty:
                if per_batch is True:
                    raise ValueError(
                        "per_batch=True, but the history records no training "
                        "batch losses (history[epoch]['batches'])."
                    )
                batches = None
        return cls(frame, keys=keys, batches=batches).plot(axes=axes, **plot_kwargs)

    def metric_keys(self) -> list[str]:
        """The numeric per-epoch values drawn by default.

        Callback events such as ``event_lr`` (``LRScheduler``) are left
        out: they are not losses or scores; pass them in ``keys=``.
        """
        return [k for k in self._numeric_keys() if not k.startswith("event_")]

    def _numeric_keys(self) -> list[str]:
        return [
            c
            for c in self.history_.columns
            if not c.endswith("_best") and self.history_[c].dtype.kind == "f"
        ]

    def plot(self, *, axes=None, logy: bool = False) -> TrainingCurvesDisplay:
        """Draw the curves.

        Parameters
        ----------
        axes : Axes or array of Axes, optional
            One Axes per panel: 1 when only losses are drawn, else 2.
        logy : bool, default=False
            Logarithmic loss axis.

        Returns
        -------
        self
        """
        keys, values = self.keys_, self._values
        best = self.best_epochs_
        losses = [k for k in keys if k.endswith("loss")]
        scores = [k for k in keys if not k.endswith("loss")]
        panels = [p for p in (losses, scores) if p]
        fig, grid = get_figure_axes(
            axes,
            1,
            len(panels),
            figsize=(5.0 * len(panels) + 0.6, 3.8),
            what="TrainingCurvesDisplay",
        )
        epochs = self.history_.index.to_numpy()
        marker = "o" if len(epochs) <= 30 else None
        from matplotlib.ticker import MaxNLocator

        main = next((k for k in ("valid_loss", "train_loss") if k in best), None)
        batches = self.batches_
        # Room for the best-epoch stars at the ends, or for each end epoch's
        # batches (half an epoch either side).
        pad = max(0.4 if batches is None else 0.55, 0.03 * np.ptp(epochs))
        for panel, ax in zip(panels, grid[0], strict=True):
            for k, key in enumerate(panel):
                if batches is not None and key in batches:
                    # under the epoch curve, in its colour
                    ax.plot(
                        batches["position"],
                        batches[key],
                        "-",
                        linewidth=0.8,
                        alpha=0.45,
                        color=f"C{k % 10}",
                        label=f"{key} per batch",
                        zorder=1,
                    )
            for k, key in enumerate(panel):
                style = "--" if key.startswith(("valid", "val_")) else "-"
                label = key
                if key in best:
                    label += f" (best: epoch {best[key]})"
                (line,) = ax.plot(
                    epochs,
                    values[key],
                    style,
                    marker=marker,
                    markersize=3,
                    color=f"C{k % 10}",
                    label=label,
                )
                if key in best:
                    epoch = best[key]
                    row = int(np.flatnonzero(epochs == epoch)[0])
                    ax.plot(
                        epoch,
                        values[key][row],
                        "*",
                        markersize=13,
                        color=line.get_color(),
                        markeredgecolor="black",
                        markeredgewidth=0.6,
                        zorder=3,
                    )
            if main is not None:
                ax.axvline(
                    best[main],
                    color="0.4",
                    linestyle=":",
                    linewidth=1,
                    label=f"best {main} epoch",
                )
            ax.set_xlim(epochs.min() - pad, epochs.max() + pad)
            ax.set_xlabel("epoch")
            # min_n_ticks=1: a short run still gets integer ticks only
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        ax_loss = grid[0, 0]
        if losses:
            ax_loss.set_ylabel("loss")
            ax_loss.set_title(
                "Loss per epoch" + (" and per batch" if batches is not None else "")
            )
            if logy:
                ax_loss.set_yscale("log")
        if scores:
            ax_score = grid[0, -1]
            ax_score.set_ylabel("score")
            ax_score.set_title("Scores per epoch")
        self.figure_, self.axes_, self.ax_ = fig, grid, ax_loss
        return self
