"""Two models on hand-made tag sequences: scores against seqeval, the paired bootstrap, transitions, ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis import compare as cmp
from explainer.analysis.metrics import entity_report
from explainer.analysis.spans import classify_spans, extract_spans
from explainer.errors import ExplainerError

# (gold, A's prediction, B's prediction) per example.
EXAMPLES = [
    # A misses Smith's I- tag (boundary), B gets it: fixed. Paris: both right.
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    # A right, B wrong type: broken. "is" spurious LOC in A only: fixed (spurious gone).
    (["B-ORG", "O", "O"], ["B-ORG", "B-LOC", "O"], ["B-LOC", "O", "O"]),
    # Both miss the PER the same way: same error. B adds a spurious MISC: broken.
    (["B-PER", "O", "O"], ["O", "O", "O"], ["O", "O", "B-MISC"]),
    # Both wrong, differently (A wrong type, B boundary): other error. Both predict the same spurious LOC.
    (["B-ORG", "I-ORG", "O", "O"], ["B-LOC", "I-LOC", "O", "B-LOC"], ["B-ORG", "O", "O", "B-LOC"]),
    # No entity, nothing predicted.
    (["O", "O"], ["O", "O"], ["O", "O"]),
]


def tables(examples, side: int):
    """spans, span_errors and examples frames of one model, as the build writes them."""
    spans, errors, rows = [], [], []
    for example_id, tags in enumerate(examples):
        gold, pred = extract_spans(tags[0]), extract_spans(tags[side])
        spans += [
            {"example_id": example_id, "source": source, "start": s, "end": e, "type": t}
            for source, found in (("gold", gold), ("pred", pred))
            for s, e, t in found
        ]
        errors += [{"example_id": example_id, **record} for record in classify_spans(gold, pred)]
        correct = len(set(gold) & set(pred))
        f1 = 1.0 if not gold and not pred else 2 * correct / (len(gold) + len(pred))
        rows.append(
            {
                "example_id": example_id,
                "text": " ".join(f"w{i}" for i in range(len(tags[0]))),
                "total_loss": float(sum(a != b for a, b in zip(tags[0], tags[side]))),
                "f1": f1,
                "words_hash": f"h{example_id}",
                "gold_tags": list(tags[0]),
                "source": f"x.conll:{example_id}",
            }
        )
    error_frame = pd.DataFrame(errors)
    for column in ("gold_start", "gold_end", "pred_start", "pred_end"):
        error_frame[column] = error_frame[column].astype("Int32")
    return pd.DataFrame(spans), error_frame, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sides():
    return tables(EXAMPLES, 1), tables(EXAMPLES, 2)


def test_scores_equal_seqeval_for_both_models(sides):
    (spans_a, _, _), (spans_b, _, _) = sides
    types, counts = cmp.span_counts(spans_a, spans_b, n_examples=len(EXAMPLES))
    scores = cmp.paired_bootstrap(counts, types, resamples=20, seed=0).set_index("type")
    gold = [tags[0] for tags in EXAMPLES]
    for side, column in (("a", 1), ("b", 2)):
        report = entity_report(gold, [tags[column] for tags in EXAMPLES])
        for name in types:
            for metric in cmp.METRICS:
                expected = report[name][metric] if name in report else 0.0
                assert scores.loc[name, f"{metric}_{side}"] == pytest.approx(expected), (name, side, metric)
        for metric in cmp.METRICS:
            assert scores.loc[cmp.OVERALL, f"{metric}_{side}"] == pytest.approx(report["micro avg"][metric])
    assert scores.loc["PER", "support"] == 2 and scores.loc[cmp.OVERALL, "support"] == 5
    assert scores.loc["MISC", "support"] == 0  # a type only predicted still has a row


def test_bootstrap_is_seeded_and_brackets_the_difference(sides):
    (spans_a, _, _), (spans_b, _, _) = sides
    types, counts = cmp.span_counts(spans_a, spans_b, n_examples=len(EXAMPLES))
    first = cmp.paired_bootstrap(counts, types, resamples=300, seed=7, chunk=64)
    again = cmp.paired_bootstrap(counts, types, resamples=300, seed=7, chunk=64)
    other = cmp.paired_bootstrap(counts, types, resamples=300, seed=8, chunk=64)
    pd.testing.assert_frame_equal(first, again)
    assert not first["f1_low"].equals(other["f1_low"])
    assert (first["f1_low"] <= first["f1_diff"] + 1e-12).all() and (first["f1_diff"] <= first["f1_high"] + 1e-12).all()
    assert ((first["f1_p"] > 0) & (first["f1_p"] <= 1)).all()


def test_identical_models_differ_by_nothing(sides):
    (spans_a, _, _), _ = sides
    types, counts = cmp.span_counts(spans_a, spans_a, n_examples=len(EXAMPLES))
    scores = cmp.paired_bootstrap(counts, types, resamples=50, seed=0)
    assert (scores["f1_diff"] == 0).all() and (scores["f1_low"] == 0).all() and (scores["f1_high"] == 0).all()
    assert (scores["f1_p"] == 1).all()


def test_a_consistent_improvement_is_significant_and_a_coin_flip_is_not():
    rng = np.random.default_rng(0)
    n = 400
    counts = np.zeros((n, 1, 5), dtype=np.int64)
    counts[:, 0, cmp._GOLD] = 1
    counts[:, 0, cmp._PRED_A] = counts[:, 0, cmp._PRED_B] = 1
    counts[:, 0, cmp._TP_A] = rng.random(n) < 0.6
    counts[:, 0, cmp._TP_B] = counts[:, 0, cmp._TP_A] | (rng.random(n) < 0.5)  # B keeps A's hits, adds more
    better = cmp.paired_bootstrap(counts, ["PER"], resamples=500, seed=0).set_index("type")
    assert better.loc["PER", "f1_diff"] > 0.15
    assert better.loc["PER", "f1_low"] > 0 and better.loc["PER", "f1_p"] < 0.01
    noise = counts.copy()
    noise[:, 0, cmp._TP_B] = rng.permutation(noise[:, 0, cmp._TP_A])  # same hit rate, other examples
    same = cmp.paired_bootstrap(noise, ["PER"], resamples=500, seed=0).set_index("type")
    assert same.loc["PER", "f1_low"] < 0 < same.loc["PER", "f1_high"] and same.loc["PER", "f1_p"] > 0.5


def test_transitions_of_each_kind(sides):
    (_, errors_a, _), (_, errors_b, _) = sides
    transitions = cmp.span_transitions(errors_a, errors_b)
    found = {
        (row.example_id, row.start, row.end, row.type): (row.transition, row.gold)
        for row in transitions.itertuples(index=False)
    }
    assert found == {
        (0, 0, 2, "PER"): (cmp.FIXED, True),
        (0, 3, 4, "LOC"): (cmp.BOTH_RIGHT, True),
        (1, 0, 1, "ORG"): (cmp.BROKEN, True),
        (1, 1, 2, "LOC"): (cmp.FIXED, False),
        (2, 0, 1, "PER"): (cmp.SAME_ERROR, True),
        (2, 2, 3, "MISC"): (cmp.BROKEN, False),
        (3, 0, 2, "ORG"): (cmp.OTHER_ERROR, True),
        (3, 3, 4, "LOC"): (cmp.SAME_ERROR, False),
    }
    fixed = transitions[(transitions["example_id"] == 0) & (transitions["type"] == "PER")].iloc[0]
    assert (fixed.category_a, fixed.category_b) == ("boundary", "correct")
    assert (fixed.pred_start_a, fixed.pred_end_a, fixed.pred_start_b, fixed.pred_end_b) == (0, 1, 0, 2)
    gone = transitions[(transitions["example_id"] == 1) & ~transitions["gold"]].iloc[0]
    assert (gone.category_a, gone.category_b, gone.pred_start_b) == ("spurious", cmp.NOT_PREDICTED, -1)


def test_transition_counts_add_up_to_the_span_counts(sides):
    (spans_a, errors_a, _), (spans_b, errors_b, _) = sides
    counts = cmp.transition_counts(cmp.span_transitions(errors_a, errors_b)).set_index("type")
    gold = spans_a[spans_a["source"] == "gold"].groupby("type").size()
    for name in counts.index.drop(cmp.OVERALL):
        assert (
            counts.loc[name, list(cmp.TRANSITIONS)].sum()
            == counts.loc[name, "gold spans"] + counts.loc[name, "spurious spans"]
        )
        assert counts.loc[name, "gold spans"] == gold.get(name, 0)
    assert counts.loc[cmp.OVERALL, "gold spans"] == len(spans_a[spans_a["source"] == "gold"]) == 5
    assert counts.loc[cmp.OVERALL, "spurious spans"] == 3
    assert counts.loc[cmp.OVERALL, cmp.FIXED] == 2 and counts.loc[cmp.OVERALL, cmp.BROKEN] == 2


def test_different_gold_spans_are_refused(sides):
    (_, errors_a, _), _ = sides
    changed = errors_a.copy()
    changed.loc[changed["category"] != "spurious", "gold_end"] += 1
    with pytest.raises(ValueError, match="different data"):
        cmp.span_transitions(errors_a, changed)


def test_examples_ranked_and_filtered(sides):
    (_, errors_a, examples_a), (_, errors_b, examples_b) = sides
    transitions = cmp.span_transitions(errors_a, errors_b)
    ranked = cmp.changed_examples(transitions, examples_a, examples_b)
    # 2 changed spans first; then one each, all with a loss change of 1 (ties by id); then none.
    assert list(ranked["example_id"]) == [1, 0, 2, 3, 4]
    assert list(ranked["loss_change"]) == [0, -1, 1, -1, 0]
    assert list(ranked["n_changed"]) == [2, 1, 1, 1, 0]
    first = ranked.iloc[0]
    assert (first.n_fixed, first.n_broken) == (1, 1)
    by_loss = cmp.changed_examples(transitions, examples_a, examples_b, order="loss")
    assert by_loss["loss_change"].abs().is_monotonic_decreasing
    fixed_per = cmp.changed_examples(transitions, examples_a, examples_b, transition=cmp.FIXED, entity_type="PER")
    assert list(fixed_per["example_id"]) == [0] and fixed_per["matching"].tolist() == [1]
    broken = cmp.changed_examples(transitions, examples_a, examples_b, transition=cmp.BROKEN, entity_type="overall")
    assert sorted(broken["example_id"]) == [1, 2]
    with pytest.raises(ValueError, match="order"):
        cmp.changed_examples(transitions, examples_a, examples_b, order="nope")


def test_same_fingerprint_pairs():
    manifest = {"dataset": {"fingerprint": "abc"}}
    cmp.check_same_data(manifest, dict(manifest))


def test_different_data_is_refused_naming_what_differs(sides):
    (_, _, examples), _ = sides
    a, b = {"dataset": {"fingerprint": "aaaa"}}, {"dataset": {"fingerprint": "bbbb"}}
    with pytest.raises(ExplainerError, match=r"A has 5 examples, B 4"):
        cmp.check_same_data(a, b, examples, examples.iloc[:4])
    other_words = examples.copy()
    other_words.loc[2, "words_hash"] = "changed"
    with pytest.raises(ExplainerError, match=r"words of 1 examples differ \(first: example 2, x.conll:2\)"):
        cmp.check_same_data(a, b, examples, other_words)
    other_gold = examples.copy()
    other_gold.at[3, "gold_tags"] = ["O", "O", "O", "O"]
    with pytest.raises(ExplainerError, match=r"gold tags of 1 examples differ \(first: example 3"):
        cmp.check_same_data(a, b, examples, other_gold, names=("old", "new"))
    with pytest.raises(ExplainerError, match=r"fingerprints differ \(A aaaa, B bbbb\)"):
        cmp.check_same_data(a, b)


def test_compare_bundles_everything(sides):
    (spans_a, errors_a, _), (spans_b, errors_b, _) = sides
    result = cmp.compare(
        spans_a=spans_a, spans_b=spans_b, errors_a=errors_a, errors_b=errors_b, n_examples=5, resamples=30, seed=1
    )
    as_json = result.to_json()
    assert as_json["resamples"] == 30 and as_json["scores"][-1]["type"] == cmp.OVERALL
    assert isinstance(as_json["transitions"][0][cmp.FIXED], int)
    assert list(result.counts["type"]) == list(result.scores["type"])


def test_trajectory_lists_f1_per_type_for_each_model_in_order():
    reports = {
        "epoch1": {"PER": {"f1": 0.5}, "LOC": {"f1": 0.25}, "micro avg": {"f1": 0.4}, "macro avg": {"f1": 0.3}},
        "epoch2": {"PER": {"f1": 0.75}, "micro avg": {"f1": 0.6}},  # no LOC row: 0.0
    }
    frame = cmp.trajectory(reports, epochs={"epoch2": 2})
    assert list(frame.columns) == ["name", "epoch", cmp.OVERALL, "LOC", "PER"]
    assert frame.fillna({"epoch": -1}).to_dict(orient="records") == [
        {"name": "epoch1", "epoch": -1, cmp.OVERALL: 0.4, "LOC": 0.25, "PER": 0.5},
        {"name": "epoch2", "epoch": 2, cmp.OVERALL: 0.6, "LOC": 0.0, "PER": 0.75},
    ]


def test_checkpoints_are_ordered_by_epoch_and_models_without_one_by_name_first():
    epochs = {"run-epoch10": 10, "run-epoch2": 2, "zeta": None, "run": 10, "base": None}
    assert cmp.checkpoint_order(epochs) == ["base", "zeta", "run-epoch2", "run", "run-epoch10"]


@pytest.mark.parametrize("big", [1, 2**60])
def test_joint_keys_are_equal_exactly_when_rows_are_packed_or_numbered(big):
    # Small values pack into the bits of one int64; a huge one (over 62 bits in all) falls back to numbering.
    a = np.array([[0, 1, 2, -1], [3, big, 5, 0], [0, 1, 2, -1]], dtype=np.int64)
    b = np.array([[3, big, 5, 0], [0, 1, 2, 0], [7, 7, 7, 7]], dtype=np.int64)
    key_a, key_b = cmp.joint_keys(a, b)
    for i, row_a in enumerate(a):
        for j, row_b in enumerate(b):
            assert (key_a[i] == key_b[j]) == bool((row_a == row_b).all())
    assert key_a[0] == key_a[2] and len(set(key_b)) == 3


def test_confusion_difference_puts_both_on_one_order_and_subtracts(sides):
    from explainer.analysis.metrics import NONE, entity_confusion

    (_, errors_a, _), (_, errors_b, _) = sides
    confusion_a, confusion_b = entity_confusion(errors_a), entity_confusion(errors_b)
    assert "MISC" not in confusion_a["labels"] and "MISC" in confusion_b["labels"]  # only B predicts a MISC
    found = cmp.confusion_difference(confusion_a, confusion_b)
    labels = found["labels"]
    assert labels[-1] == NONE and sorted(labels[:-1]) == ["LOC", "MISC", "ORG", "PER"]
    a, b, difference = (np.array(found[name]) for name in ("a", "b", "difference"))
    assert (difference == b - a).all()
    cell = {(gold, pred): (i, j) for i, gold in enumerate(labels) for j, pred in enumerate(labels)}
    # B's spurious MISC (example 2) is one error more in the none row; A's spurious LOC (example 1) one fewer.
    assert difference[cell[NONE, "MISC"]] == 1 and difference[cell[NONE, "LOC"]] == -1
    # ORG read as LOC: A in example 3, B in example 1, so no change; B gets example 3's ORG type right.
    assert a[cell["ORG", "LOC"]] == b[cell["ORG", "LOC"]] == 1 and difference[cell["ORG", "ORG"]] == 0
    # Each side keeps its totals: rows sum to the gold spans, whatever the union of types.
    for name, confusion in (("a", confusion_a), ("b", confusion_b)):
        assert np.array(found[name]).sum() == np.array(confusion["counts"]).sum()
        assert np.array(found[name])[:-1].sum() == (errors_a["gold_type"].notna()).sum()


def test_confusion_difference_keeps_a_type_only_one_side_has_with_zeros():
    found = cmp.confusion_difference(
        {"labels": ["PER", "none"], "counts": [[3, 1], [2, 0]]},
        {"labels": ["LOC", "PER", "none"], "counts": [[1, 0, 0], [0, 4, 0], [1, 0, 0]]},
    )
    assert found["labels"] == ["PER", "LOC", "none"]
    assert found["a"] == [[3, 0, 1], [0, 0, 0], [2, 0, 0]]
    assert found["b"] == [[4, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert found["difference"] == [[1, 0, -1], [0, 1, 0], [-2, 1, 0]]


def slice_frame(matched_a: list[bool], n_examples: int) -> pd.DataFrame:
    """An attribute frame: per example one gold and one predicted span, short in even examples, long in odd."""
    rows = []
    for example_id in range(n_examples):
        bucket = "short" if example_id % 2 == 0 else "long"
        for side in ("gold", "pred"):
            rows.append(
                {
                    "example_id": example_id,
                    "side": side,
                    "matched": matched_a[example_id],
                    "type": "PER",
                    "bucket:length": bucket,
                }
            )
    frame = pd.DataFrame(rows)
    frame["bucket:length"] = pd.Categorical(frame["bucket:length"], categories=["short", "long"], ordered=True)
    return frame


def test_slice_differences_score_each_bucket_as_slices_do_with_a_paired_interval():
    from explainer.analysis.slices import bucket_scores

    n = 40
    frame_a = slice_frame([i % 4 == 0 for i in range(n)], n)  # A: half the short spans right, no long one
    frame_b = slice_frame([i % 2 == 0 or i % 4 == 1 for i in range(n)], n)  # B: every short, half the long
    buckets_a = bucket_scores(frame_a, ["length"], n_examples=n, draws=50)
    buckets_b = bucket_scores(frame_b, ["length"], n_examples=n, draws=50)
    found = cmp.slice_differences(frame_a, frame_b, pd.concat([buckets_a, buckets_b]), n_examples=n, draws=300)
    assert found["bucket"].tolist() == ["short", "long"]  # bucket order, each once
    for side, buckets in (("a", buckets_a), ("b", buckets_b)):
        expected = buckets[buckets["type"] == ""].set_index("bucket")["f1"]
        assert found.set_index("bucket")[f"f1_{side}"].to_dict() == pytest.approx(expected.to_dict())
    short, long = found.set_index("bucket").loc["short"], found.set_index("bucket").loc["long"]
    assert (short.f1_a, short.f1_b, long.f1_a, long.f1_b) == pytest.approx((0.5, 1.0, 0.0, 0.5))
    assert short.f1_diff == pytest.approx(0.5) and 0 < short.f1_low <= 0.5 <= short.f1_high
    assert short.support_a == 30 and short.support_b == 20  # a right pair counts once


def test_slice_differences_of_a_model_with_itself_are_zero_with_a_zero_interval():
    n = 20
    frame = slice_frame([i % 3 == 0 for i in range(n)], n)
    buckets = pd.DataFrame({"attribute": ["length", "length"], "bucket": ["short", "long"], "order": [0, 1]})
    found = cmp.slice_differences(frame, frame.copy(), buckets, n_examples=n, draws=100)
    assert (found["f1_diff"] == 0).all() and (found["f1_low"] == 0).all() and (found["f1_high"] == 0).all()
    empty = cmp.slice_differences(frame, frame, buckets.iloc[:0], n_examples=n)
    assert empty.empty and "f1_diff" in empty.columns


def test_quantile_buckets_with_other_edges_are_not_compared():
    a = pd.DataFrame({"attribute": ["words", "words", "type", "caps"], "bucket": ["1–5", "6–9", "PER", "mixed"]})
    b = pd.DataFrame({"attribute": ["words", "words", "type", "caps"], "bucket": ["1–4", "5–9", "PER", "none"]})
    # Only a data-dependent (quantile) attribute whose labels moved is dropped: a categorical bucket
    # present on one side only is still the same bucket (empty on the other).
    assert cmp.incomparable_attributes(a, b, {"words", "type"}) == ["words"]
    assert cmp.incomparable_attributes(a, a, {"words", "type"}) == []
