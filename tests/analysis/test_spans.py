"""Entity spans, span error categories and per-example scores (explainer.analysis.spans)."""

import random

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from explainer.analysis.spans import classify_spans, example_scores, extract_spans
from explainer.cache.schema import BOUNDARY, CORRECT, ERROR_CATEGORIES, MISSED, SPURIOUS, TYPE_AND_BOUNDARY, WRONG_TYPE

RECORD_KEYS = {"category", "type", "gold_start", "gold_end", "gold_type", "pred_start", "pred_end", "pred_type"}
TAGS = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def random_tags(rng, length):
    return [rng.choice(TAGS) for _ in range(length)]


def categories(records):
    return [record["category"] for record in records]


def only(records):
    assert len(records) == 1, records
    return records[0]


# --- extract_spans -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, spans",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [(0, 2, "PER"), (3, 4, "LOC")]),
        (["B-PER", "B-PER", "I-PER"], [(0, 1, "PER"), (1, 3, "PER")]),  # adjacent spans
        (["O", "I-PER", "I-PER"], [(1, 3, "PER")]),  # I- after O opens a span
        (["B-PER", "I-LOC"], [(0, 1, "PER"), (1, 2, "LOC")]),  # type change splits
        (["I-ORG", "O", "I-ORG", "I-ORG", "B-ORG"], [(0, 1, "ORG"), (2, 4, "ORG"), (4, 5, "ORG")]),
        (["O", "O"], []),
        ([], []),
    ],
)
def test_extract_spans(tags, spans):
    assert extract_spans(tags) == spans


def test_extract_spans_takes_tuples_and_ends_are_exclusive():
    tags = ("O", "B-MISC", "I-MISC", "I-MISC", "O", "B-LOC")
    spans = extract_spans(tags)
    assert spans == [(1, 4, "MISC"), (5, 6, "LOC")]
    for start, end, entity_type in spans:
        assert all(tag.endswith("-" + entity_type) for tag in tags[start:end])


def test_extract_spans_agree_with_seqeval_scores():
    """Exact-match counts over our spans give seqeval's micro scores, ill-formed predictions included."""
    rng = random.Random(7)
    gold = [random_tags(rng, rng.randint(0, 10)) for _ in range(150)]
    pred = [random_tags(rng, len(tags)) for tags in gold]
    n_gold = n_pred = n_correct = 0
    for gold_tags, pred_tags in zip(gold, pred):
        gold_spans, pred_spans = set(extract_spans(gold_tags)), set(extract_spans(pred_tags))
        n_gold += len(gold_spans)
        n_pred += len(pred_spans)
        n_correct += len(gold_spans & pred_spans)
    assert n_correct > 0
    assert n_correct / n_pred == pytest.approx(precision_score(gold, pred))
    assert n_correct / n_gold == pytest.approx(recall_score(gold, pred))


# --- classify_spans: each category -----------------------------------------------------------------


def test_correct():
    record = only(classify_spans([(0, 2, "PER")], [(0, 2, "PER")]))
    assert record == {
        "category": CORRECT,
        "type": "PER",
        "gold_start": 0,
        "gold_end": 2,
        "gold_type": "PER",
        "pred_start": 0,
        "pred_end": 2,
        "pred_type": "PER",
    }
    # Adjacent spans of one type are two entities, each matched on its own.
    adjacent = extract_spans(["B-PER", "B-PER", "I-PER"])
    assert categories(classify_spans(adjacent, adjacent)) == [CORRECT, CORRECT]


def test_missed():
    record = only(classify_spans([(0, 2, "PER")], []))
    assert record["category"] == MISSED and record["type"] == "PER"
    assert record["pred_start"] is None and record["pred_end"] is None and record["pred_type"] is None
    records = classify_spans([(0, 1, "LOC"), (3, 5, "ORG")], [(0, 1, "LOC")])
    assert categories(records) == [CORRECT, MISSED]
    assert records[1]["gold_start"] == 3 and records[1]["type"] == "ORG"


def test_spurious():
    pred = extract_spans(["O", "I-PER", "I-PER"])  # ill-formed tags still make a span
    record = only(classify_spans([], pred))
    assert record == {
        "category": SPURIOUS,
        "type": "PER",
        "gold_start": None,
        "gold_end": None,
        "gold_type": None,
        "pred_start": 1,
        "pred_end": 3,
        "pred_type": "PER",
    }
    # Touching is not overlapping: predictions adjacent to a gold span on both sides are spurious.
    records = classify_spans([(2, 4, "PER")], [(0, 2, "PER"), (4, 5, "LOC")])
    assert categories(records) == [SPURIOUS, MISSED, SPURIOUS]
    assert [record["type"] for record in records] == ["PER", "PER", "LOC"]


def test_wrong_type():
    record = only(classify_spans([(0, 2, "PER")], [(0, 2, "ORG")]))
    assert (record["category"], record["type"], record["pred_type"]) == (WRONG_TYPE, "PER", "ORG")
    gold = extract_spans(["B-ORG", "O", "O", "B-LOC"])
    pred = extract_spans(["B-ORG", "O", "O", "B-MISC"])
    assert categories(classify_spans(gold, pred)) == [CORRECT, WRONG_TYPE]


def test_boundary():
    record = only(classify_spans([(0, 3, "PER")], [(0, 2, "PER")]))  # too short
    assert (record["category"], record["pred_end"]) == (BOUNDARY, 2)
    record = only(classify_spans([(1, 3, "ORG")], [(0, 3, "ORG")]))  # too long
    assert (record["category"], record["pred_start"]) == (BOUNDARY, 0)


