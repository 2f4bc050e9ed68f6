"""The public nets: the estimator core, the ``plot_*`` methods, a skorch class.

:class:`~skviz.InspectableMixin` (in :mod:`skviz.inspectable`) is the
estimator: capture, transformer API, no pictures. :class:`PlotMethodsMixin`
adds the pictures as methods on the net, so that users find them where they
look first; each only forwards to a display of :mod:`skviz.plot`. This is the
one place where the two meet.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import pandas as pd
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor

from ._represent_methods import RepresentMethodsMixin
from .inspectable import InspectableMixin

__all__ = [
    "InspectableNeuralNet",
    "InspectableNeuralNetClassifier",
    "InspectableNeuralNetRegressor",
    "PlotMethodsMixin",
]


# Parameter descriptions shared by several methods, written once so that
# the methods cannot describe the same parameter in different words.
_PARAMETER_DOCS = {
    "activation": """\
activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"} or callable, optional
    Applied to the layer output first, for nets that apply their activation
    functionally (``F.relu(self.dense0(x))`` in ``forward``).""",
    "reduce": """\
reduce : {"mean", "flatten"}, default="mean"
    Conv outputs: one unit per channel (its mean over positions) or one per
    element.""",
    "class_names": """\
class_names : sequence or dict, optional
    Text for each class label: ``class_names[label]`` (a sequence indexed by
    label, or a mapping) instead of ``class 1``.""",
    "batch_size": """\
batch_size : int, optional
    Rows per forward pass; by default the net's ``iterator_valid__batch_size``
    or ``batch_size``.""",
    "ax": """\
ax : matplotlib Axes, optional
    Axes to draw on; a new figure when None.""",
    "report_parameters": """\
X : array-like
    Samples, in any form ``predict`` accepts.
y : array-like of shape (n_samples,), optional
    Adds ``n_classes_active`` (on how many classes a unit fires).
layers : list of str, optional
    Default: the outputs of the net's activation modules (ReLU, GELU,
    Tanh...), every run of a reused one as ``relu@k``, and the layers named
    in an ``activation=`` dict; for a net that applies its activations in
    ``forward``, its hidden leaf layers that run once. Outputs that do not
    depend on the batch and the output layer (see ``include_output``) are
    left out.
activation : str, callable or dict of layer to those, optional
    Applied to a layer's output first, for activations applied functionally
    (``F.relu(self.dense0(x))`` in ``forward``); a dict gives one per layer.
    ``"tanh"``/``"sigmoid"`` also turn on the saturation check for that
    layer.
tol : float, default=0.0
    Active means value > ``tol``. Each layer is judged by the rule of its
    kind (:func:`skviz.analysis.dead_rule`): ReLU units are dead when never
    active; for LeakyReLU, ELU, GELU and other activations with a negative
    side the same test means never positive (the unit still passes a
    signal); Tanh/Sigmoid layers are judged by saturation; linear,
    normalised and recurrent outputs are not marked. Sequence outputs
    ``(N, T, H)`` have H units, conv outputs ``(N, C, ...)`` C.
saturation_bounds : dict of layer to {"tanh", "sigmoid", (low, high)}, optional
    Overrides the asymptotes found from module types and ``activation``.
    ``nn.Tanh``, ``nn.Sigmoid``, ``nn.Softsign``, ``nn.Hardsigmoid`` and
    ``nn.Hardtanh`` layers are checked automatically.
saturation_margin : float, default=0.05
    A value within this distance of an asymptote counts as saturated.
saturation_threshold : float, default=0.95
    A unit is saturated when at least this fraction of its values are.
