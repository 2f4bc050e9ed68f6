"""Parameter selection: which parameter names a user's ``params=`` picks.

A selection is a parameter name (``"l2.weight"``), a glob pattern
(``"l[2-5].weight"``, ``"*.bias"``) or a module name (``"l2"`` picks
``l2.weight`` and ``l2.bias``), or a list of them. The recorder chooses
what to record with it when training starts; the displays choose what to
draw among what was recorded.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence

__all__ = ["as_param_patterns", "param_matches", "select_params"]


def param_matches(name: str, pattern: str) -> bool:
    """Whether the parameter ``name`` is selected by ``pattern``.

    Parameters
    ----------
    name : str
        A dotted parameter name such as ``"l2.weight"``.
    pattern : str
        An exact name, a glob pattern, or a module name (which selects all
        of that module's parameters).

    Returns
    -------
    bool
    """
    return fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern + ".")


def as_param_patterns(params: str | Sequence[str] | None) -> list[str] | None:
    """``params`` as a list of patterns, or None for "no selection given".

    Parameters
    ----------
    params : str, sequence of str or None

    Returns
    -------
    list of str or None

    Raises
    ------
    TypeError
        For anything but None, a str, or a non-empty iterable of str.
    """
    if params is None:
        return None
    if isinstance(params, str):
        return [params]
    if isinstance(params, Iterable) and not isinstance(params, (bytes, dict)):
        patterns = list(params)
        if patterns and all(isinstance(p, str) for p in patterns):
            return patterns
    raise TypeError(
        "params must be None, a parameter name or glob pattern, or a non-empty "
        f"list of them; got {params!r}."
    )


def select_params(
    names: Sequence[str],
    params: str | Sequence[str] | None,
    *,
    default: Callable[[list[str]], list[str]] | None = None,
) -> list[str]:
    """The names among ``names`` that ``params`` selects, in their order.

    Parameters
    ----------
    names : sequence of str
        The names to choose from (e.g. the recorded parameters).
    params : str, sequence of str or None
        Names, glob patterns or module names. Every pattern must select at
        least one name.
    default : callable, optional
        Called with ``list(names)`` when ``params`` is None; by default all
        names are selected.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        Naming the patterns that select nothing, and the names available.
    """
    patterns = as_param_patterns(params)
    names = list(names)
    if patterns is None:
        return names if default is None else default(names)
    unmatched = [p for p in patterns if not any(param_matches(n, p) for n in names)]
    if unmatched:
        raise ValueError(
            f"No recorded parameter matches {unmatched}; recorded: {names}."
        )
    return [n for n in names if any(param_matches(n, p) for p in patterns)]
