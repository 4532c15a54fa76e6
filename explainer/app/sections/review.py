"""Review: a queue of suspicious examples whose labels a reviewer accepts or corrects, one at a time.

The queue is ordered by the label-error findings' combined score (the default; build step ``findings``),
entity F1 (lowest first, as Prodigy's ``ner.review_hardest``), total loss
(highest first) or label-quality score (lowest first; needs a build with ``--label-quality``) and
filtered by entity type, span error category and review status; all of it, and the example shown,
lives in the URL (``rev_order``, ``rev_type``, ``rev_cat``, ``rev_status``, ``rev_ex``).

Each example shows its gold and predicted spans, then the *correction*: clickable word chips holding
the current tags (the last decision, else gold). Accept gold, accept one predicted span, accept all
predictions, or select words (click the first and the last), pick a type and add a span, remove one,
then save. Every accept and every save is one decision saved at once in the review database
(:mod:`explainer.review.store`), on top of the revision the reviewer saw; a refused save offers ``t`` take theirs
and ``o`` save mine on top. Keys (``assets/review-keys.js``): ``f`` apply the first
finding's fix, ``m`` model error (labels right), ``a`` accept gold,
``p`` accept all predictions, ``s`` save, ``n``/→ next, ``b``/← previous. Downloads
(:mod:`explainer.review.downloads`): the decisions as a corrections file (JSONL), the corrected dataset as CoNLL and as JSONL,
and a JSON summary of what changed.

This module holds the URL view, the layout and the callbacks only: the queue, the draft and its checks are
:mod:`explainer.review.queue`, :mod:`~explainer.review.draft` and :mod:`~explainer.review.session`; the
components are :mod:`explainer.app.components.review_view`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis.review import ORDERS, STATUSES
from explainer.app.components.aligned import register_open_buttons
from explainer.app.components.clicks import clicked
from explainer.app.components.review_view import (
    EDIT_BUTTONS,
    KEY,
    OVERWRITE,
    PATTERN_BUTTONS,
    TAKE,
    Ids,
    controls,
    download_bar,
    draft_view,
    example_panel,
    intro,
    navigation,
)
from explainer.app.sections.base import REVIEW, Query, Section, View, view_field
from explainer.app.state import parse_query, update_query
from explainer.cache.reader import Cache
from explainer.errors import ExplainerError
from explainer.review import downloads
from explainer.review.corrections import (
    ACCEPT_ALL_PREDICTIONS,
    ACCEPT_GOLD,
    ACCEPT_PREDICTION_SPAN,
    APPLY_FINDING,
    EDIT,
    MODEL_ERROR,
)
from explainer.review.draft import (
    ADD,
    REMOVE,
    REMOVE_SPAN,
    Draft,
    click_word,
    decision_for,
    edit_draft,
    overwrite,
    take_theirs,
    with_conflict,
)
from explainer.review.queue import DEFAULT_ORDER, DEFAULT_STATUS
from explainer.review.queue import View as QueueView
from explainer.review.session import (
    Headers,
    Reviewing,
    build_queue,
    entity_types,
    finding,
    progress,
    reviewer_name,
    reviewing,
    save_decision,
)
from explainer.review.store import Conflict, DecisionStore, open_store

if TYPE_CHECKING:
    from explainer.app.factory import AppContext

# What each button (by id, as dash.ctx.triggered_id gives it) does: an edit of the draft, or a decision saved at once.
EDITS: dict[str, str] = {Ids.ADD: ADD, Ids.REMOVE: REMOVE, Ids.REMOVE_SPAN: REMOVE_SPAN}
DECISIONS: dict[str, str] = {
    Ids.ACCEPT_GOLD: ACCEPT_GOLD,
    Ids.ACCEPT_ALL: ACCEPT_ALL_PREDICTIONS,
    Ids.ACCEPT_SPAN: ACCEPT_PREDICTION_SPAN,
    Ids.SAVE: EDIT,
    Ids.MODEL_ERROR: MODEL_ERROR,
    Ids.APPLY_FINDING: APPLY_FINDING,
}
DOWNLOAD_BUTTONS = {Ids.download(which): which for which in downloads.DOWNLOADS}
NO_CHANGE = (no_update, no_update, no_update)


@dataclass(frozen=True)
class ReviewView(View, prefix="rev"):
    """The queue's view (:class:`explainer.review.queue.View`) under its query names: the one parser of
    those values, from the URL or from the controls (``type`` is the entity type, ``cat`` the category)."""

    order: str = view_field(DEFAULT_ORDER, choices=ORDERS)
    type: str | None = None
    cat: str | None = None
    status: str = view_field(DEFAULT_STATUS, choices=STATUSES)
    ex: int | None = None

    def corrections(self) -> dict[str, Any]:
        return {name: None for name in ("type", "cat") if getattr(self, name) == ""}  # an empty filter is none

    @classmethod
    def of(cls, view: QueueView) -> ReviewView:
        return cls(order=view.order, type=view.entity, cat=view.category, status=view.status, ex=view.example)

    def queue(self) -> QueueView:
        return QueueView(order=self.order, entity=self.type, category=self.cat, status=self.status, example=self.ex)


def queue_view(query: Query) -> QueueView:
    """The queue's view a URL's query holds."""
    return ReviewView.from_query(query).queue()


def store_of(context: AppContext, cache: Cache) -> DecisionStore:
    """The cache's review database (``EXPLAINER_REVIEW_DB``, else SQLite beside the cache)."""
    settings = context.settings
    return open_store(cache.path, url=settings.review_db, directory=settings.corrections_dir)


