"""Examples: which to show (hardest first, a seeded draw) and one example assembled from the cache's
tables, for the sample inspector, the aligned view and the raw view (pure pandas)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.analysis.labels import label_names

LOW_PROBABILITY = 0.5


@dataclass
class ExampleView:
    example: dict[str, Any]  # the examples.parquet row
    words: pd.DataFrame  # one row per word, with 'subwords', 'low_probability', 'mismatch'
    gold_spans: list[tuple[int, int, str]]  # (start, end, type)
    pred_spans: list[tuple[int, int, str]]
    errors: pd.DataFrame  # span_errors rows of this example, correct ones included


def rows_of(frame: pd.DataFrame, example_id: int) -> pd.DataFrame:
    """Rows of a table sorted by example_id, found by binary search rather than a full scan."""
    ids = frame["example_id"].to_numpy()
    start, end = ids.searchsorted(example_id, "left"), ids.searchsorted(example_id, "right")
    return frame.iloc[start:end]


def example_view(
    *,
    examples: pd.DataFrame,
    words: pd.DataFrame,
    subwords: pd.DataFrame,
    spans: pd.DataFrame,
    span_errors: pd.DataFrame,
    example_id: int,
    low_probability: float = LOW_PROBABILITY,
    label_quality: pd.DataFrame | None = None,
) -> ExampleView | None:
    """Everything the inspector shows about ``example_id``, or None when there is no such example.

    ``label_quality`` (label_quality.parquet, when the cache has it) adds the words' ``label_quality``
    and ``label_issue`` columns.
    """
    # The frames may be whole tables or only this example's rows (Cache.example_rows); both are sorted by id.
    match = rows_of(examples, example_id)
    if match.empty:
        return None
    example = match.iloc[0].to_dict()
    word_rows = rows_of(words, example_id).copy()
    sub = rows_of(subwords, example_id)
    sub = sub[sub["word_index"] >= 0]
    pieces = sub.groupby("word_index", sort=True)["token"].agg(lambda tokens: " ".join(tokens))
    word_rows["subwords"] = word_rows["word_index"].map(pieces).fillna("")
    word_rows["low_probability"] = word_rows["prob_pred"] < low_probability
    word_rows["mismatch"] = word_rows["gold"] != word_rows["pred"]
    scored = None if label_quality is None else rows_of(label_quality, example_id)
    if scored is not None and len(scored) == len(word_rows):  # both row-aligned with words.parquet
        word_rows["label_quality"] = scored["label_quality"].to_numpy()
        word_rows["label_issue"] = scored["label_issue"].to_numpy()
    example_spans = rows_of(spans, example_id)

    def as_tuples(source: str) -> list[tuple[int, int, str]]:
        rows = example_spans[example_spans["source"] == source]
        return [(int(r.start), int(r.end), str(r.type)) for r in rows.itertuples()]

    return ExampleView(
        example=example,
        words=word_rows.reset_index(drop=True),
        gold_spans=as_tuples("gold"),
        pred_spans=as_tuples("pred"),
        errors=rows_of(span_errors, example_id).reset_index(drop=True),
    )


def span_error_by_word(errors: pd.DataFrame, *, source: str) -> dict[tuple[int, int], str]:
    """(start, end) of each gold or predicted span -> its error category, for marking spans."""
    marks = {}
    for row in errors.itertuples():
        start, end = getattr(row, f"{source}_start"), getattr(row, f"{source}_end")
        if pd.notna(start):
            marks[(int(start), int(end))] = row.category
    return marks


# --- Samples by loss / Random samples ----------------------------------------------------------

ORDERS = ("loss", "f1", "label_quality", "confidence")
# The orders whose score ascends (lowest first), each a column of the frame order_examples takes.
ASCENDING_SCORES = ("f1", "label_quality", "confidence")


def order_examples(examples: pd.DataFrame, *, order: str = "loss") -> np.ndarray:
    """Example ids, hardest first.

    Parameters
    ----------
    examples : DataFrame
        ``example_id``, ``total_loss`` and the column of ``order`` when it is not ``"loss"``.
    order : {"loss", "f1", "label_quality", "confidence"}
        ``"loss"``: total loss descending; ``"f1"`` (entity F1), ``"label_quality"`` (cleanlab's
        sentence score: low = likely mislabelled) and ``"confidence"`` (:func:`example_confidence`)
        ascending, ties broken by total loss descending (so among the many zero-F1 examples the
        worst come first). Missing values go last; the example id breaks any remaining tie.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    ids = examples["example_id"].to_numpy(dtype=np.int64)
    loss = examples["total_loss"].to_numpy(dtype=np.float64, na_value=np.nan)
    descending_loss = np.where(np.isnan(loss), np.inf, -loss)
    ordered: npt.NDArray[np.int64]
    if order == "loss":
        ordered = ids[np.lexsort((ids, descending_loss))]
    else:
        score = examples[order].to_numpy(dtype=np.float64, na_value=np.nan)
        ordered = ids[np.lexsort((ids, descending_loss, np.where(np.isnan(score), np.inf, score)))]
    return ordered