per_channel : bool, default=True
    Conv layers: one unit per channel (active on a sample when any position
    is); False makes every element a unit.""",
}
_PARAMETER_DOCS["report_parameters"] += "\n" + _PARAMETER_DOCS["batch_size"]
_PARAMETER_DOCS["report_parameters"] += """
include_output : bool, default=False
    Also report the output layer (logits) when ``layers`` is None."""


def _fill_doc(method):
    """Put the shared parameter descriptions into ``%(name)s`` slots.

    Each fragment is indented to the depth of the line its slot stands on,
    so ``help()`` and numpydoc see ordinary parameter sections.
    """
    lines = []
    for line in method.__doc__.splitlines():
        slot = line.strip()
        if slot.startswith("%(") and slot.endswith(")s"):
            indent = line[: len(line) - len(line.lstrip())]
            fragment = _PARAMETER_DOCS[slot[2:-2]]
            lines.extend(indent + part for part in fragment.splitlines())
        else:
            lines.append(line)
    method.__doc__ = "\n".join(lines)
    return method


def _keywords(method, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword-only arguments of ``method``, read from its ``locals()``.

    Each ``plot_*`` method lists the display's keywords in its own signature
    (so that ``help()`` shows them) and forwards all of them by name: a
    keyword added to a signature is forwarded without a second list to keep
    in step. ``tests/test_plot_signatures.py`` checks that the signatures
    equal the displays'.
    """
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    names = inspect.signature(method).parameters
    return {n: arguments[n] for n, p in names.items() if p.kind is keyword_only}


