"""Corrections merged into the original dataset, leaving every other example byte-for-byte as it was.

A decision applies to each example of the dataset whose words hash to its key and whose tags (renamed
through the build's label map) still equal its ``original`` tags; an example whose tags changed since
the review is *stale* and is left alone. Corrections are in the cache's label names and IOB2; they are
written back in the dataset's own labels (through the inverse of the label map) and tag scheme (the one
the loader read: IOB1, IOB2, BIOES or BILOU). Before anything is written, every decision's corrected tags
must be IOB2 tags of the cache's labels: a damaged or foreign line is refused, naming it.

When the output has the input's form (CoNLL in, CoNLL out; JSONL or Prodigy JSONL in, JSONL out), only
the lines of corrected examples are rewritten:

- CoNLL: only the last column (the tag) of each line of a corrected sentence changes; other columns,
  separators, ``-DOCSTART-`` lines, blank lines, line ends and a BOM stay as they were.
- JSONL: a corrected record's line is re-serialised with its tags (names, or ids of its label list)
  replaced; Prodigy-style records get new ``spans``. Every other line is copied unchanged.

Other combinations (a ``save_to_disk`` or Hub dataset, or ``--format`` other than the input's form) are
written whole from the loaded examples, in IOB2.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from explainer.cache.reader import read_manifest
from explainer.data.example import Example, LoadedDataset
from explainer.data.labels import AUTO, from_iob2, is_valid_tag, map_tag, to_iob2
from explainer.data.loaders import (
    _COLUMN_SEPARATOR,
    _REMOVE_ZERO_WIDTH,
    DOCSTART,
    TAGS_COLUMNS,
    TOKENS_COLUMNS,
    _prodigy_tokens,
    detect_format,
    load_dataset,
)
from explainer.errors import ExplainerError
from explainer.pipeline.options import manifest_options
from explainer.review.corrections import SUFFIX, Decision, latest_decisions
from explainer.review.export import Item, conll_text, prodigy_jsonl, prodigy_record

OUTPUT_FORMATS = ("conll", "jsonl")
_LAST_COLUMN = re.compile(r"^(.*[ \t])([^ \t]+)([ \t]*)$", re.DOTALL)
_LINE_END = re.compile(rb"(\r\n|\r|\n)$")


@dataclass
class MergeReport:
    """What a merge did. ``corrected``: examples whose tags were rewritten; ``unchanged``: the others;
    ``reviewed_unchanged``: matched decisions that keep the tags; ``unmatched``: keys of decisions that
    match no example; ``stale``: sources of examples whose tags differ from the decision's original."""

    n_examples: int
    corrected: int
    unchanged: int
    reviewed_unchanged: int
    unmatched: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    output_format: str = "conll"
    verbatim: bool = True
    corrected_sources: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        way = (
            "other examples copied byte-for-byte"
            if self.verbatim
            else f"written whole from the loaded examples as {self.output_format}"
        )
        lines = [
            f"examples corrected: {self.corrected}",
            f"examples unchanged: {self.unchanged} ({way})",
            f"reviewed and kept as they were: {self.reviewed_unchanged}",
            f"corrections that matched nothing: {len(self.unmatched)}",
        ]
        if self.unmatched:
            lines.append("  keys: " + ", ".join(self.unmatched[:10]) + (" ..." if len(self.unmatched) > 10 else ""))
        if self.stale:
            lines.append(
                f"corrections not applied, the example's tags changed since the review: {len(self.stale)} "
                f"({', '.join(self.stale[:10])}{' ...' if len(self.stale) > 10 else ''})"
            )
        return lines


@dataclass(frozen=True)
class DatasetSource:
    """How to load the dataset a cache was built from (from its manifest)."""

    spec: str
    split: str | None = None
    tokens_column: str | None = None
    tags_column: str | None = None
    label_map: dict | None = None
    tag_scheme: str = AUTO
    strip_prefix: str | None = None


def source_of_manifest(manifest: dict) -> DatasetSource:
    """The dataset options of the build that wrote ``manifest`` (its structured ``options``); the spec is
    the absolute path the build recorded when the dataset was a local file, else the manifest's dataset spec."""
    dataset = manifest.get("dataset") or {}
    options = manifest_options(manifest)
    return DatasetSource(
        spec=options.get("dataset") or dataset.get("spec", ""),
        split=options.get("split") or dataset.get("split"),
        tokens_column=options.get("tokens_column"),
        tags_column=options.get("tags_column"),
        label_map=dataset.get("label_map") or None,
        tag_scheme=options.get("tag_scheme") or AUTO,
        strip_prefix=options.get("strip_prefix") or None,
    )