def example_confidence(words: pd.DataFrame) -> pd.DataFrame:
    """Each example's confidence: the lowest probability the model gave a word's predicted label.

    An example is as uncertain as its least certain word (a mean would drown one doubtful entity among
    confident O words), as cleanlab's sentence score is its lowest word's.

    Parameters
    ----------
    words : DataFrame
        Rows of words.parquet: ``example_id``, ``prob_pred``.

    Returns
    -------
    DataFrame
        ``example_id``, ``confidence`` (one row per example that has words), by example id.

    >>> example_confidence(pd.DataFrame({"example_id": [0, 0, 1], "prob_pred": [0.9, 0.4, 0.99]}))
       example_id  confidence
    0           0        0.40
    1           1        0.99
    """
    found = words.groupby("example_id", sort=True)["prob_pred"].min()
    return pd.DataFrame({"example_id": found.index.to_numpy(dtype=np.int64), "confidence": found.to_numpy(np.float64)})


def random_draw(example_ids: npt.ArrayLike, *, seed: int, size: int = 10) -> npt.NDArray[np.int64]:
    """``size`` distinct example ids drawn with ``seed`` (the same seed gives the same draw), sorted."""
    ids = np.asarray(example_ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(ids), size=min(max(int(size), 0), len(ids)), replace=False)
    return np.sort(ids[chosen])


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
    confidence: float = math.nan  # the probability of the word's predicted label (first subword only)
    label_quality: float = math.nan  # the gold label's label-quality score (first subword, scored caches)


def aligned_example(word_rows: pd.DataFrame, subword_rows: pd.DataFrame, *, labels: list[str]) -> list[AlignedSubword]:
    """One example as aligned columns: one per subword of each word, the first one labelled.

    Parameters
    ----------
    word_rows, subword_rows : DataFrame
        The example's rows of the words and subwords tables (special tokens are skipped). The words'
        ``prob_pred`` and ``label_quality`` (scores joined by the caller), when present, become each
        word's ``confidence`` and ``label_quality``.
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

    def column(name: str) -> list[Any]:
        values: list[Any] = np.asarray(subword_rows[name].to_numpy()[keep])[order].tolist()
        return values

    tokens, word_of = column("token"), column("word_index")
    gold_names, pred_names = label_names(column("label_id"), labels), label_names(column("pred_id"), labels)
    losses = subword_rows["loss"].to_numpy(dtype=np.float64, na_value=np.nan)[keep][order].tolist()
    by_word: dict[int, list[int]] = {}
    for piece, word_index in enumerate(word_of):
        by_word.setdefault(word_index, []).append(piece)
    columns = []
    missing = [math.nan] * len(word_rows)
    for word_index, word, gold, pred, loss, confidence, quality in zip(
        word_rows["word_index"].tolist(),
        word_rows["word"].tolist(),
        word_rows["gold"].tolist(),
        word_rows["pred"].tolist(),
        word_rows["loss"].tolist(),
        _floats(word_rows, "prob_pred", missing),
        _floats(word_rows, "label_quality", missing),
    ):
        pieces = by_word.get(word_index)
        if not pieces:
            columns.append(
                AlignedSubword(word_index, word, "", True, gold, pred, float(loss), gold != pred, confidence, quality)
            )
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
                    confidence if first else math.nan,
                    quality if first else math.nan,
                )
            )
    return columns


def _floats(frame: pd.DataFrame, name: str, missing: list[float]) -> list[float]:
    """Column ``name`` as floats (NaN for a missing value), or ``missing`` when there is no such column."""
    if name not in frame:
        return missing
    values: list[float] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    return values


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


def model_inputs(raw: pd.DataFrame) -> dict[str, list[int | None]]:
    """The lists a token-classification model is given: ``input_ids``, ``word_ids``, ``labels``."""
    return {
        "input_ids": [int(x) for x in raw["input_id"]],
        "word_ids": [None if pd.isna(x) else int(x) for x in raw["word_id"]],
        "labels": [int(x) for x in raw["label_id"]],
    }
