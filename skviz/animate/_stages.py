"""The stages of the layer animation: what one net does to the plane.

:func:`capture_stages` pushes the samples, the grid and the lattice of
decision-region cells through a fitted net in one ``capture_layers``
call, keeps the representation after every chosen layer and places each
one in drawing space (see :mod:`._geometry`). Hooks are registered only
by :mod:`skviz.capture`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import _geometry as geometry

__all__ = ["Stage", "capture_stages", "stage_box", "stage_normals"]


@dataclass
class Stage:
    """One picture of the animation: the data after one step of the net.

    Attributes
    ----------
    label : str
        ``"input"``, the layer reference (``"fc1"``, ``"act@1"``) or
        ``"relu(fc1)"`` for an activation applied to a captured layer.
    layer : str or None
        Layer reference captured through ``capture_layers`` (None for the
        input and for ``"predict_proba"``).
    activation : str or None
        Name of the activation applied to ``layer``'s output, if any.
    module_type : str or None
        Class name of the module (``"Linear"``, ``"Tanh"``).
    width : int
        Number of features of the representation (flattened).
    values : ndarray of shape (n_samples, width)
        The samples' representation, as the net computes it.
    coords : ndarray of shape (n_samples, n_draw)
        Where the samples are drawn (``n_draw`` is 2, or 3 for ``"3d"``).
    line_coords : ndarray of shape (2 * grid_lines, grid_resolution, n_draw)
        The grid lines in drawing space (rows first, then columns).
    lattice_coords : ndarray of shape (r, r, n_draw) or None
        Vertices of the decision-region cells in drawing space.
    method : {"as is", "pca"}
        How ``coords`` were obtained from ``values``.
    pca : sklearn.decomposition.PCA or None
        The fit used for ``method="pca"``.
    rotation : ndarray of shape (n_draw, n_draw) or None
        Orthogonal alignment applied after the PCA: ``coords ==
        pca.transform(values) @ rotation``.
    axis_labels : tuple of str
        Axis labels while the stage is shown: the feature names for the
        input, ``"unit i"`` when drawn as is, ``"proj. i"`` after a PCA.
    """

    label: str
    layer: str | None
    activation: str | None
    module_type: str | None
    width: int
    values: np.ndarray
    coords: np.ndarray = field(repr=False, default=None)
    line_coords: np.ndarray = field(repr=False, default=None)
    lattice_coords: np.ndarray | None = field(repr=False, default=None)
    method: str = "as is"
    pca: Any = field(repr=False, default=None)
    rotation: np.ndarray | None = field(repr=False, default=None)
    axis_labels: tuple[str, ...] = ()

    @property
    def explained_variance(self) -> float | None:
        """Share of the variance the PCA keeps, or None when drawn as is."""
        if self.pca is None:
            return None
        return float(np.sum(self.pca.explained_variance_ratio_))

    def name_line(self) -> str:
        """``"fc1 · Linear"``: the stage and the type of its module."""
        if self.module_type and self.activation is None:
            return f"{self.label} · {self.module_type}"
        return self.label

    def width_line(self, n_draw: int) -> str:
        """``"3-D, PCA 2-D (97% var.)"``: the width and how it is drawn."""
        if self.method == "pca":
            var = self.explained_variance
            kept = "no variance" if not np.isfinite(var) else f"{100 * var:.0f}% var."
            return f"{self.width}-D, PCA {n_draw}-D ({kept})"
        if self.width < n_draw:
            where = "on the x axis" if self.width == 1 else "at z = 0"
            return f"{self.width}-D, drawn {where}"
        return f"{self.width}-D"


def stage_box(stage: Stage) -> tuple[np.ndarray, np.ndarray]:
    """Box that frames a stage in drawing space (see ``_geometry.framing_box``)."""
    return geometry.framing_box(stage.coords, [stage.line_coords, stage.lattice_coords])


def stage_normals(stages: list[Stage]) -> list[np.ndarray]:
    """The plane normal of each 3-D stage's points, each facing the one before.

    The first stage is compared with the vertical axis, so a flat input
    (drawn at z = 0) is seen from above.
    """
    normals = []
    reference = np.array([0.0, 0.0, 1.0])
    for stage in stages:
        reference = geometry.plane_normal(stage.coords, reference)
        normals.append(reference)
    return normals


# --------------------------------------------------------------------------
# What the net is made of
# --------------------------------------------------------------------------


def leaf_call_order(net, X_probe) -> list[tuple[str, str]]:
    """``(layer reference, module type)`` of every leaf run, in forward order.

    Definition order is not the order of the forward pass (a shared
    ``self.act`` runs between every layer): the net's layer discovery
    records the actual order; a module that runs several times gets one
    reference per run (``"act@0"``, ``"act@1"``). Leaves whose output is not
    a single tensor are left out: there is no single representation to draw.
    """
    return [
        (info.ref, info.type)
        for info in net.layer_info(X_probe)
        if info.is_leaf and info.is_tensor
    ]


def _module_type(net, ref: str) -> str | None:
    from ..capture import LayerRef

    module = net.inspected_module()
    sub = dict(module.named_modules()).get(LayerRef.parse(ref).module)
    return None if sub is None else type(sub).__name__


def _batch_size(net, n_rows: int) -> int:
    """The net's inspection batch size; skorch's ``-1`` means all rows at once."""
    size = net.get_params_for("iterator_valid").get("batch_size", net.batch_size)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        return n_rows
    return int(size)


def _activation_fn(activation) -> tuple[Callable, str]:
    from ..capture import resolve_activation

    fn = resolve_activation(activation)
    if fn is None:
        raise ValueError("activations values must be a name or a callable, not None.")
    name = activation if isinstance(activation, str) else fn.__name__
    return fn, name


def _layers_and_types(
    net, probe, layers: list[str] | None, title: str
) -> tuple[list[str], dict[str, str | None]]:
    """The layers to show and their module types; by default every leaf run."""
    if layers is not None:
        return layers, {ref: _module_type(net, ref) for ref in layers}
    order = leaf_call_order(net, probe)
    if not order:
        raise ValueError(
            f"{title}: no leaf module of the net returns a tensor; pass layers=."
        )
    return [ref for ref, _ in order], dict(order)


def _activation_fns(
    activations: Mapping[str, Any] | None, layers: list[str]
) -> dict[str, tuple[Callable, str]]:
    activations = dict(activations or {})
    unknown = [key for key in activations if key not in layers]
    if unknown:
        raise ValueError(
            f"activations names layer(s) {unknown} that are not among the layers "
            f"shown: {layers}."
        )
    return {key: _activation_fn(value) for key, value in activations.items()}


# --------------------------------------------------------------------------
# One forward pass for points, grid and lattice
# --------------------------------------------------------------------------


def _capture_rows(net, feed, layers: list[str], n_rows: int) -> dict:
    """The flattened outputs of ``layers`` for the first ``n_rows`` rows of ``feed``.

    Through ``capture_layers``: the net's record of the latest inspection is
    the user's, not this stack of grid points.
    """
    rows = feed.iloc[:n_rows] if isinstance(feed, pd.DataFrame) else feed[:n_rows]
    return net.capture_layers(
        rows, layers, flatten=True, batch_size=_batch_size(net, n_rows)
    )


def _predict_proba(net, feed) -> np.ndarray:
    from ..capture import inspection_session

    # predict_proba leaves the module in eval mode; the session puts every
    # submodule's mode back as the caller had it.
    with inspection_session(net.inspected_module()):
        return np.asarray(net.predict_proba(feed), dtype=np.float64)


def _net_stages(
    X: np.ndarray,
    grid_in: np.ndarray,
    captured: dict,
    layers: list[str],
    types: dict[str, str | None],
    fns: dict[str, tuple[Callable, str]],
    input_labels: tuple[str, ...],
) -> list[tuple[Stage, np.ndarray]]:
    """``(stage, grid points in the stage's space)``: the input, then each layer."""
    n = len(X)
    raw = [
        (
            Stage("input", None, None, None, 2, X.copy(), axis_labels=input_labels),
            grid_in,
        )
    ]
    for ref in layers:
        A = captured[ref]
        raw.append((Stage(ref, ref, None, types.get(ref), A.shape[1], A[:n]), A[n:]))
        if ref in fns:
            fn, act_name = fns[ref]
            B = fn(torch.from_numpy(A)).numpy()
            raw.append(
                (
                    Stage(f"{act_name}({ref})", ref, act_name, None, B.shape[1], B[:n]),
                    B[n:],
                )
            )
    return raw


def _without_identity_steps(raw: list) -> list:
    """Drop the stages equal to the one before them.

    Identity steps (Dropout in eval mode, Identity, Flatten of 2-D data)
    would add transitions in which nothing moves.
    """
    kept = [raw[0]]
    for st, g in raw[1:]:
        prev = kept[-1][0].values
        if not (prev.shape == st.values.shape and np.array_equal(prev, st.values)):
            kept.append((st, g))
    return kept


def _axis_labels(stage: Stage, n_draw: int) -> tuple[str, ...]:
    """The title names the stage; the axes say what a coordinate is."""
    word = "proj." if stage.method == "pca" else "unit"
    first = 1 if stage.method == "pca" else 0
    labels = tuple(f"{word} {i + first}" for i in range(n_draw))
    if stage.width < n_draw:
        labels = (*labels[: stage.width], *([""] * (n_draw - stage.width)))
    return labels


def _place(
    raw: list[tuple[Stage, np.ndarray]],
    lines_shape: tuple[int, ...],
    lattice_shape: tuple[int, ...] | None,
    n_draw: int,
    align: bool,
) -> list[Stage]:
    """Fill each stage's drawing-space coordinates, in order."""
    n_lines_pts = lines_shape[0] * lines_shape[1]
    stages = []
    previous = None
    for st, g in raw:
        for what, values in (("samples", st.values), ("grid points", g)):
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"Stage {st.name_line()!r} holds NaN or infinite values for "
                    f"{int(bad.sum())} of {len(values)} {what}; the net "
                    "produces them there (a NaN weight, an overflow), so they "
                    "cannot be drawn."
                )
        proj = geometry.project(st.values, g, n_draw, previous, align)
        st.method, st.coords = proj.method, proj.coords
        if proj.method == "pca":
            st.pca, st.rotation = proj.pca, proj.rotation
        flat = proj.grid
        st.line_coords = flat[:n_lines_pts].reshape(*lines_shape[:2], n_draw)
        if lattice_shape is not None:
            st.lattice_coords = flat[n_lines_pts:].reshape(*lattice_shape[:2], n_draw)
        if not st.axis_labels:
            st.axis_labels = _axis_labels(st, n_draw)
        previous = st.coords
        stages.append(st)
    return stages


