"""Metrics: entity P/R/F1 per type, the word-level confusion matrix, span error categories by type.

Clicking a confusion cell or an error bar opens Misclassified filtered to it (through the URL).
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.metrics import normalise_confusion
from explainer.app.memo import per_cache
from explainer.app.sections.base import Section
from explainer.app.state import update_query
from explainer.figures.metrics import confusion_figure, error_category_figure


def report_rows(report: dict) -> list[dict]:
    """seqeval's report as grid rows: entity types first, then the averages."""
    averages = [key for key in ("micro avg", "macro avg", "weighted avg") if key in report]
    types = sorted(key for key in report if key not in averages)
    return [
        {"type": key, **{m: report[key].get(m) for m in ("precision", "recall", "f1", "support")}}
        for key in types + averages
    ]


def confusion_view(cache, *, normalise: bool, zero_diagonal: bool) -> dict:
    """The confusion figure as a plain dict, built once per cache and toggle state: building a plotly
    Figure and serialising it costs ~50 ms a time, a dict is sent as it is."""

    def build():
        confusion = cache.metrics["confusion"]
        counts = np.asarray(confusion["counts"], dtype=float)
        matrix = normalise_confusion(counts, normalise=normalise, zero_diagonal=zero_diagonal)
        return confusion_figure(matrix, confusion["labels"], normalised=normalise, counts=counts).to_plotly_json()

    return per_cache(cache, f"metrics-confusion-{int(normalise)}-{int(zero_diagonal)}", build)


def errors_view(cache) -> dict:
    """The span error figure as a plain dict, built once per cache."""
    return per_cache(
        cache, "metrics-errors", lambda: error_category_figure(cache.metrics["error_counts"]).to_plotly_json()
    )


def layout(cache, state):
    normalise = state.get(SECTION.param("norm"), "1") == "1"
    zero_diagonal = state.get(SECTION.param("zero"), "0") == "1"
    number = {"function": "params.value == null ? '' : d3.format('.3f')(params.value)"}
    report = dag.AgGrid(
        id=SECTION.id("report"),
        rowData=report_rows(cache.metrics["seqeval"]),
        columnDefs=[{"field": "type"}]
        + [{"field": m, "valueFormatter": number} for m in ("precision", "recall", "f1")]
        + [{"field": "support"}],
        defaultColDef={"sortable": True, "flex": 1},
        dashGridOptions={"domLayout": "autoHeight"},
    )
    controls = html.Div(
        [
            dbc.Switch(id=SECTION.id("norm"), label="normalise by gold label", value=normalise, className="me-4"),
            dbc.Switch(id=SECTION.id("zero"), label="errors only (zero the diagonal)", value=zero_diagonal),
        ],
        className="d-flex",
    )
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.H5("Entities (seqeval, conlleval mode)"),
                    report,
                    html.H5("Span errors by type", className="mt-4"),
                    html.P("Click a bar to list those spans.", className="text-muted small"),
                    dcc.Graph(id=SECTION.id("errors"), figure=errors_view(cache), config={"displaylogo": False}),
                ],
                lg=5,
            ),
            dbc.Col(
                [
                    html.H5("Word-level confusion (gold × predicted)"),
                    controls,
                    html.P("Click a cell to list those words.", className="text-muted small"),
                    dcc.Graph(
                        id=SECTION.id("confusion"),
                        config={"displaylogo": False},
                        figure=confusion_view(cache, normalise=normalise, zero_diagonal=zero_diagonal),
                    ),
                ],
                lg=7,
            ),
        ]
    )


def register(app, context):
    @app.callback(
        Output(SECTION.id("confusion"), "figure"),
        Output("url", "search", allow_duplicate=True),
        Input(SECTION.id("norm"), "value"),
        Input(SECTION.id("zero"), "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def toggle_confusion(normalise, zero_diagonal, search):
        cache = context.cache(search)
        figure = confusion_view(cache, normalise=bool(normalise), zero_diagonal=bool(zero_diagonal))
        return figure, update_query(
            search, **{SECTION.param("norm"): int(bool(normalise)), SECTION.param("zero"): int(bool(zero_diagonal))}
        )

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(SECTION.id("confusion"), "clickData"),
        Input(SECTION.id("confusion"), "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def confusion_cell_to_misclassified(click, search):
        if not click:
            return no_update, no_update
        point = click["points"][0]  # heatmap clicks carry x/y but not customdata
        gold, pred = point["y"], point["x"]
        return update_query(
            search,
            tab="misclassified",
            mis_level="word",
            mis_gold=gold,
            mis_pred=pred,
            mis_category=None,
            mis_type=None,
        ), None

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(SECTION.id("errors"), "clickData"),
        Input(SECTION.id("errors"), "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def error_bar_to_misclassified(click, search):
        if not click:
            return no_update, no_update
        category, entity_type = click["points"][0]["customdata"]
        return update_query(
            search,
            tab="misclassified",
            mis_level="span",
            mis_category=category,
            mis_type=entity_type,
            mis_gold=None,
            mis_pred=None,
        ), None


SECTION = Section(key="metrics", label="Metrics", layout=layout, register=register)
