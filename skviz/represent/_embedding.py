"""2-D projections of every layer's activations (PCA, t-SNE, any transformer)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from ._layers import Pool, as_features, check_finite, check_pool, layers_in_order

__all__ = ["embed_layers", "projection_name"]


def _transformer(method, n_samples: int, random_state):
    if isinstance(method, str):
        if method == "pca":
            return PCA(n_components=2, random_state=random_state)
        if method == "tsne":
            # Perplexity must stay below the sample count.
            perplexity = float(min(30.0, max(1.0, (n_samples - 1) / 3)))
            return TSNE(
                n_components=2,
                init="pca",
                perplexity=perplexity,
                random_state=random_state,
            )
        raise ValueError(
            f"method must be 'pca', 'tsne' or a transformer with fit_transform, "
            f"got {method!r}."
        )
    if not hasattr(method, "fit_transform"):
        raise TypeError(
            f"method must be 'pca', 'tsne' or a transformer with fit_transform "
            f"(umap.UMAP(), sklearn's Isomap, ...), got {type(method).__name__}."
        )
    try:
        return clone(method)
    except TypeError:
        # Not an sklearn estimator (no get_params): fitted as given, per layer
        # a deep copy so that layers do not share a fitted state.
        import copy

        return copy.deepcopy(method)


def projection_name(method) -> str:
    """``"PCA"``, ``"t-SNE"`` or the transformer's class name."""
    if method == "pca":
        return "PCA"
    if method == "tsne":
        return "t-SNE"
    return type(method).__name__


def embed_layers(
    net,
    X,
    layers: Sequence[str] | None = None,
    method="pca",
    *,
    pool: Pool = "flatten",
    activation=None,
    batch_size: int | None = None,
    random_state=0,
) -> pd.DataFrame:
    """Every layer's activations projected to 2-D, from one capture pass.

    Parameters
    ----------
    net : fitted Inspectable net
    X : array-like
        Samples, in any form ``predict`` accepts.
    layers : list of str, optional
        Layer references; by default the hidden and output layers. Sorted
        in forward order.
    method : "pca", "tsne" or transformer, default="pca"
        ``"pca"``: :class:`~sklearn.decomposition.PCA`; ``"tsne"``:
        :class:`~sklearn.manifold.TSNE` (PCA initialisation, perplexity at
        most 30 and below the sample count); or any object with
        ``fit_transform`` returning at least one column (``umap.UMAP()``),
        cloned for each layer.
    pool : {"flatten", "mean", "max"}, default="flatten"
        Conv outputs: every element a feature, or one per channel.
    activation : str or callable, optional
    batch_size : int, optional
    random_state : int or None, default=0
        For the PCA solver and t-SNE.

    Returns
    -------
    pandas.DataFrame
        Long format: ``layer``, ``sample`` (position in X), ``x``, ``y``.
        A projection with one column gets ``y = 0``. ``attrs``: ``method``
        (its name), ``layers`` (in order) and ``explained_variance_ratio``
        (per layer, the two components' share of the variance; PCA only).
    """
    check_pool(pool)
    net.inspected_module()
    layers = layers_in_order(net, X, layers)
    _transformer(method, 2, random_state)  # a bad method fails before the capture
    captured = net.capture_layers(
        X,
        layers,
        activation=activation,
        flatten=pool == "flatten",
        batch_size=batch_size,
    )
    frames, explained = [], {}
    for layer in layers:
        values = as_features(captured.pop(layer), pool)
        check_finite(values, layer, 0)
        n = values.shape[0]
        if n < 2:
            raise ValueError(f"An embedding needs at least 2 samples, got {n}.")
        transformer = _transformer(method, n, random_state)
        if isinstance(transformer, PCA):
            transformer.set_params(n_components=min(2, *values.shape))
        points = np.asarray(transformer.fit_transform(values), dtype=float)
        points = points.reshape(n, -1)
        if points.shape[1] < 2:
            points = np.column_stack([points[:, :1], np.zeros(n)])
        if isinstance(transformer, PCA):
            ratio = np.zeros(2)
            ratio[: transformer.n_components_] = transformer.explained_variance_ratio_
            explained[layer] = ratio
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "sample": np.arange(n),
                    "x": points[:, 0],
                    "y": points[:, 1],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(
        {
            "method": projection_name(method),
            "layers": layers,
            "explained_variance_ratio": explained,
        }
    )
    return frame
