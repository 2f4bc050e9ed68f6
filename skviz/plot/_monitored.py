"""What the displays of an activation monitor share: finding its recording
and the layers to show."""

from __future__ import annotations

from ..record import as_activation_recording, find_monitor

__all__ = ["FromMonitorMixin", "monitored_layers"]


class FromMonitorMixin:
    """``from_estimator`` for a display whose ``from_monitor`` does the work."""

    @classmethod
    def from_estimator(cls, net, *args, monitor_name: str | None = None, **kwargs):
        """As :meth:`from_monitor`, with the ActivationMonitor of a fitted net.

        Parameters
        ----------
        net : skorch net
            Fitted with an :class:`~skviz.record.ActivationMonitor` in its
            callbacks.
        monitor_name : str, optional
            The callback's name, when the net has several monitors.
        *args, **kwargs
            As for :meth:`from_monitor` after its first argument.
        """
        return cls.from_monitor(find_monitor(net, monitor_name), *args, **kwargs)


def monitored_layers(monitor, layers, source):
    """``(recording, layers, source)`` checked, with the default source resolved."""
    recording = as_activation_recording(monitor)
    source = recording.resolve_source(source)
    layers = recording.layers if layers is None else layers
    layers = [layers] if isinstance(layers, str) else list(layers)
    for layer in layers:
        recording.values("active", layer, source)  # names the monitored layers
    if not layers:
        raise ValueError("layers is empty.")
    index = recording.index(source)
    if not len(index):
        raise ValueError(f"No {source!r} checkpoint was recorded yet.")
    return recording, layers, source
