"""Review: a queue of suspicious examples whose labels a reviewer accepts or corrects, one at a time.

The queue is ordered by entity F1 (lowest first, as Prodigy's ``ner.review_hardest``), total loss
(highest first) or label-quality score (lowest first; needs a build with ``--label-quality``) and
filtered by entity type, span error category and review status; all of it, and the example shown,
lives in the URL (``rev_order``, ``rev_type``, ``rev_cat``, ``rev_status``, ``rev_ex``).

Each example shows its gold and predicted spans, then the *correction*: clickable word chips holding
the current tags (the last decision, else gold). Accept gold, accept one predicted span, accept all
predictions, or select words (click the first and the last), pick a type and add a span, remove one,
then save. Every accept and every save appends one decision to the corrections file beside the cache
(:mod:`explainer.review.corrections`) at once. Keys (``assets/review-keys.js``): ``a`` accept gold,
``p`` accept all predictions, ``s`` save, ``n``/→ next, ``b``/← previous.

Downloads: the corrections file, the corrected dataset as CoNLL and as JSONL (merged into the original
file when the build's dataset is a readable file of that form, so other examples stay byte-for-byte;
otherwise written from the cache's examples) and a JSON summary of what changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis.examples import rows_of, span_error_by_word
from explainer.analysis.review import (
    ANY_ERROR,
    ORDERS,
    filter_queue,
    matching_examples,
    neighbour,
    position_in,
    queue_order,
)
from explainer.analysis.spans import extract_spans
from explainer.analysis.tables import per_cache
from explainer.app.components.aligned import open_button_id, register_open_buttons
from explainer.app.components.inspector import error_legend, span_line, type_colours
from explainer.app.sections.base import REVIEW, Section
from explainer.app.state import int_param, parse_query, update_query
from explainer.cache import schema
from explainer.data.labels import is_valid_tag
from explainer.errors import ExplainerError
from explainer.review import edits
from explainer.review.corrections import (
    ACCEPT_ALL_PREDICTIONS,
    ACCEPT_GOLD,
    ACCEPT_PREDICTION_SPAN,
    EDIT,
    KIND_LABELS,
    append_decision,
    clean_reviewer,
    corrections_path,
    make_decision,
    reviewed,
)

ORDER_OPTIONS = [
    {"label": "entity F1, lowest first", "value": "f1"},
    {"label": "total loss, highest first", "value": "loss"},
    {"label": "label quality, lowest first", "value": "quality"},
]
STATUS_OPTIONS = [
    {"label": "all", "value": "all"},
    {"label": "to review", "value": "todo"},
    {"label": "reviewed", "value": "done"},
]
WORD = "review-word"
ACCEPT_SPAN = "review-accept-span"
REMOVE_SPAN = "review-remove-span"
QUALITY_NOTE = (
    "This cache has no label-quality scores, so the queue is ordered by entity F1; rebuild it with "
    "`explainer build ... --label-quality self_confidence` to add them."
)
SELECTED_STYLE = {"outline": "2px solid #0d6efd", "outlineOffset": "1px"}
ISSUE_STYLE = {"textDecoration": "underline wavy #d62728"}  # cleanlab flags the gold label as a likely issue


@dataclass(frozen=True)
class View:
    order: str = "f1"
    entity: str | None = None
    category: str | None = None
    status: str = "all"
    example: int | None = None

    def params(self) -> dict:
        return {
            SECTION.param("order"): self.order,
            SECTION.param("type"): self.entity,
            SECTION.param("cat"): self.category,
            SECTION.param("status"): self.status,
            SECTION.param("ex"): self.example,
        }


def view_state(state: dict) -> View:
    """The queue's view from the URL; anything unknown falls back to the default."""
    order = state.get(SECTION.param("order"))
    status = state.get(SECTION.param("status"))
    return View(
        order=order if order in ORDERS else "f1",
        entity=state.get(SECTION.param("type")) or None,
        category=state.get(SECTION.param("cat")) or None,
        status=status if status in ("all", "todo", "done") else "all",
        example=int_param(state, SECTION.param("ex")),
    )


# --- data behind the queue --------------------------------------------------------------------------------------

# The queue needs these columns of the examples table only; a shown example's row is read by row group.
ORDER_COLUMNS = ["example_id", "total_loss", "f1"]


