"""The read methods of an :class:`~skviz.record.ActivationMonitor`, answered
by the :class:`ActivationRecording` it holds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._activation_recording import ActivationRecording

__all__ = ["MonitorReader"]


class MonitorReader:
    """Mixin: a monitor's read methods, forwarded to ``recording_``.

    Before the monitor has recorded anything they raise ``ValueError``.
    """

    def _recording(self) -> ActivationRecording:
        if "recording_" not in self.__dict__:
            raise ValueError(
                f"This {type(self).__name__} has recorded nothing yet: pass it in "
                "a net's callbacks and fit the net."
            )
        flush = getattr(self, "_flush", None)
        if flush is not None and self.__dict__.get("_acc_"):
            flush()  # checkpoints still on the device
        return self.recording_

    def to_frame(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Tidy per-unit statistics; see :meth:`ActivationRecording.to_frame`."""
        return self._recording().to_frame(source, layers)

    def class_frame(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Per-class statistics; see :meth:`ActivationRecording.class_frame`."""
        return self._recording().class_frame(source, layers)

    def quantile_frame(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Quantiles per layer; see :meth:`ActivationRecording.quantile_frame`."""
        return self._recording().quantile_frame(source, layers)

    def unit_fate(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """When each unit died or went dormant; see :meth:`ActivationRecording.unit_fate`."""
        return self._recording().unit_fate(source, layers)

    def layer_fractions(self, source: str | None = None, layers=None) -> pd.DataFrame:
        """Dead/dormant fractions per layer; see :meth:`ActivationRecording.layer_fractions`."""
        return self._recording().layer_fractions(source, layers)

    def values(self, stat: str, layer: str, source: str | None = None) -> np.ndarray:
        """One statistic, ``(n_checkpoints, n_units)``; see :meth:`ActivationRecording.values`."""
        return self._recording().values(stat, layer, source)
