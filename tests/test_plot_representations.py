"""CKADisplay, ProbeDisplay and EmbeddingDisplay: their numbers and artists."""

import numpy as np
import pandas as pd
import pytest
import torch
from _models import WineClassifier, make_net
from _refs import hand_hooks, leftover_hooks
from matplotlib.collections import PathCollection
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skviz.plot import CKADisplay, EmbeddingDisplay, ProbeDisplay
from skviz.represent import cka, cka_between, linear_cka, probe_layers

LAYERS = ["dense0", "dense1", "output"]


@pytest.fixture(scope="module")
def fitted(wine):
    X, y = wine
    return make_net(WineClassifier, max_epochs=5).fit(X, y), X, y


def test_cka_display_draws_the_matrix_on_a_fixed_scale(fitted):
    net, X, _ = fitted
    disp = CKADisplay.from_estimator(net, X, LAYERS)
    pd.testing.assert_frame_equal(disp.similarity_, cka(net, X, LAYERS))
    image = disp.ax_.images[0]
    np.testing.assert_array_equal(image.get_array(), disp.similarity_.to_numpy())
    assert image.get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == LAYERS
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == LAYERS
    texts = [t.get_text() for t in disp.ax_.texts]
    assert len(texts) == 9 and texts.count("1.00") >= 3
    assert "exact" in disp.ax_.get_title()
    assert disp.estimator_ == "linear"
    off = CKADisplay.from_estimator(net, X, LAYERS, annotate=False)
    assert len(off.ax_.texts) == 0


def test_cka_display_of_two_nets_names_the_axes(fitted, wine):
    net, X, y = fitted
    other = make_net(WineClassifier, seed=3, max_epochs=5).fit(X, y)
    disp = CKADisplay.from_estimators(
        net, other, X, layers_b=["dense1", "output"], names=("seed 0", "seed 3")
    )
    pd.testing.assert_frame_equal(
        disp.similarity_, cka_between(net, other, X, None, ["dense1", "output"])
    )
    assert disp.ax_.images[0].get_array().shape == (3, 2)
    assert disp.ax_.get_ylabel().startswith("seed 0")
    assert disp.ax_.get_xlabel().startswith("seed 3")
    assert "seed 0 vs seed 3" in disp.ax_.get_title()
    with pytest.raises(ValueError, match="net_b is None"):
        CKADisplay.from_estimators(net, None, X)


def test_cka_display_takes_a_search_and_refits_a_candidate_only_when_asked(wine):
    X, y = wine
    search = GridSearchCV(
        make_pipeline(
            FunctionTransformer(lambda a: a * 0.5),
            make_net(WineClassifier, max_epochs=3),
        ),
        {"inspectableneuralnetclassifier__lr": [0.05, 0.2]},
        cv=2,
    ).fit(X, y)
    best = search.best_estimator_
    inner = best[:-1].transform(X)
    disp = CKADisplay.from_estimator(search, X, ["dense0", "output"])
    np.testing.assert_allclose(
        disp.similarity_, cka(best[-1], inner, ["dense0", "output"]), atol=1e-12
    )
    with pytest.raises(ValueError, match="fit_data"):
        CKADisplay.from_estimators(search, None, X, candidate=2)
    with pytest.raises(ValueError, match="rank 5"):
        CKADisplay.from_estimators(search, None, X, candidate=5, fit_data=(X, y))
    torch.manual_seed(0)
    disp = CKADisplay.from_estimators(search, None, X, candidate=2, fit_data=(X, y))
    ranks = search.cv_results_["rank_test_score"]
    runner_up = search.cv_results_["params"][int(np.flatnonzero(ranks == 2)[0])]
    assert disp.candidate_params_ == runner_up
    assert disp.ax_.get_ylabel().startswith("best (rank 1)")
    assert disp.ax_.get_xlabel().startswith("rank 2")
    assert disp.similarity_.shape == (3, 3)
    assert leftover_hooks(best[-1].module_) == []


