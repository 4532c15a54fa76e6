"""The attributes slices are made of, registered in one place, and their buckets.

An attribute is a function decorated with :func:`attribute`: it receives an :class:`AttributeInput` and
returns one value per span (``level="span"`` or ``"reference"``) or per example (``level="example"``, the
value is then given to each span of the example). Its ``buckets`` say how values become the groups the
Slices view and the weak-slice search compare: :class:`Categorical`, :class:`Fixed` edges or
:class:`Quantile` buckets. Adding an attribute is adding one decorated function here (or in any module
imported before the build step runs): the build stores it, the view draws it, the search uses it.

Reference attributes compare a span with a reference training set (``--train-dataset``): whether its
surface form (its words joined by a space, case kept) is an entity in training, how often, and how often
with this type. They are computed only when a reference is given.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from explainer.analysis.slices import bucket_column

Level = Literal["span", "example", "reference"]
YES, NO = "yes", "no"
_URL = re.compile(r"(https?://|www\.|\w\.(com|org|net|io|ly)\b)", re.IGNORECASE)


# --- buckets ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Categorical:
    """Each value its own bucket (``order`` first, then by frequency); beyond ``top`` values, "other"."""

    order: tuple[str, ...] = ()
    top: int = 12
    missing: str | None = None

    def assign(self, values: pd.Series) -> pd.Categorical:
        text = values.astype(object).where(values.notna(), self.missing)
        present = text.dropna().astype(str)
        frequent = [value for value in present.value_counts().index if value not in self.order]
        kept = [*self.order, *frequent][: self.top]
        strings = text.astype(str).to_numpy(dtype=object)
        rest = "other" if "other" not in kept else "(other)"  # a value may itself be "other" (WNUT's type)
        in_kept = pd.Series(strings).isin(kept).to_numpy()
        labels = np.where(in_kept, strings, rest).astype(object)
        labels[text.isna().to_numpy()] = None
        categories = kept + ([rest] if (~in_kept & text.notna().to_numpy()).any() else [])
        return pd.Categorical(labels, categories=categories, ordered=True)


@dataclass(frozen=True)
class Fixed:
    """Buckets by lower edges: value ``x`` is in bucket ``i`` when ``lower[i] <= x < lower[i + 1]``."""

    lower: tuple[float, ...]
    labels: tuple[str, ...]
    missing: str | None = None  # the bucket of a missing value (NaN); None: in no bucket

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.labels):
            raise ValueError("Fixed buckets need one label per lower edge")

    def assign(self, values: pd.Series) -> pd.Categorical:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        index = np.searchsorted(np.asarray(self.lower, dtype=np.float64), numbers, side="right") - 1
        labels = np.array(self.labels, dtype=object)[np.clip(index, 0, len(self.labels) - 1)]
        labels[np.isnan(numbers)] = self.missing
        categories = list(self.labels) + ([self.missing] if self.missing is not None else [])
        return pd.Categorical(labels, categories=categories, ordered=True)


@dataclass(frozen=True)
class Quantile:
    """``n`` buckets of (about) equal size, edges from the values' quantiles (ties merge buckets)."""

    n: int = 4
    missing: str | None = None

    def assign(self, values: pd.Series) -> pd.Categorical:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        present = numbers[~np.isnan(numbers)]
        if not len(present):
            return Fixed((0.0,), ("all",), self.missing).assign(values)
        integral = bool(np.all(present == np.round(present)))
        edges = np.quantile(present, np.linspace(0, 1, self.n + 1))
        if integral:  # integer edges, so that every bucket reads as a range of whole numbers
            edges = np.ceil(edges)
        edges = np.unique(edges)
        lower = tuple(float(edge) for edge in edges[:-1]) or (float(edges[0]),)
        uppers = [*lower[1:], float(present.max())]
        labels = []
        for position, (low, high) in enumerate(zip(lower, uppers)):
            labels.append(_range_label(low, high, integral=integral, closed=position == len(lower) - 1))
        return Fixed(lower, tuple(labels), self.missing).assign(values)


def _range_label(low: float, high: float, *, integral: bool, closed: bool) -> str:
    if integral:
        top = int(high) if closed else int(high) - 1
        return f"{int(low)}" if top <= low else f"{int(low)}–{top}"
    return f"{low:.3g}–{high:.3g}"


Buckets = Categorical | Fixed | Quantile


