"""UnitTimelineDisplay: units x checkpoints, dead units marked, layers stacked."""

import numpy as np
import pytest
import torch
from _monitor_helpers import monitored_wine
from torch import nn

from skviz.plot import UnitTimelineDisplay
from skviz.record import ActivationMonitor


@pytest.fixture(scope="module")
def fitted():
    return monitored_wine()


def test_timeline_values_order_and_dead_cells(fitted):
    mon = fitted[1]
    disp = UnitTimelineDisplay.from_monitor(mon, source="eval")
    fate = mon.unit_fate("eval")
    rec = mon.recording_
    assert list(disp.active) == ["dense0", "dense1"]
    for layer in ("dense0", "dense1"):
        info = fate[fate.layer == layer].set_index("unit")
        order = disp.order[layer]
        since = info["dead_since_checkpoint"].to_numpy()[order]
        died = since >= 0
        # dead units first, by time of death
        assert (np.diff(died.astype(int)) <= 0).all()
        assert (np.diff(since[died]) >= 0).all()
        np.testing.assert_allclose(
            disp.active[layer], rec.values("active", layer, "eval").T[order]
        )
        cols = np.arange(rec.n_checkpoints("eval"))
        expected = died[:, None] & (cols[None, :] >= since[:, None])
        np.testing.assert_array_equal(disp.dead[layer], expected)
    assert sum(d.any() for d in disp.dead.values()) >= 1  # the lr kills units
    # drawn: a 0..1 scale, the dead overlay masked elsewhere, layer labels
    assert disp.image_.get_clim() == (0.0, 1.0)
    shown = disp.dead_image_.get_array()
    dead = np.concatenate([disp.dead[k] for k in disp.dead])
    np.testing.assert_array_equal(~np.ma.getmaskarray(shown), dead)
    labels = [t.get_text() for t in disp.ax_.get_yticklabels()]
    assert labels == ["dense0\n(20 units)", "dense1\n(10 units)"]
    minor = [t.get_text() for t in disp.ax_.get_yticklabels(minor=True)]
    assert len(minor) == 30
    assert disp.colorbar_.ax.get_ylabel() == "fraction of samples active"
    assert "monitoring set" in disp.ax_.get_title()


def test_timeline_aggregates_large_layers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)

    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 1000)
            self.act = nn.ReLU()
            self.out = nn.Linear(1000, 2)

        def forward(self, x):
            return self.out(self.act(self.fc(x)))

    from _models import make_net

    torch.manual_seed(0)
    mon = ActivationMonitor(["act"], every=1)
    make_net(Wide, batch_size=32, callbacks=[mon]).fit(X, y)
    disp = UnitTimelineDisplay.from_monitor(mon, max_units=50)
    assert disp.active["act"].shape == (50, 4)
    assert disp.group_size["act"] == 20
    values = mon.values("active", "act").T[disp.order["act"]]
    np.testing.assert_allclose(disp.active["act"][0], values[:20].mean(axis=0))
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == [
        "act\n(1000 units,\n20 per row)"
    ]
    assert disp.ax_.get_yticklabels(minor=True) == []


def test_timeline_from_net_and_errors(fitted):
    net, mon = fitted
    disp = UnitTimelineDisplay.from_estimator(net, "dense1", source="train")
    assert list(disp.active) == ["dense1"]
    assert disp.steps[0] == 2
    with pytest.raises(ValueError, match="not monitored"):
        UnitTimelineDisplay.from_monitor(mon, "dense9")
    with pytest.raises(ValueError, match="max_units"):
        UnitTimelineDisplay.from_monitor(mon, max_units=0)
    with pytest.raises(ValueError, match="recorded nothing"):
        UnitTimelineDisplay.from_monitor(ActivationMonitor())
    with pytest.raises(TypeError, match="ActivationMonitor"):
        UnitTimelineDisplay.from_monitor(object())