def n_examples(cache) -> int:
    return int(cache.manifest["counts"]["examples"])


def example_row(cache, example_id: int):
    """Example ``example_id``'s row of the examples table (read by row group, not the whole table)."""
    rows = cache.example_rows("examples", int(example_id))
    if rows.empty:
        raise ExplainerError("the example being reviewed is not in this cache; reload the page")
    return rows.iloc[0]


def example_quality(cache) -> np.ndarray | None:
    """The example-level label-quality score per example (row-aligned), or None when the cache has none."""

    def load():
        frame = cache.optional_table(schema.EXAMPLE_LABEL_QUALITY)
        if frame is None or "label_quality" not in frame or len(frame) != n_examples(cache):
            return None
        return frame["label_quality"].to_numpy(dtype=np.float64)

    return per_cache(cache, "review-example-quality", load)


def word_issues(cache, example_id: int) -> list[bool] | None:
    """Which words of ``example_id`` cleanlab flags as likely label issues (None without label quality)."""

    def load():
        frame = cache.optional_table(schema.LABEL_QUALITY)
        if frame is None or "label_issue" not in frame:
            return None
        return frame["label_issue"].to_numpy(dtype=bool)

    flags = per_cache(cache, "review-word-issues", load)
    row = example_row(cache, example_id)
    start, n_words = int(row["word_offset"]), int(row["n_words"])
    if flags is None or start + n_words > len(flags):
        return None
    return [bool(flag) for flag in flags[start : start + n_words]]


def entity_types(cache) -> list[str]:
    types = cache.metrics.get("entity_types") or {label[2:] for label in cache.labels if label[:2] in ("B-", "I-")}
    return sorted(types)


def corrections_file(context, cache) -> Path:
    return corrections_path(cache.path, context.settings.corrections_dir if context is not None else None)


def app_context():
    """The app's context (settings) when called within a request; None otherwise (e.g. a test)."""
    from flask import current_app, has_app_context

    return current_app.config.get("EXPLAINER_CONTEXT") if has_app_context() else None


def latest_of(context, cache) -> dict:
    return reviewed(corrections_file(context, cache)).latest


def example_keys(cache) -> np.ndarray:
    """The examples' words hashes (the corrections' keys), indexed by example id."""
    return per_cache(
        cache, "review-keys", lambda: cache.table("examples", ["words_hash"])["words_hash"].to_numpy(dtype=object)
    )


@dataclass
class Queue:
    ids: np.ndarray  # the filtered queue, in order
    full: np.ndarray  # every example in the chosen order
    note: str | None  # why the order differs from the one asked for


def build_queue(cache, view: View, latest: dict) -> Queue:
    quality = example_quality(cache)
    order, note = view.order, None
    if order == "quality" and quality is None:
        order, note = "f1", QUALITY_NOTE
    full = per_cache(
        cache,
        f"review-order-{order}",
        lambda: queue_order(cache.table("examples", ORDER_COLUMNS), order=order, quality=quality),
    )
    keep = None
    if view.entity or view.category:
        # The filters need a few columns of the span tables, read once and kept (not the whole tables).
        spans = per_cache(cache, "review-spans", lambda: cache.table("spans", ["example_id", "type"]))
        span_errors = per_cache(
            cache,
            "review-span-errors",
            lambda: cache.table("span_errors", ["example_id", "category", "gold_type", "pred_type"]),
        )
        keep = matching_examples(spans=spans, span_errors=span_errors, entity=view.entity, category=view.category)
    keys = example_keys(cache)
    ids = filter_queue(full, keep=keep, keys=keys, reviewed=set(latest), status=view.status)
    return Queue(ids=ids, full=full, note=note)


def progress_text(cache, queue: Queue, latest: dict, example: int | None) -> str:
    keys = example_keys(cache)
    done = int(np.isin(keys, list(latest)).sum()) if latest else 0  # duplicates of a sentence share its decision
    position = position_in(queue.ids, example)
    where = (
        f"example {position} of {len(queue.ids):,} in this queue" if position else f"{len(queue.ids):,} in this queue"
    )
    return f"{done:,} of {len(keys):,} examples reviewed · {where}"


