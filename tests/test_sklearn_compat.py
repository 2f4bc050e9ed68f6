"""Inspectable nets behave as sklearn estimators and transformers.

clone, pickle, deepcopy, Pipeline (float64 and pandas upstream steps),
set_output, cross_val_score, GridSearchCV with process workers, and
sklearn's own estimator checks compared with plain skorch's.
"""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _models import DigitsCNN, LazyMLP, TokenBag, WineClassifier
from sklearn.base import clone
from sklearn.datasets import load_digits, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from torch import nn

from skviz import InspectableNeuralNetClassifier, InspectableNeuralNetRegressor


def make_net(**kwargs):
    params = {
        "module": WineClassifier,
        "max_epochs": 8,
        "lr": 0.03,
        "optimizer": torch.optim.Adam,
        "criterion": nn.CrossEntropyLoss,
        "batch_size": 32,
        "iterator_train__shuffle": True,  # load_wine is sorted by class
        "train_split": None,
        "verbose": 0,
    }
    params.update(kwargs)
    return InspectableNeuralNetClassifier(**params)


@pytest.fixture(scope="module")
def wine_frame():
    X, y = load_wine(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def wine(wine_frame):
    X, y = wine_frame
    return StandardScaler().fit_transform(X.to_numpy()).astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(wine):
    torch.manual_seed(0)
    X, y = wine
    return make_net(layer="dense0").fit(X, y)


def manual_dense0(module, X):
    W = module.dense0.weight.detach().double().numpy()
    b = module.dense0.bias.detach().double().numpy()
    return np.asarray(X, dtype=np.float64) @ W.T + b


def no_hooks(module):
    return not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


# ---------------------------------------------------------------------------
# Parameters, clone, fit/transform API
# ---------------------------------------------------------------------------


def test_layer_is_a_parameter(wine):
    X, y = wine
    net = make_net(layer="dense0", module__num_units=7)
    assert net.get_params()["layer"] == "dense0"
    assert net.fit(X, y) is net
    module, weights = net.module_, copy.deepcopy(net.module_.state_dict())

    assert net.set_params(layer="dense1") is net
    assert net.get_params()["layer"] == "dense1"
    # Choosing another layer must not rebuild or retrain the module.
    assert net.module_ is module
    for key, value in net.module_.state_dict().items():
        assert torch.equal(value, weights[key])
    assert net.transform(X).shape == (len(X), 10)
    assert list(net.get_feature_names_out()) == [f"dense1_{i}" for i in range(10)]


def test_clone_keeps_layer_and_copies_nothing_fitted(fitted, wine):
    X, _ = wine
    fitted.transform_layer(X[:5], "dense1")
    c = clone(fitted)
    assert c.layer == "dense0"
    assert c.get_params()["module"] is WineClassifier
    for attr in (
        "module_",
        "inspection_X_",
        "layer_shapes_",
        "input_shape_",
        "n_features_in_",
    ):
        assert not hasattr(c, attr), attr
    with pytest.raises(NotFittedError):
        check_is_fitted(c)
    with pytest.raises(NotFittedError):
        c.transform(X)


def test_clone_keeps_set_output(wine):
    X, y = wine
    net = make_net(layer="dense1", max_epochs=1).set_output(transform="pandas")
    c = clone(net)
    assert "_sklearn_output_config" not in c.get_params()
    Z = c.fit(X, y).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == [f"dense1_{i}" for i in range(10)]


def test_fit_transform_and_transform_agree(wine):
    X, y = wine
    torch.manual_seed(0)
    net = make_net(layer="dense0", max_epochs=2)
    Z = net.fit_transform(X, y)
    assert Z.shape == (len(X), 20) and Z.dtype == np.float32
    np.testing.assert_array_equal(Z, net.transform(X))
    np.testing.assert_allclose(Z, manual_dense0(net.module_, X), atol=1e-5)


def test_transform_without_layer_is_a_clear_error(wine):
    X, y = wine
    net = make_net(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"layer is None.*set_params\(layer="):
        net.transform(X)
    with pytest.raises(ValueError, match="layer is None"):
        net.get_feature_names_out()


def test_transform_leaves_estimator_unchanged(fitted, wine):
    X, _ = wine
    fitted.transform(X[:3])  # the layer-shape memo may fill once
    before = dict(vars(fitted))
    fitted.transform(X)
    fitted.get_feature_names_out()
    assert vars(fitted) == before
    # transform_layer, an interactive call, remembers its samples.
    fitted.transform_layer(X[:4], "dense1")
    assert fitted.inspection_X_ is not None and len(fitted.inspection_X_) == 4


def test_feature_names_follow_a_rebuilt_module(wine):
    X, y = wine
    net = make_net(layer="dense0", max_epochs=1).fit(X, y)
    assert len(net.get_feature_names_out()) == 20
    net.set_params(module__num_units=5)  # rebuilds module_ without fit
    assert len(net.get_feature_names_out()) == 5
    assert net.transform(X).shape == (len(X), 5)


def test_feature_names_for_conv_layers():
    X, y = load_digits(return_X_y=True)
    X = (X[:60] / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    net = make_net(module=DigitsCNN, layer="pool1", max_epochs=1).fit(X, y[:60])
    names = net.get_feature_names_out()
    assert len(names) == len(set(names)) == 5 * 3 * 3
    assert names[0] == "pool1_0_0_0" and names[-1] == "pool1_4_2_2"
    Z = net.set_output(transform="pandas").transform(X)
    assert list(Z.columns) == list(names)
    np.testing.assert_array_equal(
        Z.to_numpy(), net.transform_layer(X, "pool1").reshape(60, -1)
    )


def test_feature_names_for_integer_inputs_before_any_transform():
    X = np.random.default_rng(0).integers(0, 10, size=(20, 5))
    net = make_net(module=TokenBag, layer="emb", max_epochs=1).fit(X, np.arange(20) % 2)
    # The shape comes from a probe with zeros of the fitted dtype (int64
    # token ids; float zeros would break the Embedding).
    names = net.get_feature_names_out()
    assert len(names) == 5 * 4
    assert names[0] == "emb_0_0" and names[-1] == "emb_4_3"
    assert net.transform(X).shape == (20, 20)


# ---------------------------------------------------------------------------
# pickle and deepcopy
# ---------------------------------------------------------------------------


def test_pickle_round_trip_after_inspection(fitted, wine):
    X, _ = wine
    fitted.transform_layer(X, "dense1", activation="relu")
    fitted.transform_layers(X[:10], ["dense0", "output"])
    expected = fitted.transform(X)
    assert no_hooks(fitted.module_)

    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded.layer == "dense0"
    assert getattr(loaded, "inspection_X_", None) is None
    np.testing.assert_array_equal(loaded.transform(X), expected)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert no_hooks(loaded.module_)
    # The copy is independent of the original.
    with torch.no_grad():
        loaded.module_.dense0.bias.add_(1.0)
    np.testing.assert_array_equal(fitted.transform(X), expected)


def test_pickle_round_trip_after_failed_call(wine):
    X, y = wine
    net = make_net(layer="dense0", max_epochs=1).fit(X, y)

    def explode(*_):
        raise KeyboardInterrupt

    handle = net.module_.dense1.register_forward_hook(explode)
    with pytest.raises(KeyboardInterrupt):
        net.transform_layer(X, "dense1")
    handle.remove()
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(loaded.transform(X), net.transform(X))


def test_deepcopy(fitted, wine):
    X, _ = wine
    fitted.transform_layer(X[:5], "dense0")
    twin = copy.deepcopy(fitted)
    np.testing.assert_array_equal(twin.transform(X), fitted.transform(X))
    assert twin.module_ is not fitted.module_
    with torch.no_grad():
        twin.module_.dense0.weight.mul_(2.0)
    np.testing.assert_allclose(
        fitted.transform(X), manual_dense0(fitted.module_, X), atol=1e-5
    )
    assert not np.allclose(twin.transform(X), fitted.transform(X))


# ---------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------


def test_pipeline_after_standard_scaler_float64(wine_frame):
    X, y = wine_frame
    X = X.to_numpy()  # float64, unscaled
    torch.manual_seed(0)
    pipe = Pipeline([("scale", StandardScaler()), ("net", make_net(layer="dense0"))])
    assert pipe.fit(X, y) is pipe
    assert pipe.score(X, y) > 0.9
    scaled = pipe["scale"].transform(X)
    assert scaled.dtype == np.float64
    np.testing.assert_array_equal(pipe.predict(X), pipe["net"].predict(scaled))
    Z = pipe.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, manual_dense0(pipe["net"].module_, scaled), atol=1e-5)


def test_pipeline_pandas_output_end_to_end(wine_frame):
    X, y = wine_frame
    torch.manual_seed(0)
    pipe = Pipeline(
        [("scale", StandardScaler()), ("net", make_net(layer="dense0"))]
    ).set_output(transform="pandas")
    pipe.fit(X, y)
    net = pipe["net"]
    # The net saw a DataFrame with the scaler's column names.
    np.testing.assert_array_equal(net.feature_names_in_, np.asarray(X.columns))
    assert net.n_features_in_ == 13

    Z = pipe.transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == [f"dense0_{i}" for i in range(20)]
    assert list(Z.columns) == list(pipe.get_feature_names_out())
    assert Z.index.equals(X.index)
    scaled = pipe["scale"].transform(X)
    np.testing.assert_allclose(
        Z.to_numpy(), manual_dense0(net.module_, scaled.to_numpy()), atol=1e-5
    )
    assert pipe.score(X, y) > 0.9


def test_pandas_pipeline_feeds_activations_to_a_linear_probe(wine_frame):
    X, y = wine_frame
    torch.manual_seed(0)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("net", make_net(layer="dense1")),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).set_output(transform="pandas")
    pipe.fit(X, y)
    assert list(pipe["clf"].feature_names_in_) == [f"dense1_{i}" for i in range(10)]
    assert pipe.score(X, y) > 0.9


