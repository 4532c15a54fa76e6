"""The Misclassified section's tables: wrong words with their context, span errors with their texts,
and their filters (pure pandas and pyarrow; the build precomputes the two tables, see pipeline/views.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

from explainer.analysis.labels import entity_type, label_mask
from explainer.cache.schema import CORRECT

WORD_ERROR_COLUMNS = ["example_id", "word_index", "word", "gold", "pred", "prob_pred", "prob_gold", "loss"]
SPAN_ERROR_COLUMNS = [
    "example_id",
    "word_index",
    "category",
    "type",
    "gold_text",
    "pred_text",
    "gold_type",
    "pred_type",
    "gold_start",
    "gold_end",
    "pred_start",
    "pred_end",
    "row_id",
]


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(series, type=pa.large_string(), from_pandas=True)])


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def _joined(parts: list[Any], separator: str) -> pa.ChunkedArray:
    """Element-wise join of string arrays, nulls skipped (pyarrow wants every input the same type)."""
    return pc.binary_join_element_wise(*parts, _large(separator), null_handling="skip")


def _take_or_null(tokens: pa.ChunkedArray, rows: np.ndarray, valid: np.ndarray) -> pa.ChunkedArray:
    """``tokens[rows]`` with null where ``valid`` is False (pyarrow's take keeps nulls)."""
    indices = pa.array(np.where(valid, rows, 0), mask=~valid)
    return pc.take(tokens, indices)


def _to_series(strings: pa.ChunkedArray) -> pd.Series:
    return pd.Series(strings.to_pandas(), dtype="str")


def _token_taker(words: pd.Series) -> Callable[[np.ndarray, np.ndarray], pa.ChunkedArray]:
    """``take(rows, valid)``: the words at ``rows`` as Arrow strings, null where not ``valid``. A categorical
    column (the word points Embeddings keeps) is taken through its codes, with no string array of every word."""
    if not isinstance(words.dtype, pd.CategoricalDtype):
        tokens = _arrow_strings(words)
        return lambda rows, valid: _take_or_null(tokens, rows, valid)
    categories = pa.array(words.cat.categories.astype(str).tolist(), type=pa.large_string())
    codes = words.cat.codes.to_numpy()

    def take(rows: np.ndarray, valid: np.ndarray) -> pa.ChunkedArray:
        chosen = codes[np.where(valid, rows, 0)]
        return pa.chunked_array([_take_or_null(categories, chosen, valid & (chosen >= 0))])

    return take


def word_context(words: pd.DataFrame, rows: np.ndarray, *, size: int = 3) -> pd.Series:
    """Each word at ``rows`` with up to ``size`` words either side, the word itself in brackets.

    Parameters
    ----------
    words : DataFrame
        The words table (rows grouped by example, in word order).
    rows : ndarray of int
        Row positions in ``words``.
    size : int
        Words of context on each side; context never crosses into another example.

    Returns
    -------
    Series of str
        ``"visited the [Paris] office ."``, one per row, in the order of ``rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    token_at = _token_taker(words["word"])
    example_ids = words["example_id"].to_numpy()
    parts = []
    for offset in range(-size, size + 1):
        neighbour = rows + offset
        inside = (neighbour >= 0) & (neighbour < len(words))
        inside[inside] &= example_ids[neighbour[inside]] == example_ids[rows[inside]]
        part = token_at(neighbour, inside)
        if offset == 0:
            part = _joined([_large("["), part, _large("]")], "")
        parts.append(part)
    # The word itself is never null, so no row is all nulls (pyarrow 26's join would drop it).
    return _to_series(_joined(parts, " "))


def span_text(words: pd.DataFrame, example_ids: ArrayLike, starts: ArrayLike, ends: ArrayLike) -> pd.Series:
    """The words of spans ``[start, end)`` of examples ``example_ids``, joined by spaces.

    ``starts``/``ends`` may hold nulls (a missed span has no predicted side): those rows get ``""``.
    Words are found by binary search on the words table's ``example_id`` (it is sorted).
    """
    first_row = words["example_id"].to_numpy().searchsorted(np.asarray(example_ids, dtype=np.int64))
    start = pd.array(starts, dtype="Int64").to_numpy(dtype=np.int64, na_value=0)
    length = np.maximum(pd.array(ends, dtype="Int64").to_numpy(dtype=np.int64, na_value=0) - start, 0)
    text = pd.Series([""] * len(start), dtype="str")
    spans = np.flatnonzero(length > 0)
    if len(spans) == 0:
        return text
    # Only non-empty spans are joined: pyarrow 26's join drops rows whose inputs are all null.
    tokens = _arrow_strings(words["word"])
    first, length = first_row[spans] + start[spans], length[spans]
    parts = [_take_or_null(tokens, first + offset, length > offset) for offset in range(int(length.max()))]
    joined = _joined(parts, " ") if len(parts) > 1 else parts[0]
    text.iloc[spans] = _to_series(joined).to_numpy()
    return text


def wrong_words(words: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the words whose predicted label differs from gold (label ids when present)."""
    wrong: npt.NDArray[np.bool_]
    if "gold_id" in words and "pred_id" in words:
        wrong = words["gold_id"].to_numpy() != words["pred_id"].to_numpy()
    else:
        wrong = (words["gold"] != words["pred"]).to_numpy(dtype=bool, na_value=True)
    return wrong


def misclassified_words(words: pd.DataFrame, *, context_size: int = 3) -> pd.DataFrame:
    """Every word whose predicted label differs from its gold label, with its context.

    Returns
    -------
    DataFrame
        ``example_id, word_index, word, gold, pred, prob_pred, prob_gold, loss, context`` in
        dataset order (see :func:`word_context` for ``context``).
    """
    wrong = np.flatnonzero(wrong_words(words))
    frame = words.iloc[wrong][WORD_ERROR_COLUMNS].reset_index(drop=True)
    frame["context"] = word_context(words, wrong, size=context_size)
    return frame


def misclassified_spans(span_errors: pd.DataFrame, words: pd.DataFrame) -> pd.DataFrame:
    """Every span error (all categories but *correct*) with the gold and predicted span texts.

    Returns
    -------
    DataFrame
        ``example_id, word_index`` (first word of the gold span, or of the predicted one for
        *spurious*), ``category, type, gold_text, pred_text, gold_type, pred_type, gold_start,
        gold_end, pred_start, pred_end``, and ``row_id`` (``example:word``, the grid's row key, with
        ``:n`` after it for the n-th other error starting at that word: a missed gold span and a spurious
        prediction can start together).
    """
    errors = span_errors[span_errors["category"] != CORRECT].reset_index(drop=True)
    frame = errors.copy()
    frame["gold_text"] = span_text(words, errors["example_id"], errors["gold_start"], errors["gold_end"])
    frame["pred_text"] = span_text(words, errors["example_id"], errors["pred_start"], errors["pred_end"])
    first_word = pd.array(errors["gold_start"], dtype="Int64").fillna(pd.array(errors["pred_start"], dtype="Int64"))
    frame["word_index"] = first_word.to_numpy(dtype=np.int64, na_value=-1)
    repeat = frame.groupby(["example_id", "word_index"], sort=False).cumcount().to_numpy()
    base = frame["example_id"].astype(str).str.cat(frame["word_index"].astype(str), sep=":")
    frame["row_id"] = np.where(repeat > 0, base + ":" + repeat.astype(str), base)
    return frame[SPAN_ERROR_COLUMNS]


def _text_mask(frame: pd.DataFrame, columns: list[str], text: str | None) -> np.ndarray:
    mask = np.zeros(len(frame), dtype=bool)
    for column in columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):  # tested once per category, not once per row
            categories = pd.Series(values.cat.categories).astype("str").str.contains(text, case=False, regex=False)
            found_in = np.append(categories.to_numpy(dtype=bool, na_value=False), False)  # code -1: missing
            mask |= found_in[values.cat.codes.to_numpy()]
            continue
        if not isinstance(values.dtype, pd.ArrowDtype):  # Arrow strings are searched in place, not copied
            values = values.astype("str")
        found = values.str.contains(text, case=False, regex=False)
        mask |= found.to_numpy(dtype=bool, na_value=False)
    return mask


