"""Per-unit statistics of one layer's outputs, computed in torch where they are.

A :class:`UnitStats` accumulates the batches of one checkpoint window on the
tensors' device. Each batch costs a few element-wise kernels, each followed
at once by its reduction over the samples while its result is still in
cache: the values minus a per-unit *shift* (their sum and the sum of their
squares), the absolute values (skipped for layers that are never negative),
the values near an asymptote (bounded layers) and the active indicator.
:meth:`UnitStats.close` adds up the sums of a window's batches, and
:meth:`UnitStats.drain` turns the sums of many checkpoints into statistics
on the CPU at once (one transfer and one synchronisation, not one per batch),
quantiles included. Whole activations never leave the device.

Each batch is shifted by its first sample's values: ``sum (a - s)^2`` is
then as precise as the two-pass formula whenever ``s`` lies within a few
standard deviations of the mean, exact for a constant (dead) unit, and costs
no pass of its own. The batches of one window are moved to one shift and
added in float64.

A unit is a feature of a 2-D output ``(N, U)``, a channel of a conv output
``(N, C, ...)`` and a feature of a sequence output ``(N, T, H)``; its values
are all the positions of all the samples. A unit is *active on a sample*
when any of its values on that sample is > ``tol`` (the dead-unit report's
rule, so the two agree).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

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

# Rows of a batch's sums per unit: the first two for every layer, "abs" unless
# the layer is never negative (its |a| is a), "near" (values within the margin
# of an asymptote) for bounded layers; "active" is always the last.
_SHIFTED, _SQUARES = 0, 1
_ACTIVE = -1
# Rows of a batch's sums per class and unit.
_CLASS_VALUES, _CLASS_ABS, _CLASS_ACTIVE = 0, 1, 2


class _Sums(NamedTuple):
    """What one batch, or one window of batches, leaves on the device."""

    n: int  # samples
    n_values: int  # values per unit: samples x positions
    shift: torch.Tensor  # (U,)
    totals: torch.Tensor  # (rows, U), rows of UnitStats._rows
    classes: torch.Tensor | None  # (3, C, U): values, |values|, active
    counts: torch.Tensor | None  # (C,) samples per class
    sample: torch.Tensor | None = None  # values for the quantiles


@dataclass(frozen=True)
class LayerPlan:
    """Where the units of one recorded output are.

    ``batch_axis`` and ``unit_axis`` index the whole output tensor; ``bounds``
    are the asymptotes of a bounded activation (saturation is measured only
    for those); ``nonnegative`` says the values are never negative by
    construction (ReLU, sigmoid: their mean ``|a|`` is their mean);
    ``activation`` (a name of :data:`skviz.layers.ACTIVATIONS` or a
    callable) is applied to the output first, for activations applied
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
    nonnegative: bool = False


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
        ``max_quantile_values`` values, copied on the device and sorted on
        the CPU when drained (the bands of a picture need no more).
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
        self._ready: list = []
        self._buffer: torch.Tensor | None = None
        rows = ["shifted", "squares"]
        if not plan.nonnegative:
            rows.append("abs")
        if plan.bounds is not None:
            rows.append("near")
        self._rows = {name: k for k, name in enumerate([*rows, "active"])}
        self.reset()

    def reset(self) -> None:
        self._parts: list[_Sums] = []
        self._sample: torch.Tensor | None = None

    def _scratch(self, like: torch.Tensor) -> torch.Tensor:
        """A reusable buffer of ``like``'s shape, dtype and device.

        Temporaries as large as a layer's output, allocated afresh every
        batch, come from the OS as new pages (large blocks are mapped, not
        pooled, by the C allocator) and cost more in page faults than the
        arithmetic; one buffer per layer, reused, does not.
        """
        numel = like.numel()
        buf = self._buffer
        if (
            buf is None
            or buf.numel() < numel
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = self._buffer = torch.empty(
                numel, dtype=like.dtype, device=like.device
            )
        return buf[:numel].view(like.shape)

    def _units_first(self, output: torch.Tensor) -> torch.Tensor:
        """The output as ``(N, U)``, or ``(N, U, P)`` with ``P > 1`` positions
        per unit and sample (a view where the layout allows)."""
        plan = self.plan
        a = output.detach()
        # half precision would overflow in the sums of squares
        if not a.is_floating_point() or a.dtype in (torch.float16, torch.bfloat16):
            a = a.float()
        if self.activation is not None:
            a = self.activation(a)
        if plan.batch_axis != 0 or plan.unit_axis != 1:
            a = a.movedim((plan.batch_axis, plan.unit_axis), (0, 1))
        n, u = a.shape[0], a.shape[1]
        # a trailing axis of size 1 would make every element-wise kernel
        # below a slow, unvectorised loop
        return a.reshape(n, u) if a.numel() == n * u else a.reshape(n, u, -1)

    def _sums(
        self, a: torch.Tensor, shift: torch.Tensor, one_hot: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sums over the batch per unit, one row each of ``self._rows``; and
        with ``one_hot`` ``(C, N)`` the sums per class ``(3, C, U)`` of the
        values, absolute values and active samples.

        One scratch buffer the size of the output takes each element-wise
        result in turn and is reduced at once, while it is still in cache.
        """
        flat = a.dim() == 2
        work = self._scratch(a)
        sums = torch.empty(
            (len(self._rows), a.shape[1]), dtype=a.dtype, device=a.device
        )
        dims = 0 if flat else (0, 2)

        def per_sample(t):
            return t if flat else t.sum(2)

        torch.sub(a, shift if flat else shift[:, None], out=work)
        torch.sum(work, dims, out=sums[_SHIFTED])
        torch.sum(work.mul_(work), dims, out=sums[_SQUARES])
        classes = []
        if one_hot is not None:
            classes.append(one_hot @ per_sample(a))
        if "abs" in self._rows:
            absolute = per_sample(torch.abs(a, out=work))
            torch.sum(absolute, 0, out=sums[self._rows["abs"]])
            if one_hot is not None:
                classes.append(one_hot @ absolute)
        elif one_hot is not None:
            classes.append(classes[0])
        if "near" in self._rows:
            torch.sum(self._near(a, work), dims, out=sums[self._rows["near"]])
        # 1.0 where > tol; NaN compares False, so counts as inactive
        if flat:
            active = torch.gt(a, self.tol, out=work)
        else:
            active = torch.gt(a.amax(2), self.tol).to(a.dtype)
        torch.sum(active, 0, out=sums[_ACTIVE])
        if one_hot is not None:
            classes.append(one_hot @ active)
        return sums, torch.stack(classes) if classes else None

    def _near(self, a: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        lo, hi = self.plan.bounds
        return torch.logical_or(a <= lo + self.margin, a >= hi - self.margin, out=out)

    def add(
        self, output: torch.Tensor, labels: torch.Tensor | None, last: bool
    ) -> None:
        """Reduce one batch's output; ``labels`` are class indices per sample
        (``n_classes`` for a label outside the known classes: not counted)."""
        # the kernels below run on a detached tensor and record no graph
        # (only a user's activation callable could)
        with torch.no_grad() if self.activation is not None else nullcontext():
            a = self._units_first(output)
        n, u = a.shape[0], a.shape[1]
        if n == 0:
            return
        # a copy: the output may change in place after this hook
        shift = (a[0] if a.dim() == 2 else a[0, :, 0]).clone()
        one_hot = counts = None
        if self.n_classes and labels is not None:
            one_hot = torch.nn.functional.one_hot(labels, self.n_classes + 1)
            one_hot = one_hot[:, : self.n_classes].to(a.dtype).T  # (C, N)
            counts = one_hot.sum(1)
        totals, classes = self._sums(a, shift, one_hot)
        n_values = a.numel() // max(u, 1)
        self._parts.append(_Sums(n, n_values, shift, totals, classes, counts))
        if last and self.q:
            self._sample = self._sample_of(a)

    def _sample_of(self, a: torch.Tensor) -> torch.Tensor:
        """A copy of at most ``max_quantile_values`` of the layer's values,
        whose quantiles :meth:`drain` takes on the CPU.

        The subsample is evenly spaced runs of 16 neighbouring values in
        memory (one cache line of float32) rather than single values, which
        would each cost a read from memory; the order of the values does
        not matter, so a permuted layout is read as it lies.
        """
        if not a.is_contiguous():
            order = sorted(range(a.dim()), key=lambda d: -a.stride(d))
            a = a.permute(order).contiguous()  # a view when only permuted
        run, numel = 16, a.numel()
        if numel <= self.max_quantile_values:
            return a.reshape(-1).clone()
        step = -(-(numel // run) * run // self.max_quantile_values)  # in runs
        n_runs = -(-(numel // run) // step)
        return torch.as_strided(a, (n_runs, run), (step * run, 1)).clone().view(-1)

    def close(self) -> None:
        """End the window: keep the sums of its batches on the device.

        No transfer and no synchronisation here: :meth:`drain` moves the
        checkpoints of many windows to the CPU at once.
        """
        parts = self._parts
        if not parts:
            window = None  # the layer did not run in this window
        elif len(parts) == 1:
            window = parts[0]
        else:
            window = _merge(parts)
        self._ready.append(
            None if window is None else window._replace(sample=self._sample)
        )
        self.reset()

    def drain(self) -> dict[str, np.ndarray]:
        """The closed windows' statistics, on the CPU: ``(n_windows, ...)`` each.

        Keys are :data:`STORED_STATS` (``saturation`` only for bounded
        layers), ``class_<stat>`` (``(n_windows, n_classes, n_units)``, NaN
        for a class with no sample in the window) and ``quantiles``. A
        window in which the layer did not run reads NaN.
        """
        ready, self._ready = self._ready, []
        ran = [k for k, r in enumerate(ready) if r is not None]  # windows
        kept = [ready[k] for k in ran]
        n_windows, u = len(ready), self.plan.n_units
        sums = np.full((n_windows, len(self._rows), u), np.nan)
        shift = np.full((n_windows, u), np.nan)
        samples = np.full((n_windows, 1), np.nan)
        values = np.full((n_windows, 1), np.nan)
        if kept:
            # one transfer for all the windows
            sums[ran] = _to_numpy([r.totals for r in kept])
            shift[ran] = _to_numpy([r.shift for r in kept])
            samples[ran, 0] = [r.n for r in kept]
            values[ran, 0] = [r.n_values for r in kept]
        shifted_mean = sums[:, _SHIFTED] / values
        var = sums[:, _SQUARES] / values - shifted_mean**2
        mean = shift + shifted_mean
        out = {
            "active": sums[:, _ACTIVE] / samples,
            "mean": mean,
            "std": np.sqrt(np.maximum(var, 0)),
            "mean_abs": sums[:, self._rows["abs"]] / values
            if "abs" in self._rows
            else np.maximum(mean, 0),  # rounding must not make it negative
        }
        if "near" in self._rows:
            out["saturation"] = sums[:, self._rows["near"]] / values
        if self.n_classes:
            out.update(self._class_stats(ready, ran, values / samples))
        out = {k: v.astype(np.float32) for k, v in out.items()}
        if self.q:
            q = np.full((n_windows, len(self.q)), np.nan, np.float32)
            with_q = [k for k in ran if ready[k].sample is not None]
            if with_q:
                q[with_q] = self._quantiles([ready[k].sample for k in with_q])
            out["quantiles"] = q
        return out

    def _quantiles(self, samples: list[torch.Tensor]) -> np.ndarray:
        """numpy's default (linear) quantiles of each sample, ``(len, n_q)``.

        One transfer and one sort for all the samples: they are laid side by
        side, NaN-padded to the longest (NaN sorts last), and each row is
        read at its own length. A sample holding a NaN reads NaN, as in
        ``np.quantile``. A sort and a lookup are several times faster than
        ``np.quantile``.
        """
        lengths = np.array([len(v) for v in samples])
        flat = torch.cat(samples).cpu().double().numpy()
        values = np.full((len(samples), lengths.max()), np.nan)
        values[np.arange(lengths.max()) < lengths[:, None]] = flat
        has_nan = np.isnan(values).sum(1) > lengths.max() - lengths
        values.sort(axis=1)
        pos = np.asarray(self.q)[None, :] * (lengths[:, None] - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, lengths[:, None] - 1)
        frac = pos - lo
        which = np.arange(len(samples))[:, None]
        below, above = values[which, lo], values[which, hi]
        # numpy's lerp: exact at both ends
        out = np.where(
            frac >= 0.5,
            above - (above - below) * (1 - frac),
            below + (above - below) * frac,
        )
        out[has_nan] = np.nan
        return out

    def _class_stats(self, ready, ran, positions) -> dict[str, np.ndarray]:
        """Per-class statistics ``(n_windows, n_classes, n_units)`` from the
        windows' per-class sums; ``ran`` are the windows in which the layer
        ran, ``positions`` the values per sample."""
        n_windows, c, u = len(ready), self.n_classes, self.plan.n_units
        sums = np.full((n_windows, 3, c, u), np.nan)
        counts = np.full((n_windows, c, 1), np.nan)
        with_classes = [k for k in ran if ready[k].classes is not None]
        if with_classes:
            sums[with_classes] = _to_numpy([ready[k].classes for k in with_classes])
            counts[with_classes, :, 0] = _to_numpy(
                [ready[k].counts for k in with_classes]
            )
        n_values = counts * positions[:, :, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "class_active": sums[:, _CLASS_ACTIVE] / counts,
                "class_mean": sums[:, _CLASS_VALUES] / n_values,
                "class_mean_abs": sums[:, _CLASS_ABS] / n_values,
            }


def _merge(parts: list[_Sums]) -> _Sums:
    """The sums of several batches around the first batch's shift, in float64.

    Moving a batch's sums from its shift ``t`` to ``s``, with ``e = t - s``:
    ``sum (a - s) = sum (a - t) + n e`` and
    ``sum (a - s)^2 = sum (a - t)^2 + 2 e sum (a - t) + n e^2``; the other
    sums do not depend on the shift.
    """
    n, n_values, shifts, totals, classes, counts, _ = zip(*parts, strict=True)
    device = totals[0].device
    wide = torch.float32 if device.type == "mps" else torch.float64  # no f64 on MPS
    shifts = torch.stack(shifts).to(wide)
    shift = shifts[0]
    e = shifts - shift  # (B, U)
    counted = torch.tensor(n_values, dtype=wide, device=device)[:, None]
    t = torch.stack(totals).to(wide)  # (B, rows, U)
    merged = t.sum(0)
    merged[_SHIFTED] = (t[:, _SHIFTED] + counted * e).sum(0)
    merged[_SQUARES] = (t[:, _SQUARES] + 2 * e * t[:, _SHIFTED] + counted * e**2).sum(0)
    merged_classes = merged_counts = None
    if all(c is not None for c in classes):
        # sums of unshifted values: they add up as they are
        merged_classes = torch.stack(classes).to(wide).sum(0)
        merged_counts = torch.stack(counts).to(wide).sum(0)
    return _Sums(sum(n), sum(n_values), shift, merged, merged_classes, merged_counts)


def _to_numpy(tensors: list[torch.Tensor]) -> np.ndarray:
    """Stack same-shaped tensors of one device and move them to the CPU at
    once, as float64."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:  # windows of one batch (float32) and merged (float64)
        tensors = [t.double() for t in tensors]
    return torch.stack(tensors).cpu().double().numpy()


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
