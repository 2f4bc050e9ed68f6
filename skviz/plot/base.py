"""Small helpers shared by the display classes."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from .. import analysis
from ..kinds import layer_kinds, units_first
from ..layers import check_module_names


def get_figure_ax(ax=None, figsize=None):
    """Return ``(figure, ax)``, creating a new figure only when ``ax`` is None.

    New figures come from ``pyplot`` (so notebooks show them), as in
    sklearn's displays; nothing else touches global pyplot state.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def color_scale(values: np.ndarray, center: float | None = None):
    """Colour map and limits for a heatmap of ``values``.

    Values that go negative get a diverging map centred at 0 with symmetric
    limits, so that white means zero and equal distances mean equal values;
    non-negative values get a sequential map from 0. NaN/inf are ignored.

    Returns
    -------
    cmap : str
    vmin, vmax : float
    centered : bool
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return "viridis", 0.0, 1.0, False
    lo, hi = float(finite.min()), float(finite.max())
    if center is not None or lo < 0:
        c = 0.0 if center is None else float(center)
        bound = max(abs(lo - c), abs(hi - c)) or 1.0
        return "RdBu_r", c - bound, c + bound, True
    return "viridis", 0.0, hi if hi > 0 else 1.0, False


def tick_step(n: int, max_ticks: int) -> int:
    """Label every k-th of ``n`` ticks so that at most ``max_ticks`` show.

    Steps are 1, 2 or 5 times a power of ten, so labelled indices stay easy
    to count (0, 5, 10, ... rather than 0, 7, 14, ...).
    """
    if n <= max_ticks:
        return 1
    target = n / max(max_ticks, 1)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= target:
                return factor * magnitude
        magnitude *= 10


def contrast_color(rgba) -> str:
    """``"white"`` or ``"0.15"`` (near black), whichever reads better on ``rgba``."""
    r, g, b = rgba[:3]
    # Rec. 709 luma weights on the sRGB components: enough to pick black or white.
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "white" if luminance < 0.45 else "0.15"


def cell_text(value: float) -> str:
    """``value`` with two decimals, as written in a heatmap cell."""
    text = f"{value:.2f}"
    # Rounding can leave "-0.00", which reads as a sign that is not there.
    return "0.00" if text == "-0.00" else text


def annotate_cells(ax, image, values, *, shown=None, origin=(0, 0), fontsize=6.5):
    """Write every finite entry of ``values`` in its cell of ``image``.

    ``values[i, j]`` goes at column ``origin[1] + j``, row ``origin[0] + i``
    of the image, in black or white, whichever reads better on the colour
    of the cell; that colour is the one of ``shown[i, j]`` when the image
    draws other numbers than the ones written (e.g. rescaled kernels).
    """
    shown = values if shown is None else shown
    row, col = origin
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(
                col + j,
                row + i,
                cell_text(value),
                ha="center",
                va="center",
                fontsize=fontsize,
                color=contrast_color(image.cmap(image.norm(shown[i, j]))),
            )


# ----------------------------------------------------------------------
# Checks and lookups shared by the from_estimator constructors
# ----------------------------------------------------------------------


def labels_per_sample(y, n_samples: int) -> np.ndarray:
    """``y`` as a 1-D array of ``n_samples`` labels (checked before a forward pass)."""
    y = analysis.check_label_types(y)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(
            f"y must hold one label per sample of X ({n_samples}), got shape {y.shape}."
        )
    return y


def check_indices(choice, total: int, name: str) -> np.ndarray:
    """Positions among ``total`` (channels, say) as a non-empty 1-D int array."""
    idx = np.atleast_1d(np.asarray(choice))
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be a non-empty sequence of ints, got {choice!r}."
        )
    if idx.min() < 0 or idx.max() >= total:
        raise ValueError(f"{name} must lie in [0, {total - 1}], got {idx.tolist()}.")
    return idx


def net_classes(net, n_columns: int) -> np.ndarray:
    """The labels of ``predict_proba``'s columns.

    ``net.classes_``; ``0 .. n_columns - 1`` when the net has none or they
    do not match the columns (skorch's own ``predict`` is the argmax over
    the columns).
    """
    try:
        classes = np.asarray(net.classes_)
    except AttributeError:
        classes = None
    if classes is None or len(classes) != n_columns:
        classes = np.arange(n_columns)
    return classes


def unit_values(activations, reduce, layer: str | None) -> tuple[np.ndarray, bool]:
    """A layer's values as ``(n_samples, n_units)``; True if channels were averaged.

    Non-finite values are masked with a warning here (see
    :func:`skviz.analysis.unit_matrix`); wrap the analyses that follow in
    :func:`nonfinite_warned` so that they do not warn again.
    """
    what = f"activations of {layer!r}" if layer else "activations"
    A = analysis.unit_matrix(activations, reduce, what=what)
    return A, np.ndim(activations) > 2 and reduce == "mean"


@contextmanager
def nonfinite_warned():
    """Silence :class:`skviz.analysis.NonFiniteWarning`: already warned about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", analysis.NonFiniteWarning)
        yield


# ----------------------------------------------------------------------
# Grids, layers and labels (used by the analysis displays)
# ----------------------------------------------------------------------


