"""Per-epoch numbers of a skorch ``History``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_NOT_METRICS = {"epoch", "dur", "batches"}


def _rows(history: Any) -> list:
    rows = history.to_list() if hasattr(history, "to_list") else list(history)
    if not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(
            "history must be a skorch History or a list of dicts (one per epoch)."
        )
    return rows


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
    rows = _rows(history)
    if not rows:
        raise ValueError("The history is empty: the net has not been trained yet.")
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


def _is_train_loss(key: str) -> bool:
    return key.startswith("train") and key.endswith("loss")


def batch_history_frame(history: Any) -> pd.DataFrame:
    """Per-batch training losses of a skorch ``History``.

    skorch records the loss of every training batch in
    ``history[epoch]["batches"]`` (``net.history[:, "batches", :,
    "train_loss"]``); the epoch's ``train_loss`` is their mean weighted by
    batch size. Validation batches are left out: they all see the net as
    it is at the end of the epoch, so they tell nothing about its course.

    Parameters
    ----------
    history : skorch.history.History or list of dict

    Returns
    -------
    pandas.DataFrame
        One row per training batch: ``epoch`` (as in
        :func:`history_frame`), ``batch`` (0-based within its epoch),
        ``position`` (``epoch - 0.5 + (batch + 0.5) / n``, with ``n`` the
        epoch's training batches: the batches of epoch ``e`` spread evenly
        over ``[e - 0.5, e + 0.5]``, centred on ``e``, where the epoch's
        value, their mean, is drawn) and one float column per loss
        recorded on training batches (``train_loss``, ...). No rows when
        the history records no batches.
    """
    records = []
    for i, row in enumerate(_rows(history)):
        epoch = row.get("epoch", i + 1)
        batches = [
            b
            for b in row.get("batches") or []
            if isinstance(b, Mapping) and any(_is_train_loss(k) for k in b)
        ]
        for j, b in enumerate(batches):
            values = {k: float(v) for k, v in b.items() if _is_train_loss(k)}
            position = epoch - 0.5 + (j + 0.5) / len(batches)
            records.append({"epoch": epoch, "batch": j, "position": position, **values})
    columns = ["epoch", "batch", "position"]
    frame = pd.DataFrame.from_records(records)
    return frame if records else pd.DataFrame(columns=columns)
