"""Span frames, scores, bootstrap intervals and the weak-slice search (explainer.analysis.slices)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from explainer.analysis import slices
from explainer.analysis.slice_attributes import compute_attributes
from explainer.analysis.slices import Condition, decode_conditions, encode_conditions
from explainer.analysis.spans import extract_spans

TAGS = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC"]


def tables(gold_tags, pred_tags):
    """The cache's spans, words and examples tables of tag sequences (words w0, w1, ...; one subword each)."""
    spans, words, examples, offset = [], [], [], 0
    for example_id, (gold, pred) in enumerate(zip(gold_tags, pred_tags)):
        for side, tags in (("gold", gold), ("pred", pred)):
            spans += [(example_id, side, start, end, kind) for start, end, kind in extract_spans(tags)]
        words += [(example_id, index, f"w{index}", 1 + index % 2) for index in range(len(gold))]
        examples.append((example_id, len(gold), offset))
        offset += len(gold)
    return (
        pd.DataFrame(spans, columns=["example_id", "source", "start", "end", "type"]),
        pd.DataFrame(words, columns=["example_id", "word_index", "word", "n_subwords"]),
        pd.DataFrame(examples, columns=["example_id", "n_words", "word_offset"]),
    )


def random_corpus(seed, n=40):
    rng = random.Random(seed)
    gold = [[rng.choice(TAGS) for _ in range(rng.randint(1, 9))] for _ in range(n)]
    pred = [[tag if rng.random() < 0.7 else rng.choice(TAGS) for tag in sequence] for sequence in gold]
    return gold, pred


def test_span_frame_texts_subwords_and_matches():
    spans, words, examples = tables([["B-PER", "I-PER", "O"], ["B-LOC"]], [["B-PER", "O", "O"], ["B-LOC"]])
    frame = slices.span_frame(spans, words, examples)
    gold_per = frame[(frame["side"] == "gold") & (frame["type"] == "PER")].iloc[0]
    assert gold_per["text"] == "w0 w1" and gold_per["words"] == ("w0", "w1")
    assert gold_per["n_subwords"] == 3  # 1 + 2
    assert gold_per["example_words"] == 3
    assert not gold_per["matched"]  # predicted PER is 0-1, not 0-2
    assert frame[frame["type"] == "LOC"]["matched"].all()
    assert frame[(frame["side"] == "pred") & (frame["type"] == "PER")]["matched"].tolist() == [False]


@pytest.mark.parametrize("seed", range(5))
def test_overall_scores_equal_seqeval_micro(seed):
    gold, pred = random_corpus(seed)
    frame = slices.span_frame(*tables(gold, pred))
    overall = slices.overall_scores(frame)
    assert overall["precision"] == pytest.approx(precision_score(gold, pred))
    assert overall["recall"] == pytest.approx(recall_score(gold, pred))
    assert overall["f1"] == pytest.approx(f1_score(gold, pred))


def test_scores_of_empty_sides_are_zero():
    assert slices.scores(np.array([0, 0, 3, 0])).tolist() == [0.0, 0.0, 0.0]
    assert slices.scores(np.array([4, 2, 2, 2])).tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert slices.support(np.array([4, 2, 3, 2])) == 5


def naive_intervals(frame, member, n_examples, draws, seed):
    """The same bootstrap, one draw at a time (the same random picks as the vectorised version)."""
    counts = slices.example_counts(frame[member], n_examples)
    rng = np.random.default_rng(seed)
    f1s = []
    for start in range(0, draws, slices.DRAW_CHUNK):
        picks = rng.integers(0, n_examples, size=(min(slices.DRAW_CHUNK, draws - start), n_examples))
        f1s += [slices.scores(counts[row].sum(axis=0))[2] for row in picks]
    return np.percentile(f1s, [2.5, 97.5])


def test_bootstrap_matches_a_draw_by_draw_computation_and_is_seeded():
    gold, pred = random_corpus(1, n=60)
    frame = slices.span_frame(*tables(gold, pred))
    members = [np.ones(len(frame), bool), (frame["type"] == "PER").to_numpy()]
    first = slices.bootstrap_intervals(frame, members, n_examples=60, draws=300, seed=4)
    again = slices.bootstrap_intervals(frame, members, n_examples=60, draws=300, seed=4)
    other = slices.bootstrap_intervals(frame, members, n_examples=60, draws=300, seed=5)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    for index, member in enumerate(members):
        assert first[index, 2] == pytest.approx(naive_intervals(frame, member, 60, 300, 4))
    overall = slices.overall_scores(frame)["f1"]
    assert first[0, 2, 0] < overall < first[0, 2, 1]