def test_probe_display_draws_score_by_depth(fitted):
    net, X, y = fitted
    disp = ProbeDisplay.from_estimator(net, X, y, LAYERS, cv=3)
    expected = probe_layers(net, X, y, LAYERS, cv=3)
    pd.testing.assert_frame_equal(
        disp.probes_.drop(columns="fit_time"), expected.drop(columns="fit_time")
    )
    line = disp.ax_.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(line.get_ydata(), expected["mean_score"])
    labels = [t.get_text() for t in disp.ax_.get_xticklabels()]
    assert labels == ["input\n(13)", "dense0\n(20)", "dense1\n(10)", "output\n(3)"]
    assert "3-fold" in disp.ax_.get_title()
    # Error bars: one vertical segment per depth, mean +- std long.
    segments = disp.ax_.collections[0].get_segments()
    lengths = [s[1][1] - s[0][1] for s in segments]
    np.testing.assert_allclose(lengths, 2 * expected["std_score"])


def test_embedding_display_projects_each_layer_and_marks_errors(fitted):
    net, X, y = fitted
    disp = EmbeddingDisplay.from_estimator(net, X, y, LAYERS)
    assert len(disp.axes_) == 3
    outputs = hand_hooks(net.module_.eval(), LAYERS, torch.from_numpy(X))
    wrong = net.predict(X) != y
    np.testing.assert_array_equal(disp.misclassified_, wrong)
    for ax, layer in zip(disp.axes_, LAYERS, strict=True):
        pca = PCA(2, random_state=0).fit(outputs[layer][0])
        points = pca.transform(outputs[layer][0])
        part = disp.embedding_[disp.embedding_["layer"] == layer]
        # Components are defined up to sign.
        for k, column in enumerate(["x", "y"]):
            got = part[column].to_numpy()
            sign = np.sign(got @ points[:, k])
            np.testing.assert_allclose(got, sign * points[:, k], atol=1e-4)
        ratio = pca.explained_variance_ratio_
        assert f"PC1 {100 * ratio[0]:.0f}%" in ax.get_title()
        assert ax.get_title().startswith(layer)
        scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
        # One scatter per class, then the misclassified ring when there is one.
        assert len(scatters) == 3 + bool(wrong.any())
        sizes = sum(len(s.get_offsets()) for s in scatters[:3])
        assert sizes == len(X)


class Scale:
    """A transformer that is no sklearn estimator: the first two columns."""

    def fit_transform(self, X):
        return X[:, :2] * 2


def test_embedding_accepts_any_transformer_and_tsne(fitted):
    net, X, y = fitted
    disp = EmbeddingDisplay.from_estimator(net, X, y, ["dense1"], method=Scale())
    part = disp.embedding_
    outputs = hand_hooks(net.module_.eval(), ["dense1"], torch.from_numpy(X))
    np.testing.assert_allclose(part["x"], outputs["dense1"][0][:, 0] * 2, rtol=1e-6)
    assert disp.axes_[0].get_title() == "dense1\nScale"
    tsne = EmbeddingDisplay.from_estimator(net, X[:60], None, ["output"], method="tsne")
    assert "t-SNE" in tsne.axes_[0].get_title()
    with pytest.raises(TypeError, match="fit_transform"):
        EmbeddingDisplay.from_estimator(net, X, y, ["dense1"], method=object())


def test_net_methods_forward_to_the_displays(fitted):
    net, X, y = fitted
    disp = net.plot_cka(X, LAYERS)
    assert isinstance(disp, CKADisplay)
    assert isinstance(net.plot_embedding(X, y, ["output"]), EmbeddingDisplay)
    frame = net.probe_layers(X, y, ["output"], cv=3)
    assert list(frame["layer"]) == ["input", "output"]
    outputs = hand_hooks(net.module_.eval(), LAYERS, torch.from_numpy(X))
    assert disp.similarity_.loc["dense0", "output"] == pytest.approx(
        linear_cka(outputs["dense0"][0], outputs["output"][0]), abs=1e-6
    )
