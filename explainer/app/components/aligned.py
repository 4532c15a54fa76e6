"""Examples as aligned rows (word / subword / gold / predicted / loss), shared by Samples by loss and
Random samples.

One small table per example, one column per subword, words spanning their subwords. Subwords after a
word's first carry no label (IGN): they are shown, greyed, so the alignment the model saw is visible.

A table travels as one component whose ``data-aligned`` attribute holds its cells as JSON;
``assets/aligned.js`` builds the ``<table>`` from it with ``textContent`` (dataset text is never read as
HTML). As Dash components, the ten longest examples of Samples by loss were ~1,700 components, and the
browser's main thread spent a minute on them on a busy machine (every click waited behind it: the
flaky "tab not active within 60 s" of the deployment test); as data they are one each.
"""

from __future__ import annotations

import json
import math
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, html, no_update

from explainer.analysis.examples import AlignedSubword, aligned_example, rows_of
from explainer.analysis.labels import IGN_LABEL
from explainer.app.state import update_query

OPEN_TYPE = "open-sample"
ROW_HEADERS = ("word", "subword", "gold", "predicted", "loss")
# Loss cells are shaded in LOSS_SHADES steps up to LOSS_SATURATION (classes loss-1..loss-5 in assets/explainer.css).
LOSS_SATURATION = 4.0
LOSS_SHADES = 5
# The columns a card shows, per table: reading only these decodes far less than whole row groups.
CARD_COLUMNS = {
    "examples": ["example_id", "total_loss", "f1", "n_errors", "n_word_errors", "windowed"],
    "words": ["example_id", "word_index", "word", "gold", "pred", "loss"],
    "subwords": ["example_id", "word_index", "position", "token", "label_id", "pred_id", "loss"],
}


def open_button_id(section_key: str, example_id) -> dict:
    """Id of the button that opens ``example_id`` in the inspector (one pattern per section)."""
    return {"type": OPEN_TYPE, "section": section_key, "index": example_id}


TABLE_CLASS = "table table-sm table-bordered aligned-example mb-0 small"


def _cell(text: str, class_name: str | None = None, col_span: int | None = None) -> list:
    """A cell as ``assets/aligned.js`` reads it: ``[text, class or null, column span or null]``, trimmed.

    Styles are classes (``assets/explainer.css``), not inline: the page stays small.
    """
    cell: list = [text, class_name, col_span]
    while len(cell) > 1 and cell[-1] is None:
        cell.pop()
    return cell


def loss_class(loss: float) -> str | None:
    """The shade of a loss cell: the nearest of ``loss-1`` (0.8) to ``loss-5`` (4 or more); None below 0.4."""
    shade = math.floor(min(loss / LOSS_SATURATION, 1.0) * LOSS_SHADES + 0.5)
    return f"loss-{shade}" if shade > 0 else None


def _loss_cell(loss: float, ignored: bool) -> list:
    if ignored or math.isnan(loss):
        return _cell(IGN_LABEL, "ign")
    return _cell(f"{loss:.2f}", loss_class(loss))


def aligned_rows(columns: list[AlignedSubword]) -> list[list]:
    """The rows of one example's table: ``[header, [cell, ...]]`` for word, subword, gold, predicted, loss.

    A word's cell spans its subwords; subwords after a word's first have the class ``ign`` (greyed); a
    predicted label that differs from gold is ``table-danger``.
    """
    word_cells = []
    for position, column in enumerate(columns):
        if column.first:
            width = 1
            while position + width < len(columns) and not columns[position + width].first:
                width += 1
            word_cells.append(_cell(column.word, None, width if width > 1 else None))
    token_cells, gold_cells, pred_cells, loss_cells = [], [], [], []
    for column in columns:
        muted = None if column.first else "ign"
        token_cells.append(_cell(column.token, muted))
        gold_cells.append(_cell(column.gold, muted))
        pred_cells.append(_cell(column.pred, "table-danger" if column.mismatch else muted))
        loss_cells.append(_loss_cell(column.loss, not column.first))
    return [list(row) for row in zip(ROW_HEADERS, (word_cells, token_cells, gold_cells, pred_cells, loss_cells))]


