"""What every skviz animation shares: its figure, its frames and its files.

:class:`BaseAnimation` holds the rules that are the same for the network
diagram and the layer animation, so that both read and behave alike:

* **Figure.** Building an animation draws nothing. The figure is made the
  first time something needs it: :meth:`~BaseAnimation.plot` (where the
  caller chooses the axes and the size), or else ``draw_frame``,
  ``animation``, ``save``, ``to_jshtml``, ``_repr_html_`` or reading
  ``figure_`` (or the axes), which draw the first frame on the default
  figure. Arguments are checked before anything is drawn.
* **Frames.** ``n_frames_`` frames, indexed like a sequence: ``-n_frames_``
  to ``n_frames_ - 1``; any other index raises ``IndexError``, a
  non-integer ``TypeError``.
* **Files.** ``save`` writes ``.gif`` (Pillow), ``.mp4`` (ffmpeg) or
  ``.html`` (every frame embedded, whatever its size), chosen by the suffix
  unless ``writer`` says otherwise, and returns the path written. Frame
  rates are ``fps`` everywhere, and ``progress=None`` shows a bar only where
  :func:`skviz.progress.progress_bar` finds one useful.
* **Notebooks.** ``to_jshtml`` returns the HTML player, which notebooks
  also show for an animation that ends a cell (``_repr_html_``). Its size is
  estimated before rendering and kept within ``embed_limit`` by lowering
  what the caller left open, with a warning, or refused (``_embed``); frames
  are never dropped silently. Afterwards a figure that skviz made (drawn on
  first need, or by ``plot()`` without axes) is closed in pyplot, so that
  the notebook does not show it again beneath the player as a still of the
  last frame; it stays usable (``draw_frame``, ``save``, ``figure_``). A
  figure whose axes the caller passed is theirs and stays open: close it
  (``plt.close(fig)``) before the cell ends to show the player alone.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import tempfile
import warnings
from collections.abc import Hashable
from contextlib import contextmanager
from pathlib import Path

from ..progress import progress_bar
from . import _checks as checks
from . import _embed as embed

__all__ = ["BaseAnimation"]

# Before any layout ran: differs from every key a subclass returns.
_NO_LAYOUT = object()


class BaseAnimation:
    """Figure handling, frame indices and output shared by the animations.

    Subclasses set ``n_frames_``, draw their artists in ``plot`` (which
    stores the figure with :meth:`_set_figure` and ends with
    ``draw_frame(frame)``) and show one frame in :meth:`_show_frame`.
    """

    n_frames_: int

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "plot" in vars(cls):
            cls.plot = _noting_new_figure(vars(cls)["plot"])

    # ------------------------------------------------------------------
    # figure
    # ------------------------------------------------------------------

    def plot(self, *args, **kwargs) -> BaseAnimation:  # pragma: no cover
        raise NotImplementedError

    @property
    def figure_(self):
        """The matplotlib Figure the frames are drawn on.

        Reading it before anything is drawn draws the first frame on the
        default figure (see :meth:`plot`).
        """
        self._ensure_drawn()
        return self._figure

    def _set_figure(self, fig) -> None:
        self._figure = fig

    def _is_drawn(self) -> bool:
        return "_figure" in vars(self)

    def _ensure_drawn(self) -> None:
        if not self._is_drawn():
            self._plot_default()

    def _plot_default(self) -> None:
        """Draw where the caller said when building, or on a new figure."""
        self.plot()

    def _close_own_figure(self) -> None:
        """Close the figure in pyplot if skviz made it (see the module's docstring)."""
        if vars(self).get("_own_figure"):
            import matplotlib.pyplot as plt

            plt.close(self._figure)

    # ------------------------------------------------------------------
    # frames
    # ------------------------------------------------------------------

    def _check_frame(self, frame) -> int:
        """``frame`` as an index in ``[0, n_frames_)``; negative ones count from the end."""
        if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
            raise TypeError(f"frame must be an integer, got {frame!r}.")
        n = self.n_frames_
        if not -n <= frame < n:
            raise IndexError(
                f"frame {frame} is out of range for {n} frames "
                f"(valid: {-n} to {n - 1})."
            )
        return int(frame) % n

    def draw_frame(self, frame: int) -> list:
        """Show ``frame`` on the figure, drawing the figure first if needed.

        Returns
        -------
        list
            The artists that changed (what ``FuncAnimation`` blits).
        """
        frame = self._check_frame(frame)
        self._ensure_drawn()
        artists = self._show_frame(frame)
        self._update_layout(frame)
        self.frame_ = frame
        return artists

    def _show_frame(self, frame: int) -> list:  # pragma: no cover
        raise NotImplementedError

    def _layout_key(self, frame: int) -> Hashable:
        """What the figure's layout depends on at ``frame`` (see :meth:`_frozen_layout`).

        Constant by default: the layout is computed once per file.
        """
        return None

    @contextmanager
    def _frozen_layout(self):
        """Run the figure's layout engine only when the layout can change.

        A layout engine (constrained layout) measures every text of every
        axes at every draw, which costs more than drawing the data. While
        frames are written the engine is switched off and run only when
        :meth:`_layout_key` changes (limits, axis labels, camera), so a
        stretch of frames keeps one layout and does not jitter. The engine
        is restored afterwards.
        """
        fig = self.figure_
        engine = fig.get_layout_engine()
        if engine is None:
            yield
            return
        try:
            # None, not "none": any engine, even the placeholder that "none"
            # leaves, makes savefig run an extra non-rendering draw per frame.
            fig.set_layout_engine(None)
        except RuntimeError:  # engines that refuse to be swapped (colorbars)
            yield
            return
        self._layout = [engine, _NO_LAYOUT]
        try:
            yield
        finally:
            self._layout = None
            fig.set_layout_engine(engine)

    def _update_layout(self, frame: int) -> None:
        layout = getattr(self, "_layout", None)
        if layout is None:
            return
        key = self._layout_key(frame)
        if key != layout[1]:
            layout[0].execute(self._figure)
            layout[1] = key

    # ------------------------------------------------------------------
    # output
    # ------------------------------------------------------------------

    def animation(self, *, fps: float = 10, **kwargs):
        """A :class:`matplotlib.animation.FuncAnimation` over every frame.

        For interactive backends; keep a reference to it while it plays.
        Files come from :meth:`save`.

        Parameters
        ----------
        fps : float, default=10
            Frames per second.
        **kwargs
            Passed to ``FuncAnimation`` (``repeat``, ``blit``, ...).
        """
        from matplotlib.animation import FuncAnimation

        if "interval" in kwargs:
            # NetworkUpdateAnimation.animation took the delay in ms until 0.2
            interval = kwargs.pop("interval")
            warnings.warn(
                "animation(interval=...) is deprecated and will be removed in "
                f"0.3; pass fps={1000 / interval:g} instead.",
                FutureWarning,
                stacklevel=2,
            )
            fps = 1000 / interval
        fps = checks.check_fps(fps)
        self._ensure_drawn()
        # No separate first draw: every frame, the first included, is drawn
        # by draw_frame when its turn comes.
        kwargs.setdefault("init_func", lambda: [])
        kwargs.setdefault("frames", self.n_frames_)
        return FuncAnimation(
            self.figure_,
            self.draw_frame,
            interval=1000 / fps,
            cache_frame_data=False,
            **kwargs,
        )

    def save(
        self,
        path: str | os.PathLike,
        *,
        fps: float = 10,
        dpi: float | None = None,
        writer=None,
        progress: bool | None = None,
    ) -> Path:
        """Render every frame and write the animation to ``path``.

        Parameters
        ----------
        path : str or path-like
            Without ``writer`` the suffix chooses the format: ``.gif``,
            ``.mp4`` (needs ffmpeg; a ``RuntimeError`` says so before
            anything is rendered) or ``.html`` / ``.htm`` (self-contained,
            as :meth:`to_jshtml`, with every frame at ``dpi`` whatever the
            size: ``embed_limit`` applies to notebooks, not to files).
        fps : float, default=10
            Frames per second.
        dpi : float, optional
            Resolution; the figure's own when None.
        writer : str or matplotlib.animation.AbstractMovieWriter, optional
            A matplotlib writer name (``"ffmpeg"``, ``"pillow"``, ...) or
            instance, for other formats or settings; it gets ``fps`` when
            given by name.
        progress : bool, optional
            Show a tqdm bar while rendering. None: only on an interactive
            terminal or notebook, and only once rendering has lasted 2 s.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        path = Path(path)
        fps = checks.check_fps(fps)
        if dpi is not None:
            dpi = checks.check_positive("dpi", dpi)
        if writer is None:
            writer = self._writer_for(path, fps)
        self._render(path, writer, fps, dpi, progress)
        return path

    def to_jshtml(
        self,
        *,
        fps: float = 10,
        dpi: float | None = None,
        progress: bool | None = None,
        embed_limit: float | None = None,
    ) -> str:
        """The animation as self-contained HTML with play controls.

        Before rendering, the size of the HTML is estimated from a few
        frames. If every frame would pass ``embed_limit``, a ``dpi`` left
        to the figure is lowered (at most to 72) and then frames are skipped
        evenly (the last one is always shown, at least 10 are), with a
        ``UserWarning`` that names what was reduced and how to get every
        frame at full size; if that is not enough, ``ValueError`` says by
        how much, before any frame is written. Frames are never dropped
        silently, as matplotlib's own writer does past the limit.

        Afterwards a figure that skviz made is closed in pyplot, so that a
        notebook shows the player alone; one whose axes you passed to
        :meth:`plot` stays open.

        Parameters
        ----------
        fps : float, default=10
        dpi : float, optional
            Resolution; the figure's own when None (and then lowered if the
            HTML would pass ``embed_limit``). A dpi given is kept.
        progress : bool, optional
            As for :meth:`save`.
        embed_limit : float, optional
            Most MB of HTML (1 MB = 2**20 bytes); matplotlib's
            ``rcParams["animation.embed_limit"]`` (20 MB) when None;
            ``math.inf`` for no limit.

        Returns
        -------
        str
            Display it with ``IPython.display.HTML``.

        Raises
        ------
        ValueError
            If the HTML cannot fit in ``embed_limit`` even at 72 dpi (or the
            dpi given) and with 10 frames.
        """
        import matplotlib as mpl

        fps = checks.check_fps(fps)
        if dpi is not None:
            dpi = checks.check_positive("dpi", dpi)
        if embed_limit is None:
            embed_limit = mpl.rcParams["animation.embed_limit"]
        embed_limit = checks.check_embed_limit(embed_limit)
        try:
            writer = _html_writer(fps)
            plan = embed.plan_html(
                self,
                dpi=self._output_dpi(dpi),
                dpi_given=dpi is not None,
                embed_limit=embed_limit,
                frame_format=writer.frame_format,
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp, "animation.html")
                self._render(path, writer, fps, plan.dpi, progress, plan.frames)
                html = path.read_text(encoding="utf-8")
        finally:
            self._close_own_figure()
        embed.warn_if_over(plan, html)
        return html

    def _repr_html_(self) -> str:
        """Notebooks show the animation itself (:meth:`to_jshtml`)."""
        return self.to_jshtml()

    def _output_dpi(self, dpi: float | None) -> float:
        """The resolution frames are written at: ``dpi``, else as savefig's."""
        import matplotlib as mpl

        if dpi is None:
            dpi = mpl.rcParams["savefig.dpi"]
        return float(self.figure_.dpi if dpi == "figure" else dpi)

    def _gif_writer(self, fps: float):
        from matplotlib.animation import PillowWriter

        return PillowWriter(fps=fps)

    def _writer_for(self, path: Path, fps: float):
        from matplotlib import animation

        suffix = path.suffix.lower()
        if suffix == ".gif":
            return self._gif_writer(fps)
        if suffix == ".mp4":
            if not animation.writers.is_available("ffmpeg"):
                raise RuntimeError(
                    "Saving .mp4 needs ffmpeg, which matplotlib cannot find "
                    "(matplotlib.animation.writers.is_available('ffmpeg') is False). "
                    "Install ffmpeg or point rcParams['animation.ffmpeg_path'] to it, "
                    "or save as .gif or .html instead."
                )
            # yuv420p: the pixel format every browser and player can decode.
            return animation.FFMpegWriter(
                fps=fps, codec="h264", extra_args=["-pix_fmt", "yuv420p"]
            )
        if suffix in (".html", ".htm"):
            return _html_writer(fps)
        raise ValueError(
            f"Cannot tell the format of {str(path)!r}: use a .gif, .mp4 or .html "
            "path, or pass writer= (a matplotlib writer name or instance)."
        )

    def _render(
        self, path: Path, writer, fps: float, dpi, progress, frames=None
    ) -> None:
        """Draw each of ``frames`` (all by default) once into ``writer``."""
        if frames is None:
            frames = range(self.n_frames_)
        anim = self.animation(fps=fps, frames=frames)
        bar = progress_bar(len(frames), progress, "Rendering frames", "frame")
        with self._frozen_layout(), _one_draw_per_frame(self.figure_), bar:
            anim.save(
                os.fspath(path),
                writer=writer,
                # a writer instance already has its frame rate
                fps=fps if isinstance(writer, str) else None,
                dpi=dpi,
                progress_callback=lambda i, n: bar.update(1),
            )


