"""Per-unit statistics of one layer's outputs, computed in torch where they are.

A :class:`UnitStats` accumulates the batches of one checkpoint window on the
tensors' device: each batch adds a few ``(n_units,)`` partial results (one
reduction per statistic), and :meth:`UnitStats.emit` merges them once per
checkpoint (Chan's formula for the variance) and moves only those small
vectors to the CPU. Whole activations never leave the device.

A unit is a feature of a 2-D output ``(N, U)``, a channel of a conv output
``(N, C, ...)`` and a feature of a sequence output ``(N, T, H)``; its values
are all the positions of all the samples. A unit is *active on a sample*
when any of its values on that sample is > ``tol`` (the dead-unit report's
rule, so the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..capture import resolve_activation

__all__ = ["CLASS_STATS", "UNIT_STATS", "LayerPlan", "UnitStats"]

#: What is recorded per unit, in this order.
UNIT_STATS = ("active", "mean", "std", "mean_abs", "dormancy", "saturation")
#: What is recorded per unit and class.
CLASS_STATS = ("active", "mean", "mean_abs")


@dataclass(frozen=True)
class LayerPlan:
    """Where the units of one recorded output are.

    ``batch_axis`` and ``unit_axis`` index the whole output tensor; ``bounds``
    are the asymptotes of a bounded activation (saturation is measured only
    for those); ``activation`` (a name of :data:`skviz.layers.ACTIVATIONS`
    or a callable) is applied to the output first, for activations applied
    functionally in ``forward``.
    """

    ref: str
    module: str
    call: int
    path: tuple
    batch_axis: int
    unit_axis: int
    n_units: int
    bounds: tuple[float, float] | None = None
    activation: Any = None


class UnitStats:
    """Running statistics of one layer over the batches of one window.

    Parameters
    ----------
    plan : LayerPlan
    tol : float
        Active means value > ``tol``.
    margin : float
        Saturated means within ``margin`` of an asymptote.
    n_classes : int
        0: no per-class statistics.
    quantiles : sequence of float
        Quantiles of all the layer's values, taken from the last batch of
        each window (a strided subsample of at most ``max_quantile_values``).
    """

    def __init__(
        self,
        plan: LayerPlan,
        *,
        tol: float,
        margin: float,
        n_classes: int = 0,
        quantiles=(),
        max_quantile_values: int = 65536,
    ):
        self.plan = plan
        self.tol = float(tol)
        self.margin = float(margin)
        self.n_classes = int(n_classes)
        self.q = tuple(float(q) for q in quantiles)
        self.max_quantile_values = max_quantile_values
        self.activation = resolve_activation(plan.activation)
        self.reset()

    def reset(self) -> None:
        self._parts: list[tuple[int, int, torch.Tensor]] = []
        self._class_parts: list[torch.Tensor] = []
        self._quantiles: torch.Tensor | None = None

    @property
    def empty(self) -> bool:
        return not self._parts

    def add(
        self, output: torch.Tensor, labels: torch.Tensor | None, last: bool
    ) -> None:
        """Reduce one batch's output; ``labels`` are class indices per sample."""
        plan = self.plan
        with torch.no_grad():
            a = output.detach()
            if not a.is_floating_point():
                a = a.float()
            if self.activation is not None:
                a = self.activation(a)
            n = a.shape[plan.batch_axis]
            dims = tuple(d for d in range(a.dim()) if d != plan.unit_axis)
            pos = tuple(
                d for d in range(a.dim()) if d not in (plan.unit_axis, plan.batch_axis)
            )
            var, mean = torch.var_mean(a, dim=dims, correction=0)
            n_values = a.numel() // max(a.shape[plan.unit_axis], 1)
            absolute = a.abs()
            abs_mean = absolute.mean(dim=dims)
            peak = a.amax(dim=pos) if pos else a
            # (N, U) whatever the layout: the unit axis follows the batch axis
            if plan.unit_axis < plan.batch_axis:
                peak = peak.transpose(0, 1)
            active = peak > self.tol
            rows = [mean, var * n_values, abs_mean, active.sum(0).to(mean.dtype)]
            if plan.bounds is not None:
                lo, hi = plan.bounds
                near = (a <= lo + self.margin) | (a >= hi - self.margin)
                rows.append(near.sum(dim=dims).to(mean.dtype))
            self._parts.append((n, n_values, torch.stack(rows)))
            if self.n_classes and labels is not None:
                one_hot = torch.nn.functional.one_hot(labels, self.n_classes).to(
                    mean.dtype
                )
                sums = a.sum(dim=pos) if pos else a
                abs_sums = absolute.sum(dim=pos) if pos else absolute
                if plan.unit_axis < plan.batch_axis:
                    sums, abs_sums = sums.transpose(0, 1), abs_sums.transpose(0, 1)
                per_class = one_hot.T @ torch.stack(
                    [active.to(mean.dtype), sums, abs_sums], dim=1
                ).reshape(n, -1)
                counts = one_hot.sum(0)
                self._class_parts.append(
                    torch.cat(
                        [
                            per_class.reshape(self.n_classes, 3, -1).flatten(1),
                            counts[:, None],
                        ],
                        dim=1,
                    )
                )
            if last and self.q:
                flat = a.reshape(-1)
                step = max(1, -(-flat.numel() // self.max_quantile_values))
                sample = flat[::step]
                q = torch.tensor(self.q, dtype=sample.dtype, device=sample.device)
                self._quantiles = torch.nanquantile(sample, q)

    def emit(self) -> dict[str, np.ndarray]:
        """Merge the window's batches: the checkpoint's statistics, on the CPU.

        Keys are :data:`UNIT_STATS` (``saturation`` only for bounded layers),
        ``class_<stat>`` (shape ``(n_classes, n_units)``, NaN for a class
        with no sample in the window) and ``quantiles``.
        """
        samples = torch.tensor([p[0] for p in self._parts], dtype=torch.float64)
        values = torch.tensor([p[1] for p in self._parts], dtype=torch.float64)
        parts = torch.stack([p[2] for p in self._parts]).double().cpu()
        total, n_total = values.sum(), samples.sum()
        w = values[:, None] / total
        mean = (w * parts[:, 0]).sum(0)
        m2 = parts[:, 1].sum(0) + (values[:, None] * (parts[:, 0] - mean) ** 2).sum(0)
        mean_abs = (w * parts[:, 2]).sum(0)
        out = {
            "active": parts[:, 3].sum(0) / n_total,
            "mean": mean,
            "std": (m2 / total).clamp_min(0).sqrt(),
            "mean_abs": mean_abs,
            "dormancy": dormancy_score(mean_abs),
        }
        if self.plan.bounds is not None:
            out["saturation"] = parts[:, 4].sum(0) / total
        out = {k: v.numpy().astype(np.float32) for k, v in out.items()}
        if self._class_parts:
            acc = torch.stack(self._class_parts).double().sum(0).cpu()
            counts = acc[:, -1:]
            per = acc[:, :-1].reshape(self.n_classes, 3, -1)
            n_pos = values[0] / samples[0]  # positions per sample
            with np.errstate(invalid="ignore", divide="ignore"):
                active = (per[:, 0] / counts).numpy()
                mean = (per[:, 1] / (counts * n_pos)).numpy()
                mabs = (per[:, 2] / (counts * n_pos)).numpy()
            out["class_active"] = active.astype(np.float32)
            out["class_mean"] = mean.astype(np.float32)
            out["class_mean_abs"] = mabs.astype(np.float32)
        if self._quantiles is not None:
            out["quantiles"] = self._quantiles.float().cpu().numpy()
        self.reset()
        return out


def dormancy_score(mean_abs):
    """Sokar et al.'s score: a unit's mean |a| over the layer's average of it.

    ``score_i = mean|a_i| / ((1/U) sum_k mean|a_k|)``. A layer whose units
    are all zero has no scale to compare with: every score is 0 there (all
    units dormant for any tau >= 0), not NaN. Works on torch tensors and
    numpy arrays of shape ``(..., n_units)``.
    """
    if isinstance(mean_abs, torch.Tensor):
        avg = mean_abs.mean(-1, keepdim=True)
        safe = torch.where(avg > 0, avg, torch.ones_like(avg))
        return torch.where(avg > 0, mean_abs / safe, torch.zeros_like(mean_abs))
    mean_abs = np.asarray(mean_abs, dtype=float)
    avg = mean_abs.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(avg > 0, mean_abs / np.where(avg > 0, avg, 1), 0.0)
