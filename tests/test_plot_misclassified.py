"""MisclassifiedDisplay: class means of correct and misclassified samples
against a hand-written forward, the list of errors, labels and limits."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from skviz.analysis import NonFiniteWarning
from skviz.plot import MisclassifiedDisplay
from tests._plot_helpers import no_new_figures, tick_texts, wine_forward

WINES = ["barolo", "grignolino", "barbera"]


def test_misclassified_display_matches_manual(wine_fit):
    net, X, y = wine_fit
    y_noisy = y.copy()
    y_noisy[[0, 1, 70]] = [1, 2, 0]  # guaranteed errors against the truth
    disp = net.plot_misclassified(X, y_noisy, "dense0", activation="relu")
    proba = torch.softmax(torch.as_tensor(wine_forward(net, X)["output"]), 1).numpy()
    pred = proba.argmax(1)
    wrong = np.flatnonzero(pred != y_noisy)
    assert disp.misclassified_.index.tolist() == X.index[wrong].tolist()
    np.testing.assert_allclose(
        disp.misclassified_["confidence"], proba[wrong, pred[wrong]], rtol=1e-5
    )
    A = np.maximum(wine_forward(net, X)["dense0"], 0)
    c = sorted(set(y_noisy[wrong]))[0]
    ok = A[(y_noisy == c) & (pred == c)].mean(0)
    ok_n = int(((y_noisy == c) & (pred == c)).sum())
    bad = A[(y_noisy == c) & (pred != c)].mean(0)
    np.testing.assert_allclose(disp.image_[0], ok, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(disp.image_[1], bad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(disp.image_[2], bad - ok, rtol=1e-4, atol=1e-5)
    labels = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert labels[0] == f"class {c}: {ok_n} correct" and "misclassified" in labels[1]
    assert disp.vmin_ == -disp.vmax_
    assert f"{len(wrong)} of {len(X)} samples misclassified" in disp.ax_.get_title()


def test_misclassified_none_is_graceful(wine_fit):
    net, X, _ = wine_fit
    y_pred = net.predict(X)
    _, ax = plt.subplots()
    disp = no_new_figures(
        lambda: MisclassifiedDisplay.from_estimator(net, X, y_pred, "dense0", ax=ax)
    )
    assert disp.misclassified_.empty
    assert list(disp.misclassified_.columns) == [
        "true",
        "predicted",
        "confidence",
        "proba_true",
    ]
    assert "No misclassified samples" in ax.texts[0].get_text()


def test_misclassified_from_predictions_conv_and_nan():
    A = np.random.default_rng(0).normal(size=(6, 2, 3, 3))
    A[0, 0, 0, 0] = np.nan
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 0, 1, 1, 1])
    with pytest.warns(NonFiniteWarning):
        disp = MisclassifiedDisplay.from_predictions(A, y_true, y_pred, layer="conv")
    ch = np.nanmean(A.reshape(6, 2, -1), axis=2)
    np.testing.assert_allclose(disp.image_[1], ch[1])
    np.testing.assert_allclose(disp.image_[0], ch[[0, 2]].mean(0))
    assert "channel" in disp.ax_.get_xlabel()


def test_class_names_in_row_labels(wine_fit):
    net, X, y = wine_fit
    y_noisy = y.copy()
    y_noisy[[0, 1]] = [1, 2]  # class 0 samples labelled as 1 and 2
    pred = net.predict(X)
    disp = net.plot_misclassified(X, y_noisy, "dense0", class_names=WINES)
    labels = tick_texts(disp.ax_.get_yticklabels())
    assert labels == disp.row_labels_
    wrong = disp.misclassified_
    first = sorted(set(wrong["true"]))[0]
    counts = {
        p: int((wrong[wrong.true == first].predicted == p).sum())
        for p in sorted(set(wrong[wrong.true == first].predicted))
    }
    n_ok = int(((y_noisy == first) & (pred == y_noisy)).sum())
    n_bad = sum(counts.values())
    assert labels[0] == f"{WINES[first]}: {n_ok} correct"
    if len(counts) == 1:
        expected = f"{n_bad} misclassified as {WINES[next(iter(counts))]}"
    else:
        expected = f"{n_bad} misclassified, " + ", ".join(
            f"{k} as {WINES[p]}" for p, k in counts.items()
        )
    assert labels[1] == f"{WINES[first]}: {expected}"
    assert labels[2] == f"{WINES[first]}: misclassified − correct"
    mapped = net.plot_misclassified(
        X, y_noisy, "dense0", class_names=dict(enumerate(WINES))
    )
    assert tick_texts(mapped.ax_.get_yticklabels()) == labels


def test_rows_and_limits_are_computed_before_drawing():
    A = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, -4.0], [1.0, 1.0]])
    disp = MisclassifiedDisplay.from_predictions(
        A, [0, 0, 1, 1], [0, 1, 1, 1], layer="h"
    )
    again = MisclassifiedDisplay(disp.comparison_, disp.misclassified_, layer="h")
    assert not hasattr(again, "figure_")
    np.testing.assert_allclose(again.image_, [[1, 0], [3, 2], [2, 2]])
    assert (again.vmin_, again.vmax_) == (-3.0, 3.0)
    assert again.row_labels_ == disp.row_labels_


def test_row_labels_read_as_words():
    # true class 1: 6 samples misclassified, 2 as class 0 and 4 as class 2
    A = np.arange(30, dtype=float).reshape(10, 3)
    y_true = np.array([1] * 8 + [0, 2])
    y_pred = np.array([1, 1, 0, 0, 2, 2, 2, 2, 0, 0])
    disp = MisclassifiedDisplay.from_predictions(A, y_true, y_pred)
    assert disp.row_labels_ == [
        "class 1: 2 correct",
        "class 1: 6 misclassified, 2 as class 0, 4 as class 2",
        "class 1: misclassified − correct",
        "class 2: 0 correct",
        "class 2: 1 misclassified as class 0",
        "class 2: misclassified − correct",
    ]
    names = {0: "barolo", 1: "grignolino", 2: "barbera"}
    named = MisclassifiedDisplay.from_predictions(A, y_true, y_pred, class_names=names)
    assert (
        named.row_labels_[1] == "grignolino: 6 misclassified, 2 as barolo, 4 as barbera"
    )
    assert tick_texts(named.ax_.get_yticklabels()) == named.row_labels_
    plt.close("all")