def _html_writer(fps: float):
    """The HTML player's writer, without matplotlib's limit: it drops frames.

    ``to_jshtml`` keeps the HTML within its limit by planning (``_embed``).
    """
    from matplotlib.animation import HTMLWriter

    return HTMLWriter(
        fps=fps, embed_frames=True, default_mode="loop", embed_limit=math.inf
    )


def _noting_new_figure(plot):
    """Wrap a subclass's ``plot`` to note whether it made the figure it drew on.

    A figure pyplot did not hold before ``plot`` ran was made by skviz (no
    axes were passed, here or when the animation was built); the HTML
    outputs close it afterwards. Subclasses need not do anything for it.
    """

    @functools.wraps(plot)
    def noting_plot(self, *args, **kwargs):
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        result = plot(self, *args, **kwargs)
        number = getattr(vars(self).get("_figure"), "number", None)
        self._own_figure = number is not None and number not in before
        return result

    return noting_plot


@contextmanager
def _one_draw_per_frame(fig):
    """Skip the canvas redraw that ``Animation.save`` makes before each grab.

    ``Animation.save`` draws every frame with ``canvas.draw_idle()`` and the
    writer then draws it again in ``savefig`` to grab the pixels, so the
    first draw is never seen. Disabling ``draw_idle`` on this canvas while
    saving halves the drawing work; it is restored afterwards.
    """
    canvas = fig.canvas
    own = "draw_idle" in vars(canvas)
    previous = vars(canvas).get("draw_idle")
    canvas.draw_idle = lambda *args, **kwargs: None
    try:
        yield
    finally:
        if own:
            canvas.draw_idle = previous
        else:
            del canvas.draw_idle
