"""Tag schemes and label names: IOB1, BIOES and BILOU <-> IOB2, label maps, and aligning a dataset with a
model's labels.

A *tag* is a word's gold label name: ``"O"`` or ``"<prefix>-<type>"``. The schemes (:data:`TAG_SCHEMES`):

``iob2``
    ``B-`` opens every entity, ``I-`` continues it.
``iob1``
    ``I-`` opens an entity; ``B-`` only opens one that directly follows an entity of its own type.
``bioes`` (also called IOBES)
    As IOB2, but ``E-`` ends an entity of several words and ``S-`` is an entity of one word.
``bilou``
    BIOES with ``L-`` (last) for ``E-`` and ``U-`` (unit) for ``S-``.

Loaders find a dataset's scheme with :func:`read_scheme` (or take the one the user names) and normalise
every example to IOB2 with :func:`to_iob2`; :func:`from_iob2` writes IOB2 tags back in a scheme (the
merge does, for the file's own scheme). :func:`align_labels` then renames the tags to the model's label
names, optionally through a user's label map.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError

OUTSIDE = "O"
TAG_SCHEMES = ("iob1", "iob2", "bioes", "bilou")
AUTO = "auto"  # --tag-scheme: detect the scheme from the tags
SCHEME_NAMES = {"iob1": "IOB1", "iob2": "IOB2", "bioes": "BIOES", "bilou": "BILOU"}
EXPECTED_TAG_FORMS = (
    "expected O, B-<type> or I-<type> (IOB1, IOB2), with E-<type> and S-<type> (BIOES) "
    "or L-<type> and U-<type> (BILOU), e.g. B-PER"
)
# The prefixes only BIOES or only BILOU writes: the last word of an entity, and an entity of one word.
_END_AND_SINGLE = {"bioes": ("E-", "S-"), "bilou": ("L-", "U-")}
_SCHEME_OF_PREFIX = {prefix: scheme for scheme, prefixes in _END_AND_SINGLE.items() for prefix in prefixes}
# What those prefixes are in IOB terms: the last word continues its entity, a single word opens one.
_AS_IOB = {"E-": "I-", "L-": "I-", "S-": "B-", "U-": "B-"}
_SCHEME_PREFIX = re.compile(r"[BIESLU]-")
LABEL_MAP_HINT = (
    "pass --label-map FILE, a JSON object mapping dataset tags or entity types to the model's labels "
    "(--write-label-map-template FILE writes one to fill in)"
)
COMMENT_KEY_PREFIX = "//"  # label-map keys starting with it are notes (the template's lists), not mappings
# Labels transformers invents when a config declares none: LABEL_0, LABEL_1, ...
GENERIC_LABEL = re.compile(r"LABEL_\d+")
MAX_LISTED = 10
WRAP_WIDTH = 100


def is_valid_tag(tag: str) -> bool:
    """Whether ``tag`` is ``"O"`` or ``"B-<type>"`` / ``"I-<type>"`` with a non-empty type.

    Parameters
    ----------
    tag : str
        A tag name.

    Returns
    -------
    bool
    """
    return tag == OUTSIDE or (len(tag) > 2 and tag[1] == "-" and tag[0] in "BI" and not tag[2:].isspace())


def is_scheme_tag(tag: str) -> bool:
    """Whether ``tag`` is ``"O"`` or ``"<prefix>-<type>"`` with a prefix of some scheme (B, I, E, S, L, U).

    Parameters
    ----------
    tag : str
        A tag name as a dataset writes it.

    Returns
    -------
    bool
    """
    return tag == OUTSIDE or (len(tag) > 2 and _SCHEME_PREFIX.match(tag) is not None and not tag[2:].isspace())


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Normalise one example's tags to IOB2: an entity always opens with ``B-``.

    BIOES/BILOU tags first become IOB tags (``E-``/``L-`` continue an entity as ``I-``, ``S-``/``U-``
    open one as ``B-``). In IOB1, ``B-`` only separates two adjacent entities of one type and an entity
    otherwise opens with ``I-``; an ``I-X`` not preceded by an ``X`` tag therefore becomes ``B-X``.
    IOB2 tags come back unchanged, ``"O"`` stays ``"O"`` and tags of any other form are left as they are.
    (:func:`read_scheme` checks a BIOES or BILOU dataset first: this is only exact on valid sequences.)

    Parameters
    ----------
    tags : sequence of str
        The tags of one example, in word order.

    Returns
    -------
    list of str
        A new list of the same length.

    Examples
    --------
    >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    >>> to_iob2(["B-ORG", "E-ORG", "S-PER", "U-LOC"])
    ['B-ORG', 'I-ORG', 'B-PER', 'B-LOC']
    """
    result = list(tags)
    previous_type = None  # entity type of the previous tag, None after O or any other form
    for index, tag in enumerate(result):
        prefix = tag[:2]
        if prefix in _AS_IOB:
            prefix = _AS_IOB[prefix]
            result[index] = prefix + tag[2:]
        if prefix == "I-":
            if previous_type != tag[2:]:
                result[index] = "B-" + tag[2:]
            previous_type = tag[2:]
        elif prefix == "B-":
            previous_type = tag[2:]
        else:
            previous_type = None
    return result