def test_boundary_from_ill_formed_prediction():
    gold = extract_spans(["B-PER", "I-PER"])
    pred = extract_spans(["B-PER", "I-LOC"])  # PER (0,1) and LOC (1,2)
    record, spurious = classify_spans(gold, pred)
    assert (spurious["category"], spurious["pred_type"]) == (SPURIOUS, "LOC")
    assert record["category"] == BOUNDARY
    assert (record["pred_start"], record["pred_end"], record["pred_type"]) == (0, 1, "PER")


def test_type_and_boundary():
    record = only(classify_spans([(0, 2, "PER")], [(1, 3, "ORG")]))
    assert (record["category"], record["type"], record["pred_type"]) == (TYPE_AND_BOUNDARY, "PER", "ORG")
    gold = extract_spans(["B-LOC", "I-LOC", "I-LOC", "O"])
    pred = extract_spans(["B-ORG", "B-MISC", "I-MISC", "I-MISC"])
    spurious, record = classify_spans(gold, pred)
    # Both predictions overlap with another type; the larger overlap is matched, the other is spurious.
    assert (spurious["category"], spurious["pred_type"]) == (SPURIOUS, "ORG")
    assert record["category"] == TYPE_AND_BOUNDARY
    assert (record["pred_start"], record["pred_end"], record["pred_type"]) == (1, 4, "MISC")


# --- classify_spans: several predictions on one gold span ----------------------------------------


def test_same_type_overlap_preferred_over_other_type():
    gold = [(0, 4, "PER")]
    pred = [(0, 1, "LOC"), (1, 4, "PER")]
    spurious, record = classify_spans(gold, pred)  # the LOC piece explains no gold span: spurious
    assert record["category"] == BOUNDARY and record["pred_start"] == 1
    assert (spurious["category"], spurious["pred_type"]) == (SPURIOUS, "LOC")


def test_exact_match_preferred_over_everything():
    # Overlapping predictions cannot come from one tag sequence, but the rule holds for any input.
    records = classify_spans([(0, 2, "PER")], [(1, 2, "PER"), (0, 2, "ORG"), (0, 2, "PER")])
    assert [(r["category"], r["pred_type"]) for r in records if r["gold_start"] is not None] == [(CORRECT, "PER")]
    assert categories(records).count(SPURIOUS) == 2
    records = classify_spans([(0, 3, "PER")], [(0, 2, "PER"), (0, 3, "ORG")])
    assert [(r["category"], r["pred_type"]) for r in records if r["gold_start"] is not None] == [(WRONG_TYPE, "ORG")]


def test_prediction_spanning_two_gold_spans_explains_one():
    # One to one: the prediction is counted once, so the categories add up to the predicted spans.
    records = classify_spans([(0, 1, "PER"), (2, 3, "PER")], [(0, 3, "PER")])
    assert categories(records) == [BOUNDARY, MISSED]
    assert (records[0]["pred_start"], records[0]["pred_end"]) == (0, 3) and records[1]["pred_start"] is None


def test_empty():
    assert classify_spans([], []) == []
    assert example_scores([], []) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_correct": 0}


def test_records_are_complete_ordered_and_deterministic():
    rng = random.Random(3)
    seen = set()
    for _ in range(300):
        length = rng.randint(0, 12)
        gold, pred = extract_spans(random_tags(rng, length)), extract_spans(random_tags(rng, length))
        records = classify_spans(gold, pred)
        assert all(set(record) == RECORD_KEYS for record in records)
        seen.update(categories(records))
        # Every gold and every predicted span in exactly one record: the categories add up.
        assert sorted(
            (r["gold_start"], r["gold_end"], r["gold_type"]) for r in records if r["gold_start"] is not None
        ) == sorted(gold)
        assert sorted(
            (r["pred_start"], r["pred_end"], r["pred_type"]) for r in records if r["pred_start"] is not None
        ) == sorted(pred)
        lonely = [p for p in pred if not any(max(p[0], g[0]) < min(p[1], g[1]) for g in gold)]
        assert categories(records).count(SPURIOUS) >= len(lonely)
        assert categories(records).count(CORRECT) == example_scores(gold, pred)["n_correct"]
        starts = [r["gold_start"] if r["gold_start"] is not None else r["pred_start"] for r in records]
        assert starts == sorted(starts)
        # Same answer whatever order the spans come in.
        assert classify_spans(rng.sample(gold, len(gold)), rng.sample(pred, len(pred))) == records
    assert seen == set(ERROR_CATEGORIES)


# --- example_scores ------------------------------------------------------------------------------


def test_example_scores():
    gold = [(0, 2, "PER"), (3, 4, "LOC")]
    pred = [(0, 2, "PER"), (3, 4, "ORG"), (5, 6, "MISC")]
    scores = example_scores(gold, pred)
    assert scores["n_correct"] == 1
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(0.4)


@pytest.mark.parametrize("gold, pred", [([], [(0, 1, "PER")]), ([(0, 1, "PER")], [])])
def test_example_scores_one_side_empty(gold, pred):
    assert example_scores(gold, pred) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "n_correct": 0}


def test_example_scores_agree_with_seqeval():
    rng = random.Random(11)
    for _ in range(100):
        gold_tags = random_tags(rng, rng.randint(1, 10))
        pred_tags = random_tags(rng, len(gold_tags))
        scores = example_scores(extract_spans(gold_tags), extract_spans(pred_tags))
        if extract_spans(gold_tags) and extract_spans(pred_tags):
            assert scores["precision"] == pytest.approx(precision_score([gold_tags], [pred_tags], zero_division=0))
            assert scores["recall"] == pytest.approx(recall_score([gold_tags], [pred_tags], zero_division=0))
            assert scores["f1"] == pytest.approx(f1_score([gold_tags], [pred_tags], zero_division=0))
