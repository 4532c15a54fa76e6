"""Tag schemes and label names: IOB1 -> IOB2, label maps, and aligning a dataset with a model's labels.

A *tag* is a word's gold label name: ``"O"``, ``"B-<type>"`` or ``"I-<type>"``. Loaders normalise
every dataset to IOB2 (every entity opens with ``B-``) with :func:`to_iob2`; :func:`align_labels`
then renames the tags to the model's label names, optionally through a user's label map.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from explainer.data.example import Example, LoadedDataset
from explainer.errors import ExplainerError

OUTSIDE = "O"
EXPECTED_TAG_FORMS = "expected O, B-<type> or I-<type> (IOB1 or IOB2), e.g. B-PER"
LABEL_MAP_HINT = "pass --label-map FILE, a JSON object mapping dataset tags or entity types to the model's labels"
# Labels transformers invents when a config declares none: LABEL_0, LABEL_1, ...
GENERIC_LABEL = re.compile(r"LABEL_\d+")
MAX_LISTED = 10


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


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Normalise one example's tags to IOB2: an entity always opens with ``B-``.

    In IOB1, ``B-`` only separates two adjacent entities of one type and an entity otherwise opens
    with ``I-``. An ``I-X`` not preceded by ``B-X`` or ``I-X`` therefore becomes ``B-X``; IOB2 tags
    come back unchanged, ``"O"`` stays ``"O"`` and tags of any other form are left as they are.

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
    """
    result = list(tags)
    previous_type = None  # entity type of the previous tag, None after O or any other form
    for index, tag in enumerate(result):
        if tag.startswith("I-"):
            if previous_type != tag[2:]:
                result[index] = "B-" + tag[2:]
            previous_type = tag[2:]
        elif tag.startswith("B-"):
            previous_type = tag[2:]
        else:
            previous_type = None
    return result


def read_label_map(path: str | Path) -> dict[str, str]:
    """Read a label map: a JSON object ``{dataset tag or entity type: model tag or type}``.

    Parameters
    ----------
    path : str or Path
        A UTF-8 JSON file, e.g. ``{"person": "PER", "B-corporation": "B-ORG", "O": "O"}``.

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
    for key, value in mapping.items():
        if not isinstance(value, str) or not value.strip():
            raise ExplainerError(
                f"label map {path}: the value of {key!r} must be a non-empty string "
                f"(a model label or entity type), found {value!r}"
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
        If the model's labels are generic (``LABEL_0``...) and no map is given, or if some dataset
        tags are not model labels: the message lists them and asks for ``--label-map``.
    """
    model_labels = list(model_labels)
    known = set(model_labels)
    dataset_tags = dataset.tag_set()
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
            f"{len(unknown)} dataset label(s) unknown to the model: {_listing(shown, presorted=True)}; "
            f"the model's labels are {_listing(model_labels, presorted=True)}; {LABEL_MAP_HINT}"
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


def _listing(items: Iterable[str], *, presorted: bool = False, limit: int = MAX_LISTED) -> str:
    """``"a, b, c"``; at most ``limit`` items, then ``"and N more"``."""
    items = list(items) if presorted else sorted(items)
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