def check_corrected_tags(decisions, labels: Sequence[str] | None, *, display: str) -> None:
    """Refuse decisions whose corrected tags are not IOB2 tags (of ``labels``, when known).

    A line of the corrections file is written by the Review tab in the cache's labels; anything else
    (``<script>``, a tag of another build, an ``I-`` opening an entity) is damage or a foreign line, and
    writing it into the dataset would break the dataset, so the merge stops before writing anything.

    Parameters
    ----------
    decisions : list of dict
        As read by :func:`explainer.review.corrections.read_decisions` (each knows its line).
    labels : sequence of str, optional
        The cache's labels (its manifest's ``labels``); None checks the form only.
    display : str
        The corrections file, for the error.

    Raises
    ------
    ExplainerError
        Naming the corrections line, the word and the tag.
    """
    known = set(labels) if labels is not None else None
    for number, decision in enumerate(decisions, start=1):
        where = decision.where if isinstance(decision, Decision) else f"{display}: decision {number}"
        corrected = list(decision["corrected"])
        for index, tag in enumerate(corrected):
            if not is_valid_tag(tag):
                problem = "is not a tag (O, B-<type> or I-<type>)"
            elif known is not None and tag not in known:
                problem = f"is not one of the cache's labels ({', '.join(labels or ())})"
            elif tag.startswith("I-") and (index == 0 or corrected[index - 1][2:] != tag[2:]):
                problem = f"opens an entity (IOB2 opens one with B-{tag[2:]})"
            else:
                continue
            raise ExplainerError(
                f"{where}: the corrected tag {tag!r} of word {index + 1} {problem}; this line was not written "
                "by the Review tab of this cache: remove it (or the whole file, if it belongs to another build) "
                "and merge again; nothing was written"
            )


def manifest_beside(corrections: str | Path) -> dict | None:
    """The manifest of the cache a corrections file belongs to: the sibling ``<name>`` of ``<name>.corrections.jsonl``
    (or of ``<name>.review.sqlite``);
    None when there is no readable one (the file was moved or kept in ``EXPLAINER_CORRECTIONS_DIR``)."""
    from explainer.review.store import STORE_SUFFIX

    corrections = Path(corrections)
    suffix = next((end for end in (SUFFIX, STORE_SUFFIX) if corrections.name.endswith(end)), None)
    if suffix is None:
        return None
    try:
        return read_manifest(corrections.with_name(corrections.name[: -len(suffix)]))
    except ExplainerError:
        return None


def label_map_of(decisions) -> dict | None:
    """The label map the decisions were made under (from their ``identity``); one map for all, or an error."""
    maps = {json.dumps((d.get("identity") or {}).get("label_map"), sort_keys=True) for d in decisions}
    if len(maps) > 1:
        raise ExplainerError(
            "the corrections come from builds with different label maps; pass the right one with --label-map FILE"
        )
    return json.loads(maps.pop()) if maps else None


# --- tags: the cache's labels and IOB2 -> the dataset's labels and scheme -------------------------------------


def _model_tags(tags, label_map: dict | None) -> tuple:
    return tuple(map_tag(tag, label_map) for tag in tags) if label_map else tuple(tags)


def _inverse_map(dataset_tags: set[str], label_map: dict) -> dict[str, set[str]]:
    """model tag -> the dataset tags (seen in the data, both prefixes of each type) that map to it."""
    inverse: dict[str, set[str]] = {}
    for tag in dataset_tags:
        variants = {tag} if tag == "O" else {f"B-{tag[2:]}", f"I-{tag[2:]}"}
        for variant in variants:
            inverse.setdefault(map_tag(variant, label_map), set()).add(variant)
    return inverse


