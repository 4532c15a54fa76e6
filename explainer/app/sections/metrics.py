"""Metrics: entity P/R/F1 per type, the word-level confusion matrix, span error categories by type.

Clicking a confusion cell or an error bar opens Misclassified filtered to it (through the URL).
"""

from __future__ import annotations

from dataclasses import dataclass

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.metrics import normalise_confusion
from explainer.app.components.grid import client_csv_button
from explainer.app.memo import per_cache
from explainer.app.sections import misclassified
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View
from explainer.app.state import update_query
from explainer.figures.metrics import confusion_figure, error_category_figure

WIDE_CONFUSION_LABELS = 12  # more labels than this: the confusion takes the page's width, below the table


class Ids(StrEnum):
    REPORT = "metrics-report"
    NORMALISE = "metrics-norm"
    ZERO_DIAGONAL = "metrics-zero"
    ERRORS = "metrics-errors"
    CONFUSION = "metrics-confusion"


@dataclass(frozen=True)
class MetricsView(View, prefix="metrics"):
    norm: bool = True  # the confusion matrix normalised by gold label
    zero: bool = False  # its diagonal zeroed (errors only)


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
                    html.H5("Span errors by type", className="mt-4"),
                    html.P("Click a bar to list those spans.", className="text-muted small"),
                    dcc.Graph(id=Ids.ERRORS, figure=errors_view(cache), config={"displaylogo": False}),
                ],
                lg=6,  # the sidebar takes ~175 px: a 5/7 split truncated the table at 1280 px
            ),
            dbc.Col(
                [
                    html.H5("Word-level confusion (gold × predicted)"),
                    controls,
                    html.P("Click a cell to list those words.", className="text-muted small"),
                    dcc.Graph(
                        id=Ids.CONFUSION,
                        config={"displaylogo": False},
                        figure=confusion_view(cache, normalise=view.norm, zero_diagonal=view.zero),
                    ),
                ],
                lg=12 if wide else 6,  # many labels: the full width, so every cell keeps its number readable
            ),
        ]
    )


def register(app, context):
    @app.callback(
        Output(Ids.CONFUSION, "figure"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.NORMALISE, "value"),
        Input(Ids.ZERO_DIAGONAL, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def toggle_confusion(normalise, zero_diagonal, search):
        cache = context.cache(search)
        view = MetricsView(norm=bool(normalise), zero=bool(zero_diagonal))
        figure = confusion_view(cache, normalise=view.norm, zero_diagonal=view.zero)
        return figure, update_query(search, **view.to_query())

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
        gold, pred = point["y"], point["x"]
        return misclassified.SECTION.link(search, level="word", gold=gold, pred=pred), None

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
