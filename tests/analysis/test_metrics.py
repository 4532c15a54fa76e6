"""Dataset-level results (explainer.analysis.metrics) checked against seqeval and by hand."""

import json
import random
from itertools import chain

import numpy as np
import pandas as pd
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

from explainer.analysis.metrics import entity_report, error_counts, normalise_confusion, word_accuracy, word_confusion
from explainer.analysis.spans import classify_spans, extract_spans
from explainer.cache.schema import CORRECT, ERROR_CATEGORIES, MISSED, SPURIOUS

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
N_VALIDATION_SENTENCES = 600


def read_conll_tags(path, *, limit):
    """NER tags (last column) of the first ``limit`` sentences of a CoNLL file, -DOCSTART- skipped."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                sentences.append(current)
                current = []
            if len(sentences) == limit:
                break
        elif not line.startswith("-DOCSTART-"):
            current.append(line.split()[-1])
    if current and len(sentences) < limit:
        sentences.append(current)
    return sentences


def corrupt(tags, rng, *, rate):
    """Replace a share of the tags by random labels (ill-formed sequences included)."""
    return [rng.choice(LABELS) if rng.random() < rate else tag for tag in tags]


@pytest.fixture(scope="module")
def validation_pair(shared_data):
    gold = read_conll_tags(shared_data / "conll2003" / "validation.txt", limit=N_VALIDATION_SENTENCES)
    rng = random.Random(2003)
    pred = [corrupt(tags, rng, rate=0.15) for tags in gold]
    return gold, pred


@pytest.fixture(scope="module")
def random_pair():
    rng = random.Random(0)
    gold = [[rng.choice(LABELS) for _ in range(rng.randint(0, 15))] for _ in range(300)]
    pred = [corrupt(tags, rng, rate=0.5) for tags in gold]
    return gold, pred


def assert_equals_seqeval(report, gold, pred):
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, zero_division=0)
    types = sorted({entity_type for _, _, entity_type in chain(*(extract_spans(tags) for tags in gold + pred))})
    assert list(report) == types + ["micro avg", "macro avg", "weighted avg"]
    for i, entity_type in enumerate(types):
        assert report[entity_type] == {
            "precision": pytest.approx(precision[i]),
            "recall": pytest.approx(recall[i]),
            "f1": pytest.approx(f1[i]),
            "support": int(support[i]),
        }
    for average in ("micro", "macro", "weighted"):
        row = report[f"{average} avg"]
        assert row["precision"] == pytest.approx(precision_score(gold, pred, average=average, zero_division=0))
        assert row["recall"] == pytest.approx(recall_score(gold, pred, average=average, zero_division=0))
        assert row["f1"] == pytest.approx(f1_score(gold, pred, average=average, zero_division=0))
    assert report["micro avg"]["support"] == sum(len(extract_spans(tags)) for tags in gold)


# --- entity_report -------------------------------------------------------------------------------


def test_entity_report_equals_seqeval_on_random_tags(random_pair):
    gold, pred = random_pair
    report = entity_report(gold, pred)
    assert_equals_seqeval(report, gold, pred)
    assert 0 < report["micro avg"]["f1"] < 1


def test_entity_report_equals_seqeval_on_conll_validation(validation_pair):
    gold, pred = validation_pair
    report = entity_report(gold, pred)
    assert_equals_seqeval(report, gold, pred)
    assert set(report) == {"PER", "ORG", "LOC", "MISC", "micro avg", "macro avg", "weighted avg"}
    assert 0.3 < report["micro avg"]["f1"] < 0.95
    # Perfect predictions score 1.
    assert entity_report(gold, gold)["micro avg"]["f1"] == 1.0


def test_entity_report_is_plain_json(random_pair):
    report = entity_report(*random_pair)
    for row in report.values():
        assert type(row["support"]) is int
        assert all(type(row[key]) is float for key in ("precision", "recall", "f1"))
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_entity_report_without_entities_has_no_nan():
    report = entity_report([["O", "O"], []], [["O", "O"], []])
    assert list(report) == ["micro avg", "macro avg", "weighted avg"]
    assert all(value == 0 for row in report.values() for value in row.values())
    json.dumps(report, allow_nan=False)


def test_entity_report_accepts_tuples():
    report = entity_report((("B-PER", "I-PER", "O"),), (("B-PER", "I-PER", "B-LOC"),))
    assert report["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert report["LOC"]["precision"] == 0.0 and report["LOC"]["support"] == 0
    assert report["micro avg"]["precision"] == 0.5


@pytest.mark.parametrize("gold, pred", [([["O"]], [["O"], ["O"]]), ([["O", "O"]], [["O"]])])
def test_entity_report_refuses_mismatched_lengths(gold, pred):
    with pytest.raises(ValueError, match="gold"):
        entity_report(gold, pred)


# --- word_confusion and word_accuracy ------------------------------------------------------------


def test_word_confusion_by_hand():
    gold = ["O", "B-PER", "I-PER", "O", "B-LOC"]
    pred = ["O", "B-PER", "O", "B-LOC", "B-PER"]
    confusion = word_confusion(gold, pred, labels=["O", "B-PER", "I-PER", "B-LOC"])
    assert confusion == {
        "labels": ["O", "B-PER", "I-PER", "B-LOC"],
        "counts": [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]],
    }
    assert all(type(count) is int for row in confusion["counts"] for count in row)


def test_word_confusion_on_validation(validation_pair):
    gold, pred = (list(chain(*side)) for side in validation_pair)
    counts = np.array(word_confusion(gold, pred, labels=LABELS)["counts"])
    assert counts.sum() == len(gold)
    assert counts[LABELS.index("B-PER")].sum() == gold.count("B-PER")
    assert counts[:, LABELS.index("I-LOC")].sum() == pred.count("I-LOC")
    assert np.trace(counts) / len(gold) == pytest.approx(word_accuracy(gold, pred))


def test_word_confusion_takes_pandas_strings():
    frame = pd.DataFrame({"gold": ["O", "B-PER", "O"], "pred": ["O", "O", "O"]}, dtype="string")
    confusion = word_confusion(frame["gold"], frame["pred"], labels=["O", "B-PER"])
    assert confusion["counts"] == [[2, 0], [1, 0]]
    assert word_accuracy(frame["gold"], frame["pred"]) == pytest.approx(2 / 3)


def test_word_confusion_empty_and_bad_input():
    assert word_confusion([], [], labels=["O", "B-PER"])["counts"] == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match="B-FOO"):
        word_confusion(["O", "B-FOO"], ["O", "O"], labels=["O", "B-PER"])
    with pytest.raises(ValueError, match="flat"):
        word_confusion([["O"]], [["O"]], labels=["O"])
    with pytest.raises(ValueError, match="2 gold"):
        word_confusion(["O", "O"], ["O"], labels=["O"])


def test_word_accuracy():
    assert word_accuracy(["O", "B-PER", "I-PER", "O"], ["O", "B-PER", "O", "B-LOC"]) == 0.5
    assert word_accuracy(("O",), ("O",)) == 1.0
    assert word_accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        word_accuracy(["O"], [])


# --- error_counts --------------------------------------------------------------------------------


def test_error_counts_by_hand():
    records = classify_spans([(0, 1, "PER"), (2, 3, "LOC"), (5, 6, "PER")], [(0, 1, "PER"), (7, 8, "ORG")])
    counts = error_counts(records)
    assert list(counts) == list(ERROR_CATEGORIES)
    assert counts[CORRECT] == {"PER": 1}
    assert counts[MISSED] == {"LOC": 1, "PER": 1}
    assert counts[SPURIOUS] == {"ORG": 1}
    assert all(counts[c] == {} for c in ERROR_CATEGORIES if c not in (CORRECT, MISSED, SPURIOUS))
    assert error_counts([]) == {category: {} for category in ERROR_CATEGORIES}


def test_error_counts_totals_on_validation(validation_pair):
    records = [
        record
        for gold_tags, pred_tags in zip(*validation_pair)
        for record in classify_spans(extract_spans(gold_tags), extract_spans(pred_tags))
    ]
    counts = error_counts(records)
    assert set(counts) == set(ERROR_CATEGORIES)
    assert sum(n for by_type in counts.values() for n in by_type.values()) == len(records)
    assert all(counts[category] for category in ERROR_CATEGORIES)  # corruption produces every category
    # Correct spans are seqeval's true positives; gold records are its support.
    report = entity_report(*validation_pair)
    assert sum(counts[CORRECT].values()) == round(report["micro avg"]["recall"] * report["micro avg"]["support"])
    assert sum(sum(counts[c].values()) for c in ERROR_CATEGORIES if c != SPURIOUS) == report["micro avg"]["support"]
    # A frame (such as span_errors.parquet read back) gives the same counts.
    frame = pd.DataFrame(records).astype({"category": "string", "type": "string"})
    assert error_counts(frame) == counts


def test_error_counts_refuses_unknown_category():
    with pytest.raises(ValueError, match="typo"):
        error_counts([{"category": "typo", "type": "PER"}])


# --- normalise_confusion -------------------------------------------------------------------------

COUNTS = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])


def test_normalise_confusion_rows():
    expected = [[0.8, 0.2, 0.0], [0.25, 0.75, 0.0], [0.0, 0.0, 0.0]]  # a row with no word stays 0
    np.testing.assert_allclose(normalise_confusion(COUNTS), expected)


def test_normalise_confusion_errors_share_the_original_row_total():
    expected = [[0.0, 0.2, 0.0], [0.25, 0.0, 0.0], [0.0, 0.0, 0.0]]  # rows sum to the error rate
    np.testing.assert_allclose(normalise_confusion(COUNTS, zero_diagonal=True), expected)
    np.testing.assert_array_equal(
        normalise_confusion(COUNTS, normalise=False, zero_diagonal=True), [[0, 2, 0], [1, 0, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(normalise_confusion(COUNTS, normalise=False), COUNTS)
    assert COUNTS[0, 0] == 8  # the input is left alone


def test_normalise_confusion_refuses_non_square():
    with pytest.raises(ValueError, match="square"):
        normalise_confusion(np.zeros((2, 3)))


def test_entity_confusion_has_none_for_missed_and_spurious():
    import pandas as pd

    from explainer.analysis.metrics import entity_confusion

    errors = pd.DataFrame(
        {
            "gold_type": ["PER", "PER", "LOC", None, "LOC"],
            "pred_type": ["PER", "ORG", None, "LOC", "LOC"],
        }
    )
    confusion = entity_confusion(errors, types=["LOC", "ORG", "PER"])
    assert confusion["labels"] == ["LOC", "ORG", "PER", "none"]
    counts = confusion["counts"]
    assert counts[0] == [1, 0, 0, 1]  # LOC: one right, one missed
    assert counts[2] == [0, 1, 1, 0]  # PER: one right, one as ORG
    assert counts[3] == [1, 0, 0, 0]  # a spurious LOC
    # Rows add up to the gold spans, columns to the predicted ones.
    assert [sum(row) for row in counts[:3]] == [2, 0, 2]
    assert [sum(column) for column in zip(*counts)][:3] == [2, 1, 1]
