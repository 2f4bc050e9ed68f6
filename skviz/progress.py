"""Progress bars for long inspection calls and renderings.

The bar fits where it is shown:

* **a terminal** (or any stream): tqdm's text bar on stderr;
* **a Jupyter kernel with ipywidgets**: tqdm's widget bar;
* **a Jupyter kernel without ipywidgets**: one line of HTML that is updated
  in place through an IPython display handle and emptied when the bar
  closes, so no text lines pile up in the cell's output (tqdm's own
  fallback, the text bar, writes a carriage-return line per update into the
  cell's stderr).

The choice is made when a bar is made, not at import: ``tqdm.auto`` decides
at import time and, in a kernel without ipywidgets, prints
``TqdmWarning: IProgress not found`` into the cell that imports skviz.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from html import escape

from tqdm.std import tqdm

__all__ = ["progress_bar"]


def progress_bar(
    total: int, progress: bool | None, desc: str, unit: str = "rows"
) -> tqdm:
    """A tqdm bar over ``total`` items (rows by default, or e.g. frames).

    ``progress=None`` shows a bar only where one is useful: on an interactive
    terminal or in a notebook, and only once the call has lasted 2 s, so
    quick calls show nothing. ``True`` / ``False`` force it on / off. In a
    notebook the bar updates in place (see the module's docstring).
    """
    kwargs = dict(total=total, desc=desc, unit=unit, leave=False)
    if progress is None:
        kwargs["delay"] = 2.0
    bar_class = _notebook_bar_class()
    if bar_class is None:
        # disable=None: tqdm shows it only when stderr is a terminal
        return tqdm(disable=None if progress is None else not progress, **kwargs)
    return bar_class(disable=progress is False, **kwargs)


def _notebook_bar_class() -> type[tqdm] | None:
    """The bar for the Jupyter kernel this runs in; None outside one."""
    if not _in_jupyter_kernel():
        return None
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as widget_bar

        return widget_bar
    return DisplayBar


def _in_jupyter_kernel() -> bool:
    """Whether this runs in a Jupyter kernel whose front end shows HTML.

    As ``tqdm.autonotebook`` decides, without importing anything: the
    terminal IPython, qtconsole and Spyder get the text bar.
    """
    zmqshell = sys.modules.get("ipykernel.zmqshell")
    ipython = sys.modules.get("IPython")
    if zmqshell is None or ipython is None:
        return False
    shell = ipython.get_ipython()
    if not isinstance(shell, zmqshell.ZMQInteractiveShell):
        return False
    name = type(shell).__name__.lower()
    return "qt" not in name and "spyder" not in name


class DisplayBar(tqdm):
    """A tqdm bar drawn as one HTML line that a display handle updates in place.

    For Jupyter kernels without ipywidgets. Nothing is written to the
    kernel's streams; when the bar closes with ``leave=False`` its output is
    emptied (a display output cannot be removed, only replaced).
    """

    def __init__(self, *args, **kwargs):
        # The parent writes a few control characters to its stream when it
        # closes; they go nowhere instead of into the cell's output.
        kwargs["file"] = io.StringIO()
        self._handle = None
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm's signal to clear the bar
            bundle = {"text/plain": ""}
        else:
            bundle = self._bundle()
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
        return True

    def _bundle(self) -> dict[str, str]:
        """The bar as text and as HTML (a ``<progress>`` element between the texts)."""
        meter = {**self.format_dict, "bar_format": "{l_bar}<bar/>{r_bar}"}
        left, right = self.format_meter(**meter).split("<bar/>")
        bar = f'<progress value="{self.n}" max="{self.total}"></progress>'
        html = (
            '<div style="font-family: monospace; white-space: pre">'
            f"{escape(left.rstrip('|'))} {bar} {escape(right.lstrip('|'))}</div>"
        )
        return {"text/plain": self.__str__(), "text/html": html}
