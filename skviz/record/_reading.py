"""The read API of a recorder, answered by the Recording it holds.

:class:`RecordingReader` gives a recorder the fitted attributes
(``param_names_``, ``n_steps_``, ``steps_``, ...) and the read methods
(``trajectory``, ``updates``, ``to_frame``, ...) of its ``recording_``, so
that code written against the recorder keeps working.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ._recording import CHUNK_BYTES, Recording

__all__ = ["RecordingReader"]


def _fitted(attr: str, doc: str) -> property:
    """A fitted attribute of the recorder, read from its recording."""

    def get(self):
        return getattr(self.recording_, attr)

    return property(get, doc=doc)


def _checked(attr: str, doc: str) -> property:
    """As :func:`_fitted`, raising ``ValueError`` before anything is recorded."""

    def get(self):
        return getattr(self._recording(), attr)

    return property(get, doc=doc)


class RecordingReader:
    """Mixin: the recorder's fitted attributes and read methods.

    The host sets ``recording_`` (a :class:`Recording`) when it starts
    recording. Before that, the fitted attributes do not exist
    (``AttributeError``) and the read methods raise ``ValueError``.
    """

    def _check_initialized(self) -> None:
        if "recording_" not in self.__dict__:
            raise ValueError(
                f"This {type(self).__name__} has recorded nothing yet: pass it "
                "in a net's callbacks and fit the net (skviz.record.load() "
                "reads a saved recording)."
            )

    def _recording(self) -> Recording:
        self._check_initialized()
        return self.recording_

    param_names_ = _fitted("param_names", "Recorded parameters, in module order.")
    shapes_ = _fitted("shapes", "Shape of each recorded parameter.")
    skipped_ = _fitted("skipped", "Parameters left out by ``max_size``, and sizes.")
    n_steps_ = _fitted("n_steps", "Number of recorded snapshots, with row 0.")
    n_batches_seen_ = _fitted("n_batches_seen", "Training batches seen so far.")
    relative_update_names_ = _fitted(
        "relative_update_names", "Parameters whose relative update size is tracked."
    )
    steps_ = _checked("steps", "Training batches done at each row.")
    epochs_ = _checked("epochs", "skorch's epoch number at each row (0 for row 0).")
    batches_ = _checked("batches", "Batches done within the epoch at each row.")
    nbytes_ = _checked("nbytes", "Bytes of recording arrays held in memory.")
    disk_bytes_ = _checked("disk_bytes", "Bytes of recording arrays on disk.")
    storage_ = _checked("storage", "Where each parameter's array lives.")

    def trajectory(self, name: str) -> np.ndarray:
        """Recorded values of one parameter; see :meth:`Recording.trajectory`."""
        return self._recording().trajectory(name)

    def updates(self, name: str) -> np.ndarray:
        """Changes between snapshots; see :meth:`Recording.updates`."""
        return self._recording().updates(name)

    def grad_trajectory(self, name: str) -> np.ndarray:
        """Recorded gradients; see :meth:`Recording.grad_trajectory`."""
        return self._recording().grad_trajectory(name)

    def relative_update_sizes(self) -> pd.DataFrame:
        """Relative update sizes; see :meth:`Recording.relative_update_sizes`."""
        return self._recording().relative_update_sizes()

    def values(self, name: str, kind: str = "weight") -> np.ndarray:
        """Values of one kind; see :meth:`Recording.values`."""
        return self._recording().values(name, kind)

    def iter_values(
        self, name: str, kind: str = "weight", chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[np.ndarray]:
        """Values in blocks of rows; see :meth:`Recording.iter_values`."""
        return self._recording().iter_values(name, kind, chunk_bytes)

    def step_index(self, kind: str = "weight") -> pd.DataFrame:
        """Step, epoch and batch of each row; see :meth:`Recording.step_index`."""
        return self._recording().step_index(kind)

    def to_frame(self, name: str, indices=None, kind: str = "weight") -> pd.DataFrame:
        """Tidy table of chosen elements; see :meth:`Recording.to_frame`."""
        return self._recording().to_frame(name, indices, kind)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the recording to ``path``; see :meth:`Recording.save`."""
        return self._recording().save(path)
