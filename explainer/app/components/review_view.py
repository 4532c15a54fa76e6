"""How the Review section looks: its component ids, its controls and the example panel with the correction.

Only components here; what they show is decided in :mod:`explainer.review` (queue, draft, downloads).
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from explainer.analysis.examples import rows_of, span_error_by_word
from explainer.analysis.review import ANY_ERROR, ORDERS, STATUSES
from explainer.analysis.spans import extract_spans
from explainer.app.components.aligned import open_button_id
from explainer.app.components.inspector import error_legend, span_line, spans_text
from explainer.app.sections.base import StrEnum
from explainer.cache import schema
from explainer.cache.reader import Cache
from explainer.figures.palette import type_colours
from explainer.review import edits
from explainer.review.corrections import KIND_LABELS
from explainer.review.downloads import DOWNLOADS
from explainer.review.draft import Draft, span_argument
from explainer.review.queue import View
from explainer.review.session import example_quality, example_row, findings_of

KEY = "review"


class Ids(StrEnum):
    """The Review section's component ids, in one place (``assets/review-keys.js`` clicks some of them)."""

    ROOT = "review-root"
    ORDER = "review-order"
    TYPE = "review-type"
    CATEGORY = "review-cat"
    STATUS = "review-status"
    NOTE = "review-note"
    PREV = "review-prev"
    NEXT = "review-next"
    PROGRESS = "review-progress"
    DRAFT = "review-draft"  # the dcc.Store holding the draft
    PANEL = "review-panel"
    TITLE = "review-title"
    GOLD = "review-gold"  # prefix of the gold and predicted span lines' ids
    PRED = "review-pred"
    DRAFT_VIEW = "review-draft-view"
    CHIPS = "review-chips"
    SELECTION = "review-selection"
    ACCEPT_SPANS = "review-accept-spans"
    STATE = "review-state"
    REVIEWED_BADGE = "review-reviewed-badge"
    MESSAGE = "review-message"
    NEW_TYPE = "review-new-type"
    ADD = "review-add"
    REMOVE = "review-remove"
    ACCEPT_GOLD = "review-accept-gold"
    ACCEPT_ALL = "review-accept-all"
    SAVE = "review-save"
    MODEL_ERROR = "review-model-error"
    FINDINGS = "review-findings"
    DOWNLOAD = "review-download"
    EXPORT_NOTE = "review-export-note"
    # Pattern-matched buttons: {"type": WORD, "index": word}, {"type": ACCEPT_SPAN / REMOVE_SPAN, "index": span}.
    WORD = "review-word"
    ACCEPT_SPAN = "review-accept-span"
    REMOVE_SPAN = "review-remove-span"
    RESOLVE = "review-resolve"  # {"type": RESOLVE, "index": TAKE or OVERWRITE}: after a refused save
    CONFLICT = "review-conflict"
    APPLY_FINDING = "review-apply-finding"  # {"type": APPLY_FINDING, "index": row of the cache's findings}

    DOWNLOAD_PREFIX = "review-dl"  # + "-" + what explainer.review.downloads.DOWNLOADS names

    @staticmethod
    def download(which: str) -> str:
        return f"{Ids.DOWNLOAD_PREFIX}-{which}"


TAKE, OVERWRITE = "take", "overwrite"  # what to do with another reviewer's decision that refused a save
# The buttons the Review's edit callback listens to: pattern-matched ones (one per word, span, finding), fixed ones.
PATTERN_BUTTONS = (Ids.WORD, Ids.ACCEPT_SPAN, Ids.REMOVE_SPAN, Ids.APPLY_FINDING, Ids.RESOLVE)
EDIT_BUTTONS = (Ids.ADD, Ids.REMOVE, Ids.ACCEPT_GOLD, Ids.ACCEPT_ALL, Ids.SAVE, Ids.MODEL_ERROR)

ORDER_LABELS = {
    "findings": "label-error findings, likeliest first",
    "f1": "entity F1, lowest first",
    "loss": "total loss, highest first",
    "quality": "label quality, lowest first",
}
STATUS_LABELS = {"all": "all", "todo": "to review", "done": "reviewed"}
SELECTED_STYLE = {"outline": "2px solid #0d6efd", "outlineOffset": "1px"}
ISSUE_STYLE = {"textDecoration": "underline wavy #d62728"}  # cleanlab flags the gold label as a likely issue


