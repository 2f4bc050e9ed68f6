"""skviz: look inside skorch neural networks."""

from .inspectable import InspectableMixin
from .nets import (
    InspectableNeuralNet,
    InspectableNeuralNetClassifier,
    InspectableNeuralNetRegressor,
    PlotMethodsMixin,
)
from .record import ActivationMonitor, WeightRecorder

__all__ = [
    "ActivationMonitor",
    "InspectableMixin",
    "InspectableNeuralNet",
    "InspectableNeuralNetClassifier",
    "InspectableNeuralNetRegressor",
    "PlotMethodsMixin",
    "WeightRecorder",
]

__version__ = "0.1.0"
