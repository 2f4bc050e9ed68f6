"""Independent references the tests compare skviz against, and counters.

Nothing here calls skviz: expected values come from the fitted weights
(numpy / ``torch.nn.functional``) or from forward hooks registered by hand,
as users write them today.
"""

import threading

import numpy as np
import torch
from torch.nn.modules import module as torch_module

__all__ = [
    "ForwardCounter",
    "assert_same_state",
    "hand_hook_calls",
    "hand_hooks",
    "leftover_hooks",
    "manual_wine",
    "module_state",
    "run_in_thread",
    "wb",
]


def wb(linear):
    """Weight and bias of a Linear layer as float64 arrays."""
    return (
        linear.weight.detach().double().numpy(),
        linear.bias.detach().double().numpy(),
    )


def manual_wine(module, X):
    """The wine classifier's forward in float64 numpy: its three Linear outputs."""
    W0, b0 = wb(module.dense0)
    W1, b1 = wb(module.dense1)
    W2, b2 = wb(module.output)
    h0 = np.asarray(X, dtype=np.float64) @ W0.T + b0
    h1 = np.maximum(h0, 0) @ W1.T + b1
    return {"dense0": h0, "dense1": h1, "output": np.maximum(h1, 0) @ W2.T + b2}


def hand_hooks(module, names, *args, **kwargs):
    """Hooks stored by hand, one full forward, hooks removed: outputs per name."""
    modules = dict(module.named_modules())
    store = {name: [] for name in names}
    handles = [
        modules[name].register_forward_hook(
            lambda _m, _i, out, name=name: store[name].append(out.detach().clone())
        )
        for name in names
    ]
    try:
        with torch.no_grad():
            module(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return {name: [t.numpy() for t in outs] for name, outs in store.items()}


def hand_hook_calls(module, name, x):
    """Every output of ``name`` during one forward, in call order (cloned)."""
    calls = []

    def clone(out):
        if isinstance(out, torch.Tensor):
            return out.detach().clone()
        return type(out)(clone(o) for o in out)

    handle = dict(module.named_modules())[name].register_forward_hook(
        lambda _m, _i, out: calls.append(clone(out))
    )
    try:
        with torch.no_grad():
            module(x)
    finally:
        handle.remove()
    return calls


class ForwardCounter:
    """Counts the runs of named submodules ("" is the root) with pre-hooks.

    Also keeps the batch size of each run of the root (``rows``). Use as a
    context manager; the hooks are gone on exit.
    """

    def __init__(self, module, names=("",)):
        modules = dict(module.named_modules())
        self.counts = dict.fromkeys(names, 0)
        self.rows: list[int] = []
        self.handles = [
            modules[name].register_forward_pre_hook(self._hook(name)) for name in names
        ]

    def _hook(self, name):
        def hook(_module, inputs, *rest):
            self.counts[name] += 1
            if name == "" and inputs and isinstance(inputs[0], torch.Tensor):
                self.rows.append(len(inputs[0]))

        return hook

    @property
    def count(self) -> int:
        return self.counts[next(iter(self.counts))]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def leftover_hooks(module):
    """(submodule name, hook dict) pairs that are not empty."""
    found = [
        (name or "<root>", attr)
        for name, m in module.named_modules()
        for attr in _HOOK_DICTS
        if getattr(m, attr, None)
    ]
    for attr in ("_global_forward_hooks", "_global_forward_pre_hooks"):
        if getattr(torch_module, attr, None):
            found.append(("<global>", attr))
    return found


def module_state(module):
    """Modes, flags, gradients and parameters of every submodule (copied)."""
    return {
        "training": [(n, m.training) for n, m in module.named_modules()],
        "requires_grad": [(n, p.requires_grad) for n, p in module.named_parameters()],
        "grads": [
            (n, None if p.grad is None else p.grad.clone())
            for n, p in module.named_parameters()
        ],
        "params": [(n, p.detach().clone()) for n, p in module.named_parameters()],
    }


def assert_same_state(before, after):
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    for (n, g0), (_, g1) in zip(before["grads"], after["grads"], strict=True):
        assert (g0 is None) == (g1 is None), n
        if g0 is not None:
            assert torch.equal(g0, g1), n
    for (n, p0), (_, p1) in zip(before["params"], after["params"], strict=True):
        assert torch.equal(p0, p1), n


def run_in_thread(fn, timeout=60):
    """Run ``fn`` in a fresh thread; fail if it does not finish in time.

    A fresh thread matters for the lock check: the per-net lock is an RLock,
    so the thread that leaked it could still re-enter it.
    """
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # reported below, in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "call did not finish: lock left held?"
    if "error" in box:
        raise box["error"]
    return box["result"]