def identity_of(cache) -> dict:
    manifest = cache.manifest
    model, dataset = manifest.get("model", {}), manifest.get("dataset", {})
    return {
        "cache": cache.path.name,
        "model": model.get("id"),
        "model_version": model.get("revision") or model.get("files_sha256"),
        "dataset": dataset.get("spec"),
        "split": manifest.get("split"),
        "fingerprint": dataset.get("fingerprint"),
        "label_map": dataset.get("label_map"),
    }


def reviewer_name(settings, headers) -> str | None:
    """The reviewer: the first configured header the request carries (an authenticating proxy sets it),
    else ``EXPLAINER_REVIEWER``."""
    for header in settings.reviewer_headers:
        value = clean_reviewer(headers.get(header)) if headers is not None else None
        if value:
            return value
    return clean_reviewer(settings.reviewer)


# --- the draft: the example being corrected, kept in the browser ------------------------------------------------


def new_draft(cache, example_id: int, latest: dict) -> dict:
    """The correction of ``example_id`` to start from: its last decision if it still applies, else gold."""
    row = example_row(cache, example_id)
    gold = [str(tag) for tag in row["gold_tags"]]
    decision = latest.get(row["words_hash"])
    current = decision if decision is not None and decision["original"] == gold else None
    return {
        "example_id": int(example_id),
        "key": row["words_hash"],
        "words": [str(w) for w in row["words"]],
        "gold": gold,
        "pred": [str(tag) for tag in row["pred_tags"]],
        "tags": list(current["corrected"]) if current else gold,
        "anchor": None,
        "selection": None,
        "dirty": False,
        "types": entity_types(cache),
        "saved": _saved_info(current),
        "issues": word_issues(cache, example_id),
    }


def _saved_info(decision: dict | None) -> dict | None:
    if decision is None:
        return None
    return {
        "kind": decision["kind"],
        "reviewer": decision.get("reviewer"),
        "time": decision.get("time"),
        "changed": decision["corrected"] != decision["original"],
    }


def click_word(draft: dict, index: int) -> dict:
    """First click anchors a selection at a word; the second extends it to the clicked word."""
    anchor = draft.get("anchor")
    if anchor is None or draft.get("selection") != [anchor, anchor]:
        return {**draft, "anchor": index, "selection": [index, index]}
    return {**draft, "anchor": None, "selection": [min(anchor, index), max(anchor, index)]}


def edit_draft(draft: dict, action: str, *, argument=None, entity: str | None = None) -> tuple[dict, str | None]:
    """Apply one edit (no saving): ``add`` (the selection as an ``entity`` span), ``remove`` (spans over the
    selection), ``remove-span`` (``argument`` = "start,end"). Returns the new draft and a message."""
    tags, selection = draft["tags"], draft.get("selection")
    if action in ("add", "remove") and not selection:
        return draft, "Select words first: click the first word, then the last."
    if action == "add":
        if entity not in draft["types"]:
            return draft, "Pick an entity type for the new span."
        tags = edits.add_span(tags, selection[0], selection[1] + 1, entity)
    elif action == "remove":
        tags = edits.remove_spans(tags, selection[0], selection[1] + 1)
    elif action == "remove-span":
        start, end = (int(part) for part in str(argument).split(","))
        tags = edits.remove_spans(tags, start, end)
    return {
        **draft,
        "tags": tags,
        "anchor": None,
        "selection": None,
        "dirty": tags != draft["tags"] or draft["dirty"],
    }, None


def checked_tags(cache, draft: dict, tags) -> tuple[object, list[str]]:
    """The cache's row of the draft's example and ``tags`` validated against it (the browser is not trusted)."""
    example_id = draft.get("example_id")
    if not isinstance(example_id, int) or not 0 <= example_id < n_examples(cache):
        raise ExplainerError("the example being reviewed is not in this cache; reload the page")
    row = example_row(cache, example_id)
    types = set(entity_types(cache))
    tags = [str(tag) for tag in tags]
    if row["words_hash"] != draft.get("key") or len(tags) != len(row["words"]):
        raise ExplainerError("the example changed since it was opened (was the cache rebuilt?); reload the page")
    if not all(is_valid_tag(tag) and (tag == "O" or tag[2:] in types) for tag in tags):
        raise ExplainerError("the correction holds a tag the model does not know; reload the page")
    return row, edits.normalised(tags)


