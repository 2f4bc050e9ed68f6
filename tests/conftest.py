import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from _models import DigitsCNN, WineClassifier, make_net


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The test nets are tiny: torch's intra-op threads only add contention on
    # small shared CI machines (several times slower), never speed.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------------------
# Data and fitted nets shared by the test files (module-level modules live in
# _models.py, independent references in _refs.py)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wine():
    """Standardised wine features (float32) and labels (int64)."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="session")
def digits():
    """8x8 digits as (n, 1, 8, 8) float32 images in [0, 1], labels int64."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y.astype(np.int64)


@pytest.fixture(scope="module")
def wine_net(wine):
    """The wine classifier after 5 epochs on all of wine."""
    X, y = wine
    return make_net(WineClassifier, max_epochs=5, lr=0.05, batch_size=32).fit(X, y)


@pytest.fixture(scope="module")
def cnn_net(digits):
    """The small digits CNN after 2 epochs on 300 images."""
    X, y = digits
    return make_net(DigitsCNN, max_epochs=2, lr=0.1).fit(X[:300], y[:300])


@pytest.fixture(scope="module")
def wine_fit():
    """``(net, X, y)``: the wine MLP fitted on a DataFrame of scaled features.

    The net counts its capture passes (``n_capture_calls_``); see
    ``_plot_helpers.py``.
    """
    from _plot_helpers import fitted_wine

    return fitted_wine()


@pytest.fixture(scope="module")
def digits_fit():
    """``(net, X, y)``: the small digits CNN fitted on 300 images."""
    from _plot_helpers import fitted_digits

    return fitted_digits()
