"""Compare: the model of the ``vs`` cache (B) against this cache's (A), on the same data.

Per type and overall, P/R/F1 of both, B − A with a paired bootstrap 95% interval and p-value; how every
span's outcome changed (fixed, broken, still wrong, both right), each count a button listing its
examples; the examples ranked by changed spans or loss change, each opening the inspector, which then
shows A's and B's predictions over the gold. The selection is in the URL (``cmp_transition``,
``cmp_type``, ``cmp_order``, ``cmp_page``), so a link reproduces it. Caches of other data are refused
with what differs (explainer/analysis/compare.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis.compare import ORDERS, OVERALL, TRANSITIONS, Comparison, checkpoint_order, trajectory
from explainer.app import pairs
from explainer.app.components.aligned import open_button_id, page_bar, register_open_buttons
from explainer.app.components.clicks import clicked
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View, view_field
from explainer.app.sections.metrics import confusion_cell_link
from explainer.app.state import build_query, parse_query, update_query
from explainer.cache.artefacts import Missing
from explainer.figures.compare import confusion_difference_figure, trajectory_figure
from explainer.figures.metrics import confusion_figure

PAGE_SIZE = 20
COUNT_TYPE = "compare-count"  # pattern-matching id of a transition count: {"type", "transition", "etype"}
TRANSITION_CLASSES = {name: name.replace(" (", "-").replace(")", "").replace(" ", "-") for name in TRANSITIONS}
ORDER_LABELS = {"changed": "most changed spans", "loss": "largest loss change"}


class Ids(StrEnum):
    SUMMARY = "compare-summary"
    TRAJECTORY = "compare-trajectory"
    TRAJECTORY_FIGURE = "compare-trajectory-figure"
    SCORES = "compare-scores"
    TRANSITIONS = "compare-transitions"
    ORDER = "compare-order"
    PAGER = "compare-pager"
    EXAMPLES = "compare-examples"
    CONFUSION_A = "compare-confusion-a"
    CONFUSION_B = "compare-confusion-b"
    CONFUSION_DIFFERENCE = "compare-confusion-difference"
    SLICES = "compare-slices"
    SLICES_LOAD = "compare-slices-load"  # appears with the page: fills the slices after the first view


@dataclass(frozen=True)
class CompareView(View, prefix="cmp"):
    transition: str = view_field("", choices=("", *TRANSITIONS))  # "" for any
    type: str = ""  # an entity type, "" for any
    order: str = view_field("changed", choices=ORDERS)
    page: int = view_field(1, low=1)


def count_id(transition: str, entity_type: str) -> dict[str, str]:
    return {"type": COUNT_TYPE, "transition": transition, "etype": entity_type}


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def scores_table(comparison: Comparison) -> dbc.Table:
    """P/R/F1 of A and B per type and overall, F1 B − A with its interval and p-value."""
    headers = ("type", "support", "P A", "P B", "R A", "R B", "F1 A", "F1 B", "F1 B − A", "95% interval", "p")
    rows = []
    for row in comparison.scores.itertuples(index=False):
        significant = row.f1_low > 0 or row.f1_high < 0
        colour = "text-success" if significant and row.f1_diff > 0 else "text-danger" if significant else None
        rows.append(
            html.Tr(
                [
                    html.Td(html.Strong(row.type) if row.type == OVERALL else row.type),
                    html.Td(f"{row.support:,}"),
                    *[html.Td(f"{value:.3f}") for value in (row.precision_a, row.precision_b)],
                    *[html.Td(f"{value:.3f}") for value in (row.recall_a, row.recall_b)],
                    *[html.Td(f"{value:.3f}") for value in (row.f1_a, row.f1_b)],
                    html.Td(_signed(row.f1_diff), className=colour),
                    html.Td(f"[{_signed(row.f1_low)}, {_signed(row.f1_high)}]", className=colour),
                    html.Td(f"{row.f1_p:.3f}"),
                ]
            )
        )
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)],
        size="sm",
        hover=True,
        id=Ids.SCORES,
    )


def transitions_table(comparison: Comparison, view: CompareView) -> dbc.Table:
    """Spans per type and transition; every non-zero count is a button listing its examples."""
    headers = ("type", *TRANSITIONS, "gold spans", "spurious spans")
    rows = []
    for record in comparison.counts.to_dict(orient="records"):
        entity_type = str(record["type"])
        cells: list[Any] = [html.Td(entity_type)]
        for transition in TRANSITIONS:
            count = int(record[transition])
            selected = view.transition == transition and (view.type or OVERALL) == entity_type
            cells.append(
                html.Td(
                    dbc.Button(
                        f"{count:,}",
                        id=count_id(transition, entity_type),
                        color="primary" if selected else "link",
                        size="sm",
                        className=f"p-0 px-1 compare-count compare-count-{TRANSITION_CLASSES[transition]}",
                    )
                    if count
                    else "0"
                )
            )
        cells += [html.Td(f"{int(record['gold spans']):,}"), html.Td(f"{int(record['spurious spans']):,}")]
        rows.append(html.Tr(cells))
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)],
        size="sm",
        id=Ids.TRANSITIONS,
    )


def examples_view(context: Any, a: Any, b: Any, view: CompareView) -> list[Any]:
    """The page of ranked examples for the view's selection: a pager, then one row per example."""
    ranked = pairs.ranking(a, b, transition=view.transition or None, entity_type=view.type or None, order=view.order)
    selection = " · ".join(part for part in (view.transition, view.type) if part) or "all examples"
    n_pages = max(1, math.ceil(len(ranked) / PAGE_SIZE))
    page = min(view.page, n_pages)
    shown = ranked.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    header = html.Thead(
        html.Tr([html.Th(h) for h in ("", "example", "changed", "fixed", "broken", "F1 A → B", "loss B − A", "text")])
    )
    rows = [
        html.Tr(
            [
                html.Td(
                    dbc.Button(
                        "Inspect", id=open_button_id(SECTION.key, int(row.example_id)), size="sm", color="secondary"
                    )
                ),
                html.Td(int(row.example_id)),
                html.Td(int(row.n_changed)),
                html.Td(int(row.n_fixed)),
                html.Td(int(row.n_broken)),
                html.Td(f"{row.f1_a:.2f} → {row.f1_b:.2f}"),
                html.Td(_signed(row.loss_change)),
                html.Td(row.text if len(row.text) <= 120 else row.text[:119] + "…"),
            ]
        )
        for row in shown.itertuples(index=False)
    ]
    return [
        html.Div(
            [
                html.Span(f"{len(ranked):,} examples ({selection}), by {ORDER_LABELS[view.order]}", className="me-3"),
                page_bar(Ids.PAGER, n_pages=n_pages, page=page),
            ],
            className="d-flex align-items-center mb-2",
        ),
        dbc.Table([header, html.Tbody(rows)], size="sm", hover=True)
        if rows
        else dbc.Alert("No example has a span of this kind.", color="secondary"),
    ]