def test_regressor_pipeline_float64_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X @ rng.normal(size=5) + 0.1 * rng.normal(size=120)).reshape(-1, 1)
    torch.manual_seed(0)
    net = InspectableNeuralNetRegressor(
        nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)),
        layer="1",
        max_epochs=30,
        lr=0.02,
        optimizer=torch.optim.Adam,
        train_split=None,
        verbose=0,
    )
    pipe = Pipeline([("scale", StandardScaler()), ("net", net)]).fit(X, y)
    assert pipe.score(X, y) > 0.8
    Z = pipe.transform(X)
    assert Z.shape == (120, 16)
    assert (np.abs(Z) <= 1).all()  # tanh outputs


def test_cross_val_score(wine):
    X, y = wine
    torch.manual_seed(0)
    scores = cross_val_score(make_net(layer="dense0"), X, y, cv=3)
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()
    assert scores.mean() > 0.8


@pytest.mark.slow
def test_grid_search_linear_probe_with_process_workers(wine):
    X, y = wine
    probe = Pipeline(
        [
            ("net", make_net(layer="dense0", max_epochs=8)),
            ("clf", LogisticRegression(max_iter=300)),
        ]
    )
    grid = {
        "net__lr": [0.003, 0.03],
        "net__module__num_units": [4, 12],
        "net__layer": ["dense0", "dense1"],
    }
    search = GridSearchCV(probe, grid, cv=2, n_jobs=2, error_score="raise")
    search.fit(X, y)

    assert len(search.cv_results_["params"]) == 8
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.85
    best = search.best_estimator_
    net = best["net"]
    assert net.layer == search.best_params_["net__layer"]
    assert net.module__num_units == search.best_params_["net__module__num_units"]
    width = net.module__num_units if net.layer == "dense0" else 10
    assert best[:-1].transform(X).shape == (len(X), width)
    assert best["clf"].coef_.shape[1] == width
    assert no_hooks(net.module_)


