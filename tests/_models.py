"""Small modules shared by the tests (seed 000 and 001 shapes)."""

import torch.nn.functional as F
from torch import nn


class WineClassifier(nn.Module):
    """Seed 000: ReLU applied functionally between Linear layers."""

    def __init__(self, num_units=20):
        super().__init__()
        self.dense0 = nn.Linear(13, num_units)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 3)

    def forward(self, X):
        X = self.dense0(X)
        X = self.dense1(F.relu(X))
        return self.output(F.relu(X))


class DigitsCNN(nn.Module):
    """Seed 001's cnn1/act1/pool1 network scaled to 8x8 digits."""

    def __init__(self, channels=5, n_classes=10):
        super().__init__()
        self.cnn1 = nn.Conv2d(1, channels, kernel_size=3)
        self.act1 = nn.LeakyReLU(0.01)
        self.pool1 = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(channels * 3 * 3, 32)
        self.act2 = nn.ReLU()
        self.fc2 = nn.Linear(32, n_classes)

    def forward(self, x):
        return self.fc2(
            self.act2(self.fc1(self.flat(self.pool1(self.act1(self.cnn1(x))))))
        )