def intro() -> html.P:
    return html.P(
        [
            "Review the examples the model finds hardest and correct their labels. Each accept or save is "
            "saved at once in the review database beside the cache (or EXPLAINER_REVIEW_DB); ",
            html.Code("explainer merge"),
            " applies it to the original dataset. Keys: f apply the first finding's fix, m model error (labels "
            "right), a accept gold, p accept all predictions, s save, n next, b previous; after another "
            "reviewer's save refused yours, t takes theirs, o saves yours on top.",
        ],
        className="text-muted small",
    )


def controls(view: View, types: list[str]) -> html.Div:
    """Order, entity type, error category and review status of the queue."""
    categories = [{"label": "any error", "value": ANY_ERROR}] + [
        {"label": name, "value": name} for name in schema.ERROR_CATEGORIES if name != schema.CORRECT
    ]
    return html.Div(
        [
            dbc.RadioItems(
                id=Ids.ORDER,
                options=[{"label": ORDER_LABELS[order], "value": order} for order in ORDERS],
                value=view.order,
                inline=True,
                className="me-3",
            ),
            dcc.Dropdown(
                id=Ids.TYPE,
                options=types,
                value=view.entity,
                placeholder="any entity type",
                style={"minWidth": "160px"},
                className="me-2",
            ),
            dcc.Dropdown(
                id=Ids.CATEGORY,
                options=categories,
                value=view.category,
                placeholder="any example",
                style={"minWidth": "170px"},
                className="me-2",
            ),
            dbc.RadioItems(
                id=Ids.STATUS,
                options=[{"label": STATUS_LABELS[status], "value": status} for status in STATUSES],
                value=view.status,
                inline=True,
                className="me-3",
            ),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )


def navigation(progress: str) -> html.Div:
    return html.Div(
        [
            dbc.Button("← Previous (b)", id=Ids.PREV, size="sm", color="secondary", outline=True, className="me-2"),
            dbc.Button("Next (n) →", id=Ids.NEXT, size="sm", color="secondary", outline=True, className="me-3"),
            html.Span(progress, id=Ids.PROGRESS, className="small"),
        ],
        className="d-flex align-items-center mb-2",
    )


def download_bar() -> html.Div:
    return html.Div(
        [
            html.Span("Download: ", className="small me-2"),
            *[
                dbc.Button(label, id=Ids.download(which), size="sm", color="link", className="me-1")
                for which, label in DOWNLOADS.items()
            ],
            dcc.Download(id=Ids.DOWNLOAD),
            html.Span(id=Ids.EXPORT_NOTE, className="small text-muted ms-2"),
        ],
        className="d-flex align-items-center flex-wrap border-top pt-2",
    )


def _chip(draft: Draft, index: int, *, colours: dict[str, str], starts_span: bool) -> html.Button:
    """Word ``index`` of the correction as a button (click to select), coloured by its span's type."""
    tag, selection, issues = draft["tags"][index], draft.get("selection"), draft.get("issues")
    kind = tag[2:] if tag != "O" else None
    style = {
        "margin": "2px 0 2px 6px" if starts_span else "2px 1px",
        "padding": "1px 5px",
        "border": "1px solid #ccc",
        "borderRadius": "3px",
        "background": "#fff",
    }
    if kind:
        style.update(background=colours.get(kind, "#999") + "33", borderBottom=f"3px solid {colours.get(kind, '#999')}")
    if selection and selection[0] <= index <= selection[1]:
        style.update(SELECTED_STYLE)
    flagged = bool(issues and issues[index])
    if flagged:
        style.update(ISSUE_STYLE)
    return html.Button(
        draft["words"][index],
        id={"type": Ids.WORD, "index": index},
        n_clicks=0,
        style=style,
        className="review-word btn btn-sm" + (" review-label-issue" if flagged else ""),
        title=f"word {index}: {tag}" + (" · likely label issue (cleanlab)" if flagged else ""),
    )


def _status(draft: Draft) -> dbc.Badge:
    saved = draft.get("saved")
    if draft.get("dirty"):
        return dbc.Badge("unsaved changes: press Save (s)", color="warning", text_color="dark")
    if saved:
        who = f" by {saved['reviewer']}" if saved.get("reviewer") else ""
        return dbc.Badge(
            f"reviewed: {KIND_LABELS.get(saved['kind'], saved['kind'])}{who} · {saved.get('time', '')}",
            color="success" if not saved.get("changed") else "primary",
            id=Ids.REVIEWED_BADGE,
        )
    return dbc.Badge("not reviewed", color="secondary")


def draft_view(draft: Draft | None) -> list[Any]:
    """The correction as word chips (click to select), its spans with a remove button, the predicted spans
    it lacks with an accept button, and the review status."""
    if not draft:
        return []
    colours = type_colours(draft["types"])
    tags, words, selection = draft["tags"], draft["words"], draft.get("selection")
    spans = {start: (start, end, kind) for start, end, kind in extract_spans(tags)}
    ends = {end - 1: (start, end, kind) for start, end, kind in spans.values()}
    chips: list[Any] = []
    for index in range(len(words)):
        chips.append(_chip(draft, index, colours=colours, starts_span=index in spans))
        if index in ends:
            start, end, kind = ends[index]
            remove = html.Button(
                "×",
                id={"type": Ids.REMOVE_SPAN, "index": span_argument(start, end)},
                n_clicks=0,
                className="btn btn-link btn-sm p-0 ms-1 review-remove-span",
                title=f"remove this {kind} span",
            )
            chips.append(html.Span([html.Sup(kind, className="text-muted"), remove], className="me-2"))
    missing = edits.spans_to_accept(tags, draft["pred"])
    accept: list[Any] = (
        [html.Span("Predicted spans not in the correction: ", className="small text-muted me-1")] if missing else []
    )
    accept += [
        dbc.Button(
            f"accept “{' '.join(words[start:end])}” {kind}",
            id={"type": Ids.ACCEPT_SPAN, "index": span_argument(start, end, kind)},
            n_clicks=0,
            size="sm",
            color="success",
            outline=True,
            className="me-1 mb-1 review-accept-span",
        )
        for start, end, kind in missing
    ]
    selected = (
        f"selected words {selection[0]}–{selection[1]}: “{' '.join(words[selection[0] : selection[1] + 1])}”"
        if selection
        else "click a word, then another, to select words"
    )
    return [
        *_conflict(draft),
        html.Div(chips, className="d-flex flex-wrap align-items-center", id=Ids.CHIPS),
        html.Div(selected, className="small text-muted mt-1", id=Ids.SELECTION),
        html.Div(accept, className="mt-2", id=Ids.ACCEPT_SPANS),
        html.Div(_status(draft), className="mt-2", id=Ids.STATE),
    ]


def tagged_spans_text(words: list[str], tags: list[str]) -> str:
    """The spans of IOB2 ``tags`` as text: "Anna Smith (PER); Oslo (LOC)", or "none"."""
    return (
        "; ".join(f"{' '.join(words[start:end])} ({kind})" for start, end, kind in extract_spans(list(tags))) or "none"
    )


def _conflict(draft: Draft) -> list[Any]:
    """Another reviewer's decision that refused this draft's save: their spans, and take theirs / save mine."""
    conflict = draft.get("conflict")
    if not conflict:
        return []
    return [
        dbc.Alert(
            [
                html.Div(
                    f"{conflict['reviewer'] or 'Another reviewer'} saved this example at {conflict['time']} after you "
                    f"opened it. Their spans: {tagged_spans_text(draft['words'], conflict['corrected'])}."
                ),
                dbc.Button(
                    "Take theirs (t)",
                    id={"type": Ids.RESOLVE, "index": TAKE},
                    n_clicks=0,
                    size="sm",
                    color="secondary",
                    className="me-2 mt-2 review-take",
                ),
                dbc.Button(
                    "Save mine on top (o)",
                    id={"type": Ids.RESOLVE, "index": OVERWRITE},
                    n_clicks=0,
                    size="sm",
                    color="warning",
                    className="mt-2 review-overwrite",
                ),
            ],
            color="warning",
            id=Ids.CONFLICT,
            className="py-2",
        )
    ]


def _buttons(types: list[str]) -> html.Div:
    def button(label: str, id: str, color: str, *, outline: bool = False) -> dbc.Button:
        return dbc.Button(label, id=id, color=color, outline=outline, size="sm", className="me-2")

    return html.Div(
        [
            button("Accept gold (a)", Ids.ACCEPT_GOLD, "success"),
            button("Model error, labels right (m)", Ids.MODEL_ERROR, "secondary", outline=True),
            button("Accept all predictions (p)", Ids.ACCEPT_ALL, "success", outline=True),
            html.Span("│", className="text-muted me-2"),
            dbc.Select(
                id=Ids.NEW_TYPE,
                options=[{"label": kind, "value": kind} for kind in types],
                placeholder="type",
                size="sm",
                style={"width": "140px"},
                className="me-2",
            ),
            button("Add span", Ids.ADD, "primary", outline=True),
            button("Remove spans in selection", Ids.REMOVE, "danger", outline=True),
            button("Save (s)", Ids.SAVE, "primary"),
        ],
        className="d-flex align-items-center flex-wrap mt-2",
    )


def example_panel(cache: Cache, draft: Draft | None) -> dbc.Card | dbc.Alert:
    """The example of ``draft``: its numbers, gold and predicted spans, the correction and its buttons."""
    if draft is None:
        return dbc.Alert("No example matches these filters.", color="secondary")
    example_id = draft["example_id"]
    row = example_row(cache, example_id)
    quality = example_quality(cache)
    colours = type_colours(draft["types"])
    errors = rows_of(cache.example_rows("span_errors", example_id), example_id)
    header = html.Div(
        [
            html.Strong(f"Example {example_id}", className="me-3", id=Ids.TITLE),
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
                id=open_button_id(KEY, example_id),
                size="sm",
                color="secondary",
                outline=True,
                className="ms-auto",
            ),
        ],
        className="d-flex align-items-center small",
    )
    gold, pred = (
        span_line(
            draft["words"],
            extract_spans(tags),
            colours=colours,
            marks=span_error_by_word(errors, source=source),
            highlight=None,
            id_prefix=prefix,
        )
        for source, tags, prefix in (("gold", draft["gold"], Ids.GOLD), ("pred", draft["pred"], Ids.PRED))
    )
    body = [
        html.H6("Gold", className="mb-0"),
        gold,
        html.H6("Predicted", className="mb-0 mt-1"),
        pred,
        error_legend(),
        findings_view(findings_of(cache, example_id)),
        html.H6("Correction", className="mt-2"),
        html.Div(draft_view(draft), id=Ids.DRAFT_VIEW),
        _buttons(draft["types"]),
        html.Div(id=Ids.MESSAGE, className="small text-danger mt-1"),
    ]
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className="mb-3")