# --- the registry ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """What the reference training set says about surface forms and types (counts of gold entities)."""

    name: str
    surface: dict[str, int] = field(default_factory=dict)  # text -> occurrences as an entity
    surface_type: dict[tuple[str, str], int] = field(default_factory=dict)  # (text, type) -> occurrences
    types: dict[str, int] = field(default_factory=dict)  # type -> entities

    @classmethod
    def of(cls, examples: Iterable[tuple[Sequence[str], Sequence[str]]], *, name: str) -> Reference:
        """Count the gold entities of ``(words, tags)`` pairs (chunked as seqeval does)."""
        from explainer.analysis.spans import extract_spans

        surface: Counter[str] = Counter()
        surface_type: Counter[tuple[str, str]] = Counter()
        types: Counter[str] = Counter()
        for words, tags in examples:
            for start, end, kind in extract_spans(tags):
                text = " ".join(words[start:end])
                surface[text] += 1
                surface_type[(text, kind)] += 1
                types[kind] += 1
        return cls(name, dict(surface), dict(surface_type), dict(types))

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "entities": sum(self.types.values()), "surface_forms": len(self.surface)}


@dataclass(frozen=True)
class AttributeInput:
    """What attribute functions read."""

    spans: pd.DataFrame  # explainer.analysis.slices.span_frame
    examples: pd.DataFrame  # example_id, n_words, n_subwords, windowed, source, n_gold_spans
    reference: Reference | None = None

    def per_text(self, function: Callable[[str], Any]) -> np.ndarray:
        """``function`` of each span's text, called once per distinct text (surface forms repeat a lot)."""
        codes, texts = pd.factorize(self.spans["text"].astype(object))
        values = np.array([function(str(text)) for text in texts], dtype=object)
        return values[codes] if len(codes) else np.array([], dtype=object)


@dataclass(frozen=True)
class Attribute:
    name: str
    title: str  # the chart's title
    description: str  # what it means (the README's table says the same)
    level: Level
    buckets: Buckets
    compute: Callable[[AttributeInput], Any]
    phrase: Callable[[str], str]  # a bucket in words, for weak slices ("of 3+ words")


ATTRIBUTES: dict[str, Attribute] = {}


def attribute(
    name: str,
    *,
    title: str,
    description: str,
    buckets: Buckets,
    level: Level = "span",
    phrase: Callable[[str], str] | None = None,
) -> Callable[[Callable[[AttributeInput], Any]], Callable[[AttributeInput], Any]]:
    """Register the decorated function as attribute ``name`` (see the module docstring)."""

    def register(function: Callable[[AttributeInput], Any]) -> Callable[[AttributeInput], Any]:
        ATTRIBUTES[name] = Attribute(
            name, title, description, level, buckets, function, phrase or (lambda bucket: f"{title.lower()} {bucket}")
        )
        return function

    return register


def _flag(yes: str, no: str) -> Callable[[str], str]:
    return lambda bucket: yes if bucket == YES else no


def _yes_no(values: Iterable[bool]) -> list[str]:
    return [YES if value else NO for value in values]


# --- span attributes --------------------------------------------------------------------------------------------


@attribute(
    "type",
    title="Entity type",
    description="the span's entity type (gold type for gold spans, predicted type for predictions)",
    buckets=Categorical(top=30),
    phrase=lambda bucket: f"of type {bucket}",
)
def _type(data: AttributeInput) -> Any:
    return data.spans["type"]


@attribute(
    "length",
    title="Length (words)",
    description="words in the span",
    buckets=Fixed((1, 2, 3, 4), ("1", "2", "3", "4+")),
    phrase=lambda bucket: f"of {bucket} word{'' if bucket == '1' else 's'}",
)
def _length(data: AttributeInput) -> Any:
    return data.spans["end"] - data.spans["start"]


def _title(word: str) -> bool:
    letters = [char for char in word if char.isalpha()]
    return letters[0].isupper() and all(char.islower() for char in letters[1:])


def capitalisation(words: Sequence[str]) -> str:
    """``all caps``, ``title case``, ``lower case``, ``mixed`` or ``no letters`` over the words' letters."""
    cased = [word for word in words if any(char.isalpha() for char in word)]
    if not cased:
        return "no letters"
    letters = "".join(char for word in cased for char in word if char.isalpha())
    if letters.isupper() and len(letters) > 1:
        return "all caps"
    if letters.islower():
        return "lower case"
    if all(_title(word) for word in cased):
        return "title case"
    return "mixed"


@attribute(
    "capitalisation",
    title="Capitalisation",
    description="all caps, title case, lower case, mixed, or no letters (over the span's letters)",
    buckets=Categorical(order=("title case", "all caps", "lower case", "mixed", "no letters")),
    phrase=lambda bucket: f"in {bucket}",
)
def _capitalisation(data: AttributeInput) -> Any:
    return data.per_text(lambda text: capitalisation(text.split(" ")))


@attribute(
    "digit",
    title="Contains a digit",
    description="some character of the span is a digit",
    buckets=Categorical(order=(YES, NO)),
    phrase=_flag("with a digit", "without a digit"),
)
def _digit(data: AttributeInput) -> Any:
    return data.per_text(lambda text: _yes_no([any(char.isdigit() for char in text)])[0])


