"""Build step ``data_checks``: what in the dataset, or in what the tokenizer makes of it, will mislead.

The checks are the pure functions of explainer/analysis/data_checks.py; this module gives them the
loaded data and the tokenizer's view of each distinct word, writes their findings as a memory-mapped
Arrow file (``schema.DATA_CHECKS``; the app's Data checks view reads it) and returns their counts for
``manifest["analyses"]["data_checks"]``. :func:`check_words` runs before the model is loaded: a prefix
on most words (WikiANN's ``en:``) is an error there, since every later number would be garbage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa

from explainer.analysis import data_checks as checks
from explainer.cache import schema
from explainer.data.example import LoadedDataset
from explainer.errors import ExplainerError
from explainer.pipeline.steps import StepContext

# Words searched for a shared prefix or suffix before the forward pass: plenty to see "most words".
AFFIX_SAMPLE = 100_000
FINDINGS_SCHEMA = pa.schema(
    [
        ("check", pa.string()),
        ("count", pa.int64()),
        ("message", pa.string()),
        ("example_ids", pa.list_(pa.int64())),
        ("word_indexes", pa.list_(pa.int32())),
    ]
)


def check_options(options: Any) -> None:
    """``--strip-prefix`` needs a prefix."""
    if options.strip_prefix == "":
        raise ExplainerError("--strip-prefix needs the prefix to remove, e.g. --strip-prefix en:")


def check_words(dataset: LoadedDataset) -> None:
    """Raise ExplainerError naming the prefix or suffix most words of ``dataset`` share, and the fix."""
    words: list[str] = []
    for example in dataset.examples:
        words.extend(example.words)
        if len(words) >= AFFIX_SAMPLE:
            break
    finding = checks.shared_affix(words)
    if finding.count:
        raise ExplainerError(f"{dataset.spec}: {finding.message}")


@dataclass(frozen=True)
class TokenizerView:
    """What the tokenizer makes of each distinct word, read alone."""

    n_subwords: dict[str, int]
    unknown: set[str]  # words holding the unknown token
    empty: set[str]  # words that become no subword
    normalised: dict[str, str]  # word -> the normaliser's output (words it cannot tell are left out)


def tokenizer_view(tokenizer: Any, words: Iterable[str]) -> TokenizerView:
    """Tokenise each distinct word alone (as the build does, ``is_split_into_words``) and normalise it.

    A fast tokenizer's normaliser is asked directly; a fast one without a normaliser (byte-level BPE)
    changes nothing; a slow tokenizer's normal form is its tokens joined back into a string.
    """
    distinct = sorted(set(words))
    encoded = tokenizer([[word] for word in distinct], is_split_into_words=True, add_special_tokens=False)
    ids: list[list[int]] = encoded["input_ids"]
    unk_id = tokenizer.unk_token_id
    unknown = {word for word, pieces in zip(distinct, ids) if unk_id is not None and unk_id in pieces}
    normaliser = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    if normaliser is not None:
        normalised = {word: normaliser.normalize_str(word) for word in distinct}
    elif getattr(tokenizer, "is_fast", False):
        normalised = {}
    else:
        normalised = {
            word: tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(pieces)).strip()
            for word, pieces in zip(distinct, ids)
            if pieces and word not in unknown
        }
    return TokenizerView(
        n_subwords={word: len(pieces) for word, pieces in zip(distinct, ids)},
        unknown=unknown,
        empty={word for word, pieces in zip(distinct, ids) if not pieces},
        normalised=normalised,
    )


def find_all(
    dataset: LoadedDataset,
    aligned: LoadedDataset,
    *,
    model_labels: Sequence[str],
    tokenizer: Any,
    windowed: Sequence[bool],
    max_length: int,
) -> list[checks.Finding]:
    """Every check's finding on ``dataset`` (as loaded) and ``aligned`` (its tags renamed to ``model_labels``)."""
    examples = [example.words for example in dataset.examples]
    gold = [example.tags for example in dataset.examples]
    mapped = [example.tags for example in aligned.examples]
    words = checks.WordLocations.of(examples)
    view = tokenizer_view(tokenizer, words.words)
    repairs = cast("list[tuple[int, int]]", dataset.extra.get("iob2_repairs", []))  # recorded by the loader
    return [
        checks.shared_affix(words.words),
        checks.unknown_words(words, view.unknown - view.empty, unk_token=tokenizer.unk_token),
        checks.words_without_subwords(words, view.empty),
        checks.long_splits(words, view.n_subwords),
        *checks.normaliser_changes(words, view.normalised),
        checks.iob2_repairs(repairs),
        checks.long_entities(gold),
        checks.types_without_spans(dataset.label_names or dataset.tag_set(), gold),
        checks.model_types_absent(model_labels, mapped),
        checks.types_dropped_by_map(gold, mapped),
        checks.duplicate_examples(examples),
        checks.empty_examples(dataset.skipped_empty),
        checks.windowed_examples(windowed, max_length=max_length),
    ]


