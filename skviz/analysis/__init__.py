"""Numbers behind the pictures: computed from activation arrays, no torch.

Every function here takes plain arrays (as returned by
``transform_layer``) so that scripts can use the numbers without plotting.

Conventions shared by all functions:

* ``activations`` has shape ``(n_samples, n_units)`` or
  ``(n_samples, n_channels, ...)``. Functions that work per unit say how
  they treat extra dimensions: most take ``reduce="mean"`` (a channel's
  value on a sample is its mean over the remaining dimensions, the usual
  "global average" of a feature map) or ``reduce="flatten"`` (every element
  is a unit); all of them go through :func:`reduce_units`.
* NaN and +/-inf are masked: they never count as active or saturated and
  are left out of means, spreads and quantiles. Functions that compute
  statistics warn once (:class:`NonFiniteWarning`) when they had to mask.
"""

from ._arrays import (
    NonFiniteWarning,
    check_label_types,
    mask_nonfinite,
    reduce_units,
    unit_matrix,
)
from ._arrays import Reduce as Reduce
from ._classes import (
    class_profile,
    compare_misclassified,
    misclassified_samples,
    selectivity,
)
from ._history import batch_history_frame, history_frame
from ._rules import DEAD_RULES, DeadRule, dead_rule, rule_text
from ._units import (
    SATURATION_BOUNDS,
    activity_by_class,
    dead_units,
    saturation_fraction,
    unit_activity,
    unit_report,
)
from ._units import Bounds as Bounds

__all__ = [
    "DEAD_RULES",
    "SATURATION_BOUNDS",
    "DeadRule",
    "NonFiniteWarning",
    "activity_by_class",
    "batch_history_frame",
    "check_label_types",
    "class_profile",
    "compare_misclassified",
    "dead_rule",
    "dead_units",
    "history_frame",
    "mask_nonfinite",
    "misclassified_samples",
    "reduce_units",
    "rule_text",
    "saturation_fraction",
    "selectivity",
    "unit_activity",
    "unit_matrix",
    "unit_report",
]
