"""What a section of the app is, and the contract every section keeps.

A section is one module in ``explainer/app/sections/`` that defines ``SECTION = Section(...)``; the
navigation is built from these (``explainer.app.sections.load_sections``), so adding a section is
adding one module. A section declares, each in one place:

- where it sits: its ``group`` (the question it answers) and its ``order`` in that group;
- its component ids: ``class Ids(StrEnum)`` with values prefixed by the section's key, so they stay
  unique across sections (a test checks that every callback's ids appear in some layout);
- its URL view: a frozen dataclass subclassing ``View`` whose fields are the query parameters
  (``prefix`` + ``_`` + field name), parsed by ``View.from_query`` and written by ``View.to_query``;
- ``SECTION.link(search, **view_fields)``: the URL of that section showing that view, which other
  sections call instead of writing its query keys;
- its ``layout(cache, query)``, or ``layout(cache, query, context)`` with ``layout_needs_context=True``
  when it needs the app (its settings, its other caches): the factory passes the context, so no
  section keeps the app in a module variable (one process may serve several apps).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from dash.development.base_component import Component

from explainer.app.state import parse_query, update_query

if TYPE_CHECKING:
    from explainer.app.factory import AppContext
    from explainer.cache.reader import Cache

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover (the project supports 3.10, which has no StrEnum)
    from enum import Enum

    class StrEnum(str, Enum):
        """A string enum whose members are their values wherever a string is expected."""

        def __str__(self) -> str:
            return str(self.value)


Query = Mapping[str, str]
V = TypeVar("V", bound="View")


# --- groups ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """A heading of the navigation: the question its sections answer."""

    key: str
    label: str
    question: str


PERFORMANCE = Group("performance", "Performance", "How good is the model, and where does it go wrong?")
EXAMPLES = Group("examples", "Examples", "What do single examples look like to the model?")
DATA = Group("data", "Data", "What is in the dataset, and is it labelled consistently?")
MODEL = Group("model", "Model", "What does the model do with new text and inside?")
REVIEW = Group("review", "Review", "Which gold labels should change?")
DEBUG = Group("debug", "Debug", "How was this cache built?")
GROUPS = (PERFORMANCE, EXAMPLES, DATA, MODEL, REVIEW, DEBUG)  # the navigation's order


# --- the URL view ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRules:
    """How one view field is checked and written; kept in the dataclass field's metadata."""

    choices: tuple[object, ...] | None = None
    low: float | None = None
    high: float | None = None
    parse: Callable[[str], Any] | None = None
    format: Callable[[Any], str | None] | None = None
    key: str | None = None  # the query key's suffix when it cannot be the field's name (a Python keyword)


_RULES = "explainer.view"


def view_field(
    default: Any,
    *,
    choices: Collection[object] | None = None,
    low: float | None = None,
    high: float | None = None,
    parse: Callable[[str], Any] | None = None,
    format: Callable[[Any], str | None] | None = None,
    key: str | None = None,
) -> Any:
    """A view field with rules: a value outside ``choices`` (None too) becomes the default, a number outside
    [``low``, ``high``] is clamped into it; ``parse``/``format`` read and write a type the generic
    parsing does not know (``parse`` raises ValueError on a value it refuses, which then falls back;
    ``format`` returns None to leave the key out of a URL); ``key`` names the query key instead of the
    field (``prefix`` + ``_`` + ``key``)."""
    rules = FieldRules(None if choices is None else tuple(choices), low, high, parse, format, key)
    return dataclasses.field(default=default, metadata={_RULES: rules})


class View:
    """Base of a section's URL view: subclass it as a frozen dataclass whose fields all have defaults.

    ``class MyView(View, prefix="my")``: field ``page`` is the query key ``my_page``. Plain ``int``,
    ``float`` (finite), ``str`` and ``bool`` (``1``/``0``) fields and their optional forms parse by
    themselves; anything a URL holds that does not parse, or breaks a field's rules, gives the field's
    default (URLs are user input). ``corrections`` makes fields consistent with each other.
    """

    PREFIX: ClassVar[str]

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.PREFIX = prefix

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            rules = _rules(spec)
            value = getattr(self, spec.name)
            if rules.choices is not None and value not in rules.choices:  # None too (a control left empty)
                object.__setattr__(self, spec.name, spec.default)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                clamped = value if rules.low is None else max(value, rules.low)
                clamped = clamped if rules.high is None else min(clamped, rules.high)
                object.__setattr__(self, spec.name, type(value)(clamped))
        for name, value in self.corrections().items():
            object.__setattr__(self, name, value)

    def corrections(self) -> dict[str, Any]:
        """Fields to change so the view is consistent (none by default)."""
        return {}

    @classmethod
    def key(cls, name: str) -> str:
        """The URL query key of field ``name``, e.g. ``mis_gold``."""
        spec = next((spec for spec in dataclasses.fields(cls) if spec.name == name), None)  # type: ignore[arg-type]
        if spec is None:
            raise KeyError(f"{cls.__name__} has no field {name!r}")
        return f"{cls.PREFIX}_{_rules(spec).key or name}"

    @classmethod
    def from_query(cls: type[V], query: Query) -> V:
        """The view a URL's query holds; absent or invalid values give the defaults."""
        kinds = _field_types(cls)
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
            text = query.get(cls.key(spec.name))
            if text is None or text == "":
                continue
            try:
                values[spec.name] = _parse(kinds[spec.name], _rules(spec), text)
            except ValueError:
                continue  # the default
        return cls(**values)

    def to_query(self) -> dict[str, str | None]:
        """Every field as its query key and text; None (an unset field) removes the key from a URL."""
        query: dict[str, str | None] = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            value, rules = getattr(self, spec.name), _rules(spec)
            query[self.key(spec.name)] = None if value is None else _format(rules, value)
        return query


