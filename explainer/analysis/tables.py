"""Tables behind the Misclassified, Loss, Samples, Random samples and Raw data sections (pure pandas).

Every function takes the cache's frames (``words``, ``subwords``, ``examples``, ``span_errors``; see
``explainer.cache.schema``) and returns a frame or an array; none imports Dash. The costly ones
(a groupby or a pass over every word) are meant to run once per opened cache: wrap them in
:func:`per_cache`.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from explainer.cache.schema import CORRECT

IGN_LABEL = "IGN"
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
]
ORDERS = ("loss", "f1")
_SCHEME_PREFIX = re.compile(r"^[BIESLU]-")

# --- memoising per opened cache ----------------------------------------------------------------

_MEMO: weakref.WeakKeyDictionary[object, dict] = weakref.WeakKeyDictionary()
_MEMO_LOCK = threading.Lock()


def per_cache(cache, name: str, compute: Callable[[], object]):
    """``compute()`` once per (opened cache, name); later calls return the stored value.

    The store is keyed weakly by the cache object, so a cache the app re-opens (e.g. after a
    rebuild) gets fresh values and a dropped cache frees its tables. Values are shared between
    threads and must be treated as read-only.
    """
    with _MEMO_LOCK:
        store = _MEMO.setdefault(cache, {})
        if name in store:
            return store[name]
    value = compute()  # outside the lock: a slow table must not block other caches
    with _MEMO_LOCK:
        return store.setdefault(name, value)


class LruMemo:
    """A small thread-safe LRU of computed values (least recently used evicted beyond ``maxsize``).

    ``get(key, compute)`` returns the stored value or stores ``compute()``; two threads asking for a
    missing key at once may both compute it, and the first result is kept.
    """

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, compute: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()  # outside the lock: a slow value must not block the other keys
        with self._lock:
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
            return value

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def per_cache_lru(cache, name: str, key, compute: Callable[[], object], *, maxsize: int):
    """``compute()`` for ``key``, kept per opened cache among the last ``maxsize`` keys asked under ``name``
    (rendered pages and figures, factorisations: too many variants to keep them all)."""
    return per_cache(cache, name, lambda: LruMemo(maxsize)).get(key, compute)


def precomputed(cache, file_name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The view the build wrote to ``file_name`` (build step ``views``), else ``compute()`` (older caches).

    The file holds exactly what ``compute()`` returns, so the pages behave the same either way; it
    spares each worker the whole words table the computation needs.
    """
    frame = cache.mapped_table(file_name)
    return compute() if frame is None else frame


# --- labels ------------------------------------------------------------------------------------


def entity_type(label: str | None) -> str | None:
    """The entity type of a label: ``"B-PER"`` -> ``"PER"``; ``"O"`` and plain types are unchanged."""
    return None if label is None else _SCHEME_PREFIX.sub("", str(label))


def label_mask(labels: pd.Series, value: str | None) -> np.ndarray:
    """Which ``labels`` match a filter ``value``: the label itself, or any label of that entity type.

    ``"B-PER"`` matches only ``B-PER``; ``"PER"`` matches ``B-PER`` and ``I-PER`` (so one value
    filters both the word level and the span level). ``None`` matches everything.
    """
    if not value:
        return np.ones(len(labels), dtype=bool)
    matching = [label for label in pd.unique(labels.dropna()) if label == value or entity_type(label) == value]
    return labels.isin(matching).to_numpy(dtype=bool, na_value=False)


def label_names(ids, labels: list[str]) -> list[str]:
    """Label ids -> names, ``IGN`` for -100 (and for ids outside the label list)."""
    return [labels[i] if 0 <= i < len(labels) else IGN_LABEL for i in map(int, ids)]


# --- text assembled from words -----------------------------------------------------------------


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(series, type=pa.large_string(), from_pandas=True)])


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def _joined(parts: list, separator: str) -> pa.ChunkedArray:
    """Element-wise join of string arrays, nulls skipped (pyarrow wants every input the same type)."""
    return pc.binary_join_element_wise(*parts, _large(separator), null_handling="skip")


def _take_or_null(tokens: pa.ChunkedArray, rows: np.ndarray, valid: np.ndarray) -> pa.ChunkedArray:
    """``tokens[rows]`` with null where ``valid`` is False (pyarrow's take keeps nulls)."""
    indices = pa.array(np.where(valid, rows, 0), mask=~valid)
    return pc.take(tokens, indices)


