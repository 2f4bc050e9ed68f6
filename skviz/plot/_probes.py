"""Linear probe score by depth, with the spread over folds."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .. import represent
from .base import get_figure_ax

__all__ = ["ProbeDisplay"]


class ProbeDisplay:
    """Cross-validated probe score of every layer against its depth.

    Parameters
    ----------
    probes : pandas.DataFrame
        From :func:`skviz.represent.probe_layers`.

    Attributes
    ----------
    probes_ : pandas.DataFrame
    figure_, ax_ : matplotlib Figure and Axes
    """

    def __init__(self, probes: pd.DataFrame):
        self.probes_ = probes

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y,
        layers: Sequence[str] | None = None,
        *,
        estimator=None,
        cv=5,
        scoring=None,
        pool: str = "flatten",
        include_input: bool = True,
        activation=None,
        batch_size: int | None = None,
        ax=None,
    ) -> ProbeDisplay:
        """Probe every layer of ``net`` (one capture pass) and draw the scores.

        Use samples the net was not trained on (see
        :func:`skviz.represent.probe_layers`, whose parameters these are).

        Parameters
        ----------
        net : fitted Inspectable net
        X : array-like
            Held-out samples.
        y : array-like of shape (n_samples,)
        layers : list of str, optional
        estimator, cv, scoring, pool, include_input, activation, batch_size
            As in :func:`skviz.represent.probe_layers`.
        ax : matplotlib Axes, optional
        """
        probes = represent.probe_layers(
            net,
            X,
            y,
            layers,
            estimator,
            cv,
            scoring,
            pool=pool,
            include_input=include_input,
            activation=activation,
            batch_size=batch_size,
        )
        return cls(probes).plot(ax=ax)

    def plot(self, *, ax=None, label: str | None = None) -> ProbeDisplay:
        """Mean score by depth, error bars of one standard deviation over folds.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Several nets' probes can share one Axes (next colour each).
        label : str, optional
            The curve's name in a legend (several nets on one Axes).

        Returns
        -------
        self
        """
        frame = self.probes_
        n = len(frame)
        fig, ax = get_figure_ax(ax, figsize=(min(3.2 + 0.7 * n, 12.0), 3.8))
        self.figure_, self.ax_ = fig, ax
        depth = frame["depth"].to_numpy(dtype=int)
        ax.errorbar(
            depth,
            frame["mean_score"].to_numpy(dtype=float),
            yerr=frame["std_score"].to_numpy(dtype=float),
            marker="o",
            capsize=4,
            label=label,
        )
        if label is not None:
            ax.legend(fontsize=8)
        labels = [
            f"{layer}\n({width})"
            for layer, width in zip(frame["layer"], frame["n_features"], strict=True)
        ]
        ax.set_xticks(depth, labels, fontsize=8)
        ax.set_xlabel("depth: layer (features)")
        scoring = frame.attrs.get("scoring") or "score"
        ax.set_ylabel(f"probe {scoring} (mean ± std over folds)")
        ax.grid(axis="y", alpha=0.4)
        folds = frame.attrs.get("n_splits")
        n_samples = frame.attrs.get("n_samples")
        detail = ", ".join(
            part
            for part in (
                f"{n_samples} samples" if n_samples else "",
                f"{folds}-fold CV" if folds else "",
            )
            if part
        )
        ax.set_title(
            "Linear probe by depth" + (f"\n{detail}" if detail else ""), fontsize=10
        )
        return self
