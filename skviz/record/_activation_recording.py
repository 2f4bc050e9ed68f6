"""What an :class:`~skviz.record.ActivationMonitor` recorded, and how to read it.

One :class:`~skviz.record.RowStore` per source (``"train"``: training
batches; ``"eval"``: the monitoring set at epoch ends), one row per
checkpoint:

* ``"step"``, ``"epoch"``, ``"batch"``: training batches done, skorch's epoch
  number and batches done within it;
* ``"<stat>/<layer>"``: one float32 per unit for each statistic of
  :data:`STORED_STATS` (``saturation`` only for bounded layers; the
  dormancy score is computed from ``mean_abs`` when read);
* ``"class_<stat>/<layer>"``: ``(n_classes, n_units)`` with ``per_class``;
* ``"quantiles/<layer>"``: quantiles of the layer's values.

Everything here is numbers (numpy, pandas): the pictures are in
:mod:`skviz.plot`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._store import RowStore
from ._unit_stats import CLASS_STATS, UNIT_STATS, dormancy_score

__all__ = ["SOURCES", "ActivationRecording"]

SOURCES = ("train", "eval")


def stat_key(stat: str, layer: str) -> str:
    return f"{stat}/{layer}"


class ActivationRecording:
    """Per-unit activation statistics over training, as recorded by a monitor.

    Every array handed out is read-only; rows are checkpoints in time order
    (memory-mapped where the store spilled to disk).

    Parameters
    ----------
    stores : dict of str to RowStore
        One per recorded source (``"train"``, ``"eval"``).
    layers : list of str
        Monitored layers, in forward order.
    n_units : dict of str to int
    bounded : dict of str to (float, float)
        Asymptotes of the layers whose saturation is measured.
    classes : ndarray or None
        Class labels of the per-class statistics.
    tol, tau : float
        Active means > ``tol``; dormant means score <= ``tau``.
    quantiles : tuple of float
    monitor_params : dict
        Constructor parameters of the monitor.
    """

    def __init__(
        self,
        stores: dict[str, RowStore],
        *,
        layers: Sequence[str] = (),
        n_units: dict[str, int] | None = None,
        bounded: dict[str, tuple[float, float]] | None = None,
        classes: np.ndarray | None = None,
        tol: float = 0.0,
        tau: float = 0.0,
        quantiles: Sequence[float] = (),
        monitor_params: dict[str, Any] | None = None,
    ):
        self._stores = dict(stores)
        self.layers = list(layers)
        self.n_units = dict(n_units or {})
        self.bounded = dict(bounded or {})
        self.classes = classes
        self.tol = float(tol)
        self.tau = float(tau)
        self.quantiles = tuple(quantiles)
        self.monitor_params = dict(monitor_params or {})

    def __repr__(self) -> str:
        rows = ", ".join(f"{s}: {self.n_checkpoints(s)}" for s in self.sources)
        return (
            f"ActivationRecording({len(self.layers)} layers, "
            f"{sum(self.n_units.values())} units, checkpoints {{{rows}}})"
        )

    # ------------------------------------------------------------------
    # sources and the checkpoint index
    # ------------------------------------------------------------------

    @property
    def sources(self) -> list[str]:
        """Sources with a store, in the order ``train``, ``eval``."""
        return [s for s in SOURCES if s in self._stores]

    def store(self, source: str | None = None) -> RowStore:
        """The :class:`RowStore` that holds a source's rows."""
        return self._stores[self._source(source)]

    def resolve_source(self, source: str | None = None) -> str:
        """The source that ``source`` names: None is ``"eval"`` when the
        monitoring set has checkpoints, else ``"train"``."""
        return self._source(source)

    def _source(self, source: str | None) -> str:
        if source is None:
            # judgments are made on the fixed set when there is one
            for s in ("eval", "train"):
                if s in self._stores and self._stores[s].n_rows:
                    return s
            if not self._stores:
                raise ValueError("Nothing was recorded.")
            return "eval" if "eval" in self._stores else "train"
        if source not in self._stores:
            raise ValueError(
                f"No {source!r} statistics were recorded; recorded sources: "
                f"{self.sources}."
            )
        return source

    def n_checkpoints(self, source: str | None = None) -> int:
        """Recorded checkpoints (rows) of a source."""
        return self.store(source).n_rows

    def index(self, source: str | None = None) -> pd.DataFrame:
        """Step, epoch and batch of each checkpoint."""
        store = self.store(source)
        return pd.DataFrame(
            {k: np.asarray(store.view(k)) for k in ("step", "epoch", "batch")}
        )

    def steps(self, source: str | None = None) -> np.ndarray:
        """Training batches done at each checkpoint."""
        return self.store(source).view("step")

    @property
    def nbytes(self) -> int:
        """Bytes held in memory by every source's rows (allocated capacity)."""
        return sum(s.nbytes for s in self._stores.values())

    @property
    def disk_bytes(self) -> int:
        """Bytes of rows in memory-mapped files."""
        return sum(s.disk_bytes for s in self._stores.values())

    # ------------------------------------------------------------------
    # arrays
    # ------------------------------------------------------------------

    def _check_layer(self, layer: str) -> None:
        if layer not in self.layers:
            raise ValueError(
                f"Layer {layer!r} was not monitored; monitored layers: {self.layers}."
            )

    def _check_layers(self, layers) -> list[str]:
        if layers is None:
            return list(self.layers)
        layers = [layers] if isinstance(layers, str) else list(layers)
        for layer in layers:
            self._check_layer(layer)
        return layers

    def values(self, stat: str, layer: str, source: str | None = None) -> np.ndarray:
        """One statistic of every unit of a layer: ``(n_checkpoints, n_units)``.

        ``stat`` is one of ``active``, ``mean``, ``std``, ``mean_abs``,
        ``dormancy``, ``saturation`` (NaN for layers that are not bounded).
        """
        self._check_layer(layer)
        if stat not in UNIT_STATS:
            raise ValueError(f"Unknown statistic {stat!r}; use one of {UNIT_STATS}.")
        store = self.store(source)
        if stat == "dormancy":
            # derived, not stored: one float per unit and checkpoint saved
            mean_abs = np.asarray(self.values("mean_abs", layer, source), np.float64)
            score = dormancy_score(mean_abs).astype(np.float32)
            score.flags.writeable = False
            return score
        key = stat_key(stat, layer)
        if key not in store:
            return np.full((store.n_rows, self.n_units[layer]), np.nan, np.float32)
        return store.view(key)

    def class_values(
        self, stat: str, layer: str, source: str | None = None
    ) -> np.ndarray:
        """A per-class statistic: ``(n_checkpoints, n_classes, n_units)``.

        ``stat`` is ``active``, ``mean`` or ``mean_abs``; needs ``per_class``.
        """
        self._check_layer(layer)
        if stat not in CLASS_STATS:
            raise ValueError(
                f"Unknown per-class statistic {stat!r}; use one of {CLASS_STATS}."
            )
        store = self.store(source)
        key = stat_key(f"class_{stat}", layer)
        if key not in store:
            raise ValueError(
                "No per-class statistics were recorded: pass per_class=True."
            )
        return store.view(key)

    def dead(self, layer: str, source: str | None = None) -> np.ndarray:
        """Units active on no sample of a checkpoint: bool ``(n_checkpoints, n_units)``."""
        return self.values("active", layer, source) == 0

    def dormant(self, layer: str, source: str | None = None) -> np.ndarray:
        """Units whose dormancy score is <= ``tau`` (bool, like :meth:`dead`)."""
        return self.values("dormancy", layer, source) <= self.tau

    # ------------------------------------------------------------------
    # frames
    # ------------------------------------------------------------------

    def to_frame(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Tidy statistics: one row per checkpoint, layer and unit.

        Columns: ``source``, ``step``, ``epoch``, ``batch``, ``layer``,
        ``unit``, the statistics of :meth:`values`, ``dead`` and ``dormant``.
        """
        source = self._source(source)
        index = self.index(source)
        frames = []
        for layer in self._check_layers(layers):
            n_rows, n_units = len(index), self.n_units[layer]
            frame = {
                "source": source,
                **{k: np.repeat(index[k].to_numpy(), n_units) for k in index},
                "layer": layer,
                "unit": np.tile(np.arange(n_units), n_rows),
            }
            for stat in UNIT_STATS:
                frame[stat] = np.asarray(self.values(stat, layer, source)).ravel()
            frames.append(pd.DataFrame(frame))
        out = pd.concat(frames, ignore_index=True)
        out["dead"] = out["active"] == 0
        out["dormant"] = out["dormancy"] <= self.tau
        return out

    def class_frame(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Tidy per-class statistics: one row per checkpoint, layer, class and unit."""
        source = self._source(source)
        index = self.index(source)
        frames = []
        for layer in self._check_layers(layers):
            n_rows, n_units = len(index), self.n_units[layer]
            n_classes = len(self.classes) if self.classes is not None else 0
            reps = n_units * n_classes
            frame = {
                "source": source,
                **{k: np.repeat(index[k].to_numpy(), reps) for k in index},
                "layer": layer,
                "class": np.tile(np.repeat(self.classes, n_units), n_rows),
                "unit": np.tile(np.arange(n_units), n_rows * n_classes),
            }
            for stat in CLASS_STATS:
                frame[stat] = np.asarray(self.class_values(stat, layer, source)).ravel()
            frames.append(pd.DataFrame(frame))
        return pd.concat(frames, ignore_index=True)

    def quantile_frame(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Quantiles of each layer's values: ``step``, ``epoch``, ``layer``, one column per quantile."""
        source = self._source(source)
        store = self.store(source)
        index = self.index(source)
        frames = []
        for layer in self._check_layers(layers):
            key = stat_key("quantiles", layer)
            if key not in store:
                raise ValueError("No quantiles were recorded (quantiles=None).")
            q = pd.DataFrame(np.asarray(store.view(key)), columns=list(self.quantiles))
            frames.append(pd.concat([index, q], axis=1).assign(layer=layer))
        return pd.concat(frames, ignore_index=True)

    def layer_fractions(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Dead and dormant fraction of each layer's units at each checkpoint.

        Columns: ``step``, ``epoch``, ``batch``, ``layer``, ``dead_fraction``,
        ``dormant_fraction`` and ``saturated_fraction`` (mean saturation
        fraction of the units; NaN for layers that are not bounded).
        """
        source = self._source(source)
        index = self.index(source)
        frames = []
        for layer in self._check_layers(layers):
            sat = np.asarray(self.values("saturation", layer, source), dtype=float)
            frames.append(
                index.assign(
                    layer=layer,
                    dead_fraction=self.dead(layer, source).mean(axis=1),
                    dormant_fraction=self.dormant(layer, source).mean(axis=1),
                    saturated_fraction=sat.mean(axis=1) if sat.size else np.nan,
                )
            )
        return pd.concat(frames, ignore_index=True)

    def unit_fate(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """When each unit died or went dormant for good, and whether it came back.

        Returns
        -------
        pandas.DataFrame
            One row per (layer, unit): ``dead_since`` / ``dormant_since``
            (step of the first checkpoint from which the unit stays dead /
            dormant to the last one; NaN when it is not at the end),
            ``dead_since_checkpoint`` / ``dormant_since_checkpoint`` (row
            numbers, -1 for none), ``revived`` (it was dead or dormant at
            some checkpoint and active and not dormant at a later one),
            ``final`` (``"dead"``, ``"dormant"`` or ``"active"`` at the last
            checkpoint) and ``final_active`` (its active fraction there).
        """
        source = self._source(source)
        steps = np.asarray(self.steps(source))
        if not len(steps):
            raise ValueError(f"No {source!r} checkpoint was recorded yet.")
        frames = []
        for layer in self._check_layers(layers):
            dead = self.dead(layer, source)
            dormant = self.dormant(layer, source)
            dead_at = since(dead)
            dormant_at = since(dormant)
            down = dead | dormant
            up = ~down
            # down at some checkpoint and up at a later one
            later_up = np.flip(np.logical_or.accumulate(np.flip(up, 0), 0), 0)
            revived = (down[:-1] & later_up[1:]).any(axis=0)
            final = np.where(
                dead[-1], "dead", np.where(dormant[-1], "dormant", "active")
            )
            frames.append(
                pd.DataFrame(
                    {
                        "source": source,
                        "layer": layer,
                        "unit": np.arange(dead.shape[1]),
                        "dead_since": _at(steps, dead_at),
                        "dormant_since": _at(steps, dormant_at),
                        "dead_since_checkpoint": dead_at,
                        "dormant_since_checkpoint": dormant_at,
                        "revived": revived,
                        "final": final,
                        "final_active": np.asarray(
                            self.values("active", layer, source)[-1], dtype=float
                        ),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def since(flags: np.ndarray) -> np.ndarray:
    """Per column, the first row from which ``flags`` stays True to the end (-1: none)."""
    flags = np.asarray(flags, dtype=bool)
    n = len(flags)
    if n == 0:
        return np.full(flags.shape[1:], -1)
    # rows after the last False; a column True throughout starts at 0
    last_false = n - 1 - np.argmax(np.flip(~flags, 0), axis=0)
    any_false = (~flags).any(axis=0)
    start = np.where(any_false, last_false + 1, 0)
    return np.where(start < n, start, -1)


def _at(steps: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.where(rows >= 0, steps[np.clip(rows, 0, None)], np.nan)
