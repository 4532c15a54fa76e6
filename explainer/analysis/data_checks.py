"""Data checks: what in a dataset (or in what the tokenizer makes of it) will mislead an analysis.

Pure functions: the examples' words and tags, the tokenizer's view of each distinct word and the
examples' facts come in; each check returns a :class:`Finding` (its count is 0 when nothing fires), so
a report always lists every check. The build runs them (explainer/pipeline/data_checks.py) and the app
shows them (Data checks); nothing here loads a tokenizer or reads a file.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Locations kept per finding (its count is always the full number): enough to browse, small to store.
MAX_LOCATIONS = 500
DEFAULT_MAX_SUBWORDS = 8  # a word split into more subwords than this is a "long split"
DEFAULT_MAX_ENTITY_WORDS = 10  # a gold entity longer than this is suspicious
AFFIX_SHARE = 0.5  # a prefix or suffix on more than this share of the words is part of the format, not the words
MAX_AFFIX = 8  # characters of a word searched for a prefix or suffix
WORD_LEVEL = -1  # word index of a location that is a whole example


@dataclass(frozen=True)
class Finding:
    """One check's result: how many things it found, where (up to MAX_LOCATIONS), and what to do."""

    check: str
    count: int
    message: str
    example_ids: tuple[int, ...] = ()
    word_indexes: tuple[int, ...] = ()  # parallel to example_ids; WORD_LEVEL where a location is an example


def _finding(check: str, locations: Sequence[tuple[int, int]], message: str, *, count: int | None = None) -> Finding:
    kept = locations[:MAX_LOCATIONS]
    return Finding(
        check=check,
        count=len(locations) if count is None else count,
        message=message,
        example_ids=tuple(example for example, _ in kept),
        word_indexes=tuple(word for _, word in kept),
    )


def _examples_of(example_ids: Iterable[int]) -> list[tuple[int, int]]:
    return [(example, WORD_LEVEL) for example in example_ids]


def _share(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} ({part / whole:.0%})" if whole else f"{part:,}"


# --- the word column -----------------------------------------------------------------------------


def _is_separator(character: str) -> bool:
    return not character.isalnum() and not character.isspace()


def _affixes(word: str, *, suffix: bool) -> set[str]:
    """The word's candidate prefixes (ending with a separator such as ``:`` or ``-``) or suffixes
    (starting with one), shorter than the word."""
    found = set()
    for length in range(1, min(MAX_AFFIX, len(word) - 1) + 1):
        if suffix and _is_separator(word[-length]):
            found.add(word[-length:])
        elif not suffix and _is_separator(word[length - 1]):
            found.add(word[:length])
    return found


def shared_affix(words: Sequence[str], *, share: float = AFFIX_SHARE) -> Finding:
    """A prefix or suffix ending or starting with a separator carried by more than ``share`` of the words.

    WikiANN prefixes every word with its language (``en:Paris``), and a file with its columns swapped
    puts ``B-``/``I-`` tags in the word column: the model then reads the prefix, not the word.

    Examples
    --------
    >>> shared_affix(["en:The", "en:cat", "en:sat"]).message.split(":")[0]
    "3 of 3 (100%) words start with 'en"
    """
    counts: dict[bool, Counter[str]] = {False: Counter(), True: Counter()}
    for word, times in Counter(words).items():  # each distinct word once: words repeat a lot
        for suffix in (False, True):
            for affix in _affixes(word, suffix=suffix):
                counts[suffix][affix] += times
    best: tuple[int, bool, str] | None = None
    for suffix, counter in counts.items():
        for affix, count in counter.items():
            # The most common; of equally common ones the longest ("B-PER-" over "B-"), prefixes first.
            if best is None or (count, len(affix)) > (best[0], len(best[2])):
                best = (count, suffix, affix)
    if best is None or best[0] <= share * len(words):
        return Finding("shared_affix", 0, "no prefix or suffix is shared by most words")
    count, suffix, affix = best
    example = next(word for word in words if (word.endswith(affix) if suffix else word.startswith(affix)))
    if suffix:
        fix = "remove it from the word column of the file"
        where = "end with"
    else:
        fix = f"build with --strip-prefix {affix} to remove it on load (or remove it from the file)"
        where = "start with"
    return Finding(
        "shared_affix",
        count,
        f"{_share(count, len(words))} words {where} {affix!r} (e.g. {example!r}): the model reads it as part of "
        f"every word; {fix}",
    )