def _to_series(strings) -> pd.Series:
    return pd.Series(strings.to_pandas(), dtype="str")


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
    tokens = _arrow_strings(words["word"])
    example_ids = words["example_id"].to_numpy()
    parts = []
    for offset in range(-size, size + 1):
        neighbour = rows + offset
        inside = (neighbour >= 0) & (neighbour < len(words))
        inside[inside] &= example_ids[neighbour[inside]] == example_ids[rows[inside]]
        part = _take_or_null(tokens, neighbour, inside)
        if offset == 0:
            part = _joined([_large("["), part, _large("]")], "")
        parts.append(part)
    # The word itself is never null, so no row is all nulls (pyarrow 26's join would drop it).
    return _to_series(_joined(parts, " "))


def span_text(words: pd.DataFrame, example_ids, starts, ends) -> pd.Series:
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
    if "gold_id" in words and "pred_id" in words:
        return words["gold_id"].to_numpy() != words["pred_id"].to_numpy()
    return (words["gold"] != words["pred"]).to_numpy(dtype=bool, na_value=True)


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
        gold_end, pred_start, pred_end``.
    """
    errors = span_errors[span_errors["category"] != CORRECT].reset_index(drop=True)
    frame = errors.copy()
    frame["gold_text"] = span_text(words, errors["example_id"], errors["gold_start"], errors["gold_end"])
    frame["pred_text"] = span_text(words, errors["example_id"], errors["pred_start"], errors["pred_end"])
    first_word = pd.array(errors["gold_start"], dtype="Int64").fillna(pd.array(errors["pred_start"], dtype="Int64"))
    frame["word_index"] = first_word.to_numpy(dtype=np.int64, na_value=-1)
    return frame[SPAN_ERROR_COLUMNS]


def _text_mask(frame: pd.DataFrame, columns: list[str], text: str | None) -> np.ndarray:
    mask = np.zeros(len(frame), dtype=bool)
    for column in columns:
        found = frame[column].astype("str").str.contains(text, case=False, regex=False)
        mask |= found.to_numpy(dtype=bool, na_value=False)
    return mask


def filter_word_errors(
    frame: pd.DataFrame, *, gold: str | None = None, pred: str | None = None, text: str | None = None
) -> pd.DataFrame:
    """Rows of :func:`misclassified_words` whose gold/predicted label match (see :func:`label_mask`)
    and whose word or context contains ``text`` (case-insensitive). ``None`` filters nothing."""
    mask = label_mask(frame["gold"], gold) & label_mask(frame["pred"], pred)
    if text:
        mask &= _text_mask(frame, ["word", "context"], text)
    return frame if mask.all() else frame[mask]


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
    mask = np.ones(len(frame), dtype=bool)
    if category:
        mask &= (frame["category"] == category).to_numpy(dtype=bool, na_value=False)
    for column, value in (("type", entity), ("gold_type", gold), ("pred_type", pred)):
        if value:
            mask &= (frame[column] == entity_type(value)).to_numpy(dtype=bool, na_value=False)
    if text:
        mask &= _text_mask(frame, ["gold_text", "pred_text"], text)
    return frame if mask.all() else frame[mask]


# --- Loss by token / label ---------------------------------------------------------------------


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


# --- Samples by loss / Random samples ----------------------------------------------------------


def order_examples(examples: pd.DataFrame, *, order: str = "loss") -> np.ndarray:
    """Example ids, hardest first.

    Parameters
    ----------
    order : {"loss", "f1"}
        ``"loss"``: total loss descending; ``"f1"``: entity F1 ascending, ties broken by total loss
        descending (so among the many zero-F1 examples the worst come first). Missing values go
        last; the example id breaks any remaining tie.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    ids = examples["example_id"].to_numpy(dtype=np.int64)
    loss = examples["total_loss"].to_numpy(dtype=np.float64, na_value=np.nan)
    descending_loss = np.where(np.isnan(loss), np.inf, -loss)
    if order == "loss":
        return ids[np.lexsort((ids, descending_loss))]
    f1 = examples["f1"].to_numpy(dtype=np.float64, na_value=np.nan)
    return ids[np.lexsort((ids, descending_loss, np.where(np.isnan(f1), np.inf, f1)))]


