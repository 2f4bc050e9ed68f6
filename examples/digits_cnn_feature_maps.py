"""Seeds 001 and 002 on 8x8 digits: feature maps beside the inputs, kernels, curves.

A small CNN with the layers ``cnn1``, ``act1``, ``pool1``
learns scikit-learn's bundled digits. Then, with one call each and no hooks
to manage:

* the input image of a few test digits beside the channels of ``cnn1``,
  ``act1`` and ``pool1`` (captured in one forward pass);
* the 3x3 kernels of ``cnn1`` as images;
* the loss and accuracy per epoch from ``net.history``
  and a classification report;
* which channels and units never fire on the test digits.

Run::

    python examples/digits_cnn_feature_maps.py --out figures/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from torch import nn

from skviz import InspectableNeuralNetClassifier


class DigitsCNN(nn.Module):
    """cnn1 / act1 / pool1, sized for 8x8 inputs: 8x8 -> 6x6 -> 3x3."""

    def __init__(self, channels=6, n_classes=10):
        super().__init__()
        self.cnn1 = nn.Conv2d(1, channels, kernel_size=3)
        self.act1 = nn.LeakyReLU(negative_slope=0.01)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(channels * 3 * 3, 32)
        self.act2 = nn.ReLU()
        self.fc2 = nn.Linear(32, n_classes)

    def forward(self, x):
        h = self.pool1(self.act1(self.cnn1(x)))
        return self.fc2(self.act2(self.fc1(self.flat(h))))


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"))
    parser.add_argument("--prefix", default="digits_", help="file name prefix")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    digits = load_digits()
    # (n, 1, 8, 8) in [0, 1]: the layout Conv2d expects.
    X = (digits.images / 16.0).astype("float32")[:, None]
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    net = InspectableNeuralNetClassifier(
        DigitsCNN,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=args.epochs,
        batch_size=64,
        device="cpu",
        verbose=0,
    )
    net.fit(X_train, y_train)
    print(net.layer_summary(X_test[:1]).to_string(index=False))
    print(classification_report(y_test, net.predict(X_test), digits=3))

    # Conv layers count a channel as active on a digit when any position is.
    report = net.dead_units_report(X_test, y_test)
    print("dead units per layer:")
    print(report.groupby("layer", sort=False)["dead"].agg(["sum", "size"]).to_string())

    figures = {
        "dead_units": net.plot_dead_units(X_test, layers=["act1", "act2"]),
        "feature_maps": net.plot_feature_maps(
            X_test, y_test, ["cnn1", "act1", "pool1"], samples=4
        ),
        "kernels": net.plot_kernels("cnn1"),
        "training_curves": net.plot_training_curves(),
    }
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
