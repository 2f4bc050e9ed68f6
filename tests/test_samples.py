"""Samples are counted and picked the way skorch counts them, in every display.

``len`` of a dict X is its number of keys: displays that checked labels
against ``len(X)`` refused a dict of ``input_ids``/``attention_mask``.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _models import make_net
from _zoo import TinyEncoder, tokens
from skorch.dataset import Dataset
from skorch.helper import SliceDict

from skviz.plot import ClassProfileDisplay, FeatureMapDisplay, MisclassifiedDisplay
from skviz.samples import n_samples, take_samples


def _containers(n=7):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(n, 3)).astype(np.float32)
    ids = np.arange(n * 4).reshape(n, 4)
    return {
        "array": A,
        "tensor": torch.from_numpy(A),
        "frame": pd.DataFrame(A, columns=list("abc")),
        "sparse": sp.csr_matrix(A),
        "dict": {"input_ids": ids, "attention_mask": np.ones_like(ids)},
        "slicedict": SliceDict(a=A, b=ids),
        "dataset": Dataset(A, np.arange(n)),
    }


@pytest.mark.parametrize("kind", list(_containers()))
def test_counts_samples_not_keys(kind):
    X = _containers(7)[kind]
    assert n_samples(X) == 7


@pytest.mark.parametrize("kind", list(_containers()))
def test_takes_the_chosen_rows_in_the_same_kind_of_container(kind):
    X = _containers(7)[kind]
    rows = np.array([5, 0, 2])
    picked = take_samples(X, rows)
    assert n_samples(picked) == 3
    full = _containers(7)["array"]
    if kind in ("array", "tensor", "frame", "sparse"):
        values = picked.toarray() if kind == "sparse" else np.asarray(picked)
        np.testing.assert_array_equal(values, full[rows])
    elif kind == "dataset":
        np.testing.assert_array_equal(
            np.stack([picked[i][0] for i in range(3)]), full[rows]
        )
    elif kind == "slicedict":
        assert isinstance(picked, SliceDict)
        np.testing.assert_array_equal(picked["a"], full[rows])
    else:
        assert set(picked) == {"input_ids", "attention_mask"}
        np.testing.assert_array_equal(picked["input_ids"][:, 0], rows * 4)
    if kind == "frame":
        assert list(picked.index) == [5, 0, 2]


def test_disagreeing_parts_name_their_lengths():
    with pytest.raises(ValueError, match=r"disagree.*'a': 3.*'b': 2"):
        n_samples({"a": np.zeros(3), "b": np.zeros(2)})


@pytest.fixture(scope="module")
def encoder():
    X, y = tokens(n=30)
    return make_net(TinyEncoder, max_epochs=2, lr=0.05).fit(X, y), X, y


@pytest.mark.parametrize("wrap", [dict, SliceDict])
def test_class_profile_and_misclassified_take_a_dict_x(encoder, wrap):
    net, X, y = encoder
    X = wrap(**X)
    profile = ClassProfileDisplay.from_estimator(
        net, X, y, layer="encoder.layers.1.linear1"
    )
    # Cross-check one class's mean against transform_layer on the same X.
    A = net.transform_layer(X, "encoder.layers.1.linear1").mean(axis=1)
    np.testing.assert_allclose(
        profile.means_.loc[0].to_numpy(), A[y == 0].mean(axis=0), rtol=1e-5
    )
    wrong = MisclassifiedDisplay.from_estimator(net, X, y, layer="head")
    assert wrong.n_samples == 30
    with pytest.raises(ValueError, match=r"one label per sample of X \(30\)"):
        MisclassifiedDisplay.from_estimator(net, X, y[:-1], layer="head")


class _KeywordConv(torch.nn.Module):
    """A conv net that takes its image by keyword (a dict X)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.head = torch.nn.Linear(4, 2)

    def forward(self, image, extra):
        x = self.relu(self.conv(image))
        return self.head(x.mean(dim=(2, 3)) + extra)


def test_feature_maps_of_dict_and_dataset_inputs():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(12, 1, 6, 6)).astype(np.float32)
    extra = np.zeros((12, 4), dtype=np.float32)
    y = np.arange(12) % 2
    net = make_net(_KeywordConv, max_epochs=1).fit({"image": images, "extra": extra}, y)
    X = {"image": images, "extra": extra}
    disp = FeatureMapDisplay.from_estimator(net, X, y, layers="relu", samples=[3, 7])
    expected = net.transform_layer(take_samples(X, [3, 7]), "relu")
    np.testing.assert_allclose(disp.maps_["relu"], expected)
    # Nothing to draw as an input image: the maps alone, rows still labelled.
    assert disp.images_ is None
    assert [lab.split(":")[0] for lab in disp.sample_labels_] == ["#3", "#7"]
    with pytest.raises(ValueError, match=r"y has 11 labels for 12 samples"):
        FeatureMapDisplay.from_estimator(net, X, y[:-1], layers="relu")