def dataset_tags(
    new_model: tuple, old_model: tuple, old_dataset: tuple, *, label_map: dict | None, inverse: dict | None, where: str
) -> list[str]:
    """Corrected tags in the dataset's label names (IOB2).

    Words whose tag the correction kept keep their dataset tag (a type the map drops to ``O`` survives).
    A changed tag is renamed through the inverse of the label map; when several dataset types map to it,
    the word's own former type decides, else the merge stops and says so.
    """
    if not label_map:
        return list(new_model)
    out = []
    for index, (new, old) in enumerate(zip(new_model, old_model)):
        if new == old:
            out.append(old_dataset[index])
            continue
        if new == "O":
            out.append("O")
            continue
        candidates = set((inverse or {}).get(new, ()))
        if not candidates and map_tag(new, label_map) == new:
            candidates = {new}  # a label the map leaves alone: the dataset may use it as it is
        if len(candidates) > 1:
            own = {tag for tag in candidates if tag[2:] == old_dataset[index][2:]}
            candidates = own or candidates
        if len(candidates) != 1:
            found = ", ".join(sorted(candidates)) or "none"
            raise ExplainerError(
                f"{where}: the corrected tag {new} of word {index} cannot be written in the dataset's labels "
                f"(dataset tags that the label map turns into it: {found}); add it to the label map or "
                "merge with --format jsonl from the cache's labels"
            )
        out.append(candidates.pop())
    return out


def in_file_scheme(new_iob2: list[str], old_iob2: list[str], old_raw: list[str], *, scheme: str) -> list[str]:
    """Tags as the file writes them, in its ``scheme``; a word keeps its raw tag exactly when the IOB2 tags
    its written tag depends on are unchanged: its own and the previous one in IOB1 (B- or I-), its own and
    the next one in BIOES/BILOU (whether the entity ends here)."""
    written = from_iob2(new_iob2, scheme)
    before, after = (0, 1) if scheme in ("bioes", "bilou") else (1, 0)
    for index in range(len(written)):
        window = range(max(index - before, 0), min(index + after + 1, len(written)))
        if all(new_iob2[i] == old_iob2[i] for i in window):
            written[index] = old_raw[index]
    return written


def _kept(words) -> list[bool]:
    """Which raw words the loaders keep (zero-width characters removed, empty words dropped)."""
    flags = []
    for word in words:
        cleaned = word.translate(_REMOVE_ZERO_WIDTH) if isinstance(word, str) else ""
        flags.append(bool(cleaned) and not cleaned.isspace())
    return flags


def expand_to_raw(tags: list[str], kept: list[bool]) -> list[str]:
    """Tags of the kept words spread over all raw words; a dropped word inside an entity continues it."""
    out, position = [], 0
    for _index, keep in enumerate(kept):
        if keep:
            out.append(tags[position])
            position += 1
            continue
        previous = out[-1] if out else "O"
        following = tags[position] if position < len(tags) else "O"
        inside = previous != "O" and following == f"I-{previous[2:]}"
        out.append(f"I-{previous[2:]}" if inside else "O")
    return out


# --- the merge ------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    corrections: dict[int, tuple]  # example index -> corrected tags in the model's labels (IOB2)
    report: MergeReport


def _plan(dataset: LoadedDataset, latest: dict, *, label_map: dict | None) -> _Plan:
    by_key: dict[str, list[int]] = {}
    for index, example in enumerate(dataset.examples):
        by_key.setdefault(example.words_hash, []).append(index)
    corrections, unmatched, stale, reviewed_unchanged = {}, [], [], 0
    for key, decision in latest.items():
        indices = by_key.get(key)
        if not indices:
            unmatched.append(key)
            continue
        for index in indices:
            example = dataset.examples[index]
            if _model_tags(example.tags, label_map) != tuple(decision["original"]):
                stale.append(example.source)
            elif tuple(decision["corrected"]) != tuple(decision["original"]):
                corrections[index] = tuple(decision["corrected"])
            else:
                reviewed_unchanged += 1
    n = len(dataset.examples)
    report = MergeReport(
        n_examples=n,
        corrected=len(corrections),
        unchanged=n - len(corrections),
        reviewed_unchanged=reviewed_unchanged,
        unmatched=unmatched,
        stale=stale,
        corrected_sources=[dataset.examples[i].source for i in sorted(corrections)],
    )
    return _Plan(corrections=corrections, report=report)


