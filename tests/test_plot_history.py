"""TrainingCurvesDisplay: curves from net.history, best epochs, keys, NaN."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skviz.analysis import NonFiniteWarning, history_frame
from skviz.plot import TrainingCurvesDisplay
from tests._models import WineClassifier
from tests._plot_helpers import make_net, no_new_figures


def test_training_curves_from_history_flags(digits_fit):
    net, _, _ = digits_fit
    n_epochs = len(net.history)
    disp = net.plot_training_curves()
    assert len(net.history) == n_epochs  # nothing re-recorded
    assert disp.axes_.shape == (1, 2)
    lines = {ln.get_label().split(" ")[0]: ln for ln in disp.ax_.lines}
    np.testing.assert_allclose(
        lines["train_loss"].get_ydata(), net.history[:, "train_loss"]
    )
    np.testing.assert_allclose(
        lines["valid_loss"].get_ydata(), net.history[:, "valid_loss"]
    )
    flagged = [r["epoch"] for r in net.history if r["valid_loss_best"]][-1]
    assert disp.best_epochs_["valid_loss"] == flagged
    assert disp.best_source_["valid_loss"] == "skorch"
    assert disp.axes_[0, 1].get_title() == "Scores per epoch"
    assert "valid_acc" in disp.keys_


def test_training_curves_without_validation_split_and_axes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 13)).astype("float32")
    y = rng.integers(0, 3, size=40)
    net = make_net(WineClassifier, train_split=None).fit(X, y)
    _, ax = plt.subplots()
    disp = no_new_figures(lambda: TrainingCurvesDisplay.from_estimator(net, axes=ax))
    assert disp.keys_ == ["train_loss"]
    assert disp.ax_ is ax
    with pytest.raises(ValueError, match="available"):
        TrainingCurvesDisplay.from_estimator(net, keys=["valid_loss"])


def test_training_curves_nan_warns_and_best_is_minimum():
    rows = [
        {"epoch": 1, "train_loss": 1.0, "valid_loss": 0.8},
        {"epoch": 2, "train_loss": np.nan, "valid_loss": 0.5},
        {"epoch": 3, "train_loss": 0.4, "valid_loss": 0.6},
    ]
    with pytest.warns(NonFiniteWarning, match="train_loss"):
        disp = TrainingCurvesDisplay.from_history(rows)
    assert disp.best_epochs_ == {"train_loss": 3, "valid_loss": 2}
    assert disp.best_source_["valid_loss"] == "minimum"
    assert disp.axes_.shape == (1, 1)


def test_training_curves_unfitted_net():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TrainingCurvesDisplay.from_estimator(make_net(WineClassifier))


def test_training_curves_leave_out_events_unless_asked():
    rows = [
        {"epoch": e, "train_loss": 1.0 / e, "event_lr": 0.1 / e, "train_acc": 0.5}
        for e in range(1, 4)
    ]
    disp = TrainingCurvesDisplay.from_history(rows)
    assert disp.keys_ == ["train_loss", "train_acc"]
    assert "train_acc" not in disp.best_epochs_  # a score without flags: no mark
    lr = TrainingCurvesDisplay.from_history(rows, keys=["event_lr"])
    np.testing.assert_allclose(lr.ax_.lines[0].get_ydata(), [0.1, 0.05, 0.1 / 3])


def test_keys_and_best_epochs_are_computed_before_drawing():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": 0.5} for e in (1, 2)]
    disp = TrainingCurvesDisplay(history_frame(rows), keys=["valid_loss"])
    assert not hasattr(disp, "figure_")
    assert disp.keys_ == ["valid_loss"]
    assert disp.best_epochs_ == {"valid_loss": 1}
    disp.plot(logy=True)
    assert disp.ax_.get_yscale() == "log"
    assert disp.ax_.lines[0].get_label() == "valid_loss (best: epoch 1)"


def _visible_ticks(ax):
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def test_batch_history_frame_places_batches_around_their_epoch():
    from skviz.analysis import batch_history_frame

    def batch(loss):
        return {"train_loss": loss, "train_batch_size": 8}

    rows = [
        {
            "epoch": 1,
            "train_loss": 0.9,
            "batches": [batch(1.0), batch(0.8), {"valid_loss": 0.7}],
        },
        {
            "epoch": 2,
            "train_loss": 0.5,
            "batches": [batch(v) for v in (0.6, 0.5, 0.5, 0.4)],
        },
    ]
    frame = batch_history_frame(rows)
    assert frame["epoch"].tolist() == [1, 1, 2, 2, 2, 2]
    assert frame["batch"].tolist() == [0, 1, 0, 1, 2, 3]
    # epoch e's n batches at e - 0.5 + (j + 0.5) / n
    np.testing.assert_allclose(
        frame["position"], [0.75, 1.25, 1.625, 1.875, 2.125, 2.375]
    )
    assert frame["train_loss"].tolist() == [1.0, 0.8, 0.6, 0.5, 0.5, 0.4]
    assert batch_history_frame([{"epoch": 1, "train_loss": 1.0}]).empty


def test_one_epoch_run_draws_its_batches_with_integer_ticks():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(96, 13)).astype("float32")
    y = rng.integers(0, 3, size=96)
    net = make_net(WineClassifier, train_split=None, max_epochs=1, batch_size=16)
    net.fit(X, y)
    disp = net.plot_training_curves()  # per_batch="auto": fewer than 5 epochs
    per_batch = [
        ln for ln in disp.ax_.lines if ln.get_label() == "train_loss per batch"
    ]
    np.testing.assert_allclose(
        per_batch[0].get_ydata(), net.history[:, "batches", :, "train_loss"][0]
    )
    np.testing.assert_allclose(per_batch[0].get_xdata(), 0.5 + (np.arange(6) + 0.5) / 6)
    assert disp.batches_ is not None and len(disp.batches_) == 6
    assert _visible_ticks(disp.ax_) == [1.0]
    assert disp.ax_.get_title() == "Loss per epoch and per batch"
    # without batches: one point, still no fractional epoch ticks
    plain = net.plot_training_curves(per_batch=False)
    assert plain.batches_ is None
    assert _visible_ticks(plain.ax_) == [1.0]
    assert not any("per batch" in ln.get_label() for ln in plain.ax_.lines)
    plt.close("all")


def test_per_batch_choices():
    rows = [{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 4)]
    assert TrainingCurvesDisplay.from_history(rows).batches_ is None  # none recorded
    with pytest.raises(ValueError, match="records no training batch"):
        TrainingCurvesDisplay.from_history(rows, per_batch=True)
    with pytest.raises(ValueError, match="per_batch must be"):
        TrainingCurvesDisplay.from_history(rows, per_batch="yes")
    batches = [{"train_loss": 0.5, "train_batch_size": 4}] * 2
    long = [{"epoch": e, "train_loss": 0.5, "batches": batches} for e in range(1, 6)]
    assert TrainingCurvesDisplay.from_history(long).batches_ is None  # 5 epochs
    shown = TrainingCurvesDisplay.from_history(long, per_batch=True)
    assert len(shown.batches_) == 10
    assert all(float(t).is_integer() for t in _visible_ticks(shown.ax_))
    plt.close("all")
