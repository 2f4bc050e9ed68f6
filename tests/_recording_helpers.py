"""Data and nets shared by the recording tests and the training-dynamics
display tests (plain functions; each test file keeps its own fixtures)."""

import numpy as np
import torch
from _models import WineClassifier
from sklearn.datasets import load_wine
from skorch import NeuralNetClassifier

from skviz.record import WeightRecorder

N_TRAIN_BATCHES = 9  # 178 wine samples, 80 % train split, batches of 16
DISPLAYED = ["dense0.weight", "dense1.weight", "dense1.bias", "output.weight"]


def wine_data():
    X, y = load_wine(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y.astype(np.int64)


def make_net(callbacks, max_epochs=2, **kwargs):
    params = dict(
        max_epochs=max_epochs,
        batch_size=16,
        lr=0.05,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        criterion=torch.nn.CrossEntropyLoss,
        callbacks=callbacks,
        device="cpu",
        verbose=0,
    )
    params.update(kwargs)
    return NeuralNetClassifier(WineClassifier, **params)


def fit_displayed(X, y):
    """A net fitted for 3 epochs with :data:`DISPLAYED` recorded as ``"rec"``."""
    torch.manual_seed(0)
    rec = WeightRecorder(DISPLAYED)
    net = make_net([("rec", rec)], max_epochs=3)
    net.fit(X, y)
    return net, rec
