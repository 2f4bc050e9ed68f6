"""
Data moving through the layers: tanh, ReLU and GELU
===================================================

Two concentric circles cannot be separated by a line in the input plane. A
tiny classifier, 2 -> 3 -> 3 -> 3 -> 2, learns to do it by bending the
plane, layer by layer, until a line separates the classes. The usual way to
see this is to push the data and a grid through every layer by hand and
interpolate frames between them; skviz does it from the fitted nets in one
forward pass per net.

The same net is trained three times, with tanh, ReLU and GELU between the
Linear layers, and the three are animated side by side: tanh bends the
plane, ReLU folds it along lines, GELU folds it smoothly.
"""

# %%
# Three nets, one architecture
# ----------------------------
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import make_circles, make_moons
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.animate import LayerTransformAnimation


def small_mlp(activation):
    """2 -> 3 -> 3 -> 3 -> 2 with named layers."""
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


def train(activation, X, y, epochs=80, seed=7):
    torch.manual_seed(seed)
    net = InspectableNeuralNetClassifier(
        small_mlp(activation),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=epochs,
        batch_size=-1,  # full batch
        train_split=None,
        verbose=0,
    )
    return net.fit(X, y)


X, y = make_circles(n_samples=300, noise=0.05, factor=0.4, random_state=0)
X = X.astype(np.float32)
activations = {"tanh": nn.Tanh, "ReLU": nn.ReLU, "GELU": nn.GELU}
nets = {name: train(act, X, y) for name, act in activations.items()}
for name, net in nets.items():
    print(f"{name:>4}: training accuracy {net.score(X, y):.3f}")

# %%
# Side by side
# ------------
# Every net's stages (the input, then the output of each layer) move in
# step. The 3-D hidden layers are drawn on the plane of their first two
# principal components, turned to follow the previous stage, as the frame
# titles say; ``projection="3d"`` draws them in 3-D instead. The shading
# is each net's decision regions, carried through the layers with the grid.
# Three frames per transition and one still frame per stage keep this page
# light; the defaults (10 and 3) move more smoothly.
anim = LayerTransformAnimation.compare(
    list(nets.values()),
    X,
    y,
    titles=list(nets),
    frames_per_transition=3,
    hold_frames=1,
)
anim

# %%
# Every stage as a still
# ----------------------
# The filmstrip shows the stages themselves, without the frames between
# them: the picture to print.
anim.plot_filmstrip()
plt.show()

# %%
# Only some layers
# ----------------
# ``layers=`` picks the stages; here the input and the activations only,
# for a tanh net on two interleaved half moons.
X_moons, y_moons = make_moons(n_samples=200, noise=0.1, random_state=0)
X_moons = X_moons.astype(np.float32)
tanh_net = train(nn.Tanh, X_moons, y_moons, seed=0)
print(f"moons: training accuracy {tanh_net.score(X_moons, y_moons):.3f}")
moons = LayerTransformAnimation.from_estimator(
    tanh_net,
    X_moons,
    y_moons,
    layers=["act1", "act2", "act3", "out"],
    frames_per_transition=3,
    hold_frames=1,
)
moons