def save_decision(context, cache, draft: dict, tags, *, kind: str, detail: dict | None, headers) -> dict:
    """Append the decision for ``draft`` with ``tags`` to the corrections file; return the new draft."""
    row, tags = checked_tags(cache, draft, tags)
    if kind == ACCEPT_GOLD:  # the cache's gold, not the browser's copy of it
        tags = [str(tag) for tag in row["gold_tags"]]
    decision = make_decision(
        key=row["words_hash"],
        words=[str(w) for w in row["words"]],
        original=[str(t) for t in row["gold_tags"]],
        corrected=tags,
        kind=kind,
        example_id=int(row["example_id"]),
        source=str(row["source"]),
        detail=detail,
        reviewer=reviewer_name(context.settings, headers),
        identity=identity_of(cache),
    )
    append_decision(corrections_file(context, cache), decision)
    return {**draft, "tags": tags, "anchor": None, "selection": None, "dirty": False, "saved": _saved_info(decision)}


# --- rendering ---------------------------------------------------------------------------------------------------


def draft_view(draft: dict | None) -> list:
    """The correction as word chips (click to select), its spans with a remove button, the predicted spans
    it lacks with an accept button, and the review status."""
    if not draft:
        return []
    colours = type_colours(draft["types"])
    tags, words, selection = draft["tags"], draft["words"], draft.get("selection")
    issues = draft.get("issues")
    spans = {start: (start, end, kind) for start, end, kind in extract_spans(tags)}
    ends = {end - 1: (start, end, kind) for start, end, kind in spans.values()}
    chips = []
    for index, word in enumerate(words):
        kind = tags[index][2:] if tags[index] != "O" else None
        style = {
            "margin": "2px 0 2px 6px" if index in spans else "2px 1px",
            "padding": "1px 5px",
            "border": "1px solid #ccc",
            "borderRadius": "3px",
            "background": "#fff",
        }
        if kind:
            style.update(
                background=colours.get(kind, "#999") + "33", borderBottom=f"3px solid {colours.get(kind, '#999')}"
            )
        if selection and selection[0] <= index <= selection[1]:
            style.update(SELECTED_STYLE)
        flagged = bool(issues and issues[index])
        if flagged:
            style.update(ISSUE_STYLE)
        chips.append(
            html.Button(
                word,
                id={"type": WORD, "index": index},
                n_clicks=0,
                style=style,
                className="review-word btn btn-sm" + (" review-label-issue" if flagged else ""),
                title=f"word {index}: {tags[index]}" + (" · likely label issue (cleanlab)" if flagged else ""),
            )
        )
        if index in ends:
            start, end, kind = ends[index]
            chips.append(
                html.Span(
                    [
                        html.Sup(kind, className="text-muted"),
                        html.Button(
                            "×",
                            id={"type": REMOVE_SPAN, "index": f"{start},{end}"},
                            n_clicks=0,
                            className="btn btn-link btn-sm p-0 ms-1 review-remove-span",
                            title=f"remove this {kind} span",
                        ),
                    ],
                    className="me-2",
                )
            )
    missing = edits.spans_to_accept(tags, draft["pred"])
    accept = (
        [html.Span("Predicted spans not in the correction: ", className="small text-muted me-1")] if missing else []
    )
    for start, end, kind in missing:
        accept.append(
            dbc.Button(
                f"accept “{' '.join(words[start:end])}” {kind}",
                id={"type": ACCEPT_SPAN, "index": f"{start},{end},{kind}"},
                n_clicks=0,
                size="sm",
                color="success",
                outline=True,
                className="me-1 mb-1 review-accept-span",
            )
        )
    saved = draft.get("saved")
    if draft.get("dirty"):
        status = dbc.Badge("unsaved changes: press Save (s)", color="warning", text_color="dark")
    elif saved:
        who = f" by {saved['reviewer']}" if saved.get("reviewer") else ""
        status = dbc.Badge(
            f"reviewed: {KIND_LABELS.get(saved['kind'], saved['kind'])}{who} · {saved.get('time', '')}",
            color="success" if not saved.get("changed") else "primary",
            id=SECTION.id("reviewed-badge"),
        )
    else:
        status = dbc.Badge("not reviewed", color="secondary")
    selected = (
        f"selected words {selection[0]}–{selection[1]}: “{' '.join(words[selection[0] : selection[1] + 1])}”"
        if selection
        else "click a word, then another, to select words"
    )
    return [
        html.Div(chips, className="d-flex flex-wrap align-items-center", id=SECTION.id("chips")),
        html.Div(selected, className="small text-muted mt-1", id=SECTION.id("selection")),
        html.Div(accept, className="mt-2", id=SECTION.id("accept-spans")),
        html.Div(status, className="mt-2", id=SECTION.id("state")),
    ]


