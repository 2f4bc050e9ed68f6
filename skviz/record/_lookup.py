"""Finding what was recorded: a net's recorder, and the Recording of anything
that plots and animations accept."""

from __future__ import annotations

from ._callback import WeightRecorder
from ._recording import Recording

__all__ = ["as_recording", "find_callback", "find_recorder"]


def find_callback(net, kind: type, name: str | None = None):
    """The one callback of type ``kind`` among ``net.callbacks_``.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialized net.
    kind : type
        The callback class (``WeightRecorder``, ``ActivationMonitor``).
    name : str, optional
        The callback's name in ``net.callbacks_``; needed only when the net
        has several of them.

    Raises
    ------
    ValueError
        When the net is not initialized, or has none or several (of that
        name).
    """
    what = kind.__name__
    callbacks = getattr(net, "callbacks_", None)
    if callbacks is None:
        raise ValueError(
            "The net has no initialized callbacks; fit it (or call "
            f"net.initialize()) with a {what} in callbacks=[...]."
        )
    found = [(n, cb) for n, cb in callbacks if isinstance(cb, kind)]
    if name is not None:
        for n, cb in found:
            if n == name:
                return cb
        raise ValueError(
            f"No {what} named {name!r}; {what}s of this net: {[n for n, _ in found]}."
        )
    if not found:
        raise ValueError(
            f"The net has no {what} callback; pass callbacks=[{what}(...)] "
            "when creating it."
        )
    if len(found) > 1:
        raise ValueError(
            f"The net has several {what}s {[n for n, _ in found]}; pass "
            "name=... to choose one."
        )
    return found[0][1]


def find_recorder(net, name: str | None = None) -> WeightRecorder:
    """The :class:`WeightRecorder` among ``net.callbacks_`` (see :func:`find_callback`)."""
    return find_callback(net, WeightRecorder, name)


def as_recording(obj: Recording | WeightRecorder) -> Recording:
    """The :class:`Recording` of ``obj``, checked to hold a snapshot.

    Parameters
    ----------
    obj : Recording or WeightRecorder
        A recording (from :func:`load`, or a recorder's ``recording_``), or
        a recorder that has recorded during ``fit``.

    Returns
    -------
    Recording

    Raises
    ------
    TypeError
        For anything else.
    ValueError
        When nothing was recorded yet.
    """
    if isinstance(obj, WeightRecorder):
        recording = obj._recording()
    elif isinstance(obj, Recording):
        recording = obj
    else:
        raise TypeError(
            "Expected a skviz.record.Recording or a fitted WeightRecorder, got "
            f"{type(obj).__name__}."
        )
    if recording.n_steps == 0:
        raise ValueError("The recording holds no snapshot yet; fit the net first.")
    return recording