def capture_stages(
    net,
    X: np.ndarray,
    frame: pd.DataFrame | None,
    lines_in: np.ndarray,
    lattice_in: np.ndarray | None,
    *,
    title: str,
    layers: list[str] | None,
    activations: Mapping[str, Any] | None,
    proba_stage: bool,
    n_draw: int,
    align: bool,
    input_labels: tuple[str, ...],
) -> tuple[list[Stage], np.ndarray | None]:
    """The stages of one net and the class it predicts for each region cell.

    Returns
    -------
    stages : list of Stage
        The input, every chosen layer (and applied activation), then
        ``predict_proba`` if asked, all placed in drawing space.
    cell_classes : ndarray or None
        The class ``predict_proba`` picks at the centre of each lattice
        cell, when ``lattice_in`` is given.
    """
    n = len(X)
    parts = [X, lines_in.reshape(-1, 2)]
    if lattice_in is not None:
        parts.append(lattice_in.reshape(-1, 2))
        parts.append(geometry.cell_verts(lattice_in).mean(axis=1))
    stacked = np.concatenate(parts).astype(np.float32)
    # Samples, grid and lattice vertices go through the layers; the cell
    # centres only through predict_proba.
    n_with_grid = n + lines_in[..., 0].size
    if lattice_in is not None:
        n_with_grid += lattice_in[..., 0].size
    feed: Any = stacked
    if frame is not None:
        # A net fitted on a DataFrame gets a DataFrame with the same columns,
        # so it takes whatever path it takes for frames.
        feed = pd.DataFrame(stacked, columns=frame.columns)

    explicit = layers is not None
    layers, types = _layers_and_types(net, feed, layers, title)
    fns = _activation_fns(activations, layers)
    captured = _capture_rows(net, feed, layers, n_with_grid)
    proba = None
    if proba_stage or lattice_in is not None:
        proba = _predict_proba(net, feed)

    raw = _net_stages(
        X,
        stacked[n:n_with_grid].astype(np.float64),
        captured,
        layers,
        types,
        fns,
        input_labels,
    )
    if not explicit:
        raw = _without_identity_steps(raw)
    if proba_stage:
        P = proba[:n_with_grid]
        raw.append((Stage("predict_proba", None, None, None, P.shape[1], P[:n]), P[n:]))
    stages = _place(
        raw,
        lines_in.shape,
        None if lattice_in is None else lattice_in.shape,
        n_draw,
        align,
    )

    cell_classes = None
    if lattice_in is not None:
        from ..plot.base import net_classes

        cell_proba = proba[n_with_grid:]
        classes = net_classes(net, cell_proba.shape[1])
        cell_classes = classes[np.argmax(cell_proba, axis=1)]
    return stages, cell_classes
