"""Slices: entity F1 per bucket of each attribute with 95% intervals, and the weak slices found by the build.

One chart per attribute (explainer/analysis/slice_attributes.py), for all types or one (``sl_type``).
Clicking a bar selects its bucket (``sl_slice``, ``attribute=bucket;...`` as the build encodes slices):
the panel below says it in words, links to its span errors in Misclassified and shows its first examples
with errors, each one click from the inspector. The weak slices are listed in words, each a link to its
errors. Everything is the build step ``slices``'s (explainer/pipeline/slices.py); the section only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis.slice_attributes import ATTRIBUTES, describe_slice
from explainer.analysis.slices import Condition, decode_conditions, encode_conditions, slice_mask
from explainer.app.components.aligned import example_cards, register_open_buttons
from explainer.app.components.clicks import fired
from explainer.app.memo import per_cache
from explainer.app.sections import misclassified
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View, view_field
from explainer.app.state import build_query, update_query
from explainer.cache.artefacts import Missing
from explainer.figures.slices import bucket_figure

CHART_TYPE = "slices-chart"  # pattern-matching id type of the charts: {"type", "attribute"}
MAX_CARDS = 10  # examples shown for a selected slice
MAX_WEAK = 15  # weak slices listed


class Ids(StrEnum):
    TYPE = "slices-type"
    CHARTS = "slices-charts"
    DETAIL = "slices-detail"
    WEAK = "slices-weak"


@dataclass(frozen=True)
class SlicesView(View, prefix="sl"):
    type: str = view_field("")  # the charts' entity type; "" for all
    slice: str = view_field("")  # the selected slice, "attribute=bucket;...", "" for none


def chart_id(attribute: str) -> dict[str, str]:
    return {"type": CHART_TYPE, "attribute": attribute}


def condition_text(conditions: list[Condition]) -> str:
    """A slice's conditions in words, the type (a ``type=`` condition) put first."""
    types = [condition.bucket for condition in conditions if condition.attribute == "type"]
    rest = [condition for condition in conditions if condition.attribute != "type"]
    return describe_slice(rest, types[0] if types else "")


def weak_conditions(conditions: str, entity_type: str) -> str:
    """A weak slice's conditions with its type as a ``type=`` condition (how links carry it)."""
    parts = decode_conditions(conditions)
    return encode_conditions(parts + ([Condition("type", entity_type)] if entity_type else []))


def charts(cache: Any, results: Any, entity_type: str) -> list[Any]:
    """One chart per attribute for ``entity_type`` ("" = all types), built once per cache and type."""

    def build() -> list[tuple[str, dict[str, Any]]]:
        rows = results.buckets[results.buckets["type"] == entity_type]
        figures = []
        for attribute in results.attributes:
            if attribute == "type" and entity_type:
                continue
            chosen = rows[rows["attribute"] == attribute]
            if chosen.empty:
                continue
            spec = ATTRIBUTES.get(attribute)
            title = spec.title if spec is not None else attribute
            figure = bucket_figure(chosen, attribute=attribute, title=title, overall_f1=results.overall_f1)
            figures.append((attribute, figure.to_plotly_json()))
        return figures

    built = per_cache(cache, f"slices-charts-{entity_type}", build)
    return [
        dbc.Col(
            dcc.Graph(id=chart_id(attribute), figure=figure, config={"displaylogo": False}),
            md=6,
            xl=4,
        )
        for attribute, figure in built
    ]


def weak_list(results: Any, search: str) -> Any:
    """The weak slices in words, each a link to its span errors in Misclassified."""
    if results.weak.empty:
        return html.P(
            f"No weak slice: no group of at least {results.summary.get('min_support')} spans has its whole 95% "
            f"interval below the overall F1 {results.overall_f1:.2f}.",
            className="text-muted small",
        )
    items = []
    for row in results.weak.head(MAX_WEAK).itertuples(index=False):
        conditions = weak_conditions(str(row.conditions), str(row.type))
        text = (
            f"{describe_slice(decode_conditions(str(row.conditions)), str(row.type))}: F1 {row.f1:.2f} "
            f"[{row.f1_low:.2f}, {row.f1_high:.2f}] vs {results.overall_f1:.2f} overall, {int(row.support):,} spans"
        )
        items.append(
            html.Li(
                [
                    dcc.Link(text, href=misclassified.SECTION.link(search, level="span", slice_conditions=conditions)),
                    " · ",
                    dcc.Link("examples", href=SECTION.link(search, slice=conditions), className="small"),
                ]
            )
        )
    return html.Ol(items, className="small")


