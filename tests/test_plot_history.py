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