def merge_bytes(
    spec: str,
    decisions,
    *,
    output_format: str | None = None,
    split: str | None = None,
    tokens_column: str | None = None,
    tags_column: str | None = None,
    label_map: dict | None = None,
    tag_scheme: str = AUTO,
    strip_prefix: str | None = None,
    labels: Sequence[str] | None = None,
    corrections_display: str = "corrections",
) -> tuple[bytes, MergeReport]:
    """The dataset ``spec`` with ``decisions`` applied, as bytes, and a report.

    Parameters
    ----------
    spec : str
        The dataset, as ``explainer build --dataset`` takes it.
    decisions : list of dict
        Decisions as read by :func:`explainer.review.corrections.read_decisions` (the last per key wins).
    output_format : {"conll", "jsonl"}, optional
        Default: the input's form (``jsonl`` for JSONL, Prodigy-style and datasets directories).
    split, tokens_column, tags_column : str, optional
        As for ``explainer build``.
    label_map : dict, optional
        The build's label map; default: the one recorded in the decisions.
    tag_scheme : {"auto", "iob1", "iob2", "bioes", "bilou"}, default "auto"
        As ``explainer build --tag-scheme``; corrections are written back in this scheme (the detected one).
    strip_prefix : str, optional
        As ``explainer build --strip-prefix``: the examples are matched to the corrections without it; a
        file merged in place keeps its words as they are (prefix included), only tags change.
    labels : sequence of str, optional
        The cache's labels: every corrected tag must be one (see :func:`check_corrected_tags`).
    corrections_display : str
        How to name the corrections file in errors about a decision not read from a file.

    Raises
    ------
    ExplainerError
        On a dataset that does not load, an unknown format, a corrections line with tags that are not the
        cache's, or a corrected tag the dataset cannot hold.
    """
    form = detect_format(spec)
    output_format = output_format or ("conll" if form == "conll" else "jsonl")
    if output_format not in OUTPUT_FORMATS:
        raise ExplainerError(f"unknown output format {output_format!r}; use conll or jsonl")
    check_corrected_tags(decisions, labels, display=corrections_display)
    if label_map is None:
        label_map = label_map_of(decisions)
    dataset = load_dataset(
        spec,
        split=split,
        tokens_column=tokens_column,
        tags_column=tags_column,
        tag_scheme=tag_scheme,
        strip_prefix=strip_prefix,
    )
    plan = _plan(dataset, latest_decisions(decisions), label_map=label_map)
    known = dataset.tag_set() | set(dataset.label_names or ())  # a label list may name types the data lacks
    inverse = _inverse_map(known, label_map) if label_map else None
    new_tags = {}  # example index -> corrected tags in the dataset's labels (IOB2)
    for index, corrected in plan.corrections.items():
        example = dataset.examples[index]
        new_tags[index] = dataset_tags(
            corrected,
            _model_tags(example.tags, label_map),
            example.tags,
            label_map=label_map,
            inverse=inverse,
            where=f"{spec}: {example.source}",
        )
    verbatim = (form == "conll") == (output_format == "conll") and form in ("conll", "jsonl", "prodigy")
    plan.report.output_format, plan.report.verbatim = output_format, verbatim
    if not verbatim:
        items = [
            Item(
                words=example.words,
                tags=tuple(new_tags.get(index, example.tags)),
                source=example.source,
                key=example.words_hash,
            )
            for index, example in enumerate(dataset.examples)
        ]
        text = conll_text(items) if output_format == "conll" else prodigy_jsonl(items)
        return text.encode("utf-8"), plan.report
    data = Path(spec).expanduser().read_bytes()
    if form == "jsonl":
        return _patch_jsonl(
            data, dataset, new_tags, display=spec, tokens_key=tokens_column, tags_key=tags_column
        ), plan.report
    patch = _patch_conll if form == "conll" else _patch_prodigy
    return patch(data, dataset, new_tags, display=spec), plan.report


def _line_number(example: Example) -> int:
    return int(example.source.rsplit(":", 1)[1])


def _split_lines(data: bytes) -> list[bytes]:
    """Lines with their ends, numbered as the loaders number them (\\r\\n, \\r and \\n all end a line)."""
    return data.splitlines(keepends=True)


def _content_and_end(line: bytes) -> tuple[str, bytes]:
    match = _LINE_END.search(line)
    end = match.group(1) if match else b""
    return line[: len(line) - len(end)].decode("utf-8"), end


