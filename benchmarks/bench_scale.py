"""Out-of-core and distributed extraction: memory, throughput, dask.

Side by side in one run, with the MLP of ``bench_transform.py``
(64 -> 512 -> 512 -> 512 -> 10, batches of 1024) on CPU:

1. peak RSS of ``transform_layer(X, layer, out=memmap)`` on 2,000,000 rows,
   measured in a fresh subprocess; target: the call's peak minus the RSS
   before it <= 1.2 x (one batch in and out + model + 64 MiB);
2. throughput of that memmap run vs the in-memory ``transform_layer`` on
   200,000 rows, per row; target: the memmap run within 1.2x;
3. rows/s of the lazy dask path on a 2-worker ``LocalCluster`` (started here
   on 127.0.0.1 and shut down at the end) beside the local path.

Not a test: it prints figures and PASS/FAIL against the issue's targets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _memory import emit, measure_peak, run_child
from bench_transform import HIDDEN, N_FEATURES, build

MiB = 2**20
MEMORY_FACTOR = 1.2
THROUGHPUT_FACTOR = 1.2


def model_bytes(net) -> int:
    return sum(p.numel() * p.element_size() for p in net.module_.parameters())


def batch_bytes(batch_size: int, width: int) -> int:
    return batch_size * (N_FEATURES + width) * 4


def memmap_run(net, X, layer, batch_size, folder: Path):
    """The out-of-core call under study; returns (seconds, result memmap)."""
    width = net.transform_layer(X[:1], layer).shape[1]
    out = np.lib.format.open_memmap(
        folder / "activations.npy", mode="w+", dtype=np.float32, shape=(len(X), width)
    )
    start = time.perf_counter()
    result = net.transform_layer(X, layer, out=out, batch_size=batch_size)
    return time.perf_counter() - start, result


def memory_child(args) -> None:
    net, X = build(args.rows, args.batch_size, seed=0)
    net.transform_layer(X[:4096], args.layer)  # warm-up: lazy imports, allocator
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        (seconds, out), report = measure_peak(
            lambda: memmap_run(net, X, args.layer, args.batch_size, Path(folder))
        )
        report.extra = {"seconds": seconds, "model": model_bytes(net)}
        check = out[:: max(1, len(X) // 1000)].copy()
        del out
    expected = net.transform_layer(X[:: max(1, len(X) // 1000)], args.layer)
    report.extra["matches"] = bool(np.allclose(check, expected, rtol=1e-5, atol=1e-6))
    emit(report)


def throughput(args) -> tuple[list[float], list[float]]:
    """Rows/s of in-memory transform_layer (200k rows) and memmap (all rows)
    in ``--repeat`` interleaved rounds: one run of each is at the mercy of
    whatever else the machine does meanwhile."""
    net, X = build(args.rows, args.batch_size, seed=0)
    small = X[: args.memory_rows]
    net.transform_layer(small[:4096], args.layer)
    in_memory, memmap = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = net.transform_layer(small, args.layer, batch_size=args.batch_size)
        in_memory.append(len(small) / (time.perf_counter() - start))
        del result
        with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
            seconds, out = memmap_run(net, X, args.layer, args.batch_size, Path(folder))
            del out
        memmap.append(len(X) / seconds)
    return in_memory, memmap


def dask_throughput(args) -> float | None:
    try:
        import dask.array as da
        from distributed import Client, LocalCluster, wait
    except ImportError:
        print(
            "dask path skipped: dask/distributed not installed (pip install 'skviz[scale]')"
        )
        return None
    net, _ = build(4096, args.batch_size, seed=0)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster),
    ):
        # Generated and kept on the workers: X never exists on the driver,
        # and making it is not part of the time.
        rng = da.random.default_rng(0)
        X = rng.standard_normal(
            (args.dask_rows, N_FEATURES),
            chunks=(args.dask_chunk, N_FEATURES),
            dtype=np.float32,
        ).persist()
        wait(X)
        lazy = net.transform_layer(X, args.layer, batch_size=args.batch_size)
        # Warm-up on every chunk, so that both workers have imported torch
        # and unpickled the net before the timed pass.
        lazy.sum(axis=0).compute()
        start = time.perf_counter()
        lazy.sum(axis=0).compute()
        return args.dask_rows / (time.perf_counter() - start)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--memory-rows", type=int, default=200_000)
    parser.add_argument("--dask-rows", type=int, default=400_000)
    parser.add_argument("--dask-chunk", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--layer", default="fc3", help="default: last hidden layer")
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds")
    parser.add_argument("--tmp", default=None, help="folder for the memmap files")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return 0
    common = [
        "--rows",
        str(args.rows),
        "--batch-size",
        str(args.batch_size),
        "--layer",
        args.layer,
    ]
    if args.tmp:
        common += ["--tmp", args.tmp]
    print(
        f"{args.rows:,} x {N_FEATURES} rows, layer {args.layer} ({HIDDEN} wide), batches of {args.batch_size}"
    )

    rep = run_child([__file__, "--memory-child", *common], timeout=3600)
    budget = MEMORY_FACTOR * (
        batch_bytes(args.batch_size, HIDDEN) + rep.extra["model"] + 64 * MiB
    )
    ok_memory = rep.delta <= budget and rep.extra["matches"]
    print("\npeak memory of transform_layer(..., out=memmap), fresh subprocess")
    print(f"  RSS before call        {rep.baseline / MiB:9.1f} MiB")
    print(f"  peak - before          {rep.delta / MiB:9.1f} MiB   (exact: {rep.exact})")
    print(f"  budget 1.2 x (batch + model + 64 MiB) {budget / MiB:9.1f} MiB")
    print(f"  result on disk         {args.rows * HIDDEN * 4 / MiB:9.1f} MiB")
    print(f"  values match in-memory: {rep.extra['matches']}")
    print(f"  -> {'PASS' if ok_memory else 'FAIL'}")

    in_memory_rounds, memmap_rounds = throughput(args)
    in_memory, memmap = np.median(in_memory_rounds), np.median(memmap_rounds)
    ratio = in_memory / memmap
    ok_speed = ratio <= THROUGHPUT_FACTOR
    print(
        f"\nthroughput (rows/s, same process, median of {args.repeat} interleaved rounds)"
    )
    print(
        f"  in memory, {args.memory_rows:,} rows   {in_memory:12,.0f}   "
        f"(rounds {min(in_memory_rounds):,.0f} .. {max(in_memory_rounds):,.0f})"
    )
    print(
        f"  memmap, {args.rows:,} rows    {memmap:12,.0f}   "
        f"(rounds {min(memmap_rounds):,.0f} .. {max(memmap_rounds):,.0f})"
    )
    print(
        f"  time per row, memmap / in-memory = {ratio:.2f}x (target <= {THROUGHPUT_FACTOR}x)"
    )
    print(f"  -> {'PASS' if ok_speed else 'FAIL'}")

    dask_rate = dask_throughput(args)
    if dask_rate is not None:
        print(f"\ndask, 2-worker LocalCluster (1 thread each), {args.dask_rows:,} rows")
        print(
            f"  rows/s {dask_rate:12,.0f}   ({dask_rate / in_memory:.2f}x the local in-memory path)"
        )
    return 0 if ok_memory and ok_speed else 1


if __name__ == "__main__":
    sys.exit(main())
