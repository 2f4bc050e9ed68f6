"""A monitor fitted once for the display tests: the wine net with a learning
rate that kills units, both sources recorded."""

import numpy as np
import torch

from skviz.record import ActivationMonitor


def monitored_wine(lr=1.5, max_epochs=8, **kwargs):
    from _models import WineClassifier, make_net
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    y = y.astype(np.int64)
    torch.manual_seed(0)
    mon = ActivationMonitor(every=2, monitor_set=(X, y), activation="relu", **kwargs)
    net = make_net(
        WineClassifier, max_epochs=max_epochs, lr=lr, batch_size=16, callbacks=[mon]
    ).fit(X, y)
    return net, mon
