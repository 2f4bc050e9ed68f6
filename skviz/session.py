"""The state around one inspection: the module to inspect, its modes, the locks.

* :func:`unwrap_compiled`: the user's module behind a ``torch.compile``
  wrapper, on which inspection runs eagerly under the user's names;
* :func:`inspection_session`: eval mode and no autograd for one inspection,
  every submodule's train/eval flag restored exactly afterwards;
* :func:`inspection_lock`: the re-entrant lock that keeps inspections of one
  module (and fitting and inspecting one net) apart.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["inspection_lock", "inspection_session", "unwrap_compiled"]


def unwrap_compiled(module: nn.Module) -> nn.Module:
    """The user's module behind a ``torch.compile`` wrapper (or itself).

    Inspection runs eagerly on it: names are the user's (no ``_orig_mod.``)
    and hooks fire without graph breaks or recompilation.
    """
    return getattr(module, "_orig_mod", module)


_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def inspection_lock(owner: Any) -> threading.RLock:
    """The re-entrant lock of ``owner``: a module while it is inspected
    (hooks attached), or a net while it is fitted or inspected.

    ``owner`` must be weak-referenceable; the lock goes with it.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(owner)
        if lock is None:
            lock = _LOCKS[owner] = threading.RLock()
        return lock


@contextmanager
def inspection_session(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for one inspection, serialised per module.

    Calls on one module are serialised because train/eval mode is module-wide
    state: two overlapping calls would restore each other's mode too early.
    The flags of every submodule are restored exactly, whatever happens.
    """
    with inspection_lock(module):
        modes = [(m, m.training) for m in module.modules()]
        try:
            module.eval()
            with torch.no_grad():
                yield
        finally:
            for m, training in modes:
                m.training = training