def example_panel(cache, draft: dict | None) -> html.Div:
    if draft is None:
        return dbc.Alert("No example matches these filters.", color="secondary")
    example_id = draft["example_id"]
    row = example_row(cache, example_id)
    quality = example_quality(cache)
    colours = type_colours(draft["types"])
    errors = rows_of(cache.example_rows("span_errors", example_id), example_id)
    words = draft["words"]
    header = html.Div(
        [
            html.Strong(f"Example {example_id}", className="me-3", id=SECTION.id("title")),
            html.Span(f"source {row['source']}", className="me-3"),
            html.Span(f"entity F1 {row['f1']:.2f}", className="me-3"),
            html.Span(f"total loss {row['total_loss']:.2f}", className="me-3"),
            html.Span(
                f"label quality {quality[example_id]:.3f}",
                className="me-3",
                title="cleanlab's score of the example's labels (its worst word); low = suspicious; words "
                "flagged as likely label issues are underlined in the correction",
            )
            if quality is not None
            else None,
            dbc.Button(
                "Inspect",
                id=open_button_id(SECTION.key, example_id),
                size="sm",
                color="secondary",
                outline=True,
                className="ms-auto",
            ),
        ],
        className="d-flex align-items-center small",
    )
    buttons = html.Div(
        [
            dbc.Button("Accept gold (a)", id=SECTION.id("accept-gold"), color="success", size="sm", className="me-2"),
            dbc.Button(
                "Accept all predictions (p)",
                id=SECTION.id("accept-all"),
                color="success",
                outline=True,
                size="sm",
                className="me-2",
            ),
            html.Span("│", className="text-muted me-2"),
            dbc.Select(
                id=SECTION.id("new-type"),
                options=[{"label": kind, "value": kind} for kind in draft["types"]],
                placeholder="type",
                size="sm",
                style={"width": "140px"},
                className="me-2",
            ),
            dbc.Button("Add span", id=SECTION.id("add"), color="primary", outline=True, size="sm", className="me-2"),
            dbc.Button(
                "Remove spans in selection",
                id=SECTION.id("remove"),
                color="danger",
                outline=True,
                size="sm",
                className="me-2",
            ),
            dbc.Button("Save (s)", id=SECTION.id("save"), color="primary", size="sm", className="me-2"),
        ],
        className="d-flex align-items-center flex-wrap mt-2",
    )
    gold = span_line(
        words,
        extract_spans(draft["gold"]),
        colours=colours,
        marks=span_error_by_word(errors, source="gold"),
        highlight=None,
        id_prefix=SECTION.id("gold"),
    )
    pred = span_line(
        words,
        extract_spans(draft["pred"]),
        colours=colours,
        marks=span_error_by_word(errors, source="pred"),
        highlight=None,
        id_prefix=SECTION.id("pred"),
    )
    return dbc.Card(
        [
            dbc.CardHeader(header),
            dbc.CardBody(
                [
                    html.H6("Gold", className="mb-0"),
                    gold,
                    html.H6("Predicted", className="mb-0 mt-1"),
                    pred,
                    error_legend(),
                    html.H6("Correction", className="mt-2"),
                    html.Div(draft_view(draft), id=SECTION.id("draft-view")),
                    buttons,
                    html.Div(id=SECTION.id("message"), className="small text-danger mt-1"),
                ]
            ),
        ],
        className="mb-3",
    )


def navigate(cache, view: View, latest: dict, *, step: int = 0) -> tuple[View, Queue, dict | None]:
    """The view with its example resolved (the one in the URL, or the first of the queue, or a neighbour)."""
    queue = build_queue(cache, view, latest)
    example = view.example
    if step:
        moved = neighbour(queue.ids, queue.full, example, step)
        example = example if moved is None else moved
    elif example is None or not 0 <= example < n_examples(cache):
        example = int(queue.ids[0]) if len(queue.ids) else None
    view = View(view.order, view.entity, view.category, view.status, example)
    return view, queue, None if example is None else new_draft(cache, example, latest)


