"""
skviz in a Pipeline, and searching over ``layer``
=================================================

An inspectable net is a scikit-learn transformer: ``transform(X)`` returns
the activations of its ``layer`` parameter, one column per unit. Put it
between a scaler and a linear model and the linear model reads the net's
hidden representation (a *probe*); since ``layer`` is an ordinary
hyper-parameter, ``GridSearchCV`` can ask which layer reads best.
"""

# %%
# A probe pipeline
# ----------------
# The scaler hands the net float64 arrays; the net casts them to its
# module's dtype, so no ``astype`` is needed.
import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skviz import InspectableNeuralNetClassifier


class WineClassifier(nn.Module):
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
X, y = load_wine(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y.to_numpy(), test_size=0.3, random_state=42, stratify=y
)

probe = make_pipeline(
    StandardScaler(),
    InspectableNeuralNetClassifier(
        WineClassifier,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=15,
        verbose=0,
        layer="dense1",
    ),
    LogisticRegression(),
)
probe.fit(X_train, y_train)
print(f"probe accuracy on dense1: {probe.score(X_test, y_test):.3f}")

# %%
# The features the linear model sees
# ----------------------------------
# ``set_output(transform="pandas")`` works through the whole pipeline: the
# net names its columns after the layer.
features = probe[:-1].set_output(transform="pandas").transform(X_test)
features.head()

# %%
# Which layer reads best?
# -----------------------
# ``layer`` is searched like any other parameter; every candidate is a
# fresh clone of the net, fitted per fold. ``dense0`` and ``dense1`` are
# the outputs of the Linear layers, before the functional ReLU; ``output``
# is the logits.
search = GridSearchCV(
    probe,
    {
        "inspectableneuralnetclassifier__layer": ["dense0", "dense1", "output"],
        "inspectableneuralnetclassifier__max_epochs": [3, 15],
    },
    cv=3,
)
search.fit(X_train, y_train)
results = pd.DataFrame(search.cv_results_)
table = results.pivot_table(
    index="param_inspectableneuralnetclassifier__layer",
    columns="param_inspectableneuralnetclassifier__max_epochs",
    values="mean_test_score",
)
table.rename_axis(index="layer", columns="max_epochs")

# %%
# After 3 epochs the logits are still a poor reading of the classes, while
# the first hidden layer already separates them; after 15 epochs every
# layer does.
ax = table.rename_axis(index="layer", columns="max_epochs").plot.bar(
    rot=0, ylim=(0, 1.05), figsize=(6, 3.5)
)
ax.set_ylabel("mean CV accuracy of the probe")
ax.legend(title="max_epochs", loc="lower left")
ax.set_title("Linear probe on each layer")
plt.tight_layout()

# %%
# The best pipeline's net is an ordinary fitted net
# -------------------------------------------------
# Pull it out of the pipeline and look inside; its inputs are the scaled
# features, so scale them with the pipeline's scaler first.
print(search.best_params_)
best = search.best_estimator_
net = best.named_steps["inspectableneuralnetclassifier"]
X_scaled = best[:1].transform(X_test)
names = list(load_wine().target_names)
disp = net.plot_class_profile(
    X_scaled, y_test, "dense0", activation="relu", class_names=names
)
