"""Per-unit statistics of one layer's outputs, computed in torch where they are.

A :class:`UnitStats` accumulates the batches of one checkpoint window on the
tensors' device: each batch adds a few ``(n_units,)`` partial results (one
reduction per statistic), :meth:`UnitStats.close` merges them once per
checkpoint (Chan's formula for the variance), still on the device, and
:meth:`UnitStats.drain` moves the small vectors of many checkpoints to the
CPU at once (one synchronisation, not one per batch). Whole activations
never leave the device.

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

__all__ = ["CLASS_STATS", "STORED_STATS", "UNIT_STATS", "LayerPlan", "UnitStats"]

#: What is read per unit, in this order.
UNIT_STATS = ("active", "mean", "std", "mean_abs", "dormancy", "saturation")
#: What is stored per unit: the dormancy score is derived from mean_abs.
STORED_STATS = ("active", "mean", "std", "mean_abs", "saturation")
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
        each window: of an evenly spaced subsample of at most
        ``max_quantile_values`` values (a sort per checkpoint; the bands of
        a picture need no more).
    """

    def __init__(
        self,
        plan: LayerPlan,
        *,
        tol: float,
        margin: float,
        n_classes: int = 0,
        quantiles=(),
        max_quantile_values: int = 1024,
    ):
        self.plan = plan
        self.tol = float(tol)
        self.margin = float(margin)
        self.n_classes = int(n_classes)
        self.q = tuple(float(q) for q in quantiles)
        self.max_quantile_values = max_quantile_values
        self.activation = resolve_activation(plan.activation)
        self._q_tensor: tuple | None = None
        self._q_n = 0
        self._ready: list = []
        self._buffers: dict[str, torch.Tensor] = {}
        self.reset()

    def reset(self) -> None:
        self._parts: list[tuple[int, int, torch.Tensor]] = []
        self._class_parts: list[torch.Tensor] = []
        self._quantiles: torch.Tensor | None = None

    @property
    def empty(self) -> bool:
        return not self._parts

    def _scratch(self, key: str, like: torch.Tensor) -> torch.Tensor:
        """A reusable buffer shaped like ``like``.

        Temporaries as large as a layer's output, allocated afresh every
        batch, come from the OS as new pages (large blocks are mapped, not
        pooled, by the C allocator) and cost more in page faults than the
        arithmetic; one buffer per layer, reused, does not.
        """
        buf = self._buffers.get(key)
        if (
            buf is None
            or buf.numel() < like.numel()
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = self._buffers[key] = torch.empty(
                like.numel(), dtype=like.dtype, device=like.device
            )
        return buf[: like.numel()].view(like.shape)

    def add(
        self, output: torch.Tensor, labels: torch.Tensor | None, last: bool
    ) -> None:
        """Reduce one batch's output; ``labels`` are class indices per sample
        (``n_classes`` for a label outside the known classes: not counted)."""
        plan = self.plan
        with torch.no_grad():
            a = output.detach()
            if not a.is_floating_point():
                a = a.float()
            if self.activation is not None:
                a = self.activation(a)
            if plan.batch_axis != 0 or plan.unit_axis != 1:
                a = a.movedim((plan.batch_axis, plan.unit_axis), (0, 1))
            n, u = a.shape[0], a.shape[1]
            n_values = a.numel() // max(u, 1)
            # (N, U) for a plain layer, (N, U, P) with P positions per unit
            # and sample otherwise: a trailing axis of size 1 would make every
            # element-wise kernel below a slow, unvectorised loop
            a = a.reshape(n, u) if a.dim() == 2 else a.reshape(n, u, -1)
            flat = a.dim() == 2
            dims = 0 if flat else (0, 2)
            one_hot = None
            if self.n_classes and labels is not None:
                one_hot = torch.nn.functional.one_hot(labels, self.n_classes + 1)
                one_hot = one_hot[:, : self.n_classes].to(a.dtype).T  # (C, N)
            class_rows = []
            # sums over samples (and positions); the variance is two-pass
            # within the batch, merged across batches by Chan's formula
            per_sample = a if flat else a.sum(2)
            mean = per_sample.sum(0) / n_values
            if one_hot is not None:
                class_rows.append(one_hot @ per_sample)
            work = self._scratch("values", a)
            torch.sub(a, mean if flat else mean[None, :, None], out=work)
            m2 = work.mul_(work).sum(dims)
            torch.abs(a, out=work)
            abs_per_sample = work if flat else work.sum(2)
            abs_mean = abs_per_sample.sum(0) / n_values
            if one_hot is not None:
                class_rows.append(one_hot @ abs_per_sample)
            peak = a if flat else a.amax(2)
            # 1.0 where peak > tol, else 0 (NaN counts as inactive); faster
            # than a comparison and a bool sum on CPUs
            active = self._scratch("active", peak)
            torch.sub(peak, self.tol, out=active)
            torch.nan_to_num_(active.clamp_(min=0).sign_(), nan=0.0)
            rows = [mean, m2, abs_mean, active.sum(0)]
            if one_hot is not None:
                class_rows.insert(0, one_hot @ active)
            if plan.bounds is not None:
                lo, hi = plan.bounds
                near = (a <= lo + self.margin) | (a >= hi - self.margin)
                rows.append(near.sum(dims).to(mean.dtype))
            self._parts.append((n, n_values, torch.stack(rows)))
            if one_hot is not None:
                counts = one_hot.sum(1)[:, None]
                self._class_parts.append(torch.cat([*class_rows, counts], dim=1))
            if last and self.q:
                self._quantiles = self._quantiles_of(a.reshape(-1))

    def _quantiles_of(self, flat: torch.Tensor) -> torch.Tensor:
        """Quantiles (linear interpolation, as numpy's default) of a
        subsample: one small sort, no more.

        The subsample is evenly spaced runs of 16 neighbouring values (one
        cache line of float32) rather than single values, which would each
        cost a read from memory.
        """
        run = 16
        if flat.numel() <= self.max_quantile_values:
            sample = flat
        else:
            blocks = flat[: flat.numel() // run * run].view(-1, run)
            step = -(-len(blocks) * run // self.max_quantile_values)
            sample = blocks[::step].reshape(-1)
        values = torch.sort(sample).values
        n = len(values)
        if self._q_tensor is None or self._q_tensor[0].device != values.device:
            pos = torch.tensor(self.q, dtype=torch.float64) * (n - 1)
            lo = pos.floor().long()
            hi = torch.clamp(lo + 1, max=n - 1)
            weight = (pos - lo).float()
            self._q_tensor = tuple(t.to(values.device) for t in (lo, hi, weight))
            self._q_n = n
        if self._q_n != n:  # a batch of another size
            self._q_tensor = None
            return self._quantiles_of(flat)
        lo, hi, weight = self._q_tensor
        return torch.lerp(values[lo], values[hi], weight.to(values.dtype))

    def close(self) -> None:
        """End the window: keep its merged partial sums on the device.

        No transfer and no synchronisation here: :meth:`drain` moves the
        checkpoints of many windows to the CPU at once.
        """
        parts = self._parts
        if not parts:
            self._ready.append(None)  # the layer did not run in this window
            self.reset()
            return
        if len(parts) == 1:
            n, n_values, raw = parts[0]
        else:
            # Chan's merge of the batches' (mean, M2), on the device
            stacked = torch.stack([p[2] for p in parts])
            counts = torch.tensor(
                [float(p[1]) for p in parts], dtype=stacked.dtype, device=stacked.device
            )[:, None]
            n, n_values = sum(p[0] for p in parts), sum(p[1] for p in parts)
            mean = (counts * stacked[:, 0]).sum(0) / n_values
            m2 = stacked[:, 1].sum(0) + (counts * (stacked[:, 0] - mean) ** 2).sum(0)
            mean_abs = (counts * stacked[:, 2]).sum(0) / n_values
            raw = torch.cat([torch.stack([mean, m2, mean_abs]), stacked[:, 3:].sum(0)])
        classes = torch.stack(self._class_parts).sum(0) if self._class_parts else None
        self._ready.append((n, n_values, raw, classes, self._quantiles))
        self.reset()

    @property
    def n_ready(self) -> int:
        return len(self._ready)

    def drain(self) -> dict[str, np.ndarray]:
        """The closed windows' statistics, on the CPU: ``(n_windows, ...)`` each.

        Keys are :data:`STORED_STATS` (``saturation`` only for bounded
        layers), ``class_<stat>`` (``(n_windows, n_classes, n_units)``, NaN
        for a class with no sample in the window) and ``quantiles``. A
        window in which the layer did not run reads NaN.
        """
        ready, self._ready = self._ready, []
        kept = [r for r in ready if r is not None]
        n_stats = 4 + (self.plan.bounds is not None)
        u = self.plan.n_units
        raw = np.full((len(ready), n_stats, u), np.nan)
        samples = np.full((len(ready), 1), np.nan)
        values = np.full((len(ready), 1), np.nan)
        rows = [k for k, r in enumerate(ready) if r is not None]
        if kept:
            # one transfer for all the windows
            raw[rows] = torch.stack([r[2] for r in kept]).cpu().double().numpy()
            samples[rows, 0] = [r[0] for r in kept]
            values[rows, 0] = [r[1] for r in kept]
        out = {
            "active": raw[:, 3] / samples,
            "mean": raw[:, 0],
            "std": np.sqrt(np.maximum(raw[:, 1] / values, 0)),
            "mean_abs": raw[:, 2],
        }
        if self.plan.bounds is not None:
            out["saturation"] = raw[:, 4] / values
        if self.n_classes:
            acc = np.full((len(ready), self.n_classes, 3 * u + 1), np.nan)
            with_classes = [k for k in rows if ready[k][3] is not None]
            if with_classes:
                acc[with_classes] = (
                    torch.stack([ready[k][3] for k in with_classes])
                    .cpu()
                    .double()
                    .numpy()
                )
            counts = acc[:, :, -1:]
            per = acc[:, :, :-1].reshape(len(ready), self.n_classes, 3, u)
            n_pos = (values / samples)[:, :, None]  # positions per sample
            with np.errstate(invalid="ignore", divide="ignore"):
                out["class_active"] = per[:, :, 0] / counts
                out["class_mean"] = per[:, :, 1] / (counts * n_pos)
                out["class_mean_abs"] = per[:, :, 2] / (counts * n_pos)
        out = {k: v.astype(np.float32) for k, v in out.items()}
        if self.q:
            q = np.full((len(ready), len(self.q)), np.nan, np.float32)
            with_q = [k for k in rows if ready[k][4] is not None]
            if with_q:
                q[with_q] = (
                    torch.stack([ready[k][4] for k in with_q]).float().cpu().numpy()
                )
            out["quantiles"] = q
        return out


def dormancy_score(mean_abs):
    """Sokar et al.'s score: a unit's mean ``|a|`` over the layer's average of it.

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
