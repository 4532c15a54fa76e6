"""One example, assembled from the cache's tables for the sample inspector (pure pandas)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

LOW_PROBABILITY = 0.5


@dataclass
class ExampleView:
    example: dict  # the examples.parquet row
    words: pd.DataFrame  # one row per word, with 'subwords', 'low_probability', 'mismatch'
    gold_spans: list[tuple]  # (start, end, type)
    pred_spans: list[tuple]
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
    as_tuples = lambda source: [
        (int(r.start), int(r.end), str(r.type)) for r in example_spans[example_spans["source"] == source].itertuples()
    ]
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
