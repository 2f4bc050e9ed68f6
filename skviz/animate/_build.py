"""The builders of the layer animation: from fitted nets and 2-D samples to stages.

:class:`LayerBuilders` gives :class:`LayerTransformAnimation` its
``from_estimator`` and ``compare``. Every argument is checked before the
first forward pass; then each net sees the same samples, the same grid over
the input plane and (for decision regions) the same lattice of cells, in
one capture per net (:func:`skviz.animate._stages.capture_stages`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _checks as checks
from . import _geometry as geometry
from ._layer_figure import user_axes
from ._stages import capture_stages

if TYPE_CHECKING:
    from ._layers import LayerTransformAnimation

__all__ = ["LayerBuilders", "capture_nets"]

# One mapping of layer -> activation, or (compare) one mapping or None per net.
Activations = (
    Mapping[str, str | Callable] | Sequence[Mapping[str, str | Callable] | None] | None
)


def capture_nets(
    nets: Sequence[Any],
    X,
    y,
    *,
    titles: Sequence[str] | None,
    layers: Sequence[str] | None,
    activations: Activations,
    grid_lines: int,
    grid_resolution: int,
    region_resolution: int,
    padding: float,
    frames_per_transition: int,
    hold_frames: int,
    decision_regions: bool | str,
    predict_proba_stage: bool,
    projection: str,
    align: bool,
) -> tuple[list, list, list[str], Any]:
    """``(stages per net, cell classes per net, titles, y as an array)``.

    The arguments are those of :meth:`LayerTransformAnimation.compare`.
    """
    nets = list(nets)
    if not nets:
        raise ValueError("nets is empty; pass at least one fitted net.")
    for i, net in enumerate(nets):
        checks.check_net(net, None if len(nets) == 1 else i)
    X_arr, names, frame = checks.check_X(X)
    y_arr = checks.check_y(y, len(X_arr))
    layers = checks.check_layers(layers)
    per_net = checks.check_activations(activations, len(nets))
    grid_lines = checks.check_int("grid_lines", grid_lines, 2)
    grid_resolution = checks.check_int("grid_resolution", grid_resolution, 2)
    region_resolution = checks.check_int("region_resolution", region_resolution, 2)
    padding = checks.check_padding(padding)
    checks.check_projection(projection)
    decision_regions = checks.check_decision_regions(
        decision_regions, predict_proba_stage, nets
    )
    names = checks.input_names(nets, names)
    if titles is None:
        titles = [""] if len(nets) == 1 else [f"net {i}" for i in range(len(nets))]
    titles = [str(t) for t in titles]
    if len(titles) != len(nets):
        raise ValueError(f"titles has {len(titles)} entries for {len(nets)} nets.")
    # Checked again by the constructor, but before the forward passes here.
    checks.check_int("frames_per_transition", frames_per_transition, 1)
    checks.check_int("hold_frames", hold_frames, 0)

    lo, hi = geometry.input_box(X_arr, padding)
    lines_in = geometry.grid_lines(lo, hi, grid_lines, grid_resolution)
    lattice_in = (
        geometry.lattice(lo, hi, region_resolution) if decision_regions else None
    )
    input_labels = tuple(names) if names else ("x[0]", "x[1]")
    if projection == "3d":
        input_labels = (*input_labels, "")
    stages, cells = [], []
    for net, title, acts in zip(nets, titles, per_net, strict=True):
        st, cc = capture_stages(
            net,
            X_arr,
            frame,
            lines_in,
            lattice_in,
            title=title or type(net).__name__,
            layers=layers,
            activations=acts,
            proba_stage=predict_proba_stage,
            n_draw=3 if projection == "3d" else 2,
            align=align,
            input_labels=input_labels,
        )
        stages.append(st)
        cells.append(cc)
    return stages, cells, titles, y_arr


class LayerBuilders:
    """``from_estimator`` and ``compare`` of :class:`LayerTransformAnimation`."""

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
        """Capture the stages of one net (drawing waits until the figure is needed).

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
            plane collapses onto the line p0 + p1 = 1).
        projection : {"pca", "3d"}, default="pca"
            ``"pca"``: 2-D axes, stages wider than 2 projected by PCA.
            ``"3d"``: 3-D axes, width 3 as is, wider stages projected by
            PCA to 3-D, the camera facing each stage's plane (see the
            class's ``elev``).
        align : bool, default=True
            Turn each PCA projection (orthogonally) to match the stage
            before it; see the module docstring.
        title : str, optional
            Shown above the panel.
        axes : matplotlib Axes, optional
            Where to draw once the figure is needed (3-D axes for
            ``projection="3d"``; checked at once); a new figure otherwise.
        figsize : tuple, optional
            Size of that new figure; by default one that fits the panels.
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
        activations: Activations = None,
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
        ``layers`` apply to every net (None: each net's own leaves), and
        ``titles`` gives one title per net (default ``"net 0"``, ...).
        ``axes`` must hold one axes per net.

        ``activations`` takes one entry per net, in the order of ``nets``:
        a dict such as ``{"fc1": "relu"}``, or None for a net without
        functional activations. A single dict is refused when there are
        several nets (``ValueError``): nets compared side by side often
        differ in their activations, and applying one net's ReLU to a tanh
        net would draw, and name, a stage that net never computes. To give
        every net the same dict, pass ``[activations] * len(nets)``.
        """
        stages, cells, titles, y_arr = capture_nets(
            nets,
            X,
            y,
            titles=titles,
            layers=layers,
            activations=activations,
            grid_lines=grid_lines,
            grid_resolution=grid_resolution,
            region_resolution=region_resolution,
            padding=padding,
            frames_per_transition=frames_per_transition,
            hold_frames=hold_frames,
            decision_regions=decision_regions,
            predict_proba_stage=predict_proba_stage,
            projection=projection,
            align=align,
        )
        if axes is not None:  # refused now rather than at the first draw
            user_axes(axes, 1, len(stages), "LayerTransformAnimation", projection)
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
        anim._place = {"axes": axes, "figsize": figsize}
        return anim

    from_estimators = compare