def from_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Write one example's IOB2 tags in ``scheme``: the inverse of :func:`to_iob2` on valid sequences.

    Parameters
    ----------
    tags : sequence of str
        IOB2 tags of one example.
    scheme : {"iob1", "iob2", "bioes", "bilou"}

    Returns
    -------
    list of str
        A new list of the same length; ``"O"`` and tags of other forms are left as they are.

    Examples
    --------
    >>> from_iob2(["B-PER", "I-PER", "B-PER", "O", "B-LOC"], "iob1")
    ['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC']
    >>> from_iob2(["B-ORG", "I-ORG", "I-ORG", "B-PER", "O"], "bilou")
    ['B-ORG', 'I-ORG', 'L-ORG', 'U-PER', 'O']
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme must be one of {TAG_SCHEMES}, not {scheme!r}")
    out = list(tags)
    for index, tag in enumerate(tags):
        if tag[:2] not in ("B-", "I-"):
            continue
        kind = tag[2:]
        if scheme == "iob1":  # an entity opens with I- unless it directly follows one of its own type
            previous = tags[index - 1] if index else OUTSIDE
            if tag[0] == "B" and not (previous[:2] in ("B-", "I-") and previous[2:] == kind):
                out[index] = "I-" + kind
        elif scheme in _END_AND_SINGLE:
            last, single = _END_AND_SINGLE[scheme]
            continues = index + 1 < len(tags) and tags[index + 1] == "I-" + kind
            if not continues:
                out[index] = (single if tag[0] == "B" else last) + kind
    return out