@attribute(
    "punctuation",
    title="Contains punctuation",
    description="some character of the span is Unicode punctuation (category P*)",
    buckets=Categorical(order=(YES, NO)),
    phrase=_flag("with punctuation", "without punctuation"),
)
def _punctuation(data: AttributeInput) -> Any:
    return data.per_text(lambda text: _yes_no([any(unicodedata.category(c).startswith("P") for c in text)])[0])


@attribute(
    "mention",
    title="Contains @ or #",
    description="a word of the span starts with @ or # (social-media mentions and hashtags)",
    buckets=Categorical(order=(YES, NO)),
    phrase=_flag("with an @ or #", "without @ or #"),
)
def _mention(data: AttributeInput) -> Any:
    return data.per_text(lambda text: _yes_no([any(word[:1] in ("@", "#") for word in text.split(" "))])[0])


@attribute(
    "url",
    title="Contains a URL",
    description="the span's text holds http(s)://, www. or a .com/.org/.net/.io/.ly name",
    buckets=Categorical(order=(YES, NO)),
    phrase=_flag("with a URL", "without a URL"),
)
def _url(data: AttributeInput) -> Any:
    return data.per_text(lambda text: _yes_no([bool(_URL.search(text))])[0])


@attribute(
    "subwords_per_word",
    title="Subwords per word",
    description="the model's subwords over the span's words: how hard the tokenizer splits it",
    buckets=Fixed((0, 1.01, 1.5, 2, 3), ("1", "1–1.5", "1.5–2", "2–3", "3+")),
    phrase=lambda bucket: "whose words are not split" if bucket == "1" else f"split into {bucket} subwords a word",
)
def _subwords_per_word(data: AttributeInput) -> Any:
    lengths = (data.spans["end"] - data.spans["start"]).to_numpy()
    return data.spans["n_subwords"].to_numpy() / np.maximum(lengths, 1)


@attribute(
    "position",
    title="Position in the example",
    description="where the span starts: at the first word, in the first half, or in the second half",
    buckets=Fixed((0, 1e-9, 0.5), ("first word", "first half", "second half")),
    phrase=lambda bucket: "at the first word" if bucket == "first word" else f"in the {bucket}",
)
def _position(data: AttributeInput) -> Any:
    return data.spans["start"].to_numpy() / np.maximum(data.spans["example_words"].to_numpy(), 1)


# --- example attributes (each span gets its example's value) --------------------------------------------------


@attribute(
    "example_words",
    title="Example length (words)",
    description="words in the span's example (quartiles)",
    level="example",
    buckets=Quantile(4),
    phrase=lambda bucket: f"in examples of {bucket} words",
)
def _example_words(data: AttributeInput) -> Any:
    return data.examples["n_words"]


@attribute(
    "example_subwords",
    title="Example length (subwords)",
    description="subwords of the span's example, special tokens included (quartiles)",
    level="example",
    buckets=Quantile(4),
    phrase=lambda bucket: f"in examples of {bucket} subwords",
)
def _example_subwords(data: AttributeInput) -> Any:
    return data.examples["n_subwords"]


@attribute(
    "entities",
    title="Entities in the example",
    description="gold entities in the span's example",
    level="example",
    buckets=Fixed((0, 1, 2, 3, 5), ("0", "1", "2", "3–4", "5+")),
    phrase=lambda bucket: f"in examples with {bucket} gold entities",
)
def _entities(data: AttributeInput) -> Any:
    return data.examples["n_gold_spans"]


@attribute(
    "windowed",
    title="Example split into windows",
    description="the example was longer than the model's window and was read in overlapping windows",
    level="example",
    buckets=Categorical(order=(YES, NO)),
    phrase=_flag("in windowed examples", "in examples read whole"),
)
def _windowed(data: AttributeInput) -> Any:
    return _yes_no(data.examples["windowed"].astype(bool))


def source_file(source: str) -> str:
    """The file or split of an example's source (``train.txt:1203`` -> ``train.txt``, ``test[17]`` -> ``test``)."""
    text = str(source)
    if text.endswith("]") and "[" in text:
        return text[: text.rindex("[")]
    head, sep, tail = text.rpartition(":")
    return head if sep and tail.isdigit() else text


@attribute(
    "source",
    title="Source file",
    description="the file or split the example came from (the 12 most frequent; the rest are 'other')",
    level="example",
    buckets=Categorical(top=12),
    phrase=lambda bucket: f"from {bucket}",
)
def _source(data: AttributeInput) -> Any:
    return [source_file(source) for source in data.examples["source"]]


# --- reference attributes (--train-dataset) ---------------------------------------------------------------------


