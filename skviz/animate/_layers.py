"""Watch 2-D data move through the layers of a net.

:class:`LayerTransformAnimation` pushes the samples and a grid spanning the
input plane through a fitted net with 2-D input, keeps the representation
after every chosen layer (one forward pass for all layers) and animates the
plane being bent, folded and separated from layer to layer, as in colah's
"Neural Networks, Manifolds, and Topology" and seed 004.

How each stage is drawn
-----------------------
* A stage of width 2 is drawn as is (width 1 is drawn on the x axis).
* ``projection="pca"`` (default): everything is drawn on flat 2-D axes; a
  stage wider than 2 is projected onto the plane of its first two principal
  components, fitted once per stage on the samples' representation (the
  grid is projected with the same fit). ``projection="3d"``: everything is
  drawn on 3-D axes whose camera turns slowly; width 3 is drawn as is,
  narrower stages lie in the plane z = 0, wider stages get a 3-D PCA.
* With ``align=True`` (default) each PCA projection is followed by the
  orthogonal map (rotation or reflection, found by orthogonal Procrustes)
  that best lines it up with the previous stage's picture. PCA axes have
  arbitrary signs and order; without this a transition can show a spurious
  flip or spin that the net does not do. The map keeps all distances, so
  the picture is still the PCA picture, only turned.
* Between two stages the drawn coordinates are interpolated linearly:
  ``(1 - t) * P_k + t * P_{k+1}``, both already in drawing space. This is
  what makes stages of different widths blend smoothly; the in-between
  frames are a visual bridge, not outputs of the net.

Frames
------
With ``S`` stages (the input first), ``F = frames_per_transition`` and
``H = hold_frames`` there are ``(1 + H) + (S - 1) * (F + H)`` frames: the
input, then for every transition ``F - 1`` moving frames and the next
stage exactly, each stage followed by ``H`` still frames. The view (axis
limits, equal scale on both axes) is fixed while data move: one box around
both endpoints of the transition. It changes only while a stage holds
still, zooming from one transition's view to the next (the first and last
stage also zoom from / to a view of their own), so every motion on screen
is the net's. Side by side (:meth:`LayerTransformAnimation.compare`),
transition ``t`` plays at the same frames in every panel and a net with
fewer stages holds its last stage until the longest one ends.

Decision regions
----------------
For classifiers, a fine lattice of cells over the input plane is shaded
with the class ``predict_proba`` picks at each cell's centre (computed once,
in input space). The cells travel through the layers with the grid, so the
last stage shows the regions in the last layer's space.
"""

from __future__ import annotations

import itertools
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["LayerTransformAnimation", "Stage"]

_PROJECTIONS = ("pca", "3d")
# Share of the data range added around the points when choosing axis limits.
_MARGIN = 0.06
_LINE_COLOR = "0.2"
_REGION_LIGHTEN = 0.72


@dataclass
class Stage:
    """One picture of the animation: the data after one step of the net.

    Attributes
    ----------
    label : str
        ``"input"``, the layer reference (``"fc1"``, ``"act@1"``) or
        ``"relu(fc1)"`` for an activation applied to a captured layer.
    layer : str or None
        Layer reference captured through ``transform_layers`` (None for the
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


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _check_int(name: str, value, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_net(net, index: int | None = None) -> None:
    from sklearn.utils.validation import check_is_fitted

    which = "net" if index is None else f"nets[{index}]"
    if not hasattr(net, "transform_layers"):
        raise TypeError(
            f"{which} must be an skviz inspectable net (e.g. "
            "skviz.InspectableNeuralNetClassifier), got "
            f"{type(net).__name__}."
        )
    check_is_fitted(net)
    shape = getattr(net, "input_shape_", None)
    if shape is not None and tuple(shape) != (2,):
        raise ValueError(
            f"LayerTransformAnimation supports nets whose input is 2 features per "
            f"sample (X of shape (n_samples, 2)), so that the input is a plane; "
            f"{which} was fitted on samples of shape {tuple(shape)}."
        )


def _check_X(X) -> tuple[np.ndarray, list[str] | None, pd.DataFrame | None]:
    """The samples as a float64 (n, 2) array, their feature names, the frame."""
    frame = X if isinstance(X, pd.DataFrame) else None
    names = None
    if frame is not None:
        names = [str(c) for c in frame.columns]
        if not all(pd.api.types.is_numeric_dtype(dt) for dt in frame.dtypes):
            raise ValueError("X must hold numbers only; got non-numeric columns.")
        arr = frame.to_numpy(dtype=np.float64)
    elif isinstance(X, torch.Tensor):
        arr = X.detach().cpu().numpy().astype(np.float64)
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"X must be numeric, got an array of dtype {arr.dtype}.")
        arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            "LayerTransformAnimation supports 2-D inputs only: X of shape "
            f"(n_samples, 2), one point of the plane per sample; got shape "
            f"{arr.shape}."
        )
    if len(arr) < 3:
        raise ValueError(f"X needs at least 3 samples, got {len(arr)}.")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinity.")
    return arr, names, frame


def _check_y(y, n: int) -> np.ndarray | None:
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"y must hold one label per sample ({n}), got shape {arr.shape}."
        )
    return arr


def _check_layers(layers) -> list[str] | None:
    if layers is None:
        return None
    if isinstance(layers, str):
        raise TypeError("layers must be a list of layer names, e.g. ['fc1', 'act1'].")
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; pass at least one layer name, or None.")
    if not all(isinstance(name, str) for name in layers):
        raise TypeError(f"layers must be strings, got {layers!r}.")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers contains duplicates: {layers}.")
    return layers


def _activation_fn(activation) -> tuple[Callable, str]:
    from ..inspectable import _resolve_activation

    fn = _resolve_activation(activation)
    if fn is None:
        raise ValueError("activations values must be a name or a callable, not None.")
    name = activation if isinstance(activation, str) else fn.__name__
    return fn, name


# --------------------------------------------------------------------------
# Forward order of the leaf modules
# --------------------------------------------------------------------------


def _leaf_call_order(net, X_probe) -> list[tuple[str, str]]:
    """``(layer reference, module type)`` of every leaf run, in forward order.

    ``layer_summary`` lists modules in definition order, which is not the
    order of the forward pass (a shared ``self.act`` runs between every
    layer). One probe forward of two samples records the actual order; a
    module that runs several times gets one reference per run
    (``"act@0"``, ``"act@1"``). Leaves whose output is not a single tensor
    are left out: there is no single representation to draw.
    """
    from ..capture import inspection_session

    module = net._module_for_inspection()
    leaves = {
        name: m
        for name, m in module.named_modules()
        if name and next(m.children(), None) is None
    }
    calls: list[tuple[str, bool]] = []
    handles = []
    with inspection_session(module):
        _, two = net._batches(X_probe, batch_size=2).probe_inputs()
        try:
            for name, m in leaves.items():

                def hook(_m, _inputs, out, _name=name):
                    calls.append((_name, isinstance(out, torch.Tensor)))

                handles.append(m.register_forward_hook(hook))
            net._forward_batch(module, two)
        finally:
            for handle in handles:
                handle.remove()
    runs = {}
    for name, _ in calls:
        runs[name] = runs.get(name, 0) + 1
    seen: dict[str, int] = {}
    order = []
    for name, is_tensor in calls:
        k = seen.get(name, 0)
        seen[name] = k + 1
        if is_tensor:
            ref = name if runs[name] == 1 else f"{name}@{k}"
            order.append((ref, type(leaves[name]).__name__))
    return order


def _batch_size(net, n_rows: int) -> int:
    """The net's inspection batch size; skorch's ``-1`` means all rows at once."""
    size = net.get_params_for("iterator_valid").get("batch_size", net.batch_size)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        return n_rows
    return int(size)


def _module_type(net, ref: str) -> str | None:
    from ..capture import LayerRef

    module = net._module_for_inspection()
    sub = dict(module.named_modules()).get(LayerRef.parse(ref).module)
    return None if sub is None else type(sub).__name__


# --------------------------------------------------------------------------
# Geometry: grid, projection, interpolation, limits (pure numpy)
# --------------------------------------------------------------------------


def _input_box(X: np.ndarray, padding: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo - padding * span, hi + padding * span


def _grid_lines(lo, hi, n_lines: int, resolution: int) -> np.ndarray:
    """Rows then columns of a grid over the box, shape (2 * n_lines, res, 2)."""
    xs = np.linspace(lo[0], hi[0], n_lines)
    ys = np.linspace(lo[1], hi[1], n_lines)
    tx = np.linspace(lo[0], hi[0], resolution)
    ty = np.linspace(lo[1], hi[1], resolution)
    rows = np.stack(np.broadcast_arrays(tx[None, :], ys[:, None]), axis=-1)
    cols = np.stack(np.broadcast_arrays(xs[:, None], ty[None, :]), axis=-1)
    return np.concatenate([rows, cols]).astype(np.float64)


def _lattice(lo, hi, r: int) -> np.ndarray:
    """Vertices of an r x r lattice over the box, shape (r, r, 2)."""
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], r), np.linspace(lo[1], hi[1], r), indexing="xy"
    )
    return np.stack([gx, gy], axis=-1)


def _cell_verts(lattice: np.ndarray) -> np.ndarray:
    """Corners of each lattice cell, shape (n_cells, 4, n_dims)."""
    return np.stack(
        [
            lattice[:-1, :-1],
            lattice[:-1, 1:],
            lattice[1:, 1:],
            lattice[1:, :-1],
        ],
        axis=2,
    ).reshape(-1, 4, lattice.shape[-1])


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``(1 - t) * a + t * b``, returning exact copies of the endpoints."""
    if t <= 0.0:
        return a.copy()
    if t >= 1.0:
        return b.copy()
    return (1.0 - t) * a + t * b


