"""Metrics: entity P/R/F1 per type, nervaluate's four schemes, the confusion matrix, span error categories.

The confusion is entity-level by default (gold type x predicted type over the one-to-one matched spans,
with a "none" row of spurious predictions and a "none" column of missed gold spans); the word-level
B-/I- matrix is one toggle away (``metrics_confusion=word``). Clicking a confusion cell or an error bar
opens Misclassified filtered to it (through the URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.metrics import NONE, entity_confusion, normalise_confusion
from explainer.analysis.schemes import SCHEMES, scheme_scores, spans_by_example
from explainer.app.components.grid import client_csv_button
from explainer.app.memo import per_cache
from explainer.app.sections import misclassified
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View, view_field
from explainer.app.state import parse_query, update_query
from explainer.figures.metrics import confusion_figure, error_category_figure

WIDE_CONFUSION_LABELS = 12  # more labels than this: the confusion takes the page's width, below the table


class Ids(StrEnum):
    REPORT = "metrics-report"
    NORMALISE = "metrics-norm"
    ZERO_DIAGONAL = "metrics-zero"
    ERRORS = "metrics-errors"
    CONFUSION = "metrics-confusion"
    LEVEL = "metrics-level"
    SCHEMES = "metrics-schemes"


LEVELS = ("entity", "word")


@dataclass(frozen=True)
class MetricsView(View, prefix="metrics"):
    norm: bool = True  # the confusion matrix normalised by gold label
    zero: bool = False  # its diagonal zeroed (errors only)
    confusion: str = view_field("entity", choices=LEVELS)  # entity types, or word labels (B-/I-)


def report_rows(report: dict) -> list[dict]:
    """seqeval's report as grid rows: entity types first, then the averages."""
    averages = [key for key in ("micro avg", "macro avg", "weighted avg") if key in report]
    types = sorted(key for key in report if key not in averages)
    return [
        {"type": key, **{m: report[key].get(m) for m in ("precision", "recall", "f1", "support")}}
        for key in types + averages
    ]


def confusion_counts(cache, level: str) -> dict:
    """The confusion's labels and counts at ``level``, computed once per cache: the span level reads two
    columns of every span error (~1.5 s at 1M subwords), which no toggle of the figure should repeat."""

    def build() -> dict:
        if level == "word":
            return cache.metrics["confusion"]
        # Two columns, not the whole table: read once, the table would stay in the cache's memo.
        pairs = cache.table("span_errors", ["gold_type", "pred_type"])
        return entity_confusion(pairs, types=cache.metrics.get("entity_types"))

    return per_cache(cache, f"metrics-confusion-counts-{level}", build)


def confusion_view(cache, *, normalise: bool, zero_diagonal: bool, level: str = "entity") -> dict:
    """The confusion figure as a plain dict, built once per cache, level and toggle state: building a
    plotly Figure and serialising it costs ~50 ms a time, a dict is sent as it is."""

    def build():
        confusion = confusion_counts(cache, level)
        counts = np.asarray(confusion["counts"], dtype=float)
        matrix = normalise_confusion(counts, normalise=normalise, zero_diagonal=zero_diagonal)
        unit = "words" if level == "word" else "spans"
        return confusion_figure(
            matrix, confusion["labels"], normalised=normalise, counts=counts, unit=unit
        ).to_plotly_json()

    return per_cache(cache, f"metrics-confusion-{level}-{int(normalise)}-{int(zero_diagonal)}", build)


def scheme_rows(cache) -> list[dict[str, Any]]:
    """nervaluate's four schemes over the whole cache, one grid row each (built once per cache)."""

    def build() -> list[dict[str, Any]]:
        spans = cache.table("spans", ["example_id", "source", "start", "end", "type"])  # not kept whole
        overall = scheme_scores(spans_by_example(spans))["overall"]
        return [{"scheme": scheme, **overall[scheme]} for scheme in SCHEMES]

    return per_cache(cache, "metrics-schemes", build)


def confusion_cell_link(search, level: str, gold: str, pred: str) -> str:
    """Misclassified showing one confusion cell: words of the two labels, or the span errors of the
    two types (a ``none`` side is the missed or spurious spans of the other)."""
    if level == "word":
        return misclassified.SECTION.link(search, level="word", gold=gold, pred=pred)
    if gold == NONE:
        return misclassified.SECTION.link(search, level="span", category="spurious", pred=pred)
    if pred == NONE:
        return misclassified.SECTION.link(search, level="span", category="missed", gold=gold)
    return misclassified.SECTION.link(search, level="span", gold=gold, pred=pred)


def errors_view(cache) -> dict:
    """The span error figure as a plain dict, built once per cache."""
    return per_cache(
        cache, "metrics-errors", lambda: error_category_figure(cache.metrics["error_counts"]).to_plotly_json()
    )