def layout(cache, state):
    view = view_state(state)
    latest = latest_of(app_context(), cache)
    view, queue, draft = navigate(cache, view, latest)
    types = entity_types(cache)
    categories = [{"label": "any error", "value": ANY_ERROR}] + [
        {"label": name, "value": name} for name in schema.ERROR_CATEGORIES if name != schema.CORRECT
    ]
    controls = html.Div(
        [
            dbc.RadioItems(
                id=SECTION.id("order"), options=ORDER_OPTIONS, value=view.order, inline=True, className="me-3"
            ),
            dcc.Dropdown(
                id=SECTION.id("type"),
                options=types,
                value=view.entity,
                placeholder="any entity type",
                style={"minWidth": "160px"},
                className="me-2",
            ),
            dcc.Dropdown(
                id=SECTION.id("cat"),
                options=categories,
                value=view.category,
                placeholder="any example",
                style={"minWidth": "170px"},
                className="me-2",
            ),
            dbc.RadioItems(
                id=SECTION.id("status"), options=STATUS_OPTIONS, value=view.status, inline=True, className="me-3"
            ),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )
    navigation = html.Div(
        [
            dbc.Button(
                "← Previous (b)", id=SECTION.id("prev"), size="sm", color="secondary", outline=True, className="me-2"
            ),
            dbc.Button(
                "Next (n) →", id=SECTION.id("next"), size="sm", color="secondary", outline=True, className="me-3"
            ),
            html.Span(progress_text(cache, queue, latest, view.example), id=SECTION.id("progress"), className="small"),
        ],
        className="d-flex align-items-center mb-2",
    )
    downloads = html.Div(
        [
            html.Span("Download: ", className="small me-2"),
            *[
                dbc.Button(label, id=SECTION.id(f"dl-{name}"), size="sm", color="link", className="me-1")
                for name, label in (
                    ("corrections", "corrections (JSONL)"),
                    ("conll", "corrected dataset (CoNLL)"),
                    ("jsonl", "corrected dataset (JSONL)"),
                    ("summary", "summary of changes"),
                )
            ],
            dcc.Download(id=SECTION.id("download")),
            html.Span(id=SECTION.id("export-note"), className="small text-muted ms-2"),
        ],
        className="d-flex align-items-center flex-wrap border-top pt-2",
    )
    return html.Div(
        [
            html.P(
                [
                    "Review the examples the model finds hardest and correct their labels. Each accept or save is "
                    "written at once to the corrections file beside the cache; ",
                    html.Code("explainer merge"),
                    " applies it to the original dataset. Keys: a accept gold, p accept all predictions, s save, "
                    "n next, b previous.",
                ],
                className="text-muted small",
            ),
            controls,
            html.Div(queue.note, id=SECTION.id("note"), className="small text-warning mb-2"),
            navigation,
            dcc.Store(id=SECTION.id("draft"), data=draft),
            html.Div(example_panel(cache, draft), id=SECTION.id("panel")),
            downloads,
        ],
        id=SECTION.id("root"),
    )


# --- callbacks ---------------------------------------------------------------------------------------------------


def on_navigate(context, values: tuple, search: str | None, *, trigger: str | None, shown: int | None = None):
    """Callback body for the controls and Previous/Next: new URL, panel, draft, progress and note.

    ``shown`` is the example on screen (the URL may not name it yet: the first of the queue is shown then).
    """
    order, entity, category, status = values
    current = view_state(parse_query(search))
    if current.example is None and shown is not None:
        current = View(current.order, current.entity, current.category, current.status, shown)
    step = {SECTION.id("next"): 1, SECTION.id("prev"): -1}.get(trigger, 0)
    wanted = View(
        order if order in ORDERS else "f1",
        entity or None,
        category or None,
        status if status in ("all", "todo", "done") else "all",
        current.example if step else None,
    )
    if not step and (wanted.order, wanted.entity, wanted.category, wanted.status) == (
        current.order,
        current.entity,
        current.category,
        current.status,
    ):
        return (no_update,) * 5  # the controls echoing the URL (e.g. when they mount)
    try:
        cache = context.cache(search)
        latest = latest_of(context, cache)
        view, queue, draft = navigate(cache, wanted, latest, step=step)
    except ExplainerError as error:
        return no_update, dbc.Alert(str(error), color="danger"), no_update, no_update, no_update
    new_search = update_query(search, **view.params())
    return (
        new_search,
        example_panel(cache, draft),
        draft,
        progress_text(cache, queue, latest, view.example),
        queue.note,
    )


def _clicked(triggered) -> tuple[str | None, str | None]:
    """(type, index) of the pattern-matched button really clicked, or (plain id, None)."""
    for item in triggered or []:
        prop_id, value = item.get("prop_id", ""), item.get("value")
        if not value or not prop_id.endswith(".n_clicks"):
            continue
        name = prop_id.rsplit(".", 1)[0]
        if name.startswith("{"):
            try:
                parsed = json.loads(name)
                return parsed["type"], parsed["index"]
            except (ValueError, KeyError):
                return None, None
        return name, None
    return None, None


def on_edit(context, draft: dict | None, entity: str | None, search: str | None, *, triggered, headers=None):
    """Callback body for every edit and accept button: (new draft, message, progress)."""
    kind, argument = _clicked(triggered)
    if not draft or kind is None:
        return no_update, no_update, no_update
    message = ""
    try:
        if kind == WORD:
            return click_word(draft, int(argument)), "", no_update
        if kind in (SECTION.id("add"), SECTION.id("remove"), REMOVE_SPAN):
            action = {SECTION.id("add"): "add", SECTION.id("remove"): "remove"}.get(kind, "remove-span")
            new, message = edit_draft(draft, action, argument=argument, entity=entity)
            return new, message or "", no_update
        cache = context.cache(search)
        if kind == SECTION.id("accept-gold"):
            new = save_decision(context, cache, draft, draft["gold"], kind=ACCEPT_GOLD, detail=None, headers=headers)
        elif kind == SECTION.id("accept-all"):
            new = save_decision(
                context,
                cache,
                draft,
                edits.normalised(draft["pred"]),
                kind=ACCEPT_ALL_PREDICTIONS,
                detail=None,
                headers=headers,
            )
        elif kind == ACCEPT_SPAN:
            start, end, span_type = str(argument).split(",", 2)
            span = (int(start), int(end), span_type)
            new = save_decision(
                context,
                cache,
                draft,
                edits.accept_span(draft["tags"], span),
                kind=ACCEPT_PREDICTION_SPAN,
                detail={"span": list(span)},
                headers=headers,
            )
        elif kind == SECTION.id("save"):
            new = save_decision(context, cache, draft, draft["tags"], kind=EDIT, detail=None, headers=headers)
        else:
            return no_update, no_update, no_update
    except (ExplainerError, ValueError) as error:
        return no_update, str(error), no_update
    latest = latest_of(context, cache)
    view = view_state(parse_query(search))
    queue = build_queue(cache, view, latest)
    return new, message, progress_text(cache, queue, latest, new["example_id"])


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def download(context, which: str, search: str | None) -> tuple[dict | None, str]:
    """Callback body for the downloads: (dcc.Download data, a note on how the file was made)."""
    from explainer.data.loaders import detect_format
    from explainer.review.corrections import read_decisions
    from explainer.review.export import apply_corrections, change_summary, conll_text, prodigy_jsonl
    from explainer.review.merge import merge_bytes, source_of_manifest

    cache = context.cache(search)
    path = corrections_file(context, cache)
    name = cache.path.name
    if which == "corrections":
        if not path.is_file():
            return None, "No decisions yet: the corrections file is written on the first accept or save."
        return dcc.send_bytes(path.read_bytes(), path.name), f"{path.name}"
    latest = latest_of(context, cache)
    if which == "summary":
        summary = change_summary(latest, n_examples=n_examples(cache))
        return dict(
            content=json.dumps(summary, ensure_ascii=False, indent=2), filename=f"{name}.changes.json"
        ), f"{plural(summary['corrected'], 'example')} corrected, {summary['reviewed']} reviewed"
    source = source_of_manifest(cache.manifest)
    wanted_forms = ("conll",) if which == "conll" else ("jsonl", "prodigy")
    reason = None
    try:
        form = detect_format(source.spec)
        if form in wanted_forms and Path(source.spec).is_file():
            data, report = merge_bytes(
                source.spec,
                read_decisions(path),
                output_format=which,
                split=source.split,
                tokens_column=source.tokens_column,
                tags_column=source.tags_column,
                label_map=source.label_map,
            )
            suffix = Path(source.spec).suffix or (".conll" if which == "conll" else ".jsonl")
            note = (
                f"merged into {Path(source.spec).name}: {plural(report.corrected, 'example')} corrected, "
                "the others byte-for-byte as in the original"
            )
            return dcc.send_bytes(data, f"{Path(source.spec).stem}.corrected{suffix}"), note
        reason = f"the dataset is not a {which.upper()} file"
    except ExplainerError as error:
        reason = str(error)
    # Read for this download only (not kept in the worker): the columns the export uses.
    items = apply_corrections(
        cache.table("examples", ["words", "gold_tags", "words_hash", "source"]).itertuples(), latest
    )
    text = conll_text(items) if which == "conll" else prodigy_jsonl(items)
    extension = "conll" if which == "conll" else "jsonl"
    note = (
        f"written from the cache's examples in the model's labels ({reason}); "
        f"{plural(sum(item.corrected for item in items), 'example')} corrected"
    )
    return dict(content=text, filename=f"{name}.corrected.{extension}"), note


def register(app, context):
    from flask import request

    controls = [Input(SECTION.id(name), "value") for name in ("order", "type", "cat", "status")]

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(SECTION.id("panel"), "children"),
        Output(SECTION.id("draft"), "data"),
        Output(SECTION.id("progress"), "children"),
        Output(SECTION.id("note"), "children"),
        *controls,
        Input(SECTION.id("prev"), "n_clicks"),
        Input(SECTION.id("next"), "n_clicks"),
        State("url", "search"),
        State(SECTION.id("draft"), "data"),
        prevent_initial_call=True,
    )
    def navigate_queue(order, entity, category, status, _prev, _next, search, draft):
        trigger = dash.ctx.triggered_id if len(dash.ctx.triggered) == 1 else None
        shown = draft.get("example_id") if isinstance(draft, dict) else None
        return on_navigate(
            context,
            (order, entity, category, status),
            search,
            trigger=trigger,
            shown=shown if isinstance(shown, int) else None,
        )

    @app.callback(
        Output(SECTION.id("draft"), "data", allow_duplicate=True),
        Output(SECTION.id("message"), "children"),
        Output(SECTION.id("progress"), "children", allow_duplicate=True),
        Input({"type": WORD, "index": ALL}, "n_clicks"),
        Input({"type": ACCEPT_SPAN, "index": ALL}, "n_clicks"),
        Input({"type": REMOVE_SPAN, "index": ALL}, "n_clicks"),
        *[Input(SECTION.id(name), "n_clicks") for name in ("add", "remove", "accept-gold", "accept-all", "save")],
        State(SECTION.id("draft"), "data"),
        State(SECTION.id("new-type"), "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def edit(*args):
        draft, entity, search = args[-3:]
        return on_edit(context, draft, entity, search, triggered=dash.ctx.triggered, headers=request.headers)

    @app.callback(
        Output(SECTION.id("draft-view"), "children"), Input(SECTION.id("draft"), "data"), prevent_initial_call=True
    )
    def render_draft(draft):
        return draft_view(draft)

    names = ("corrections", "conll", "jsonl", "summary")

    @app.callback(
        Output(SECTION.id("download"), "data"),
        Output(SECTION.id("export-note"), "children"),
        *[Input(SECTION.id(f"dl-{name}"), "n_clicks") for name in names],
        State("url", "search"),
        prevent_initial_call=True,
    )
    def download_file(*args):
        trigger = dash.ctx.triggered_id
        if not trigger or not any(args[:-1]):
            return no_update, no_update
        try:
            return download(context, trigger.removeprefix(SECTION.id("dl-")), args[-1])
        except ExplainerError as error:
            return no_update, str(error)

    register_open_buttons(app, SECTION.key)


SECTION = Section(
    key="review", label="Review", group=REVIEW, order=10, layout=layout, register=register, param_prefix="rev"
)