def read_scheme(
    sequences: Sequence[Sequence[str]],
    scheme: str = AUTO,
    *,
    locate: Callable[[int, int], str] = lambda sequence, word: f"example {sequence}, word {word}",
    as_iob2: Sequence[Sequence[str]] | None = None,
) -> str:
    """The tag scheme of a dataset's raw tag sequences, detected (``scheme="auto"``) or as given, checked.

    Detection: ``E-``/``S-`` tags make a BIOES dataset, ``L-``/``U-`` a BILOU one (both is an error);
    otherwise an ``I-`` that opens an entity makes it IOB1, else it is IOB2. A BIOES or BILOU dataset must
    be valid in its scheme, since an entity left open or a continuation of nothing means the file mixes
    schemes and its entities (and how the merge writes them back) are ambiguous; IOB1 and IOB2 datasets
    only need IOB prefixes (their ``I-`` after ``O`` is read as IOB1 does).

    Parameters
    ----------
    sequences : sequence of sequences of str
        Every example's tags as the dataset writes them (each a valid :func:`is_scheme_tag`).
    scheme : {"auto", "iob1", "iob2", "bioes", "bilou"}, default "auto"
    locate : callable, optional
        ``(sequence index, word index) -> "file:line"``, for the errors.
    as_iob2 : sequence of sequences of str, optional
        ``sequences`` through :func:`to_iob2`, when the caller has them (saves converting twice).

    Returns
    -------
    str
        One of :data:`TAG_SCHEMES`.

    Raises
    ------
    ExplainerError
        One line naming the tag and where it is, when the tags mix schemes or do not fit ``scheme``.

    Examples
    --------
    >>> read_scheme([["B-PER", "E-PER", "O", "S-LOC"]])
    'bioes'
    >>> read_scheme([["I-PER", "O"], ["B-LOC"]])
    'iob1'
    """
    first_of: dict[str, tuple[int, int, str]] = {}  # scheme -> where one of its own prefixes first occurs
    if any(tag[:2] in _SCHEME_OF_PREFIX for tag in set().union(*sequences)):  # (the distinct tags are few)
        for sequence, tags in enumerate(sequences):
            for word, tag in enumerate(tags):
                own = _SCHEME_OF_PREFIX.get(tag[:2])
                if own is not None and own not in first_of:
                    first_of[own] = (sequence, word, tag)
    if scheme == AUTO:
        if len(first_of) > 1:  # the first BIOES tag and the first BILOU tag, in dataset order
            earlier, later = sorted(first_of.values())
            raise ExplainerError(
                f"{locate(later[0], later[1])}: tag {later[2]!r} is {_scheme_of(later[2])} but "
                f"{locate(earlier[0], earlier[1])} has {earlier[2]!r} ({_scheme_of(earlier[2])}): the dataset mixes "
                "two tag schemes; write every entity in one of them"
            )
        if first_of:
            scheme = next(iter(first_of))
            sequence, word, tag = first_of[scheme]
            why = (
                f"read as {SCHEME_NAMES[scheme]} because of {tag!r} at {locate(sequence, word)}: the file mixes "
                f"schemes, so where its entities end is ambiguous; write this one in {SCHEME_NAMES[scheme]}"
            )
        else:
            converted = as_iob2 if as_iob2 is not None else (to_iob2(tags) for tags in sequences)
            iob1 = any(list(new) != list(tags) for new, tags in zip(converted, sequences))
            return "iob1" if iob1 else "iob2"
    elif scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme must be one of {(AUTO, *TAG_SCHEMES)}, not {scheme!r}")
    else:
        why = (
            f"read as {SCHEME_NAMES[scheme]}, as --tag-scheme {scheme} says; fix the tag or pass the file's scheme "
            "(or auto) with --tag-scheme"
        )
    for own, (sequence, word, tag) in first_of.items():
        if own != scheme:
            raise ExplainerError(
                f"{locate(sequence, word)}: tag {tag!r} is {SCHEME_NAMES[own]}, not {SCHEME_NAMES[scheme]} as "
                f"--tag-scheme {scheme} says; pass --tag-scheme {own} or auto"
            )
    if scheme in _END_AND_SINGLE:
        for sequence, tags in enumerate(sequences):
            problem = _scheme_problem(tags, scheme)
            if problem is not None:
                word, what = problem
                raise ExplainerError(f"{locate(sequence, word)}: {what} ({why})")
    return scheme


def _scheme_of(tag: str) -> str:
    return SCHEME_NAMES[_SCHEME_OF_PREFIX[tag[:2]]]


def _scheme_problem(tags: Sequence[str], scheme: str) -> tuple[int, str] | None:
    """``(word, what is wrong)`` at the first tag a valid BIOES/BILOU sequence cannot have, else None."""
    last, single = _END_AND_SINGLE[scheme]
    name = SCHEME_NAMES[scheme]
    open_type: str | None = None  # the type of the entity a B-/I- opened and no E-/L- closed yet
    for word, tag in enumerate(tags):
        prefix, kind = tag[:2], tag[2:]
        if open_type is not None:
            if prefix not in ("I-", last) or kind != open_type:
                return word, (
                    f"{tag!r} follows {tags[word - 1]!r}, but {name} ends an entity with {last}{open_type} "
                    f"(and writes a one-word entity {single}{open_type})"
                )
            open_type = None if prefix == last else open_type
        elif prefix in ("I-", last):
            return word, f"{tag!r} continues no entity ({name} opens one with B-{kind}, or writes {single}{kind})"
        elif prefix == "B-":
            open_type = kind
    if open_type is not None:
        return len(tags) - 1, (
            f"the example ends on {tags[-1]!r}, inside an entity ({name} ends one with {last}{open_type})"
        )
    return None


