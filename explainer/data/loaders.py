"""Dataset loaders: every supported input form becomes a ``LoadedDataset`` of IOB2-tagged examples.

Supported forms (see :func:`detect_format`):

``conll``
    Column files: the word in the first column, the tag in the last, separated by spaces or tabs;
    sentences separated by blank (empty or whitespace-only) lines; ``-DOCSTART-`` lines are document
    separators, not words (CoNLL-2003, WNUT-17, CoNLL-2002...).
``jsonl``
    One JSON object per line with a list of words (``tokens`` or ``words``) and a list of tags
    (``ner_tags``, ``tags`` or ``labels``): tag names, or integer ids plus a label list.
``prodigy``
    One JSON object per line with ``text``, character-offset ``spans`` and optional ``tokens``.
``spacy``
    A spaCy ``DocBin`` file (``.spacy``, as ``spacy convert`` and Prodigy's ``data-to-spacy`` write it):
    each ``Doc``'s tokens are the words, its entities (``doc.ents``) the tags. Read through spaCy itself,
    an optional extra: ``pip install 'ner-explainer[spacy]'``.
``disk``
    A directory written by ``datasets.save_to_disk`` (a ``Dataset`` or a ``DatasetDict``).
``hub``
    A dataset name on the Hugging Face Hub, loaded with ``datasets.load_dataset``.

Tags may be in any scheme of :data:`explainer.data.labels.TAG_SCHEMES` (IOB1, IOB2, BIOES, BILOU): the
scheme is detected over the whole dataset, or given (``tag_scheme``), checked, recorded in
``extra["tag_scheme"]`` and every example is normalised to IOB2.

Words are cleaned the same way in every form: zero-width characters (U+200B, U+200C, U+200D,
U+2060, U+FEFF) are removed, because tokenizers drop them anyway; a word left empty (or holding only
whitespace) would give the model no subword at all, so it is dropped together with its tag and
counted in ``extra["dropped_words"]``; an example left without words counts in ``skipped_empty``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from explainer.analysis.data_checks import iob2_violations
from explainer.data.example import Example, LoadedDataset
from explainer.data.labels import AUTO, EXPECTED_TAG_FORMS, is_scheme_tag, read_scheme, to_iob2
from explainer.errors import ExplainerError

if TYPE_CHECKING:
    import datasets

# What a loader of the ``datasets`` forms hands on: the dataset, the split's name, facts for ``extra``.
_OpenedSplit = tuple["datasets.Dataset", str, dict[str, object]]

TOKENS_COLUMNS = ("tokens", "words")
TAGS_COLUMNS = ("ner_tags", "tags", "labels")
# Keys of a JSONL record that may hold the label list of integer tags (when not the tags column).
LABEL_LIST_KEYS = ("label_names", "labels")
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonlines")
DOCBIN_SUFFIX = ".spacy"
SPACY_EXTRA = "pip install 'ner-explainer[spacy]'"
DOCSTART = "-DOCSTART-"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
PRODIGY_SKIPPED_ANSWERS = ("reject", "ignore")
DEFAULT_SPLITS = ("test", "validation")

_REMOVE_ZERO_WIDTH = str.maketrans("", "", ZERO_WIDTH)
_NEEDS_CLEANING = re.compile(f"[{ZERO_WIDTH}\\s]")
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_WHITESPACE_FREE = re.compile(r"\S+")
_LINE_SOURCE = re.compile(r".*:(\d+)")  # the source of an example read from a file line: "<file name>:<line>"


def detect_format(spec: str) -> str:
    """Tell which form a dataset spec is in.

    Parameters
    ----------
    spec : str
        A file path, a directory path or a Hugging Face Hub dataset name (``"conll2003"``,
        ``"owner/name"``).

    Returns
    -------
    str
        ``"conll"``, ``"jsonl"``, ``"prodigy"``, ``"spacy"``, ``"disk"`` or ``"hub"``. A ``.spacy`` file is a
        spaCy DocBin. A file is JSON Lines when
        its name ends in ``.jsonl``/``.json``/``.ndjson`` or its first non-blank line is a JSON
        object; it is Prodigy-style when that first record has ``spans``, or ``text`` but neither a
        list of word strings nor tags. Any other file is a CoNLL column file.

    Raises
    ------
    ExplainerError
        If ``spec`` is neither an existing path nor a plausible Hub name, or is a directory that
        ``datasets.save_to_disk`` did not write.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return "disk"
        raise ExplainerError(
            f"{spec} is a directory but not one written by datasets.save_to_disk (it has no "
            "dataset_dict.json or state.json); pass a CoNLL or JSONL file, or such a directory"
        )
    if path.is_file():
        return _detect_file_format(path)
    if path.exists():
        raise ExplainerError(f"{spec} is not a regular file or directory; pass a dataset file or directory")
    if _looks_like_hub_name(spec):
        return "hub"
    raise ExplainerError(
        f"{spec} does not exist; pass a CoNLL or JSONL file, a directory written by "
        "datasets.save_to_disk, or a Hugging Face Hub dataset name"
    )


