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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The test nets are tiny: torch's intra-op threads only add contention on
    # small shared CI machines (several times slower), never speed.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