def filter_word_errors(
    frame: pd.DataFrame, *, gold: str | None = None, pred: str | None = None, text: str | None = None
) -> pd.DataFrame:
    """Rows of :func:`misclassified_words` whose gold/predicted label match (see :func:`label_mask`)
    and whose word or context contains ``text`` (case-insensitive). ``None`` filters nothing."""
    mask = word_error_mask(frame, gold=gold, pred=pred, text=text)
    return frame if mask.all() else frame[mask]


def word_error_mask(
    frame: pd.DataFrame, *, gold: str | None = None, pred: str | None = None, text: str | None = None
) -> npt.NDArray[np.bool_]:
    """Which rows :func:`filter_word_errors` keeps (counting them needs no copy of the rows)."""
    mask: npt.NDArray[np.bool_] = label_mask(frame["gold"], gold) & label_mask(frame["pred"], pred)
    if text:
        mask &= _text_mask(frame, ["word", "context"], text)
    return mask


def filter_span_errors(
    frame: pd.DataFrame,
    *,
    category: str | None = None,
    entity: str | None = None,
    gold: str | None = None,
    pred: str | None = None,
    text: str | None = None,
) -> pd.DataFrame:
    """Rows of :func:`misclassified_spans` matching every given filter.

    Parameters
    ----------
    category : str, optional
        An error category (``"missed"``, ``"wrong type"``...).
    entity : str, optional
        The span's type (the gold type, or the predicted type of a spurious span).
    gold, pred : str, optional
        The gold / predicted type; a label such as ``"B-PER"`` means its type ``"PER"``, so a
        word-level filter carries over to spans.
    text : str, optional
        Contained in the gold or the predicted span text (case-insensitive).
    """
    mask = span_error_mask(frame, category=category, entity=entity, gold=gold, pred=pred, text=text)
    return frame if mask.all() else frame[mask]


