"""Agreement between reviewers (explainer/analysis/agreement.py) on hand-made decisions."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from explainer.analysis.agreement import agreement, double_review_keys, pairs

WORDS = ["Anna", "met", "Bo", "in", "Oslo"]


def made(key, reviewer, revision, tags, time="2026-12-01T10:00:00Z"):
    return {"key": key, "reviewer": reviewer, "revision": revision, "corrected": tags, "words": WORDS, "time": time}


def test_kappa_and_span_f1_between_two_reviewers_per_type():
    decisions = [
        made("a", "ann", 1, ["B-PER", "O", "B-PER", "O", "B-LOC"]),
        made("a", "bob", 2, ["B-PER", "O", "B-PER", "O", "B-ORG"]),
        made("b", "ann", 1, ["O", "O", "O", "O", "B-LOC"]),
        made("b", "bob", 2, ["O", "O", "O", "O", "B-LOC"]),
        made("c", "ann", 1, ["B-PER", "O", "O", "O", "O"]),  # one reviewer only: not a pair
    ]
    result = agreement(decisions)
    assert result.n_pairs == 2
    first = ["B-PER", "O", "B-PER", "O", "B-LOC", "O", "O", "O", "O", "B-LOC"]
    second = ["B-PER", "O", "B-PER", "O", "B-ORG", "O", "O", "O", "O", "B-LOC"]
    assert result.kappa == pytest.approx(cohen_kappa_score(first, second))
    assert result.span_f1["PER"] == 1.0 and result.span_f1["LOC"] == pytest.approx(2 * 1 / 3)
    assert result.span_f1["ORG"] == 0.0 and result.span_support["all"] == 8
    assert [pair.key for pair in result.disagreements] == ["a"]


def test_a_third_reviewer_settles_a_disagreement_and_a_reviewers_latest_decision_counts():
    decisions = [
        made("a", "ann", 1, ["B-PER", "O", "O", "O", "O"]),
        made("a", "bob", 2, ["B-ORG", "O", "O", "O", "O"]),
        made("a", "ann", 3, ["B-ORG", "O", "O", "O", "O"]),  # ann changes her mind: now they agree
        made("b", "ann", 1, ["B-PER", "O", "O", "O", "O"]),
        made("b", "bob", 2, ["O", "O", "O", "O", "O"]),
        made("b", "cy", 3, ["B-PER", "O", "O", "O", "O"]),  # settled by a third reviewer
        made("c", "ann", 1, ["B-PER", "O", "O", "O", "O"]),
        made("c", "bob", 2, ["O", "O", "O", "O", "O"]),  # open
    ]
    found = {pair.key: pair for pair in pairs(decisions)}
    assert found["a"].agree and found["b"].settled_by["reviewer"] == "cy" and found["c"].settled_by is None
    assert [pair.key for pair in agreement(decisions).disagreements] == ["c"]


def test_pace_counts_each_reviewers_decisions_per_hour():
    decisions = [
        made("a", "ann", 1, ["O"] * 5, "2026-12-01T10:00:00Z"),
        made("b", "ann", 1, ["O"] * 5, "2026-12-01T10:30:00Z"),
        made("c", "ann", 1, ["O"] * 5, "2026-12-01T11:00:00Z"),
        made("d", "bob", 1, ["O"] * 5, "2026-12-01T11:00:00Z"),
    ]
    reviewers = agreement(decisions).reviewers
    assert reviewers["ann"]["decisions"] == 3 and reviewers["ann"]["per_hour"] == 3.0
    assert reviewers["bob"]["per_hour"] is None and agreement([]).kappa is None


def test_the_double_review_share_is_stable_and_about_the_share():
    keys = [f"{index:016x}" for index in range(4000)]
    chosen = double_review_keys(keys, 0.1)
    assert 300 < len(chosen) < 500 and chosen == double_review_keys(list(reversed(keys)), 0.1)
    assert double_review_keys(keys, 0) == set() and double_review_keys(keys, 1.0) == set(keys)
