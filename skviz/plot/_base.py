"""Small helpers shared by the display classes."""

from __future__ import annotations

import numpy as np


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


# ----------------------------------------------------------------------
# Grids, layers and labels (used by the analysis displays)
# ----------------------------------------------------------------------


def get_figure_axes(
    axes=None, nrows: int = 1, ncols: int = 1, *, figsize=None, what=""
):
    """Return ``(figure, axes)`` with ``axes`` an ``(nrows, ncols)`` object array.

    A new constrained-layout figure is created only when ``axes`` is None.
    Otherwise ``axes`` must hold exactly ``nrows * ncols`` Axes (a single
    Axes is accepted for a 1 x 1 grid), given flat or in any shape; they
    are used row by row.
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if axes is None:
        fig, grid = plt.subplots(
            nrows, ncols, figsize=figsize, layout="constrained", squeeze=False
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


def inspected_module(net):
    """The fitted net's module, unwrapped from ``torch.compile``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(net, "module_")
    module = net.module_
    return getattr(module, "_orig_mod", module)


def layers_of_type(module, types) -> list[str]:
    """Dotted names of the submodules of ``module`` that are ``types``."""
    return [n for n, m in module.named_modules() if n and isinstance(m, types)]


def layer_module(net, layer: str, types, kind: str, what: str):
    """Submodule ``layer`` of a fitted net, checked to be one of ``types``.

    Errors name the layers that would work, so the caller can fix the call
    without listing layers by hand.
    """
    import difflib

    module = inspected_module(net)
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a str, got {type(layer).__name__}.")
    modules = {n: m for n, m in module.named_modules() if n}
    suitable = layers_of_type(module, types)
    options = (
        f"{kind} layers of this net: {suitable}."
        if suitable
        else f"This net has no {kind} layer."
    )
    if layer not in modules:
        close = difflib.get_close_matches(layer, list(modules), n=3)
        near = f" Did you mean {close}?" if close else ""
        raise ValueError(f"No layer named {layer!r}.{near} {options}")
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
