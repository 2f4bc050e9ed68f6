"""Small modules shared by the tests (seed 000 and 001 shapes)."""

import torch
import torch.nn.functional as F
from torch import nn

# Seed 000: ReLU applied functionally between Linear layers (13 -> 20 -> 10
# -> 3). The demo's module is this exact network; one definition serves both.
from skviz._demo import WineClassifier

__all__ = [
    "DigitsCNN",
    "DoubleWine",
    "FailingNet",
    "InplaceReLU",
    "InputInPlace",
    "LazyMLP",
    "NestedSequential",
    "ReusedBlock",
    "SequenceLSTM",
    "TokenBag",
    "TwoInputs",
    "WineClassifier",
    "make_net",
]


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


# ---------------------------------------------------------------------------
# Models for the capture-core tests (addressing, reliability, sklearn checks)
# ---------------------------------------------------------------------------


class SequenceLSTM(nn.Module):
    """nn.LSTM whose output is a tuple ``(out, (h_n, c_n))``; h_n is batch-second."""

    def __init__(self, n_inputs=3, hidden=6, num_layers=2, n_classes=2):
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class ReusedBlock(nn.Module):
    """``block`` runs twice per forward, on different inputs."""

    def __init__(self, n_inputs=4, width=5, n_classes=2):
        super().__init__()
        self.inp = nn.Linear(n_inputs, width)
        self.block = nn.Linear(width, width)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        h = self.block(F.tanh(self.inp(x)))
        h = self.block(F.tanh(h))
        return self.out(h)


class NestedSequential(nn.Module):
    """Dotted names: ``features.0``, ``features.1`` (ReLU), ``features.2``."""

    def __init__(self, n_inputs=4, n_classes=2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(n_inputs, 8), nn.ReLU(), nn.Linear(8, 6)
        )
        self.head = nn.Linear(6, n_classes)

    def forward(self, x):
        return self.head(self.features(x))


class InplaceReLU(nn.Module):
    """A Linear followed by ``ReLU(inplace=True)``, which overwrites its output."""

    def __init__(self, n_inputs=4, width=6, n_classes=2):
        super().__init__()
        self.fc = nn.Linear(n_inputs, width)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.out(self.relu(self.fc(x)))


class InputInPlace(nn.Module):
    """Scales its input in place, as ``x /= 255`` preprocessing in forward does."""

    def __init__(self, n_inputs=4, n_classes=2):
        super().__init__()
        self.fc = nn.Linear(n_inputs, n_classes)

    def forward(self, x):
        x.mul_(0.5)
        return self.fc(x)


class TwoInputs(nn.Module):
    """forward(x1, x2): skorch passes a dict X as keyword arguments."""

    def __init__(self, n1=3, n2=2, n_classes=2):
        super().__init__()
        self.a = nn.Linear(n1, 4)
        self.b = nn.Linear(n2, 4)
        self.out = nn.Linear(4, n_classes)

    def forward(self, x1, x2):
        return self.out(F.relu(self.a(x1) + self.b(x2)))


class FailingNet(nn.Module):
    """Raises ``fail_with`` inside forward on forward number ``fail_at`` (1-based).

    The error comes after ``first`` has run, i.e. after hooks on it fired.
    """

    def __init__(self, n_inputs=4, n_classes=2):
        super().__init__()
        self.first = nn.Linear(n_inputs, 6)
        self.drop = nn.Dropout(0.5)
        self.second = nn.Linear(6, 6)
        self.out = nn.Linear(6, n_classes)
        self.fail_at = None
        self.fail_with = RuntimeError
        self.n_forward = 0

    def forward(self, x):
        self.n_forward += 1
        h = F.relu(self.first(x))
        if self.fail_at is not None and self.n_forward == self.fail_at:
            raise self.fail_with("failure inside forward")
        return self.out(F.relu(self.second(self.drop(h))))


class LazyMLP(nn.Module):
    """Adapts to any number of features (estimator checks use many shapes).

    Seeded so that two fits give the same net (sklearn's checks compare
    repeated fits); casts to float32 so that plain skorch, which passes
    float64 through, gets as far as skviz does.
    """

    def __init__(self, n_classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.dense = nn.LazyLinear(8)
        self.out = nn.Linear(8, n_classes)

    def forward(self, x):
        return self.out(F.relu(self.dense(x.float())))


class DoubleWine(WineClassifier):
    """Seed 000's classifier in double precision."""

    def __init__(self, num_units=20):
        super().__init__(num_units)
        self.double()


class TokenBag(nn.Module):
    """Integer token ids -> Embedding -> mean over tokens -> Linear."""

    def __init__(self, vocab=10, dim=4, n_classes=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, n_classes)

    def forward(self, x):
        return self.out(self.emb(x).mean(dim=1))


def make_net(module, *, seed=0, **kwargs):
    """An unfitted InspectableNeuralNetClassifier with the tests' defaults.

    Cross-entropy, 2 epochs, lr 0.05, no validation split, silent; torch is
    seeded here so that the net's initial weights do not depend on test
    order.
    """
    from skviz import InspectableNeuralNetClassifier

    torch.manual_seed(seed)
    params = {
        "criterion": nn.CrossEntropyLoss,
        "max_epochs": 2,
        "lr": 0.05,
        "train_split": None,
        "verbose": 0,
    }
    params.update(kwargs)
    return InspectableNeuralNetClassifier(module, **params)


class CountingWine(WineClassifier):
    """The wine classifier counting its forwards in a class attribute.

    A counter on the class survives pickling of the net, which the dask
    path does for every graph (a hook on the instance would not travel).
    """

    forwards = 0

    def forward(self, X):
        type(self).forwards += 1
        return super().forward(X)


class TimeMajor(nn.Module):
    """Returns a time-major ``(steps, batch, 3)`` tensor from ``encode``.

    Like a recurrent layer with ``batch_first=False``, but with no flag that
    says so: only the sizes tell where the samples are.
    """

    def __init__(self, steps=4, n_inputs=3, n_classes=2):
        super().__init__()
        self.steps = steps
        self.encode = _TimeMajorEncode(steps)
        self.out = nn.Linear(n_inputs, n_classes)

    def forward(self, x):
        return self.out(self.encode(x).mean(dim=0))


class _TimeMajorEncode(nn.Module):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def forward(self, x):
        # (batch, 3) -> (steps, batch, 3): step t is x scaled by t + 1
        scale = torch.arange(1, self.steps + 1, dtype=x.dtype, device=x.device)
        return scale[:, None, None] * x[None]
