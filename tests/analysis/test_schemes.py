"""nervaluate's four schemes (explainer.analysis.schemes) equal nervaluate 1.2.1's own counts and scores."""

from __future__ import annotations

import random

import pytest

from explainer.analysis.schemes import COUNT_NAMES, SCHEMES, scheme_scores, spans_by_example
from explainer.analysis.spans import extract_spans

nervaluate = pytest.importorskip("nervaluate")  # a test-only dependency (the dev extra)
TAGS = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def as_dicts(spans):
    # nervaluate's ends are inclusive
    return [{"label": kind, "start": start, "end": end - 1} for start, end, kind in spans]


def reference(examples):
    gold = [as_dicts(g) for g, _ in examples]
    pred = [as_dicts(p) for _, p in examples]
    tags = sorted({span[2] for g, p in examples for span in [*g, *p]})
    return nervaluate.Evaluator(gold, pred, tags=tags, loader="dict").evaluate()


def assert_same(ours, theirs):
    for scheme in SCHEMES:
        for name in COUNT_NAMES:
            assert ours[scheme][name] == getattr(theirs[scheme], name), (scheme, name)
        for name in ("precision", "recall", "f1"):
            assert ours[scheme][name] == pytest.approx(getattr(theirs[scheme], name)), (scheme, name)


def random_examples(seed, n=80):
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        length = rng.randint(1, 10)
        gold = [rng.choice(TAGS) for _ in range(length)]
        pred = [tag if rng.random() < 0.6 else rng.choice(TAGS) for tag in gold]
        examples.append((extract_spans(gold), extract_spans(pred)))
    return examples


@pytest.mark.parametrize("seed", range(6))
def test_schemes_equal_nervaluate(seed):
    examples = random_examples(seed)
    ours, theirs = scheme_scores(examples), reference(examples)
    assert_same(ours["overall"], theirs["overall"])
    assert set(ours["by_type"]) == set(theirs["entities"])
    for kind, per_scheme in theirs["entities"].items():
        assert_same(ours["by_type"][kind], per_scheme)


def test_overlapping_predictions_and_hand_cases():
    # A prediction spanning two gold spans, a split entity, a type change: the classic SemEval table.
    examples = [
        ([(0, 1, "PER"), (2, 3, "PER")], [(0, 3, "PER")]),
        ([(0, 3, "ORG")], [(0, 1, "ORG"), (1, 3, "ORG")]),
        ([(0, 2, "LOC")], [(0, 2, "ORG")]),
        ([], [(4, 5, "LOC")]),
    ]
    ours = scheme_scores(examples)
    assert_same(ours["overall"], reference(examples)["overall"])
    assert ours["overall"]["exact"]["correct"] == 1 and ours["overall"]["strict"]["correct"] == 0


def test_on_the_tiny_cache(tiny_cache):
    from explainer.cache.reader import open_cache

    examples = spans_by_example(open_cache(tiny_cache).spans)
    assert_same(scheme_scores(examples)["overall"], reference(examples)["overall"])
