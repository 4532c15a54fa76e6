"""Misclassified's grid sources and summary on the tiny cache (explainer.app.sections.misclassified)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.gridquery import ROW_REPEAT, page_rows
from explainer.app.components.grid import csv_rows
from explainer.app.sections import misclassified as mis
from explainer.cache import schema


def _no_string_per_row(frame: pd.DataFrame) -> list[str]:
    """The columns that hold a Python or Arrow string copy per row (categoricals and Arrow columns over the
    file do not)."""
    return [name for name, dtype in frame.dtypes.items() if str(dtype) in ("object", "str")]


def test_the_grid_sources_hold_codes_not_a_string_per_row(cache):
    # At 1M subwords the span table's sentences, one string copy per span error, held ~100 MB per worker.
    words, spans = mis.word_rows(cache, {}), mis.span_rows(cache, {"mis_level": "span"})
    assert _no_string_per_row(words) == [] and _no_string_per_row(spans) == []
    assert isinstance(spans["sentence"].dtype, pd.CategoricalDtype)
    assert isinstance(words["context"].dtype, pd.ArrowDtype) and "row_id" not in spans
    texts = cache.table("examples", ["example_id", "text"]).set_index("example_id")["text"]
    assert spans["sentence"].astype(str).tolist() == texts.loc[spans["example_id"].to_numpy()].tolist()


def test_sentences_of_examples_missing_from_the_table_are_missing():
    examples = pd.DataFrame({"example_id": [3, 1, 2], "text": ["b a", "a", "b a"]})
    sentences = mis.sentences_of(examples, np.array([1, 2, 3, 9]))
    assert sentences.categories.tolist() == ["a", "b a"]  # distinct and sorted: sorting by code sorts the texts
    assert pd.Series(sentences).tolist()[:3] == ["a", "b a", "b a"] and pd.isna(sentences[3])


@pytest.mark.parametrize(
    "view",
    [
        mis.MisclassifiedView(),
        mis.MisclassifiedView(gold="O"),
        mis.MisclassifiedView(pred="B-PER", text="e"),
        mis.MisclassifiedView(level="span"),
        mis.MisclassifiedView(level="span", category="missed", gold="PER"),
        mis.MisclassifiedView(level="span", text="a"),
    ],
)
def test_the_summary_counts_what_the_grid_lists(cache, view):
    assert mis.count_filtered(cache, view) == len(mis.filtered(cache, view))


def test_span_row_ids_are_written_per_page_as_the_build_wrote_them(cache):
    # The spans' row ids ("example:word", ":n" for the n-th other error starting there) are not kept as strings.
    spans = mis.span_rows(cache, {"mis_level": "span"})
    answer = page_rows(spans, {"startRow": 0, "endRow": len(spans)})
    stored = cache.mapped_table(schema.MISCLASSIFIED_SPANS)["row_id"].tolist()
    assert [row["row_id"] for row in answer["rowData"]] == stored
    assert all(ROW_REPEAT not in row for row in answer["rowData"])
    assert ROW_REPEAT not in csv_rows(spans, None).columns and "row_id" not in csv_rows(spans, None).columns
