"""Exports and span-level change summaries of the corrections (explainer.review.export)."""

from __future__ import annotations

from helpers import decision

from explainer.data.example import Example
from explainer.data.loaders import load_dataset
from explainer.review.corrections import (
    ACCEPT_GOLD,
    latest_decisions,
)
from explainer.review.export import apply_corrections, change_summary, conll_text, prodigy_jsonl, span_changes


def test_span_changes_name_each_kind_of_change():
    original = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O"]
    corrected = ["B-PER", "O", "O", "B-ORG", "B-MISC", "O", "O"]
    kinds = sorted(change["change"] for change in span_changes(original, corrected))
    assert kinds == ["boundary changed", "span added", "span removed", "type changed"]
    summary = change_summary(
        latest_decisions([decision(["a"] * 7, original, corrected), decision(["b"], ["O"], ["O"], kind=ACCEPT_GOLD)])
    )
    assert summary["corrected"] == 1 and summary["unchanged"] == 1
    assert summary["changes"]["type changed"] == 1 and summary["changes_by_type"]["LOC"] == {"type changed": 1}


def test_exports_apply_only_matching_decisions(tmp_path):
    examples = [Example(("Peter", "left"), ("B-PER", "O"), "x:1"), Example(("Anna", "came"), ("O", "O"), "x:4")]
    latest = latest_decisions(
        [
            decision(["Anna", "came"], ["O", "O"], ["B-PER", "O"]),
            decision(["Peter", "left"], ["O", "O"], ["B-LOC", "O"]),
        ]
    )  # stale original
    items = apply_corrections(examples, latest)
    assert [item.tags for item in items] == [("B-PER", "O"), ("B-PER", "O")]
    assert [item.corrected for item in items] == [False, True]
    conll = tmp_path / "out.conll"
    conll.write_text(conll_text(items), encoding="utf-8")
    assert [e.tags for e in load_dataset(str(conll)).examples] == [("B-PER", "O"), ("B-PER", "O")]
    prodigy = tmp_path / "out.jsonl"
    prodigy.write_text(prodigy_jsonl(items), encoding="utf-8")
    reloaded = load_dataset(str(prodigy))
    assert reloaded.format == "prodigy" and [e.tags for e in reloaded.examples] == [("B-PER", "O"), ("B-PER", "O")]
