"""Nets, data and hand computations shared by the display tests.

Plain functions: each test file wraps the ones it needs in its own
fixtures.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits, load_wine
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier
from tests._models import DigitsCNN, WineClassifier


class Net(InspectableNeuralNetClassifier):
    """An Inspectable classifier that counts its capture passes."""

    def capture_layers(self, *args, **kwargs):
        self.n_capture_calls_ = getattr(self, "n_capture_calls_", 0) + 1
        return super().capture_layers(*args, **kwargs)


def make_net(module, **kwargs):
    params = dict(
        max_epochs=3,
        lr=0.01,
        optimizer=torch.optim.Adam,
        criterion=nn.CrossEntropyLoss,
        verbose=0,
    )
    params.update(kwargs)
    return Net(module, **params)


def fitted_wine():
    """``(net, X, y)``: the wine MLP fitted on a DataFrame of scaled features."""
    data = load_wine(as_frame=True)
    X = StandardScaler().set_output(transform="pandas").fit_transform(data.data)
    X = X.astype("float32")
    y = data.target.to_numpy()
    torch.manual_seed(0)
    net = make_net(WineClassifier).fit(X, y)
    return net, X, y


def fitted_digits():
    """``(net, X, y)``: the small CNN fitted on 300 8x8 digits."""
    data = load_digits()
    X = (data.images[:300] / 16).astype("float32")[:, None]
    y = data.target[:300]
    torch.manual_seed(0)
    net = make_net(DigitsCNN, max_epochs=2).fit(X, y)
    return net, X, y


def wine_forward(net, X):
    """Hand-written forward of WineClassifier with the fitted parameters."""
    p = {
        k: v.detach().numpy().astype(np.float64)
        for k, v in net.module_.state_dict().items()
    }
    X = np.asarray(X, dtype=np.float64)
    d0 = X @ p["dense0.weight"].T + p["dense0.bias"]
    d1 = np.maximum(d0, 0) @ p["dense1.weight"].T + p["dense1.bias"]
    out = np.maximum(d1, 0) @ p["output.weight"].T + p["output.bias"]
    return {"dense0": d0, "dense1": d1, "output": out}


def cnn_forward(net, X):
    m = net.module_
    with torch.no_grad():
        c = F.conv2d(torch.as_tensor(X), m.cnn1.weight, m.cnn1.bias)
        a = F.leaky_relu(c, 0.01)
        p = F.max_pool2d(a, 2)
    return {"cnn1": c.numpy(), "act1": a.numpy(), "pool1": p.numpy()}


def no_new_figures(fn):
    before = plt.get_fignums()
    result = fn()
    assert plt.get_fignums() == before
    return result


def tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]