def load_dataset(
    spec: str,
    *,
    split: str | None = None,
    tokens_column: str | None = None,
    tags_column: str | None = None,
    label_names: list[str] | None = None,
    tag_scheme: str = AUTO,
    strip_prefix: str | None = None,
) -> LoadedDataset:
    """Load a dataset in any supported form as IOB2-tagged examples.

    Parameters
    ----------
    spec : str
        File, directory or Hub dataset name; the form is found by :func:`detect_format`.
    split : str, optional
        Which split of a ``DatasetDict`` or Hub dataset to load; default ``"test"`` if present, else
        ``"validation"``, else the only split. For files it is only recorded in the result.
    tokens_column, tags_column : str, optional
        Field/column holding the words and the tags (JSONL and datasets forms); default: the first
        present of ``tokens``/``words`` and ``ner_tags``/``tags``/``labels``.
    label_names : list of str, optional
        Names of integer tag ids (id ``i`` is ``label_names[i]``). Overrides a label list the data
        declares (a ``ClassLabel`` feature, a ``labels`` key in JSONL records).
    tag_scheme : {"auto", "iob1", "iob2", "bioes", "bilou"}, default "auto"
        The scheme of the tags; ``"auto"`` detects it (see :func:`explainer.data.labels.read_scheme`).
        Prodigy-style spans have none: only ``"auto"`` applies.
    strip_prefix : str, optional
        Removed from every word that starts with it (``--strip-prefix``: WikiANN's ``en:``); it must
        start some word.

    Returns
    -------
    LoadedDataset
        ``examples`` with IOB2 tags, ``source`` ``"<file name>:<line>"`` or ``"<split>[<row>]"``;
        ``label_names`` when integer ids were named; ``extra`` holds ``dropped_words``, ``tag_scheme``
        (the scheme read), ``iob2_repairs`` (in a file read as IOB2, the (example id, word index) of each ``I-``
        tag that opened an entity and was repaired to ``B-``) and form-specific facts (``documents``, ``splits``,
        ``tokens_column``...).

    Raises
    ------
    ExplainerError
        On any input problem, with the file and line (or split and row) and what to do.
    """
    form = detect_format(spec)
    path = Path(spec).expanduser()
    if form in ("prodigy", "spacy") and tag_scheme != AUTO:
        held = "Prodigy-style character spans" if form == "prodigy" else "spaCy Docs with entity spans"
        raise ExplainerError(f"--tag-scheme {tag_scheme}: {spec} holds {held}, not tags; omit --tag-scheme")
    if form in ("disk", "hub"):
        dataset, chosen_split, extra = (
            _open_disk(path, spec=spec, split=split) if form == "disk" else _open_hub(spec, split=split)
        )
        result = _load_hf_dataset(
            dataset,
            spec=spec,
            split=chosen_split,
            tokens_column=tokens_column,
            tags_column=tags_column,
            label_names=label_names,
            tag_scheme=tag_scheme,
        )
        result.format = form
        result.extra.update(extra)
        return _strip_word_prefix(result, strip_prefix) if strip_prefix else result
    if form == "spacy":
        result = _load_docbin(path, display=spec).finish(
            spec=spec, form=form, split=split, display=spec, tag_scheme=tag_scheme
        )
        return _strip_word_prefix(result, strip_prefix) if strip_prefix else result
    text = _read_text(path, display=spec)
    if form == "conll":
        collector = _load_conll(text, display=spec, name=path.name)
    elif form == "jsonl":
        collector = _load_jsonl(
            text,
            display=spec,
            name=path.name,
            tokens_column=tokens_column,
            tags_column=tags_column,
            label_names=label_names,
        )
    else:
        collector = _load_prodigy(text, display=spec, name=path.name)
    result = collector.finish(spec=spec, form=form, split=split, display=spec, tag_scheme=tag_scheme)
    return _strip_word_prefix(result, strip_prefix) if strip_prefix else result