class PlotMethodsMixin(RepresentMethodsMixin):
    """``net.plot_*`` methods and ``net.dead_units_report`` for fitted nets.

    Every ``plot_*`` method returns the display object (``figure_``,
    ``ax_``/``axes_`` and the data behind the picture) and accepts ``ax=``
    (or ``axes=`` for grids). Arguments come in one order everywhere:
    samples ``X``, labels ``y`` (None where optional), the layer(s), then
    keywords; ``plot_activation`` takes the layer first, since it can reuse
    the samples of the latest inspection call.
    """

    @_fill_doc
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
        %(report_parameters)s

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
            **_keywords(PlotMethodsMixin.dead_units_report, locals()),
        )

    @_fill_doc
    def plot_activation(
        self,
        name: str,
        X=None,
        y=None,
        *,
        activation: str | Callable | None = None,
        reduce: str = "auto",
        rows: str = "auto",
        max_rows: int | None = 50,
        class_names=None,
        batch_size: int | None = None,
        ax=None,
        annotate: bool | str = "auto",
        cmap: str | None = None,
        colorbar: bool = True,
    ):
        """Heatmap of a layer's activations, samples grouped by class.

        Parameters
        ----------
        name : str
            Layer reference, e.g. ``"dense0"``, ``"block@1"``, ``"lstm[0]"``.
        X : array-like, optional
            Samples, in any form ``predict`` accepts. When None, the samples
            (and labels) of the latest inspection call on this net are
            reused: ``transform_layer(s)`` or ``plot_activation``, not
            ``transform``, which leaves the estimator unchanged.
        y : array-like of shape (n_samples,), optional
            Classifiers: the true classes (rows are grouped by class and
            compared with ``predict(X)``); other nets: numeric targets shown
            in the row labels.
        %(activation)s
        reduce : {"auto", "mean", "max", "flatten"}, default="auto"
            Outputs with more than two dimensions ``(n, C, ...)``: one column
            per channel holding its mean or maximum over the other axes, or
            one column per value. "auto" is "mean" for feature maps
            ``(n, C, H, W)`` and "flatten" for 3-D outputs.
        rows : {"auto", "samples", "class_mean", "subsample"}, default="auto"
            One row per sample, one per class (its mean), or an even
            subsample per class of at most ``max_rows``. "auto" is "samples"
            up to ``max_rows`` samples, then "class_mean" when classes are
            known and "subsample" otherwise.
        max_rows : int or None, default=50
            Most sample rows before "auto" aggregates; None never does.
        %(class_names)s
        %(batch_size)s
        %(ax)s
        annotate : bool or "auto", default="auto"
            Write the value in each cell; "auto" does so up to 15 rows and
            30 columns.
        cmap : str, optional
            Colour map; by default diverging when values go negative, else
            sequential.
        colorbar : bool, default=True

        Returns
        -------
        skviz.plot.ActivationDisplay
            ``figure_``, ``ax_``, the drawn ``data_``, ``row_labels_``,
            ``dead_units_`` and more.
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
            self,
            X,
            y,
            layer=name,
            **_keywords(PlotMethodsMixin.plot_activation, locals()),
        )
        self.inspection_X_, self.inspection_y_ = X, y
        return display

    @_fill_doc
    def plot_dead_units(
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
        axes=None,
    ):
        """Active fraction of every unit, one panel per layer, dead units marked.

        The numbers are those of :meth:`dead_units_report`, from one
        forward pass.

        Parameters
        ----------
        %(report_parameters)s
        axes : Axes or array of Axes, optional
            One per layer; a new figure when None.

        Returns
        -------
        skviz.plot.DeadUnitsDisplay
            ``figure_``, ``axes_`` and the report as ``report_``.
        """
        from .plot import DeadUnitsDisplay

        return DeadUnitsDisplay.from_estimator(
            self, X, y, layers, **_keywords(PlotMethodsMixin.plot_dead_units, locals())
        )

    @_fill_doc
    def plot_weights(
        self,
        layer: str,
        *,
        feature_names: Sequence[str] | None = None,
        max_inputs: int | None = 40,
        max_units: int | None = 64,
        sort_inputs: bool = False,
        vmax: float | None = None,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "RdBu_r",
    ):
        """Heatmap of a Linear layer's weights: units x inputs, bias alongside.

        Parameters
        ----------
        layer : str
            Dotted name of an ``nn.Linear`` module.
        feature_names : sequence of str, optional
            Names of the inputs. By default the column names the net was
            fitted on (``feature_names_in_``) for the first layer, else
            ``in 0``, ``in 1``, ...
        max_inputs : int or None, default=40
            With more inputs, only the ``max_inputs`` with the largest L2
            norm are drawn, strongest first (the title says so); None draws
            all.
        max_units : int or None, default=64
            With more units, the ``max_units`` with the largest L2 norm, in
            index order; None draws all.
        sort_inputs : bool, default=False
            Order the inputs by decreasing L2 norm even when all are drawn.
        vmax : float, optional
            Colour limits ``[-vmax, vmax]``; by default the largest absolute
            drawn value.
        %(ax)s
        annotate : bool, optional
            Write the values in the cells; by default when at most 300 cells.
        cmap : str, default="RdBu_r"
            A diverging colour map (white is 0).

        Returns
        -------
        skviz.plot.WeightHeatmapDisplay
            ``figure_``, ``ax_``, the drawn ``image_`` and the full
            ``weight_``.
        """
        from .plot import WeightHeatmapDisplay

        return WeightHeatmapDisplay.from_estimator(
            self, layer, **_keywords(PlotMethodsMixin.plot_weights, locals())
        )

    @_fill_doc
    def plot_kernels(
        self,
        layer: str,
        *,
        out_channels: Sequence[int] | None = None,
        in_channels: Sequence[int] | None = None,
        mode: Literal["auto", "rgb", "channels"] = "auto",
        scale: Literal["shared", "kernel"] = "shared",
        max_out: int | None = None,
        max_in: int = 16,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "RdBu_r",
    ):
        """Kernels of a Conv2d layer as one mosaic of small images.

        A first layer on colour images (3 input channels) gets the classic
        picture: each kernel one small colour image, its input channels as
        red, green and blue. Other layers get one tile per output and
        input channel.

        Parameters
        ----------
        layer : str
            Dotted name of an ``nn.Conv2d`` module.
        out_channels, in_channels : sequence of int, optional
            Which kernels to draw; by default all, or the first ``max_out``
            / ``max_in`` when there are more (the title says so).
        mode : {"auto", "rgb", "channels"}, default="auto"
            ``"rgb"``: one colour image per output channel, input channels
            as red, green and blue, in a near-square grid (needs 3 drawn
            input channels). ``"channels"``: one tile per (output, input)
            channel with a colour bar. ``"auto"``: ``"rgb"`` for a layer
            with 3 input channels and ``groups=1``, else ``"channels"``.
        scale : {"shared", "kernel"}, default="shared"
            One symmetric colour scale for all kernels, so that they
            compare, or each kernel scaled to its own largest absolute
            weight, so that weak kernels show their pattern too.
        max_out : int, optional
            Output channels drawn at most when ``out_channels`` is None:
            by default 100 in ``"rgb"`` mode, 32 in ``"channels"`` mode.
        max_in : int, default=16
            Input channels drawn at most when ``in_channels`` is None.
        %(ax)s
        annotate : bool, optional
            Write each weight in its pixel (``"channels"`` mode); by
            default when every number fits its pixel as drawn.
        cmap : str, default="RdBu_r"
            A diverging colour map (white is 0) for ``"channels"`` mode.

        Returns
        -------
        skviz.plot.KernelGridDisplay
            ``figure_``, ``ax_``, the drawn ``kernels_`` and ``image_``.
        """
        from .plot import KernelGridDisplay

        return KernelGridDisplay.from_estimator(
            self, layer, **_keywords(PlotMethodsMixin.plot_kernels, locals())
        )

    @_fill_doc
    def plot_feature_maps(
        self,
        X,
        y=None,
        layers: str | Sequence[str] | None = None,
        *,
        samples: int | Sequence[int] = 5,
        class_names=None,
        show_input: bool = True,
        image_shape: tuple[int, int] | None = None,
        channels: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
        max_channels: int = 8,
        scale: Literal["layer", "map"] = "layer",
        axes=None,
        cmap: str | None = None,
    ):
        """Input images and feature maps of conv/pooling layers, one row per sample.

        All layers come from one forward pass.

        Parameters
        ----------
        X : ndarray, tensor or DataFrame
            Input samples; the chosen ones are also drawn as images.
        y : array-like of shape (n_samples,), optional
            True classes, for the row labels.
        layers : str or list of str
            Layers with 4-D outputs ``(N, C, H, W)``: conv, activation,
            pooling, normalisation. Required.
        samples : int or sequence of int, default=5
            The first ``samples`` rows of X, or these row positions.
        %(class_names)s
        show_input : bool, default=True
            Draw the input image in the first column.
        image_shape : (int, int), optional
            Reshape flat inputs to this image size.
        channels : sequence of int or dict of layer to sequence, optional
            Channels to draw, the same for every layer or one list per
            layer; by default the first ``max_channels``.
        max_channels : int, default=8
        scale : {"layer", "map"}, default="layer"
            One colour scale per layer, with a colour bar, so that maps
            compare; or each map its own scale, to show weak maps.
        axes : array of Axes, optional
            ``n_samples x n_columns`` Axes; a new figure when None.
        cmap : str, optional
            Colour map of the feature maps; by default diverging for layers
            with negative values, else sequential.

        Returns
        -------
        skviz.plot.FeatureMapDisplay
            ``figure_``, ``axes_``, all captured ``maps_`` and the drawn
            ``channels_``.
        """
        from .plot import FeatureMapDisplay

        return FeatureMapDisplay.from_estimator(
            self,
            X,
            y,
            layers,
            **_keywords(PlotMethodsMixin.plot_feature_maps, locals()),
        )

    @_fill_doc
    def plot_misclassified(
        self,
        X,
        y,
        layer: str,
        *,
        activation: str | Callable | None = None,
        reduce: Literal["mean", "flatten"] = "mean",
        class_names=None,
        batch_size: int | None = None,
        ax=None,
        annotate: bool | None = None,
        cmap: str = "RdBu_r",
    ):
        """Mean activation of misclassified versus correct samples, per true class.

        Parameters
        ----------
        X : array-like
            Samples, in any form ``predict`` accepts.
        y : array-like of shape (n_samples,)
            True classes, labelled like ``classes_``.
        layer : str
            Layer reference.
        %(activation)s
        %(reduce)s
        %(class_names)s
        %(batch_size)s
        %(ax)s
        annotate : bool, optional
            Write the values in the cells; by default when at most 200 cells.
        cmap : str, default="RdBu_r"

        Returns
        -------
        skviz.plot.MisclassifiedDisplay
            ``figure_``, ``ax_``, the list of misclassified samples
            (``misclassified_``: true and predicted class, confidence) and
            the compared means (``comparison_``).
        """
        from .plot import MisclassifiedDisplay

        return MisclassifiedDisplay.from_estimator(
            self,
            X,
            y,
            layer,
            **_keywords(PlotMethodsMixin.plot_misclassified, locals()),
        )

    @_fill_doc
    def plot_class_profile(
        self,
        X,
        y,
        layer: str,
        *,
        activation: str | Callable | None = None,
        reduce: Literal["mean", "flatten"] = "mean",
        class_names=None,
        order: Literal["selectivity", "index"] = "selectivity",
        batch_size: int | None = None,
        ax=None,
        kind: Literal["auto", "errorbar", "heatmap"] = "auto",
        spread: Literal["iqr", "std"] = "iqr",
        annotate: bool | None = None,
    ):
        """Mean and spread of each unit's activation per class.

        The readable version of a heatmap with hundreds of rows.

        Parameters
        ----------
        X : array-like
            Samples, in any form ``predict`` accepts.
        y : array-like of shape (n_samples,)
            Classes to group by (true labels, or ``predict(X)``).
        layer : str
            Layer reference.
        %(activation)s
        %(reduce)s
        %(class_names)s
        order : {"selectivity", "index"}, default="selectivity"
            Units left to right by decreasing selectivity (how far the
            preferred class's mean stands above the others), or by index.
        %(batch_size)s
        %(ax)s
        kind : {"auto", "errorbar", "heatmap"}, default="auto"
            Error bars per unit and class, or a classes x units heatmap of
            the means; "auto" draws error bars up to 150 class-unit pairs.
        spread : {"iqr", "std"}, default="iqr"
            Error bars: the median with the interquartile range (25th to 75th
            percentile), which respects the range of the data (no bar below 0
            for ReLU outputs), or the mean ± standard deviation.
        annotate : bool, optional
            Heatmap only: write the means in the cells (by default up to
            200 cells).

        Returns
        -------
        skviz.plot.ClassProfileDisplay
            ``figure_``, ``ax_``, the tidy ``profile_`` and the
            ``selectivity_`` of every unit.
        """
        from .plot import ClassProfileDisplay

        return ClassProfileDisplay.from_estimator(
            self,
            X,
            y,
            layer,
            **_keywords(PlotMethodsMixin.plot_class_profile, locals()),
        )

    def plot_training_curves(
        self,
        *,
        keys: Sequence[str] | None = None,
        per_batch: bool | str = "auto",
        axes=None,
        logy: bool = False,
    ):
        """Loss and scores per epoch from ``history``, best epochs marked.

        Nothing is re-recorded: the curves are skorch's own history.

        Parameters
        ----------
        keys : list of str, optional
            Curves to draw; by default every numeric key of the history.
        per_batch : bool or "auto", default="auto"
            Also draw the loss of every training batch (skorch's
            ``net.history[:, "batches", :, "train_loss"]``); ``"auto"``: for
            runs of fewer than 5 epochs, whose epoch curve has too few points
            to show how training went.
        axes : Axes or array of Axes, optional
            One per panel: losses, then scores; a new figure when None.
        logy : bool, default=False
            Logarithmic loss axis.

        Returns
        -------
        skviz.plot.TrainingCurvesDisplay
            ``figure_``, ``axes_``, the ``history_`` frame and the
            ``best_epochs_``.
        """
        from .plot import TrainingCurvesDisplay

        return TrainingCurvesDisplay.from_estimator(
            self, **_keywords(PlotMethodsMixin.plot_training_curves, locals())
        )


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