def _pad(values: np.ndarray, n_draw: int) -> np.ndarray:
    out = np.zeros((*values.shape[:-1], n_draw), dtype=np.float64)
    out[..., : values.shape[-1]] = values
    return out


def _project_stage(
    stage: Stage,
    grid: np.ndarray,
    n_draw: int,
    previous: np.ndarray | None,
    align: bool,
) -> np.ndarray:
    """Fill ``stage.coords`` and return the grid (flat) in drawing space."""
    if stage.width <= n_draw:
        stage.method = "as is"
        stage.coords = _pad(stage.values.astype(np.float64), n_draw)
        return _pad(grid.astype(np.float64), n_draw)
    from sklearn.decomposition import PCA

    values = stage.values.astype(np.float64)
    # A layer whose units all died has no variance; its ratio is 0 / 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        pca = PCA(n_components=n_draw, svd_solver="full").fit(values)
    scores = pca.transform(values)
    rotation = np.eye(n_draw)
    if align and previous is not None:
        from scipy.linalg import orthogonal_procrustes

        rotation, _ = orthogonal_procrustes(
            scores - scores.mean(axis=0), previous - previous.mean(axis=0)
        )
    stage.method, stage.pca, stage.rotation = "pca", pca, rotation
    stage.coords = scores @ rotation
    return pca.transform(grid) @ rotation


