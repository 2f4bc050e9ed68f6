"""
Feature maps and kernels of a CNN
=================================

A small CNN (``cnn1`` Conv2d 3x3, ``act1`` LeakyReLU, ``pool1`` MaxPool2d,
then two Linear layers) learns scikit-learn's 8x8 digits. The usual way to
see its feature maps is a forward hook per layer, a dict to collect the
outputs and a list of handles to remove afterwards; here the three layers
come back from **one** forward pass, drawn beside the input digits, and the
kernels of ``cnn1`` are one more call.
"""

# %%
# Train the CNN
# -------------
import torch
from sklearn.datasets import load_digits
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
    max_epochs=10,
    batch_size=64,
    verbose=0,
)
net.fit(X_train, y_train)
print(f"test accuracy: {net.score(X_test, y_test):.3f}")
net.layer_summary(X_test[:1])

# %%
# Several layers from one forward pass
# ------------------------------------
# ``transform_layers`` returns a dict of arrays, one per layer, in the
# shapes the layers produce.
maps = net.transform_layers(X_test[:4], ["cnn1", "act1", "pool1"])
{name: array.shape for name, array in maps.items()}

# %%
# Feature maps beside the input
# -----------------------------
# One row per digit: the input, then the channels of each layer. Each layer
# has one colour scale (diverging, 0 = white, when it has negative values)
# and a colour bar; ``scale="map"`` gives every map its own scale instead.
disp = net.plot_feature_maps(X_test, y_test, ["cnn1", "act1", "pool1"], samples=4)

# %%
# Kernels as images
# -----------------
# One tile per output and input channel; with one input channel (the
# digits are grey) the kernels wrap into a near-square grid. A first layer
# on colour images gets one colour image per kernel instead, its input
# channels as red, green and blue (``mode="rgb"``). One symmetric colour
# scale for all kernels, so that they compare; ``scale="kernel"`` scales
# each to its own largest weight.
disp = net.plot_kernels("cnn1")

# %%
# Channels and units that never fire
# ----------------------------------
# For a conv layer a unit is a channel, active on a digit when any of its
# positions is.
disp = net.plot_dead_units(X_test, layers=["act1", "act2"])