def _strip_word_prefix(dataset: LoadedDataset, prefix: str) -> LoadedDataset:
    """``dataset`` with ``prefix`` removed from each word that starts with it and is longer."""
    stripped = 0
    for position, example in enumerate(dataset.examples):
        words = tuple(
            word[len(prefix) :] if word.startswith(prefix) and word != prefix else word for word in example.words
        )
        if words != example.words:
            stripped += sum(new != old for new, old in zip(words, example.words))
            dataset.examples[position] = replace(example, words=words)
    if not stripped:
        raise ExplainerError(
            f"--strip-prefix {prefix!r}: no word of {dataset.spec} starts with it; check the prefix or leave the option out"
        )
    dataset.extra["stripped_prefix"] = {"prefix": prefix, "words": stripped}
    return dataset


# --- shared pieces ---------------------------------------------------------------------------------------


@dataclass
class _Collector:
    """Gathers examples from a loader: reads the tag scheme, cleans words, normalises tags, counts what
    was skipped. Examples are kept as read until :meth:`finish`, which needs all of them to tell the scheme."""

    raw: list[tuple[list[str], list[str], str]] = field(default_factory=list)  # (words, tags, source) as read
    word_per_line: bool = False  # CoNLL: word i of an example is on its first line + i
    label_names: list[str] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def add(self, words: Sequence[str], tags: Sequence[str], source: str) -> None:
        """Add one example; ``tags`` are valid tags (:func:`is_scheme_tag`) of any scheme."""
        self.raw.append((list(words), list(tags), source))

    def _locate(self, display: str, example: int, word: int) -> str:
        """Where word ``word`` of example ``example`` is: ``"<file>:<line>"``, with the word when a line holds several."""
        source = self.raw[example][2]
        line = _LINE_SOURCE.fullmatch(source)
        if line is None:
            return f"{display} {source} (word {word + 1})"
        if self.word_per_line:
            return f"{display}:{int(line.group(1)) + word}"
        return f"{display}:{line.group(1)} (word {word + 1})"

    def finish(self, *, spec: str, form: str, split: str | None, display: str, tag_scheme: str) -> LoadedDataset:
        converted = [to_iob2(tags) for _, tags, _ in self.raw]
        scheme = read_scheme(
            [tags for _, tags, _ in self.raw],
            tag_scheme,
            locate=lambda example, word: self._locate(display, example, word),
            as_iob2=converted,
        )
        examples: list[Example] = []
        skipped_empty = dropped_words = 0
        iob2_repairs: list[tuple[int, int]] = []  # the data check `i_after_o` reads these
        for (words, raw_tags, source), tags in zip(self.raw, converted):
            opened_by_i = iob2_violations(raw_tags) if scheme == "iob2" else []
            # Fast path: most examples hold no zero-width character, no whitespace and no empty word.
            if _NEEDS_CLEANING.search("\x00".join(words)) or "" in words:
                cleaned = [word.translate(_REMOVE_ZERO_WIDTH) for word in words]
                kept = [index for index, word in enumerate(cleaned) if word and not word.isspace()]
                dropped_words += len(cleaned) - len(kept)
                # A dropped first word of an entity leaves its next word to open it.
                words, tags = [cleaned[index] for index in kept], to_iob2([tags[index] for index in kept])
                new_index = {old: new for new, old in enumerate(kept)}
                opened_by_i = [new_index[index] for index in opened_by_i if index in new_index]
            if not words:
                skipped_empty += 1
                continue
            iob2_repairs.extend((len(examples), index) for index in opened_by_i)
            examples.append(Example(words=tuple(words), tags=tuple(tags), source=source))
        if not examples:
            found = f"all {skipped_empty} examples are empty" if skipped_empty else "it holds no examples"
            raise ExplainerError(
                f"{display}: no examples to load ({found}); check that this is the right "
                f"{'split' if form in ('disk', 'hub') else 'file'} and that it is not empty"
            )
        return LoadedDataset(
            examples=examples,
            spec=spec,
            format=form,
            split=split,
            label_names=self.label_names,
            skipped_empty=skipped_empty,
            extra={"dropped_words": dropped_words, "tag_scheme": scheme, "iob2_repairs": iob2_repairs, **self.extra},
        )


