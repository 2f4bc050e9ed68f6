"""
Inside a small transformer encoder
==================================

A transformer encoder reads sequences of token ids, with an attention mask
for the padding: two inputs, which skorch passes to ``forward`` by name
when ``X`` is a dict. The task is made up so that it needs attention: a
sequence belongs to class 1 when token 1 comes *before* token 2 in it.

With an :class:`~skviz.InspectableNeuralNetClassifier` the dict goes
through skviz the same way, and one call reads any layer:

* the structure of every layer's output, tuples and all;
* the attention probabilities of one head, ``(samples, heads, query, key)``;
* a linear probe on every layer, in a scikit-learn ``Pipeline``: how much of
  the answer each layer already holds.
"""

# %%
# The encoder and the data
# ------------------------
# Each encoder layer calls its attention module with ``need_weights=True``
# and ``average_attn_weights=False``, so the module returns the attention
# probabilities of every head as the second element of its output tuple.
import matplotlib.pyplot as plt
import numpy as np
import torch
from skorch.helper import SliceDict
from torch import nn

from skviz import InspectableNeuralNetClassifier

VOCAB, STEPS, DIM, HEADS = 12, 10, 16, 2


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(DIM, HEADS, batch_first=True)
        self.norm1 = nn.LayerNorm(DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 32), nn.GELU(), nn.Linear(32, DIM))
        self.norm2 = nn.LayerNorm(DIM)

    def forward(self, x, padding):
        a, _ = self.attn(
            x,
            x,
            x,
            key_padding_mask=padding,
            need_weights=True,
            average_attn_weights=False,
        )
        x = self.norm1(x + a)
        return self.norm2(x + self.ff(x))


class TinyEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.position = nn.Embedding(STEPS, DIM)
        self.layers = nn.ModuleList([EncoderLayer(), EncoderLayer()])
        self.head = nn.Linear(DIM, 2)

    def forward(self, input_ids, attention_mask):
        steps = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed(input_ids) + self.position(steps)
        padding = attention_mask == 0
        for layer in self.layers:
            x = layer(x, padding)
        keep = attention_mask.unsqueeze(-1).to(x.dtype)
        return self.head((x * keep).sum(1) / keep.sum(1))


def make_sequences(n, rng):
    """Token ids 3..11, with one 1 and one 2 at random places; some padding."""
    ids = rng.integers(3, VOCAB, size=(n, STEPS))
    lengths = rng.integers(6, STEPS + 1, size=n)
    mask = (np.arange(STEPS) < lengths[:, None]).astype(np.int64)
    y = np.zeros(n, dtype=np.int64)
    for i, length in enumerate(lengths):
        first, second = rng.choice(length, size=2, replace=False)
        ids[i, first], ids[i, second] = 1, 2
        y[i] = first < second
    ids[mask == 0] = 0  # the padding token
    return SliceDict(input_ids=ids, attention_mask=mask), y


rng = np.random.default_rng(0)
X, y = make_sequences(1200, rng)
X_test, y_test = make_sequences(300, rng)

torch.manual_seed(0)
net = InspectableNeuralNetClassifier(
    TinyEncoder,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=3e-3,
    max_epochs=25,
    batch_size=64,
    train_split=None,
    verbose=0,
)
net.fit(X, y)
print(f"test accuracy: {net.score(X_test, y_test):.3f}")

# %%
# What every layer returns
# ------------------------
# ``layer_summary`` runs one forward pass with a hook on every module. The
# attention modules return a tuple: the attended values ``(None, 10, 16)``
# and the attention probabilities ``(None, 2, 10, 10)``; ``None`` marks the
# batch axis. ``"layers.1.attn[1]"`` names the second element.
summary = net.layer_summary(X_test)
print(summary[summary.name.str.count(r"\.") <= 2].to_string(index=False))

# %%
# Attention probabilities of one head
# -----------------------------------
# The probabilities of every head for every test sequence come from one
# call. Averaged over the class-1 sequences, head by head and query by
# key, they show where each position looks. A few samples are also drawn
# one by one, with their tokens on the axes.
probs = net.transform_layer(X_test, "layers.1.attn[1]")
print(probs.shape, probs.dtype)  # (300, 2, 10, 10)

sample = int(np.flatnonzero(y_test == 1)[0])
images = [
    probs[y_test == 1, 0].mean(0),
    probs[y_test == 1, 1].mean(0),
    probs[sample, 0],
]
vmax = max(float(image.max()) for image in images)  # one colour scale for all
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
titles = [
    "head 0, mean over class 1",
    "head 1, mean over class 1",
    "head 0, one sample",
]
for ax, image, title in zip(axes, images, titles, strict=True):
    shown = ax.imshow(image, cmap="viridis", vmin=0, vmax=vmax)
    ax.set_title(f"layers.1.attn: {title}", fontsize="medium")
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
tokens = [str(t) for t in X_test["input_ids"][sample]]
axes[2].set_xticks(range(STEPS), tokens)
axes[2].set_yticks(range(STEPS), tokens)
axes[2].set_xlabel(f"key token (sample {sample}; 0 is padding)")
axes[2].set_ylabel("query token")
fig.colorbar(shown, ax=axes, label="attention probability", shrink=0.85)
plt.show()

# %%
# A linear probe on every layer
# -----------------------------
# A logistic regression on each layer's output shows how much of the
# answer the layer already holds. The fitted net becomes the first step of
# a ``Pipeline`` through scikit-learn's ``FrozenEstimator`` (``fit`` leaves
# it as it is), with ``layer`` set to the layer to probe; ``transform``
# returns that layer's output, flattened to one row per sequence.
import copy

from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

layers = ["embed", "layers.0.norm1", "layers.0", "layers.1.norm1", "layers.1"]
scores = {}
for layer in layers:
    features = copy.deepcopy(net).set_params(layer=layer)
    probe = make_pipeline(FrozenEstimator(features), LogisticRegression(max_iter=2000))
    scores[layer] = cross_val_score(probe, X_test, y_test, cv=3).mean()
    print(f"{layer:>15}: probe accuracy {scores[layer]:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
bars = ax.bar(range(len(layers)), list(scores.values()), color="tab:blue")
ax.bar_label(bars, fmt="%.2f", padding=2)
majority = max(np.mean(y_test), 1 - np.mean(y_test))
ax.axhline(majority, color="0.4", ls="--", label=f"majority class ({majority:.2f})")
ax.set_xticks(range(len(layers)), layers, rotation=20)
ax.set_ylim(0.4, 1.08)
ax.set_ylabel("probe accuracy (3-fold)")
ax.set_title("What a linear probe reads from each layer")
fig.legend(loc="outside right upper", frameon=False)
plt.show()