# --- what the tokenizer makes of the words ---------------------------------------------------------


@dataclass(frozen=True)
class WordLocations:
    """Every word of a dataset with its place: ``words[i]`` is word ``word_indexes[i]`` of example ``example_ids[i]``."""

    words: Sequence[str]
    example_ids: Sequence[int]
    word_indexes: Sequence[int]

    @classmethod
    def of(cls, examples: Sequence[Sequence[str]]) -> WordLocations:
        """The words of ``examples`` (example id = position) in order."""
        words: list[str] = []
        example_ids: list[int] = []
        word_indexes: list[int] = []
        for example_id, example in enumerate(examples):
            words.extend(example)
            example_ids.extend([example_id] * len(example))
            word_indexes.extend(range(len(example)))
        return cls(words, example_ids, word_indexes)

    def where(self, chosen: set[str]) -> list[tuple[int, int]]:
        """The (example id, word index) of every occurrence of a word in ``chosen``."""
        return [
            (example, index)
            for word, example, index in zip(self.words, self.example_ids, self.word_indexes)
            if word in chosen
        ]


def unknown_words(words: WordLocations, unknown: set[str], *, unk_token: str | None) -> Finding:
    """Words the tokenizer turns (partly) into its unknown token: the model sees none of their letters there."""
    locations = words.where(unknown)
    token = unk_token or "the unknown token"
    return _finding(
        "unknown_token",
        locations,
        f"{_share(len(locations), len(words.words))} words contain {token} ({len(unknown):,} distinct, "
        f"e.g. {_sample(unknown)}): the model cannot read them; replace unusual characters or use a model whose "
        "vocabulary covers them",
    )


def words_without_subwords(words: WordLocations, empty: set[str]) -> Finding:
    """Words the tokenizer turns into no subword at all (the build feeds the unknown token instead)."""
    locations = words.where(empty)
    return _finding(
        "no_subword",
        locations,
        f"{len(locations):,} words become no subword ({len(empty):,} distinct, e.g. {_sample(empty)}); the build "
        "reads them as the unknown token: remove them from the data if they are not words",
    )


def long_splits(words: WordLocations, n_subwords: Mapping[str, int], *, limit: int = DEFAULT_MAX_SUBWORDS) -> Finding:
    """Words split into more than ``limit`` subwords: the model sees them as fragments (names, URLs, noise)."""
    long = {word for word, count in n_subwords.items() if count > limit}
    locations = words.where(long)
    return _finding(
        "long_split",
        locations,
        f"{_share(len(locations), len(words.words))} words split into more than {limit} subwords "
        f"(e.g. {_sample(long)}): their predictions rest on fragments; check them for noise (URLs, markup)",
    )


NORMALISER_CHANGES = ("case", "accents", "unicode_form", "other")
_WHAT_IS_LOST = {
    "case": "loses its case: the model cannot use capitals",
    "accents": "loses its accents",
    "unicode_form": "changes Unicode form (compatibility characters such as ligatures or full-width letters)",
    "other": "changes otherwise (characters dropped or replaced)",
}


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def normaliser_change(word: str, normalised: str) -> set[str]:
    """What the tokenizer's normaliser changed in ``word`` to make ``normalised`` (a subset of
    NORMALISER_CHANGES; empty when nothing changed).

    Examples
    --------
    >>> sorted(normaliser_change("Café", "cafe"))
    ['accents', 'case']
    """
    if " " not in word:
        normalised = normalised.replace(" ", "")  # BERT pads CJK characters with spaces
    if normalised == word:
        return set()
    changes = set()
    folded = unicodedata.normalize("NFC", word)
    if folded.lower() != folded and normalised == normalised.lower():
        changes.add("case")
        folded = folded.lower()
    if _without_accents(folded) != unicodedata.normalize("NFD", folded) and _without_accents(normalised) == (
        unicodedata.normalize("NFD", normalised)
    ):
        changes.add("accents")
        folded = _without_accents(folded)
    if unicodedata.normalize("NFC", normalised) == unicodedata.normalize("NFC", folded):
        return changes or {"unicode_form"}  # only the composition of the characters differs
    if unicodedata.normalize("NFKC", folded) == unicodedata.normalize("NFKC", normalised):
        return changes | {"unicode_form"}
    return changes | {"other"}


