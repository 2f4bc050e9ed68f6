"""
What the layers learned: CKA, linear probes by depth, embeddings
================================================================

Three questions come after reading activations: which layers (and which
nets) represent the same thing, at which depth the classes become linearly
separable, and what the data looks like at layer k. skviz answers each from
one pass over the samples:

* :func:`skviz.represent.cka` / :class:`~skviz.plot.CKADisplay`: linear
  centred kernel alignment (Kornblith et al. 2019) between every pair of
  layers, of one net or two; 1 means the same representation up to a
  rotation and a scale. Streamed batch by batch, so it works at any number
  of samples.
* :func:`skviz.represent.probe_layers` / :class:`~skviz.plot.ProbeDisplay`:
  a cross-validated logistic regression on each layer's activations.
* :class:`~skviz.plot.EmbeddingDisplay`: every layer's samples in 2-D
  (PCA, t-SNE, or any transformer such as ``umap.UMAP()``).

Probes are scored on samples **the net was not trained on**: on its training
samples a layer also holds what the net memorised, and every probe looks
better than the representation is. This example splits the data first and
inspects only the held-out half.
"""

# %%
# Three nets on two circles
# -------------------------
# The nets of :ref:`the layer animation
# <sphx_glr_auto_examples_layers_plot_layer_transformation.py>`: 2 -> 3 -> 3
# -> 3 -> 2 with tanh, ReLU or GELU, trained on one half of the circles.
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits, make_circles
from sklearn.model_selection import train_test_split
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.plot import CKADisplay, EmbeddingDisplay, ProbeDisplay
from skviz.represent import probe_layers


def small_mlp(activation):
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(2, 3),
            act1=activation(),
            fc2=nn.Linear(3, 3),
            act2=activation(),
            fc3=nn.Linear(3, 3),
            act3=activation(),
            out=nn.Linear(3, 2),
        )
    )


def train(module, X, y, epochs, lr=0.05, seed=7, batch_size=-1):
    torch.manual_seed(seed)
    net = InspectableNeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        verbose=0,
    )
    return net.fit(X, y)


X, y = make_circles(n_samples=600, noise=0.05, factor=0.4, random_state=0)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
activations = {"tanh": nn.Tanh, "ReLU": nn.ReLU, "GELU": nn.GELU}
nets = {
    name: train(small_mlp(act), X_train, y_train, epochs=80)
    for name, act in activations.items()
}
for name, net in nets.items():
    print(f"{name:>4}: held-out accuracy {net.score(X_test, y_test):.3f}")

# %%
# Which layers of one net are alike
# ---------------------------------
# CKA between every pair of the tanh net's layers, on the held-out samples.
# Without ``layers=`` the activation outputs and the output layer are
# compared; here every layer is. Each Linear layer and the activation after
# it are close (a monotone function of each unit changes little); the first
# and last layers differ most.
every_layer = ["fc1", "act1", "fc2", "act2", "fc3", "act3", "out"]
CKADisplay.from_estimator(nets["tanh"], X_test, layers=every_layer)
plt.show()

# %%
# Do two nets learn the same thing?
# ---------------------------------
# ``from_estimators`` compares the layers of two nets on the same samples,
# both nets run batch by batch together. The numbers are in
# ``similarity_`` (or :func:`skviz.represent.cka_between`, without a
# picture).
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
for ax, other in zip(axes, ["ReLU", "GELU"], strict=True):
    CKADisplay.from_estimators(
        nets["tanh"],
        nets[other],
        X_test,
        layers_a=every_layer,
        layers_b=every_layer,
        names=("tanh", other),
        ax=ax,
    )
plt.show()

# %%
# Where do the classes become linearly separable?
# -----------------------------------------------
# Depth 0 is the input: no line separates two circles (chance level). Each
# net's probes show how many layers it needs before a logistic regression
# reads the class off its activations.
fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
for name, net in nets.items():
    probes = probe_layers(net, X_test, y_test, every_layer, cv=5)
    ProbeDisplay(probes).plot(ax=ax, label=name)
plt.show()

# %%
# What the samples look like at each layer
# ----------------------------------------
# The ReLU net's held-out samples, projected on the two principal components
# of each layer (their share of the variance in the titles). Circled points
# are the ones the net gets wrong.
EmbeddingDisplay.from_estimator(
    nets["ReLU"], X_test, y_test, layers=["fc1", "act2", "act3", "out"]
)
plt.show()

# %%
# A wider net: handwritten digits
# -------------------------------
# An MLP 64 -> 64 -> 32 -> 10 on 8 x 8 digits. Its probes rise above the
# input's; its layers drift apart with depth; the classes separate into
# clusters in the last hidden layer.
digits_X, digits_y = load_digits(return_X_y=True)
digits_X = (digits_X / 16).astype(np.float32)
Xd_train, Xd_test, yd_train, yd_test = train_test_split(
    digits_X, digits_y, test_size=0.4, stratify=digits_y, random_state=0
)
digits_net = train(
    nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(64, 64),
            act1=nn.ReLU(),
            fc2=nn.Linear(64, 32),
            act2=nn.ReLU(),
            out=nn.Linear(32, 10),
        )
    ),
    Xd_train,
    yd_train,
    epochs=20,
    lr=0.01,
    batch_size=64,
)
print(f"digits: held-out accuracy {digits_net.score(Xd_test, yd_test):.3f}")
# Three folds and the activation outputs only keep this page fast; the
# default probes every layer on five folds.
probes = digits_net.probe_layers(Xd_test, yd_test, ["act1", "act2", "out"], cv=3)
probes

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
digits_net.plot_cka(Xd_test, ax=axes[0])
ProbeDisplay(probes).plot(ax=axes[1])
plt.show()

# %%
digits_net.plot_embedding(Xd_test, yd_test, layers=["fc1", "act2", "out"])
plt.show()