def aligned_table(columns: list[AlignedSubword]) -> html.Div:
    """The aligned rows of one example (``columns`` from ``explainer.analysis.examples.aligned_example``) as
    one component: ``assets/aligned.js`` builds the table (class ``TABLE_CLASS``, a row ``aligned-<header>``
    per row) from its ``data-aligned`` JSON."""
    data: dict[str, Any] = {  # data-* attributes: Dash passes them through, its type hints do not name them
        "data-aligned": json.dumps(aligned_rows(columns), ensure_ascii=False, separators=(",", ":")),
        "data-table-class": TABLE_CLASS,
    }
    return html.Div(className="aligned-holder", **data)


def example_card(cache, example_id: int, *, section_key: str, rows: dict | None = None) -> dbc.Card:
    """One example: a header with its scores and an inspect button, then its aligned rows.

    ``rows``: the examples/words/subwords rows of a page of examples read at once (else read here).
    """
    rows = rows or {name: cache.example_rows(name, example_id, columns) for name, columns in CARD_COLUMNS.items()}
    example = rows_of(rows["examples"], example_id).iloc[0]
    columns = aligned_example(
        rows_of(rows["words"], example_id), rows_of(rows["subwords"], example_id), labels=cache.labels
    )
    header = html.Div(
        [
            html.Strong(f"Example {example_id}", className="me-3"),
            html.Span(f"total loss {example['total_loss']:.2f}", className="me-3"),
            html.Span(f"entity F1 {example['f1']:.2f}", className="me-3"),
            html.Span(f"span errors {int(example['n_errors'])}", className="me-3"),
            html.Span(f"word errors {int(example['n_word_errors'])}", className="me-3"),
            dbc.Badge("windowed", color="info", className="me-3") if example["windowed"] else None,
            dbc.Button(
                "Inspect",
                id=open_button_id(section_key, int(example_id)),
                size="sm",
                color="primary",
                outline=True,
                className="ms-auto",
            ),
        ],
        className="d-flex align-items-center small",
    )
    return dbc.Card(
        [
            dbc.CardHeader(header),
            dbc.CardBody(html.Div(aligned_table(columns), style={"overflowX": "auto"}), className="p-2"),
        ],
        className="mb-3 aligned-card",
        id=f"{section_key}-example-{example_id}",
    )


def example_cards(cache, example_ids, *, section_key: str) -> list:
    """Cards for ``example_ids`` in that order (an empty note when there are none)."""
    example_ids = [int(example_id) for example_id in example_ids]
    rows = (
        {name: cache.example_rows(name, example_ids, columns) for name, columns in CARD_COLUMNS.items()}
        if example_ids
        else None
    )
    cards = [example_card(cache, example_id, section_key=section_key, rows=rows) for example_id in example_ids]
    return cards or [dbc.Alert("No examples to show.", color="secondary")]


def page_bar(component_id: str, *, n_pages: int, page: int, class_name: str = "mb-0") -> dbc.Pagination:
    """The compact pager above a page of example cards (Samples by loss, Find duplicates)."""
    return dbc.Pagination(
        id=component_id,
        max_value=n_pages,
        active_page=page,
        fully_expanded=False,
        first_last=True,
        previous_next=True,
        size="sm",
        className=class_name,
    )


def clicked_example(triggered: list[dict] | None, key: str = "index") -> int | None:
    """The example id (the button id's ``key``) of the open button that fired, or None when none was
    really clicked.

    Dash also fires an ``ALL`` callback when new buttons appear (``n_clicks`` None); that is no click.
    """
    for item in triggered or []:
        prop_id, value = item.get("prop_id", ""), item.get("value")
        if value and prop_id.endswith(".n_clicks"):
            try:
                return int(json.loads(prop_id.rsplit(".", 1)[0])[key])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def open_sample(search: str | None, triggered: list[dict] | None, key: str = "index"):
    """Callback body: the URL with ``sample`` set to the clicked example (no_update if none was clicked)."""
    example_id = clicked_example(triggered, key)
    return no_update if example_id is None else update_query(search, sample=example_id, word=None)


def register_open_buttons(app, section_key: str) -> None:
    """The callback behind the Inspect buttons of ``section_key``'s cards."""

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(open_button_id(section_key, ALL), "n_clicks"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def open_clicked_example(_clicks, search):
        return open_sample(search, dash.ctx.triggered)
