"""Class labels of mixed types are refused by every display that groups by class."""

import numpy as np
import pytest

Y_MIXED = np.array([1, "a", 2.0, 1, 0] * 4, dtype=object)

CALLS = {
    "activation": lambda net, X, y: net.plot_activation("dense0", X, y),
    "misclassified": lambda net, X, y: net.plot_misclassified(X, y, "dense0"),
    "class_profile": lambda net, X, y: net.plot_class_profile(X, y, "dense0"),
    "dead_units": lambda net, X, y: net.plot_dead_units(X, y),
    "dead_units_report": lambda net, X, y: net.dead_units_report(X, y),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_mixed_label_types_are_named_before_any_capture(wine_fit, call):
    net, X, _ = wine_fit
    before = getattr(net, "n_capture_calls_", 0)
    with pytest.raises(
        TypeError, match=r"y mixes labels of different types \(number, str\)"
    ):
        CALLS[call](net, X.iloc[:20], Y_MIXED)
    assert getattr(net, "n_capture_calls_", 0) == before


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("kind", ["numbers", "strings"])
def test_labels_of_one_type_still_work(wine_fit, call, kind):
    net, X, y = wine_fit
    if kind == "strings":
        if call == "misclassified":
            pytest.skip("compares labels with the net's classes, which are 0, 1, 2")
        y = np.array([f"c{v}" for v in y], dtype=object)
    CALLS[call](net, X.iloc[:20], y[:20])
