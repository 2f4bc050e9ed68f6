"""What every display of skviz.plot shares: ``from_*`` computes, ``plot(*,
ax=/axes=)`` only draws and returns self, one argument order."""

import inspect

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.plot import (
    ActivationDisplay,
    ClassProfileDisplay,
    DeadUnitsDisplay,
    FeatureMapDisplay,
    KernelGridDisplay,
    MisclassifiedDisplay,
    TrainingCurvesDisplay,
    WeightHeatmapDisplay,
)
from tests._plot_helpers import no_new_figures

# Each display from arrays, with the numbers behind its picture.
CASES = {
    "activation": (
        lambda: ActivationDisplay.from_activations(np.eye(3), layer="a"),
        ["data_", "dead_units_", "row_samples_", "unit_activity_"],
    ),
    "dead_units": (
        lambda: DeadUnitsDisplay.from_activations({"a": np.eye(3)}),
        ["report_"],
    ),
    "weights": (
        lambda: WeightHeatmapDisplay.from_weights(np.eye(3)),
        ["image_", "shown_units_", "shown_inputs_"],
    ),
    "kernels": (
        lambda: KernelGridDisplay.from_weights(np.ones((2, 2, 3, 3))),
        ["image_", "kernels_", "scales_"],
    ),
    "feature_maps": (
        lambda: FeatureMapDisplay.from_activations({"a": np.ones((2, 2, 3, 3))}),
        ["maps_", "channels_", "limits_"],
    ),
    "misclassified": (
        lambda: MisclassifiedDisplay.from_predictions(np.eye(3), [0, 1, 2], [0, 2, 2]),
        ["image_", "row_labels_", "comparison_"],
    ),
    "class_profile": (
        lambda: ClassProfileDisplay.from_activations(np.eye(4), [0, 0, 1, 1]),
        ["means_", "unit_order_", "profile_"],
    ),
    "training_curves": (
        lambda: TrainingCurvesDisplay.from_history([{"train_loss": 1.0}]),
        ["keys_", "best_epochs_"],
    ),
}
IDS = list(CASES)
BUILDS = [build for build, _ in CASES.values()]


def _target(disp):
    """New axes for a redraw of ``disp``, and the keyword that takes them."""
    n = disp.axes_.size if hasattr(disp, "axes_") else 1
    _, axes = plt.subplots(1, n, squeeze=False)
    kwarg = "axes" if hasattr(disp, "axes_") else "ax"
    return kwarg, axes if n > 1 else axes[0, 0]


@pytest.mark.parametrize("build", BUILDS, ids=IDS)
def test_plot_returns_self_and_redraws_on_given_axes(build):
    disp = build()
    n = disp.axes_.size if hasattr(disp, "axes_") else 1
    fig, axes = plt.subplots(1, n, squeeze=False)
    target = axes if n > 1 else axes[0, 0]
    kwarg = "axes" if hasattr(disp, "axes_") else "ax"
    result = no_new_figures(lambda: disp.plot(**{kwarg: target}))
    assert result is disp and disp.figure_ is fig
    assert disp.ax_ is axes[0, 0]


@pytest.mark.parametrize("build", BUILDS, ids=IDS)
def test_axes_are_keyword_only(build):
    disp = build()
    kwarg, target = _target(disp)
    with pytest.raises(TypeError):
        disp.plot(target)
    params = list(inspect.signature(type(disp).plot).parameters.values())
    assert [p.name for p in params[1:2]] == [kwarg]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])


@pytest.mark.parametrize(("build", "numbers"), list(CASES.values()), ids=IDS)
def test_plot_draws_the_numbers_computed_before(build, numbers):
    disp = build()
    before = {name: getattr(disp, name) for name in numbers}
    kwarg, target = _target(disp)
    no_new_figures(lambda: disp.plot(**{kwarg: target}))
    for name, value in before.items():
        assert getattr(disp, name) is value, f"plot recomputed {name}"


@pytest.mark.parametrize(
    ("display", "positional"),
    [
        (ActivationDisplay, ["net", "X", "y", "layer"]),
        (DeadUnitsDisplay, ["net", "X", "y", "layers"]),
        (FeatureMapDisplay, ["net", "X", "y", "layers"]),
        (MisclassifiedDisplay, ["net", "X", "y", "layer"]),
        (ClassProfileDisplay, ["net", "X", "y", "layer"]),
        (WeightHeatmapDisplay, ["net", "layer"]),
        (KernelGridDisplay, ["net", "layer"]),
        (TrainingCurvesDisplay, ["net"]),
    ],
)
def test_from_estimator_takes_one_argument_order(display, positional):
    params = inspect.signature(display.from_estimator).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert [p.name for p in params if p.kind in kinds] == positional