class _TagChecker:
    """Validates tag names, remembering the good ones (the same few tags repeat thousands of times)."""

    def __init__(self) -> None:
        self.valid: set[str] = set()

    def check(self, tag: object, where: str) -> None:
        if not isinstance(tag, str) or (tag not in self.valid and not is_scheme_tag(tag)):
            raise ExplainerError(f"{where}: unknown tag {tag!r}; {EXPECTED_TAG_FORMS}")
        self.valid.add(tag)


def _read_text(path: Path, *, display: str) -> str:
    """A file's text: strict UTF-8, without a BOM, with ``\\n`` line ends."""
    try:
        data = path.read_bytes()
    except PermissionError:
        raise ExplainerError(f"{display}: permission denied; make the file readable") from None
    except OSError as error:
        raise ExplainerError(f"{display}: cannot read the file ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ExplainerError(
            f"{display}:{line}: not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}: {error.reason}); "
            "re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _detect_file_format(path: Path) -> str:
    if path.suffix.lower() == DOCBIN_SUFFIX:
        return "spacy"
    first = _first_nonblank_line(path)
    record = None
    if first.lstrip().startswith("{"):
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            record = None
    if not isinstance(record, dict):
        # A .jsonl file whose first line is broken is still JSONL: its loader reports the line.
        return "jsonl" if path.suffix.lower() in JSON_SUFFIXES else "conll"
    words = next((record[key] for key in TOKENS_COLUMNS if key in record), None)
    has_word_strings = isinstance(words, list) and all(isinstance(word, str) for word in words)
    has_tags = any(key in record for key in TAGS_COLUMNS)
    if "spans" in record or ("text" in record and not has_word_strings and not has_tags):
        return "prodigy"
    return "jsonl"


def _first_nonblank_line(path: Path, *, limit: int = 1 << 20) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(limit)
    except OSError as error:
        raise ExplainerError(f"{path}: cannot read the file ({error.strerror})") from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return next((line for line in text.splitlines() if line.strip()), "")


def _looks_like_hub_name(spec: str) -> bool:
    """``name`` or ``owner/name`` without a file suffix: not a path that merely does not exist."""
    return bool(_HUB_NAME.fullmatch(spec)) and Path(spec).suffix.lower() not in (
        *JSON_SUFFIXES,
        ".txt",
        ".conll",
        ".conllu",
        ".tsv",
        ".csv",
        ".iob",
        ".bio",
        ".iob2",
        ".parquet",
        DOCBIN_SUFFIX,
    )


# --- CoNLL column files ---------------------------------------------------------------------------------


def _load_conll(text: str, *, display: str, name: str) -> _Collector:
    """Parse a column file: word first, tag last; blank lines end sentences, -DOCSTART- lines documents."""
    collector = _Collector(word_per_line=True)
    tags_checker = _TagChecker()
    words: list[str] = []
    tags: list[str] = []
    first_line = 0
    documents = 0
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip(" \t")
        if not stripped or stripped.isspace():
            if words:
                collector.add(words, tags, f"{name}:{first_line}")
                words, tags = [], []
            continue
        columns = _COLUMN_SEPARATOR.split(stripped)
        if columns[0] == DOCSTART:
            # A document separator is not a word; it also ends a sentence that lacked a blank line.
            documents += 1
            if words:
                collector.add(words, tags, f"{name}:{first_line}")
                words, tags = [], []
            continue
        if len(columns) < 2:
            raise ExplainerError(
                f"{display}:{number}: only one column ({columns[0]!r}); each line needs a word and its tag "
                "(the last column) separated by spaces or tabs, and sentences are separated by blank lines"
            )
        tag = columns[-1]
        tags_checker.check(tag, f"{display}:{number}")
        if not words:
            first_line = number
        words.append(columns[0])
        tags.append(tag)
    if words:
        collector.add(words, tags, f"{name}:{first_line}")
    collector.extra["documents"] = documents
    return collector


# --- JSON Lines -----------------------------------------------------------------------------------------


def _iter_json_records(text: str, *, display: str) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(line number, record)`` for every non-blank line, which must hold a JSON object."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ExplainerError(
                f"{display}:{number}: not valid JSON ({error.msg} at column {error.colno}); "
                "expected one JSON object per line (JSON Lines)"
            ) from None
        if not isinstance(record, dict):
            raise ExplainerError(
                f"{display}:{number}: expected a JSON object per line, found a {type(record).__name__}"
            )
        yield number, record