def test_a_perfect_slice_has_a_point_interval():
    spans, words, examples = tables([["B-PER", "O"]] * 10, [["B-PER", "O"]] * 10)
    frame = slices.span_frame(spans, words, examples)
    intervals = slices.bootstrap_intervals(frame, [np.ones(len(frame), bool)], n_examples=10, draws=100)
    assert intervals[0].tolist() == [[1.0, 1.0]] * 3


def corpus_with_a_weak_group(n=200):
    """Examples of two words: "Known" always right, "Odd" (one example in four) wrong four times in five."""
    gold, pred = [], []
    for index in range(n):
        gold.append(["B-PER", "O"])
        if index % 4 == 0:
            pred.append(["B-ORG", "O"] if index % 5 else ["B-PER", "O"])
        else:
            pred.append(["B-PER", "O"])
    spans, words, examples = tables(gold, pred)
    words.loc[words["word_index"] == 0, "word"] = ["Odd" if i % 4 == 0 else "Known" for i in range(n)]
    examples["n_subwords"] = 4
    examples["windowed"] = False
    examples["source"] = "x.txt:1"
    examples["n_gold_spans"] = 1
    return slices.span_frame(spans, words, examples), examples


def test_weak_slices_find_the_weak_group_with_an_interval_below_the_whole():
    frame, examples = corpus_with_a_weak_group()
    from explainer.analysis.slice_attributes import Reference

    reference = Reference.of([(["Known"], ["B-PER"])], name="train")
    attributes, _, names = compute_attributes(frame, examples, reference=reference)
    overall = slices.overall_scores(attributes)["f1"]
    weak = slices.weak_slices(attributes, [n for n in names if n != "type"], n_examples=len(examples), draws=200)
    assert not weak.empty
    best = weak.iloc[0]
    assert best["conditions"] in ("seen=unseen", "train_frequency=0", "label_consistency=unseen")
    assert best["f1_high"] < overall and best["f1"] < overall
    assert (weak["f1_high"] < overall).all() and (weak["support"] >= slices.MIN_SUPPORT).all()
    assert list(weak["score"]) == sorted(weak["score"], reverse=True)
    # The rows the slice names are the ones it counted.
    mask = slices.slice_mask(attributes, decode_conditions(best["conditions"]), best["type"])
    assert slices.example_counts(attributes[mask], len(examples)).sum(axis=0).tolist() == [
        best[name] for name in slices.COUNTS
    ]
    # Too small a group is not reported, however bad.
    none = slices.weak_slices(attributes, ["seen"], n_examples=len(examples), draws=50, min_support=10_000)
    assert none.empty


def test_bucket_scores_cover_every_bucket_overall_and_per_type():
    frame, examples = corpus_with_a_weak_group(40)
    attributes, _, _ = compute_attributes(frame, examples)
    table = slices.bucket_scores(attributes, ["length", "capitalisation"], n_examples=40, draws=50)
    whole = table[(table["attribute"] == "length") & (table["type"] == "")]
    assert whole["bucket"].tolist() == ["1"]
    assert whole["n_gold"].item() == 40 and whole["n_pred"].item() == 40
    assert set(table["type"]) == {"", "PER", "ORG"}
    assert (table["f1_low"] <= table["f1"] + 1e-9).all() and (table["f1"] <= table["f1_high"] + 1e-9).all()


def test_conditions_round_trip_and_bad_parts_are_ignored():
    conditions = [Condition("seen", "unseen"), Condition("length", "3+")]
    assert decode_conditions(encode_conditions(conditions)) == conditions
    assert decode_conditions("junk;=x;length=2") == [Condition("length", "2")]
    assert decode_conditions(None) == []


def test_coded_masks_and_counts_equal_slice_mask_on_every_condition():
    frame, examples = corpus_with_a_weak_group(80)
    attributes, _, names = compute_attributes(frame, examples)
    coded = slices.CodedSpans.of(attributes)
    cases = [([], ""), ([], "PER"), ([Condition("nope", "x")], ""), ([Condition("length", "no such bucket")], "")]
    for name in names:
        for bucket in attributes[slices.bucket_column(name)].astype(str).unique():
            cases += [([Condition(name, bucket)], ""), ([Condition(name, bucket), Condition("length", "1")], "ORG")]
    for conditions, entity_type in cases:
        expected = slices.slice_mask(attributes, conditions, entity_type)
        assert np.array_equal(coded.mask(conditions, entity_type), expected), (conditions, entity_type)
        assert coded.counts(expected).tolist() == slices.example_counts(attributes[expected], 80).sum(axis=0).tolist()
    assert any(coded.mask(conditions, entity_type).any() for conditions, entity_type in cases[4:])


