"""Linear probes: how well a simple model reads the target from each layer."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import check_cv, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._layers import Pool, as_features, check_finite, check_pool, layers_in_order

__all__ = ["default_probe", "probe_layers"]

#: Iterations of the default logistic regression: activations of a few
#: hundred standardised units converge well before, and a probe that stops
#: early would understate what a layer holds.
PROBE_MAX_ITER = 1000

INPUT = "input"


def default_probe(net):
    """The probe used when none is given.

    ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))``
    for a classifier net; ``make_pipeline(StandardScaler(), RidgeCV())``
    (ridge regression, its penalty chosen by efficient leave-one-out) for
    any other net.
    """
    if is_classifier(net):
        return make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=PROBE_MAX_ITER)
        )
    return make_pipeline(StandardScaler(), RidgeCV())


def _input_features(X) -> np.ndarray | None:
    """X itself as ``(n_samples, features)``, or None for dicts and Datasets."""
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    if hasattr(X, "detach") and hasattr(X, "cpu"):
        X = X.detach().cpu().numpy()
    if not hasattr(X, "shape") or isinstance(X, dict):
        return None
    values = np.asarray(X)
    if values.dtype.kind not in "biuf" or values.ndim < 1:
        return None
    return values.reshape(values.shape[0], -1)


def probe_layers(
    net,
    X,
    y,
    layers: Sequence[str] | None = None,
    estimator=None,
    cv=5,
    scoring=None,
    *,
    pool: Pool = "flatten",
    include_input: bool = True,
    activation=None,
    batch_size: int | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Cross-validated score of a linear probe on every layer's activations.

    All layers are captured in one pass over X; then, for each layer (and
    the input itself, depth 0), sklearn's :func:`~sklearn.model_selection.cross_validate`
    fits ``estimator`` on the activations of the same folds. How the score
    grows with depth tells where the target becomes linearly readable.

    Score probes on samples **the net was not trained on**: on its training
    samples a layer also holds what the net memorised, and every probe
    looks better than the representation is.

    Parameters
    ----------
    net : fitted Inspectable net
    X : array-like
        Held-out samples, in any form ``predict`` accepts.
    y : array-like of shape (n_samples,)
        What the probes predict (the classes, or any other label).
    layers : list of str, optional
        Layer references; by default every leaf layer that runs once and
        returns one tensor, the output layer included. Sorted in forward
        order.
    estimator : sklearn estimator, optional
        The probe, cloned for every layer and fold. Default:
        :func:`default_probe` (standardised logistic regression for a
        classifier net, ``RidgeCV`` otherwise).
    cv : int, cross-validation generator or iterable, default=5
        As in ``cross_validate``; one splitter is made once (stratified for
        a classifier probe) so every layer sees the same folds.
    scoring : str or callable, optional
        As in ``cross_validate``; by default the probe's ``score``
        (accuracy, or R^2).
    pool : {"flatten", "mean", "max"}, default="flatten"
        Conv outputs: every element a feature, or one per channel.
    include_input : bool, default=True
        Probe X itself as depth 0 (when X is an array, tensor or
        DataFrame).
    activation : str or callable, optional
        As in ``transform_layers``, applied to every layer.
    batch_size : int, optional
        Rows per forward pass.
    n_jobs : int, optional
        Passed to ``cross_validate``.

    Returns
    -------
    pandas.DataFrame
        One row per probed representation: ``layer`` (``"input"`` for X),
        ``depth`` (0 for the input, then 1, 2, ... in forward order),
        ``n_features``, ``mean_score``, ``std_score`` (over the folds) and
        ``fit_time`` (seconds, summed over the folds). ``attrs``:
        ``scoring``, ``estimator`` (its repr), ``n_splits``, ``n_samples``,
        ``capture_time`` (seconds of the one capture pass) and ``scores``
        (each layer's per-fold scores).
    """
    check_pool(pool)
    net.inspected_module()
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != len(X):
        raise ValueError(
            f"y must hold one label per sample of X ({len(X)}), got shape {y.shape}."
        )
    if type(X).__module__.startswith("dask.array"):
        # Probes fit on all samples at once: the activations are in memory
        # anyway, so X may be too.
        X = np.asarray(X.compute())
    layers = layers_in_order(net, X, layers)
    probe = default_probe(net) if estimator is None else estimator
    splitter = check_cv(cv, y, classifier=is_classifier(probe))
    started = time.perf_counter()
    captured = net.capture_layers(
        X,
        layers,
        activation=activation,
        flatten=pool == "flatten",
        batch_size=batch_size,
    )
    capture_time = time.perf_counter() - started
    representations = []
    if include_input:
        values = _input_features(X)
        if values is None:
            warnings.warn(
                f"X is a {type(X).__name__}, not an array: the input is left out "
                "of the probes (depth 0).",
                UserWarning,
                stacklevel=2,
            )
        else:
            representations.append((INPUT, 0, values))
    for depth, layer in enumerate(layers, start=1):
        values = as_features(captured.pop(layer), pool)
        check_finite(values, layer, 0)
        representations.append((layer, depth, values))
    rows, scores = [], {}
    for layer, depth, values in representations:
        result = cross_validate(
            clone(probe), values, y, cv=splitter, scoring=scoring, n_jobs=n_jobs
        )
        scores[layer] = [float(s) for s in result["test_score"]]
        rows.append(
            {
                "layer": layer,
                "depth": depth,
                "n_features": values.shape[1],
                "mean_score": float(np.mean(result["test_score"])),
                "std_score": float(np.std(result["test_score"])),
                "fit_time": float(np.sum(result["fit_time"])),
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs.update(
        {
            "scoring": scoring
            if isinstance(scoring, str) or scoring is None
            else repr(scoring),
            "estimator": repr(probe),
            "n_splits": splitter.get_n_splits(values, y),
            "n_samples": int(y.shape[0]),
            "capture_time": capture_time,
            "scores": scores,
        }
    )
    return frame