def confusion_figures(a: Any, b: Any) -> dict[str, dict]:
    """A's, B's and the B − A entity confusion figures as plain dicts, on one label order, once per pair."""

    def build() -> dict[str, dict]:
        found = pairs.confusions(a, b)
        labels = found["labels"]
        figures = {
            side: confusion_figure(
                np.asarray(found[side], dtype=float),
                labels,
                normalised=False,
                counts=np.asarray(found[side]),
                unit="spans",
            ).to_plotly_json()
            for side in ("a", "b")
        }
        figures["difference"] = confusion_difference_figure(found).to_plotly_json()
        return figures

    return pairs.pair_value(a, b, "confusion-figures", build)


def confusion_block(a: Any, b: Any) -> html.Div:
    """The entity confusion of A and of B, and B − A; a click on a cell opens its spans in Misclassified."""
    figures = confusion_figures(a, b)
    graphs = [
        ("A", Ids.CONFUSION_A, figures["a"]),
        ("B", Ids.CONFUSION_B, figures["b"]),
        ("B − A", Ids.CONFUSION_DIFFERENCE, figures["difference"]),
    ]
    return html.Div(
        [
            html.H5("Entity confusion of A and B, and B − A", className="mt-4"),
            html.P(
                "Gold type (rows) by predicted type (columns) over the matched spans; the none column holds the "
                "missed gold spans, the none row the spurious predictions. In B − A, red is an error B makes more "
                "often, blue less (the diagonal, the right type, keeps its number uncoloured). Click a cell to "
                "open its spans in Misclassified: of A or B for their own matrix; for B − A, of the model with "
                "more of them (B when B − A > 0, else A).",
                className="text-muted small",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [html.Div(html.Strong(title), className="text-center"), dcc.Graph(id=ident, figure=figure)],
                        lg=4,
                    )
                    for title, ident, figure in graphs
                ]
            ),
        ]
    )


