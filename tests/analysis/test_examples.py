"""Example order, random draws, aligned and raw examples (explainer.analysis.examples), on hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from frames import LABELS

from explainer.analysis.examples import (
    aligned_example,
    example_confidence,
    model_inputs,
    order_examples,
    random_draw,
    raw_example,
)


def test_order_by_total_loss_descending(examples):
    assert order_examples(examples, order="loss").tolist() == [1, 3, 5, 0, 4, 2]


def test_order_by_f1_ascending_then_loss(examples):
    assert order_examples(examples, order="f1").tolist() == [3, 0, 4, 2, 1, 5]


@pytest.mark.parametrize("order", ["label_quality", "confidence"])
def test_order_by_a_score_ascending_then_loss_missing_last(examples, order):
    scored = examples.assign(**{order: [0.5, np.nan, 0.5, 0.9, 0.1, 0.5]})
    # 4 lowest; 0, 2 and 5 tie at 0.5, broken by total loss (5.0, 3.0, NaN last); 3; 1 unscored last.
    assert order_examples(scored, order=order).tolist() == [4, 5, 0, 2, 3, 1]


def test_an_examples_confidence_is_its_least_certain_word():
    words = pd.DataFrame({"example_id": [2, 0, 0, 2], "prob_pred": [0.99, 0.9, 0.4, 0.6]})
    found = example_confidence(words)
    assert found["example_id"].tolist() == [0, 2]
    assert found["confidence"].round(2).tolist() == [0.4, 0.6]


def test_order_rejects_an_unknown_order(examples):
    with pytest.raises(ValueError, match="order"):
        order_examples(examples, order="random")


def test_random_draw_is_reproducible_and_depends_on_the_seed():
    ids = np.arange(1000) * 3
    first, again, other = (random_draw(ids, seed=7), random_draw(ids, seed=7), random_draw(ids, seed=8))
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()
    assert len(set(first.tolist())) == 10 and set(first.tolist()) <= set(ids.tolist())
    assert random_draw(ids[:4], seed=1, size=10).tolist() == ids[:4].tolist()  # capped at the dataset size


def test_aligned_example_carries_each_words_confidence_and_label_quality(words, subwords):
    rows = words[words["example_id"] == 0]
    plain = aligned_example(rows.drop(columns=["prob_pred"], errors="ignore"), subwords, labels=LABELS)
    assert all(math.isnan(c.confidence) and math.isnan(c.label_quality) for c in plain)  # no scores, none shown
    scored = rows.assign(prob_pred=[0.9, 0.8, 0.7, 0.6, 0.5], label_quality=[0.1, 0.2, 0.3, 0.4, 0.5])
    columns = aligned_example(scored, subwords, labels=LABELS)
    assert [c.confidence for c in columns][:3] == pytest.approx([0.9, 0.8, 0.7])
    assert math.isnan(columns[3].confidence) and math.isnan(columns[3].label_quality)  # ##ed: IGN, no score
    assert [c.label_quality for c in columns if c.first] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_aligned_example_marks_non_first_subwords_ign(words, subwords):
    columns = aligned_example(words[words["example_id"] == 0], subwords, labels=LABELS)
    assert [c.token for c in columns] == ["john", "smith", "visit", "##ed", "paris", "."]
    assert [c.word for c in columns] == ["John", "Smith", "visited", "visited", "Paris", "."]
    assert [c.gold for c in columns] == ["B-PER", "I-PER", "O", "IGN", "B-LOC", "O"]
    assert [c.pred for c in columns] == ["B-PER", "O", "O", "B-LOC", "B-PER", "O"]
    assert [c.first for c in columns] == [True, True, True, False, True, True]
    assert [c.mismatch for c in columns] == [False, True, False, False, True, False]
    assert np.isnan(columns[3].loss) and columns[1].loss == pytest.approx(2.0)


def test_aligned_example_follows_positions_and_keeps_a_word_without_subwords(words, subwords):
    shuffled = subwords[subwords["word_index"] != 3].sample(frac=1, random_state=1)
    columns = aligned_example(words[words["example_id"] == 0], shuffled, labels=LABELS)
    assert [c.token for c in columns] == ["john", "smith", "visit", "##ed", "", "."]
    paris = [c for c in columns if c.word == "Paris"]
    assert [(c.token, c.gold, c.pred, c.first) for c in paris] == [("", "B-LOC", "B-PER", True)]


def test_raw_example_is_what_the_model_sees(subwords):
    raw = raw_example(subwords.sample(frac=1, random_state=0), labels=LABELS)  # any row order in, position order out
    inputs = model_inputs(raw)
    assert inputs["input_ids"] == list(range(100, 108))
    assert inputs["word_ids"] == [None, 0, 1, 2, 2, 3, 4, None]
    assert inputs["labels"] == [-100, 1, 2, 0, -100, 3, 0, -100]
    assert raw["label"].tolist() == ["IGN", "B-PER", "I-PER", "O", "IGN", "B-LOC", "O", "IGN"]