def latest_of(context: AppContext, cache: Cache) -> dict[str, Any]:
    return store_of(context, cache).latest()


def reviewer_state(
    context: AppContext, cache: Cache, headers: Headers | None
) -> tuple[DecisionStore, str | None, Reviewing]:
    """The review database, the reviewer (from the request) and where the reviewer stands in the review."""
    store, reviewer = store_of(context, cache), reviewer_name(context.settings, headers)
    return store, reviewer, reviewing(store, cache, reviewer, double_share=context.settings.review_double)


def layout(cache: Cache, query: Query, context: AppContext) -> html.Div:
    from flask import has_request_context, request

    headers = request.headers if has_request_context() else None
    store, reviewer, standing = reviewer_state(context, cache, headers)  # the decisions where this app keeps them
    latest = standing.latest
    view, queue, draft = standing.navigate(cache, queue_view(query))
    if draft is not None:
        store.claim(draft["key"], reviewer)  # so the queue does not hand it to another reviewer
    return html.Div(
        [
            intro(),
            controls(view, entity_types(cache)),
            html.Div(queue.note, id=Ids.NOTE, className="small text-warning mb-2"),
            navigation(progress(cache, queue, latest, view.example)),
            dcc.Store(id=Ids.DRAFT, data=None if draft is None else dict(draft)),
            html.Div(example_panel(cache, draft), id=Ids.PANEL),
            download_bar(),
        ],
        id=Ids.ROOT,
    )


# --- callback bodies (called directly by the tests) --------------------------------------------------------------


def on_navigate(
    context: AppContext,
    values: tuple[Any, ...],
    search: str | None,
    *,
    trigger: str | None,
    shown: int | None = None,
    headers: Headers | None = None,
) -> tuple[Any, ...]:
    """Callback body for the controls and Previous/Next: new URL, panel, draft, progress and note.

    ``shown`` is the example on screen (the URL may not name it yet: the first of the queue is shown then).
    """
    current = queue_view(parse_query(search))
    if current.example is None and shown is not None:
        current = current.at(shown)
    steps: dict[str, int] = {Ids.NEXT: 1, Ids.PREV: -1}
    step = steps.get(trigger or "", 0)
    order, entity, category, status = values
    wanted = ReviewView(order, entity, category, status, current.example if step else None).queue()
    if not step and wanted.filters() == current.filters():
        return (no_update,) * 5  # the controls echoing the URL (e.g. when they mount)
    try:
        cache = context.cache(search)
        store, reviewer, standing = reviewer_state(context, cache, headers)
        latest = standing.latest
        view, queue, draft = standing.navigate(cache, wanted, step=step)
        if draft is not None:
            store.claim(draft["key"], reviewer)
    except ExplainerError as error:
        return no_update, dbc.Alert(str(error), color="danger"), no_update, no_update, no_update
    return (
        update_query(search, **ReviewView.of(view).to_query()),
        example_panel(cache, draft),
        draft,
        progress(cache, queue, latest, view.example),
        queue.note,
    )


