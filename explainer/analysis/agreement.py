"""Agreement between reviewers (pure: decisions in, numbers out).

An example reviewed by two or more reviewers is a *pair*: the latest decision of each of the first two reviewers who
decided it. Over the pairs:

- token-level Cohen's kappa of their corrected tags (scikit-learn's ``cohen_kappa_score``), chance-corrected;
- span-level F1 between the two reviewers per entity type (exact spans; symmetric: 2·matches / (spans of one +
  spans of the other));
- the disagreements: pairs whose tags differ and that no later decision by someone else (or an agreement of the
  two) has settled.

Decisions are the dicts of :mod:`explainer.review.store` (``key``, ``reviewer``, ``revision``, ``corrected``,
``time``), oldest first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.metrics import cohen_kappa_score

from explainer.analysis.spans import extract_spans

Decision = Mapping[str, Any]


@dataclass(frozen=True)
class Pair:
    """Two reviewers' latest decisions on one example."""

    key: str
    first: Decision
    second: Decision
    settled_by: Decision | None  # a later decision that settles a disagreement, None when there is none

    @property
    def agree(self) -> bool:
        return list(self.first["corrected"]) == list(self.second["corrected"])


@dataclass(frozen=True)
class Agreement:
    n_pairs: int
    kappa: float | None  # None without pairs, or when every tag is the same one
    span_f1: dict[str, float]  # per entity type, plus "all"
    span_support: dict[str, int]  # spans of both reviewers per type
    disagreements: list[Pair]  # unsettled, oldest first
    reviewers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> decisions, first, last, per hour


def pairs(decisions: Sequence[Decision]) -> list[Pair]:
    """The examples decided by at least two reviewers, with the first two reviewers' latest decisions."""
    by_key: dict[str, dict[str, Decision]] = defaultdict(dict)  # key -> reviewer -> latest decision (insertion order)
    last: dict[str, Decision] = {}
    for decision in decisions:
        name = decision.get("reviewer") or ""
        by_key[str(decision["key"])][name] = decision
        last[str(decision["key"])] = decision
    found = []
    for key, reviewers in by_key.items():
        if len(reviewers) < 2:
            continue
        names = list(reviewers)[:2]
        first, second = reviewers[names[0]], reviewers[names[1]]
        latest = last[key]
        newest_pair = max(_revision(first), _revision(second))
        settled = latest if _revision(latest) > newest_pair and (latest.get("reviewer") or "") not in names else None
        found.append(Pair(key=key, first=first, second=second, settled_by=settled))
    return found


def _revision(decision: Decision) -> int:
    return int(decision.get("revision") or 0)


def span_agreement(found: Sequence[Pair]) -> tuple[dict[str, float], dict[str, int]]:
    """Per-type exact-span F1 between the two reviewers of each pair (and "all")."""
    matches: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for pair in found:
        one = set(extract_spans(list(pair.first["corrected"])))
        other = set(extract_spans(list(pair.second["corrected"])))
        for _start, _end, kind in one & other:
            matches[kind] += 1
            matches["all"] += 1
        for _start, _end, kind in [*one, *other]:
            totals[kind] += 1
            totals["all"] += 1
    f1 = {kind: 2 * matches[kind] / totals[kind] for kind in sorted(totals)}
    return f1, dict(totals)


def token_kappa(found: Sequence[Pair]) -> float | None:
    """Cohen's kappa over every word of every pair (None when there is nothing to compare or one tag only)."""
    first = [tag for pair in found for tag in pair.first["corrected"]]
    second = [tag for pair in found for tag in pair.second["corrected"]]
    if not first or len(set(first) | set(second)) < 2:
        return None
    return float(cohen_kappa_score(first, second))


def reviewer_pace(decisions: Sequence[Decision]) -> dict[str, dict[str, Any]]:
    """Per reviewer: number of decisions, first and last time, and decisions per hour between them."""
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for decision in decisions:
        name = decision.get("reviewer") or "(no name)"
        when = _parse_time(decision.get("time"))
        times[name].append(when) if when else times[name]
    pace: dict[str, dict[str, Any]] = {}
    for name in sorted({d.get("reviewer") or "(no name)" for d in decisions}):
        stamps = sorted(times[name])
        count = sum(1 for d in decisions if (d.get("reviewer") or "(no name)") == name)
        hours = (stamps[-1] - stamps[0]).total_seconds() / 3600 if len(stamps) > 1 else 0.0
        pace[name] = {
            "decisions": count,
            "first": stamps[0].isoformat() if stamps else None,
            "last": stamps[-1].isoformat() if stamps else None,
            "per_hour": round(count / hours, 1) if hours > 0 else None,
        }
    return pace


def _parse_time(value: object) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def agreement(decisions: Sequence[Decision]) -> Agreement:
    """Kappa, span F1 per type, unsettled disagreements and each reviewer's pace, from a review's decisions.

    >>> a = {"key": "k", "reviewer": "ann", "revision": 1, "corrected": ["B-PER", "O"], "time": "2026-01-01T10:00:00Z"}
    >>> b = {"key": "k", "reviewer": "bob", "revision": 2, "corrected": ["B-LOC", "O"], "time": "2026-01-01T11:00:00Z"}
    >>> result = agreement([a, b])
    >>> result.n_pairs, result.span_f1["all"], len(result.disagreements)
    (1, 0.0, 1)
    """
    found = pairs(decisions)
    f1, support = span_agreement(found)
    open_disagreements = [pair for pair in found if not pair.agree and pair.settled_by is None]
    return Agreement(
        n_pairs=len(found),
        kappa=token_kappa(found),
        span_f1=f1,
        span_support=support,
        disagreements=open_disagreements,
        reviewers=reviewer_pace(decisions),
    )


def double_review_keys(keys: Sequence[str], share: float) -> set[str]:
    """The examples (by key) that go to two reviewers: a stable ``share`` of them, chosen by the key's hash (the
    same on every host and every restart)."""
    if share <= 0:
        return set()
    cut = int(share * 10_000)
    return {key for key in keys if _bucket(str(key)) < cut}


def _bucket(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 10_000