def read_label_map(path: str | Path) -> dict[str, str]:
    """Read a label map: a JSON object ``{dataset tag or entity type: model tag or type}``.

    Parameters
    ----------
    path : str or Path
        A UTF-8 JSON file, e.g. ``{"person": "PER", "B-corporation": "B-ORG", "O": "O"}``. Keys starting
        with ``//`` are notes (the lists of :func:`label_map_template`) and are left out.

    Returns
    -------
    dict of str to str

    Raises
    ------
    ExplainerError
        If the file is missing, is not valid JSON, is not an object, or has a non-string or empty value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ExplainerError(f"label map {path} does not exist; pass the path of a JSON file") from None
    except IsADirectoryError:
        raise ExplainerError(f"label map {path} is a directory; pass the path of a JSON file") from None
    except UnicodeDecodeError as error:
        raise ExplainerError(
            f"label map {path} is not UTF-8 ({error.reason} at byte {error.start}); re-encode it as UTF-8"
        ) from None
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExplainerError(
            f"label map {path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno}); "
            'expected an object such as {"B-person": "B-PER", "location": "LOC"}'
        ) from None
    if not isinstance(mapping, dict):
        raise ExplainerError(
            f"label map {path}: expected a JSON object mapping dataset tags or types to "
            f"model labels, found a {type(mapping).__name__}"
        )
    mapping = {key: value for key, value in mapping.items() if not key.startswith(COMMENT_KEY_PREFIX)}
    for key, value in mapping.items():
        if not isinstance(value, str) or not value.strip():
            raise ExplainerError(
                f"label map {path}: the value of {key!r} must be a non-empty string "
                f"(a model label or entity type, or O to drop it), found {value!r}"
            )
    return mapping


def map_tag(tag: str, label_map: dict[str, str]) -> str:
    """Rename one tag through a label map.

    A full tag key (``"B-person"``, ``"O"``) wins; otherwise an entity-type key (``"person"``)
    renames the type and keeps the prefix. A type mapped to ``"O"`` turns both its ``B-`` and
    ``I-`` tags into ``"O"`` (the type is dropped). Tags the map does not mention are returned as
    they are.

    Parameters
    ----------
    tag : str
        A dataset tag.
    label_map : dict of str to str
        As read by :func:`read_label_map`.

    Returns
    -------
    str
    """
    if tag in label_map:
        return label_map[tag]
    if tag[:2] in ("B-", "I-") and tag[2:] in label_map:
        new_type = label_map[tag[2:]]
        return OUTSIDE if new_type == OUTSIDE else tag[:2] + new_type
    return tag


def align_labels(
    dataset: LoadedDataset, model_labels: list[str], *, label_map: dict[str, str] | None = None
) -> LoadedDataset:
    """Rename a dataset's tags to the model's label names.

    Tags are matched to ``model_labels`` by name, after renaming through ``label_map`` if given
    (see :func:`map_tag`). Only tags that occur in the examples must be known to the model.

    Parameters
    ----------
    dataset : LoadedDataset
        Examples with IOB2 tags, as a loader returns them.
    model_labels : list of str
        The model's labels in id order (``config.id2label``).
    label_map : dict of str to str, optional
        Dataset tag or entity type -> model label or entity type.

    Returns
    -------
    LoadedDataset
        A new dataset whose tags are all in ``model_labels`` and whose ``label_names`` is
        ``model_labels``; ``extra["label_map"]`` records the map used.

    Raises
    ------
    ExplainerError
        If the model's labels are generic (``LABEL_0``...) and no map is given, if a key of the map
        matches no dataset tag or type (the message names the closest), or if some dataset tags are not
        model labels: the message lists them and every model label, and asks for ``--label-map``.
    """
    model_labels = list(model_labels)
    known = set(model_labels)
    dataset_tags = dataset.tag_set()
    if label_map:
        check_label_map_keys(label_map, dataset_tags | set(dataset.label_names or ()))
    generic = bool(model_labels) and all(GENERIC_LABEL.fullmatch(label) for label in model_labels)
    if generic and not label_map:
        raise ExplainerError(
            f"the model's labels are generic ({model_labels[0]}..{model_labels[-1]}): its config has no label names, "
            f"so the dataset's tags ({_listing(dataset_tags)}) cannot be matched by name; {LABEL_MAP_HINT}, "
            f'e.g. {{"O": "{model_labels[0]}", "B-PER": "{model_labels[min(1, len(model_labels) - 1)]}"}}'
        )
    renamed = {tag: map_tag(tag, label_map) if label_map else tag for tag in dataset_tags}
    unknown = sorted(tag for tag, new in renamed.items() if new not in known)
    if unknown:
        shown = [tag if renamed[tag] == tag else f"{tag} (mapped to {renamed[tag]})" for tag in unknown]
        raise ExplainerError(
            f"{len(unknown)} dataset label(s) unknown to the model: {', '.join(shown)}; "
            f"the model's {len(model_labels)} labels are listed below; {LABEL_MAP_HINT}",
            details=_wrapped(f"the model's labels ({len(model_labels)}): ", model_labels),
        )
    examples = [
        Example(words=example.words, tags=tuple(renamed[tag] for tag in example.tags), source=example.source)
        for example in dataset.examples
    ]
    extra = dict(dataset.extra)
    if label_map:
        extra["label_map"] = dict(label_map)
    return LoadedDataset(
        examples=examples,
        spec=dataset.spec,
        format=dataset.format,
        split=dataset.split,
        label_names=model_labels,
        skipped_empty=dataset.skipped_empty,
        extra=extra,
    )


def check_label_map_keys(label_map: dict[str, str], dataset_tags: set[str]) -> None:
    """Refuse a label map with a key that is neither a dataset tag nor a dataset entity type (a typo
    would otherwise rename nothing, silently).

    Parameters
    ----------
    label_map : dict of str to str
    dataset_tags : set of str
        The dataset's tags (IOB2), those in its examples and those its label list declares.

    Raises
    ------
    ExplainerError
        Naming every such key and, for each, the closest dataset tags or types.
    """
    types = {tag[2:] for tag in dataset_tags if tag != OUTSIDE}
    # Both prefixes of every type: a dataset of one-word entities has no I- tag, yet its map may name one.
    candidates = sorted(dataset_tags | types | {OUTSIDE} | {prefix + kind for kind in types for prefix in ("B-", "I-")})
    unmatched = [key for key in label_map if key not in candidates]
    if not unmatched:
        return
    described = []
    for key in unmatched:
        close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.5)
        described.append(f"{key!r} (closest: {', '.join(close)})" if close else repr(key))
    raise ExplainerError(
        f"--label-map key(s) matching no tag or entity type of the dataset: {'; '.join(described)}; "
        f"keys are dataset tags after conversion to IOB2 or entity types ({_listing(sorted(types), limit=30)}); "
        "fix or remove them"
    )


def label_map_template(dataset_tags: set[str], model_labels: Sequence[str]) -> dict[str, object]:
    """A label map to fill in: the dataset's entity types (full tags when the model's labels are generic) as
    keys, with the model's own type where it has the same one and ``""`` elsewhere, and the lists to pick
    from as ``//`` notes (which :func:`read_label_map` leaves out).

    Parameters
    ----------
    dataset_tags : set of str
        The dataset's tags (IOB2).
    model_labels : sequence of str
        The model's labels in id order.

    Returns
    -------
    dict
        JSON-ready; an empty value must be filled in before the map is read.
    """
    model_labels = list(model_labels)
    generic = bool(model_labels) and all(GENERIC_LABEL.fullmatch(label) for label in model_labels)
    dataset_types = sorted({tag[2:] for tag in dataset_tags if tag != OUTSIDE})
    model_types = sorted({label[2:] for label in model_labels if label[:2] in ("B-", "I-")})
    template: dict[str, object] = {
        "// how": "Give each key a value: a model label (or, for an entity type, a model entity type; O drops "
        "the type). Keys may also be full dataset tags such as B-x. Then pass this file to --label-map. "
        "Keys starting with // are notes and are ignored.",
        "// model labels": model_labels,
        "// model entity types": model_types,
        "// dataset tags (IOB2)": sorted(dataset_tags),
    }
    if generic:  # nothing to match by name: every tag needs its label id
        template.update({tag: "" for tag in sorted(dataset_tags | {OUTSIDE})})
    else:
        template.update({kind: kind if kind in model_types else "" for kind in dataset_types})
    return template


def _wrapped(title: str, items: Sequence[str]) -> str:
    """Every item, comma-separated, wrapped to :data:`WRAP_WIDTH` with continuation lines indented."""
    return textwrap.fill(
        ", ".join(items),
        width=WRAP_WIDTH,
        initial_indent="  " + title,
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _listing(items: Iterable[str], *, presorted: bool = False, limit: int = MAX_LISTED) -> str:
    """``"a, b, c"``; at most ``limit`` items, then ``"and N more"``."""
    items = list(items) if presorted else sorted(items)
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
