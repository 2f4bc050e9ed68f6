"""Recording weights during fit and animating their updates: skviz vs. seed 003.

Not a test: it prints figures and ratios measured side by side in one
process, so that the ratios hold on any machine (absolute seconds do not).

    python benchmarks/bench_record.py [--repeat R] [--frames F] [--color-frames C]

Setup (issue 4, "Performance"): seed 003's network (l1..l5 =
784-1000-100-10-10-10, ReLU, dropout) trained with Adam (lr 1e-3) in
batches of 16 on CPU with one torch thread and no validation split. MNIST
cannot be downloaded, so scikit-learn's ``load_digits`` images are
upsampled to 28 x 28; the fit overhead is also shown for the 64-input
variant of ``examples/training/plot_weight_updates.py``.

1. **Fit overhead.** The same fit with and without a ``WeightRecorder``
   recording ``l2..l5.weight`` after every batch; runs are interleaved
   (``--repeat`` rounds) and the medians compared (target: <= 1.10x, on the
   seed's net). As a cross-check that does not depend on how the load of
   other processes differs between two runs, the time spent inside the
   recorder's own hooks is measured within each recorded fit. The memory
   of the recording is reported as its array sizes, as ``nbytes_``, as the
   process's RSS growth over the fit and as the RSS given back when the
   recording is released.
2. **100-frame GIF.** seed 003's diagram (nodes l2..l5 = 100, 10, 10, 10
   units; edges = the l3, l4, l5 weights) from one recording: the baseline
   runs the seed's own loops (``seed003_baseline.py``: transposition,
   per-batch changes, thresholds, per-edge colours, a new LineCollection
   per frame, pillow writer); skviz runs ``NetworkUpdateAnimation``.
   Target: skviz <= 0.5x the baseline's time.
3. **Colours for 1,000 frames.** The seed's ``create_colors`` loop vs.
   ``skviz.animate.update_colors`` on the same update arrays with
   the same centre and threshold. Target: >= 50x faster. The colours are
   compared, and the thresholds skviz computes itself are compared with
   the seed's.

The seed's own recording (``state_dict()[k].to("cpu")`` before every batch)
is also run for a few batches to show that on a CPU it stores one live
tensor many times over; the baseline's drawing loops therefore get skviz's
(correct) snapshots as input.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed003_baseline as seed

from skviz.animate import (
    NetworkUpdateAnimation,
    update_colors,
    update_thresholds,
)
from skviz.record import WeightRecorder

RECORDED = ["l2.weight", "l3.weight", "l4.weight", "l5.weight"]
DIAGRAM = ["l3", "l4", "l5"]  # edges of the seed's l2..l5 diagram
COLUMNS = ["l2", "l3", "l4", "l5"]


def data(n_inputs=784):
    """load_digits as the seed's input: 8 x 8 images upsampled to 28 x 28.

    MNIST cannot be downloaded here; bilinear 28 x 28 digits give the
    seed's exact network (784 inputs). ``n_inputs=64`` keeps the 8 x 8
    pixels (the network of ``examples/training/plot_weight_updates.py``).
    """
    images, y = load_digits(return_X_y=True)
    X = torch.from_numpy(images.reshape(-1, 1, 8, 8) / 16.0).float()
    if n_inputs == 784:
        X = torch.nn.functional.interpolate(X, size=(28, 28), mode="bilinear")
    elif n_inputs != 64:
        raise ValueError("n_inputs must be 784 or 64")
    return X.reshape(len(X), -1).numpy(), y.astype(np.int64)


def make_net(epochs, callbacks, n_inputs=784, seed_value=0):
    torch.manual_seed(seed_value)
    return NeuralNetClassifier(
        seed.SeedNet,
        module__n_inputs=n_inputs,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=16,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        callbacks=callbacks,
        device="cpu",
        verbose=0,
    )


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


class TimedRecorder(WeightRecorder):
    """WeightRecorder that adds up the time spent in its own hooks."""

    def initialize(self):
        self.hook_seconds_ = 0.0
        return super().initialize()

    def _timed(self, hook, *args, **kwargs):
        t0 = time.perf_counter()
        hook(*args, **kwargs)
        self.hook_seconds_ += time.perf_counter() - t0

    def on_train_begin(self, net, **kwargs):
        self._timed(super().on_train_begin, net, **kwargs)

    def on_epoch_begin(self, net, **kwargs):
        self._timed(super().on_epoch_begin, net, **kwargs)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self._timed(super().on_grad_computed, net, named_parameters, **kwargs)

    def on_batch_end(self, net, **kwargs):
        self._timed(super().on_batch_end, net, **kwargs)

    def on_train_end(self, net, **kwargs):
        self._timed(super().on_train_end, net, **kwargs)


def bench_fit(X, y, epochs, repeat):
    """Interleaved fits without and with the recorder.

    Returns the wall times of both, and for each recorded fit the share of
    its time spent inside the recorder's hooks (measured within that fit,
    so it does not depend on how the load of other processes differs
    between two runs).
    """
    plain, recorded, hook_share = [], [], []
    for _ in range(repeat):
        for kind in ("plain", "recorded"):
            rec = TimedRecorder(RECORDED)
            net = make_net(
                epochs, [rec] if kind == "recorded" else [], n_inputs=X.shape[1]
            )
            net.initialize()
            t, _ = timed(lambda net=net: net.partial_fit(X, y))
            if kind == "recorded":
                recorded.append(t)
                hook_share.append(rec.hook_seconds_ / t)
            else:
                plain.append(t)
    return plain, recorded, hook_share


def _rss() -> int:
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss


def recording_memory(X, y, epochs):
    """Array bytes of the recording, and what it costs the process (RSS).

    Returns the recorder, the bytes its arrays need (rows x elements x 4 plus
    the int64 step/epoch/batch index), the RSS growth over the fit (which
    also holds the optimizer state) and the RSS returned when the recording
    alone is released.
    """
    rec = WeightRecorder(RECORDED)
    net = make_net(epochs, [rec], n_inputs=X.shape[1])
    net.initialize()
    before = _rss()
    net.partial_fit(X, y)
    after = _rss()
    n = rec.n_steps_
    values = sum(int(np.prod(rec.shapes_[p])) for p in rec.param_names_)
    expected = n * values * 4 + n * 3 * 8
    summary = (n, rec.nbytes_)
    rec.initialize()  # drops the recording, keeps the net
    released = after - _rss()
    return summary, expected, after - before, released


def seed_aliasing(X, y, batches=5):
    """Run the seed's own recording loop; count distinct l3 snapshots."""
    torch.manual_seed(0)
    net = seed.SeedNet(n_inputs=X.shape[1])
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(
            torch.from_numpy(X[: 16 * batches]), torch.from_numpy(y[: 16 * batches])
        ),
        batch_size=16,
    )
    history = seed.seed_training_loop(net, loader)
    snaps = [t.detach().numpy() for t in history["l3"]]
    distinct = len({s.tobytes() for s in snaps})
    same_object = all(
        t.data_ptr() == history["l3"][0].data_ptr() for t in history["l3"]
    )
    return len(snaps), distinct, same_object


