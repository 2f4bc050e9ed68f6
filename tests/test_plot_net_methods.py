"""The net's convenience methods (``net.plot_*``, ``net.dead_units_report``):
one argument order, the reuse rule of plot_activation, and a net that stays
a plain sklearn estimator."""

import copy
import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from skviz import InspectableNeuralNetClassifier
from tests._models import WineClassifier
from tests._plot_helpers import make_net


def test_mixin_keeps_clone_and_pickle(wine_fit):
    net, X, _ = wine_fit
    net.plot_weights("dense0")
    assert clone(net).get_params().keys() == net.get_params().keys()
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X))


def test_inputs_not_modified(wine_fit):
    net, X, y = wine_fit
    X0, y0 = X.copy(), y.copy()
    net.plot_misclassified(X, y, "dense0")
    net.plot_class_profile(X, y, "dense0")
    net.dead_units_report(X, y)
    pd.testing.assert_frame_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_reuses_latest_inspection_samples(wine_fit):
    net, X_test, y_test = wine_fit
    net = copy.deepcopy(net)  # the test changes its inspection state
    net.transform_layer(X_test[:7], "dense1")
    disp = net.plot_activation("dense0", activation="relu")
    assert disp.data_.shape == (7, 20)
    # Without y the rows are grouped by predicted class.
    pred = net.predict(X_test[:7])
    np.testing.assert_array_equal(disp.row_classes_, np.sort(pred))
    assert all(" pred class " in label for label in disp.row_labels_)

    net.plot_activation("dense1", X_test[:4], y_test[:4])
    disp = net.plot_activation("dense0")
    assert disp.data_.shape == (4, 20)
    np.testing.assert_array_equal(disp.row_classes_, np.sort(y_test[:4]))


def test_no_samples_yet_is_a_clear_error(wine_fit):
    _, X, y = wine_fit
    fresh = make_net(WineClassifier, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="plot_activation needs samples"):
        fresh.plot_activation("dense0")


def _positional(fn) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind in kinds and p.name != "self"]


@pytest.mark.parametrize(
    ("method", "positional"),
    [
        ("plot_activation", ["name", "X", "y"]),
        ("dead_units_report", ["X", "y", "layers"]),
        ("plot_dead_units", ["X", "y", "layers"]),
        ("plot_feature_maps", ["X", "y", "layers"]),
        ("plot_misclassified", ["X", "y", "layer"]),
        ("plot_class_profile", ["X", "y", "layer"]),
        ("plot_weights", ["layer"]),
        ("plot_kernels", ["layer"]),
        ("plot_training_curves", []),
    ],
)
def test_one_argument_order(method, positional):
    # Samples, labels, layer(s), then keywords only; plot_activation takes
    # the layer first because it can reuse the latest samples.
    assert _positional(getattr(InspectableNeuralNetClassifier, method)) == positional


def test_displays_leave_the_reused_samples_alone(wine_fit):
    net, X, y = wine_fit
    net = copy.deepcopy(net)
    net.transform_layer(X[:3], "dense1")
    kept = net.inspection_X_
    net.plot_misclassified(X, y, "dense0")
    net.plot_class_profile(X, y, "dense0")
    net.plot_dead_units(X, y)
    net.dead_units_report(X)
    assert net.inspection_X_ is kept
    assert net.plot_activation("dense0").data_.shape == (3, 20)
