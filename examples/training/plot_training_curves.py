"""
Training curves from the history
================================

skorch records the loss and every score of every epoch in ``net.history``.
``net.plot_training_curves()`` draws them, with nothing re-recorded: losses
on the left (train solid, valid dashed), every other score on the right,
and a star at each curve's best epoch.
"""

# %%
# A net with one more score
# -------------------------
# ``EpochScoring`` adds the balanced accuracy on the validation split; skorch
# flags its best epochs, and the picture marks them.
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import EpochScoring
from torch import nn

from skviz import InspectableNeuralNetClassifier
from skviz.analysis import history_frame


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
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=42, stratify=y
)
scaler = StandardScaler().fit(X_train)
X_train = scaler.transform(X_train).astype("float32")

net = InspectableNeuralNetClassifier(
    WineClassifier,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.SGD,
    optimizer__momentum=0.9,
    lr=0.05,
    max_epochs=40,
    callbacks=[
        EpochScoring("balanced_accuracy", lower_is_better=False, name="valid_bacc")
    ],
    verbose=0,
)
net.fit(X_train, y_train)
disp = net.plot_training_curves()

# %%
# The numbers behind the curves
# -----------------------------
# The display keeps the history as a DataFrame indexed by epoch, and the
# best epoch of every curve.
print(disp.best_epochs_)
disp.history_.tail()

# %%
# The same frame comes from :func:`skviz.analysis.history_frame` without
# drawing anything.
history_frame(net.history).columns.tolist()

# %%
# Without a validation split
# --------------------------
# With ``train_split=None`` only the training loss is recorded; the dotted
# line then marks its minimum. ``logy=True`` puts the loss on a log scale.
# The net is an sklearn estimator: ``clone`` gives an unfitted copy with the
# same parameters.
torch.manual_seed(0)
net_all = clone(net).set_params(train_split=None, callbacks=[])
net_all.fit(X_train, y_train)
disp = net_all.plot_training_curves(logy=True)