def _patch_conll(data: bytes, dataset: LoadedDataset, new_tags: dict, *, display: str) -> bytes:
    lines = _split_lines(data)
    bom = data.startswith(b"\xef\xbb\xbf")
    blocks: dict[int, list[int]] = {}  # first line number -> line indices of the sentence
    raw_tags: dict[int, list[str]] = {}
    scheme, current = str(dataset.extra["tag_scheme"]), None
    for index, line in enumerate(lines):
        content, _ = _content_and_end(line[3:] if index == 0 and bom else line)
        stripped = content.strip(" \t")
        columns = _COLUMN_SEPARATOR.split(stripped) if stripped else []
        if not columns or columns[0] == DOCSTART:
            current = None
            continue
        if current is None:
            current = index + 1
            blocks[current], raw_tags[current] = [], []
        blocks[current].append(index)
        raw_tags[current].append(columns[-1])
    for example_index, tags in new_tags.items():
        example = dataset.examples[example_index]
        first = _line_number(example)
        indices = blocks.get(first)
        if indices is None:
            raise ExplainerError(
                f"{display}:{first}: the sentence of {example.source} is not where the loader "
                "found it; was the file changed during the merge?"
            )
        words = [
            _COLUMN_SEPARATOR.split(_content_and_end(lines[i][3:] if i == 0 and bom else lines[i])[0].strip(" \t"))[0]
            for i in indices
        ]
        kept = _kept(words)
        old_raw = raw_tags[first]
        written = in_file_scheme(expand_to_raw(list(tags), kept), to_iob2(old_raw), old_raw, scheme=scheme)
        for line_index, tag in zip(indices, written):
            prefix = b"\xef\xbb\xbf" if line_index == 0 and bom else b""
            content, end = _content_and_end(lines[line_index][len(prefix) :])
            match = _LAST_COLUMN.match(content)
            if match is None:  # the loader read a tag here, so the file changed since
                raise ExplainerError(
                    f"{display}:{line_index + 1}: no tag column where the loader found one; "
                    "was the file changed during the merge?"
                )
            lines[line_index] = prefix + f"{match.group(1)}{tag}{match.group(3)}".encode() + end
    return b"".join(lines)


def _pick(record: dict, chosen: str | None, candidates) -> str:
    return chosen if chosen is not None else next(key for key in candidates if key in record)


def _patch_jsonl(
    data: bytes, dataset: LoadedDataset, new_tags: dict, *, display: str, tokens_key: str | None, tags_key: str | None
) -> bytes:
    lines = _split_lines(data)
    names = list(dataset.label_names or [])  # integer tags always come with their names (the loader checks)
    scheme = str(dataset.extra["tag_scheme"])  # the file's, as the loader read it
    for example_index, tags in new_tags.items():
        example = dataset.examples[example_index]
        number = _line_number(example)
        content, end = _content_and_end(lines[number - 1])
        record = json.loads(content)
        words_key, record_tags_key = _pick(record, tokens_key, TOKENS_COLUMNS), _pick(record, tags_key, TAGS_COLUMNS)
        old = record[record_tags_key]
        as_ids = bool(old) and all(isinstance(tag, int) and not isinstance(tag, bool) for tag in old)
        old_raw = [names[tag] for tag in old] if as_ids else list(old)
        written = in_file_scheme(
            expand_to_raw(list(tags), _kept(record[words_key])), to_iob2(old_raw), old_raw, scheme=scheme
        )
        if as_ids:
            missing = sorted({tag for tag in written if tag not in names})
            if missing:
                raise ExplainerError(
                    f"{display}:{number}: the corrected tags {', '.join(missing)} are not in the "
                    "record's label list; add them to it or merge with --format conll"
                )
            record[record_tags_key] = [names.index(tag) for tag in written]
        else:
            record[record_tags_key] = written
        lines[number - 1] = json.dumps(record, ensure_ascii=False).encode("utf-8") + end
    return b"".join(lines)


def _patch_prodigy(data: bytes, dataset: LoadedDataset, new_tags: dict, *, display: str) -> bytes:
    lines = _split_lines(data)
    for example_index, tags in new_tags.items():
        number = _line_number(dataset.examples[example_index])
        content, end = _content_and_end(lines[number - 1])
        record = json.loads(content)
        words, starts, ends = _prodigy_tokens(record, record["text"], where=f"{display}:{number}")
        raw = expand_to_raw(list(tags), _kept(words))
        spans = prodigy_record(words, raw)["spans"]
        for span in spans:  # character offsets of the record's own tokens, not of re-joined words
            span["start"], span["end"] = starts[span["token_start"]], ends[span["token_end"]]
        record["spans"] = spans
        lines[number - 1] = json.dumps(record, ensure_ascii=False).encode("utf-8") + end
    return b"".join(lines)


def write_atomically(out: str | Path, data: bytes) -> None:
    """Write ``data`` to ``out`` through a temporary sibling renamed into place (nothing half-written)."""
    out = Path(out)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as error:
        raise ExplainerError(
            f"--out {out}: cannot write in {out.parent} ({error.strerror}); choose a writable directory"
        ) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, out)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ExplainerError(
                f"--out {out}: cannot write the merged dataset ({error.strerror}); nothing was written"
            ) from None
        raise
