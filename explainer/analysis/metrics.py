"""Dataset-level results: the seqeval entity report, word-level confusion and accuracy, error counts.

Pure functions over tag sequences and span-classification records; their outputs are plain Python
ints, floats, lists and dicts, ready for ``metrics.json``.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from explainer.cache.schema import ERROR_CATEGORIES


def _plain_number(value: Any, *, kind: type[int] | type[float]) -> int | float:
    """A numpy scalar as a plain int/float; NaN becomes 0.0 (the ``zero_division=0`` convention)."""
    if kind is int:
        return int(value)
    value = float(value)
    return 0.0 if math.isnan(value) else value


def entity_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, dict[str, int | float]]:
    """Entity-level precision, recall, F1 and support per type and averaged, as seqeval reports them.

    Parameters
    ----------
    gold, pred : sequence of sequences of str
        Gold and predicted tags, one sequence per example, in the same order and of the same lengths.

    Returns
    -------
    dict
        ``{"<TYPE>": {"precision", "recall", "f1", "support"}, "micro avg": {...}, "macro avg": {...},
        "weighted avg": {...}}``: seqeval's ``classification_report(output_dict=True,
        zero_division=0)`` in its default (conlleval-compatible) mode, with ``"f1-score"`` renamed to
        ``"f1"`` and plain Python numbers. Types are sorted. When there is no entity at all seqeval's
        macro average is NaN; it is reported as 0.0, following ``zero_division=0``, so that
        ``metrics.json`` stays valid JSON.

    Raises
    ------
    ValueError
        If the two sides have different numbers of examples or an example's sequences differ in length.
    """
    # seqeval only recognises nested *lists* (it flattens them itself).
    gold_lists = [[str(tag) for tag in tags] for tags in gold]
    pred_lists = [[str(tag) for tag in tags] for tags in pred]
    _check_same_lengths(gold_lists, pred_lists)
    with warnings.catch_warnings():
        # The macro average over zero types is a mean of an empty slice; handled below.
        warnings.simplefilter("ignore", RuntimeWarning)
        from seqeval.metrics import classification_report  # lazy: seqeval pulls in scikit-learn (~3 s)

        report = classification_report(gold_lists, pred_lists, output_dict=True, zero_division=0)
    return {
        row: {
            "precision": _plain_number(scores["precision"], kind=float),
            "recall": _plain_number(scores["recall"], kind=float),
            "f1": _plain_number(scores["f1-score"], kind=float),
            "support": _plain_number(scores["support"], kind=int),
        }
        for row, scores in report.items()
    }


def _check_same_lengths(gold: list[list[str]], pred: list[list[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold examples but {len(pred)} predicted")
    for index, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"example {index}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted")


def _flat_tags(tags: Sequence[str], side: str) -> np.ndarray:
    tags = list(tags)
    if not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"{side} tags must be one flat sequence of str, one per word (flatten the examples)")
    return np.asarray(tags, dtype=object)


def word_confusion(gold: Sequence[str], pred: Sequence[str], *, labels: Sequence[str]) -> dict[str, Any]:
    """Word-level confusion counts between gold and predicted tags.

    Parameters
    ----------
    gold, pred : sequence of str
        One tag per word over the whole dataset (flatten the examples first), same length.
    labels : sequence of str
        Row and column order, usually the model's label list. Every tag must be one of them.

    Returns
    -------
    dict
        ``{"labels": [...], "counts": [[int]]}``: ``counts[i][j]`` is the number of words whose gold
        tag is ``labels[i]`` and whose predicted tag is ``labels[j]``.

    Raises
    ------
    ValueError
        If the lengths differ or a tag is not in ``labels`` (it would silently drop out of the counts).
    """
    labels = [str(label) for label in labels]
    gold_array, pred_array = _flat_tags(gold, "gold"), _flat_tags(pred, "predicted")
    if len(gold_array) != len(pred_array):
        raise ValueError(f"{len(gold_array)} gold tags but {len(pred_array)} predicted")
    unknown = (set(gold_array) | set(pred_array)) - set(labels)
    if unknown:
        raise ValueError(f"tags not in labels: {', '.join(sorted(unknown))}")
    if len(gold_array) == 0:
        # sklearn refuses empty input; no word means no count.
        counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    else:
        from sklearn.metrics import confusion_matrix  # lazy, as above

        counts = confusion_matrix(gold_array, pred_array, labels=labels)
    return {"labels": labels, "counts": counts.astype(int).tolist()}


def word_accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of words whose predicted tag equals the gold tag.

    Parameters
    ----------
    gold, pred : sequence of str
        One tag per word over the whole dataset (flatten the examples first), same length.

    Returns
    -------
    float
        Accuracy in [0, 1]; 0.0 when there is no word (the ``zero_division=0`` convention).
    """
    gold_array, pred_array = _flat_tags(gold, "gold"), _flat_tags(pred, "predicted")
    if len(gold_array) != len(pred_array):
        raise ValueError(f"{len(gold_array)} gold tags but {len(pred_array)} predicted")
    if len(gold_array) == 0:
        return 0.0
    return float(np.mean(gold_array == pred_array))