def span_error_mask(
    frame: pd.DataFrame,
    *,
    category: str | None = None,
    entity: str | None = None,
    gold: str | None = None,
    pred: str | None = None,
    text: str | None = None,
) -> npt.NDArray[np.bool_]:
    """Which rows :func:`filter_span_errors` keeps (counting them needs no copy of the rows)."""
    mask = np.ones(len(frame), dtype=bool)
    if category:
        mask &= (frame["category"] == category).to_numpy(dtype=bool, na_value=False)
    for column, value in (("type", entity), ("gold_type", gold), ("pred_type", pred)):
        if value:
            mask &= (frame[column] == entity_type(value)).to_numpy(dtype=bool, na_value=False)
    if text:
        mask &= _text_mask(frame, ["gold_text", "pred_text"], text)
    return mask


def span_scores(spans: pd.DataFrame, words: pd.DataFrame) -> pd.DataFrame:
    """Mean loss and mean confidence (probability of the predicted label) over each span error's words.

    The words are the gold span's (the predicted span's for a *spurious* one), read from ``words``
    (``example_id, word_index, loss, prob_pred``, sorted by example and word as the cache stores them).

    Returns
    -------
    DataFrame
        ``loss, confidence``, one row per row of ``spans`` (NaN where a span covers no scored word).
    """
    example_ids = words["example_id"].to_numpy()
    first_row = pd.Series(*reversed(np.unique(example_ids, return_index=True)))
    offsets = first_row.reindex(spans["example_id"].to_numpy()).to_numpy(dtype=np.float64)
    gold_start = pd.array(spans["gold_start"], dtype="Int64")
    starts = gold_start.fillna(pd.array(spans["pred_start"], dtype="Int64")).to_numpy(dtype=np.int64, na_value=0)
    ends = (
        pd.array(spans["gold_end"], dtype="Int64")
        .fillna(pd.array(spans["pred_end"], dtype="Int64"))
        .to_numpy(dtype=np.int64, na_value=0)
    )
    result = {}
    for name, source in (("loss", "loss"), ("confidence", "prob_pred")):
        values = words[source].to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(values)
        sums = np.concatenate([[0.0], np.cumsum(np.where(known, values, 0.0))])
        counts = np.concatenate([[0], np.cumsum(known)])
        valid = ~np.isnan(offsets)
        low = np.where(valid, np.nan_to_num(offsets) + starts, 0).astype(np.int64)
        high = np.where(valid, np.nan_to_num(offsets) + ends, 0).astype(np.int64)
        low, high = np.clip(low, 0, len(values)), np.clip(high, 0, len(values))
        n = counts[high] - counts[low]
        with np.errstate(invalid="ignore", divide="ignore"):
            result[name] = np.where(valid & (n > 0), (sums[high] - sums[low]) / np.maximum(n, 1), np.nan)
    return pd.DataFrame(result, index=spans.index)


def surface_forms(spans: pd.DataFrame) -> pd.Series:
    """Each span error's surface form: its gold span's text, its predicted span's for *spurious*."""
    gold_text = spans["gold_text"].astype("str").fillna("")  # in this order: a categorical has no "" to fill
    return gold_text.where(gold_text != "", spans["pred_text"].astype("str").fillna(""))


def group_by_surface(spans: pd.DataFrame) -> pd.DataFrame:
    """Span errors grouped by surface form (the gold span's text, the predicted one's for *spurious*),
    category and type, most frequent first.

    ``spans`` has the columns of :func:`misclassified_spans` plus ``loss, confidence, sentence``.

    Returns
    -------
    DataFrame
        ``surface, category, type, count, loss, confidence`` (means over the group), and the
        ``example_id, word_index, sentence`` of the group's first error (a row opens it).
    """
    frame = spans.assign(surface=surface_forms(spans))
    grouped = frame.groupby(["surface", "category", "type"], sort=False, dropna=False)
    out = grouped.agg(
        count=("example_id", "size"),
        loss=("loss", "mean"),
        confidence=("confidence", "mean"),
        example_id=("example_id", "first"),
        word_index=("word_index", "first"),
        sentence=("sentence", "first"),
    ).reset_index()
    return out.sort_values(["count", "loss"], ascending=[False, False], kind="stable").reset_index(drop=True)
