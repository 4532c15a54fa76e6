"""Slices of examples named by hand (explainer.analysis.own_slices): names, pasted ids, scores with intervals
beside the rest of the dataset."""

from __future__ import annotations

import random

import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from explainer.analysis import own_slices, slices
from explainer.analysis.spans import extract_spans
from explainer.errors import ExplainerError

TAGS = ["O", "O", "B-PER", "I-PER", "B-ORG", "B-LOC"]


def corpus(seed: int = 0, n: int = 60):
    """Tag sequences and their span frame (``example_id, side, matched`` as the build stores them)."""
    import pandas as pd

    rng = random.Random(seed)
    gold = [[rng.choice(TAGS) for _ in range(rng.randint(1, 8))] for _ in range(n)]
    pred = [[tag if rng.random() < 0.75 else rng.choice(TAGS) for tag in sequence] for sequence in gold]
    rows = []
    for example_id, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        gold_spans, pred_spans = set(extract_spans(gold_tags)), set(extract_spans(pred_tags))
        rows += [(example_id, "gold", span in pred_spans) for span in sorted(gold_spans)]
        rows += [(example_id, "pred", span in gold_spans) for span in sorted(pred_spans)]
    return gold, pred, pd.DataFrame(rows, columns=["example_id", "side", "matched"])


@pytest.mark.parametrize("name", ["unseen ORG", "tweets_2017", "Köln-Bonn", "a", "v1.2"])
def test_good_names_are_kept_without_surrounding_spaces(name):
    assert own_slices.check_name(f"  {name} ") == name


@pytest.mark.parametrize(
    "name, says",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 61, "at most 60"),
        ("<b>bold</b>", "letters, digits"),
        ("a/b", "letters, digits"),
        ("-dash first", "starting with"),
        ("line\nbreak", "letters, digits"),
    ],
)
def test_bad_names_are_refused_in_one_line(name, says):
    with pytest.raises(ExplainerError, match=says) as raised:
        own_slices.check_name(name)
    assert "\n" not in str(raised.value)


def test_pasted_ids_read_numbers_and_ranges_in_any_separators():
    assert own_slices.parse_example_ids("7, 3\n5 - 6;1..2  3", n_examples=10) == [1, 2, 3, 5, 6, 7]


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "holds no example"),
        ("3, x7", "'x7' is not an id"),
        ("4-2", "ends before it starts"),
        ("9, 10", "10 is not an example of this cache"),
        ("0-99999999999", "99999999999 is not an example"),
        ("-3", "not an id"),
    ],
)
def test_bad_ids_are_refused_naming_the_part(text, says):
    with pytest.raises(ExplainerError, match=says):
        own_slices.parse_example_ids(text, n_examples=10)


def test_scores_of_a_slice_and_the_rest_equal_seqeval_on_their_examples():
    gold, pred, frame = corpus(2)
    chosen = list(range(0, 60, 3))
    rest = [index for index in range(60) if index not in chosen]
    row = own_slices.own_slice_scores(frame, {"every third": chosen}, n_examples=60, draws=200).iloc[0]
    picked = lambda tags, ids: [tags[index] for index in ids]  # noqa: E731
    assert row["name"] == "every third" and row["examples"] == 20 and row["rest_examples"] == 40
    assert row["precision"] == pytest.approx(precision_score(picked(gold, chosen), picked(pred, chosen)))
    assert row["recall"] == pytest.approx(recall_score(picked(gold, chosen), picked(pred, chosen)))
    assert row["f1"] == pytest.approx(f1_score(picked(gold, chosen), picked(pred, chosen)))
    assert row["rest_f1"] == pytest.approx(f1_score(picked(gold, rest), picked(pred, rest)))
    assert row["difference"] == pytest.approx(row["f1"] - row["rest_f1"])
    for score in ("precision", "recall", "f1", "rest_f1", "difference"):
        assert row[f"{score}_low"] <= row[score] + 1e-9 <= row[f"{score}_high"] + 2e-9


def test_intervals_are_the_build_bootstrap_of_the_slice_and_seeded():
    _, _, frame = corpus(3)
    chosen = {"first half": list(range(30)), "odd": list(range(1, 60, 2))}
    table = own_slices.own_slice_scores(frame, chosen, n_examples=60, draws=300, seed=7)
    again = own_slices.own_slice_scores(frame, chosen, n_examples=60, draws=300, seed=7)
    assert table.equals(again)
    # The same draws as the build's bucket intervals: the slice as a membership of span rows.
    for index, ids in enumerate(chosen.values()):
        member = frame["example_id"].isin(ids).to_numpy()
        expected = slices.bootstrap_intervals(frame, [member, ~member], n_examples=60, draws=300, seed=7)
        assert [table["f1_low"][index], table["f1_high"][index]] == pytest.approx(expected[0, 2].tolist())
        assert [table["rest_f1_low"][index], table["rest_f1_high"][index]] == pytest.approx(expected[1, 2].tolist())


def test_a_slice_much_worse_than_the_rest_has_a_difference_interval_below_zero():
    import pandas as pd

    rows = []
    for example_id in range(100):
        right = example_id >= 20  # the first 20 examples are always wrong
        rows += [(example_id, "gold", right), (example_id, "pred", right)]
    frame = pd.DataFrame(rows, columns=["example_id", "side", "matched"])
    row = own_slices.own_slice_scores(frame, {"bad": range(20)}, n_examples=100, draws=300).iloc[0]
    assert row["f1"] == 0.0 and row["rest_f1"] == 1.0
    assert row["difference_high"] < 0
    assert own_slices.own_slice_scores(frame, {}, n_examples=100).empty


def test_a_slice_of_examples_without_entities_scores_zero_with_no_support():
    import pandas as pd

    frame = pd.DataFrame({"example_id": [1, 1], "side": ["gold", "pred"], "matched": [True, True]})
    row = own_slices.own_slice_scores(frame, {"empty": [0, 2]}, n_examples=3, draws=50).iloc[0]
    assert row["support"] == 0 and row["f1"] == 0.0 and row["rest_f1"] == 1.0
    assert np.isfinite(row[["f1_low", "f1_high", "difference_low", "difference_high"]].to_numpy(float)).all()
