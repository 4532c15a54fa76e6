"""The tables behind Misclassified, Loss, Samples, Random samples and Raw data, on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.examples import aligned_example, model_inputs, order_examples, random_draw, raw_example
from explainer.analysis.gridquery import page_of
from explainer.analysis.labels import entity_type, label_mask
from explainer.analysis.loss import loss_by
from explainer.analysis.misclassified import (
    filter_span_errors,
    filter_word_errors,
    misclassified_spans,
    misclassified_words,
    span_text,
    word_context,
)
from explainer.app.memo import per_cache

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

# (word, gold, pred, loss) per word, one list per example.
SENTENCES = [
    [
        ("John", "B-PER", "B-PER", 0.1),
        ("Smith", "I-PER", "O", 2.0),
        ("visited", "O", "O", 0.2),
        ("Paris", "B-LOC", "B-PER", 1.5),
        (".", "O", "O", 0.05),
    ],
    [("Paris", "B-LOC", "B-LOC", 0.3), ("is", "O", "B-LOC", 1.1), ("big", "O", "O", np.nan)],
    [("Mary", "B-PER", "O", 3.0)],
]


def make_words(sentences=SENTENCES) -> pd.DataFrame:
    rows = [
        {
            "example_id": e,
            "word_index": i,
            "word": w,
            "gold": g,
            "pred": p,
            "loss": loss,
            "prob_pred": 0.5,
            "prob_gold": 0.25,
        }
        for e, sentence in enumerate(sentences)
        for i, (w, g, p, loss) in enumerate(sentence)
    ]
    words = pd.DataFrame(rows).astype({"word": "str", "gold": "str", "pred": "str", "loss": "float32"})
    words["gold_id"] = words["gold"].map(LABELS.index).astype("int16")
    words["pred_id"] = words["pred"].map(LABELS.index).astype("int16")
    return words


@pytest.fixture
def words():
    return make_words()


@pytest.fixture
def span_errors():
    rows = [  # example 0: gold PER 0-2 boundary vs pred PER 0-1; gold LOC 3-4 wrong type; example 1: spurious, correct
        (0, "boundary", "PER", 0, 2, "PER", 0, 1, "PER"),
        (0, "wrong type", "LOC", 3, 4, "LOC", 3, 4, "PER"),
        (1, "correct", "LOC", 0, 1, "LOC", 0, 1, "LOC"),
        (1, "spurious", "LOC", None, None, None, 1, 2, "LOC"),
        (2, "missed", "PER", 0, 1, "PER", None, None, None),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "example_id",
            "category",
            "type",
            "gold_start",
            "gold_end",
            "gold_type",
            "pred_start",
            "pred_end",
            "pred_type",
        ],
    )
    for column in ("gold_start", "gold_end", "pred_start", "pred_end"):
        frame[column] = frame[column].astype("Int32")
    return frame.astype({"category": "str", "type": "str", "gold_type": "str", "pred_type": "str"})


# --- labels ------------------------------------------------------------------------------------


def test_entity_type_strips_the_scheme_prefix():
    assert [entity_type(x) for x in ("B-PER", "I-LOC", "E-ORG", "S-MISC", "O", "PER", None)] == [
        "PER",
        "LOC",
        "ORG",
        "MISC",
        "O",
        "PER",
        None,
    ]


def test_label_mask_matches_a_label_or_a_whole_type(words):
    gold = words["gold"]
    assert label_mask(gold, "B-PER").tolist() == (gold == "B-PER").tolist()
    assert label_mask(gold, "PER").tolist() == gold.isin(["B-PER", "I-PER"]).tolist()
    assert label_mask(gold, None).all()
    assert not label_mask(gold, "NOPE").any()


# --- context and span text ---------------------------------------------------------------------


def test_word_context_brackets_the_word_and_stays_in_its_example(words):
    context = word_context(words, np.array([0, 3, 5, 8]), size=2)
    assert context.tolist() == ["[John] Smith visited", "Smith visited [Paris] .", "[Paris] is big", "[Mary]"]


def test_span_text_joins_the_words_and_leaves_missing_sides_empty(words, span_errors):
    gold = span_text(words, span_errors["example_id"], span_errors["gold_start"], span_errors["gold_end"])
    pred = span_text(words, span_errors["example_id"], span_errors["pred_start"], span_errors["pred_end"])
    assert gold.tolist() == ["John Smith", "Paris", "Paris", "", "Mary"]
    assert pred.tolist() == ["John", "Paris", "Paris", "is", ""]


# --- Misclassified -----------------------------------------------------------------------------


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


# --- Loss by token / label ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["word", "gold"])
def test_loss_by_equals_a_direct_computation(key):
    rng = np.random.default_rng(1)
    sentences = [
        [
            (
                f"w{rng.integers(8)}",
                LABELS[rng.integers(5)],
                LABELS[rng.integers(5)],
                np.nan if rng.random() < 0.05 else float(rng.exponential()),
            )
            for _ in range(rng.integers(1, 12))
        ]
        for _ in range(300)
    ]
    words = make_words(sentences)
    table = loss_by(words, key=key).set_index(key)
    loss = words["loss"].astype(float)
    for value, group in words.groupby(key):
        row, group_loss = table.loc[value], loss[group.index]
        assert row["count"] == len(group)
        assert row["mean_loss"] == pytest.approx(np.nanmean(group_loss))
        assert row["median_loss"] == pytest.approx(np.nanmedian(group_loss))
        assert row["total_loss"] == pytest.approx(np.nansum(group_loss))
        assert row["errors"] == int((group["gold"] != group["pred"]).sum())
    assert len(table) == words[key].nunique()
    assert table["total_loss"].is_monotonic_decreasing


def test_loss_by_word_on_the_fixture(words):
    table = loss_by(words, key="word").set_index("word")
    assert table.loc["Paris", "count"] == 2 and table.loc["Paris", "total_loss"] == pytest.approx(1.8)
    assert table.loc["Paris", "errors"] == 1
    assert table.index[0] == "Mary"  # highest total loss first
    assert np.isnan(table.loc["big", "mean_loss"]) and table.loc["big", "count"] == 1


# --- Samples by loss / Random samples ----------------------------------------------------------


@pytest.fixture
def examples():
    return pd.DataFrame(
        {
            "example_id": np.arange(6),
            "total_loss": [3.0, 9.0, np.nan, 9.0, 1.0, 5.0],
            "f1": [0.0, 1.0, 0.5, 0.0, 0.0, np.nan],
        }
    )


def test_order_by_total_loss_descending(examples):
    assert order_examples(examples, order="loss").tolist() == [1, 3, 5, 0, 4, 2]


def test_order_by_f1_ascending_then_loss(examples):
    assert order_examples(examples, order="f1").tolist() == [3, 0, 4, 2, 1, 5]


def test_order_rejects_an_unknown_order(examples):
    with pytest.raises(ValueError, match="order"):
        order_examples(examples, order="random")


def test_page_of_slices_and_clamps():
    ids = np.arange(25)
    chosen, page, n_pages = page_of(ids, page=3, per_page=10)
    assert chosen.tolist() == list(range(20, 25)) and (page, n_pages) == (3, 3)
    assert page_of(ids, page=99, per_page=10)[1] == 3
    assert page_of(ids, page=-4, per_page=10)[0].tolist() == list(range(10))
    assert page_of(np.arange(0), page=1)[1:] == (1, 1)


def test_random_draw_is_reproducible_and_depends_on_the_seed():
    ids = np.arange(1000) * 3
    first, again, other = (random_draw(ids, seed=7), random_draw(ids, seed=7), random_draw(ids, seed=8))
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()
    assert len(set(first.tolist())) == 10 and set(first.tolist()) <= set(ids.tolist())
    assert random_draw(ids[:4], seed=1, size=10).tolist() == ids[:4].tolist()  # capped at the dataset size


# --- One example, aligned or raw ---------------------------------------------------------------


@pytest.fixture
def subwords():
    # example 0 of SENTENCES tokenized: [CLS] john smith visit ##ed paris . [SEP]
    tokens = ["[CLS]", "john", "smith", "visit", "##ed", "paris", ".", "[SEP]"]
    word_index = [-1, 0, 1, 2, 2, 3, 4, -1]
    label_id = [-100, 1, 2, 0, -100, 3, 0, -100]
    pred_id = [0, 1, 0, 0, 3, 1, 0, 0]
    loss = [np.nan, 0.1, 2.0, 0.2, np.nan, 1.5, 0.05, np.nan]
    return pd.DataFrame(
        {
            "example_id": 0,
            "position": range(8),
            "token": tokens,
            "input_id": range(100, 108),
            "word_index": word_index,
            "label_id": label_id,
            "pred_id": pred_id,
            "loss": loss,
            "window": 0,
        }
    )


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


# --- memoising ---------------------------------------------------------------------------------


def test_per_cache_computes_once_per_cache_object():
    class FakeCache:
        pass

    calls = []
    first, second = FakeCache(), FakeCache()
    compute = lambda: calls.append(1) or len(calls)
    assert per_cache(first, "table", compute) == 1
    assert per_cache(first, "table", compute) == 1
    assert per_cache(second, "table", compute) == 2
    assert per_cache(first, "other", compute) == 3
