"""What the hidden units of a wine MLP do, end to end.

Trains a small MLP (ReLU applied functionally) on scikit-learn's wine data, fitted on a
DataFrame so that the 13 feature names flow into the pictures, then answers
the usual questions about its layers with one call each:

* the activation heatmap of ``dense0`` for five test wines (five samples, labelled by class);
* which units never fire, for any class (``net.dead_units_report``);
* which inputs drive each unit (weight heatmap labelled with feature names);
* how misclassified wines differ from correctly classified ones;
* the per-class profile of every unit, and the training curves.

Run::

    python examples/wine_activations.py --out figures/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier


class WineClassifier(nn.Module):
    """13 -> 20 -> 10 -> 3 MLP: ReLU applied functionally between layers."""

    def __init__(self, num_units=20):
        super().__init__()
        self.dense0 = nn.Linear(13, num_units)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 3)

    def forward(self, X):
        X = self.dense0(X)
        X = self.dense1(F.relu(X))
        return self.output(F.relu(X))


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"))
    parser.add_argument("--prefix", default="wine_", help="file name prefix")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    wine = load_wine(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        wine.data,
        wine.target.to_numpy(),
        test_size=0.3,
        random_state=42,
        stratify=wine.target,
    )
    # Keep DataFrames: the net records the column names at fit.
    scaler = StandardScaler().set_output(transform="pandas")
    X_train = scaler.fit_transform(X_train).astype("float32")
    X_test = scaler.transform(X_test).astype("float32")

    net = InspectableNeuralNetClassifier(
        WineClassifier,
        module__num_units=20,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=args.epochs,
        device="cpu",
        verbose=0,
    )
    net.fit(X_train, y_train)
    print(f"test accuracy: {net.score(X_test, y_test):.3f}")

    # dense0 and dense1 are followed by F.relu in forward(), not by modules.
    relu = {"dense0": "relu", "dense1": "relu"}
    names = list(wine.target_names)

    report = net.dead_units_report(X_test, y_test, activation=relu)
    dead = report.query("dead")
    print(f"units that never fire for any class: {len(dead)}")
    if len(dead):
        print(dead[["layer", "unit"]].to_string(index=False))
    print(report.groupby("layer", sort=False)["active_fraction"].describe().round(2))

    figures = {
        "activation": net.plot_activation(
            "dense0", X_test[:5], y_test[:5], activation="relu"
        ),
        "dead_units": net.plot_dead_units(X_test, y_test, activation=relu),
        "weights": net.plot_weights("dense0"),
        "misclassified": net.plot_misclassified(
            X_test, y_test, "dense0", activation="relu", class_names=names
        ),
        "class_profile": net.plot_class_profile(
            X_test, y_test, "dense0", activation="relu", class_names=names
        ),
        "training_curves": net.plot_training_curves(),
    }
    wrong = figures["misclassified"].misclassified_
    print(f"misclassified test wines: {len(wrong)}")
    if len(wrong):
        print(wrong.round(3).to_string())

    paths = {}
    for name, display in figures.items():
        path = args.out / f"{args.prefix}{name}.png"
        display.figure_.savefig(path, dpi=90)
        plt.close(display.figure_)
        paths[name] = path
        print(f"wrote {path}")
    return paths


if __name__ == "__main__":
    main()