def test_coded_spans_of_the_stored_arrow_table_mask_as_of_the_frame():
    frame, examples = corpus_with_a_weak_group(80)
    attributes, _, names = compute_attributes(frame, examples)
    # As the build stores them: buckets as plain strings (explainer/pipeline/slices.py), no word tuples.
    stored = attributes.drop(columns=["words"]).astype({slices.bucket_column(name): object for name in names})
    stored.loc[::7, slices.bucket_column("length")] = None  # a missing bucket: in no slice of the attribute
    table = pa.Table.from_pandas(stored, preserve_index=False)
    read = table.to_pandas()  # the frame the app read before: its masks are the reference
    from_frame, from_arrow = slices.CodedSpans.of(read), slices.CodedSpans.of(table)
    assert from_arrow.example_id.dtype == np.int32
    assert np.array_equal(from_arrow.gold, from_frame.gold) and np.array_equal(from_arrow.matched, from_frame.matched)
    cases = [([Condition("length", "None")], "")]
    for name in names:
        for bucket in stored[slices.bucket_column(name)].astype(str).unique():
            cases += [([Condition(name, bucket)], ""), ([Condition(name, bucket)], "PER")]
    for conditions, entity_type in cases:
        expected = slices.slice_mask(read, conditions, entity_type)
        assert np.array_equal(from_arrow.mask(conditions, entity_type), expected), (conditions, entity_type)
    lengths = stored[slices.bucket_column("length")].dropna().unique()
    in_some_length = np.any([from_arrow.mask([Condition("length", bucket)]) for bucket in lengths], axis=0)
    assert in_some_length.sum() == len(stored) - len(stored[::7]) and not in_some_length[::7].any()
    # What own slices are scored on: the same rows in a few bytes each.
    light = from_arrow.frame()
    assert light["example_id"].tolist() == stored["example_id"].tolist()
    assert slices.row_counts(light).tolist() == slices.row_counts(stored).tolist()


def test_errors_in_slice_matches_each_error_by_its_gold_or_predicted_span():
    rng = np.random.default_rng(5)
    n = 400
    spans = pd.DataFrame(
        {
            "example_id": rng.integers(0, 50, n),
            "side": rng.choice(["gold", "pred"], n),
            "start": rng.integers(0, 6, n),
            "type": rng.choice(["PER", "ORG", "LOC"], n),
        }
    )
    spans["end"] = spans["start"] + rng.integers(1, 3, n)
    errors = pd.DataFrame({"example_id": rng.integers(0, 50, n)})
    for prefix in ("gold", "pred"):
        start = rng.integers(0, 6, n).astype(float)
        start[rng.random(n) < 0.3] = np.nan  # a missed span has no prediction, a spurious one no gold span
        errors[f"{prefix}_start"] = start
        errors[f"{prefix}_end"] = start + rng.integers(1, 3, n)
        errors[f"{prefix}_type"] = np.where(np.isnan(start), None, rng.choice(["PER", "ORG", "MISC"], n))
    wanted = {
        side: set(zip(rows["example_id"], rows["start"], rows["end"], rows["type"]))
        for side, rows in spans.groupby("side")
    }
    expected = [
        any(
            pd.notna(row[f"{side}_start"])
            and (row["example_id"], int(row[f"{side}_start"]), int(row[f"{side}_end"]), row[f"{side}_type"])
            in wanted[side]
            for side in ("gold", "pred")
        )
        for _, row in errors.iterrows()
    ]
    found = slices.errors_in_slice(errors, spans)
    assert found.tolist() == expected and 0 < found.sum() < n
    assert not slices.errors_in_slice(errors, spans.iloc[:0]).any()
    # Ids far apart (as they would not pack into one integer key) match the same.
    wide = slices.errors_in_slice(
        errors.assign(example_id=errors["example_id"] * 2**50), spans.assign(example_id=spans["example_id"] * 2**50)
    )
    assert wide.tolist() == expected
