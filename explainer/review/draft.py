"""The draft: one example's correction while a reviewer works on it (pure: no Dash, no cache, no files).

A draft is a JSON-ready dict (:class:`Draft`): the app keeps it in the browser, so whatever comes back
is checked again before it is saved (:func:`checked_tags`). Tags are IOB2 in the cache's label names.

How a draft changes
    selection   none --click--> one word (the anchor) --click--> first..last word --click--> one word ...
    add         the selection becomes one span of the chosen type (needs a selection and a known type)
    remove      the spans over the selection go (needs a selection)
    remove-span one span goes (named by the button that removes it)
    Each edit clears the selection and makes the draft *dirty* when the tags changed; nothing is saved.
    accept gold / accept all predictions / accept one predicted span / save / model error (labels right) /
    apply a finding's fix: a :class:`Pending` decision
    (:func:`decision_for`), which the caller validates, writes and then applies with :func:`after_save`
    (clean again, with what was saved).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from explainer.analysis.findings import apply_fix
from explainer.analysis.spans import Span
from explainer.data.labels import is_valid_tag
from explainer.errors import ExplainerError
from explainer.review import edits
from explainer.review.corrections import (
    ACCEPT_ALL_PREDICTIONS,
    ACCEPT_GOLD,
    ACCEPT_PREDICTION_SPAN,
    APPLY_FINDING,
    EDIT,
    MODEL_ERROR,
)

ADD = "add"
REMOVE = "remove"
REMOVE_SPAN = "remove-span"
EDIT_ACTIONS = (ADD, REMOVE, REMOVE_SPAN)

SELECT_FIRST = "Select words first: click the first word, then the last."
PICK_TYPE = "Pick an entity type for the new span."
NOT_IN_CACHE = "the example being reviewed is not in this cache; reload the page"
CHANGED = "the example changed since it was opened (was the cache rebuilt?); reload the page"
UNKNOWN_TAG = "the correction holds a tag the model does not know; reload the page"
FINDING_ELSEWHERE = "that finding is about another example (was the cache rebuilt?); reload the page"


class SavedInfo(TypedDict):
    """What the draft shows of the example's last decision."""

    kind: str
    reviewer: str | None
    time: str | None
    changed: bool  # the decision differs from gold


class Draft(TypedDict):
    example_id: int
    key: str  # the example's words hash, the corrections' key
    words: list[str]
    gold: list[str]
    pred: list[str]
    tags: list[str]  # the correction so far
    anchor: int | None  # the first word clicked, while a selection is being made
    selection: list[int] | None  # [first, last] word, inclusive
    dirty: bool  # edited since the last save
    types: list[str]  # the entity types a span may have
    saved: SavedInfo | None
    issues: list[bool] | None  # per word: a likely label issue (cleanlab), None without label quality
    revision: int  # the example's latest decision when the draft was opened (0: none): a save goes on top of it
    conflict: Conflicting | None  # a decision another reviewer saved since, which refused this draft's save


class Conflicting(TypedDict):
    """Another reviewer's decision that refused a save, and the decision that was refused (to save it again)."""

    kind: str
    reviewer: str | None
    time: str | None
    revision: int
    corrected: list[str]
    pending: dict[str, Any]  # kind, tags and detail of the refused decision


@dataclass(frozen=True)
class CachedExample:
    """What the review needs of one example, as the cache holds it."""

    example_id: int
    key: str
    words: list[str]
    gold: list[str]
    pred: list[str]
    source: str


@dataclass(frozen=True)
class Pending:
    """A decision to save: its kind, the corrected tags and the detail the corrections file records."""

    kind: str
    tags: list[str]
    detail: dict[str, Any] | None = None


def saved_info(decision: Mapping[str, Any] | None) -> SavedInfo | None:
    if decision is None:
        return None
    return {
        "kind": decision["kind"],
        "reviewer": decision.get("reviewer"),
        "time": decision.get("time"),
        "changed": decision["corrected"] != decision["original"],
    }


