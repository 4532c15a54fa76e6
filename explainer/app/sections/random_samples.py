"""Random samples: a seeded random draw of examples, as aligned rows; the seed lives in the URL.

``rnd_seed`` (default 0) and ``rnd_n`` (default 10) make the draw, so a shared link shows the same
examples; "New draw" picks a fresh seed and writes it to the URL. ``rnd_order`` sorts the draw by a
score its cards show (total loss, entity F1, label quality, confidence), as Samples by loss orders.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.examples import ORDERS, random_draw
from explainer.app.components.aligned import example_cards, register_open_buttons
from explainer.app.components.clicks import clicked
from explainer.app.memo import per_cache
from explainer.app.sections.base import EXAMPLES, Section, StrEnum, View, view_field
from explainer.app.sections.samples import ORDER_LABELS
from explainer.app.state import parse_query, update_query
from explainer.errors import ExplainerError

DEFAULT_SIZE = 10
MAX_SIZE = 50
MAX_SEED = 2**31 - 1
DRAWN = "id"  # the draw by example id, as drawn


class Ids(StrEnum):
    DRAW = "random_samples-draw"
    SIZE = "random_samples-n"
    SUMMARY = "random_samples-summary"
    ORDER = "random_samples-order"
    CARDS = "random_samples-cards"


@dataclass(frozen=True)
class RandomView(View, prefix="rnd"):
    seed: int = view_field(0, low=0, high=MAX_SEED)
    n: int = view_field(DEFAULT_SIZE, low=1, high=MAX_SIZE)  # examples drawn
    order: str = view_field(DRAWN, choices=(DRAWN, *ORDERS), format=lambda value: None if value == DRAWN else value)


def draw_view(cache, *, seed: int, size: int, order: str = DRAWN) -> tuple[list, str]:
    """(cards, summary) of the draw made with ``seed``, sorted by ``order``."""
    every = per_cache(
        cache, "example-ids", lambda: cache.table("examples", columns=["example_id"])["example_id"].to_numpy()
    )
    ids = random_draw(every, seed=seed, size=size)
    summary = f"{len(ids)} of {len(every):,} examples, seed {seed}"
    return example_cards(cache, ids, section_key=SECTION.key, order=None if order == DRAWN else order), summary


def layout(cache, state):
    view = RandomView.from_query(state)
    cards, summary = draw_view(cache, seed=view.seed, size=view.n, order=view.order)
    controls = html.Div(
        [
            dbc.Button("New draw", id=Ids.DRAW, color="primary", size="sm", className="me-3"),
            dbc.InputGroup(
                [
                    dbc.InputGroupText("examples"),
                    dbc.Input(id=Ids.SIZE, type="number", min=1, max=MAX_SIZE, step=1, value=view.n, debounce=True),
                ],
                size="sm",
                className="me-3",
                style={"width": "170px"},
            ),
            dbc.Select(
                id=Ids.ORDER,
                options=[{"label": "sorted by example id", "value": DRAWN}]
                + [{"label": f"sorted by {label}", "value": value} for value, label in ORDER_LABELS.items()],
                value=view.order,
                size="sm",
                className="me-3",
                style={"width": "auto"},
            ),
            html.Span(summary, id=Ids.SUMMARY, className="text-muted small"),
        ],
        className="d-flex align-items-center flex-wrap gap-1 mb-2",
    )
    return html.Div(
        [
            html.P(
                "A random draw, for an unbiased look at the data; the seed is in the URL, so the link shows the "
                "same draw. Greyed subwords are IGN (no label, not scored).",
                className="text-muted small",
            ),
            controls,
            # A spinner when a page takes over 300 ms to come (a cold read, a loaded server).
            dcc.Loading(html.Div(cards, id=Ids.CARDS), delay_show=300),
        ]
    )


def update_view(context, size, search, *, new_draw: bool, seed: int | None = None, order: str | None = None):
    """Callback body: a new draw (fresh seed unless one is given), a new size or order; writes them to the URL."""
    current = RandomView.from_query(parse_query(search))
    drawn_seed = (secrets.randbelow(MAX_SEED) if seed is None else seed) if new_draw else current.seed
    view = RandomView(
        seed=drawn_seed, n=int(size) if isinstance(size, (int, float)) else current.n, order=order or current.order
    )
    if not new_draw and view == current:  # the inputs echoing the URL (e.g. on mount)
        return no_update, no_update, no_update
    try:
        cards, summary = draw_view(context.cache(search), seed=view.seed, size=view.n, order=view.order)
    except ExplainerError as error:
        return dbc.Alert(str(error), color="danger"), "", no_update
    return cards, summary, update_query(search, **view.to_query())


def register(app, context):
    @app.callback(
        Output(Ids.CARDS, "children"),
        Output(Ids.SUMMARY, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.DRAW, "n_clicks"),
        Input(Ids.SIZE, "value"),
        Input(Ids.ORDER, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_controls(_clicks, size, order, search):
        # Dash also calls this when the controls mount, listing every input: that is no new draw.
        new_draw = clicked(dash.ctx.triggered) == Ids.DRAW
        return update_view(context, size, search, new_draw=new_draw, order=order)

    register_open_buttons(app, SECTION.key)


SECTION = Section(
    key="random_samples",
    label="Random samples",
    group=EXAMPLES,
    order=20,
    layout=layout,
    register=register,
    ids=Ids,
    view=RandomView,
)
