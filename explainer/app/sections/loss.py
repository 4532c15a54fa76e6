"""Loss by token / label: count, mean, median and total loss per word string and per gold label.

Words are listed by mean loss, those seen fewer than ``loss_min`` times (URL; default 3) left out: by
total loss the most frequent words ("the", "'s", "of") came first. Both tables are computed once per
opened cache. A word row opens Inspect filtered to the examples
containing that word (``ins_text``); a label row opens Misclassified filtered to that gold label.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html, no_update

from explainer.analysis.loss import loss_by
from explainer.app.components.grid import client_csv_button, column, grid_id, grid_source, server_grid
from explainer.app.memo import per_cache
from explainer.app.sections import inspect, misclassified
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View
from explainer.app.state import parse_query, update_query
from explainer.cache import schema

WORD_GRID = "loss-words"
WORD_ROW_PREFIX = "word:"  # not a number, so the grid's default click (open an example) ignores these rows


class Ids(StrEnum):
    LABELS = "loss-labels"
    MIN_COUNT = "loss-min-count"
    WORDS = "loss-words-block"  # + the minimum count: a new id mounts a fresh grid


@dataclass(frozen=True)
class LossView(View, prefix="loss"):
    min: int = 3  # words seen fewer times are left out of the word table


def word_table(cache):
    """Loss per word string, with a row id naming the word (memoised per cache)."""

    def compute():
        table = cache.precomputed(schema.LOSS_BY_WORD, lambda: loss_by(cache.words, key="word"))
        return table.assign(row_id=WORD_ROW_PREFIX + table["word"].astype("str"))  # a new frame: the view is shared

    return per_cache(cache, "loss-by-word", compute)


def label_table(cache):
    """Loss per gold label (memoised per cache)."""
    return per_cache(
        cache,
        "loss-by-gold",
        lambda: cache.precomputed(schema.LOSS_BY_LABEL, lambda: loss_by(cache.words, key="gold")),
    )


@grid_source(WORD_GRID)
def word_rows(cache, state):
    table = word_table(cache)
    return table[table["count"] >= LossView.from_query(state).min]


def json_records(frame) -> list[dict]:
    """Rows as JSON-safe dicts (NaN -> None: a label whose words have no loss)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _stat_columns(sort_by: str = "total_loss"):
    columns = [
        column("count", "words", number=True, width=110),
        column("mean_loss", "mean loss", number=True, decimals=3),
        column("median_loss", "median loss", number=True, decimals=3),
        column("total_loss", "total loss", number=True, decimals=2),
        column("errors", "misclassified", number=True),
    ]
    for definition in columns:
        if definition["field"] == sort_by:
            definition["sort"] = "desc"
    return columns


def word_block(view: LossView) -> html.Div:
    """The word grid for ``view``'s minimum count, highest mean loss first."""
    grid = server_grid(WORD_GRID, [column("word", width=200)] + _stat_columns("mean_loss"), height=560)
    return html.Div(grid, id=f"{Ids.WORDS}-{view.min}")


def layout(cache, state):
    view = LossView.from_query(state)
    labels = label_table(cache)
    label_grid = dag.AgGrid(
        id=Ids.LABELS,
        rowData=json_records(labels),
        columnDefs=[column("gold", "gold label")] + _stat_columns(),
        defaultColDef={"resizable": True, "flex": 1, "minWidth": 90},
        csvExportParams={"fileName": "loss-by-label.csv"},
        dashGridOptions={
            "domLayout": "autoHeight",
            "getRowId": {"function": "params.data.gold"},
            "suppressCellFocus": True,
        },
    )
    return html.Div(
        [
            html.P(
                "Where the loss goes. Click a word to list the examples containing it (Inspect); click a label to "
                "list its misclassified words. Sort by any column.",
                className="text-muted small",
            ),
            html.H5("By gold label"),
            client_csv_button(Ids.LABELS),
            label_grid,
            html.Div(
                [
                    html.H5("By word", className="me-4 mb-0"),
                    dbc.InputGroup(
                        [
                            dbc.InputGroupText("seen at least"),
                            dbc.Input(id=Ids.MIN_COUNT, type="number", min=1, step=1, value=view.min, debounce=True),
                            dbc.InputGroupText("times"),
                        ],
                        size="sm",
                        style={"width": "260px"},
                    ),
                ],
                className="d-flex align-items-center mt-4 mb-2",
            ),
            html.Div(word_block(view), id=Ids.WORDS),
        ]
    )


def update_min_count(value, search):
    """Callback body: a new minimum count -> the URL and a fresh word grid (no_update when it echoes the URL)."""
    try:
        view = LossView(min=max(int(value), 1))
    except (TypeError, ValueError):
        return no_update, no_update
    if view == LossView.from_query(parse_query(search)):
        return no_update, no_update
    return word_block(view), update_query(search, **view.to_query())


def word_clicked(click, search):
    """Callback body: a word row -> the Inspect tab filtered to examples containing that word."""
    row_id = (click or {}).get("rowId") or ""
    if not row_id.startswith(WORD_ROW_PREFIX):
        return no_update
    return inspect.SECTION.link(search, text=row_id[len(WORD_ROW_PREFIX) :])


def label_clicked(click, search):
    """Callback body: a label row -> Misclassified, word level, filtered to that gold label."""
    label = (click or {}).get("rowId")
    if not label:
        return no_update
    return misclassified.SECTION.link(search, level="word", gold=label)


def register(app, context):
    @app.callback(
        Output(Ids.WORDS, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.MIN_COUNT, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_min_count(value, search):
        return update_min_count(value, search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(grid_id(WORD_GRID), "cellClicked"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_word(click, search):
        return word_clicked(click, search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(Ids.LABELS, "cellClicked"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_label(click, search):
        return label_clicked(click, search)


SECTION = Section(
    key="loss",
    label="Loss by token/label",
    group=PERFORMANCE,
    order=30,
    layout=layout,
    register=register,
    ids=Ids,
    view=LossView,
)