def detail(cache: Any, results: Any, conditions: str, search: str) -> list[Any]:
    """The selected slice: in words, its scores, a link to its errors and its first examples with errors."""
    parsed = decode_conditions(conditions)
    if not parsed:
        return [html.P("Click a bar to see its bucket's errors and examples.", className="text-muted small")]
    mask = slice_mask(results.spans, parsed)
    members = results.spans[mask]
    if members.empty:
        return [dbc.Alert(f"No span in the slice {conditions!r} of this cache.", color="secondary")]
    n_gold = int((members["side"] == "gold").sum())
    n_pred = int((members["side"] == "pred").sum())
    tp_gold = int(members.loc[members["side"] == "gold", "matched"].sum())
    tp_pred = int(members.loc[members["side"] == "pred", "matched"].sum())
    precision = tp_pred / n_pred if n_pred else 0.0
    recall = tp_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    with_errors = members.loc[~members["matched"].astype(bool), "example_id"].drop_duplicates()
    shown = [int(example_id) for example_id in with_errors.head(MAX_CARDS)]
    link = misclassified.SECTION.link(search, level="span", slice_conditions=conditions)
    return [
        html.H5(condition_text(parsed), className="mt-3"),
        html.P(
            f"F1 {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}) on {n_gold:,} gold and {n_pred:,} "
            f"predicted spans; {with_errors.size:,} examples hold one of its errors.",
            className="small",
        ),
        dcc.Link("List its span errors in Misclassified", href=link, className="btn btn-sm btn-outline-primary mb-2"),
        html.P(
            f"The first {len(shown)} examples with an error of the slice; Inspect opens one in the inspector.",
            className="text-muted small",
        ),
        *(example_cards(cache, shown, section_key=SECTION.key) if shown else []),
    ]


def intro(results: Any) -> Any:
    reference = results.reference
    told = (
        f"Reference training set: {reference}."
        if reference
        else "No reference training set: rebuild with --train-dataset SPEC to add whether each entity was seen "
        "in training, how often and with which type."
    )
    return html.P(
        [
            f"Entity F1 per bucket of each attribute, with 95% bootstrap intervals (examples resampled "
            f"{results.summary.get('draws', 1000):,} times); the dashed line is the overall F1 "
            f"{results.overall_f1:.3f}. A red bar's whole interval is below it. ",
            told,
        ],
        className="text-muted small",
    )


def layout(cache: Any, state: dict[str, str]) -> Any:
    results = cache.slices()
    if isinstance(results, Missing):
        return html.Div(dbc.Alert(results.reason, color="secondary"))
    view = SlicesView.from_query(state)
    search = build_query(state)
    types = sorted(str(kind) for kind in results.buckets["type"].unique() if kind)
    entity_type = view.type if view.type in types else ""
    return html.Div(
        [
            intro(results),
            html.H5("Weak slices"),
            html.Div(weak_list(results, search), id=Ids.WEAK),
            html.Div(
                [
                    html.Span("Entity type", className="me-2 small"),
                    dcc.Dropdown(
                        id=Ids.TYPE,
                        options=[{"label": "all types", "value": ""}] + [{"label": t, "value": t} for t in types],
                        value=entity_type,
                        clearable=False,
                        style={"minWidth": "180px"},
                    ),
                ],
                className="d-flex align-items-center mt-3 mb-2",
            ),
            html.Div(detail(cache, results, view.slice, search), id=Ids.DETAIL),
            dbc.Row(charts(cache, results, entity_type), id=Ids.CHARTS),
        ]
    )


def clicked_bucket(triggered: list[dict[str, Any]] | None) -> tuple[str, str] | None:
    """(attribute, bucket) of the bar clicked, or None (Dash also fires ALL callbacks on mount, empty)."""
    click = fired(triggered, prop="clickData", type=CHART_TYPE)
    if click is None:
        return None
    try:
        attribute, bucket = click.value["points"][0]["customdata"][:2]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return str(attribute), str(bucket)


def bucket_clicked(context: Any, triggered: list[dict[str, Any]] | None, search: str | None) -> tuple[Any, Any]:
    """Callback body: a bar -> (the detail of its bucket, for the charts' type, and the URL naming it)."""
    chosen = clicked_bucket(triggered)
    if chosen is None:
        return no_update, no_update
    cache = context.cache(search)
    results = cache.slices()
    if isinstance(results, Missing):
        return no_update, no_update
    from explainer.app.state import parse_query

    view = SlicesView.from_query(parse_query(search))
    conditions = [Condition(*chosen)] + ([Condition("type", view.type)] if view.type and chosen[0] != "type" else [])
    encoded = encode_conditions(conditions)
    new_search = update_query(search, **SlicesView(type=view.type, slice=encoded).to_query())
    return detail(cache, results, encoded, new_search), new_search


def type_changed(context: Any, entity_type: str | None, search: str | None) -> tuple[Any, Any]:
    """Callback body: the type dropdown -> (the charts of that type, the URL)."""
    cache = context.cache(search)
    results = cache.slices()
    if isinstance(results, Missing):
        return no_update, no_update
    return charts(cache, results, entity_type or ""), update_query(search, sl_type=entity_type or None)


def register(app: Any, context: Any) -> None:
    @app.callback(
        Output(Ids.DETAIL, "children"),
        Output("url", "search", allow_duplicate=True),
        Input({"type": CHART_TYPE, "attribute": ALL}, "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_bucket(_clicks: Any, search: str | None) -> tuple[Any, Any]:
        return bucket_clicked(context, dash.ctx.triggered, search)

    @app.callback(
        Output(Ids.CHARTS, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.TYPE, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_type(entity_type: str | None, search: str | None) -> tuple[Any, Any]:
        return type_changed(context, entity_type, search)

    register_open_buttons(app, SECTION.key)


SECTION = Section(
    key="slices",
    label="Slices",
    group=PERFORMANCE,
    order=40,
    layout=layout,
    register=register,
    ids=Ids,
    view=SlicesView,
)