def _bounds(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    flat = [a.reshape(-1, a.shape[-1]) for a in arrays if a is not None]
    both = np.concatenate(flat)
    return both.min(axis=0), both.max(axis=0)


def _stage_box(stage: Stage) -> tuple[np.ndarray, np.ndarray]:
    """Box that frames a stage: its points, and its grid up to a point.

    Grid corners far from the data can be flung far away by a layer; taking
    them in whole would shrink the data to a speck. The grid counts up to
    half the points' largest span beyond the points' box.
    """
    plo, phi = _bounds([stage.coords])
    glo, ghi = _bounds([stage.line_coords, stage.lattice_coords])
    reach = 0.5 * float(np.max(phi - plo))
    lo = np.minimum(plo, np.maximum(glo, plo - reach))
    hi = np.maximum(phi, np.minimum(ghi, phi + reach))
    return lo, hi


def _view_limits(lo: np.ndarray, hi: np.ndarray, square: bool) -> np.ndarray:
    """Axis limits (n_draw, 2) around a box, with a margin; equal spans if square."""
    center = (lo + hi) / 2
    half = (hi - lo) / 2
    if square:
        half = np.full_like(half, half.max())
    half = np.where(half > 0, half * (1 + 2 * _MARGIN), 1.0)
    return np.stack([center - half, center + half], axis=1)


# --------------------------------------------------------------------------
# One panel's data: the stages of one net
# --------------------------------------------------------------------------


def _capture_panel(
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
    n = len(X)
    n_lines_pts = lines_in.shape[0] * lines_in.shape[1]
    parts = [X, lines_in.reshape(-1, 2)]
    if lattice_in is not None:
        parts.append(lattice_in.reshape(-1, 2))
        centres = _cell_verts(lattice_in).mean(axis=1)
        parts.append(centres)
    stacked = np.concatenate(parts).astype(np.float32)
    n_with_grid = (
        n + n_lines_pts + (lattice_in[..., 0].size if lattice_in is not None else 0)
    )
    feed: Any = stacked
    if frame is not None:
        # A net fitted on a DataFrame gets a DataFrame with the same columns,
        # so it takes whatever path it takes for frames.
        feed = pd.DataFrame(stacked, columns=frame.columns)

    explicit = layers is not None
    if layers is None:
        order = _leaf_call_order(
            net, feed.iloc[:2] if frame is not None else stacked[:2]
        )
        if not order:
            raise ValueError(
                f"{title}: no leaf module of the net returns a tensor; pass layers=."
            )
        layers = [ref for ref, _ in order]
        types = dict(order)
    else:
        types = {ref: _module_type(net, ref) for ref in layers}
    activations = dict(activations or {})
    unknown = [key for key in activations if key not in layers]
    if unknown:
        raise ValueError(
            f"activations names layer(s) {unknown} that are not among the layers "
            f"shown: {layers}."
        )
    fns = {key: _activation_fn(value) for key, value in activations.items()}

    # One forward pass per batch for every layer: points, grid and lattice
    # travel together. The net's record of the latest inspection is the
    # user's, not this stack of grid points, so it is put back afterwards.
    saved = {
        a: getattr(net, a)
        for a in ("inspection_X_", "inspection_y_")
        if hasattr(net, a)
    }
    try:
        captured = net.transform_layers(
            feed[:n_with_grid] if frame is None else feed.iloc[:n_with_grid],
            layers,
            flatten=True,
            batch_size=_batch_size(net, n_with_grid),
        )
    finally:
        for attr in ("inspection_X_", "inspection_y_"):
            if attr in saved:
                setattr(net, attr, saved[attr])
            elif hasattr(net, attr):
                delattr(net, attr)
    proba = None
    if proba_stage or lattice_in is not None:
        from ..capture import inspection_session

        # predict_proba leaves the module in eval mode; the session puts
        # every submodule's mode back as the caller had it.
        with inspection_session(net._module_for_inspection()):
            proba = np.asarray(net.predict_proba(feed), dtype=np.float64)

    raw: list[tuple[Stage, np.ndarray]] = [
        (
            Stage("input", None, None, None, 2, X.copy(), axis_labels=input_labels),
            stacked[n:n_with_grid].astype(np.float64),
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
    if not explicit:
        # Identity steps (Dropout in eval mode, Identity, Flatten of 2-D data)
        # would add transitions in which nothing moves.
        kept = [raw[0]]
        for st, g in raw[1:]:
            prev = kept[-1][0].values
            if not (prev.shape == st.values.shape and np.array_equal(prev, st.values)):
                kept.append((st, g))
        raw = kept
    if proba_stage:
        P = proba[:n_with_grid]
        raw.append((Stage("predict_proba", None, None, None, P.shape[1], P[:n]), P[n:]))

    stages = []
    previous = None
    for st, g in raw:
        flat = _project_stage(st, g, n_draw, previous, align)
        st.line_coords = flat[:n_lines_pts].reshape(*lines_in.shape[:2], n_draw)
        if lattice_in is not None:
            st.lattice_coords = flat[n_lines_pts:].reshape(
                *lattice_in.shape[:2], n_draw
            )
        if not st.axis_labels:
            # The title names the stage; the axes say what a coordinate is.
            word = "proj." if st.method == "pca" else "unit"
            first = 1 if st.method == "pca" else 0
            st.axis_labels = tuple(f"{word} {i + first}" for i in range(n_draw))
            if st.width < n_draw:
                st.axis_labels = (
                    *st.axis_labels[: st.width],
                    *([""] * (n_draw - st.width)),
                )
        previous = st.coords
        stages.append(st)

    cell_classes = None
    if lattice_in is not None:
        cell_proba = proba[n_with_grid:]
        classes = _net_classes(net, cell_proba.shape[1])
        cell_classes = classes[np.argmax(cell_proba, axis=1)]
    return stages, cell_classes


def _net_classes(net, n_columns: int) -> np.ndarray:
    try:
        classes = np.asarray(net.classes_)
    except AttributeError:
        classes = None
    if classes is None or len(classes) != n_columns:
        classes = np.arange(n_columns)
    return classes


def _region_paths(cells: np.ndarray, groups: Sequence[np.ndarray]) -> list:
    """One compound path per class from quadrilateral cells (n, 4, 2).

    Every cell is turned counter-clockwise first: under the nonzero fill
    rule, a cell folded over by a layer (clockwise) would otherwise cancel
    the cells it overlaps and leave a hole. One path per class fills
    without seams between cells and needs no Path object per cell.
    """
    from matplotlib.path import Path

    x, y = cells[..., 0], cells[..., 1]
    area = np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
    cells = np.where((area < 0)[:, None, None], cells[:, ::-1], cells)
    closed = np.concatenate([cells, cells[:, :1]], axis=1)
    codes = np.array(
        [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY],
        dtype=Path.code_type,
    )
    return [
        Path(closed[idx].reshape(-1, 2), np.tile(codes, len(idx))) for idx in groups
    ]


def _lighten(color, amount: float) -> tuple[float, float, float]:
    rgb = np.asarray(color[:3], dtype=float)
    return tuple(rgb + (1.0 - rgb) * amount)


# --------------------------------------------------------------------------
# Drawing one panel (reused artists)
# --------------------------------------------------------------------------


class _PanelView:
    """The artists of one axes, created once and updated for every frame.

    Grid lines are one ``LineCollection`` (``set_segments``), each class of
    points one ``Line2D`` (``set_data``) and the decision regions one
    ``PathCollection`` holding one compound path per predicted class
    (``set_paths``); on 3-D axes the counterparts are ``Line3DCollection``,
    ``Line3D`` and a ``Poly3DCollection`` of cells (``set_verts``, which
    sorts them by depth). Nothing is removed or re-created between frames.
    """

    def __init__(self, ax, *, groups, cell_colors, fontsize: float, compact: bool):
        from matplotlib.collections import LineCollection, PathCollection

        self.ax = ax
        self.three_d = ax.name == "3d"
        self.groups = groups  # list of (label, colour, row mask)
        self.compact = compact
        d = 3 if self.three_d else 2
        self.regions = None
        if cell_colors is not None:
            colors, which = np.unique(cell_colors, axis=0, return_inverse=True)
            self.cell_groups = [np.flatnonzero(which == k) for k in range(len(colors))]
            if self.three_d:
                from mpl_toolkits.mplot3d.art3d import Poly3DCollection

                # No edges and no antialiasing, so that neighbouring cells
                # tile the surface without seams.
                self.regions = Poly3DCollection(
                    np.zeros((len(cell_colors), 4, d)),
                    facecolors=cell_colors,
                    edgecolors="none",
                    linewidths=0,
                    antialiased=False,
                    zorder=0,
                )
                ax.add_collection3d(self.regions)
            else:
                self.regions = PathCollection(
                    [],
                    facecolors=colors,
                    edgecolors="none",
                    linewidths=0,
                    zorder=0,
                    offset_transform=None,
                )
                self.regions.set_transform(ax.transData)
                ax.add_collection(self.regions, autolim=False)
        line_style = dict(colors=_LINE_COLOR, linewidths=0.5, alpha=0.55, zorder=1)
        if self.three_d:
            from mpl_toolkits.mplot3d.art3d import Line3DCollection

            self.lines = Line3DCollection(np.zeros((1, 2, 3)), **line_style)
            ax.add_collection3d(self.lines)
        else:
            self.lines = LineCollection(np.zeros((1, 2, 2)), **line_style)
            ax.add_collection(self.lines)
        self.points = []
        marker = dict(
            linestyle="none",
            marker="o",
            markersize=2.2 if compact else 2.8,
            markeredgewidth=0,
            alpha=0.85,
            zorder=2,
        )
        for label, color, _ in groups:
            empty = [[] for _ in range(d)]
            (artist,) = ax.plot(*empty, color=color, label=label, **marker)
            self.points.append(artist)
        ax.tick_params(labelsize=fontsize - 1.5, pad=1)
        if not self.three_d:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.yaxis.set_major_locator(MaxNLocator(5))
        if compact:
            ax.set_xticks([])
            ax.set_yticks([])
            if self.three_d:
                ax.set_zticks([])
        if self.three_d:
            # Depth sorting would bury the points under the region surface;
            # fixed order instead: regions, then grid lines, then points.
            ax.computed_zorder = False
            ax.set_box_aspect((1, 1, 1), zoom=1.1 if compact else 0.95)
        else:
            ax.set_aspect("equal", adjustable="box")
        self.fontsize = fontsize

    def artists(self) -> list:
        return [a for a in (self.regions, self.lines, *self.points) if a is not None]

    def update(self, state: dict, *, azim: float | None = None) -> None:
        ax = self.ax
        P = state["points"]
        self.lines.set_segments(state["lines"])
        for artist, (_, _, mask) in zip(self.points, self.groups, strict=True):
            if self.three_d:
                artist.set_data_3d(P[mask, 0], P[mask, 1], P[mask, 2])
            else:
                artist.set_data(P[mask, 0], P[mask, 1])
        if self.regions is not None:
            cells = _cell_verts(state["lattice"])
            if self.three_d:
                self.regions.set_verts(cells)
            else:
                self.regions.set_paths(_region_paths(cells, self.cell_groups))
        lim = state["limits"]
        ax.set_xlim(*lim[0])
        ax.set_ylim(*lim[1])
        if self.three_d:
            ax.set_zlim(*lim[2])
            if azim is not None:
                ax.view_init(elev=ax.elev, azim=azim)
        ax.set_title(state["title"], fontsize=self.fontsize, pad=3)
        if not self.compact:
            labels = state["axis_labels"]
            ax.set_xlabel(labels[0], fontsize=self.fontsize - 1, labelpad=1)
            ax.set_ylabel(labels[1], fontsize=self.fontsize - 1, labelpad=1)
            if self.three_d:
                ax.set_zlabel(labels[2], fontsize=self.fontsize - 1, labelpad=1)


# --------------------------------------------------------------------------
# The public class
# --------------------------------------------------------------------------


class LayerTransformAnimation:
    """Animation of 2-D data and a grid moving through the layers of nets.

    Build it with :meth:`from_estimator` (one net) or :meth:`compare`
    (several nets side by side); both capture the data and draw the first
    frame. Then :meth:`save` (``.gif``, ``.mp4``, ``.html``),
    :meth:`to_jshtml` for notebooks, :meth:`plot_filmstrip` /
    :meth:`save_filmstrip` for a still picture of every stage.

    See the module docstring for how stages are projected and blended.

    Parameters
    ----------
    stages : list of list of Stage
        One list of stages per net, each starting with the input.
    y : ndarray of shape (n_samples,), optional
        Class of each sample, for the colour of the points.
    titles : list of str, optional
        One title per net, shown above its panel.
    cell_classes : list of (ndarray or None), optional
        Predicted class of each decision-region cell, per net.
    frames_per_transition : int, default=10
        Frames that carry the picture from one stage to the next; the last
        of them shows the next stage exactly.
    hold_frames : int, default=3
        Extra frames each stage stays still. While a stage holds, the view
        zooms from the limits of the transition that led to it to those of
        the transition that leaves it, so data never move while the view
        changes.
    projection : {"pca", "3d"}, default="pca"
    show_points : bool, default=True
    elev, azim : float, default=22, -60
        Initial camera of 3-D axes.
    rotation_per_frame : float, optional
        Degrees the 3-D camera turns per frame; by default one full turn
        over the whole animation.

    Attributes
    ----------
    stages_ : list of list of Stage
    titles_ : list of str
    frames_ : pandas.DataFrame
        One row per frame: ``kind`` ("stage" or "move"), ``stage_from``,
        ``stage_to``, ``alpha`` (interpolation weight, 0 on stage frames),
        and the view: ``limits_from``, ``limits_to`` and ``zoom`` blend two
        entries of the view table (0: the first stage's own view, ``t + 1``:
        transition ``t``, ``S``: the last stage's own view). Rows refer to
        the longest net; a net with fewer stages holds its last stage (see
        :meth:`frame_coordinates` for what each panel shows).
    n_frames_ : int
    classes_ : list
        Class labels, in colour order.
    colors_ : dict
        Class label to RGB.
    figure_, axes_ : matplotlib Figure and ndarray of Axes
        Set by :meth:`plot`; one axes per net.
    views_ : list
        The per-axes artist holders; their artists are reused by every frame.
    """

    def __init__(
        self,
        stages: Sequence[Sequence[Stage]],
        *,
        y=None,
        titles: Sequence[str] | None = None,
        cell_classes: Sequence[np.ndarray | None] | None = None,
        frames_per_transition: int = 10,
        hold_frames: int = 3,
        projection: str = "pca",
        show_points: bool = True,
        elev: float = 22.0,
        azim: float = -60.0,
        rotation_per_frame: float | None = None,
    ):
        from ..plot._base import class_colors

        if projection not in _PROJECTIONS:
            raise ValueError(
                f"projection must be one of {list(_PROJECTIONS)}, got {projection!r}."
            )
        self.frames_per_transition = _check_int(
            "frames_per_transition", frames_per_transition, 1
        )
        self.hold_frames = _check_int("hold_frames", hold_frames, 0)
        self.projection = projection
        self.show_points = bool(show_points)
        self.elev, self.azim = float(elev), float(azim)
        self.rotation_per_frame = rotation_per_frame
        self.stages_ = [list(s) for s in stages]
        if not self.stages_ or any(len(s) < 2 for s in self.stages_):
            raise ValueError("Each net needs the input and at least one more stage.")
        n = len(self.stages_[0][0].values)
        self.y = _check_y(y, n)
        self.titles_ = list(titles) if titles is not None else [""] * len(self.stages_)
        if len(self.titles_) != len(self.stages_):
            raise ValueError(
                f"titles has {len(self.titles_)} entries for {len(self.stages_)} nets."
            )
        self.cell_classes_ = (
            list(cell_classes)
            if cell_classes is not None
            else [None] * len(self.stages_)
        )
        self._n_draw = 3 if projection == "3d" else 2

        classes: list = []
        for values in [*(c for c in self.cell_classes_ if c is not None), self.y]:
            if values is None:
                continue
            for c in pd.unique(np.asarray(values)):
                if c not in classes:
                    classes.append(c)
        try:
            classes = sorted(classes)
        except TypeError:
            pass
        self.classes_ = classes
        self.colors_ = class_colors(classes)

        self._limits = [self._limit_table(st) for st in self.stages_]
        self.frames_ = self._timeline(max(len(s) for s in self.stages_))
        self.n_frames_ = len(self.frames_)

    @staticmethod
    def _limit_table(stages: Sequence[Stage]) -> list[np.ndarray]:
        """View limits: the first stage, each transition, the last stage.

        A transition's limits hold one box around both of its endpoints, so
        the view is still while the data move.
        """
        boxes = [_stage_box(st) for st in stages]
        table = [_view_limits(*boxes[0], square=True)]
        for (lo_a, hi_a), (lo_b, hi_b) in itertools.pairwise(boxes):
            table.append(
                _view_limits(
                    np.minimum(lo_a, lo_b), np.maximum(hi_a, hi_b), square=True
                )
            )
        table.append(_view_limits(*boxes[-1], square=True))
        return table

    # ------------------------------------------------------------------
    # Construction from nets
    # ------------------------------------------------------------------

    @classmethod
    def from_estimator(
        cls,
        net,
        X,
        y=None,
        *,
        layers: Sequence[str] | None = None,
        activations: Mapping[str, str | Callable] | None = None,
        grid_lines: int = 21,
        grid_resolution: int = 100,
        region_resolution: int = 40,
        padding: float = 0.1,
        frames_per_transition: int = 10,
        hold_frames: int = 3,
        show_points: bool = True,
        decision_regions: bool | str = "auto",
        predict_proba_stage: bool = False,
        projection: str = "pca",
        align: bool = True,
        title: str | None = None,
        axes=None,
        figsize: tuple[float, float] | None = None,
        **kwargs,
    ) -> LayerTransformAnimation:
        """Capture the stages of one net and draw the first frame.

        Parameters
        ----------
        net : fitted skviz inspectable net
            Its input must be 2 features per sample.
        X : array-like or DataFrame of shape (n_samples, 2)
            The samples drawn as points. A DataFrame's column names label
            the input axes and the grid is fed to the net as a DataFrame.
        y : array-like of shape (n_samples,), optional
            Classes, for the colour of the points.
        layers : list of str, optional
            Layer references (see ``net.layer_names()``), shown in this
            order after the input. Default: every leaf module in the order
            the forward pass runs it (a module run several times appears
            once per run, ``"act@0"``, ``"act@1"``), leaving out steps that
            change nothing (Dropout in eval mode, Identity).
        activations : dict of str to str or callable, optional
            For activations applied functionally (``F.relu(self.fc1(x))``):
            ``{"fc1": "relu"}`` adds the stage ``"relu(fc1)"`` right after
            ``"fc1"``. Computed from the captured output, no extra pass.
        grid_lines : int, default=21
            Grid lines per direction.
        grid_resolution : int, default=100
            Points along each grid line; more points bend more smoothly.
        region_resolution : int, default=40
            Vertices per side of the lattice of decision-region cells.
        padding : float, default=0.1
            The grid spans the range of X plus this share on every side.
        frames_per_transition, hold_frames : int
            See the class docstring.
        show_points : bool, default=True
        decision_regions : bool or "auto", default="auto"
            Shade each cell of a fine lattice over the input plane with the
            colour of the class the net predicts at its centre
            (``predict_proba`` in input space). The cells move with the
            grid, so the last stage shows the regions in the last layer's
            space. "auto": on for classifiers.
        predict_proba_stage : bool, default=False
            Append ``predict_proba`` as a last stage (for two classes the
            plane collapses onto the line p0 + p1 = 1, as in seed 004).
        projection : {"pca", "3d"}, default="pca"
            ``"pca"``: 2-D axes, stages wider than 2 projected by PCA.
            ``"3d"``: 3-D axes with a turning camera, width 3 as is, wider
            stages projected by PCA to 3-D.
        align : bool, default=True
            Turn each PCA projection (orthogonally) to match the stage
            before it; see the module docstring.
        title : str, optional
            Shown above the panel.
        axes : matplotlib Axes, optional
            Where to draw (3-D axes for ``projection="3d"``); a new figure
            otherwise.
        figsize : tuple, optional
        **kwargs
            ``elev``, ``azim``, ``rotation_per_frame`` (see the class).

        Returns
        -------
        LayerTransformAnimation
        """
        return cls.compare(
            [net],
            X,
            y,
            titles=None if title is None else [title],
            layers=layers,
            activations=activations,
            grid_lines=grid_lines,
            grid_resolution=grid_resolution,
            region_resolution=region_resolution,
            padding=padding,
            frames_per_transition=frames_per_transition,
            hold_frames=hold_frames,
            show_points=show_points,
            decision_regions=decision_regions,
            predict_proba_stage=predict_proba_stage,
            projection=projection,
            align=align,
            axes=axes,
            figsize=figsize,
            **kwargs,
        )

    @classmethod
    def compare(
        cls,
        nets: Sequence[Any],
        X,
        y=None,
        *,
        titles: Sequence[str] | None = None,
        layers: Sequence[str] | None = None,
        activations: Mapping[str, str | Callable] | None = None,
        grid_lines: int = 21,
        grid_resolution: int = 100,
        region_resolution: int = 40,
        padding: float = 0.1,
        frames_per_transition: int = 10,
        hold_frames: int = 3,
        show_points: bool = True,
        decision_regions: bool | str = "auto",
        predict_proba_stage: bool = False,
        projection: str = "pca",
        align: bool = True,
        axes=None,
        figsize: tuple[float, float] | None = None,
        **kwargs,
    ) -> LayerTransformAnimation:
        """Several fitted nets side by side, one panel each, frames aligned.

        All nets see the same samples and the same grid. Transition ``t``
        plays at the same frames in every panel. A net with fewer stages
        than the longest one holds its last stage (with its last view)
        until the others finish.

        Parameters are those of :meth:`from_estimator`; ``layers`` and
        ``activations`` apply to every net (None: each net's own leaves),
        and ``titles`` gives one title per net (default ``"net 0"``, ...).
        ``axes`` must hold one axes per net.
        """
        from sklearn.base import is_classifier

        nets = list(nets)
        if not nets:
            raise ValueError("nets is empty; pass at least one fitted net.")
        for i, net in enumerate(nets):
            _check_net(net, None if len(nets) == 1 else i)
        X_arr, names, frame = _check_X(X)
        y_arr = _check_y(y, len(X_arr))
        layers = _check_layers(layers)
        if activations is not None and not isinstance(activations, Mapping):
            raise TypeError(
                "activations must be a dict such as {'fc1': 'relu'}, got "
                f"{type(activations).__name__}."
            )
        grid_lines = _check_int("grid_lines", grid_lines, 2)
        grid_resolution = _check_int("grid_resolution", grid_resolution, 2)
        region_resolution = _check_int("region_resolution", region_resolution, 2)
        if not isinstance(padding, numbers.Real) or not padding >= 0:
            raise ValueError(f"padding must be a number >= 0, got {padding!r}.")
        if projection not in _PROJECTIONS:
            raise ValueError(
                f"projection must be one of {list(_PROJECTIONS)}, got {projection!r}."
            )
        if decision_regions not in ("auto", True, False):
            raise ValueError(
                f"decision_regions must be True, False or 'auto', got {decision_regions!r}."
            )
        if decision_regions == "auto":
            decision_regions = all(is_classifier(n) for n in nets)
        for what, wanted in (
            ("decision_regions=True", decision_regions),
            ("predict_proba_stage=True", predict_proba_stage),
        ):
            if wanted and not all(is_classifier(n) for n in nets):
                raise ValueError(
                    f"{what} needs classifiers (class probabilities from "
                    "predict_proba); at least one net is not a classifier."
                )
        X_names = names
        for i, net in enumerate(nets):
            fitted = getattr(net, "feature_names_in_", None)
            if fitted is None:
                continue
            fitted = [str(c) for c in fitted]
            if X_names is None:
                names = names or fitted
            elif fitted != X_names:
                raise ValueError(
                    f"The columns of X {X_names} differ from the feature names the "
                    f"net{'' if len(nets) == 1 else f's[{i}]'} was fitted with "
                    f"{fitted}."
                )
        if titles is None:
            titles = [""] if len(nets) == 1 else [f"net {i}" for i in range(len(nets))]
        titles = [str(t) for t in titles]
        if len(titles) != len(nets):
            raise ValueError(f"titles has {len(titles)} entries for {len(nets)} nets.")
        _check_int("frames_per_transition", frames_per_transition, 1)
        _check_int("hold_frames", hold_frames, 0)

        lo, hi = _input_box(X_arr, float(padding))
        lines_in = _grid_lines(lo, hi, grid_lines, grid_resolution)
        lattice_in = _lattice(lo, hi, region_resolution) if decision_regions else None
        input_labels = tuple(names) if names else ("x[0]", "x[1]")
        if projection == "3d":
            input_labels = (*input_labels, "")
        stages, cells = [], []
        for net, title in zip(nets, titles, strict=True):
            st, cc = _capture_panel(
                net,
                X_arr,
                frame,
                lines_in,
                lattice_in,
                title=title or type(net).__name__,
                layers=layers,
                activations=activations,
                proba_stage=predict_proba_stage,
                n_draw=3 if projection == "3d" else 2,
                align=align,
                input_labels=input_labels,
            )
            stages.append(st)
            cells.append(cc)
        anim = cls(
            stages,
            y=y_arr,
            titles=titles,
            cell_classes=cells,
            frames_per_transition=frames_per_transition,
            hold_frames=hold_frames,
            projection=projection,
            show_points=show_points,
            **kwargs,
        )
        return anim.plot(axes=axes, figsize=figsize)

    from_estimators = compare

    # ------------------------------------------------------------------
    # Timeline
    # ------------------------------------------------------------------

    def _timeline(self, n_stages: int) -> pd.DataFrame:
        F, H = self.frames_per_transition, self.hold_frames
        T = n_stages - 1
        rows = []

        def add(kind, src, dst, alpha, lim_a, lim_b, zoom):
            rows.append((kind, src, dst, alpha, lim_a, lim_b, zoom))

        # Limit indices point into _limit_table: 0 is the first stage's own
        # view, t + 1 transition t's view, T + 1 the last stage's own view.
        # Hold frames zoom from one to the next while nothing moves.
        add("stage", 0, 0, 0.0, 0, 0, 0.0)
        for j in range(1, H + 1):
            add("stage", 0, 0, 0.0, 0, 1, j / H)
        for t in range(T):
            for j in range(1, F + 1):
                if j < F:
                    add("move", t, t + 1, j / F, t + 1, t + 1, 0.0)
                else:
                    add("stage", t + 1, t + 1, 0.0, t + 1, t + 1, 0.0)
            for j in range(1, H + 1):
                add("stage", t + 1, t + 1, 0.0, t + 1, t + 2, j / H)
        frame = pd.DataFrame(
            rows,
            columns=[
                "kind",
                "stage_from",
                "stage_to",
                "alpha",
                "limits_from",
                "limits_to",
                "zoom",
            ],
        )
        frame.index.name = "frame"
        return frame

    def _clamped(self, i: int, panel: int):
        row = self.frames_.iloc[i]
        last = len(self.stages_[panel]) - 1
        src, dst = int(row.stage_from), int(row.stage_to)
        alpha = float(row.alpha)
        if dst > last:
            src = dst = last
            alpha = 0.0
        # A net with fewer stages holds its last stage in its own last view.
        la = min(int(row.limits_from), last + 1)
        lb = min(int(row.limits_to), last + 1)
        return src, dst, alpha, la, lb, float(row.zoom)

    def frame_coordinates(self, frame: int, panel: int = 0) -> dict[str, Any]:
        """What frame ``frame`` of panel ``panel`` shows, in drawing space.

        Returns
        -------
        dict
            ``points`` (n_samples, n_draw), ``lines`` (2 * grid_lines,
            grid_resolution, n_draw), ``lattice`` (r, r, n_draw) or None,
            ``limits`` (n_draw, 2), ``title``, ``axis_labels``,
            ``stage_from``, ``stage_to`` and ``alpha``.
        """
        frame = self._frame_index(frame)
        if not 0 <= panel < len(self.stages_):
            raise IndexError(f"panel must be in [0, {len(self.stages_)}), got {panel}.")
        src, dst, alpha, la, lb, zoom = self._clamped(frame, panel)
        a, b = self.stages_[panel][src], self.stages_[panel][dst]
        lattice = None
        if a.lattice_coords is not None:
            lattice = _lerp(a.lattice_coords, b.lattice_coords, alpha)
        limits = self._limits[panel]
        return {
            "points": _lerp(a.coords, b.coords, alpha),
            "lines": _lerp(a.line_coords, b.line_coords, alpha),
            "lattice": lattice,
            "limits": _lerp(limits[la], limits[lb], zoom),
            "title": self._title(panel, src, dst, alpha),
            "axis_labels": (a if alpha < 0.5 else b).axis_labels,
            "stage_from": src,
            "stage_to": dst,
            "alpha": alpha,
        }

    def _frame_index(self, frame) -> int:
        if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
            raise TypeError(f"frame must be an integer, got {frame!r}.")
        frame = int(frame)
        if frame < 0:
            frame += self.n_frames_
        if not 0 <= frame < self.n_frames_:
            raise IndexError(f"frame must be in [0, {self.n_frames_}), got {frame}.")
        return frame

    def _title(self, panel: int, src: int, dst: int, alpha: float) -> str:
        stages = self.stages_[panel]
        head = [self.titles_[panel]] if any(self.titles_) else []
        if alpha == 0.0:
            st = stages[src]
            lines = [
                f"{st.name_line()}  ({src + 1}/{len(stages)})",
                st.width_line(self._n_draw),
            ]
        else:
            a, b = stages[src], stages[dst]
            lines = [f"{a.label} → {b.label}", f"{a.width}-D → {b.width}-D"]
        return "\n".join(head + lines)

    # ------------------------------------------------------------------
    # Drawing
    # ------------------------------------------------------------------

    def _groups(self):
        if self.y is None:
            return [("samples", "0.15", np.ones(len(self.stages_[0][0].values), bool))]
        return [
            (str(c), self.colors_[c], self.y == c)
            for c in self.classes_
            if np.any(self.y == c)
        ]

    def _cell_colors(self, panel: int):
        cells = self.cell_classes_[panel]
        if cells is None:
            return None
        light = {c: _lighten(col, _REGION_LIGHTEN) for c, col in self.colors_.items()}
        return np.array([light[c] for c in cells])

    def _has_legend(self) -> bool:
        regions = any(c is not None for c in self.cell_classes_)
        return (self.show_points and self.y is not None) or regions

    def _layout_inches(self, compact: bool):
        """Axes side and margins (inches): left, right, bottom, top, wspace, hspace.

        Fixed margins instead of a layout engine: constrained layout places
        equal-aspect axes so that their titles get clipped, and measuring
        every tick label at every frame costs more than drawing the data.
        """
        three_d = self.projection == "3d"
        title_lines = 2 if compact else (3 + any(self.titles_))
        size = 7.0 if compact else 8.0
        title = 0.08 + title_lines * size * 1.25 / 72
        legend = 0.42 if self._has_legend() else 0.05
        if compact:
            side = 1.85 if three_d else 1.6
            left = 0.08 if three_d else 0.3
            return side, left, 0.05, legend, title, 0.1, title + 0.12
        if three_d:
            return 3.3, 0.15, 0.15, legend + 0.1, title, 0.3, 0.5
        return 2.5, 0.55, 0.12, legend + 0.42, title, 0.62, 0.5

    def _new_axes(self, axes, nrows, ncols, figsize, what, compact):
        from ..plot._base import get_figure_axes

        want_3d = self.projection == "3d"
        if axes is not None:
            fig, grid = get_figure_axes(axes, nrows, ncols, what=what)
            if any((ax.name == "3d") != want_3d for ax in grid.flat):
                raise ValueError(
                    f"projection={self.projection!r} needs "
                    + (
                        "3-D axes; create them with subplot_kw={'projection': '3d'}."
                        if want_3d
                        else "2-D axes."
                    )
                )
            return fig, grid, False
        import matplotlib.pyplot as plt

        side, left, right, bottom, top, ws, hs = self._layout_inches(compact)
        if figsize is None:
            figsize = (
                left + right + ncols * side + (ncols - 1) * ws,
                bottom + top + nrows * side + (nrows - 1) * hs,
            )
        fig, grid = plt.subplots(
            nrows,
            ncols,
            figsize=figsize,
            squeeze=False,
            subplot_kw={"projection": "3d"} if want_3d else None,
        )
        width, height = fig.get_size_inches()
        axes_w = max((width - left - right - (ncols - 1) * ws) / ncols, 0.1)
        axes_h = max((height - bottom - top - (nrows - 1) * hs) / nrows, 0.1)
        fig.subplots_adjust(
            left=left / width,
            right=1 - right / width,
            bottom=bottom / height,
            top=1 - top / height,
            wspace=ws / axes_w,
            hspace=hs / axes_h,
        )
        return fig, grid, True

    def plot(
        self, axes=None, *, frame: int = 0, figsize=None
    ) -> LayerTransformAnimation:
        """Create the artists (one axes per net) and show ``frame``.

        Parameters
        ----------
        axes : Axes or sequence of Axes, optional
            One per net (3-D axes for ``projection="3d"``); a new figure
            when None.
        frame : int, default=0
        figsize : tuple, optional

        Returns
        -------
        self
        """
        n = len(self.stages_)
        fig, grid, own = self._new_axes(
            axes, 1, n, figsize, "LayerTransformAnimation", compact=False
        )
        self.figure_, self.axes_ = fig, grid[0]
        groups = self._groups() if self.show_points else []
        self.views_ = [
            _PanelView(
                ax,
                groups=groups,
                cell_colors=self._cell_colors(p),
                fontsize=8.0,
                compact=False,
            )
            for p, ax in enumerate(self.axes_)
        ]
        self._legend(fig, self.axes_[0], own)
        self.draw_frame(frame)
        return self

    def _legend(self, fig, ax, own: bool):
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles, title = [], None
        regions = any(c is not None for c in self.cell_classes_)
        if self.show_points and self.y is not None:
            for c in self.classes_:
                handles.append(
                    Line2D(
                        [],
                        [],
                        linestyle="none",
                        marker="o",
                        markersize=5,
                        markeredgewidth=0,
                        color=self.colors_[c],
                        label=str(c),
                    )
                )
            title = "class (dots: y, shade: predicted)" if regions else "class"
        elif regions:
            for c in self.classes_:
                handles.append(
                    Patch(
                        color=_lighten(self.colors_[c], _REGION_LIGHTEN), label=str(c)
                    )
                )
            title = "predicted class"
        if not handles:
            return
        kw = dict(
            handles=handles,
            title=title,
            fontsize=7,
            title_fontsize=7,
            ncols=min(len(handles), 6),
            frameon=False,
        )
        if own:
            fig.legend(loc="lower center", borderaxespad=0.2, **kw)
        else:
            ax.legend(loc="best", **kw)

    def _azim(self, frame: int) -> float | None:
        if self.projection != "3d":
            return None
        step = self.rotation_per_frame
        if step is None:
            step = 360.0 / max(self.n_frames_, 1)
        return self.azim + step * frame

    def draw_frame(self, frame: int) -> list:
        """Update the existing artists to show ``frame``; returns them."""
        if not hasattr(self, "views_"):
            raise RuntimeError("Call plot() before draw_frame().")
        frame = self._frame_index(frame)
        changed = []
        for p, view in enumerate(self.views_):
            if frame == 0 and view.three_d:
                view.ax.view_init(elev=self.elev, azim=self.azim)
            view.update(self.frame_coordinates(frame, p), azim=self._azim(frame))
            changed.extend(view.artists())
        self._update_layout(frame)
        self.current_frame_ = frame
        return changed

    # ------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------

    @contextmanager
    def _frozen_layout(self):
        """Recompute the figure layout only when a view changes.

        A layout engine (constrained layout) measures every tick label of
        every axes at every draw, which costs more than drawing the data.
        While frames are written, the layout is recomputed only when the
        limits, axis labels or camera change; within a transition the
        picture therefore keeps one layout and does not jitter.
        """
        from matplotlib.layout_engine import PlaceHolderLayoutEngine

        fig = self.figure_
        engine = fig.get_layout_engine()
        if engine is None or isinstance(engine, PlaceHolderLayoutEngine):
            yield
            return
        fig.set_layout_engine("none")
        self._layout = (engine, None)
        try:
            yield
        finally:
            self._layout = None
            fig.set_layout_engine(engine)

    def _update_layout(self, frame: int) -> None:
        layout = getattr(self, "_layout", None)
        if layout is None:
            return
        engine, key = layout
        new_key = tuple(
            (
                view.ax.get_xlim(),
                view.ax.get_ylim(),
                view.ax.get_xlabel(),
                view.ax.get_ylabel(),
                self._azim(frame) if view.three_d else None,
            )
            for view in self.views_
        )
        if new_key != key:
            engine.execute(self.figure_)
            self._layout = (engine, new_key)

    def _write(self, writer, path: str, dpi, progress: bool) -> None:
        """Draw every frame into ``writer``, each exactly once.

        ``FuncAnimation.save`` draws every frame twice (an idle redraw of
        the canvas, then the writer's own); this loop draws it once.
        """
        from tqdm.auto import tqdm

        if not hasattr(self, "views_"):
            self.plot()
        with (
            self._frozen_layout(),
            tqdm(
                total=self.n_frames_,
                desc="Rendering frames",
                unit="frame",
                disable=not progress,
                leave=False,
            ) as bar,
            writer.saving(
                self.figure_, path, dpi if dpi is not None else self.figure_.dpi
            ),
        ):
            for i in range(self.n_frames_):
                self.draw_frame(i)
                writer.grab_frame()
                bar.update(1)

    @staticmethod
    def _check_fps(fps) -> float:
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not fps > 0:
            raise ValueError(f"fps must be a positive number, got {fps!r}.")
        return float(fps)

    def save(
        self,
        path: str | os.PathLike,
        *,
        fps: float = 10,
        dpi: float | None = None,
        progress: bool = True,
    ) -> LayerTransformAnimation:
        """Render every frame to ``path``: ``.gif`` (pillow), ``.mp4`` (ffmpeg) or ``.html``.

        Parameters
        ----------
        path : str or path-like
            The extension chooses the format. ``.mp4`` needs ffmpeg (a
            ``RuntimeError`` says so before anything is rendered).
        fps : float, default=10
        dpi : float, optional
            Resolution; the figure's own by default.
        progress : bool, default=True
            Show a tqdm progress bar while rendering.

        Returns
        -------
        self
        """
        from matplotlib import animation

        fps = self._check_fps(fps)
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        if ext == ".gif":
            writer = animation.PillowWriter(fps=fps)
        elif ext == ".mp4":
            if not animation.writers.is_available("ffmpeg"):
                raise RuntimeError(
                    "Saving .mp4 needs ffmpeg, which matplotlib cannot find "
                    "(matplotlib.animation.writers.is_available('ffmpeg') is False). "
                    "Install ffmpeg or point rcParams['animation.ffmpeg_path'] to it, "
                    "or save as .gif or .html instead."
                )
            # yuv420p: the pixel format every browser and player can decode.
            writer = animation.FFMpegWriter(
                fps=fps, codec="h264", extra_args=["-pix_fmt", "yuv420p"]
            )
        elif ext in (".html", ".htm"):
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(self.to_jshtml(fps=fps, dpi=dpi, progress=progress))
            return self
        else:
            raise ValueError(
                f"Cannot tell the format of {path!r}: use a .gif, .mp4 or .html path."
            )
        self._write(writer, path, dpi, progress)
        return self

    def to_jshtml(
        self,
        *,
        fps: float = 10,
        dpi: float | None = None,
        progress: bool = True,
        embed_limit: float | None = None,
    ) -> str:
        """The animation as self-contained HTML with play controls (notebooks).

        Parameters
        ----------
        fps : float, default=10
        dpi : float, optional
        progress : bool, default=True
        embed_limit : float, optional
            Size limit in MB of the embedded frames; matplotlib's
            ``rcParams["animation.embed_limit"]`` (20 MB) when None.

        Returns
        -------
        str
            Display it with ``IPython.display.HTML``.
        """
        import tempfile

        import matplotlib as mpl
        from matplotlib.animation import HTMLWriter

        fps = self._check_fps(fps)
        rc = {} if embed_limit is None else {"animation.embed_limit": embed_limit}
        with tempfile.TemporaryDirectory() as tmp, mpl.rc_context(rc):
            path = os.path.join(tmp, "animation.html")
            writer = HTMLWriter(fps=fps, embed_frames=True, default_mode="loop")
            self._write(writer, path, dpi, progress)
            with open(path, encoding="utf-8") as fh:
                return fh.read()

    def animation(self, *, fps: float = 10):
        """A ``FuncAnimation`` over all frames, for interactive backends.

        Keep a reference to it while it plays. For files use :meth:`save`.
        """
        from matplotlib.animation import FuncAnimation

        fps = self._check_fps(fps)
        if not hasattr(self, "views_"):
            self.plot()
        return FuncAnimation(
            self.figure_,
            self.draw_frame,
            frames=self.n_frames_,
            init_func=lambda: [],
            interval=1000.0 / fps,
            cache_frame_data=False,
        )

    def plot_filmstrip(self, axes=None, *, figsize=None) -> LayerTransformAnimation:
        """Still picture of every stage: one row per net, one column per stage.

        Each small panel has its own limits. Sets ``filmstrip_figure_`` and
        ``filmstrip_axes_`` (rows x columns; unused cells of nets with
        fewer stages are switched off).

        Returns
        -------
        self
        """
        n_rows = len(self.stages_)
        n_cols = max(len(s) for s in self.stages_)
        fig, grid, own = self._new_axes(
            axes, n_rows, n_cols, figsize, "plot_filmstrip", compact=True
        )
        groups = self._groups() if self.show_points else []
        self.filmstrip_views_ = []
        for r, stages in enumerate(self.stages_):
            colors = self._cell_colors(r)
            for k in range(n_cols):
                ax = grid[r, k]
                if k >= len(stages):
                    ax.set_axis_off()
                    continue
                st = stages[k]
                view = _PanelView(
                    ax, groups=groups, cell_colors=colors, fontsize=7.0, compact=True
                )
                view.update(
                    {
                        "points": st.coords,
                        "lines": st.line_coords,
                        "lattice": st.lattice_coords,
                        "limits": _view_limits(*_stage_box(st), square=True),
                        "title": f"{st.name_line()}\n{st.width_line(self._n_draw)}",
                        "axis_labels": st.axis_labels,
                    }
                )
                if view.three_d:
                    ax.view_init(elev=self.elev, azim=self.azim)
                self.filmstrip_views_.append(view)
            if self.titles_[r] and not grid[r, 0].name == "3d":
                grid[r, 0].set_ylabel(self.titles_[r], fontsize=8, fontweight="bold")
        self._legend(fig, grid[0, 0], own)
        self.filmstrip_figure_, self.filmstrip_axes_ = fig, grid
        return self

    def save_filmstrip(
        self, path: str | os.PathLike, *, dpi: float = 150
    ) -> LayerTransformAnimation:
        """Draw the filmstrip (if not done yet) and save it to ``path``."""
        if not hasattr(self, "filmstrip_figure_"):
            self.plot_filmstrip()
        self.filmstrip_figure_.savefig(os.fspath(path), dpi=dpi)
        return self
