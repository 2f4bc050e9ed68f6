"""What the training-dynamics displays share: axis words and value kinds.

These displays draw what a :class:`~skviz.record.WeightRecorder` recorded.
Each accepts a :class:`~skviz.record.Recording` or the recorder itself in
``from_recorder`` (through :func:`skviz.record.as_recording`), and finds
the recorder among a fitted net's callbacks in ``from_estimator``.
"""

from __future__ import annotations

STEP_LABEL = "step (training batches)"
KINDS = ("weight", "update", "gradient")


def check_kind(kind: str) -> None:
    """Refuse a ``kind`` that is not one of :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(
            f"kind must be 'weight', 'update' or 'gradient', got {kind!r}."
        )