def normaliser_changes(words: WordLocations, normalised: Mapping[str, str]) -> list[Finding]:
    """One finding per kind of change the normaliser makes (NORMALISER_CHANGES), counting word occurrences.

    ``normalised`` maps each distinct word to the tokenizer's normalised form of it (words absent from
    it are taken as unchanged).
    """
    by_change: dict[str, set[str]] = {change: set() for change in NORMALISER_CHANGES}
    for word, form in normalised.items():
        for change in normaliser_change(word, form):
            by_change[change].add(word)
    findings = []
    for change, changed in by_change.items():
        locations = words.where(changed)
        findings.append(
            _finding(
                f"normaliser_{change}",
                locations,
                f"{_share(len(locations), len(words.words))} words: the tokenizer's normaliser {_WHAT_IS_LOST[change]} "
                f"(e.g. {_sample(changed, normalised)}); expect errors where it mattered",
            )
        )
    return findings


def _sample(words: Iterable[str], mapped: Mapping[str, str] | None = None, *, size: int = 3) -> str:
    chosen = sorted(words)[:size]
    if not chosen:
        return "none"
    if mapped is None:
        return ", ".join(repr(word) for word in chosen)
    return ", ".join(f"{word!r} -> {mapped[word]!r}" for word in chosen)


# --- the gold tags ---------------------------------------------------------------------------------


def iob2_violations(tags: Sequence[str]) -> list[int]:
    """Word indexes of ``I-X`` tags that follow neither ``B-X`` nor ``I-X`` (after ``O``, another type or
    at the start): invalid in IOB2, where every entity opens with ``B-``.

    Examples
    --------
    >>> iob2_violations(["O", "I-PER", "B-LOC", "I-PER"])
    [1, 3]
    """
    found = []
    previous = "O"
    for index, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            found.append(index)
        previous = tag
    return found


def iob2_repairs(locations: Sequence[tuple[int, int]]) -> Finding:
    """The ``I-`` tags the loader found after ``O`` or another type (``locations`` as it recorded them)
    and read as the start of an entity."""
    return _finding(
        "i_after_o",
        locations,
        f"{len(locations):,} entities open with I- (after O or another type); they were read as starting an "
        "entity (IOB1). If the file is IOB2 these are annotation errors: check those examples",
    )


def gold_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of the entities of one example's IOB2 tags (end one past the last word)."""
    spans = []
    start, kind = -1, ""
    for index, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and tag[2:] == kind and start >= 0
        if inside:
            continue
        if start >= 0:
            spans.append((start, index, kind))
            start, kind = -1, ""
        if tag.startswith(("B-", "I-")):
            start, kind = index, tag[2:]
    return spans


def long_entities(examples_tags: Sequence[Sequence[str]], *, limit: int = DEFAULT_MAX_ENTITY_WORDS) -> Finding:
    """Gold entities longer than ``limit`` words: often a missing ``O`` or ``B-`` that merged entities."""
    locations = [
        (example_id, start)
        for example_id, tags in enumerate(examples_tags)
        for start, end, _ in gold_spans(tags)
        if end - start > limit
    ]
    return _finding(
        "long_entity",
        locations,
        f"{len(locations):,} gold entities are longer than {limit} words; a missing O or B- often merges "
        "entities: check them",
    )