def findings_view(found: pd.DataFrame | None, *, limit: int = 5) -> html.Div:
    """The example's label-error findings (best first): kind, the spans now and after the fix, the score and its
    evidence, and a button applying the fix to the correction (the first one's key is f)."""
    if found is None or found.empty:
        return html.Div(id=Ids.FINDINGS)
    items = []
    for number, row in enumerate(found.head(limit).itertuples()):
        items.append(
            html.Li(
                [
                    dbc.Badge(row.kind, color="warning", text_color="dark", className="me-2"),
                    html.Span(f"“{row.text}”: {spans_text(row.gold_spans)} → {spans_text(row.fix_spans)}"),
                    html.Span(f" · score {row.score:.2f}", className="text-muted"),
                    dbc.Button(
                        "Apply fix (f)" if number == 0 else "Apply fix",
                        id={"type": Ids.APPLY_FINDING, "index": int(row.finding)},
                        n_clicks=0,
                        size="sm",
                        color="warning",
                        outline=True,
                        className="ms-2 py-0 review-apply-finding",
                    ),
                    html.Div(row.evidence, className="text-muted small"),
                ],
                className="mb-1",
            )
        )
    return html.Div(
        [html.H6("Suspected label errors", className="mt-2 mb-1"), html.Ul(items, className="small mb-1")],
        id=Ids.FINDINGS,
    )