def _pick_field(
    record: dict[str, object], chosen: str | None, candidates: Sequence[str], *, what: str, where: str, option: str
) -> str:
    if chosen is not None:
        if chosen not in record:
            raise ExplainerError(
                f"{where}: the record has no {chosen!r} field (given by {option}); "
                f"its fields are {', '.join(sorted(record))}"
            )
        return chosen
    for key in candidates:
        if key in record:
            return key
    raise ExplainerError(
        f"{where}: the record has no {what} field ({' or '.join(map(repr, candidates))}); "
        f"its fields are {', '.join(sorted(record)) or 'none'}; name the field with {option}"
    )


def _load_jsonl(
    text: str,
    *,
    display: str,
    name: str,
    tokens_column: str | None,
    tags_column: str | None,
    label_names: list[str] | None,
) -> _Collector:
    """Parse JSONL records holding a list of words and a list of tags (names, or ids and a label list)."""
    collector = _Collector()
    tags_checker = _TagChecker()
    id_names = _IdNames(label_names, display=display, checker=tags_checker, option="label_names")
    for number, record in _iter_json_records(text, display=display):
        where = f"{display}:{number}"
        words_key = _pick_field(
            record, tokens_column, TOKENS_COLUMNS, what="words", where=where, option="--tokens-column"
        )
        tags_key = _pick_field(record, tags_column, TAGS_COLUMNS, what="tags", where=where, option="--tags-column")
        words, tags = record[words_key], record[tags_key]
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise ExplainerError(f"{where}: {words_key!r} must be a list of strings (the words)")
        if not isinstance(tags, list):
            raise ExplainerError(f"{where}: {tags_key!r} must be a list of tags, found a {type(tags).__name__}")
        if len(words) != len(tags):
            raise ExplainerError(
                f"{where}: {len(words)} words in {words_key!r} but {len(tags)} tags in "
                f"{tags_key!r}; give exactly one tag per word"
            )
        if tags and all(isinstance(tag, int) and not isinstance(tag, bool) for tag in tags):
            names = id_names.names
            if names is None or id_names.from_record:
                names = id_names.take_from_record(record, tags_key=tags_key, where=where)
            tags = _name_ids(tags, names, where=where)
        else:
            for tag in tags:
                tags_checker.check(tag, f"{where}: in {tags_key!r}")
        collector.add(words, tags, f"{name}:{number}")
    collector.label_names = id_names.names
    return collector


class _IdNames:
    """Turns integer tag ids into names, from a label list given by the caller or by the records."""

    def __init__(self, names: list[str] | None, *, display: str, checker: _TagChecker, option: str):
        self.checker = checker
        self.from_record = False
        self.names = None if names is None else self._validated(names, where=f"{display}: {option}")

    def _validated(self, names: object, *, where: str) -> list[str]:
        if not isinstance(names, list) or not names:
            raise ExplainerError(f"{where}: the label list must be a non-empty list of tag names")
        for name in names:
            self.checker.check(name, f"{where}: in the label list")
        return list(names)

    def take_from_record(self, record: dict[str, object], *, tags_key: str, where: str) -> list[str]:
        """The label list of ``record``, which must match the earlier ones; the earlier list if it has none."""
        key = next((key for key in LABEL_LIST_KEYS if key != tags_key and key in record), None)
        if key is None:
            if self.names is not None:
                return self.names  # an earlier record declared the list; later ones may omit it
            raise ExplainerError(
                f'{where}: the tags are integer ids but no label list names them; add a "labels" list of tag '
                "names to the first record (id i is labels[i]), or write tag names instead of ids"
            )
        names = self._validated(record[key], where=f"{where}: {key!r}")
        if self.names is not None and names != self.names:
            raise ExplainerError(
                f"{where}: {key!r} differs from the label list of earlier records; "
                "every record must use the same label list"
            )
        self.names, self.from_record = names, True
        return names


