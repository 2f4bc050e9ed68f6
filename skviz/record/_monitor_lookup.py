"""Finding an activation monitor's recording: what the displays accept."""

from __future__ import annotations

from ._activation_recording import ActivationRecording
from ._monitor import ActivationMonitor

__all__ = ["as_activation_recording", "find_monitor"]


def find_monitor(net, name: str | None = None) -> ActivationMonitor:
    """The :class:`ActivationMonitor` among ``net.callbacks_``.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialized net.
    name : str, optional
        The callback's name; needed only when the net has several monitors.

    Returns
    -------
    ActivationMonitor
    """
    callbacks = getattr(net, "callbacks_", None)
    if callbacks is None:
        raise ValueError(
            "The net has no initialized callbacks; fit it with an "
            "ActivationMonitor in callbacks=[...]."
        )
    found = [(n, cb) for n, cb in callbacks if isinstance(cb, ActivationMonitor)]
    if name is not None:
        found = [(n, cb) for n, cb in found if n == name]
    if len(found) != 1:
        what = "no" if not found else "several"
        raise ValueError(
            f"The net has {what} ActivationMonitor callback(s)"
            f"{'' if name is None else f' named {name!r}'}: "
            "pass callbacks=[ActivationMonitor(...)] (or name=... to choose one)."
        )
    return found[0][1]


def as_activation_recording(obj) -> ActivationRecording:
    """The :class:`ActivationRecording` of a monitor, a net holding one, or itself.

    Raises
    ------
    TypeError
        For anything else.
    ValueError
        When nothing was recorded yet.
    """
    if isinstance(obj, ActivationRecording):
        recording = obj
    elif isinstance(obj, ActivationMonitor):
        recording = obj._recording()
    elif hasattr(obj, "callbacks_"):
        recording = find_monitor(obj)._recording()
    else:
        raise TypeError(
            "Expected an ActivationMonitor, its recording_ or a net fitted with "
            f"one, got {type(obj).__name__}."
        )
    if not any(recording.n_checkpoints(s) for s in recording.sources):
        raise ValueError("The monitor has recorded no checkpoint yet.")
    return recording
