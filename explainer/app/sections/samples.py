"""Samples by loss: the hardest examples first, ten per page, as aligned word/gold/predicted/loss rows.

The order (total loss descending; entity F1, label quality or confidence ascending) and the page live
in the URL (``smp_order``, ``smp_page``); each card shows those scores, and has a button that opens
the inspector (``sample=ID``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.examples import ORDERS, example_confidence, order_examples
from explainer.analysis.gridquery import page_of
from explainer.analysis.label_quality import read_label_quality
from explainer.app.components.aligned import example_cards, page_bar, register_open_buttons
from explainer.app.memo import per_cache, per_cache_lru
from explainer.app.sections.base import EXAMPLES, Section, StrEnum, View, view_field
from explainer.app.state import parse_query, update_query
from explainer.errors import ExplainerError

PER_PAGE = 10
# Rendered pages kept per cache (~2.5 MB each): the tab opens on page 1 of an order, the same thousands of cells.
RENDERED_PAGES = 4
ORDER_LABELS = {
    "loss": "total loss, highest first",
    "f1": "entity F1, lowest first (review hardest)",
    "label_quality": "label quality, lowest first (likely mislabelled)",
    "confidence": "confidence, lowest first",
}
ORDER_OPTIONS = [{"label": label, "value": value} for value, label in ORDER_LABELS.items()]
NO_LABEL_QUALITY = "this cache has no label-quality scores (explainer build --label-quality self_confidence)"


def order_options(cache) -> list[dict]:
    """The orders; label quality disabled, with the build option that adds it, on a cache without scores."""
    if read_label_quality(cache) is not None:
        return ORDER_OPTIONS
    return [
        {**option, "disabled": True, "label": f"{option['label']} ({NO_LABEL_QUALITY})"}
        if option["value"] == "label_quality"
        else option
        for option in ORDER_OPTIONS
    ]


class Ids(StrEnum):
    ORDER = "samples-order"
    PAGE = "samples-page"
    SUMMARY = "samples-summary"
    CARDS = "samples-cards"


@dataclass(frozen=True)
class SamplesView(View, prefix="smp"):
    order: str = view_field("loss", choices=ORDERS)
    page: int = view_field(1, low=1)


def ordered_ids(cache, order: str):
    """Example ids in ``order``, sorted once per cache."""
    return per_cache(
        cache, f"samples-order-{order}", lambda: order_examples(scored_examples(cache, order), order=order)
    )


def scored_examples(cache, order: str):
    """The examples' ``example_id``, ``total_loss``, ``f1`` and the score ``order`` sorts by (NaN where the
    cache has none: the order is then by total loss)."""
    frame = cache.table("examples", columns=["example_id", "total_loss", "f1"])
    if order == "label_quality":
        scores = read_label_quality(cache)
        found = None if scores is None else scores.examples[["example_id", "label_quality"]]
        frame = frame.assign(label_quality=float("nan")) if found is None else frame.merge(found, how="left")
    elif order == "confidence":
        frame = frame.merge(example_confidence(cache.table("words", columns=["example_id", "prob_pred"])), how="left")
    return frame


def page_view(cache, *, order: str, page: int) -> tuple[list, int, int, str]:
    """(cards, page, n_pages, summary) of one page; ``page`` is clamped into range."""
    ids = ordered_ids(cache, order)
    chosen, page, n_pages = page_of(ids, page=page, per_page=PER_PAGE)
    first = (page - 1) * PER_PAGE
    summary = f"examples {first + 1}–{first + len(chosen)} of {len(ids):,}" if len(chosen) else "no examples"
    if order == "label_quality" and read_label_quality(cache) is None:
        summary += f"; {NO_LABEL_QUALITY}, so they are by total loss"
    cards = per_cache_lru(
        cache,
        "samples-rendered",
        (order, page),
        lambda: example_cards(cache, chosen, section_key=SECTION.key),
        maxsize=RENDERED_PAGES,
    )
    return cards, page, n_pages, summary


def layout(cache, state):
    view = SamplesView.from_query(state)
    cards, page, n_pages, summary = page_view(cache, order=view.order, page=view.page)
    controls = html.Div(
        [
            dbc.RadioItems(id=Ids.ORDER, options=order_options(cache), value=view.order, inline=True, className="me-4"),
            page_bar(Ids.PAGE, n_pages=n_pages, page=page, class_name="mb-0 me-3"),
            html.Span(summary, id=Ids.SUMMARY, className="text-muted small"),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )
    return html.Div(
        [
            html.P(
                "Examples ordered by how badly the model does on them, or by how doubtful their labels (label "
                "quality) or the model (confidence: its least certain word's probability of the predicted label) "
                "are. Greyed subwords are IGN (no label, not scored); red cells are words whose predicted label "
                "differs from gold; scores below 0.5 are in red.",
                className="text-muted small",
            ),
            controls,
            # A spinner when a page takes over 300 ms to come (a cold read, a loaded server).
            dcc.Loading(html.Div(cards, id=Ids.CARDS), delay_show=300),
        ]
    )


def update_view(context, order, page, search, *, trigger):
    """Callback body: re-render the page for new controls and write them to the URL.

    A new order starts again at page 1.
    """
    view = SamplesView(order=order, page=1 if trigger == Ids.ORDER else (page or 1))
    if view == SamplesView.from_query(parse_query(search)):  # a control echoing the URL (e.g. on mount)
        return (no_update,) * 5
    try:
        cards, page, n_pages, summary = page_view(context.cache(search), order=view.order, page=view.page)
    except ExplainerError as error:
        return dbc.Alert(str(error), color="danger"), no_update, no_update, "", no_update
    return cards, page, n_pages, summary, update_query(search, **replace(view, page=page).to_query())


def register(app, context):
    @app.callback(
        Output(Ids.CARDS, "children"),
        Output(Ids.PAGE, "active_page"),
        Output(Ids.PAGE, "max_value"),
        Output(Ids.SUMMARY, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.ORDER, "value"),
        Input(Ids.PAGE, "active_page"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_controls(order, page, search):
        # Dash also calls this when the controls mount, listing every input: that is no user action.
        trigger = dash.ctx.triggered_id if len(dash.ctx.triggered) == 1 else None
        return update_view(context, order, page, search, trigger=trigger)

    register_open_buttons(app, SECTION.key)


SECTION = Section(
    key="samples",
    label="Samples by loss",
    group=EXAMPLES,
    order=10,
    layout=layout,
    register=register,
    ids=Ids,
    view=SamplesView,
)