def start_draft(
    example: CachedExample,
    *,
    decision: Mapping[str, Any] | None,
    types: Sequence[str],
    issues: list[bool] | None = None,
) -> Draft:
    """The draft to start from: the example's last ``decision`` if it was made on today's gold, else gold."""
    current = decision if decision is not None and decision["original"] == example.gold else None
    revision = int(decision.get("revision") or 0) if decision is not None else 0
    return {
        "example_id": example.example_id,
        "key": example.key,
        "words": list(example.words),
        "gold": list(example.gold),
        "pred": list(example.pred),
        "tags": list(current["corrected"]) if current else list(example.gold),
        "anchor": None,
        "selection": None,
        "dirty": False,
        "types": list(types),
        "saved": saved_info(current),
        "issues": issues,
        "revision": revision,
        "conflict": None,
    }


def click_word(draft: Draft, index: int) -> Draft:
    """First click anchors a selection at a word; the second extends it to the clicked word."""
    anchor = draft.get("anchor")
    if anchor is None or draft.get("selection") != [anchor, anchor]:
        return {**draft, "anchor": index, "selection": [index, index]}
    return {**draft, "anchor": None, "selection": [min(anchor, index), max(anchor, index)]}


def span_argument(start: int, end: int, kind: str | None = None) -> str:
    """How a button names a span: ``"start,end"`` or ``"start,end,type"`` (read back by :func:`parse_span`)."""
    return f"{start},{end}" if kind is None else f"{start},{end},{kind}"


def parse_span(argument: object, *, typed: bool) -> tuple[int, int, str]:
    """``(start, end, type)`` from :func:`span_argument`'s text (type ``""`` when not ``typed``).

    Raises ValueError when the text is not one.
    """
    parts = str(argument).split(",", 2 if typed else 1)
    if len(parts) != (3 if typed else 2):
        raise ValueError(f"not a span: {argument!r}")
    return int(parts[0]), int(parts[1]), parts[2] if typed else ""


def edit_draft(
    draft: Draft, action: str, *, argument: object = None, entity: str | None = None
) -> tuple[Draft, str | None]:
    """Apply one edit (no saving): ``add`` (the selection as an ``entity`` span), ``remove`` (spans over the
    selection), ``remove-span`` (``argument`` = "start,end"). Returns the new draft and a message."""
    tags, selection = draft["tags"], draft.get("selection")
    if action not in EDIT_ACTIONS:
        raise ValueError(f"edit must be one of {EDIT_ACTIONS}, not {action!r}")
    if action == REMOVE_SPAN:
        start, end, _ = parse_span(argument, typed=False)
        tags = edits.remove_spans(tags, start, end)
    elif not selection:
        return draft, SELECT_FIRST
    elif action == ADD:
        if entity is None or entity not in draft["types"]:
            return draft, PICK_TYPE
        tags = edits.add_span(tags, selection[0], selection[1] + 1, entity)
    else:
        tags = edits.remove_spans(tags, selection[0], selection[1] + 1)
    return {
        **draft,
        "tags": tags,
        "anchor": None,
        "selection": None,
        "dirty": tags != draft["tags"] or draft["dirty"],
    }, None


def decision_for(draft: Draft, kind: str, *, argument: object = None) -> Pending:
    """The decision a button asks for: accept gold, accept all predictions, accept one predicted span
    (``argument`` = "start,end,type"), save the edits, model error (labels right: gold kept) or apply a
    finding's fix to the correction (``argument`` = the finding, a row of the cache's findings)."""
    if kind == ACCEPT_GOLD:
        return Pending(ACCEPT_GOLD, list(draft["gold"]))
    if kind == ACCEPT_ALL_PREDICTIONS:
        return Pending(ACCEPT_ALL_PREDICTIONS, edits.normalised(draft["pred"]))
    if kind == ACCEPT_PREDICTION_SPAN:
        span: Span = parse_span(argument, typed=True)
        return Pending(ACCEPT_PREDICTION_SPAN, edits.accept_span(draft["tags"], span), {"span": list(span)})
    if kind == EDIT:
        return Pending(EDIT, list(draft["tags"]))
    if kind == MODEL_ERROR:
        return Pending(MODEL_ERROR, list(draft["gold"]))
    if kind == APPLY_FINDING:
        # ``argument``: the finding as the cache holds it (never the browser's copy)
        if not isinstance(argument, Mapping) or argument.get("example_id") != draft["example_id"]:
            raise ExplainerError(FINDING_ELSEWHERE)
        detail = {
            "start": int(argument["start"]),
            "end": int(argument["end"]),
            "kind": str(argument["kind"]),
            "gold_spans": [str(span) for span in argument["gold_spans"]],
            "fix_spans": [str(span) for span in argument["fix_spans"]],
            "score": round(float(argument["score"]), 4),
        }
        return Pending(APPLY_FINDING, apply_fix(draft["tags"], argument), {"finding": detail})
    raise ValueError(f"unknown decision {kind!r}")


