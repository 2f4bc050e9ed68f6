"""Real architecture patterns, written by hand (no torchvision, no downloads).

Each is small enough to fit in a second on a CPU, and keeps the feature that
makes the real model hard to inspect: a shared in-place ReLU that runs twice
per block (ResNet), depthwise convolutions with squeeze-excitation and
Hardswish (MobileNetV3), self-attention with batch-second layouts
(transformer encoders), and recurrent layers in every layout.
"""

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = [
    "MobileBlockNet",
    "RecurrentNet",
    "ResNet18Like",
    "ResidualNet",
    "TinyEncoder",
    "tokens",
]


class BasicBlock(nn.Module):
    """ResNet's basic block: one ReLU module, in place, run twice.

    With ``stride`` 2 or more output channels than input channels, the
    shortcut is a strided 1x1 conv and BatchNorm (``downsample``), as in
    torchvision.
    """

    def __init__(self, channels, out_channels=None, stride=1):
        super().__init__()
        out_channels = out_channels or channels
        self.conv1 = nn.Conv2d(
            channels, out_channels, 3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or out_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResidualNet(nn.Module):
    """A stem (3 -> 8 channels), two basic blocks, global pooling, a head."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8), BasicBlock(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, n_classes)

    def forward(self, x):
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class ResNet18Like(nn.Module):
    """torchvision's resnet18 written out: the 7x7 stride-2 stem conv (3 -> 64),
    max pooling, BasicBlocks [2, 2, 2, 2] of 64/128/256/512 channels, global
    pooling and a head. 11.2 M parameters; on 3 x 64 x 64 inputs a forward
    pass of a few samples takes well under a second on a CPU.
    """

    def __init__(self, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = [64, 128, 256, 512]
        previous = 64
        for k, width in enumerate(widths, start=1):
            stride = 1 if k == 1 else 2
            blocks = [BasicBlock(previous, width, stride), BasicBlock(width)]
            setattr(self, f"layer{k}", nn.Sequential(*blocks))
            previous = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduced):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class MobileBlockNet(nn.Module):
    """Depthwise-separable block with squeeze-excitation and Hardswish."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.act0 = nn.Hardswish()
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.act1 = nn.Hardswish()
        self.se = SqueezeExcite(8, 4)
        self.pointwise = nn.Conv2d(8, 12, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(12, n_classes)

    def forward(self, x):
        x = self.act1(self.bn(self.depthwise(self.act0(self.stem(x)))))
        x = self.pointwise(self.se(x))
        return self.head(torch.flatten(self.pool(x), 1))


class TinyEncoder(nn.Module):
    """Token embedding, a two-layer transformer encoder, mean pooling, a head.

    Takes ``input_ids`` and ``attention_mask`` by keyword (a dict X).
    """

    def __init__(self, vocab=20, dim=8, heads=2, batch_first=True, n_classes=2):
        super().__init__()
        self.batch_first = batch_first
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=16, dropout=0.1, batch_first=batch_first
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=2, enable_nested_tensor=False
        )
        self.head = nn.Linear(dim, n_classes)

    def forward(self, input_ids, attention_mask):
        x = self.embed(input_ids)
        padding = attention_mask == 0
        if not self.batch_first:
            x = x.transpose(0, 1)
        x = self.encoder(x, src_key_padding_mask=padding)
        if not self.batch_first:
            x = x.transpose(0, 1)
        keep = attention_mask.unsqueeze(-1).to(x.dtype)
        return self.head((x * keep).sum(1) / keep.sum(1))


class RecurrentNet(nn.Module):
    """LSTM or GRU in any layout: batch_first, bidirectional, packed input."""

    def __init__(
        self,
        kind="lstm",
        batch_first=True,
        bidirectional=False,
        packed=False,
        n_inputs=3,
        hidden=5,
        n_classes=2,
    ):
        super().__init__()
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        self.packed, self.batch_first = packed, batch_first
        self.rnn = rnn(
            n_inputs,
            hidden,
            num_layers=2,
            batch_first=batch_first,
            bidirectional=bidirectional,
        )
        self.unpack = nn.Identity()
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_classes)

    def forward(self, x):
        # x is always (batch, time, features); the layout is the module's
        if not self.batch_first:
            x = x.transpose(0, 1)
        if self.packed:
            time_axis = 1 if self.batch_first else 0
            batch = x.shape[0 if self.batch_first else 1]
            lengths = torch.full((batch,), x.shape[time_axis], dtype=torch.int64)
            x = pack_padded_sequence(
                x, lengths, batch_first=self.batch_first, enforce_sorted=False
            )
        out, _ = self.rnn(x)
        if self.packed:
            out, _ = pad_packed_sequence(out, batch_first=self.batch_first)
        out = self.unpack(out)
        last = out[:, -1] if self.batch_first else out[-1]
        return self.head(last)


def tokens(n=18, steps=6, seed=0):
    """A dict X of ``input_ids`` / ``attention_mask`` for TinyEncoder, and labels."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 20, size=(n, steps))
    mask = np.ones((n, steps), dtype=np.int64)
    mask[::3, -2:] = 0  # some padded sequences
    return {"input_ids": ids, "attention_mask": mask}, (ids[:, 0] > 10).astype(np.int64)
