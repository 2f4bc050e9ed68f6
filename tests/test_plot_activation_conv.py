"""ActivationDisplay on outputs with positions: conv feature maps reduced to
one column per channel (mean or max over positions), 3-D outputs flattened,
dead channels, NaN left out of channel means."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _models import DigitsCNN
from sklearn.datasets import load_digits
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.analysis import NonFiniteWarning
from skviz.plot import ActivationDisplay


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y


@pytest.fixture(scope="module")
def cnn_net(digits):
    X, y = digits
    torch.manual_seed(0)
    return InspectableNeuralNetClassifier(
        DigitsCNN,
        module__channels=6,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=2,
        train_split=None,
        verbose=0,
    ).fit(X[:400], y[:400])


def _manual_act1(cnn_net, X):
    conv = cnn_net.module_.cnn1
    with torch.no_grad():
        out = F.leaky_relu(conv(torch.as_tensor(X)), 0.01)
    return out.numpy()


def test_conv_mean_per_channel(cnn_net, digits):
    X, y = digits
    Xs, ys = X[400:440], y[400:440]
    disp = cnn_net.plot_activation("act1", Xs, ys)
    maps = _manual_act1(cnn_net, Xs)
    picked = np.concatenate(disp.row_samples_)
    np.testing.assert_allclose(
        disp.data_, maps.mean(axis=(2, 3))[picked], rtol=1e-5, atol=1e-6
    )
    assert disp.reduction_ == "mean over 6×6 per channel"
    assert "mean over 6×6 per channel" in disp.ax_.get_title()
    assert disp.ax_.get_xlabel() == "channel index (6 channels)"

    peak = cnn_net.plot_activation("act1", Xs, ys, reduce="max")
    np.testing.assert_allclose(
        peak.data_, maps.max(axis=(2, 3))[picked], rtol=1e-5, atol=1e-6
    )
    assert "max over 6×6 per channel" in peak.ax_.get_title()

    flat = cnn_net.plot_activation("act1", Xs[:3], ys[:3], reduce="flatten")
    assert flat.data_.shape == (3, 6 * 6 * 6)


def test_three_dim_outputs_flattened_by_default():
    A = np.arange(4 * 3 * 5, dtype=float).reshape(4, 3, 5) - 20
    auto = ActivationDisplay(A, layer="seq").plot()
    np.testing.assert_array_equal(auto.data_, A.reshape(4, 15))
    assert auto.reduction_ == "3×5 flattened"
    assert "3×5 flattened" in auto.ax_.get_title()

    mean = ActivationDisplay(A, layer="seq", reduce="mean").plot()
    np.testing.assert_allclose(mean.data_, A.mean(axis=2))
    assert mean.ax_.get_xlabel() == "channel index (3 channels)"


def test_conv_dead_channel(cnn_net, digits):
    X, y = digits
    net = copy.deepcopy(cnn_net)
    with torch.no_grad():
        net.module_.cnn1.weight[2] = 0.0
        net.module_.cnn1.bias[2] = -1.0
    disp = net.plot_activation("act1", X[400:460], y[400:460])
    maps = _manual_act1(net, X[400:460])
    expected = np.flatnonzero((maps > 0).reshape(60, 6, -1).any(axis=2).sum(0) == 0)
    assert 2 in expected
    np.testing.assert_array_equal(disp.dead_units_, expected)
    # act1 is a LeakyReLU: never positive, which is not dead (issue 13).
    legend = disp.ax_.get_legend().get_texts()[0].get_text()
    assert legend.startswith("never-positive channels (never > 0 on all 60 samples")
    assert "LeakyReLU's negative side still passes a signal" in legend


def test_nan_positions_left_out_of_channel_mean():
    A = np.ones((2, 2, 2, 2))
    A[0, 0, 0, 0] = np.inf
    A[0, 0, 1, 1] = 5.0
    A[1, 1] = np.nan
    with pytest.warns(NonFiniteWarning):
        disp = ActivationDisplay(A, layer="maps").plot()
    np.testing.assert_allclose(disp.data_, [[7 / 3, 1.0], [1.0, np.nan]])
    np.testing.assert_array_equal(disp.dead_units_, [])
    assert np.isposinf(A[0, 0, 0, 0])  # masking worked on a copy