def span_types(examples_tags: Iterable[Sequence[str]]) -> Counter[str]:
    """Gold entities per type."""
    return Counter(kind for tags in examples_tags for _, _, kind in gold_spans(tags))


def tag_types(tags: Iterable[str]) -> set[str]:
    """The entity types of some tags (``B-PER`` and ``I-PER`` -> ``PER``; ``O`` has none)."""
    return {tag[2:] for tag in tags if tag[:2] in ("B-", "I-")}


def types_without_spans(declared: Iterable[str], examples_tags: Sequence[Sequence[str]]) -> Finding:
    """Entity types the dataset declares (its label list) that no gold span of this split has."""
    missing = sorted(tag_types(declared) - set(span_types(examples_tags)))
    return Finding(
        "type_without_spans",
        len(missing),
        f"{len(missing)} type(s) of the dataset's label list have no gold span in this split "
        f"({', '.join(missing) or 'none'}): their scores are undefined; use a split that has them",
    )


def model_types_absent(model_labels: Iterable[str], examples_tags: Sequence[Sequence[str]]) -> Finding:
    """Entity types the model predicts that the (label-mapped) gold data never has: every such
    prediction counts as spurious."""
    absent = sorted(tag_types(model_labels) - set(span_types(examples_tags)))
    return Finding(
        "model_type_absent",
        len(absent),
        f"{len(absent)} model type(s) never occur in the gold data ({', '.join(absent) or 'none'}): every "
        "prediction of them counts as spurious; map them in --label-map if the data names them differently",
    )


def types_dropped_by_map(dataset_tags: Sequence[Sequence[str]], mapped_tags: Sequence[Sequence[str]]) -> Finding:
    """Dataset words inside an entity that the label map turned into ``O``; the message names their types."""
    locations = []
    dropped: Counter[str] = Counter()
    for example_id, (tags, mapped) in enumerate(zip(dataset_tags, mapped_tags)):
        for index, (tag, new) in enumerate(zip(tags, mapped)):
            if tag != "O" and new == "O":
                locations.append((example_id, index))
                dropped[tag[2:] if tag[:2] in ("B-", "I-") else tag] += 1
    named = ", ".join(f"{kind} ({count:,} words)" for kind, count in dropped.most_common())
    return _finding(
        "type_dropped_by_map",
        locations,
        f"the label map turns {len(locations):,} entity words into O ({named or 'none'}): they count as "
        "non-entities; map them to a model type if that is not intended",
    )


# --- the examples --------------------------------------------------------------------------------


def duplicate_examples(examples: Sequence[Sequence[str]]) -> Finding:
    """Examples whose words repeat an earlier example's; the count is the repeats (not the first copies)."""
    first: dict[tuple[str, ...], int] = {}
    repeats = []
    for example_id, words in enumerate(examples):
        key = tuple(words)
        if key in first:
            repeats.append(example_id)
        else:
            first[key] = example_id
    return _finding(
        "duplicate_example",
        _examples_of(repeats),
        f"{_share(len(repeats), len(examples))} examples repeat an earlier one word for word: they weigh "
        "twice in every score; see Find duplicates for their labels",
    )


def empty_examples(skipped: int) -> Finding:
    """Records without a word, which the loader skipped (their places are not in the cache)."""
    return Finding(
        "empty_example",
        skipped,
        f"{skipped:,} records have no words and were skipped: check the file for stray blank records",
    )


def windowed_examples(windowed: Sequence[bool], *, max_length: int) -> Finding:
    """Examples longer than the model's window, split into overlapping windows."""
    ids = [example_id for example_id, flag in enumerate(windowed) if flag]
    return _finding(
        "windowed_example",
        _examples_of(ids),
        f"{_share(len(ids), len(windowed))} examples exceed the model's window of {max_length} subwords and were "
        "read in overlapping windows: the model never saw them whole; split long documents into sentences",
    )