def _name_ids(ids: Sequence[int], names: list[str], *, where: str) -> list[str]:
    """The tag names of integer tag ids (id ``i`` is ``names[i]``)."""
    try:
        if min(ids) < 0:
            raise IndexError
        return [names[i] for i in ids]
    except IndexError:
        bad = next(i for i in ids if not 0 <= i < len(names))
        raise ExplainerError(
            f"{where}: tag id {bad} is out of range for the {len(names)} label names "
            f"({', '.join(names[:10])}{'...' if len(names) > 10 else ''})"
        ) from None


# --- spaCy DocBin ---------------------------------------------------------------------------------------


def _load_docbin(path: Path, *, display: str) -> _Collector:
    """Read a ``.spacy`` DocBin with spaCy: one example per Doc, its tokens and its entities as IOB2 tags.

    A token whose entity annotation is missing (spaCy's ``ent_iob_ == ""``, e.g. a Doc with no entities
    set) is read as ``O`` and counted in ``extra["unannotated_words"]``. DocBin data is msgpack, which
    spaCy reads without running code.
    """
    try:
        import spacy
        from spacy.tokens import DocBin
        from spacy.vocab import Vocab
    except ImportError:
        raise ExplainerError(
            f"{display}: a spaCy DocBin file is read with spaCy, which is not installed: {SPACY_EXTRA}"
        ) from None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExplainerError(f"{display}: cannot read the file ({error.strerror})") from None
    try:
        docs = list(DocBin().from_bytes(data).get_docs(Vocab()))
    except Exception as error:  # noqa: BLE001 (zlib, msgpack and spaCy each raise their own on a bad file)
        raise ExplainerError(
            f"{display}: not a spaCy DocBin file ({_reason(error)}); write one with `spacy convert` or DocBin.to_disk"
        ) from None
    collector = _Collector()
    unannotated = 0
    for index, doc in enumerate(docs):
        tags = []
        for token in doc:
            unannotated += token.ent_iob_ == ""
            tags.append(f"{token.ent_iob_}-{token.ent_type_}" if token.ent_iob_ in ("B", "I") else "O")
        collector.add([token.text for token in doc], tags, f"{path.name}[{index}]")
    collector.extra.update({"unannotated_words": unannotated, "spacy_version": spacy.__version__})
    return collector


# --- Prodigy-style JSONL --------------------------------------------------------------------------------


def _load_prodigy(text: str, *, display: str, name: str) -> _Collector:
    """Parse records with ``text``, character ``spans`` and optional ``tokens`` into IOB2 word tags."""
    collector = _Collector()
    skipped_answers = 0
    for number, record in _iter_json_records(text, display=display):
        where = f"{display}:{number}"
        if record.get("answer") in PRODIGY_SKIPPED_ANSWERS:
            skipped_answers += 1  # Prodigy exports keep rejected/ignored annotations; they are not gold.
            continue
        record_text = record.get("text")
        if not isinstance(record_text, str):
            raise ExplainerError(
                f'{where}: the record has no "text" string; Prodigy-style records need '
                '"text" and "spans" [{"start", "end", "label"}]'
            )
        words, starts, ends = _prodigy_tokens(record, record_text, where=where)
        tags = _spans_to_tags(record.get("spans") or [], record_text, starts, ends, where=where)
        collector.add(words, tags, f"{name}:{number}")
    collector.extra["skipped_answers"] = skipped_answers
    return collector


