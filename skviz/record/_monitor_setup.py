"""What an :class:`~skviz.record.ActivationMonitor` checks and sets up before
training: its parameters, the layers chosen, the classes, the monitoring
set, the store's fields, and the guard around the fit loop."""

from __future__ import annotations

import fnmatch
import numbers

import numpy as np
from skorch.dataset import get_len

from ..layers import LayerRef, check_module_names
from ._activation_recording import stat_key
from ._store import RowStore
from ._unit_stats import STORED_STATS

__all__ = [
    "FitLoopGuard",
    "add_fields",
    "check_monitor_set",
    "choose_layers",
    "find_classes",
    "monitor_labels",
    "validate_params",
]


def validate_params(monitor) -> None:
    """Raise for a parameter of the ``monitor`` that cannot work."""
    every = monitor.every
    if every is not None and (
        isinstance(every, bool) or not isinstance(every, numbers.Integral)
    ):
        raise TypeError(f"every must be an int or None, got {every!r}.")
    if every is not None and every < 1:
        raise ValueError(f"every must be >= 1, got {every}.")
    if every is None and monitor.monitor_set is None:
        raise ValueError(
            "every=None and monitor_set=None leave nothing to monitor: choose "
            "the training batches (every=k), a monitoring set, or both."
        )
    if isinstance(monitor.monitor_set, str) and monitor.monitor_set != "valid":
        raise ValueError(
            f"monitor_set must be 'valid', samples or (X, y); got {monitor.monitor_set!r}."
        )
    for key in ("tol", "tau", "saturation_margin"):
        value = getattr(monitor, key)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{key} must be a number, got {value!r}.")
        if not np.isfinite(value):
            raise ValueError(f"{key} must be finite, got {value}.")
    if monitor.saturation_margin < 0:
        raise ValueError("saturation_margin must be >= 0.")
    if not isinstance(monitor.per_class, bool | np.bool_):
        raise TypeError(f"per_class must be a bool, got {monitor.per_class!r}.")
    if monitor.quantiles is not None:
        q = np.asarray(monitor.quantiles, dtype=float)
        if q.ndim != 1 or not len(q) or ((q < 0) | (q > 1)).any():
            raise ValueError(
                f"quantiles must be numbers in [0, 1], got {monitor.quantiles!r}."
            )
    budget = monitor.memory_budget
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, numbers.Integral)
    ):
        raise TypeError(f"memory_budget must be an int or None, got {budget!r}.")
    if budget is not None and budget < 0:
        raise ValueError(f"memory_budget must be >= 0, got {budget}.")


def choose_layers(monitor, net, X, infos, modules) -> list[str]:
    """The references the ``monitor`` watches: its ``layers`` resolved."""
    if monitor.layers is None:
        if not hasattr(net, "layer_info"):
            raise ValueError(
                "ActivationMonitor(layers=None) takes the dead-unit report's "
                "layers, which need a skviz net (InspectableMixin); name the "
                "layers of this net: ActivationMonitor(layers=[...])."
            )
        from ..reports import default_report_layers

        return default_report_layers(net, X)
    wanted = (
        [monitor.layers] if isinstance(monitor.layers, str) else list(monitor.layers)
    )
    refs = [info.ref for info in infos]
    chosen: list[str] = []
    for text in wanted:
        if any(c in text for c in "*?"):
            found = [r for r in refs if fnmatch.fnmatchcase(r, text)]
            if not found:
                raise ValueError(f"No layer matches {text!r}; layers that ran: {refs}.")
            chosen += [r for r in found if r not in chosen]
        elif text not in chosen:
            chosen.append(text)
    known = [name for name in modules if name]
    check_module_names([LayerRef.parse(t, known).module for t in chosen], known)
    return chosen


def find_classes(monitor, net, y) -> np.ndarray:
    """Every label of the training ``y``, the monitoring set and ``net.classes``."""
    labels = []
    if monitor.every is not None:
        if y is None:
            raise ValueError(
                "per_class=True needs the labels: fit(X, y) with y, or "
                "every=None and a monitoring set with labels."
            )
        labels.append(np.asarray(y).ravel())
    ys = monitor_labels(monitor.monitor_set)
    if ys is not None:
        labels.append(np.asarray(ys).ravel())
    if getattr(net, "classes", None) is not None:
        labels.append(np.asarray(net.classes))
    return np.unique(np.concatenate(labels)) if labels else np.empty(0)


def monitor_labels(ms):
    """The labels of a ``monitor_set`` given as ``(X, y)``, else None."""
    if isinstance(ms, tuple) and len(ms) == 2:
        return ms[1]
    return None


def check_monitor_set(monitor) -> None:
    """Raise for a monitoring set that cannot be evaluated."""
    ms = monitor.monitor_set
    if ms is None or isinstance(ms, str):
        return
    X, y = ms if isinstance(ms, tuple) and len(ms) == 2 else (ms, None)
    n = get_len(X)
    if n == 0:
        raise ValueError("monitor_set holds no sample.")
    if y is not None and get_len(y) != n:
        raise ValueError(f"monitor_set has {n} samples but {get_len(y)} labels.")
    if monitor.per_class and y is None:
        raise ValueError(
            "per_class=True needs labels of the monitoring set: pass "
            "monitor_set=(X, y)."
        )


def add_fields(monitor, store: RowStore) -> None:
    """Declare the rows of every monitored layer in ``store``."""
    rec = monitor.recording_
    n_classes = 0 if rec.classes is None else len(rec.classes)
    for p in monitor.plans_:
        for stat in STORED_STATS:
            if stat == "saturation" and p.bounds is None:
                continue
            store.add(stat_key(stat, p.ref), (p.n_units,), np.float32, label=p.ref)
        if n_classes:
            for stat in ("active", "mean", "mean_abs"):
                store.add(
                    stat_key(f"class_{stat}", p.ref),
                    (n_classes, p.n_units),
                    np.float32,
                    label=p.ref,
                )
        if monitor.quantiles is not None:
            store.add(
                stat_key("quantiles", p.ref),
                (len(monitor.quantiles),),
                np.float32,
                budgeted=False,
            )


class FitLoopGuard:
    """``net.fit_loop`` while a monitor is attached: the class's fit loop,
    then the monitor's clean-up, whatever happened.

    A module-level class (not a closure), so that a net pickled during
    ``fit`` (``Checkpoint(f_pickle=...)``) still pickles; the copy's guard
    just runs the class's fit loop once and removes itself.
    """

    def __init__(self, net, monitor):
        self.net = net
        self.monitor = monitor

    def __call__(self, *args, **kwargs):
        net = self.net
        try:
            return type(net).fit_loop(net, *args, **kwargs)
        finally:
            self.monitor._unguard(net)
            self.monitor._detach()
