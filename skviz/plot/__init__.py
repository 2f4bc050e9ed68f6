"""Display objects in the style of scikit-learn's ``*Display`` classes.

Each display has ``from_estimator(net, ...)`` (computes the data through the
net) and ``plot(ax=...)`` (draws it, returns self), keeps ``figure_``/``ax_``
and keeps the numbers behind the picture as attributes.

Submodules are imported on first use, so ``import skviz`` stays light.
"""

from importlib import import_module

# public name -> submodule that defines it
_DISPLAYS = {
    "ActivationDisplay": "_activation",
    "DeadUnitsDisplay": "_dead_units",
    "WeightHeatmapDisplay": "_weights",
    "KernelGridDisplay": "_kernels",
    "FeatureMapDisplay": "_feature_maps",
    "MisclassifiedDisplay": "_misclassified",
    "ClassProfileDisplay": "_class_profile",
    "TrainingCurvesDisplay": "_history",
    "WeightTrajectoryDisplay": "_trajectory",
    "UpdateHistogramDisplay": "_update_histogram",
    "RelativeUpdateDisplay": "_relative_update",
    "WeightDistributionDisplay": "_weight_distribution",
    "CKADisplay": "_cka",
    "ProbeDisplay": "_probes",
    "EmbeddingDisplay": "_embedding",
    "UnitTimelineDisplay": "_unit_timeline",
    "DeadFractionDisplay": "_dead_fraction",
    "ActivationQuantilesDisplay": "_activation_quantiles",
}

__all__ = sorted(_DISPLAYS)


def __getattr__(name):
    if name in _DISPLAYS:
        return getattr(import_module(f".{_DISPLAYS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
