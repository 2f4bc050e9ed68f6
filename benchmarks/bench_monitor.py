"""Watching activations during fit: skviz's ActivationMonitor vs. skorch's SkorchDoctor.

Not a test: it prints figures and ratios measured side by side in one
process, so that the ratios hold on any machine (absolute seconds do not).

    python benchmarks/bench_monitor.py [--repeat R] [--epochs E] [--threads T] [--check]

Setup (issue 15, "Performance"): an MLP 64 -> 512 -> 512 -> 512 -> 10 with
``nn.ReLU`` modules ``act1..act3``, trained with Adam (lr 1e-3) on
scikit-learn's 8 x 8 digits (1,797 samples) in batches of 128, on CPU, no
validation split.

1. **Fit overhead.** The same fit without a callback, with an
   ``ActivationMonitor(["act1", "act2", "act3"], every=1)`` (every statistic,
   quantiles included) and with skorch's ``SkorchDoctor`` restricted to the
   same three layers (``match_fn``; it then records their activations only,
   no gradients). Runs are interleaved (``--repeat`` rounds) and the medians
   compared, in wall time and in process CPU time (which suffers less from
   other processes on a shared machine); "fastest" is the ratio of the
   fastest run of each, which bursts of load from other processes affect
   least. Target: the monitor's median ratio at most 1.15x the plain fit. SkorchDoctor with its defaults (every layer, gradients,
   parameter updates) is timed too. The time spent
   in the monitor's own hooks and callback methods (layer discovery,
   checkpoint writes, flushes) is measured inside each monitored fit as a
   cross-check that depends less on the load of other processes.
2. **Memory of what is kept.** Bytes of the monitor's recording
   (``recording_.nbytes``, allocated capacity) vs. the arrays a
   SkorchDoctor keeps after the same fit: restricted to the same three
   layers (``activation_recs_``), and with its defaults (every layer's
   activations, gradients and parameter updates). Target: at least 100x
   smaller. Per checkpoint the monitor keeps 4 float32 per unit (active
   fraction, mean, std, mean |a|; the dormancy score is derived when read)
   plus 5 quantiles per layer, the doctor ``batch_size`` float32 per unit,
   so against the same three layers the ratio is about ``batch_size / 4``
   (32 for batches of 128). The table that follows shows both per recorded
   batch for batches of 32, 128 and 512 samples: the monitor's is flat in
   the batch size, the doctor's grows with it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier
from skorch.helper import SkorchDoctor
from torch import nn

from skviz.record import ActivationMonitor

LAYERS = ["act1", "act2", "act3"]


class MLP(nn.Module):
    """64 -> 512 -> 512 -> 512 -> 10, ReLU modules act1..act3."""

    def __init__(self, width=512):
        super().__init__()
        self.fc1 = nn.Linear(64, width)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(width, width)
        self.act2 = nn.ReLU()
        self.fc3 = nn.Linear(width, width)
        self.act3 = nn.ReLU()
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        x = self.act1(self.fc1(x))
        x = self.act2(self.fc2(x))
        return self.out(self.act3(self.fc3(x)))


def data():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def make_net(epochs, batch_size=128, callbacks=()):
    torch.manual_seed(0)
    return NeuralNetClassifier(
        MLP,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        verbose=0,
        callbacks=list(callbacks),
    )


def _timed(method):
    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.spent_ = getattr(self, "spent_", 0.0) + time.perf_counter() - start

    return timed


class TimedMonitor(ActivationMonitor):
    """The monitor, with a stopwatch around all its own work: its hooks and
    every callback method (discovery, checkpoint writes, flushes)."""


for _name in (
    "_on_run",
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
):
    setattr(TimedMonitor, _name, _timed(getattr(ActivationMonitor, _name)))


class Clock:
    """Wall and process CPU seconds of a block: CPU time is what a fit costs
    the machine, and suffers less from other processes than wall time."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def fit_plain(X, y, epochs, batch_size=128):
    net = make_net(epochs, batch_size)
    with Clock() as clock:
        net.fit(X, y)
    return clock, net


def fit_monitor(X, y, epochs, batch_size=128):
    mon = TimedMonitor(LAYERS, every=1)
    mon.spent_ = 0.0
    net = make_net(epochs, batch_size, [mon])
    with Clock() as clock:
        net.fit(X, y)
    return clock, mon


def fit_doctor(X, y, epochs, batch_size=128, everything=False):
    net = make_net(epochs, batch_size)
    match = None if everything else (lambda name: name in LAYERS)
    doctor = SkorchDoctor(net, match_fn=match)
    with Clock() as clock:
        doctor.fit(X, y)
    return clock, doctor


def _nbytes(obj) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_nbytes(v) for v in obj)
    if isinstance(obj, float | np.floating):
        return 8
    return 0