def baseline_pipeline(snapshots, n_frames, out):
    """The seed's loops from per-batch snapshots to the GIF, timed by stage."""
    times = {}
    t0 = time.perf_counter()
    histories = [seed.transpose_history(s) for s in snapshots]
    changes = [seed.weight_changes_loops(h) for h in histories]
    times["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tf_lists, ave_lists = seed.seed_thresholds(changes)
    colors_list = [
        seed.create_colors(changes, b, tf_lists, ave_lists) for b in range(n_frames)
    ]
    times["colours"] = time.perf_counter() - t0
    nodes = [snapshots[0][0].shape[1], *(s[0].shape[0] for s in snapshots)]
    t0 = time.perf_counter()
    seed.render_gif(nodes, colors_list, COLUMNS, str(out), n_frames=n_frames)
    times["render"] = time.perf_counter() - t0
    return times, changes


def skviz_pipeline(rec, n_frames, out):
    times = {}
    t0 = time.perf_counter()
    # the seed's whole diagram (100 units in l2, not the default 12) in the
    # seed's figure, so that both draw the same 1,200 edges
    anim = NetworkUpdateAnimation.from_recorder(
        rec, DIAGRAM, frames=n_frames, labels=COLUMNS, max_units=100
    )
    times["colours"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    anim.plot(figsize=(10, 5), linewidth=1.0)
    anim.save(out, fps=10, progress=False)
    times["render"] = time.perf_counter() - t0
    import matplotlib.pyplot as plt

    plt.close(anim.figure_)
    return times, anim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved fit rounds")
    parser.add_argument("--fit-epochs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=100, help="GIF frames")
    parser.add_argument("--color-frames", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=None, help="keep the GIFs here")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    torch.set_num_threads(args.threads)
    X, y = data(784)
    per_epoch = -(-len(X) // 16)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s), {platform.machine()}"
    )
    print(
        f"seed 003's net l1..l5 (784-1000-100-10-10-10), load_digits upsampled to "
        f"28 x 28 {X.shape}, batch 16, {per_epoch} batches/epoch, Adam, CPU"
    )

    # -- 1. fit overhead -------------------------------------------------
    overheads = []
    for n_inputs in (784, 64):
        Xi = X if n_inputs == 784 else data(64)[0]
        plain, recorded, share = bench_fit(Xi, y, args.fit_epochs, args.repeat)
        mp, mr = statistics.median(plain), statistics.median(recorded)
        in_run = 1 / (1 - statistics.median(share))
        overheads.append(mr / mp)
        what = "the seed's net" if n_inputs == 784 else "the example's 64-input net"
        print(
            f"\n[1] fit of {what}, {args.fit_epochs} epochs "
            f"({args.fit_epochs * per_epoch} batches), {args.repeat} interleaved rounds"
        )
        print(
            f"    without recorder : median {mp:.3f} s  {[round(t, 3) for t in plain]}"
        )
        print(
            f"    with recorder    : median {mr:.3f} s  {[round(t, 3) for t in recorded]}"
        )
        print(
            f"    overhead         : {mr / mp:.3f}x (medians), "
            f"{min(recorded) / min(plain):.3f}x (best of each)   (target <= 1.10x)"
        )
        print(
            "    time inside the recorder's hooks: median "
            f"{statistics.median(share) * 100:.1f} % of a recorded fit "
            f"{[round(v * 100, 1) for v in share]} -> {in_run:.3f}x"
        )
        (n_rows, nbytes), expected, grown, released = recording_memory(
            Xi, y, args.fit_epochs
        )
        print(
            f"    recording: {n_rows} snapshots of {RECORDED}: arrays "
            f"{expected / 2**20:.2f} MiB, recorder.nbytes_ {nbytes / 2**20:.2f} MiB; "
            f"process RSS +{grown / 2**20:.2f} MiB over the fit, "
            f"-{released / 2**20:.2f} MiB when the recording is released"
        )

    n, distinct, same = seed_aliasing(X, y)
    print(
        f"\n    seed 003's own recording on CPU: {n} snapshots of l3.weight, "
        f"{distinct} distinct value(s), all the same tensor object: {same}"
    )

    # one long recording for the GIF and the colour benchmark
    need = max(args.frames, args.color_frames) + 2
    epochs = -(-need // per_epoch)
    # (only the diagram's layers, kept in memory: 1,000 snapshots of l2 would
    # be 400 MB and go to disk, which is not what is measured here)
    rec = WeightRecorder(RECORDED[1:], memory_budget=None)
    make_net(epochs, [rec]).fit(X, y)
    snapshots = [
        [rec.trajectory(p)[k] for k in range(rec.n_steps_)] for p in RECORDED[1:]
    ]

    # -- 2. GIF ------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        t_base, _ = baseline_pipeline(
            [s[: args.frames + 2] for s in snapshots], args.frames, out / "baseline.gif"
        )
        t_skviz, _ = skviz_pipeline(rec, args.frames, out / "skviz.gif")
        size_b = (out / "baseline.gif").stat().st_size
        size_s = (out / "skviz.gif").stat().st_size
    total_b, total_s = sum(t_base.values()), sum(t_skviz.values())
    print(
        f"\n[2] {args.frames}-frame GIF of the seed's l2..l5 diagram (1,200 edges, 10 x 5 in, 100 dpi)"
    )
    print(
        f"    baseline (seed loops): {total_b:.2f} s  = prepare {t_base['prepare']:.2f} + "
        f"colours {t_base['colours']:.2f} + render {t_base['render']:.2f}; {size_b / 2**20:.2f} MiB"
    )
    print(
        f"    skviz                : {total_s:.2f} s  = colours {t_skviz['colours']:.2f} + "
        f"render {t_skviz['render']:.2f}; {size_s / 2**20:.2f} MiB"
    )
    print(
        f"    skviz / baseline     : {total_s / total_b:.3f}x   (target <= 0.5x; render alone {t_skviz['render'] / t_base['render']:.3f}x)"
    )

    # -- 3. colours for 1,000 frames -----------------------------------------
    F = args.color_frames
    long_changes = [
        seed.weight_changes_loops(seed.transpose_history(s[: F + 2])) for s in snapshots
    ]
    tf_lists, ave_lists = seed.seed_thresholds(long_changes)
    t_b, base_colors = timed(
        lambda: [
            seed.create_colors(long_changes, b, tf_lists, ave_lists) for b in range(F)
        ]
    )
    # the same update arrays, frames first, rows-major edges as in the seed
    stacked = [np.moveaxis(c, -1, 0) for c in long_changes]

    def skviz_colors():
        per_layer = [
            update_colors(u, ave, tf).reshape(u.shape[0], -1, 4)
            for u, ave, tf in zip(stacked, ave_lists, tf_lists, strict=True)
        ]
        return np.concatenate(per_layer, axis=1)

    t_s, sk_colors = timed(skviz_colors)
    base_arr = np.asarray(base_colors, dtype=np.float32)
    rgb_equal = np.array_equal(base_arr[..., :3], sk_colors[..., :3])
    alpha_diff = np.abs(base_arr[..., 3] - sk_colors[..., 3])
    ulp = np.spacing(np.maximum(base_arr[..., 3], sk_colors[..., 3]))
    within_ulp = bool(np.all(alpha_diff <= ulp))
    n_exact = int(np.sum(alpha_diff == 0))
    identical = rgb_equal and within_ulp
    print(f"\n[3] edge colours for {F} frames x {sk_colors.shape[1]} edges")
    print(f"    baseline create_colors loops: {t_b:.3f} s")
    print(f"    skviz update_colors         : {t_s:.4f} s")
    print(f"    speed-up                    : {t_b / t_s:.0f}x   (target >= 50x)")
    print(
        "    same centre/threshold as the seed: RGB identical "
        f"{rgb_equal}; alpha identical for {n_exact:,} of {alpha_diff.size:,} edges, "
        f"all within 1 ulp: {within_ulp} (the seed squares a scalar with libm "
        "powf, numpy's vector square is correctly rounded)"
    )

    centers, thresholds = update_thresholds(stacked, top_fraction=1e-4, scaling="sqrt")
    own = np.concatenate(
        [
            update_colors(u, c, t).reshape(u.shape[0], -1, 4)
            for u, c, t in zip(stacked, centers, thresholds, strict=True)
        ],
        axis=1,
    )
    rel_c = np.max(
        np.abs(centers - np.asarray(ave_lists)) / np.abs(np.asarray(ave_lists))
    )
    print(
        "    skviz's own statistics: thresholds equal to the seed's: "
        f"{np.array_equal(thresholds, np.asarray(tf_lists, np.float32))}; "
        f"centres (float64 mean) within {rel_c:.1e} relative of the seed's float32 "
        f"np.average; colours max |diff| {np.max(np.abs(own - base_arr)):.1e}, "
        f"{np.mean(np.all(own == base_arr, axis=-1)) * 100:.2f} % of edge colours "
        "bit-identical"
    )
    ok = (
        overheads[0] <= 1.10
        and total_s / total_b <= 0.5
        and t_b / t_s >= 50
        and identical
    )
    print(f"\nall targets met: {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