def _prodigy_tokens(record: dict[str, object], text: str, *, where: str) -> tuple[list[str], list[int], list[int]]:
    """Words and their character offsets: the record's ``tokens``, else ``text`` split on whitespace."""
    tokens = record.get("tokens")
    if tokens is None:
        matches = list(_WHITESPACE_FREE.finditer(text))
        return [m.group() for m in matches], [m.start() for m in matches], [m.end() for m in matches]
    if not isinstance(tokens, list):
        raise ExplainerError(f'{where}: "tokens" must be a list of {{"text", "start", "end"}} objects')
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for index, token in enumerate(tokens):
        start, end = (token.get("start"), token.get("end")) if isinstance(token, dict) else (None, None)
        if not (_is_int(start) and _is_int(end) and 0 <= start <= end <= len(text)):
            raise ExplainerError(
                f'{where}: token {index} ({token!r}) needs integer "start" and "end" '
                f"offsets within the text (length {len(text)})"
            )
        word = token.get("text", text[start:end])
        if not isinstance(word, str):
            raise ExplainerError(f'{where}: token {index}: "text" must be a string')
        words.append(word)
        starts.append(start)
        ends.append(end)
    return words, starts, ends


def _spans_to_tags(spans: object, text: str, starts: list[int], ends: list[int], *, where: str) -> list[str]:
    """IOB2 tags of the words from character-offset spans, which must sit on word boundaries."""
    if not isinstance(spans, list):
        raise ExplainerError(f'{where}: "spans" must be a list of {{"start", "end", "label"}} objects')
    first_word = {start: index for index, start in enumerate(starts)}
    last_word = {end: index for index, end in enumerate(ends)}
    tags = ["O"] * len(starts)
    for span in spans:
        described = f"span {json.dumps(span, ensure_ascii=False)}"
        start, end, label = (
            (span.get("start"), span.get("end"), span.get("label")) if isinstance(span, dict) else (None, None, None)
        )
        if not (_is_int(start) and _is_int(end) and isinstance(label, str) and label.strip()):
            raise ExplainerError(f'{where}: {described} needs integer "start" and "end" and a "label" string')
        if not 0 <= start < end <= len(text):
            raise ExplainerError(
                f"{where}: {described} lies outside the text (characters 0..{len(text)}); fix its offsets"
            )
        if start not in first_word or end not in last_word or first_word[start] > last_word[end]:
            raise ExplainerError(
                f"{where}: {described} ({text[start:end]!r}) does not start and end on token boundaries "
                f"(it cuts into {_cut_token(start, end, text, starts, ends)!r}); fix its offsets or the tokens"
            )
        first, last = first_word[start], last_word[end]
        if any(tag != "O" for tag in tags[first : last + 1]):
            raise ExplainerError(
                f"{where}: {described} overlaps another span; IOB tags cannot hold overlapping "
                "or nested entities, so keep one of them"
            )
        tags[first] = f"B-{label}"
        tags[first + 1 : last + 1] = [f"I-{label}"] * (last - first)
    return tags


def _cut_token(start: int, end: int, text: str, starts: list[int], ends: list[int]) -> str:
    """The token a misaligned span cuts, or the text around the span when it starts/ends in whitespace."""
    for token_start, token_end in zip(starts, ends):
        if token_start < start < token_end or token_start < end < token_end:
            return text[token_start:token_end]
    return text[max(0, start - 10) : end + 10]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --- datasets: save_to_disk directories and the Hub ------------------------------------------------------


def _open_disk(path: Path, *, spec: str, split: str | None) -> _OpenedSplit:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as error:  # any failure of a foreign format becomes one clear line
        raise ExplainerError(
            f"{spec}: could not read the datasets directory ({_reason(error)}); "
            "write it again with Dataset.save_to_disk or DatasetDict.save_to_disk"
        ) from None
    return _choose_split(loaded, spec=spec, split=split)


def _open_hub(name: str, *, split: str | None) -> _OpenedSplit:
    try:
        import datasets

        loaded = datasets.load_dataset(name, split=split)
    except Exception as error:  # network, auth, missing script...: all end the same way
        raise ExplainerError(
            f"could not load dataset {name} from the Hugging Face Hub: {_reason(error)}; pass a local file or directory"
        ) from None
    return _choose_split(loaded, spec=name, split=split)