def on_edit(
    context: AppContext,
    draft: Draft | None,
    entity: str | None,
    search: str | None,
    *,
    trigger: str | Mapping[str, Any] | None,
    headers: Headers | None = None,
) -> tuple[Any, ...]:
    """Callback body for every edit and accept button: (new draft, message, progress).

    ``trigger`` is the id of the button clicked (``dash.ctx.triggered_id``), None when none was.
    """
    argument: Any
    button, argument = (trigger["type"], trigger["index"]) if isinstance(trigger, Mapping) else (trigger, None)
    if not draft or button is None:
        return NO_CHANGE
    try:
        if button == Ids.WORD:
            return click_word(draft, int(argument)), "", no_update
        if button in EDITS:
            new, message = edit_draft(draft, EDITS[button], argument=argument, entity=entity)
            return new, message or "", no_update
        cache = context.cache(search)
        if button == Ids.RESOLVE and argument == TAKE:
            return take_theirs(draft), "", no_update
        if button == Ids.RESOLVE and argument == OVERWRITE and (again := overwrite(draft)) is not None:
            draft, pending = again
        elif button in DECISIONS:
            if button == Ids.APPLY_FINDING:
                argument = finding(cache, int(argument))  # the cache's finding, not what the browser says
            pending = decision_for(draft, DECISIONS[button], argument=argument)
        else:
            return NO_CHANGE
        try:
            new = save_decision(
                cache, draft, pending, store=store_of(context, cache), reviewer=reviewer_name(context.settings, headers)
            )
        except Conflict as conflict:
            return (
                with_conflict(draft, conflict.theirs, pending),
                f"{conflict}: t takes theirs, o saves yours.",
                no_update,
            )
    except (ExplainerError, ValueError) as error:
        return no_update, str(error), no_update
    try:
        _store, _reviewer, standing = reviewer_state(context, cache, headers)
    except ExplainerError as error:  # saved, but the queue cannot be read now: say so, keep the saved draft
        return new, f"saved; the progress cannot be shown now ({error})", no_update
    queue = build_queue(cache, queue_view(parse_query(search)), standing.latest, done=standing.done)
    return new, "", progress(cache, queue, standing.latest, new["example_id"])


def download(context: AppContext, which: str, search: str | None) -> tuple[dict[str, Any] | None, str]:
    """Callback body for the downloads: (dcc.Download data, a note on how the file was made)."""
    cache = context.cache(search)
    made = downloads.download(cache, which, store=store_of(context, cache))
    if made is None:
        return None, downloads.NOTHING_YET
    if isinstance(made.content, bytes):
        return dcc.send_bytes(made.content, made.filename), made.note
    return {"content": made.content, "filename": made.filename}, made.note


def register(app: dash.Dash, context: AppContext) -> None:
    from flask import request

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(Ids.PANEL, "children"),
        Output(Ids.DRAFT, "data"),
        Output(Ids.PROGRESS, "children"),
        Output(Ids.NOTE, "children"),
        *[Input(control, "value") for control in (Ids.ORDER, Ids.TYPE, Ids.CATEGORY, Ids.STATUS)],
        *[Input(button, "n_clicks") for button in (Ids.PREV, Ids.NEXT)],
        State("url", "search"),
        State(Ids.DRAFT, "data"),
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
            headers=request.headers,
        )

    @app.callback(
        Output(Ids.DRAFT, "data", allow_duplicate=True),
        Output(Ids.MESSAGE, "children"),
        Output(Ids.PROGRESS, "children", allow_duplicate=True),
        *[Input({"type": kind, "index": ALL}, "n_clicks") for kind in PATTERN_BUTTONS],
        *[Input(button, "n_clicks") for button in EDIT_BUTTONS],
        State(Ids.DRAFT, "data"),
        State(Ids.NEW_TYPE, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def edit(*args):
        draft, entity, search = args[-3:]
        # Buttons (re-)rendered with the draft fire this with n_clicks 0: only a real click counts.
        trigger = clicked(dash.ctx.triggered)
        return on_edit(context, draft, entity, search, trigger=trigger, headers=request.headers)

    @app.callback(Output(Ids.DRAFT_VIEW, "children"), Input(Ids.DRAFT, "data"), prevent_initial_call=True)
    def render_draft(draft):
        return draft_view(draft)

    @app.callback(
        Output(Ids.DOWNLOAD, "data"),
        Output(Ids.EXPORT_NOTE, "children"),
        *[Input(button, "n_clicks") for button in DOWNLOAD_BUTTONS],
        State("url", "search"),
        prevent_initial_call=True,
    )
    def download_file(*args):
        trigger = clicked(dash.ctx.triggered)
        if not isinstance(trigger, str) or trigger not in DOWNLOAD_BUTTONS:
            return no_update, no_update
        try:
            return download(context, DOWNLOAD_BUTTONS[trigger], args[-1])
        except ExplainerError as error:
            return no_update, str(error)

    register_open_buttons(app, KEY)


SECTION = Section(
    key=KEY,
    label="Review",
    group=REVIEW,
    order=10,
    layout=layout,
    register=register,
    ids=Ids,
    view=ReviewView,
    layout_needs_context=True,
)