def get_figure_axes(
    axes=None,
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize=None,
    what="",
    subplot_kw: dict | None = None,
    layout: str | None = "constrained",
):
    """Return ``(figure, axes)`` with ``axes`` an ``(nrows, ncols)`` object array.

    A new figure is created only when ``axes`` is None, with ``layout``
    (constrained by default; None for a caller that places the axes
    itself) and ``subplot_kw`` for every axes (e.g. ``{"projection":
    "3d"}``). Otherwise ``axes`` must hold exactly ``nrows * ncols`` Axes
    (a single Axes is accepted for a 1 x 1 grid), given flat or in any
    shape; they are used row by row.
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if axes is None:
        fig, grid = plt.subplots(
            nrows,
            ncols,
            figsize=figsize,
            layout=layout,
            squeeze=False,
            subplot_kw=subplot_kw,
        )
        return fig, grid
    flat = (
        [axes] if isinstance(axes, Axes) else list(np.asarray(axes, dtype=object).flat)
    )
    if not all(isinstance(a, Axes) for a in flat):
        raise TypeError(f"{what} axes must be matplotlib Axes, got {axes!r}.")
    if len(flat) != nrows * ncols:
        raise ValueError(
            f"{what} draws a grid of {nrows} x {ncols} = {nrows * ncols} panel(s); "
            f"axes holds {len(flat)}."
        )
    grid = np.empty((nrows, ncols), dtype=object)
    for i, a in enumerate(flat):
        grid[i // ncols, i % ncols] = a
    return flat[0].figure, grid


def layers_of_type(module, types) -> list[str]:
    """Dotted names of the submodules of ``module`` that are ``types``."""
    return [n for n, m in module.named_modules() if n and isinstance(m, types)]


def layer_module(net, layer: str, types, kind: str, what: str):
    """Submodule ``layer`` of a fitted net, checked to be one of ``types``.

    An unknown name gets the capture engine's message (close matches, how
    to list the layers); a layer of the wrong type names the layers that
    would work.
    """
    module = net.inspected_module()
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a str, got {type(layer).__name__}.")
    modules = {n: m for n, m in module.named_modules() if n}
    suitable = layers_of_type(module, types)
    options = (
        f"{kind} layers of this net: {suitable}."
        if suitable
        else f"This net has no {kind} layer."
    )
    # The engine's words for an unknown layer, as transform_layer says them.
    check_module_names([layer], list(modules))
    found = modules[layer]
    if not isinstance(found, types):
        raise ValueError(
            f"{what} needs a {kind} layer, but {layer!r} is "
            f"{type(found).__name__}. {options}"
        )
    return found


def class_label(value, class_names=None) -> str:
    """Text for a class: ``class_names[value]`` when given, else the value."""
    if class_names is None:
        return str(value)
    try:
        return str(class_names[value])
    except (KeyError, IndexError, TypeError):
        return str(value)


def class_colors(classes) -> dict:
    """One colour per class label, in the given order.

    Matplotlib's ``tab10`` for up to 10 classes, ``tab20`` up to 20, then
    evenly spaced hues; the same label gets the same colour in every panel.
    """
    import matplotlib as mpl

    classes = list(classes)
    n = len(classes)
    if n <= 10:
        colors = mpl.colormaps["tab10"].colors[:n]
    elif n <= 20:
        colors = mpl.colormaps["tab20"].colors[:n]
    else:
        colors = mpl.colormaps["hsv"](np.linspace(0, 1, n, endpoint=False))
    return {
        c: tuple(float(v) for v in col[:3])
        for c, col in zip(classes, colors, strict=True)
    }


def capture_layer(net, X, layer: str, *, activation=None, batch_size=None):
    """One layer's outputs for X, through the net's public capture API.

    Unlike ``transform_layer`` it leaves the net's state alone: a display
    does not change which samples ``net.plot_activation()`` reuses.
    """
    return net.capture_layers(
        X, [layer], activation=activation, flatten=False, batch_size=batch_size
    )[layer]


def capture_units(net, X, layer: str, *, activation=None, batch_size=None):
    """:func:`capture_layer` with the units on axis 1.

    A 3-D sequence output ``(n, T, H)`` of a features-last layer (Linear,
    LayerNorm, LSTM, attention...) comes back as ``(n, H, T)``, so that
    per-unit summaries see its H features, each over the T positions (see
    :mod:`skviz.kinds`); conv outputs ``(n, C, ...)`` are unchanged.
    """
    A = capture_layer(net, X, layer, activation=activation, batch_size=batch_size)
    if np.ndim(A) != 3:
        return A
    kinds = layer_kinds(net, X, [layer], activation=activation, ndims={layer: 3})
    return units_first({layer: A}, kinds)[layer]


def missing_layers_message(what: str, y) -> str:
    """Error text for a ``from_estimator`` call without its layer(s).

    Layers come after ``y`` (``from_estimator(net, X, y, layers)``); a call
    written with the layers where ``y`` now is gets told so.
    """
    names = [y] if isinstance(y, str) else y
    looks_like_layers = (
        isinstance(names, list | tuple)
        and len(names) > 0
        and all(isinstance(v, str) for v in names)
    )
    hint = (
        f" y={y!r} looks like layer names: the layers come after y, as in "
        "from_estimator(net, X, y, layers), or pass layers=..."
        if looks_like_layers
        else ""
    )
    return f"{what} needs the layer(s) to draw.{hint}"
