"""Span-level findings on hand-made examples: candidates, kinds, fixes, the three signals and the ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis import findings as f

LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def frame(examples) -> pd.DataFrame:
    """words.parquet-like rows from ``[[(word, gold, pred), ...], ...]``."""
    rows = [
        {"example_id": e, "word_index": i, "word": w, "gold": g, "pred": p}
        for e, sentence in enumerate(examples)
        for i, (w, g, p) in enumerate(sentence)
    ]
    return pd.DataFrame(rows)


def sports(country_tag: str, pred: str = "B-LOC"):
    return [("Germany", country_tag, pred), ("beat", "O", "O"), ("Wales", "B-LOC", "B-LOC")]


def test_differing_regions_groups_overlapping_spans_and_skips_agreement():
    gold = [(0, 2, "PER"), (4, 5, "LOC"), (7, 8, "ORG")]
    other = [(0, 1, "PER"), (4, 5, "LOC"), (9, 10, "ORG")]
    assert f.differing_regions(gold, other) == [
        (0, 2, [(0, 2, "PER")], [(0, 1, "PER")]),
        (7, 8, [(7, 8, "ORG")], []),
        (9, 10, [], [(9, 10, "ORG")]),
    ]


@pytest.mark.parametrize(
    ("gold", "fix", "kind"),
    [
        ([(0, 1, "LOC")], [(0, 1, "ORG")], f.WRONG_TYPE),
        ([(0, 2, "LOC")], [(0, 1, "LOC")], f.WRONG_BOUNDARY),
        ([(0, 2, "LOC")], [(0, 1, "ORG")], f.WRONG_BOUNDARY),
        ([], [(0, 1, "ORG")], f.MISSING),
        ([(0, 1, "ORG")], [], f.SPURIOUS),
    ],
)
def test_kind_of(gold, fix, kind):
    assert f.kind_of(gold, fix) == kind


def test_the_model_proposes_its_span_with_the_cleanlab_score_as_evidence():
    words = frame([[("John", "B-PER", "B-PER"), ("Smith", "O", "I-PER"), ("left", "O", "O")]])
    quality = np.array([0.9, 0.05, 0.95])
    found = f.find_label_errors(words, labels=LABELS, word_quality=quality)
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["start"], row["end"], row["kind"]) == (0, 2, f.WRONG_BOUNDARY)
    assert list(row["gold_spans"]) == ["0,1,PER"] and list(row["fix_spans"]) == ["0,2,PER"]
    assert list(row["fix_tags"]) == ["B-PER", "I-PER"]
    assert row["model"] == pytest.approx(0.95)  # 1 - quality of the only changed word
    assert row["sources"] == "model" and "0.05" in row["evidence"]
    assert np.isnan(row["neighbours"])


def test_consistency_proposes_the_majority_label_of_a_surface_form():
    # Germany is LOC in four sports results and ORG in one; the model agrees with the gold everywhere.
    examples = [sports("B-LOC") for _ in range(4)] + [sports("B-ORG", pred="B-ORG")]
    found = f.find_label_errors(frame(examples), labels=LABELS)
    assert len(found) == 1
    row = found.iloc[0]
    assert row["example_id"] == 4 and row["kind"] == f.WRONG_TYPE
    assert list(row["fix_spans"]) == ["0,1,LOC"] and row["sources"] == "consistency"
    assert row["consistency"] == pytest.approx(4 / 5)  # 4 of 4 others, smoothed by one
    assert "LOC 4 of 4 times" in row["evidence"]


def test_consistency_finds_a_missing_entity_and_leaves_a_split_vote_alone():
    missing = [sports("B-LOC") for _ in range(3)] + [sports("O", pred="O")]
    found = f.find_label_errors(frame(missing), labels=LABELS)
    assert [(r.example_id, r.kind, list(r.fix_tags)) for r in found.itertuples()] == [(3, f.MISSING, ["B-LOC"])]
    split = [sports("B-LOC"), sports("B-LOC"), sports("B-ORG", pred="B-ORG"), sports("B-ORG", pred="B-ORG")]
    assert f.find_label_errors(frame(split), labels=LABELS).empty  # 2 against 2: no majority to follow


def test_consistency_skips_an_occurrence_inside_a_longer_span():
    examples = [sports("B-LOC") for _ in range(3)] + [
        [("Germany", "B-ORG", "B-ORG"), ("AG", "I-ORG", "I-ORG"), ("won", "O", "O")]
    ]
    assert f.find_label_errors(frame(examples), labels=LABELS).empty


def test_neighbour_tags_count_other_examples_only():
    vectors = np.array([[1.0, 0.0], [1.0, 0.01], [0.99, 0.02], [0.0, 1.0], [0.01, 1.0]])
    gold = np.array([1, 1, 3, 0, 0])
    examples = np.array([0, 0, 1, 2, 3])
    shares = f.neighbour_tags(vectors, gold, examples, n_labels=len(LABELS), k=2)
    assert shares.shape == (5, len(LABELS))
    # word 0's neighbours: word 2 (example 1) and then the nearer of example 2/3; word 1 is its own example
    assert shares[0, 3] == pytest.approx(0.5) and shares[0, 1] == 0
    assert shares[3, 0] == pytest.approx(0.5)  # word 4 is O, the other neighbour is further away
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


def test_neighbour_tags_stay_within_groups():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    shares = f.neighbour_tags(
        vectors, np.array([1, 3, 3]), np.array([0, 1, 2]), n_labels=len(LABELS), k=1, groups=np.array([0, 1, 1])
    )
    assert shares[1, 3] == 1.0 and shares[2, 3] == 1.0
    assert shares[0].sum() == 0  # alone in its group: no neighbour


def test_the_neighbour_tagger_proposes_and_scores_a_fix():
    words = frame([[("Acme", "O", "O"), ("rose", "O", "O")]])
    shares = np.zeros((2, len(LABELS)), dtype=np.float32)
    shares[0, LABELS.index("B-ORG")], shares[0, 0] = 0.8, 0.2
    shares[1, 0] = 1.0
    found = f.find_label_errors(words, labels=LABELS, neighbour_shares=shares)
    row = found.iloc[0]
    assert (row["kind"], list(row["fix_tags"]), row["sources"]) == (f.MISSING, ["B-ORG"], "neighbours")
    assert row["neighbours"] == pytest.approx(0.8)


def test_the_combined_score_ranks_and_rescales_without_a_signal():
    words = frame(
        [
            [("Paris", "B-PER", "B-LOC")],  # the model disagrees strongly
            [("Lyon", "B-PER", "B-LOC")],  # ... and weakly
        ]
    )
    found = f.find_label_errors(
        words, labels=LABELS, word_quality=np.array([0.1, 0.6]), weights={"model": 0.5, "consistency": 0.5}
    )
    assert list(found["example_id"]) == [0, 1]
    # consistency is 0 everywhere (no other occurrence) but available, so it keeps its half
    assert found["score"].tolist() == pytest.approx([0.45, 0.2])
    scores = f.example_scores(found, 3)
    assert scores.tolist() == pytest.approx([0.45, 0.2, 0.0])


def test_combined_score_leaves_out_a_signal_nobody_has():
    table = pd.DataFrame({"model": [0.8], "consistency": [0.0], "neighbours": [np.nan]})
    assert f.combined_score(table, {"model": 0.5, "consistency": 0.25, "neighbours": 0.25})[0] == pytest.approx(
        0.8 * 0.5 / 0.75
    )


def test_apply_fix_replaces_the_region_and_repairs_a_cut_span():
    finding = {"start": 1, "end": 2, "fix_tags": ["O"]}
    assert f.apply_fix(["B-ORG", "I-ORG", "I-ORG"], finding) == ["B-ORG", "O", "B-ORG"]
    with pytest.raises(ValueError, match="do not fit"):
        f.apply_fix(["O"], {"start": 0, "end": 2, "fix_tags": ["O", "O"]})


def test_no_words_no_findings():
    found = f.find_label_errors(frame([]).reindex(columns=["example_id", "word_index", "word", "gold"]), labels=LABELS)
    assert found.empty and list(found.columns) == list(f.COLUMNS)


def test_surface_forms_count_the_other_occurrences_by_label_even_as_they_grow():
    words = [["Paris", "is", "big"], ["Paris", "Hilton"], ["in", "Paris"]]
    gold = [[(0, 1, "LOC")], [(0, 2, "PER")], [(1, 2, "LOC")]]
    surface = f.index_surface_forms(words, gold, [("Paris",)])
    assert surface.others(("Paris",), 0, 0) == {"LOC": 1, "partial": 1}
    assert surface.others(("Paris",), 1, 0) == {"LOC": 2}
    assert surface.others(("Paris",), 5, 0) == {"LOC": 2, "partial": 1}  # not one of them: all count
    surface.places[("Paris",)]["LOC"].append((3, 4))  # a later occurrence is seen, not a stale lookup
    assert surface.others(("Paris",), 0, 0) == {"LOC": 2, "partial": 1}


def clustered_words(n_per_cluster: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words in 6 noisy clusters of 16-d vectors, each cluster mostly one tag, 4 words per example."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 16))
    cluster = np.repeat(np.arange(6), n_per_cluster)
    vectors = centres[cluster] + 0.6 * rng.normal(size=(len(cluster), 16))
    gold = np.where(rng.random(len(cluster)) < 0.8, cluster % 3, rng.integers(0, 3, len(cluster)))
    examples = rng.permutation(len(cluster)) // 4
    return vectors, gold, examples


@pytest.mark.slow  # pynndescent compiles its kernels once per process (~30 s with numba's cache)
def test_the_approximate_search_finds_the_exact_neighbour_shares_within_groups():
    vectors, gold, examples = clustered_words(100, seed=0)
    groups = (np.arange(len(gold)) >= 400).astype(int)  # 400 words searched approximately, 200 exactly
    exact = f.neighbour_tags(vectors, gold, examples, n_labels=3, groups=groups)
    approximate = f.neighbour_tags(vectors, gold, examples, n_labels=3, groups=groups, exact_limit=300)
    first = groups == 0
    # same shares for nearly every word of the large group (NN-descent's recall is not 1) ...
    assert np.mean(np.all(np.isclose(approximate[first], exact[first]), axis=1)) >= 0.9
    assert np.abs(approximate[first] - exact[first]).sum(axis=1).mean() / 2 <= 0.02
    np.testing.assert_array_equal(approximate[~first], exact[~first])  # ... and the small one is exact
    # seeded: the same graph every run
    again = f.neighbour_tags(vectors, gold, examples, n_labels=3, groups=groups, exact_limit=300)
    np.testing.assert_array_equal(again, approximate)
    # within groups: the small group's words, copied into the large one with other tags, change nothing there
    copied = np.concatenate([vectors, vectors[400:]])
    moved = f.neighbour_tags(
        copied,
        np.concatenate([gold, (gold[400:] + 1) % 3]),
        np.concatenate([examples, examples[400:] + 1000]),
        n_labels=3,
        groups=np.concatenate([groups, np.zeros(200, int)]),
        exact_limit=300,
    )
    np.testing.assert_array_equal(moved[400:600], exact[400:])


def test_every_word_of_a_group_is_a_candidate_neighbour():
    # no reference sample: the one other word with tag 2 is found by every word near it
    vectors, gold, examples = clustered_words(30, seed=1)
    gold[:] = 0
    vectors[0], vectors[1], gold[1], examples[0], examples[1] = 50.0, 50.0, 2, 0, 1_000
    shares = f.neighbour_tags(vectors, gold, examples, n_labels=3, k=1, dimensions=None)
    assert shares[0, 2] == 1.0 and shares[1, 0] == 1.0
