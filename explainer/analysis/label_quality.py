"""Label-quality scores of a cache: read them and rank examples and words by them (pure pandas).

The build writes the scores (``explainer.pipeline.label_quality``, option ``--label-quality``): per word
cleanlab's label-quality score of the gold label (low = likely mislabelled) and whether
``find_label_issues`` flagged it; per example cleanlab's sentence score (its lowest word). A cache
built with ``--label-quality none`` or before the option existed has none: :func:`read_label_quality`
returns None and the app says which build option adds them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainer.cache.artefacts import LabelQualityScores, Missing
from explainer.cache.reader import Cache


def read_label_quality(cache: Cache) -> LabelQualityScores | None:
    """The label-quality scores of an opened cache, or None without them (the app then shows
    :data:`~explainer.cache.reader.LABEL_QUALITY_NOT_BUILT`).

    Raises
    ------
    ExplainerError
        When the files do not match the cache's counts (left over from another build).
    """
    scores = cache.label_quality()
    return None if isinstance(scores, Missing) else scores


def rank_examples(scores: LabelQualityScores, examples: pd.DataFrame, *, limit: int | None = None) -> pd.DataFrame:
    """Examples by label-quality score, most suspicious first (unscored ones last).

    Parameters
    ----------
    scores : LabelQualityScores
    examples : pandas.DataFrame
        examples.parquet (``example_id`` and ``text`` are used, when present).
    limit : int, optional
        Keep only the first ``limit`` rows.

    Returns
    -------
    pandas.DataFrame
        ``rank`` (1 = lowest score), ``example_id``, ``label_quality``, ``n_label_issues`` and ``text``.
    """
    frame = scores.examples[["example_id", "label_quality", "n_label_issues"]]
    order = _ascending(frame["label_quality"].to_numpy(), frame["example_id"].to_numpy())
    if limit is not None:
        order = order[:limit]
    ranked = frame.iloc[order].reset_index(drop=True)
    if "text" in examples:
        ranked["text"] = examples["text"].to_numpy()[order]
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def rank_words(
    scores: LabelQualityScores, words: pd.DataFrame, *, flagged_only: bool = False, limit: int | None = None
) -> pd.DataFrame:
    """Words by label-quality score, most suspicious first (unscored ones last).

    Parameters
    ----------
    scores : LabelQualityScores
    words : pandas.DataFrame
        words.parquet (row-aligned with ``scores.words``); its columns are carried along.
    flagged_only : bool, default False
        Only the words ``find_label_issues`` flagged.
    limit : int, optional

    Returns
    -------
    pandas.DataFrame
        ``rank``, the columns of ``words``, ``label_quality`` and ``label_issue``.
    """
    quality = scores.words["label_quality"].to_numpy()
    issue = scores.words["label_issue"].to_numpy(dtype=bool)
    candidates = np.flatnonzero(issue) if flagged_only else np.arange(len(quality))
    order = candidates[_ascending(quality[candidates], candidates)]
    if limit is not None:
        order = order[:limit]
    ranked = words.iloc[order].reset_index(drop=True)
    ranked["label_quality"], ranked["label_issue"] = quality[order], issue[order]
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def _ascending(values: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """Positions sorted by value ascending, NaN last, ties by ``tie_break`` (a stable, reproducible order)."""
    values = np.asarray(values, dtype=np.float64)
    return np.lexsort((tie_break, np.where(np.isnan(values), np.inf, values), np.isnan(values)))


def with_scores(points: pd.DataFrame, scores: LabelQualityScores | None, *, level: str) -> pd.DataFrame:
    """``points`` with ``label_quality`` and ``label_issue`` columns (NaN and False without scores).

    Parameters
    ----------
    points : pandas.DataFrame
        Word or example points whose ``row`` column is the row in words.parquet or examples.parquet.
    scores : LabelQualityScores or None
    level : {"word", "example"}
        Word points take the word's score and flag; example points the example's score, flagged when
        any of its words is.
    """
    rows = points["row"].to_numpy()
    if scores is None:
        quality, issue = np.full(len(points), np.nan, dtype=np.float32), np.zeros(len(points), dtype=bool)
    elif level == "word":
        quality = scores.words["label_quality"].to_numpy()[rows]
        issue = scores.words["label_issue"].to_numpy(dtype=bool)[rows]
    else:
        quality = scores.examples["label_quality"].to_numpy()[rows]
        issue = scores.examples["n_label_issues"].to_numpy()[rows] > 0
    return points.assign(label_quality=quality, label_issue=issue)