def error_counts(records: Iterable[dict[str, Any]] | pd.DataFrame) -> dict[str, dict[str, int]]:
    """Number of span-classification records per category and type.

    Parameters
    ----------
    records : iterable of dict or pandas.DataFrame
        Records from :func:`explainer.analysis.spans.classify_spans` (or rows of
        ``span_errors.parquet``); only ``category`` and ``type`` are read.

    Returns
    -------
    dict
        ``{category: {type: count}}`` with every category of ``ERROR_CATEGORIES`` present, in that
        order (an empty dict when it never occurs); types sorted.

    Raises
    ------
    ValueError
        If a record has a category outside ``ERROR_CATEGORIES``.
    """
    pairs: Iterator[tuple[Any, Any]]
    if isinstance(records, pd.DataFrame):
        pairs = zip(records["category"].tolist(), records["type"].tolist())
    else:
        pairs = ((record["category"], record["type"]) for record in records)
    counter = Counter((str(category), str(entity_type)) for category, entity_type in pairs)
    unknown = {category for category, _ in counter} - set(ERROR_CATEGORIES)
    if unknown:
        raise ValueError(f"unknown span error categories: {', '.join(sorted(unknown))}")
    counts: dict[str, dict[str, int]] = {category: {} for category in ERROR_CATEGORIES}
    for (category, entity_type), count in sorted(counter.items()):
        counts[category][entity_type] = count
    return counts


NONE = "none"  # the entity confusion's row of spurious predictions and column of missed gold spans


def entity_confusion(span_errors: pd.DataFrame, *, types: Sequence[str] | None = None) -> dict[str, Any]:
    """Gold entity type x predicted entity type over the matched spans, with a ``none`` row and column.

    Parameters
    ----------
    span_errors : DataFrame
        Rows of ``span_errors.parquet`` (one to one: every gold and predicted span in one row); only
        ``gold_type`` and ``pred_type`` are read.
    types : sequence of str, optional
        The types in order (default: those present, sorted).

    Returns
    -------
    dict
        ``{"labels": [*types, "none"], "counts": [[int]]}``, rows gold, columns predicted: the diagonal
        holds matched spans of the right type (boundary errors included), the ``none`` column the missed
        gold spans, the ``none`` row the spurious predictions. Rows sum to the gold spans of each type
        and columns to the predicted ones.
    """
    gold = span_errors["gold_type"].astype(object).where(span_errors["gold_type"].notna(), NONE)
    pred = span_errors["pred_type"].astype(object).where(span_errors["pred_type"].notna(), NONE)
    present = sorted({str(kind) for kind in [*gold, *pred]} - {NONE})
    labels = [*(list(types) if types is not None else present), NONE]
    index = {label: position for position, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for gold_type, pred_type in zip(gold.astype(str), pred.astype(str)):
        if gold_type in index and pred_type in index:
            counts[index[gold_type], index[pred_type]] += 1
    return {"labels": labels, "counts": counts.tolist()}


def normalise_confusion(counts: np.ndarray, *, normalise: bool = True, zero_diagonal: bool = False) -> np.ndarray:
    """A confusion matrix ready to plot: row-normalised and/or with the diagonal removed.

    Parameters
    ----------
    counts : array-like of shape (n_labels, n_labels)
        Counts, rows gold, columns predicted (as in :func:`word_confusion`).
    normalise : bool, default True
        Divide each row by its gold total, so a cell is the share of that gold label's words
        predicted as the column's label. Rows with no word stay 0.
    zero_diagonal : bool, default False
        Set the diagonal (correct words) to 0, leaving only errors. Combined with ``normalise``, the
        errors are still divided by the row total of the *original* matrix, correct words included:
        a cell reads "share of this gold label's words that went to that wrong label", and a row sums
        to the label's error rate (dividing by the errors alone would inflate rare, mostly right labels).

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape.
    """
    matrix = np.asarray(counts, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {matrix.shape}")
    row_totals = matrix.sum(axis=1, keepdims=True)
    result = matrix.copy()
    if zero_diagonal:
        np.fill_diagonal(result, 0.0)
    if normalise:
        result = np.divide(result, row_totals, out=np.zeros_like(result), where=row_totals > 0)
    return result
