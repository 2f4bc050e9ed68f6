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


def make_net(callbacks, max_epochs=2, module=WineClassifier, **kwargs):
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
    return NeuralNetClassifier(module, **params)


def fit_displayed(X, y):
    """A net fitted for 3 epochs with :data:`DISPLAYED` recorded as ``"rec"``."""
    torch.manual_seed(0)
    rec = WeightRecorder(DISPLAYED)
    net = make_net([("rec", rec)], max_epochs=3)
    net.fit(X, y)
    return net, rec


def snapshot(path):
    """sha256 of every file under ``path`` (or of the file itself)."""
    import hashlib

    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    )
    return {
        str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
    }


def visible(folder):
    """Names in ``folder``: no temporary sibling may be left behind."""
    return sorted(p.name for p in folder.iterdir())


class WideWine(torch.nn.Module):
    """13 -> width -> 3: a parameter large enough to spill and to weigh."""

    def __init__(self, width=1000):
        super().__init__()
        self.hidden = torch.nn.Linear(13, width)
        self.out = torch.nn.Linear(width, 3)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


def recorded(X, y, seed=0, max_epochs=2, net=None, **rec_kwargs):
    """A fitted WeightRecorder (every parameter unless ``params`` is given);
    ``net`` holds more arguments of :func:`make_net`."""
    torch.manual_seed(seed)
    rec = WeightRecorder(**rec_kwargs)
    make_net([rec], max_epochs=max_epochs, **(net or {})).fit(X, y)
    return rec
