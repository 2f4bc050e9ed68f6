"""
Inside a residual CNN: dead channels, colour kernels, feature maps
===================================================================

A small ResNet, written the way torchvision writes ``resnet18`` (a stem
conv on RGB input, BasicBlocks whose one ``nn.ReLU(inplace=True)`` runs
twice, a strided 1x1 shortcut where the width doubles; only smaller, for
8x8 images), learns scikit-learn's digits drawn in colour. Three things that a plain forward
hook gets wrong or makes hard on such a net:

* the block ReLU runs twice per forward pass, so one hook sees two outputs,
  and it works in place, so an output kept without a copy is overwritten by
  the next step; skviz names the runs ``relu@0`` / ``relu@1`` and copies;
* "dead" means "never > 0" only for a ReLU output; the conv and BatchNorm
  outputs before it are negative half the time by construction;
* a first conv on RGB input is best seen as colour images, one per kernel.
"""

# %%
# Digits in colour, and the ResNet
# --------------------------------
# Each 8x8 digit is painted: the stroke in one colour, the background in
# another, both drawn at random per image. The label is still the digit,
# so the colours are noise the net must learn to ignore.
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from skviz import InspectableNeuralNetClassifier

rng = np.random.default_rng(0)
torch.manual_seed(0)
digits = load_digits()
strokes = digits.images / 16.0  # (n, 8, 8)
ink = rng.uniform(0.2, 1.0, size=(len(strokes), 3, 1, 1))
paper = rng.uniform(0.0, 0.5, size=(len(strokes), 3, 1, 1))
X = (paper + (ink - paper) * strokes[:, None]).astype("float32")  # (n, 3, 8, 8)
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)


class BasicBlock(nn.Module):
    """Two 3x3 convs and one ReLU module run twice, as in torchvision."""

    def __init__(self, channels, out_channels=None, stride=1):
        super().__init__()
        out_channels = out_channels or channels
        self.conv1 = nn.Conv2d(channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or out_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class SmallResNet(nn.Module):
    def __init__(self, width=12, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


net = InspectableNeuralNetClassifier(
    SmallResNet,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=8,
    batch_size=64,
    verbose=0,
)
net.fit(X_train, y_train)
print(f"test accuracy: {net.score(X_test, y_test):.3f}")

# %%
# Which layers run, and how often
# -------------------------------
# ``layer_summary`` lists every run: the block ReLUs appear twice, as
# ``layer1.relu@0`` and ``layer1.relu@1``.
summary = net.layer_summary(X_test[:1])
summary[summary["name"].str.contains("relu")]

# %%
# Dead channels of the block ReLUs
# --------------------------------
# Without ``layers=``, the dead-unit report looks at the outputs of the
# activation modules, every run of each, and judges them by the ReLU rule
# (a channel is dead when it is never > 0 at any position of any sample).
# The conv and BatchNorm outputs are not in it: "never > 0" says nothing
# about them.
report = net.dead_units_report(X_test, y_test)
report.groupby("layer", sort=False)[["dead"]].sum().T

# %%
disp = net.plot_dead_units(X_test, y_test)

# %%
# The first-layer kernels as colour images
# ----------------------------------------
# ``conv1`` reads RGB, so each of its 12 kernels is drawn as one small
# colour image (its three input channels as red, green and blue), all on
# one scale centred at grey = 0.
disp = net.plot_kernels("conv1")

# %%
# Feature maps through the blocks
# -------------------------------
# The stem's ReLU, then the second run of each block's ReLU: the block
# outputs. ``layer2`` works at half the resolution with twice the channels.
disp = net.plot_feature_maps(
    X_test, y_test, ["relu", "layer1.relu@1", "layer2.relu@1"], samples=3
)
