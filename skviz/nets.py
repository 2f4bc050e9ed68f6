"""The public nets: the estimator core, the ``plot_*`` methods, a skorch class.

:class:`~skviz.InspectableMixin` (in :mod:`skviz.inspectable`) is the
estimator: capture, transformer API, no pictures. :class:`PlotMethodsMixin`
adds the pictures as methods on the net, so that users find them where they
look first; each only forwards to a display of :mod:`skviz.plot`. This is the
one place where the two meet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor

from .inspectable import InspectableMixin

__all__ = [
    "InspectableNeuralNet",
    "InspectableNeuralNetClassifier",
    "InspectableNeuralNetRegressor",
    "PlotMethodsMixin",
]


class PlotMethodsMixin:
    """``net.plot_*`` methods and ``net.dead_units_report`` for fitted nets.

    Every ``plot_*`` method returns the display object (``figure_``,
    ``ax_``/``axes_`` and the data behind the picture) and accepts ``ax=``
    (or ``axes=`` for grids). Arguments come in one order everywhere:
    samples ``X``, labels ``y`` (None where optional), the layer(s), then
    keywords; ``plot_activation`` takes the layer first, since it can reuse
    the samples of the latest inspection call.
    """

    def dead_units_report(
        self,
        X,
        y=None,
        layers: Sequence[str] | None = None,
        *,
        activation: str | Callable | Mapping[str, Any] | None = None,
        tol: float = 0.0,
        saturation_bounds: Mapping[str, Any] | None = None,
        saturation_margin: float = 0.05,
        saturation_threshold: float = 0.95,
        per_channel: bool = True,
        batch_size: int | None = None,
        include_output: bool = False,
    ) -> pd.DataFrame:
        """Active, dead and saturated units of several layers, from ONE forward pass.

        Parameters
        ----------
        X : array-like
            Samples, in any form ``predict`` accepts.
        y : array-like of shape (n_samples,), optional
            Adds ``n_classes_active`` (on how many classes a unit fires).
        layers : list of str, optional
            Default: every leaf layer that runs once and returns one tensor,
            without pass-through modules (Dropout, Flatten, Identity) and
            without the output layer (see ``include_output``).
        activation : str, callable or dict of layer to those, optional
            Applied to a layer's output first, for activations applied
            functionally (``F.relu(self.dense0(x))`` in ``forward``); a dict
            gives one per layer. ``"tanh"``/``"sigmoid"`` also turn on the
            saturation check for that layer.
        tol : float, default=0.0
            Active means value > ``tol``, in every layer: for LeakyReLU,
            ELU, GELU and other activations with a negative side, a dead
            unit is one that is never positive (it still passes a signal).
        saturation_bounds, saturation_margin, saturation_threshold
            See :func:`skviz.analysis.unit_report`. ``nn.Tanh``,
            ``nn.Sigmoid``, ``nn.Softsign``, ``nn.Hardsigmoid`` and
            ``nn.Hardtanh`` layers are checked automatically.
        per_channel : bool, default=True
            Conv layers: one unit per channel.
        batch_size : int, optional
        include_output : bool, default=False
            Also report the output layer (logits) when ``layers`` is None.

        Returns
        -------
        pandas.DataFrame
            Columns ``layer``, ``unit``, ``active_fraction``, ``dead``,
            ``saturated_fraction``, ``saturated`` (and ``n_classes_active``
            with y). ``net.dead_units_report(X).query("dead")`` lists the
            units that never fire for any sample.
        """
        from .reports import dead_units_report

        return dead_units_report(
            self,
            X,
            y,
            layers,
            activation=activation,
            tol=tol,
            saturation_bounds=saturation_bounds,
            saturation_margin=saturation_margin,
            saturation_threshold=saturation_threshold,
            per_channel=per_channel,
            batch_size=batch_size,
            include_output=include_output,
        )

    def plot_activation(self, name: str, X=None, y=None, *, ax=None, **kwargs):
        """Heatmap of a layer's activations; see :class:`skviz.plot.ActivationDisplay`.

        With ``X=None`` the samples of the latest inspection call on this net
        are reused (``transform_layer(s)`` or ``plot_activation``; not
        ``transform``, which leaves the estimator unchanged).
        """
        from .plot import ActivationDisplay

        if X is None:
            if getattr(self, "inspection_X_", None) is None:
                raise ValueError(
                    "plot_activation needs samples: pass X (and y), or call "
                    "transform_layer(X, ...) first so that its samples are reused."
                )
            X = self.inspection_X_
            if y is None:
                y = getattr(self, "inspection_y_", None)
        display = ActivationDisplay.from_estimator(
            self, X, y, layer=name, ax=ax, **kwargs
        )
        self.inspection_X_, self.inspection_y_ = X, y
        return display

    def plot_dead_units(self, X, y=None, layers=None, *, axes=None, **kwargs):
        """Active fraction per unit and layer, dead units marked.

        See :meth:`skviz.plot.DeadUnitsDisplay.from_estimator`.
        """
        from .plot import DeadUnitsDisplay

        return DeadUnitsDisplay.from_estimator(self, X, y, layers, axes=axes, **kwargs)

    def plot_weights(self, layer: str, *, ax=None, **kwargs):
        """Heatmap of a Linear layer's weights (units x inputs, bias alongside).

        See :meth:`skviz.plot.WeightHeatmapDisplay.from_estimator`.
        """
        from .plot import WeightHeatmapDisplay

        return WeightHeatmapDisplay.from_estimator(self, layer, ax=ax, **kwargs)

    def plot_kernels(self, layer: str, *, ax=None, **kwargs):
        """Kernels of a Conv2d layer as a grid of small images.

        See :meth:`skviz.plot.KernelGridDisplay.from_estimator`.
        """
        from .plot import KernelGridDisplay

        return KernelGridDisplay.from_estimator(self, layer, ax=ax, **kwargs)

    def plot_feature_maps(self, X, y=None, layers=None, *, axes=None, **kwargs):
        """Input images and feature maps of conv/pooling layers, one row per sample.

        ``layers`` is required; see
        :meth:`skviz.plot.FeatureMapDisplay.from_estimator`.
        """
        from .plot import FeatureMapDisplay

        return FeatureMapDisplay.from_estimator(self, X, y, layers, axes=axes, **kwargs)

    def plot_misclassified(self, X, y, layer: str, *, ax=None, **kwargs):
        """Mean activation of misclassified vs correct samples of each class.

        The list of misclassified samples is the display's
        ``misclassified_`` DataFrame. See
        :meth:`skviz.plot.MisclassifiedDisplay.from_estimator`.
        """
        from .plot import MisclassifiedDisplay

        return MisclassifiedDisplay.from_estimator(self, X, y, layer, ax=ax, **kwargs)

    def plot_class_profile(self, X, y, layer: str, *, ax=None, **kwargs):
        """Mean and spread of each unit's activation per class.

        See :meth:`skviz.plot.ClassProfileDisplay.from_estimator`.
        """
        from .plot import ClassProfileDisplay

        return ClassProfileDisplay.from_estimator(self, X, y, layer, ax=ax, **kwargs)

    def plot_training_curves(self, *, axes=None, **kwargs):
        """Loss and scores per epoch from ``net.history``, best epochs marked.

        See :meth:`skviz.plot.TrainingCurvesDisplay.from_estimator`.
        """
        from .plot import TrainingCurvesDisplay

        return TrainingCurvesDisplay.from_estimator(self, axes=axes, **kwargs)


_SEE_ALSO = """
    Everything of the skorch parent class works unchanged. In addition:

    Parameters
    ----------
    layer : str or None, default=None
        Layer whose activations :meth:`transform` returns, by its dotted name
        in ``module_.named_modules()`` (see :class:`skviz.InspectableMixin`
        for runs and tuple outputs). Searchable with ``GridSearchCV``.
"""


class InspectableNeuralNet(PlotMethodsMixin, InspectableMixin, NeuralNet):
    __doc__ = "skorch ``NeuralNet`` whose layers can be read and plotted.\n" + _SEE_ALSO


class InspectableNeuralNetClassifier(
    PlotMethodsMixin, InspectableMixin, NeuralNetClassifier
):
    __doc__ = (
        "skorch ``NeuralNetClassifier`` whose layers can be read and plotted.\n"
        + _SEE_ALSO
    )


class InspectableNeuralNetRegressor(
    PlotMethodsMixin, InspectableMixin, NeuralNetRegressor
):
    __doc__ = (
        "skorch ``NeuralNetRegressor`` whose layers can be read and plotted.\n"
        + _SEE_ALSO
    )
