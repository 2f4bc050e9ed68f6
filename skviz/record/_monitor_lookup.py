"""Finding an activation monitor's recording: what the displays accept."""

from __future__ import annotations

from ._activation_recording import ActivationRecording
from ._lookup import find_callback
from ._monitor import ActivationMonitor

__all__ = ["as_activation_recording", "find_monitor"]


def find_monitor(net, name: str | None = None) -> ActivationMonitor:
    """The :class:`ActivationMonitor` among ``net.callbacks_`` (see :func:`find_callback`)."""
    return find_callback(net, ActivationMonitor, name)


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
