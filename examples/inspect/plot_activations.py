"""
Looking inside a layer: the wine MLP
====================================

A small MLP learns scikit-learn's wine data (13 chemical measurements, three
cultivars). Its hidden layers apply ReLU functionally
(``F.relu(self.dense0(X))``), the way many tutorials write them. With an
:class:`~skviz.InspectableNeuralNetClassifier` in place of skorch's
``NeuralNetClassifier``, one call each answers the usual questions about a
layer, with no forward hook to write or remove:

* which units of ``dense0`` fire for which wine;
* which units never fire at all (dead units);
* which inputs drive each unit (the weights, labelled with feature names);
* how misclassified wines differ from correctly classified ones;
* what each unit prefers, class by class.
"""

# %%
# Train the net
# -------------
# The net is fitted on DataFrames, so it records the 13 column names and
# the pictures below use them.
import torch
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier


class WineClassifier(nn.Module):
    """13 -> 20 -> 10 -> 3; ReLU applied functionally in forward()."""

    def __init__(self, num_units=20):
        super().__init__()
        self.dense0 = nn.Linear(13, num_units)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 3)

    def forward(self, X):
        X = F.relu(self.dense0(X))
        X = F.relu(self.dense1(X))
        return self.output(X)


torch.manual_seed(0)
wine = load_wine(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    wine.data,
    wine.target.to_numpy(),
    test_size=0.3,
    random_state=42,
    stratify=wine.target,
)
scaler = StandardScaler().set_output(transform="pandas")
X_train = scaler.fit_transform(X_train).astype("float32")
X_test = scaler.transform(X_test).astype("float32")

net = InspectableNeuralNetClassifier(
    WineClassifier,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=20,
    verbose=0,
)
net.fit(X_train, y_train)
print(f"test accuracy: {net.score(X_test, y_test):.3f}")

# %%
# Every layer has a name
# ----------------------
# Layers are the dotted names of ``module_.named_modules()``.
# ``layer_summary`` runs one forward pass and shows each output's shape.
net.layer_summary(X_test)

# %%
# The activations of five wines
# -----------------------------
# ``transform_layer`` returns a layer's output as a NumPy array, one row per
# sample. ReLU is applied in ``forward``, not by a module, so
# ``activation="relu"`` applies it to the captured output.
A = net.transform_layer(X_test[:5], "dense0", activation="relu")
print(A.shape)

# %%
# ``plot_activation`` draws the same numbers: rows are samples grouped by
# true class (a misclassified one would say ``class 1 → pred 2`` in red),
# columns are units, dead units are hatched and marked with ▼.
names = list(wine.target_names)
disp = net.plot_activation(
    "dense0", X_test[:5], y_test[:5], activation="relu", class_names=names
)

# %%
# Called without samples, it reuses those of the latest call, so
# comparing layers is one line each.
disp = net.plot_activation("dense1", activation="relu", class_names=names)

# %%
# Units that never fire
# ---------------------
# A unit is *dead* when it is never active (``> 0``) on any sample. The
# report covers every layer from **one** forward pass; with ``y`` it also
# counts on how many classes each unit fires.
relu = {"dense0": "relu", "dense1": "relu"}
report = net.dead_units_report(X_test, y_test, activation=relu)
report.groupby("layer", sort=False)[["dead", "saturated"]].sum()

# %%
disp = net.plot_dead_units(X_test, y_test, activation=relu)

# %%
# Which inputs drive each unit
# ----------------------------
# Rows are units, columns the 13 inputs, named after the DataFrame's
# columns; the bias is the last column, on the same colour scale centred
# at 0.
disp = net.plot_weights("dense0")

# %%
# Misclassified versus correct
# ----------------------------
# For each true class with errors: the mean activation of its correct
# samples, of its misclassified samples, and the difference. The list of
# errors comes with the display.
disp = net.plot_misclassified(
    X_test, y_test, "dense0", activation="relu", class_names=names
)
disp.misclassified_

# %%
# What each unit prefers
# ----------------------
# Mean and spread of every unit per class, units ordered by how strongly
# they prefer one class: the readable form of a heatmap with hundreds of
# rows.
disp = net.plot_class_profile(
    X_test, y_test, "dense0", activation="relu", class_names=names
)
disp.selectivity_.head()
