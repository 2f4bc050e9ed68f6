"""What the training-dynamics displays share: axis words, value kinds, from_estimator.

These displays draw what a :class:`~skviz.record.WeightRecorder` recorded.
Each accepts a :class:`~skviz.record.Recording` or the recorder itself in
``from_recorder`` (through :func:`skviz.record.as_recording`), and finds
the recorder among a fitted net's callbacks in ``from_estimator``.
"""

from __future__ import annotations

from typing import TypeVar

from ..record import find_recorder

STEP_LABEL = "step (training batches)"
KINDS = ("weight", "update", "gradient")


def check_kind(kind: str) -> None:
    """Refuse a ``kind`` that is not one of :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(
            f"kind must be 'weight', 'update' or 'gradient', got {kind!r}."
        )


_D = TypeVar("_D", bound="FromRecorderMixin")


class FromRecorderMixin:
    """``from_estimator`` for a display whose ``from_recorder`` does the work."""

    @classmethod
    def from_estimator(
        cls: type[_D], net, *args, recorder_name: str | None = None, **kwargs
    ) -> _D:
        """As :meth:`from_recorder`, with the recorder of a fitted net.

        Parameters
        ----------
        net : skorch.NeuralNet
            A fitted net with a :class:`~skviz.record.WeightRecorder` among
            its callbacks.
        *args, **kwargs
            As for :meth:`from_recorder` after its first argument.
        recorder_name : str, optional
            The recorder's name in ``net.callbacks_``; needed only when the
            net has several recorders.
        """
        return cls.from_recorder(find_recorder(net, recorder_name), *args, **kwargs)