_FIELD_TYPES: dict[type, dict[str, Any]] = {}  # one entry per view class


def _field_types(cls: type[View]) -> dict[str, Any]:
    """The view's field types, resolved once per class (its annotations are strings)."""
    if cls not in _FIELD_TYPES:
        _FIELD_TYPES[cls] = get_type_hints(cls)
    return _FIELD_TYPES[cls]


def _rules(spec: dataclasses.Field[Any]) -> FieldRules:
    rules = spec.metadata.get(_RULES)
    return rules if isinstance(rules, FieldRules) else FieldRules()


def _parse(kind: Any, rules: FieldRules, text: str) -> Any:
    """``text`` as a value of ``kind`` (``X | None`` parses as X); ValueError when it is not one."""
    if rules.parse is not None:
        return rules.parse(text)
    if get_origin(kind) in (Union, types.UnionType):
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    if kind is bool:
        if text not in ("0", "1"):
            raise ValueError(text)
        return text == "1"
    if kind is int:
        return int(text)
    if kind is float:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    if kind is str:
        return text
    raise TypeError(f"a view field of type {kind} needs parse= and format= (explainer.app.sections.base.view_field)")


def _format(rules: FieldRules, value: Any) -> str | None:
    if rules.format is not None:
        return rules.format(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # exact: parses back to the same number
    return str(value)


# --- the section -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One section of the app: where it sits in the navigation, its layout, callbacks, ids and URL view.

    ``layout(cache, query)`` returns the section's content for an opened cache and the URL's query
    (so its view restores from a shared link); with ``layout_needs_context`` it is
    ``layout(cache, query, context)``. ``register(app, context)`` adds its callbacks; ``context`` is the
    ``AppContext`` (cache registry, settings). Render a section with ``render``, which passes what its
    layout takes.
    """

    key: str
    label: str
    group: Group
    order: int
    layout: Callable[..., Any]
    register: Callable[..., None] | None = None
    ids: type[StrEnum] | None = None
    view: type[View] | None = None
    layout_needs_context: bool = False

    def __post_init__(self) -> None:
        for member in self.ids or ():
            if not member.value.startswith(f"{self.key}-"):
                raise ValueError(f"section {self.key}: id {member.value!r} must start with '{self.key}-'")

    @property
    def prefix(self) -> str:
        """What the section's query keys start with (``mis`` in ``mis_gold``)."""
        return self.view.PREFIX if self.view is not None else self.key.replace("-", "_")

    def render(self, context: AppContext, cache: Cache, query: Query) -> Any:
        """The section's content for ``cache`` and the URL's ``query`` in the app of ``context``."""
        if self.layout_needs_context:
            return self.layout(cache, query, context)
        return self.layout(cache, query)

    def link(self, search: str | None, **view_fields: Any) -> str:
        """``search`` turned into the URL of this section showing the view of ``view_fields`` (the
        others at their defaults); the inspector closes. Other sections link here with this.

        The URL keeps only the active section's settings, as the navigation's links do: the other
        sections' view keys are dropped; keys of no section (``cache``, ``vs``) stay."""
        if self.view is None:
            if view_fields:
                raise TypeError(f"section {self.key} has no URL view, so a link to it takes no fields")
            query: dict[str, str | None] = {}
        else:
            query = self.view(**view_fields).to_query()
        changes: dict[str, str | None] = {key: None for key in parse_query(search) if _other_sections_key(key, self)}
        changes.update(query)
        return update_query(search, tab=self.key, sample=None, word=None, **changes)


def _other_sections_key(key: str, section: Section) -> bool:
    """Whether ``key`` is a setting of a section's URL view other than ``section``'s."""
    from explainer.app.sections import view_prefixes  # the package imports this module

    return any(key.startswith(f"{prefix}_") for prefix in view_prefixes() if prefix != section.prefix)


# --- ids in a layout ---------------------------------------------------------------------------


def components(tree: Any) -> Iterator[Any]:
    """Every component in a layout tree: Dash components (through every property that holds
    components, not only ``children``), lists of them, and components in Dash's serialised form."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(reversed(node))
        elif isinstance(node, Component):
            yield node
            for name in node._prop_names:
                value = getattr(node, name, None)
                if isinstance(value, (Component, list, tuple, dict)):
                    stack.append(value)
        elif isinstance(node, dict) and "namespace" in node and "props" in node:
            yield node
            stack.extend(value for value in node["props"].values() if isinstance(value, (list, tuple, dict)))


def component_ids(tree: Any) -> list[str | dict[str, Any]]:
    """The ids of every component in ``tree`` (strings, and dicts for pattern-matching ids)."""
    found: list[str | dict[str, Any]] = []
    for node in components(tree):
        ident = node.get("props", {}).get("id") if isinstance(node, dict) else getattr(node, "id", None)
        if ident is not None:
            found.append(ident if isinstance(ident, dict) else str(ident))
    return found
