"""What the Review section offers for download (no Dash): the decisions as a corrections file (JSONL, every
decision of the audit trail in order, so the last line per example is the settled one), the corrected dataset as
CoNLL or JSONL, and a JSON summary of what changed.

The corrected dataset is merged into the original file when the build's dataset is a readable file of
that form, so every other example stays byte-for-byte; otherwise it is written from the cache's examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explainer.cache.reader import Cache
from explainer.data.loaders import detect_format
from explainer.errors import ExplainerError
from explainer.review.corrections import SUFFIX
from explainer.review.export import apply_corrections, change_summary, conll_text, prodigy_jsonl
from explainer.review.merge import merge_bytes, source_of_manifest
from explainer.review.session import n_examples
from explainer.review.store import DecisionStore

CORRECTIONS, CONLL, JSONL, SUMMARY = "corrections", "conll", "jsonl", "summary"
DOWNLOADS = {
    CORRECTIONS: "corrections (JSONL)",
    CONLL: "corrected dataset (CoNLL)",
    JSONL: "corrected dataset (JSONL)",
    SUMMARY: "summary of changes",
}
NOTHING_YET = "No decisions yet: review an example first (accept or save)."


@dataclass(frozen=True)
class Download:
    """A file to send (``content`` bytes are sent as they are, text as UTF-8) and how it was made."""

    filename: str
    content: bytes | str
    note: str


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def corrections_jsonl(history: list[dict[str, Any]]) -> bytes:
    """Decisions as a corrections file: one JSON line each, in the order they were saved."""
    lines = (json.dumps(decision, ensure_ascii=False, separators=(",", ":")) + "\n" for decision in history)
    return "".join(lines).encode("utf-8")


def download(cache: Cache, which: str, *, store: DecisionStore) -> Download | None:
    """The download ``which`` (one of ``DOWNLOADS``) for ``cache`` and its decisions in ``store``; None when
    there are no decisions yet to download (:data:`NOTHING_YET`)."""
    if which not in DOWNLOADS:
        raise ValueError(f"download must be one of {tuple(DOWNLOADS)}, not {which!r}")
    history = store.history()
    if not history:
        return None
    name = cache.path.name
    if which == CORRECTIONS:
        note = f"{plural(len(history), 'decision')}, the last line of each example is its settled decision"
        return Download(f"{name}{SUFFIX}", corrections_jsonl(history), note)
    latest = store.latest()
    if which == SUMMARY:
        summary = change_summary(latest, n_examples=n_examples(cache))
        note = f"{plural(summary['corrected'], 'example')} corrected, {summary['reviewed']} reviewed"
        return Download(f"{name}.changes.json", json.dumps(summary, ensure_ascii=False, indent=2), note)
    source = source_of_manifest(cache.manifest)
    wanted_forms = ("conll",) if which == CONLL else ("jsonl", "prodigy")
    try:
        if detect_format(source.spec) in wanted_forms and Path(source.spec).is_file():
            data, report = merge_bytes(
                source.spec,
                history,
                output_format=which,
                split=source.split,
                tokens_column=source.tokens_column,
                tags_column=source.tags_column,
                label_map=source.label_map,
                tag_scheme=source.tag_scheme,
                strip_prefix=source.strip_prefix,
                labels=cache.labels,
                corrections_display="the review database",
            )
            original = Path(source.spec)
            suffix = original.suffix or f".{which}"
            note = (
                f"merged into {original.name}: {plural(report.corrected, 'example')} corrected, "
                "the others byte-for-byte as in the original"
            )
            return Download(f"{original.stem}.corrected{suffix}", data, note)
        reason = f"the dataset is not a {which.upper()} file"
    except ExplainerError as error:
        reason = str(error)
    # Read for this download only (not kept in the worker): the columns the export uses.
    items = apply_corrections(
        cache.table("examples", ["words", "gold_tags", "words_hash", "source"]).itertuples(), latest
    )
    note = (
        f"written from the cache's examples in the model's labels ({reason}); "
        f"{plural(sum(item.corrected for item in items), 'example')} corrected"
    )
    return Download(f"{name}.corrected.{which}", conll_text(items) if which == CONLL else prodigy_jsonl(items), note)
