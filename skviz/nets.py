"""Inspectable drop-in replacements for skorch's net classes."""

from __future__ import annotations

from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor

from .inspectable import InspectableMixin

__all__ = [
    "InspectableNeuralNet",
    "InspectableNeuralNetClassifier",
    "InspectableNeuralNetRegressor",
]

_SEE_ALSO = """
    Everything of the skorch parent class works unchanged. In addition:

    Parameters
    ----------
    layer : str or None, default=None
        Layer whose activations :meth:`transform` returns, by its dotted name
        in ``module_.named_modules()`` (see :class:`skviz.InspectableMixin`
        for runs and tuple outputs). Searchable with ``GridSearchCV``.
"""


class InspectableNeuralNet(InspectableMixin, NeuralNet):
    __doc__ = "skorch ``NeuralNet`` whose layers can be read and plotted.\n" + _SEE_ALSO


class InspectableNeuralNetClassifier(InspectableMixin, NeuralNetClassifier):
    __doc__ = (
        "skorch ``NeuralNetClassifier`` whose layers can be read and plotted.\n"
        + _SEE_ALSO
    )


class InspectableNeuralNetRegressor(InspectableMixin, NeuralNetRegressor):
    __doc__ = (
        "skorch ``NeuralNetRegressor`` whose layers can be read and plotted.\n"
        + _SEE_ALSO
    )
