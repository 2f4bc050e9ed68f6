"""skviz: look inside skorch neural networks."""

from .inspectable import InspectableMixin
from .nets import (
    InspectableNeuralNet,
    InspectableNeuralNetClassifier,
    InspectableNeuralNetRegressor,
)

__all__ = [
    "InspectableMixin",
    "InspectableNeuralNet",
    "InspectableNeuralNetClassifier",
    "InspectableNeuralNetRegressor",
]

__version__ = "0.1.0"
