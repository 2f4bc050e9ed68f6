"""Progress bars for long inspection calls."""

from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(
    total: int, progress: bool | None, desc: str, unit: str = "rows"
) -> tqdm:
    """A tqdm bar over ``total`` items (rows by default, or e.g. frames).

    ``progress=None`` shows a bar only where one is useful: on an interactive
    terminal or notebook (tqdm's ``disable=None``), and only once the call
    has lasted 2 s, so quick calls print nothing. ``True`` / ``False`` force
    it on / off.
    """
    if progress is None:
        return tqdm(
            total=total, desc=desc, unit=unit, disable=None, delay=2.0, leave=False
        )
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, leave=False)