def confusion_cell_target(state: dict[str, str], a: Any, b: Any, which: str, gold: str, pred: str) -> str:
    """The URL of Misclassified showing one confusion cell's spans, of A or of B (then B is the page's
    cache and A its ``vs``): of the matrix clicked, or for B − A of the side with more of them."""
    search = build_query(state)
    side = which
    if which == Ids.CONFUSION_DIFFERENCE:
        found = pairs.confusions(a, b)
        labels = found["labels"]
        difference = found["difference"][labels.index(gold)][labels.index(pred)]
        side = Ids.CONFUSION_B if difference > 0 else Ids.CONFUSION_A
    if side == Ids.CONFUSION_B:
        search = update_query(search, cache=b.path.name, vs=a.path.name)
    return confusion_cell_link(search, "entity", gold, pred)


def confusion_clicked(context: Any, which: str, click: Any, search: str | None) -> Any:
    """Callback body: a click on a cell of one of the three confusions -> the URL of its spans."""
    if not click or not click.get("points"):
        return no_update
    state = parse_query(search)
    key = pairs.vs_key(state)
    if key is None:
        return no_update
    point = click["points"][0]  # heatmap clicks carry x/y but not customdata
    a, b = context.cache(state), context.registry.get(key)
    return confusion_cell_target(state, a, b, which, str(point["y"]), str(point["x"]))


def slices_placeholder() -> html.Div:
    """Where the slices of both go: filled by a callback once the page is shown, as their paired
    bootstrap takes ~1.5 s of CPU on CoNLL-2003 train (then kept per pair)."""
    return html.Div(
        [
            dcc.Store(id=Ids.SLICES_LOAD, data=True),
            html.Div(
                [
                    html.H5("Slices, B − A per bucket", className="mt-4"),
                    dcc.Loading(html.P("Scoring both models per slice bucket…", className="text-muted small")),
                ],
                id=Ids.SLICES,
            ),
        ]
    )


def slices_shown(context: Any, search: str | None) -> Any:
    """Callback body: the page shown -> its slices block (B − A per bucket)."""
    state = parse_query(search)
    key = pairs.vs_key(state)
    if key is None:
        return no_update
    return slices_block(context.cache(state), context.registry.get(key))


def slices_block(a: Any, b: Any) -> list[Any]:
    """F1 of A and B per bucket of every slice attribute, B − A with its paired interval; or the one line
    saying which cache has no slices and how to build them."""
    found = pairs.slices(a, b)
    if isinstance(found, Missing):
        return [html.H5("Slices, B − A per bucket", className="mt-4"), html.P(found.reason)]
    headers = ("attribute", "bucket", "spans A", "spans B", "F1 A", "F1 B", "F1 B − A", "95% interval")
    rows = []
    previous = None
    for row in found.table.itertuples(index=False):
        significant = row.f1_low > 0 or row.f1_high < 0
        colour = "text-success" if significant and row.f1_diff > 0 else "text-danger" if significant else None
        rows.append(
            html.Tr(
                [
                    html.Td(row.attribute if row.attribute != previous else ""),
                    html.Td(row.bucket),
                    html.Td(f"{int(row.support_a):,}"),
                    html.Td(f"{int(row.support_b):,}"),
                    html.Td(f"{row.f1_a:.3f}"),
                    html.Td(f"{row.f1_b:.3f}"),
                    html.Td(_signed(row.f1_diff), className=colour),
                    html.Td(f"[{_signed(row.f1_low)}, {_signed(row.f1_high)}]", className=colour),
                ]
            )
        )
        previous = row.attribute
    return [
        html.H5("Slices, B − A per bucket", className="mt-4"),
        html.P(
            "Entity F1 over every type of the spans in each bucket of each attribute (as Slices scores them), "
            f"for A and B; the interval is a paired bootstrap over examples ({pairs.RESAMPLES} draws, seed "
            f"{pairs.SEED}, the same draws for both), coloured when it excludes 0. Spans of a bucket are "
            "gold and predicted ones, so a bucket of predicted spans can hold different spans for A and B.",
            className="text-muted small",
        ),
        html.P(
            f"Not compared: {', '.join(found.not_compared)} (buckets cut at quantiles of each cache's own spans, "
            "which differ between A and B, so a bucket would hold other spans).",
            className="text-muted small",
        )
        if found.not_compared
        else None,
        dbc.Table([html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)], size="sm", hover=True),
    ]


