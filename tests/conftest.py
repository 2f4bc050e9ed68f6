import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