def doctor_bytes(doctor, everything=False) -> int:
    """Bytes of the arrays a SkorchDoctor keeps (activations; with
    ``everything`` also its gradients and parameter updates)."""
    kept = _nbytes(doctor.activation_recs_)
    if everything:
        kept += _nbytes(doctor.gradient_recs_) + _nbytes(doctor.param_update_recs_)
    return kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="exit 1 on a miss")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y = data()
    n_batches = args.epochs * int(np.ceil(len(X) / 128))
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s); MLP 64-512-512-512-10, "
        f"{len(X)} samples, batches of 128, {args.epochs} epochs "
        f"({n_batches} batches); monitored: {LAYERS}, every batch\n"
    )
    # warm-up: allocator, first-call costs
    fit_plain(X, y, 1)
    fit_monitor(X, y, 1)
    fit_doctor(X, y, 1)
    fits = {
        "plain": lambda: fit_plain(X, y, args.epochs),
        "monitor": lambda: fit_monitor(X, y, args.epochs),
        "doctor": lambda: fit_doctor(X, y, args.epochs),
        "doctor_all": lambda: fit_doctor(X, y, args.epochs, everything=True),
    }
    wall = {k: [] for k in fits}
    cpu = {k: [] for k in fits}
    spent = []
    for _ in range(args.repeat):
        for key, fit in fits.items():
            clock, obj = fit()
            wall[key].append(clock.wall)
            cpu[key].append(clock.cpu)
            if key == "monitor":
                spent.append(obj.spent_ / clock.wall)
    labels = {
        "plain": "plain fit",
        "monitor": "skviz ActivationMonitor (3 layers)",
        "doctor": "SkorchDoctor (same 3 layers)",
        "doctor_all": "SkorchDoctor (defaults: everything)",
    }
    print("1. fit time (median of interleaved rounds)")
    print(
        f"   {'':36s} {'wall s':>7s} {'ratio':>6s} {'rounds':>13s} "
        f"{'fastest':>8s} {'cpu s':>7s} {'ratio':>6s}"
    )
    ratios = {}
    for key in fits:
        r_wall = [w / p for w, p in zip(wall[key], wall["plain"], strict=True)]
        r_cpu = [c / p for c, p in zip(cpu[key], cpu["plain"], strict=True)]
        ratios[key] = (statistics.median(r_wall), statistics.median(r_cpu))
        print(
            f"   {labels[key]:36s} {statistics.median(wall[key]):7.3f} "
            f"{ratios[key][0]:5.2f}x {min(r_wall):5.2f}..{max(r_wall):.2f}x "
            f"{min(wall[key]) / min(wall['plain']):7.2f}x "
            f"{statistics.median(cpu[key]):7.3f} {ratios[key][1]:5.2f}x"
        )
    share = statistics.median(spent)
    print(
        f"   time inside the monitor's hooks and callbacks: {share:.1%} of the "
        f"monitored fit (1 / (1 - share) = {1 / (1 - share):.2f}x)\n"
    )

    print("2. memory of what is kept after the fit")
    _, mon = fit_monitor(X, y, args.epochs)
    _, doctor = fit_doctor(X, y, args.epochs)
    _, doctor_all = fit_doctor(X, y, args.epochs, everything=True)
    kept_mon = mon.recording_.nbytes
    kept_doc = doctor_bytes(doctor)
    kept_all = doctor_bytes(doctor_all, everything=True)
    print(f"   skviz ActivationMonitor recording_.nbytes:   {kept_mon:>14,} bytes")
    print(
        f"   SkorchDoctor, same 3 layers (activations):  {kept_doc:>14,} bytes "
        f"({kept_doc / kept_mon:,.0f}x the monitor's)"
    )
    print(
        f"   SkorchDoctor, defaults (all layers, grads): {kept_all:>14,} bytes "
        f"({kept_all / kept_mon:,.0f}x the monitor's)\n"
    )

    print("   bytes per recorded batch, by samples per batch (1 epoch each)")
    print(f"   {'batch size':>10s} {'monitor':>12s} {'SkorchDoctor':>14s}")
    per_mon = []
    for batch_size in (32, 128, 512):
        _, m = fit_monitor(X, y, 1, batch_size)
        _, d = fit_doctor(X, y, 1, batch_size)
        rec = m.recording_
        # committed rows only: capacity is reserved ahead by epochs x batches
        per = sum(rec.store("train").view(k)[:1].nbytes for k in rec.store("train"))
        per_mon.append(per)
        per_doc = doctor_bytes(d) / d.num_steps_
        print(f"   {batch_size:>10d} {per:>12,} {per_doc:>14,.0f}")
    print()
    ok_time = ratios["monitor"][0] <= 1.15
    ok_mem = kept_doc / kept_mon >= 100
    ok_mem_all = kept_all / kept_mon >= 100
    ok_flat = len(set(per_mon)) == 1
    print(
        f"targets: overhead <= 1.15x (wall): {'met' if ok_time else 'MISSED'}; "
        "memory >= 100x smaller: vs. the doctor on the same 3 layers "
        f"{'met' if ok_mem else 'MISSED'}, vs. the doctor's defaults "
        f"{'met' if ok_mem_all else 'MISSED'}; "
        f"flat in batch size: {'met' if ok_flat else 'MISSED'}"
    )
    return 0 if (ok_time and ok_mem and ok_flat) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
