"""Time and memory of streamed CKA and of linear probes, side by side.

Not a test: it prints figures and ratios measured in one process, so that
the ratios hold on any machine (absolute seconds do not).

    python benchmarks/bench_representations.py [--rows N] [--repeat R] [--threads T]

Setup: the MLP of ``bench_transform.py`` (64 -> 512 -> 512 -> 512 -> 10,
ReLU modules), fitted for one epoch, on CPU, batches of 1024; its four
Linear layers ``fc1``..``fc4`` (1,546 features in all).

1. **CKA vs one capture pass.** ``skviz.represent.cka(net, X, layers)``
   (exact, streamed: one forward pass per batch plus the float64-summed
   cross-covariances) against one ``net.transform_layers(X, layers)`` into
   memory, interleaved rounds, median. Target: at most 1.5x.
2. **Memory.** Peak RSS minus RSS before the call, for ``cka`` on
   ``--rows`` and on a tenth of them, each in a fresh subprocess
   (``_memory.py``). Target: within 10%.
3. **The Gram-matrix approach** (what small CKA packages do: capture every
   layer, form each layer's centred ``n x n`` Gram matrix, compare them):
   the largest n whose Gram matrices fit in 8 GiB, computed from
   ``(layers + 1) * n**2 * 8`` bytes (the layers' Gram matrices and one
   product), and its time beside ``cka`` at ``--gram-rows`` rows, where both
   run (values checked equal).
4. **Probes.** ``probe_layers`` over the four layers: forward passes counted
   (one capture pass, plus one 5-sample pass ordering the layers), the
   capture's time and the probes' summed fit time.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory import emit, measure_peak, run_child
from bench_transform import HIDDEN, N_CLASSES, N_FEATURES, build

import skviz
from skviz.represent import cka, probe_layers

LAYERS = ["fc1", "fc2", "fc3", "fc4"]
TIME_TARGET = 1.5
MEMORY_TARGET = 0.10
GRAM_BUDGET = 8 * 2**30
MB = 1e6


def gram_cka(net, X, layers, batch_size):
    """The Gram-matrix approach: all activations, one n x n matrix per layer."""
    acts = net.transform_layers(X, layers, batch_size=batch_size)
    grams = []
    for name in layers:
        A = torch.from_numpy(acts.pop(name)).double()
        K = A @ A.T
        # H K H without forming H: subtract row and column means, add the mean.
        mean_rows = K.mean(dim=0, keepdim=True)
        K -= mean_rows
        K -= mean_rows.T
        K += mean_rows.mean()
        grams.append(K)
    hsic = np.array([[float((Ki * Kj).sum()) for Kj in grams] for Ki in grams])
    d = np.sqrt(np.diag(hsic))
    return hsic / np.outer(d, d)


def gram_max_rows(n_layers: int, budget: int = GRAM_BUDGET) -> int:
    return math.isqrt(budget // (8 * (n_layers + 1)))


def interleaved(calls: dict, repeat: int) -> dict[str, list[float]]:
    """Wall times of every call, round-robin, after one warm-up each."""
    for fn in calls.values():
        fn()
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def memory_child(args) -> None:
    net, X = build(args.rows, args.batch_size, args.seed)
    _, report = measure_peak(
        lambda: cka(net, X, LAYERS, batch_size=args.batch_size, progress=False)
    )
    emit(report)


class Forwards:
    """Counts forward passes of a module (and rows per pass) with a pre-hook."""

    def __init__(self, module):
        self.rows: list[int] = []
        self.handle = module.register_forward_pre_hook(
            lambda _m, inputs: self.rows.append(len(inputs[0]))
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--gram-rows", type=int, default=4000)
    parser.add_argument("--probe-rows", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return 0

    print(
        f"skviz {skviz.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, torch threads {torch.get_num_threads()} "
        f"(os.cpu_count() = {os.cpu_count()}), load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"MLP {N_FEATURES}-{HIDDEN}-{HIDDEN}-{HIDDEN}-{N_CLASSES}, layers {LAYERS}, "
        f"batch size {args.batch_size}, median of {args.repeat} interleaved rounds"
    )
    bs = args.batch_size
    net, X = build(args.rows, bs, args.seed)

    # 1. CKA against one capture pass over the same layers.
    times = interleaved(
        {
            "transform_layers": lambda: net.transform_layers(
                X, LAYERS, batch_size=bs, progress=False
            ),
            "cka (streamed)": lambda: cka(
                net, X, LAYERS, batch_size=bs, progress=False
            ),
        },
        args.repeat,
    )
    base = statistics.median(times["transform_layers"])
    print(f"\n1. {args.rows} rows")
    for name, values in times.items():
        print(
            f"   {name:<18} median {statistics.median(values):7.2f} s  "
            f"(min {min(values):.2f} s)  {statistics.median(values) / base:5.2f}x"
        )
    ratio = statistics.median(times["cka (streamed)"]) / base
    per_round = [
        c / t
        for c, t in zip(times["cka (streamed)"], times["transform_layers"], strict=True)
    ]
    print(
        f"   cka / transform_layers: {ratio:.2f}x (rounds {min(per_round):.2f}-"
        f"{max(per_round):.2f}); target <= {TIME_TARGET}x: "
        f"{'PASS' if ratio <= TIME_TARGET else 'FAIL'}"
    )

    # 3. The Gram-matrix approach, where it can run.
    n_max = gram_max_rows(len(LAYERS))
    features = 3 * HIDDEN + N_CLASSES
    # float64 sums of the cross-products and a float32 buffer (see _hsic.py).
    accumulator = 12 * features**2
    small = X[: args.gram_rows]
    gram_times = interleaved(
        {
            "gram": lambda: gram_cka(net, small, LAYERS, bs),
            "cka": lambda: cka(net, small, LAYERS, batch_size=bs, progress=False),
        },
        args.repeat,
    )
    diff = np.abs(gram_cka(net, small, LAYERS, bs) - cka(net, small, LAYERS).to_numpy())
    g, c = (statistics.median(gram_times[k]) for k in ("gram", "cka"))
    print(
        f"\n3. Gram-matrix approach: {len(LAYERS)} Gram matrices + one product of "
        f"n x n float64 fit 8 GiB up to n = {n_max:,} rows "
        f"(skviz: any n; its accumulator is {accumulator / MB:.0f} MB whatever n)"
    )
    print(
        f"   at {args.gram_rows} rows: gram {g:.2f} s, skviz cka {c:.2f} s, "
        f"gram / cka {g / c:.1f}x; max |difference| {diff.max():.1e}"
    )

    # 4. Probes: one capture pass, then the probes' own fitting.
    rng = np.random.default_rng(args.seed)
    Xp = X[: args.probe_rows]
    yp = rng.integers(0, N_CLASSES, size=len(Xp))
    with Forwards(net.module_) as forwards:
        start = time.perf_counter()
        probes = probe_layers(net, Xp, yp, LAYERS, batch_size=bs, include_input=False)
        total = time.perf_counter() - start
    capture = probes.attrs["capture_time"]
    fit = probes["fit_time"].sum()
    print(
        f"\n4. probe_layers over {len(LAYERS)} layers, {len(Xp)} rows, "
        f"{probes.attrs['n_splits']}-fold CV: forward passes {len(forwards.rows)} "
        f"(rows per pass {forwards.rows[:3]}{'...' if len(forwards.rows) > 3 else ''}"
        f"; one capture pass of {-(-len(Xp) // bs)} batches + one 5-sample pass "
        "ordering the layers)"
    )
    print(
        f"   total {total:.2f} s: capture {capture:.2f} s ({capture / total:.1%}), "
        f"probe fitting {fit:.2f} s ({fit / total:.1%})"
    )

    # 2. Memory: peak of cka at --rows vs at a tenth, fresh processes.
    if not args.skip_memory:
        del net, X
        gc.collect()
        here = str(Path(__file__).resolve())
        common = ["--batch-size", str(bs), "--seed", str(args.seed)]
        if args.threads is not None:
            common += ["--threads", str(args.threads)]
        reports = {
            rows: run_child([here, "--memory-child", "--rows", str(rows), *common])
            for rows in (args.rows // 10, args.rows)
        }
        small_rep, large_rep = reports[args.rows // 10], reports[args.rows]
        growth = large_rep.delta / small_rep.delta - 1
        print("\n2. peak RSS of one cka call minus RSS before it (fresh process each)")
        for rows, rep in reports.items():
            print(
                f"   {rows:>8} rows: before {rep.baseline / MB:7.1f} MB, peak "
                f"{rep.peak / MB:7.1f} MB, delta {rep.delta / MB:6.1f} MB"
            )
        print(
            f"   delta at {args.rows} rows vs {args.rows // 10}: {growth:+.1%}; "
            f"target within {MEMORY_TARGET:.0%}: "
            f"{'PASS' if abs(growth) <= MEMORY_TARGET else 'FAIL'}"
        )
        if not large_rep.exact:
            print("   note: peaks are process-lifetime maxima (no VmHWM reset).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
