"""Raw data: one example as the model sees it (subwords, input ids, word ids, labels with IGN).

The example is chosen by id: the input (or its previous/next buttons), ``raw_id`` in the URL, else the
inspector's ``sample``, else example 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html, no_update

from explainer.analysis.examples import model_inputs, raw_example
from explainer.app.sections.base import EXAMPLES, Section, StrEnum, View
from explainer.app.state import int_param, parse_query, update_query
from explainer.errors import ExplainerError

TABLE_HEADERS = ("position", "subword", "input id", "word id", "word", "label id", "label", "predicted", "window")


class Ids(StrEnum):
    EXAMPLE_ID = "raw_data-id"
    PREV = "raw_data-prev"
    NEXT = "raw_data-next"
    CONTENT = "raw_data-content"
    INPUTS = "raw_data-inputs"
    TABLE = "raw_data-table"


@dataclass(frozen=True)
class RawView(View, prefix="raw"):
    id: int | None = None  # the example shown (None: the inspector's, else 0)


def chosen_id(state: dict) -> int:
    """``raw_id`` if the URL has one, else the inspector's ``sample``, else 0."""
    example_id = RawView.from_query(state).id
    return int_param(state, "sample", 0) if example_id is None else example_id


def raw_view(cache, example_id) -> list:
    """The content for ``example_id``: summary, the model's input lists, one row per subword."""
    n_examples = int(cache.manifest["counts"]["examples"])
    if example_id is None or not 0 <= int(example_id) < n_examples:
        return [dbc.Alert(f"No example {example_id}: ids go from 0 to {n_examples - 1}.", color="warning")]
    example_id = int(example_id)
    example = cache.example_rows("examples", example_id).iloc[0]
    raw = raw_example(cache.example_rows("subwords", example_id), labels=cache.labels)
    words = list(example["words"])
    inputs = model_inputs(raw)
    summary = html.Div(
        [
            html.Span(f"source {example['source']}", className="me-3"),
            html.Span(
                f"{int(example['n_words'])} words, {len(raw)} subwords (special tokens included)", className="me-3"
            ),
            dbc.Badge("windowed: outputs stitched from overlapping windows", color="info")
            if example["windowed"]
            else None,
        ],
        className="text-muted small mb-2",
    )
    lists = html.Pre(
        "\n".join(f"{key} = {value!r}" for key, value in inputs.items()),  # as Python prints them
        className="bg-light p-2 small",
        style={"whiteSpace": "pre-wrap"},
        id=Ids.INPUTS,
    )
    rows = [_subword_row(row, words, word_id) for row, word_id in zip(raw.itertuples(index=False), inputs["word_ids"])]
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in TABLE_HEADERS])), html.Tbody(rows)],
        size="sm",
        hover=True,
        className="small raw-subwords",
        id=Ids.TABLE,
    )
    return [
        html.H6(f"Example {example_id}"),
        html.P(example["text"], className="mb-1"),
        summary,
        html.H6("Model inputs", className="mt-2"),
        lists,
        html.H6("Subwords", className="mt-2"),
        table,
    ]


def _subword_row(row, words: list[str], word_id: int | None) -> html.Tr:
    special = word_id is None
    return html.Tr(
        [
            html.Td(row.position),
            html.Td(row.token),
            html.Td(row.input_id),
            html.Td("None" if special else word_id, className="text-muted" if special else None),
            html.Td("" if word_id is None or word_id >= len(words) else words[word_id]),
            html.Td(row.label_id),
            html.Td(row.label, className="text-muted" if row.label_id < 0 else None),
            html.Td(row.pred),
            html.Td(row.window),
        ],
        className="table-light" if special else None,
    )


def layout(cache, state):
    example_id = chosen_id(state)
    picker = dbc.InputGroup(
        [
            dbc.InputGroupText("example id"),
            dbc.Input(
                id=Ids.EXAMPLE_ID,
                type="number",
                min=0,
                max=max(int(cache.manifest["counts"]["examples"]) - 1, 0),
                step=1,
                value=example_id,
                debounce=True,
            ),
        ],
        size="sm",
        style={"width": "220px"},
        className="me-2",
    )
    steps = [
        dbc.Button("← previous", id=Ids.PREV, size="sm", color="secondary", outline=True, className="me-2"),
        dbc.Button("next →", id=Ids.NEXT, size="sm", color="secondary", outline=True),
    ]
    return html.Div(
        [
            html.P(
                "An example exactly as the model sees it: special tokens, subwords, input ids, the word each subword "
                "belongs to (None for special tokens) and the training label, where -100 (IGN) marks subwords "
                "that carry no label.",
                className="text-muted small",
            ),
            html.Div([picker, *steps], className="d-flex align-items-center mb-2"),
            html.Div(raw_view(cache, example_id), id=Ids.CONTENT),
        ]
    )


def update_view(context, example_id, search):
    """Callback body: show ``example_id`` and write it to the URL as ``raw_id``."""
    if example_id is not None and example_id == chosen_id(parse_query(search)):  # echoing the URL
        return no_update, no_update
    try:
        content = raw_view(context.cache(search), example_id)
    except ExplainerError as error:
        return [dbc.Alert(str(error), color="danger")], no_update
    if example_id is None:
        return content, no_update
    return content, update_query(search, **RawView(id=int(example_id)).to_query())


def stepped_id(current, step: int, *, n_examples: int) -> int:
    """The example id ``step`` away from ``current`` (an empty input counts as 0), kept within the cache."""
    try:
        start = int(current)
    except (TypeError, ValueError):
        start = 0
    return min(max(start + step, 0), max(n_examples - 1, 0))


def register(app, context):
    @app.callback(
        Output(Ids.EXAMPLE_ID, "value"),
        Input(Ids.PREV, "n_clicks"),
        Input(Ids.NEXT, "n_clicks"),
        State(Ids.EXAMPLE_ID, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_step(_previous, _next, current, search):
        n_examples = int(context.cache(search).manifest["counts"]["examples"])
        return stepped_id(current, 1 if dash.ctx.triggered_id == Ids.NEXT else -1, n_examples=n_examples)

    @app.callback(
        Output(Ids.CONTENT, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.EXAMPLE_ID, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_id(example_id, search):
        return update_view(context, example_id, search)


SECTION = Section(
    key="raw_data",
    label="Raw data",
    group=EXAMPLES,
    order=40,
    layout=layout,
    register=register,
    ids=Ids,
    view=RawView,
)
