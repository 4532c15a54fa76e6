"""Loss aggregated per word string or per gold label, behind the Loss section (pure pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainer.analysis.misclassified import wrong_words


def loss_by(words: pd.DataFrame, *, key: str = "word") -> pd.DataFrame:
    """Loss aggregated per value of ``key`` (``"word"``: the token string, ``"gold"``: the gold label).

    Returns
    -------
    DataFrame
        ``key, count, mean_loss, median_loss, total_loss, errors`` (``count``: words; ``errors``:
        words whose predicted label differs from gold), sorted by ``total_loss`` descending. Words
        without a loss (NaN) count in ``count`` and ``errors`` but not in the loss statistics.
    """
    frame = pd.DataFrame({key: words[key], "loss": words["loss"].astype(np.float64), "wrong": wrong_words(words)})
    table = frame.groupby(key, sort=False, observed=True, dropna=False).agg(
        count=("loss", "size"),
        mean_loss=("loss", "mean"),
        median_loss=("loss", "median"),
        total_loss=("loss", "sum"),
        errors=("wrong", "sum"),
    )
    table["errors"] = table["errors"].astype(np.int64)
    return table.sort_values("total_loss", ascending=False, kind="stable").reset_index()
