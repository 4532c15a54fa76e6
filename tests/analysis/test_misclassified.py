"""The tables behind Misclassified (explainer.analysis.misclassified), on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.misclassified import (
    filter_span_errors,
    filter_word_errors,
    group_by_surface,
    misclassified_spans,
    misclassified_words,
    span_error_mask,
    span_scores,
    span_text,
    surface_forms,
    word_context,
    word_error_mask,
)


def test_word_context_brackets_the_word_and_stays_in_its_example(words):
    context = word_context(words, np.array([0, 3, 5, 8]), size=2)
    assert context.tolist() == ["[John] Smith visited", "Smith visited [Paris] .", "[Paris] is big", "[Mary]"]


def test_span_text_joins_the_words_and_leaves_missing_sides_empty(words, span_errors):
    gold = span_text(words, span_errors["example_id"], span_errors["gold_start"], span_errors["gold_end"])
    pred = span_text(words, span_errors["example_id"], span_errors["pred_start"], span_errors["pred_end"])
    assert gold.tolist() == ["John Smith", "Paris", "Paris", "", "Mary"]
    assert pred.tolist() == ["John", "Paris", "Paris", "is", ""]


def test_misclassified_words_are_exactly_the_words_gold_differs_from_predicted(words):
    errors = misclassified_words(words)
    expected = words[words["gold"] != words["pred"]]
    assert list(zip(errors["example_id"], errors["word_index"])) == list(
        zip(expected["example_id"], expected["word_index"])
    )
    assert errors["word"].tolist() == ["Smith", "Paris", "is", "Mary"]
    assert errors.loc[1, "context"] == "John Smith visited [Paris] ."  # three words each side by default
    assert errors["loss"].tolist() == pytest.approx(expected["loss"].tolist())


def test_filter_word_errors_by_label_type_and_text(words):
    errors = misclassified_words(words)
    assert filter_word_errors(errors, gold="PER")["word"].tolist() == ["Smith", "Mary"]
    assert filter_word_errors(errors, gold="I-PER")["word"].tolist() == ["Smith"]
    assert filter_word_errors(errors, pred="B-LOC")["word"].tolist() == ["is"]
    assert filter_word_errors(errors, gold="O", pred="LOC")["word"].tolist() == ["is"]
    assert filter_word_errors(errors, text="VISITED")["word"].tolist() == ["Smith", "Paris"]  # context counts
    assert filter_word_errors(errors) is errors


def test_misclassified_spans_drop_correct_and_carry_their_text(words, span_errors):
    spans = misclassified_spans(span_errors, words)
    assert spans["category"].tolist() == ["boundary", "wrong type", "spurious", "missed"]
    assert spans["gold_text"].tolist() == ["John Smith", "Paris", "", "Mary"]
    assert spans["pred_text"].tolist() == ["John", "Paris", "is", ""]
    assert spans["word_index"].tolist() == [0, 3, 1, 0]  # gold start, or predicted start for spurious


def test_filter_span_errors(words, span_errors):
    spans = misclassified_spans(span_errors, words)
    assert filter_span_errors(spans, category="missed")["gold_text"].tolist() == ["Mary"]
    assert filter_span_errors(spans, entity="LOC")["category"].tolist() == ["wrong type", "spurious"]
    assert filter_span_errors(spans, gold="LOC", pred="PER")["category"].tolist() == ["wrong type"]
    assert filter_span_errors(spans, gold="B-PER")["category"].tolist() == ["boundary", "missed"]  # label -> type
    assert filter_span_errors(spans, text="smith")["category"].tolist() == ["boundary"]
    assert filter_span_errors(spans, category="missed", entity="LOC").empty


def test_span_scores_average_the_loss_and_confidence_of_the_spans_words(words, span_errors):
    spans = misclassified_spans(span_errors, words)
    scores = span_scores(spans, words)
    for row, (loss, confidence) in zip(spans.itertuples(), scores.itertuples(index=False)):
        start, end = (row.gold_start, row.gold_end) if row.gold_start is not pd.NA else (row.pred_start, row.pred_end)
        mine = words[(words["example_id"] == row.example_id) & words["word_index"].between(start, end - 1)]
        assert loss == pytest.approx(mine["loss"].mean()) and confidence == pytest.approx(mine["prob_pred"].mean())


def test_group_by_surface_counts_repeated_errors_most_frequent_first(words, span_errors):
    spans = misclassified_spans(span_errors, words)
    spans = pd.concat([spans, spans[spans["category"] == "missed"]], ignore_index=True)  # "Mary" missed twice
    spans = spans.assign(loss=np.arange(len(spans), dtype=float), confidence=0.5, sentence="s")
    groups = group_by_surface(spans)
    first = groups.iloc[0]
    assert (first["surface"], first["category"], first["count"]) == ("Mary", "missed", 2)
    assert first["loss"] == pytest.approx(spans[spans["category"] == "missed"]["loss"].mean())
    assert groups["count"].sum() == len(spans) and len(groups) == len(spans) - 1
    assert "is" in set(groups["surface"])  # a spurious span goes by its predicted text


def test_compact_tables_filter_and_group_as_their_strings(words, span_errors):
    # The app keeps these tables compact (strings as categoricals, contexts as Arrow strings): every filter
    # and the surface grouping answer exactly as on the plain frames.
    from explainer.cache.reader import compact_pandas

    errors = misclassified_words(words)
    compact_errors = compact_pandas(errors, text=("context",))
    assert isinstance(compact_errors["word"].dtype, pd.CategoricalDtype)
    assert isinstance(compact_errors["context"].dtype, pd.ArrowDtype)
    for filters in (
        {"gold": "PER"},
        {"pred": "B-LOC"},
        {"text": "VISITED"},
        {"text": "ari"},
        {"gold": "O", "pred": "LOC"},
    ):
        assert word_error_mask(compact_errors, **filters).tolist() == word_error_mask(errors, **filters).tolist()
        assert (
            filter_word_errors(compact_errors, **filters)["word"].tolist()
            == filter_word_errors(errors, **filters)["word"].tolist()
        )
    spans = misclassified_spans(span_errors, words)
    spans = spans.assign(loss=np.arange(len(spans), dtype=float), confidence=0.5, sentence="s")
    compact_spans = compact_pandas(spans, text=("row_id",))
    assert isinstance(compact_spans["gold_text"].dtype, pd.CategoricalDtype)
    for filters in ({"category": "missed"}, {"entity": "LOC"}, {"gold": "B-PER"}, {"text": "smith"}, {"text": "IS"}):
        assert span_error_mask(compact_spans, **filters).tolist() == span_error_mask(spans, **filters).tolist()
    assert surface_forms(compact_spans).tolist() == surface_forms(spans).tolist()
    grouped, expected = group_by_surface(compact_spans), group_by_surface(spans)
    assert grouped.astype(str).values.tolist() == expected.astype(str).values.tolist()


def test_word_context_reads_a_categorical_word_column_as_its_strings(words):
    rows = np.arange(len(words))
    as_codes = words.assign(word=pd.Categorical(words["word"]))
    assert word_context(as_codes, rows, size=2).tolist() == word_context(words, rows, size=2).tolist()
    with_gap = words.assign(word=pd.Categorical(words["word"].where(words.index != 1)))  # a missing word is skipped
    assert word_context(with_gap, rows[:1], size=2).tolist() == [word_context(words.drop(index=1), rows[:1], size=1)[0]]
