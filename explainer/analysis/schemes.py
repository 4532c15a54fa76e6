"""nervaluate's four evaluation schemes (strict, exact, partial, ent_type) over the cache's spans.

The schemes of SemEval-2013 task 9.1 as nervaluate 1.2.1 counts them (a test compares with it): within an
example the predictions are taken in order and each is matched to at most one gold span not matched yet,

- *strict*: correct when boundaries and type are equal; a prediction overlapping an unmatched gold span
  otherwise is incorrect;
- *exact*: correct when the boundaries are equal, whatever the type; an overlap otherwise is incorrect;
- *partial*: correct when the boundaries are equal, partial when they only overlap (type ignored);
- *ent_type*: correct when the types are equal and they overlap (the closest boundaries win); an overlap
  of another type is incorrect;

an unmatched prediction is spurious and an unmatched gold span missed. Precision is correct / actual
(correct + incorrect + partial + spurious) and recall correct / possible (correct + incorrect + partial +
missed); partial and ent_type count a partial match as half correct. Spans are ``(start, end, type)``
with ``end`` exclusive, as in explainer/analysis/spans.py. The categories of that module are another
matching (one to one, best first); these are for comparison with papers and tools that report them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Span = tuple[int, int, str]
SCHEMES = ("strict", "exact", "partial", "ent_type")
COUNT_NAMES = ("correct", "incorrect", "partial", "missed", "spurious")


def _overlap(a: Span, b: Span) -> bool:
    return max(a[0], b[0]) < min(a[1], b[1])


def _distance(pred: Span, gold: Span) -> int:
    return abs(pred[0] - gold[0]) + abs(pred[1] - gold[1])


def _match(scheme: str, gold: Sequence[Span], pred: Sequence[Span]) -> dict[str, int]:
    """One example's counts under ``scheme`` (nervaluate's matching, predictions in order)."""
    counts = dict.fromkeys(COUNT_NAMES, 0)
    matched: set[int] = set()
    for candidate in pred:
        correct: int | None = None
        other: int | None = None  # the first overlapping gold span: incorrect or partial
        best_distance: int | None = None
        for index, target in enumerate(gold):
            if index in matched:
                continue
            if scheme == "ent_type":
                if _overlap(candidate, target):
                    if candidate[2] == target[2]:
                        distance = _distance(candidate, target)
                        if best_distance is None or distance < best_distance:
                            correct, best_distance = index, distance
                    elif other is None:
                        other = index
                continue
            same_boundaries = candidate[:2] == target[:2]
            if same_boundaries and (scheme != "strict" or candidate[2] == target[2]):
                correct = index
                break
            if _overlap(candidate, target) and other is None:
                other = index
        if correct is not None:
            counts["correct"] += 1
            matched.add(correct)
        elif other is not None:
            counts["partial" if scheme == "partial" else "incorrect"] += 1
            matched.add(other)
        else:
            counts["spurious"] += 1
    counts["missed"] = len(gold) - len(matched)
    return counts


def _scores(counts: dict[str, int], scheme: str) -> dict[str, Any]:
    actual = counts["correct"] + counts["incorrect"] + counts["partial"] + counts["spurious"]
    possible = counts["correct"] + counts["incorrect"] + counts["partial"] + counts["missed"]
    credit = counts["correct"] + (0.5 * counts["partial"] if scheme in ("partial", "ent_type") else 0.0)
    precision = credit / actual if actual else 0.0
    recall = credit / possible if possible else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {**counts, "actual": actual, "possible": possible, "precision": precision, "recall": recall, "f1": f1}


def scheme_scores(examples: Iterable[tuple[Sequence[Span], Sequence[Span]]]) -> dict[str, Any]:
    """The four schemes' counts and scores over ``(gold spans, predicted spans)`` per example.

    Returns
    -------
    dict
        ``{"overall": {scheme: scores}, "by_type": {type: {scheme: scores}}}`` where scores hold the
        ``COUNT_NAMES`` counts, ``actual``, ``possible``, ``precision``, ``recall`` and ``f1``. Per type,
        each example is scored on that type's spans alone (as nervaluate does).

    Examples
    --------
    >>> scores = scheme_scores([([(0, 2, "PER")], [(0, 1, "PER")])])
    >>> scores["overall"]["partial"]["partial"], scores["overall"]["strict"]["incorrect"]
    (1, 1)
    """
    totals = {scheme: dict.fromkeys(COUNT_NAMES, 0) for scheme in SCHEMES}
    by_type: dict[str, dict[str, dict[str, int]]] = {}
    for gold, pred in examples:
        gold, pred = list(gold), list(pred)
        for scheme in SCHEMES:
            for name, value in _match(scheme, gold, pred).items():
                totals[scheme][name] += value
        for kind in {span[2] for span in gold} | {span[2] for span in pred}:
            typed = by_type.setdefault(kind, {scheme: dict.fromkeys(COUNT_NAMES, 0) for scheme in SCHEMES})
            gold_of, pred_of = [s for s in gold if s[2] == kind], [s for s in pred if s[2] == kind]
            for scheme in SCHEMES:
                for name, value in _match(scheme, gold_of, pred_of).items():
                    typed[scheme][name] += value
    return {
        "overall": {scheme: _scores(totals[scheme], scheme) for scheme in SCHEMES},
        "by_type": {
            kind: {scheme: _scores(counts[scheme], scheme) for scheme in SCHEMES}
            for kind, counts in sorted(by_type.items())
        },
    }


def spans_by_example(spans: Any) -> list[tuple[list[Span], list[Span]]]:
    """The cache's spans table (example_id, source, start, end, type) as (gold, predicted) per example, in
    example and then table order (the order nervaluate takes the predictions in)."""
    grouped: dict[int, tuple[list[Span], list[Span]]] = {}
    for example_id, source, start, end, kind in zip(
        spans["example_id"], spans["source"], spans["start"], spans["end"], spans["type"]
    ):
        pair = grouped.setdefault(int(example_id), ([], []))
        pair[0 if source == "gold" else 1].append((int(start), int(end), str(kind)))
    return [grouped[key] for key in sorted(grouped)]
