"""Review statistics: do the reviewers agree, how fast do they go, which disagreements wait to be settled, and
every decision ever saved (the audit trail).

Agreement is computed over the examples two reviewers decided (``EXPLAINER_REVIEW_DOUBLE`` sends a share of the
queue to a second reviewer, who does not see the first decision): token-level Cohen's kappa and exact-span F1 per
type (:mod:`explainer.analysis.agreement`). A disagreement is settled by a later decision of a third reviewer, or
when the two agree; each one links to the example in Review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import html

from explainer.analysis.agreement import Agreement, agreement
from explainer.app.components.review_view import tagged_spans_text
from explainer.app.sections import review
from explainer.app.sections.base import REVIEW, Query, Section, StrEnum
from explainer.cache.reader import Cache
from explainer.errors import ExplainerError
from explainer.review.corrections import KIND_LABELS

if TYPE_CHECKING:
    from explainer.app.factory import AppContext

AUDIT_ROWS = 200  # the latest decisions shown; the Review downloads hold every one


class Ids(StrEnum):
    SUMMARY = "review_stats-summary"
    TYPES = "review_stats-types"
    REVIEWERS = "review_stats-reviewers"
    DISAGREEMENTS = "review_stats-disagreements"
    AUDIT = "review_stats-audit"


def summary(result: Agreement, n_decisions: int) -> html.Div:
    kappa = "—" if result.kappa is None else f"{result.kappa:.3f}"
    overall = result.span_f1.get("all")
    return html.Div(
        [
            html.Span(f"{n_decisions:,} decisions · {result.n_pairs:,} examples reviewed by two reviewers · "),
            html.Span(f"token-level Cohen's kappa {kappa} · "),
            html.Span(f"span F1 between reviewers {'—' if overall is None else f'{overall:.3f}'} · "),
            html.Span(f"{len(result.disagreements):,} disagreements to settle"),
        ],
        id=Ids.SUMMARY,
        className="mb-3",
    )


def type_table(result: Agreement) -> dbc.Table:
    rows = [
        html.Tr([html.Td(kind), html.Td(f"{f1:.3f}", className="text-end"), html.Td(result.span_support[kind])])
        for kind, f1 in result.span_f1.items()
    ]
    head = html.Thead(html.Tr([html.Th("type"), html.Th("span F1", className="text-end"), html.Th("spans")]))
    return dbc.Table([head, html.Tbody(rows)], id=Ids.TYPES, size="sm")


def reviewer_table(result: Agreement) -> dbc.Table:
    rows = [
        html.Tr(
            [
                html.Td(name),
                html.Td(f"{info['decisions']:,}", className="text-end"),
                html.Td("—" if info["per_hour"] is None else f"{info['per_hour']:.1f}", className="text-end"),
                html.Td(info["first"] or ""),
                html.Td(info["last"] or ""),
            ]
        )
        for name, info in result.reviewers.items()
    ]
    head = html.Thead(
        html.Tr([html.Th("reviewer"), html.Th("decisions"), html.Th("per hour"), html.Th("first"), html.Th("last")])
    )
    return dbc.Table([head, html.Tbody(rows)], id=Ids.REVIEWERS, size="sm")


def disagreement_list(result: Agreement, query: Query) -> html.Div:
    search = "?" + urlencode({key: value for key, value in query.items() if value is not None})
    items = []
    for pair in result.disagreements:
        words = list(pair.first["words"])
        example = pair.first.get("example_id")
        link = (
            html.A(f"example {example}", href=review.SECTION.link(search, ex=int(example), status="all"))
            if isinstance(example, int)
            else html.Span(pair.key)
        )
        items.append(
            html.Li(
                [
                    link,
                    html.Div(f"{pair.first.get('reviewer')}: {tagged_spans_text(words, pair.first['corrected'])}"),
                    html.Div(f"{pair.second.get('reviewer')}: {tagged_spans_text(words, pair.second['corrected'])}"),
                ],
                className="mb-2",
            )
        )
    return html.Div(html.Ol(items) if items else html.P("None.", className="text-muted"), id=Ids.DISAGREEMENTS)


def audit_table(history: list[dict[str, Any]]) -> dbc.Table:
    """The latest AUDIT_ROWS decisions, newest first, each with the spans before it (its example's previous
    decision, else gold) and after it."""
    before: dict[str, list[str]] = {}
    rows = []
    for decision in history:
        key, words = decision["key"], list(decision["words"])
        previous = before.get(key, list(decision["original"]))
        rows.append(
            html.Tr(
                [
                    html.Td(decision.get("time") or ""),
                    html.Td(decision.get("reviewer") or ""),
                    html.Td(str(decision.get("example_id"))),
                    html.Td(str(decision.get("revision") or "")),
                    html.Td(KIND_LABELS.get(decision["kind"], decision["kind"])),
                    html.Td(tagged_spans_text(words, previous), className="small"),
                    html.Td(tagged_spans_text(words, decision["corrected"]), className="small"),
                ]
            )
        )
        before[key] = list(decision["corrected"])
    head = html.Thead(
        html.Tr(
            [
                html.Th(name)
                for name in ("time", "reviewer", "example", "revision", "decision", "spans before", "spans after")
            ]
        )
    )
    return dbc.Table([head, html.Tbody(rows[::-1][:AUDIT_ROWS])], id=Ids.AUDIT, size="sm", striped=True)


def layout(cache: Cache, query: Query, context: AppContext) -> html.Div:
    try:
        history = review.store_of(context, cache).history()
    except ExplainerError as error:
        return html.Div(dbc.Alert(str(error), color="danger"))
    result = agreement(history)
    return html.Div(
        [
            html.P(
                "Agreement between reviewers on the examples two of them decided (set EXPLAINER_REVIEW_DOUBLE to "
                "send a share of the queue to a second reviewer), each reviewer's pace, the disagreements to "
                "settle (a third reviewer's decision settles one), and every decision saved.",
                className="text-muted small",
            ),
            summary(result, len(history)),
            dbc.Row(
                [
                    dbc.Col([html.H6("Span F1 between reviewers, per type"), type_table(result)], md=5),
                    dbc.Col([html.H6("Reviewers"), reviewer_table(result)], md=7),
                ]
            ),
            html.H6("Disagreements to settle", className="mt-3"),
            disagreement_list(result, query),
            html.H6(f"Audit trail (the latest {AUDIT_ROWS} decisions, newest first)", className="mt-3"),
            audit_table(history),
        ]
    )


SECTION = Section(
    key="review_stats",
    label="Review statistics",
    group=REVIEW,
    order=20,
    layout=layout,
    ids=Ids,
    layout_needs_context=True,
)