def layout(cache, state):
    view = MetricsView.from_query(state)
    wide = len(cache.metrics["confusion"]["labels"]) > WIDE_CONFUSION_LABELS
    number = {"function": "params.value == null ? '' : d3.format('.3f')(params.value)"}
    report = dag.AgGrid(
        id=Ids.REPORT,
        rowData=report_rows(cache.metrics["seqeval"]),
        # a type name wraps (and shows whole on hover) rather than being cut: politician vs politicalparty
        columnDefs=[{"field": "type", "minWidth": 130, "wrapText": True, "autoHeight": True, "tooltipField": "type"}]
        + [{"field": m, "valueFormatter": number} for m in ("precision", "recall", "f1")]
        + [{"field": "support"}],
        defaultColDef={"sortable": True, "flex": 1, "minWidth": 80},
        dashGridOptions={"domLayout": "autoHeight", "tooltipShowDelay": 300},
        csvExportParams={"fileName": "metrics.csv"},
    )
    controls = html.Div(
        [
            dbc.RadioItems(
                id=Ids.LEVEL,
                value=view.confusion,
                inline=True,
                className="me-4",
                options=[{"label": "entities", "value": "entity"}, {"label": "words (B-/I-)", "value": "word"}],
            ),
            dbc.Switch(id=Ids.NORMALISE, label="normalise by gold label", value=view.norm, className="me-4"),
            dbc.Switch(id=Ids.ZERO_DIAGONAL, label="errors only (zero the diagonal)", value=view.zero),
        ],
        className="d-flex",
    )
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.H5("Entities (seqeval, conlleval mode)"),
                    client_csv_button(Ids.REPORT),
                    report,
                    html.H5("nervaluate's schemes (SemEval 2013)", className="mt-4"),
                    html.P(
                        "strict: boundaries and type; exact: boundaries; partial: overlap counts half; "
                        "ent_type: type with any overlap. Counted as nervaluate 1.2.1 counts them.",
                        className="text-muted small",
                    ),
                    dag.AgGrid(
                        id=Ids.SCHEMES,
                        rowData=scheme_rows(cache),
                        columnDefs=[{"field": "scheme"}]
                        + [{"field": name} for name in ("correct", "incorrect", "partial", "missed", "spurious")]
                        + [{"field": m, "valueFormatter": number} for m in ("precision", "recall", "f1")],
                        defaultColDef={"sortable": True, "flex": 1},
                        dashGridOptions={"domLayout": "autoHeight"},
                    ),
                    html.H5("Span errors by type", className="mt-4"),
                    html.P("Click a bar to list those spans.", className="text-muted small"),
                    dcc.Graph(id=Ids.ERRORS, figure=errors_view(cache), config={"displaylogo": False}),
                ],
                lg=6,  # the sidebar takes ~175 px: a 5/7 split truncated the table at 1280 px
            ),
            dbc.Col(
                [
                    html.H5("Confusion (gold × predicted)"),
                    controls,
                    html.P(
                        "Entities: matched spans by type, 'none' for missed (column) and spurious (row). "
                        "Click a cell to list those errors.",
                        className="text-muted small",
                    ),
                    dcc.Graph(
                        id=Ids.CONFUSION,
                        config={"displaylogo": False},
                        figure=confusion_view(
                            cache, normalise=view.norm, zero_diagonal=view.zero, level=view.confusion
                        ),
                    ),
                ],
                lg=12 if wide else 6,  # many labels: the full width, so every cell keeps its number readable
            ),
        ]
    )


def toggled(context, normalise, zero_diagonal, level, search) -> tuple[Any, str]:
    """Callback body: the confusion toggles -> (its figure, the URL)."""
    cache = context.cache(search)
    view = MetricsView(norm=bool(normalise), zero=bool(zero_diagonal), confusion=level or "entity")
    figure = confusion_view(cache, normalise=view.norm, zero_diagonal=view.zero, level=view.confusion)
    return figure, update_query(search, **view.to_query())


def register(app, context):
    @app.callback(
        Output(Ids.CONFUSION, "figure"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.NORMALISE, "value"),
        Input(Ids.ZERO_DIAGONAL, "value"),
        Input(Ids.LEVEL, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def toggle_confusion(normalise, zero_diagonal, level, search):
        return toggled(context, normalise, zero_diagonal, level, search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(Ids.CONFUSION, "clickData"),
        Input(Ids.CONFUSION, "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def confusion_cell_to_misclassified(click, search):
        if not click:
            return no_update, no_update
        point = click["points"][0]  # heatmap clicks carry x/y but not customdata
        level = MetricsView.from_query(parse_query(search)).confusion
        return confusion_cell_link(search, level, point["y"], point["x"]), None

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(Ids.ERRORS, "clickData"),
        Input(Ids.ERRORS, "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def error_bar_to_misclassified(click, search):
        if not click:
            return no_update, no_update
        category, entity_type = click["points"][0]["customdata"]
        return misclassified.SECTION.link(search, level="span", category=category, type=entity_type), None


SECTION = Section(
    key="metrics",
    label="Metrics",
    group=PERFORMANCE,
    order=10,
    layout=layout,
    register=register,
    ids=Ids,
    view=MetricsView,
)
