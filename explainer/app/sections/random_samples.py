"""Random samples: a seeded random draw of examples, as aligned rows; the seed lives in the URL.

``rnd_seed`` (default 0) and ``rnd_n`` (default 10) make the draw, so a shared link shows the same
examples; "New draw" picks a fresh seed and writes it to the URL.
"""

from __future__ import annotations

import secrets

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html, no_update

from explainer.analysis.examples import random_draw
from explainer.app.components.aligned import example_cards, register_open_buttons
from explainer.app.memo import per_cache
from explainer.app.sections.base import Section
from explainer.app.state import int_param, parse_query, update_query
from explainer.errors import ExplainerError

DEFAULT_SIZE = 10
MAX_SIZE = 50
MAX_SEED = 2**31 - 1


def view_state(state: dict) -> tuple[int, int]:
    """(seed, size) from the URL: seed 0 and 10 examples unless it says otherwise (size capped at 50)."""
    seed = int_param(state, SECTION.param("seed"), 0)
    size = int_param(state, SECTION.param("n"), DEFAULT_SIZE)
    return min(max(seed, 0), MAX_SEED), min(max(size, 1), MAX_SIZE)


def draw_view(cache, *, seed: int, size: int) -> tuple[list, str]:
    """(cards, summary) of the draw made with ``seed``."""
    every = per_cache(
        cache, "example-ids", lambda: cache.table("examples", columns=["example_id"])["example_id"].to_numpy()
    )
    ids = random_draw(every, seed=seed, size=size)
    summary = f"{len(ids)} of {len(every):,} examples, seed {seed}"
    return example_cards(cache, ids, section_key=SECTION.key), summary


def layout(cache, state):
    seed, size = view_state(state)
    cards, summary = draw_view(cache, seed=seed, size=size)
    controls = html.Div(
        [
            dbc.Button("New draw", id=SECTION.id("draw"), color="primary", size="sm", className="me-3"),
            dbc.InputGroup(
                [
                    dbc.InputGroupText("examples"),
                    dbc.Input(
                        id=SECTION.id("n"), type="number", min=1, max=MAX_SIZE, step=1, value=size, debounce=True
                    ),
                ],
                size="sm",
                className="me-3",
                style={"width": "170px"},
            ),
            html.Span(summary, id=SECTION.id("summary"), className="text-muted small"),
        ],
        className="d-flex align-items-center mb-2",
    )
    return html.Div(
        [
            html.P(
                "A random draw, for an unbiased look at the data; the seed is in the URL, so the link shows the "
                "same draw. Greyed subwords are IGN (no label, not scored).",
                className="text-muted small",
            ),
            controls,
            html.Div(cards, id=SECTION.id("cards")),
        ]
    )


def update_view(context, size, search, *, new_draw: bool, seed: int | None = None):
    """Callback body: a new draw (fresh seed unless one is given) or a new size; writes both to the URL."""
    current_seed, current_size = view_state(parse_query(search))
    if new_draw:
        seed = secrets.randbelow(MAX_SEED) if seed is None else seed
    else:
        seed = current_seed
    size = min(max(int(size), 1), MAX_SIZE) if isinstance(size, (int, float)) else current_size
    if not new_draw and size == current_size:  # the input echoing the URL (e.g. on mount)
        return no_update, no_update, no_update
    try:
        cards, summary = draw_view(context.cache(search), seed=seed, size=size)
    except ExplainerError as error:
        return dbc.Alert(str(error), color="danger"), "", no_update
    return cards, summary, update_query(search, **{SECTION.param("seed"): seed, SECTION.param("n"): size})


def register(app, context):
    @app.callback(
        Output(SECTION.id("cards"), "children"),
        Output(SECTION.id("summary"), "children"),
        Output("url", "search", allow_duplicate=True),
        Input(SECTION.id("draw"), "n_clicks"),
        Input(SECTION.id("n"), "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_controls(_clicks, size, search):
        # Dash also calls this when the controls mount, listing every input: that is no new draw.
        single = len(dash.ctx.triggered) == 1
        return update_view(context, size, search, new_draw=single and dash.ctx.triggered_id == SECTION.id("draw"))

    register_open_buttons(app, SECTION.key)


SECTION = Section(key="random_samples", label="Random samples", layout=layout, register=register, param_prefix="rnd")
