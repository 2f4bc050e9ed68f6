"""Peak resident memory (RSS) of one call, for the benchmarks.

A peak is only meaningful in a process that has done nothing else, so the
benchmarks measure it in a fresh child process (:func:`run_child`) that
builds its inputs, resets the kernel's high-water mark and then makes the
one call under study (:func:`measure_peak`).

On Linux the high-water mark (``VmHWM``) can be reset by writing ``5`` to
``/proc/self/clear_refs``, which makes the peak of the call exact even when
building the inputs needed more memory than the call. Elsewhere the
process-lifetime peak from ``getrusage`` is used, and the result says so.
"""

from __future__ import annotations

import gc
import json
import re
import resource
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["PeakMemory", "measure_peak", "run_child"]

_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PeakMemory:
    """RSS figures of one call, in bytes.

    ``exact`` is False when the peak is the process-lifetime maximum, which
    can hide the call's own peak behind an earlier, larger one.
    """

    baseline: int
    peak: int
    exact: bool
    extra: dict[str, Any]

    @property
    def delta(self) -> int:
        return self.peak - self.baseline


def _status_kib(field: str) -> int | None:
    try:
        text = _PROC_STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, flags=re.MULTILINE)
    return None if match is None else int(match.group(1))


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    # Some kernels accept the write but ignore it; trust only a visible reset.
    hwm, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 64


def _maxrss_bytes() -> int:
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def measure_peak(call: Callable[[], Any]) -> tuple[Any, PeakMemory]:
    """Run ``call`` once and report the RSS before it and the peak during it.

    The result of ``call`` is returned and kept alive until the peak has
    been read, so that the peak includes it.
    """
    gc.collect()
    exact = _reset_high_water_mark()
    if exact:
        baseline = _status_kib("VmRSS") * 1024
    else:
        import psutil

        baseline = psutil.Process().memory_info().rss
    result = call()
    peak = _status_kib("VmHWM") * 1024 if exact else _maxrss_bytes()
    return result, PeakMemory(baseline=baseline, peak=peak, exact=exact, extra={})


def emit(report: PeakMemory) -> None:
    """Print ``report`` as the last line of a child's output."""
    print(json.dumps(asdict(report)), flush=True)


def run_child(args: Sequence[str], timeout: float = 900) -> PeakMemory:
    """Run ``python *args`` in a fresh process and parse what :func:`emit` printed."""
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"memory child {args} failed with exit code {proc.returncode}:\n"
            f"{proc.stderr[-4000:]}"
        )
    last = proc.stdout.strip().splitlines()[-1]
    return PeakMemory(**json.loads(last))
