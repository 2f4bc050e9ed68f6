"""Record what happens to a network during ``fit``.

* :class:`WeightRecorder` -- a skorch callback that copies chosen
  parameters (and optionally their gradients) after every ``every``-th
  training batch, in bounded memory;
* :class:`ActivationMonitor` -- a skorch callback that streams per-unit
  activation statistics (active fraction, mean, std, mean ``|a|``, dormancy,
  saturation, optionally per class) of chosen layers during ``fit``, read
  through its :class:`ActivationRecording` (tidy frames, ``unit_fate``,
  dead and dormant fractions per layer);
* :class:`Recording` -- what was recorded, and how to read it: trajectories,
  per-step updates, gradients, relative update sizes, tidy frames. A
  fitted recorder hands it out as ``recording_``, :func:`load` returns it,
  and the training-dynamics plots and animations accept it;
* :class:`RowStore` -- the storage under a recording: named arrays that grow
  by rows, preallocated, and spilled to memory-mapped files past a memory
  budget; usable by any recorder;
* :func:`select_params`, :func:`param_matches`, :func:`as_param_patterns`
  -- how names, glob patterns and module names select parameters.

Row 0 holds the parameters before the first batch, row ``k`` the
parameters after the ``k``-th recorded batch, so ``updates(name)[k - 1]``
is exactly what the optimizer changed between two recorded snapshots.
"""

from ._activation_recording import ActivationRecording
from ._callback import WeightRecorder
from ._io import load
from ._lookup import as_recording, find_recorder
from ._monitor import ActivationMonitor
from ._monitor_lookup import as_activation_recording, find_monitor
from ._recording import Recording
from ._select import as_param_patterns, param_matches, select_params
from ._store import RowStore

__all__ = [
    "ActivationMonitor",
    "ActivationRecording",
    "Recording",
    "RowStore",
    "WeightRecorder",
    "as_activation_recording",
    "as_param_patterns",
    "as_recording",
    "find_monitor",
    "find_recorder",
    "load",
    "param_matches",
    "select_params",
]