def trajectory_block(context: Any, cache: Any, state: dict[str, str]) -> html.Div | None:
    """F1 per type of every cache of this data, in training order (the epoch of each model's training
    record, else by name), with links making any of them A or B; None when there is no other."""
    keys = [cache.path.name, *pairs.same_data_keys(context.registry, cache)]
    if len(keys) < 2:
        return None
    caches = {key: cache if key == cache.path.name else context.registry.get(key) for key in keys}
    epochs = {key: pairs.training_epoch(one) for key, one in caches.items()}
    frame = trajectory({key: caches[key].metrics.get("seqeval", {}) for key in checkpoint_order(epochs)}, epochs=epochs)
    query = build_query(state)
    vs = pairs.vs_key(state)
    types = [column for column in frame.columns if column not in ("name", "epoch")]
    rows = []
    for record in frame.to_dict(orient="records"):
        key = str(record["name"])
        role = "A" if key == cache.path.name else "B" if key == vs else ""
        links = [
            html.A(
                "as A",
                href=SECTION.link(update_query(query, cache=key, vs=None if vs == key else vs)),
                className="me-2",
            )
            if role != "A"
            else None,
            html.A("as B", href=SECTION.link(update_query(query, vs=key))) if role == "" else None,
        ]
        rows.append(
            html.Tr(
                [html.Td(html.Strong(f"{key} ({role})") if role else key)]
                + [html.Td("" if pd.isna(record["epoch"]) else str(record["epoch"]))]
                + [html.Td(f"{record[column]:.3f}") for column in types]
                + [html.Td(links)]
            )
        )
    return html.Div(
        [
            html.H5("Every cache of this data", className="mt-4"),
            html.P(
                "Entity F1 per type and overall of each, in training order (the epoch in each model's training "
                "record, as explainer train --save-every-epoch writes it; caches without one first, by name); "
                "pick any two as A and B.",
                className="text-muted small",
            ),
            dcc.Graph(id=Ids.TRAJECTORY_FIGURE, figure=trajectory_figure(frame), config={"displaylogo": False}),
            dbc.Table(
                [html.Thead(html.Tr([html.Th(h) for h in ("cache", "epoch", *types, "")])), html.Tbody(rows)],
                size="sm",
                id=Ids.TRAJECTORY,
            ),
        ]
    )


def no_pair(context: Any, cache: Any, search_state: dict[str, str]) -> html.Div:
    """What the section says without a second cache: how to pick one, and links to caches of the same data."""
    same = pairs.same_data_keys(context.registry, cache)
    links = [
        html.Li(
            html.A(
                key,
                href=SECTION.link(update_query(build_query(search_state), vs=key)),
                id=f"compare-with-{key}",
            )
        )
        for key in same
    ]
    return html.Div(
        [
            dbc.Alert(
                "Pick a second cache of the same data in the “compare with” picker above (or run "
                "`explainer compare A B`): this cache is A, the picked one B.",
                color="secondary",
            ),
            html.Div([html.P("Caches of the same data:"), html.Ul(links)]) if links else None,
            trajectory_block(context, cache, search_state),
        ],
        id=Ids.SUMMARY,
    )


def layout(cache: Any, state: dict[str, str], context: Any) -> html.Div:
    key = pairs.vs_key(state)
    if key is None:
        return no_pair(context, cache, dict(state))
    other = context.registry.get(key)
    comparison = pairs.comparison(cache, other)  # ExplainerError (other data) -> the page's alert
    view = CompareView.from_query(state)
    overall = comparison.scores.set_index("type").loc[OVERALL]
    summary = html.Div(
        [
            html.Div(
                [
                    html.Strong("A "),
                    cache.describe(),
                    html.Span(" · ", className="mx-2"),
                    html.Strong("B "),
                    other.describe(),
                ],
                className="text-muted small",
            ),
            html.H5(
                f"Entity F1 {overall.f1_a:.3f} → {overall.f1_b:.3f}: B − A {_signed(overall.f1_diff)} "
                f"[{_signed(overall.f1_low)}, {_signed(overall.f1_high)}], p = {overall.f1_p:.3f}",
                className="mt-2",
            ),
            html.P(
                f"Paired bootstrap over examples ({comparison.resamples} resamples, seed {comparison.seed}): both "
                "models scored on the same resampled examples; an interval excluding 0 is a difference beyond "
                "the luck of which examples were drawn.",
                className="text-muted small",
            ),
        ],
        id=Ids.SUMMARY,
    )
    return html.Div(
        [
            summary,
            scores_table(comparison),
            html.H5("How each span changed from A to B", className="mt-4"),
            html.P(
                "Gold spans: fixed (A wrong, B right), broken (A right, B wrong), still wrong (the same error or "
                "another), both right. Spurious spans: fixed when only A predicts it, broken when only B does. "
                "Click a count to list its examples.",
                className="text-muted small",
            ),
            transitions_table(comparison, view),
            html.Div(
                [
                    html.H5("Examples", className="me-4 mb-0"),
                    dbc.RadioItems(
                        id=Ids.ORDER,
                        options=[{"label": label, "value": value} for value, label in ORDER_LABELS.items()],
                        value=view.order,
                        inline=True,
                    ),
                ],
                className="d-flex align-items-center mt-4 mb-2",
            ),
            html.Div(examples_view(context, cache, other, view), id=Ids.EXAMPLES),
            confusion_block(cache, other),
            slices_placeholder(),
            trajectory_block(context, cache, dict(state)),
        ]
    )


