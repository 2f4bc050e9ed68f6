"""Per-epoch numbers of a skorch ``History``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_NOT_METRICS = {"epoch", "dur", "batches"}


def history_frame(history: Any) -> pd.DataFrame:
    """Per-epoch numbers of a skorch ``History`` as a DataFrame.

    Parameters
    ----------
    history : skorch.history.History or list of dict
        ``net.history``; nothing is re-recorded.

    Returns
    -------
    pandas.DataFrame
        Index ``epoch`` (skorch's 1-based epoch numbers, or 1..n when a row
        has none); one float column per numeric scalar key (losses,
        scores, ...) and one bool column per ``*_best`` flag. Durations,
        batch lists and ``*_count`` bookkeeping are left out. A key missing
        in some epochs is NaN there.
    """
    rows = history.to_list() if hasattr(history, "to_list") else list(history)
    if not rows:
        raise ValueError("The history is empty: the net has not been trained yet.")
    if not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(
            "history must be a skorch History or a list of dicts (one per epoch)."
        )
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    data = {}
    for key in keys:
        if key in _NOT_METRICS or key.endswith("_count"):
            continue
        values = [r.get(key) for r in rows]
        present = [v for v in values if v is not None]
        if key.endswith("_best"):
            if all(isinstance(v, bool | np.bool_) for v in present):
                data[key] = [bool(v) if v is not None else False for v in values]
            continue
        if present and all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool)
            for v in present
        ):
            data[key] = [np.nan if v is None else float(v) for v in values]
    return pd.DataFrame(data, index=pd.Index(epochs, name="epoch"))