def page_of(ids: np.ndarray, *, page: int, per_page: int = 10) -> tuple[np.ndarray, int, int]:
    """The ``page``-th slice (1-based, clamped into range) of ``ids``: ``(ids, page, n_pages)``."""
    n_pages = max(1, -(-len(ids) // per_page))
    page = min(max(int(page), 1), n_pages)
    return ids[(page - 1) * per_page : page * per_page], page, n_pages


def random_draw(example_ids, *, seed: int, size: int = 10) -> np.ndarray:
    """``size`` distinct example ids drawn with ``seed`` (the same seed gives the same draw), sorted."""
    example_ids = np.asarray(example_ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(example_ids), size=min(max(int(size), 0), len(example_ids)), replace=False)
    return np.sort(example_ids[chosen])


# --- One example, aligned or raw ---------------------------------------------------------------


class AlignedSubword(NamedTuple):
    """One column of an aligned example."""

    word_index: int
    word: str
    token: str
    first: bool  # the word's first subword: the one that carries its label
    gold: str  # the word's gold label, IGN on later subwords
    pred: str  # the model's label for this subword
    loss: float  # NaN on IGN subwords
    mismatch: bool  # first subword whose predicted label differs from gold


def aligned_example(word_rows: pd.DataFrame, subword_rows: pd.DataFrame, *, labels: list[str]) -> list[AlignedSubword]:
    """One example as aligned columns: one per subword of each word, the first one labelled.

    Parameters
    ----------
    word_rows, subword_rows : DataFrame
        The example's rows of the words and subwords tables (special tokens are skipped).
    labels : list of str
        Label names by id.

    Returns
    -------
    list of AlignedSubword
        In word order. ``gold`` is the word's gold label on its first subword and ``IGN`` on the
        others (label id -100: not trained, not scored). A word with no subword (the tokenizer
        dropped it) keeps one column with an empty token and the word's own labels.
    """
    keep = subword_rows["word_index"].to_numpy() >= 0
    positions = subword_rows["position"].to_numpy()[keep]
    order = np.argsort(positions, kind="stable")
    # Plain lists rather than per-row pandas access: this runs for every example on a page.
    column = lambda name: np.asarray(subword_rows[name].to_numpy()[keep])[order].tolist()
    tokens, word_of = column("token"), column("word_index")
    gold_names, pred_names = label_names(column("label_id"), labels), label_names(column("pred_id"), labels)
    losses = subword_rows["loss"].to_numpy(dtype=np.float64, na_value=np.nan)[keep][order].tolist()
    by_word: dict[int, list[int]] = {}
    for piece, word_index in enumerate(word_of):
        by_word.setdefault(word_index, []).append(piece)
    columns = []
    for word_index, word, gold, pred, loss in zip(
        word_rows["word_index"].tolist(),
        word_rows["word"].tolist(),
        word_rows["gold"].tolist(),
        word_rows["pred"].tolist(),
        word_rows["loss"].tolist(),
    ):
        pieces = by_word.get(word_index)
        if not pieces:
            columns.append(AlignedSubword(word_index, word, "", True, gold, pred, float(loss), gold != pred))
            continue
        for piece in pieces:
            first = piece == pieces[0]
            columns.append(
                AlignedSubword(
                    word_index,
                    word,
                    tokens[piece],
                    first,
                    gold_names[piece],
                    pred_names[piece],
                    losses[piece],
                    first and gold_names[piece] != pred_names[piece],
                )
            )
    return columns


def raw_example(subword_rows: pd.DataFrame, *, labels: list[str]) -> pd.DataFrame:
    """One example as the model sees it: one row per subword, special tokens included.

    Returns
    -------
    DataFrame
        ``position, token, input_id, word_id`` (None on special tokens, like a tokenizer's
        ``word_ids()``; nullable integers), ``label_id`` (-100 = IGN), ``label`` (its name or ``IGN``), ``pred``
        (the model's label) and ``window``.
    """
    rows = subword_rows.sort_values("position", kind="stable")
    word_ids = rows["word_index"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "position": rows["position"].to_numpy(dtype=np.int64),
            "token": rows["token"].astype("str").to_numpy(dtype=object),
            "input_id": rows["input_id"].to_numpy(dtype=np.int64),
            "word_id": pd.arrays.IntegerArray(word_ids, mask=word_ids < 0),
            "label_id": rows["label_id"].to_numpy(dtype=np.int64),
            "label": label_names(rows["label_id"], labels),
            "pred": label_names(rows["pred_id"], labels),
            "window": rows["window"].to_numpy(dtype=np.int64),
        }
    )


def model_inputs(raw: pd.DataFrame) -> dict[str, list]:
    """The lists a token-classification model is given: ``input_ids``, ``word_ids``, ``labels``."""
    return {
        "input_ids": [int(x) for x in raw["input_id"]],
        "word_ids": [None if pd.isna(x) else int(x) for x in raw["word_id"]],
        "labels": [int(x) for x in raw["label_id"]],
    }