def clicked_count(triggered: list[dict[str, Any]] | None) -> tuple[str, str] | None:
    """(transition, type) of the count button really clicked, or None.

    Dash fires the callback when the buttons appear too (``n_clicks`` None), and with the section's
    other inputs then (the order's and the pager's values): only a count's ``n_clicks`` is a click.
    """
    ident = clicked(triggered, type=COUNT_TYPE)
    return (str(ident["transition"]), str(ident["etype"])) if isinstance(ident, dict) else None


def _triggered_value(triggered: list[dict[str, Any]] | None, prop_id: str) -> Any:
    return next((item.get("value") for item in triggered or [] if item.get("prop_id") == prop_id), None)


def selection_changed(context: Any, triggered: list[dict[str, Any]] | None, search: str | None) -> tuple[Any, Any, Any]:
    """Callback body: a count clicked, the order or the page changed -> (the examples, the counts table, the URL).

    A value equal to the URL's (a control echoing the view it was rendered with) changes nothing.
    """
    state = parse_query(search)
    view = CompareView.from_query(state)
    count = clicked_count(triggered)
    order = _triggered_value(triggered, f"{Ids.ORDER}.value")
    page = _triggered_value(triggered, f"{Ids.PAGER}.active_page")
    if count is not None:
        transition, entity_type = count
        view = CompareView(transition=transition, type="" if entity_type == OVERALL else entity_type, order=view.order)
    elif order in ORDERS and order != view.order:
        view = CompareView(transition=view.transition, type=view.type, order=order)
    elif page and int(page) != view.page:
        view = CompareView(transition=view.transition, type=view.type, order=view.order, page=int(page))
    else:
        return no_update, no_update, no_update
    a = context.cache(state)
    key = pairs.vs_key(state)
    if key is None:
        return no_update, no_update, no_update
    b = context.registry.get(key)
    comparison = pairs.comparison(a, b)
    url = update_query(search, **view.to_query())
    return examples_view(context, a, b, view), transitions_table(comparison, view).children, url


def register(app: Any, context: Any) -> None:
    @app.callback(
        Output(Ids.EXAMPLES, "children"),
        Output(Ids.TRANSITIONS, "children"),
        Output("url", "search", allow_duplicate=True),
        Input({"type": COUNT_TYPE, "transition": ALL, "etype": ALL}, "n_clicks"),
        Input(Ids.ORDER, "value"),
        Input(Ids.PAGER, "active_page"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_selection(_clicks: Any, _order: Any, _page: Any, search: str | None) -> tuple[Any, Any, Any]:
        return selection_changed(context, dash.ctx.triggered, search)

    @app.callback(Output(Ids.SLICES, "children"), Input(Ids.SLICES_LOAD, "data"), State("url", "search"))
    def show_slices(_appeared: Any, search: str | None) -> Any:
        return slices_shown(context, search)

    for ident in (Ids.CONFUSION_A, Ids.CONFUSION_B, Ids.CONFUSION_DIFFERENCE):
        register_confusion_click(app, context, ident)

    register_open_buttons(app, SECTION.key)


def register_confusion_click(app: Any, context: Any, ident: str) -> None:
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(ident, "clickData"),
        Input(ident, "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def confusion_cell_to_misclassified(click: Any, search: str | None) -> tuple[Any, Any]:
        url = confusion_clicked(context, ident, click, search)
        return url, (None if url is not no_update else no_update)


SECTION = Section(
    key="compare",
    label="Compare",
    group=PERFORMANCE,
    order=50,
    layout=layout,
    register=register,
    ids=Ids,
    view=CompareView,
    layout_needs_context=True,
)