def _reference(data: AttributeInput) -> Reference:
    assert data.reference is not None, "reference attributes are computed only with a reference"
    return data.reference


@attribute(
    "seen",
    title="Surface form in training",
    description="the span's text is a gold entity (of any type) somewhere in the training set",
    level="reference",
    buckets=Categorical(order=("seen", "unseen")),
    phrase=lambda bucket: "seen in training" if bucket == "seen" else "unseen in training",
)
def _seen(data: AttributeInput) -> Any:
    surface = _reference(data).surface
    return data.per_text(lambda text: "seen" if text in surface else "unseen")


@attribute(
    "train_frequency",
    title="Frequency in training",
    description="how often the span's text is a gold entity in the training set",
    level="reference",
    buckets=Fixed((0, 1, 2, 5, 20), ("0", "1", "2–4", "5–19", "20+")),
    phrase=lambda bucket: f"seen {bucket} times in training",
)
def _train_frequency(data: AttributeInput) -> Any:
    surface = _reference(data).surface
    return data.per_text(lambda text: surface.get(text, 0)).astype(np.int64)


@attribute(
    "label_consistency",
    title="Label consistency in training",
    description="share of the text's training occurrences labelled with this span's type (unseen: no share)",
    level="reference",
    buckets=Fixed((0, 1e-9, 0.5, 1), ("0%", "under 50%", "50–99%", "100%"), missing="unseen"),
    phrase=lambda bucket: (
        "unseen in training" if bucket == "unseen" else f"labelled with this type {bucket} of the time in training"
    ),
)
def _label_consistency(data: AttributeInput) -> Any:
    reference = _reference(data)
    return [
        reference.surface_type.get((text, kind), 0) / reference.surface[text] if text in reference.surface else np.nan
        for text, kind in zip(data.spans["text"], data.spans["type"])
    ]


@attribute(
    "type_frequency",
    title="Type frequency in training",
    description="gold entities of the span's type in the training set (terciles)",
    level="reference",
    buckets=Quantile(3),
    phrase=lambda bucket: f"of a type with {bucket} training entities",
)
def _type_frequency(data: AttributeInput) -> Any:
    types = _reference(data).types
    return [types.get(kind, 0) for kind in data.spans["type"]]


# --- computing them ----------------------------------------------------------------------------------------------


def available(reference: Reference | None) -> list[str]:
    """The registered attributes that can be computed (reference ones only with a reference)."""
    return [name for name, spec in ATTRIBUTES.items() if spec.level != "reference" or reference is not None]


def compute_attributes(
    spans: pd.DataFrame, examples: pd.DataFrame, *, reference: Reference | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Every available attribute's values and buckets.

    Parameters
    ----------
    spans : DataFrame
        :func:`explainer.analysis.slices.span_frame`'s rows.
    examples : DataFrame
        ``example_id, n_words, n_subwords, windowed, source, n_gold_spans``, one row per example.
    reference : Reference, optional
        The training set's counts; without it the reference attributes are left out.

    Returns
    -------
    (DataFrame, DataFrame, list of str)
        The spans with a column per attribute (its value) and ``bucket:<name>`` (its bucket, a
        categorical in bucket order); the examples with a column and a bucket per example attribute;
        the attribute names computed.
    """
    data = AttributeInput(spans.reset_index(drop=True), examples.reset_index(drop=True), reference)
    span_result = data.spans.copy()
    example_result = data.examples[["example_id"]].copy()
    names = available(reference)
    positions = pd.Index(data.examples["example_id"]).get_indexer(data.spans["example_id"])
    for name in names:
        spec = ATTRIBUTES[name]
        values = pd.Series(np.asarray(spec.compute(data), dtype=object)).infer_objects()
        if spec.level == "example":
            example_result[name] = values.to_numpy()
            buckets = spec.buckets.assign(values)
            example_result[bucket_column(name)] = buckets
            span_result[name] = values.to_numpy()[positions] if len(positions) else values.iloc[:0].to_numpy()
            span_result[bucket_column(name)] = pd.Categorical(
                np.asarray(buckets, dtype=object)[positions] if len(positions) else [],
                categories=buckets.categories,
                ordered=True,
            )
        else:
            span_result[name] = values.to_numpy()
            span_result[bucket_column(name)] = spec.buckets.assign(values)
    return span_result, example_result, names


def describe_slice(conditions: Sequence[Any], entity_type: str) -> str:
    """A slice in words: ``"ORG entities unseen in training, of 3+ words"``."""
    parts = [
        ATTRIBUTES[condition.attribute].phrase(condition.bucket)
        if condition.attribute in ATTRIBUTES
        else f"{condition.attribute} {condition.bucket}"
        for condition in conditions
    ]
    head = f"{entity_type} entities" if entity_type else "entities"
    return head + (" " + ", ".join(parts) if parts else "")
