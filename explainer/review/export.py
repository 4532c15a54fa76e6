"""Corrections applied to a list of examples, the exports written from them, and a summary of changes.

The review queue's downloads use these when the original dataset file cannot be merged (it is not a
file, has moved, or is in another form): the examples come from the cache, the tags are the cache's
(IOB2, the model's label names). :mod:`explainer.review.merge` writes into the original file instead.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from explainer.analysis.spans import classify_spans, extract_spans
from explainer.cache.schema import BOUNDARY, CORRECT, MISSED, SPURIOUS, TYPE_AND_BOUNDARY, WRONG_TYPE
from explainer.review.corrections import KINDS

# What a span-level difference between the original and the corrected tags is called.
CHANGE_OF_CATEGORY = {
    MISSED: "span removed",
    SPURIOUS: "span added",
    WRONG_TYPE: "type changed",
    BOUNDARY: "boundary changed",
    TYPE_AND_BOUNDARY: "boundary and type changed",
}
CHANGES = tuple(CHANGE_OF_CATEGORY.values())


@dataclass(frozen=True)
class Item:
    """One example to export: its words, its tags (corrected where a decision changed them)."""

    words: tuple
    tags: tuple
    source: str = ""
    key: str = ""
    corrected: bool = False


def apply_corrections(examples: Iterable, latest: dict) -> list[Item]:
    """Examples with the latest decision applied where it matches.

    Parameters
    ----------
    examples : iterable
        Objects or rows with ``words``, ``gold_tags`` (or ``tags``), ``words_hash`` (or ``key``) and
        ``source``: the rows of a cache's examples table (``itertuples()``) do.
    latest : dict
        ``{key: decision}`` from :func:`explainer.review.corrections.latest_decisions`.

    Returns
    -------
    list of Item
        In the examples' order. A decision applies when its key and its ``original`` tags match the
        example's (an example whose gold tags changed since the review keeps them).
    """
    items = []
    for example in examples:
        words = tuple(example.words)
        tags = tuple(example.gold_tags if hasattr(example, "gold_tags") else example.tags)
        key = str(getattr(example, "words_hash", None) or getattr(example, "key", ""))
        decision = latest.get(key)
        corrected = False
        if decision is not None and tuple(decision["original"]) == tags and tuple(decision["corrected"]) != tags:
            tags, corrected = tuple(decision["corrected"]), True
        items.append(
            Item(words=words, tags=tags, source=str(getattr(example, "source", "")), key=key, corrected=corrected)
        )
    return items


def conll_text(items: Iterable[Item]) -> str:
    """``word tag`` lines, a blank line after each example (CoNLL, two columns)."""
    blocks = ["".join(f"{word} {tag}\n" for word, tag in zip(item.words, item.tags)) for item in items]
    return "\n".join(blocks)


def prodigy_record(words: Sequence[str], tags: Sequence[str], *, meta: dict | None = None) -> dict:
    """A Prodigy-style record: ``text`` (words joined by a space), ``tokens`` and character ``spans``."""
    tokens: list[dict[str, Any]] = []
    offset = 0
    for index, word in enumerate(words):
        tokens.append({"text": word, "start": offset, "end": offset + len(word), "id": index})
        offset += len(word) + 1
    spans = [
        {
            "start": tokens[start]["start"],
            "end": tokens[end - 1]["end"],
            "token_start": start,
            "token_end": end - 1,
            "label": kind,
        }
        for start, end, kind in extract_spans(tags)
    ]
    record: dict[str, Any] = {"text": " ".join(words), "tokens": tokens, "spans": spans}
    if meta:
        record["meta"] = meta
    return record


def prodigy_jsonl(items: Iterable[Item]) -> str:
    """One Prodigy-style record per line (``meta`` holds the source and the example key)."""
    return "".join(
        json.dumps(
            prodigy_record(item.words, item.tags, meta={"source": item.source, "key": item.key}), ensure_ascii=False
        )
        + "\n"
        for item in items
    )


def span_changes(original: Sequence[str], corrected: Sequence[str]) -> list[dict]:
    """The span-level differences between two tag sequences of one example.

    Returns
    -------
    list of dict
        ``{"change", "type", "original": [start, end, type] | None, "corrected": [...] | None}``, one per
        span that is not identical on both sides (the categories of
        :func:`explainer.analysis.spans.classify_spans`, with the original as gold).
    """
    changes = []
    for record in classify_spans(extract_spans(original), extract_spans(corrected)):
        if record["category"] == CORRECT:
            continue
        side = lambda prefix: (
            None
            if record[f"{prefix}_start"] is None
            else [record[f"{prefix}_start"], record[f"{prefix}_end"], record[f"{prefix}_type"]]
        )
        changes.append(
            {
                "change": CHANGE_OF_CATEGORY[record["category"]],
                "type": record["type"],
                "original": side("gold"),
                "corrected": side("pred"),
            }
        )
    return changes


def change_summary(latest: dict, *, n_examples: int | None = None) -> dict:
    """What the latest decisions change, for the summary download and the queue's progress line.

    Returns
    -------
    dict
        ``reviewed`` (examples with a decision), ``corrected`` (whose tags differ from the original),
        ``unchanged`` (reviewed, tags kept), ``decisions_by_kind``, ``changes`` (count per kind of
        change: span added / removed, type changed, boundary changed, boundary and type changed),
        ``changes_by_type`` (``{type: {change: count}}``) and ``examples`` (per corrected example: key,
        source, text and its changes). ``n_examples`` is copied when given.
    """
    changes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    by_type: dict[str, Counter[str]] = {}
    examples: list[dict[str, Any]] = []
    for key, decision in latest.items():
        kinds[decision["kind"]] += 1
        if decision["original"] == decision["corrected"]:
            continue
        example_changes = span_changes(decision["original"], decision["corrected"])
        for change in example_changes:
            changes[change["change"]] += 1
            by_type.setdefault(change["type"], Counter())[change["change"]] += 1
        examples.append(
            {
                "key": key,
                "example_id": decision.get("example_id"),
                "source": decision.get("source", ""),
                "text": " ".join(decision["words"]),
                "reviewer": decision.get("reviewer"),
                "time": decision.get("time"),
                "changes": example_changes,
            }
        )
    summary = {
        "reviewed": len(latest),
        "corrected": len(examples),
        "unchanged": len(latest) - len(examples),
        "decisions_by_kind": {kind: kinds.get(kind, 0) for kind in KINDS},
        "changes": {change: changes.get(change, 0) for change in CHANGES},
        "changes_by_type": {kind: dict(counts) for kind, counts in sorted(by_type.items())},
        "examples": examples,
    }
    if n_examples is not None:
        summary = {"examples_in_dataset": n_examples, **summary}
    return summary