def dataset_checks(dataset: LoadedDataset) -> list[checks.Finding]:
    """The checks that need the data alone (no tokenizer, no model labels), in :func:`find_all`'s order:
    what ``explainer check`` runs on a dataset without ``--model``."""
    examples = [example.words for example in dataset.examples]
    gold = [example.tags for example in dataset.examples]
    repairs = cast("list[tuple[int, int]]", dataset.extra.get("iob2_repairs", []))
    return [
        checks.shared_affix(checks.WordLocations.of(examples).words),
        checks.iob2_repairs(repairs),
        checks.long_entities(gold),
        checks.types_without_spans(dataset.label_names or dataset.tag_set(), gold),
        checks.duplicate_examples(examples),
        checks.empty_examples(dataset.skipped_empty),
    ]


def report_lines(findings: Sequence[checks.Finding], dataset: LoadedDataset, *, examples: int = 3) -> list[str]:
    """One line per check (``name  count  message``), then where the first ``examples`` findings of each
    check that fired are (the examples' sources: file and line, or split and row)."""
    width = max(len(finding.check) for finding in findings)
    lines = []
    for finding in findings:
        lines.append(
            f"{finding.check:<{width}}  {finding.count:>7,}  {finding.message if finding.count else ''}".rstrip()
        )
        sources = list(dict.fromkeys(dataset.examples[i].source for i in finding.example_ids if i >= 0))[:examples]
        if finding.count and sources:
            lines.append(f"{'':<{width}}  {'':>7}  e.g. {', '.join(sources)}")
    return lines


def findings_table(findings: Sequence[checks.Finding]) -> pa.Table:
    """The findings as the stored Arrow table (``schema.DATA_CHECKS``)."""
    return pa.Table.from_pylist(
        [
            {
                "check": finding.check,
                "count": finding.count,
                "message": finding.message,
                "example_ids": list(finding.example_ids),
                "word_indexes": list(finding.word_indexes),
            }
            for finding in findings
        ],
        schema=FINDINGS_SCHEMA,
    )


def build_step(context: StepContext) -> dict[str, Any]:
    """Run every check on the build's data, store the findings, and return ``{"counts": {check: count}}``."""
    prepared = context.prepared
    findings = find_all(
        prepared.dataset,
        prepared.aligned,
        model_labels=prepared.loaded.labels,
        tokenizer=prepared.loaded.tokenizer,
        windowed=prepared.alignment.windowed.tolist(),
        max_length=int(prepared.settings["max_length"]),
    )
    context.writer.write_mapped_table(schema.DATA_CHECKS, findings_table(findings))
    return {"counts": {finding.check: finding.count for finding in findings}}


def summary_line(manifest: dict[str, Any]) -> str | None:
    """The checks that fired, as one line for the end of ``explainer build``; None without the step."""
    counts = ((manifest.get("analyses") or {}).get("data_checks") or {}).get("counts")
    if counts is None:
        return None
    fired = [f"{check} {count:,}" for check, count in counts.items() if count]
    if not fired:
        return "data checks: nothing found"
    return f"data checks: {', '.join(fired)} (the app's Data checks view lists them with examples)"