# ---------------------------------------------------------------------------
# sklearn's estimator checks: skviz adds no failure to plain skorch's
# ---------------------------------------------------------------------------

# Every check that fails for an inspectable net, with the reason. Each one
# fails for plain skorch too (test_expected_failures_fail_for_plain_skorch),
# for a limit of skorch's that skviz does not lift. Observed with
# scikit-learn 1.9.1 and skorch 1.4.0, on LazyMLP (casts its input to
# float32, so that plain skorch gets as far as skviz does).
SKORCH_LIMITS = {
    "check_classifiers_classes": "skorch does not encode labels: string "
    "class labels reach the criterion as strings",
    "check_classifiers_regression_target": "skorch does not validate y: a "
    "continuous target is not refused by a classifier",
    "check_classifiers_train": "the test module has 3 outputs whatever the "
    "number of classes (skorch infers no output width), so predict_proba of "
    "a 2-class problem has 3 columns; plain skorch stops earlier, on lists",
    "check_dtype_object": "numbers stored as objects: skorch's collate fails, "
    "skviz refuses them with a message naming the dtype (sklearn wants them "
    "accepted)",
    "check_estimator_sparse_array": "skorch cannot fit on sparse input "
    "(skviz inspects sparse input; fitting is skorch's)",
    "check_estimator_sparse_matrix": "as check_estimator_sparse_array",
    "check_estimator_sparse_tag": "as check_estimator_sparse_array",
    "check_no_attributes_set_in_init": "skorch's __init__ sets history_, "
    "initialized_ and the virtual parameters",
    "check_requires_y_none": "skorch's wording for a missing y",
    "check_set_params": "skorch lists its internal _params_to_validate set as "
    "a parameter, which sklearn's check sets to a float",
    "check_supervised_y_2d": "skorch hands a 2-D y to the criterion, which "
    "takes one label per sample",
}