def _choose_split(loaded: object, *, spec: str, split: str | None) -> _OpenedSplit:
    """``(Dataset, split name, extra)`` from a ``Dataset`` or ``DatasetDict``."""
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if split is None:
            split = next((name for name in DEFAULT_SPLITS if name in loaded), names[0] if len(names) == 1 else None)
            if split is None:
                raise ExplainerError(f"{spec} has the splits {', '.join(names)}; choose one with --split")
        elif split not in loaded:
            raise ExplainerError(f"{spec} has no split {split!r}; its splits are {', '.join(names)}")
        return loaded[split], split, {"splits": names}
    if not isinstance(loaded, datasets.Dataset):
        raise ExplainerError(f"{spec}: expected a Dataset or DatasetDict, found a {type(loaded).__name__}")
    own = str(loaded.split) if loaded.split is not None else None
    if split is not None and own is not None and split != own:
        raise ExplainerError(f"{spec} holds only the split {own!r}, not {split!r}; omit --split or pass {own}")
    chosen = split or own or "data"
    return loaded, chosen, {"splits": [chosen]}


def _load_hf_dataset(
    dataset: datasets.Dataset,
    *,
    spec: str,
    split: str,
    tokens_column: str | None,
    tags_column: str | None,
    label_names: list[str] | None,
    tag_scheme: str,
) -> LoadedDataset:
    """Read a ``datasets.Dataset`` through Arrow, naming integer tags by its ``ClassLabel`` feature."""
    columns = dataset.column_names
    where = f"{spec} ({split})"
    words_key = _pick_column(
        columns, tokens_column, TOKENS_COLUMNS, what="words", where=where, option="--tokens-column"
    )
    tags_key = _pick_column(columns, tags_column, TAGS_COLUMNS, what="tags", where=where, option="--tags-column")
    for key, option in ((words_key, "--tokens-column"), (tags_key, "--tags-column")):
        if getattr(dataset.features[key], "feature", None) is None:
            raise ExplainerError(
                f"{where}: column {key!r} holds {dataset.features[key]}, not a list per row; "
                f"name the right column with {option}"
            )
    checker = _TagChecker()
    declared = label_names if label_names is not None else _class_label_names(dataset.features[tags_key])
    id_names = _IdNames(
        declared,
        display=where,
        checker=checker,
        option="label_names" if label_names is not None else f"the ClassLabel names of {tags_key!r}",
    )
    table = dataset.select_columns([words_key, tags_key]).with_format("arrow")[:]
    all_words, all_tags = table.column(words_key).to_pylist(), table.column(tags_key).to_pylist()
    names = id_names.names
    collector = _Collector(label_names=names)
    for row, (words, tags) in enumerate(zip(all_words, all_tags)):
        source = f"{split}[{row}]"
        row_where = f"{spec} {source}"
        words, tags = words or [], tags or []
        if len(words) != len(tags):
            raise ExplainerError(
                f"{row_where}: {len(words)} words in {words_key!r} but {len(tags)} tags in "
                f"{tags_key!r}; give exactly one tag per word"
            )
        if any(not isinstance(word, str) for word in words):
            raise ExplainerError(
                f"{row_where}: {words_key!r} must hold strings (the words); name the right column with --tokens-column"
            )
        if tags and isinstance(tags[0], int):
            if names is None:
                raise ExplainerError(
                    f"{row_where}: the tags in {tags_key!r} are integer ids but the dataset declares no label "
                    "names; cast the column to List(ClassLabel(names=[...])) with cast_column and save it again"
                )
            tags = _name_ids(tags, names, where=row_where)
        else:
            for tag in tags:
                checker.check(tag, f"{row_where}: in {tags_key!r}")
        collector.add(words, tags, source)
    collector.extra.update(tokens_column=words_key, tags_column=tags_key)
    return collector.finish(spec=spec, form="disk", split=split, display=where, tag_scheme=tag_scheme)


def _pick_column(
    columns: list[str], chosen: str | None, candidates: Sequence[str], *, what: str, where: str, option: str
) -> str:
    if chosen is not None:
        if chosen not in columns:
            raise ExplainerError(
                f"{where}: no column {chosen!r} (given by {option}); the columns are {', '.join(columns)}"
            )
        return chosen
    found = next((name for name in candidates if name in columns), None)
    if found is None:
        raise ExplainerError(
            f"{where}: no {what} column ({', '.join(candidates)}); the columns are "
            f"{', '.join(columns)}; name it with {option}"
        )
    return found


def _class_label_names(feature: object) -> list[str] | None:
    """The names of a ``List(ClassLabel)`` / ``Sequence(ClassLabel)`` feature, else None."""
    import datasets

    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return list(inner.names)
    return None


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