def checked_example_id(draft: Mapping[str, Any], n_examples: int) -> int:
    """The draft's example id, when it names one of the cache's ``n_examples`` (the browser is not trusted)."""
    example_id = draft.get("example_id")
    if not isinstance(example_id, int) or not 0 <= example_id < n_examples:
        raise ExplainerError(NOT_IN_CACHE)
    return example_id


def checked_tags(
    draft: Mapping[str, Any], pending: Pending, *, example: CachedExample, types: Collection[str]
) -> list[str]:
    """The tags to save for ``pending``, checked against the cache's ``example`` and entity ``types``.

    Accepting gold saves the cache's gold, not the browser's copy of it. Raises ExplainerError when the
    draft is not of ``example`` as the cache holds it or a tag is unknown.
    """
    tags = [str(tag) for tag in pending.tags]
    if example.key != draft.get("key") or len(tags) != len(example.words):
        raise ExplainerError(CHANGED)
    if not all(is_valid_tag(tag) and (tag == "O" or tag[2:] in types) for tag in tags):
        raise ExplainerError(UNKNOWN_TAG)
    return list(example.gold) if pending.kind in (ACCEPT_GOLD, MODEL_ERROR) else edits.normalised(tags)


def after_save(draft: Draft, decision: Mapping[str, Any]) -> Draft:
    """The draft once ``decision`` is written: its tags, clean, showing what was saved."""
    return {
        **draft,
        "tags": list(decision["corrected"]),
        "anchor": None,
        "selection": None,
        "dirty": False,
        "saved": saved_info(decision),
        "revision": int(decision.get("revision") or draft.get("revision") or 0),
        "conflict": None,
    }


def with_conflict(draft: Draft, theirs: Mapping[str, Any], refused: Pending) -> Draft:
    """The draft once its save was refused because of ``theirs``: unchanged, holding both decisions."""
    return {
        **draft,
        "conflict": {
            "kind": str(theirs.get("kind") or EDIT),
            "reviewer": theirs.get("reviewer"),
            "time": theirs.get("time"),
            "revision": int(theirs.get("revision") or 0),
            "corrected": list(theirs.get("corrected") or draft["gold"]),
            "pending": {"kind": refused.kind, "tags": list(refused.tags), "detail": refused.detail},
        },
    }


def take_theirs(draft: Draft) -> Draft:
    """Drop this draft's refused decision and show the other reviewer's instead (nothing is saved)."""
    conflict = draft.get("conflict")
    if not conflict:
        return draft
    theirs = {"kind": conflict["kind"], "reviewer": conflict["reviewer"], "time": conflict["time"]}
    return {
        **draft,
        "tags": list(conflict["corrected"]),
        "anchor": None,
        "selection": None,
        "dirty": False,
        "saved": saved_info({**theirs, "corrected": conflict["corrected"], "original": draft["gold"]}),
        "revision": conflict["revision"],
        "conflict": None,
    }


def overwrite(draft: Draft) -> tuple[Draft, Pending] | None:
    """The refused decision, to save again on top of the other reviewer's (None without a conflict)."""
    conflict = draft.get("conflict")
    if not conflict:
        return None
    pending = conflict["pending"]
    return {**draft, "revision": conflict["revision"], "conflict": None}, Pending(
        str(pending["kind"]), list(pending["tags"]), pending.get("detail")
    )