CHECKED_NET_KWARGS = {
    "criterion": nn.CrossEntropyLoss,
    "max_epochs": 20,
    "lr": 0.1,
    "train_split": None,
    "verbose": 0,
}


def _checked_net():
    return InspectableNeuralNetClassifier(LazyMLP, layer="dense", **CHECKED_NET_KWARGS)


def _parametrize_with_checks():
    try:
        from sklearn.utils.estimator_checks import parametrize_with_checks

        return parametrize_with_checks(
            [_checked_net()],
            expected_failed_checks=lambda _estimator: SKORCH_LIMITS,
            xfail_strict=True,
        )
    except TypeError:  # scikit-learn < 1.8: no expected_failed_checks/xfail_strict
        return pytest.mark.skip(reason="needs scikit-learn >= 1.8")


@pytest.mark.slow
@_parametrize_with_checks()
def test_sklearn_estimator_checks(estimator, check):
    # xfail_strict: a check listed in SKORCH_LIMITS that passes fails here,
    # so the list cannot hide a failure that is skviz's own.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


@pytest.mark.slow
def test_expected_failures_fail_for_plain_skorch():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            results = estimator_checks.check_estimator(
                NeuralNetClassifier(LazyMLP, **CHECKED_NET_KWARGS),
                on_fail=None,
                on_skip=None,
            )
        except TypeError:  # scikit-learn < 1.6 has no on_fail
            pytest.skip("check_estimator(on_fail=None) needs scikit-learn >= 1.6")
    skorch_failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert set(SKORCH_LIMITS) <= skorch_failed
    # skviz passes these, which plain skorch fails.
    assert {
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_fit2d_predict1d",
        "check_estimators_nan_inf",
        "check_estimators_partial_fit_n_features",
        "check_supervised_y_no_nan",
        "check_complex_data",
        "check_estimators_empty_data_messages",
        "check_classifier_data_not_an_array",
    } <= skorch_failed - set(SKORCH_LIMITS)
