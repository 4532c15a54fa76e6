"""Slices: entity F1 per bucket of each attribute with 95% intervals, and the weak slices found by the build.

One chart per attribute (explainer/analysis/slice_attributes.py), for all types or one (``sl_type``).
Clicking a bar selects its bucket (``sl_slice``, ``attribute=bucket;...`` as the build encodes slices):
the panel below says it in words, links to its span errors in Misclassified and shows its first examples
with errors, each one click from the inspector. The weak slices are listed in words, each a link to its
errors. Everything above is the build step ``slices``'s (explainer/pipeline/slices.py); the section only reads,
and of the span table it keeps only small integer codes (``SliceResults.coded``: ~20 MB at 1M subwords where
the table is ~250 MB in pandas), read from the memory-mapped file and the map let go.

Your slices: sets of examples you named (from a lasso in Embeddings, a filter of Misclassified or Inspect,
or ids pasted here), kept beside the cache (explainer/cache/own_slices.py). Each is listed with its F1 and
95% interval beside the rest of the dataset's, on the build's bootstrap draws (explainer/analysis/
own_slices.py), and links to its errors and its examples; ``sl_own=NAME`` selects one: its chart and its
first examples with errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis import slices as slice_analysis
from explainer.analysis.own_slices import own_slice_scores, parse_example_ids
from explainer.analysis.slice_attributes import ATTRIBUTES, describe_slice
from explainer.analysis.slices import CodedSpans, Condition, decode_conditions, encode_conditions
from explainer.app.components import own_slices
from explainer.app.components.aligned import example_cards, register_open_buttons
from explainer.app.components.clicks import fired
from explainer.app.memo import per_cache, per_cache_lru
from explainer.app.sections import inspect as inspect_section
from explainer.app.sections import misclassified
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View, view_field
from explainer.app.state import build_query, update_query
from explainer.cache.artefacts import Missing
from explainer.errors import ExplainerError
from explainer.figures.slices import bucket_figure_json, own_slice_figure

CHART_TYPE = "slices-chart"  # pattern-matching id type of the charts: {"type", "attribute"}
DELETE_TYPE = "slices-own-delete"  # pattern-matching id type of your slices' delete buttons: {"type", "name"}
MAX_CARDS = 10  # examples shown for a selected slice
MAX_WEAK = 15  # weak slices listed


class Ids(StrEnum):
    TYPE = "slices-type"
    CHARTS = "slices-charts"
    DETAIL = "slices-detail"
    WEAK = "slices-weak"
    OWN = "slices-own"  # your slices: their table and the selected one's detail
    OWN_NAME = "slices-own-name"
    OWN_IDS = "slices-own-ids"
    OWN_SAVE = "slices-own-save"
    OWN_MESSAGE = "slices-own-message"
    OWN_CHART = "slices-own-chart"


@dataclass(frozen=True)
class SlicesView(View, prefix="sl"):
    type: str = view_field("")  # the charts' entity type; "" for all
    slice: str = view_field("")  # the selected slice, "attribute=bucket;...", "" for none
    own: str = view_field("")  # the selected slice of yours, by name ("" for none)


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


def bucket_groups(cache: Any, results: Any) -> dict[tuple[str, str], Any]:
    """The stored bucket scores by (type, attribute), as plain frames, once per cache (filtering the Arrow-backed
    table for every chart of every type cost more than drawing them)."""

    def group() -> dict[tuple[str, str], Any]:
        frame = results.buckets[["attribute", "bucket", "order", "type", "support", "f1", "f1_low", "f1_high"]]
        frame = pd.DataFrame({name: frame[name].to_numpy() for name in frame.columns})
        return {(str(kind), str(attribute)): rows for (kind, attribute), rows in frame.groupby(["type", "attribute"])}

    return per_cache(cache, "slices-bucket-groups", group)


def charts(cache: Any, results: Any, entity_type: str) -> list[Any]:
    """One chart per attribute for ``entity_type`` ("" = all types), built once per cache and type."""

    def build() -> list[tuple[str, dict[str, Any]]]:
        groups = bucket_groups(cache, results)
        figures = []
        for attribute in results.attributes:
            chosen = groups.get((entity_type, attribute))
            if (attribute == "type" and entity_type) or chosen is None:
                continue
            spec = ATTRIBUTES.get(attribute)
            title = spec.title if spec is not None else attribute
            figure = bucket_figure_json(chosen, attribute=attribute, title=title, overall_f1=results.overall_f1)
            figures.append((attribute, figure))
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


def coded_spans(cache: Any, results: Any) -> CodedSpans:
    """The slice spans' columns as small-integer codes, once per cache: a click's mask takes a millisecond. Read
    from the memory-mapped file and let go (``SliceResults.coded``): the span table itself is never held."""
    return per_cache(cache, "slices-coded-spans", lambda: results.coded)


def detail(cache: Any, results: Any, conditions: str, search: str) -> list[Any]:
    """The selected slice: in words, its scores, a link to its errors and its first examples with errors."""
    parsed = decode_conditions(conditions)
    if not parsed:
        return [html.P("Click a bar to see its bucket's errors and examples.", className="text-muted small")]
    spans = coded_spans(cache, results)
    mask = spans.mask(parsed)
    if not mask.any():
        return [dbc.Alert(f"No span in the slice {conditions!r} of this cache.", color="secondary")]
    counts = spans.counts(mask)
    n_gold, n_pred = int(counts[0]), int(counts[2])
    precision, recall, f1 = (float(score) for score in slice_analysis.scores(counts))
    with_errors = pd.unique(spans.example_id[mask & ~spans.matched])  # in table order, each once
    shown = [int(example_id) for example_id in with_errors[:MAX_CARDS]]
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


# --- your slices -----------------------------------------------------------------------------------------


def own_scores(cache: Any, results: Any) -> tuple[list[Any], Any, dict[str, str]]:
    """Your saved slices, their scores (``own_slice_scores``, one row each in the same order) and a note
    for each slice whose ids may not fit this cache any more; scored once per state of the slices file."""
    key, saved = own_slices.saved_state(cache)
    counts = cache.manifest.get("counts", {})
    n_examples = int(counts.get("examples", 0))
    fingerprint = (cache.manifest.get("dataset") or {}).get("fingerprint")
    notes = {}
    for item in saved:
        if item.fingerprint and fingerprint and item.fingerprint != fingerprint:
            notes[item.name] = "made on other data (the dataset changed since): its ids may name other examples"
        elif item.examples and max(item.examples) >= n_examples:
            notes[item.name] = f"ids past this cache's last example ({n_examples - 1:,}) are left out"
    if not saved:
        return [], None, notes

    def compute() -> Any:
        chosen = {item.name: [example for example in item.examples if example < n_examples] for item in saved}
        return own_slice_scores(
            coded_spans(cache, results).frame(),
            chosen,
            n_examples=n_examples,
            draws=int(results.summary.get("draws", slice_analysis.DRAWS)),
            seed=int(results.summary.get("seed", 0)),
        )

    return saved, per_cache_lru(cache, "slices-own-scores", key, compute, maxsize=4), notes


def interval_text(value: float, low: float, high: float) -> str:
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def own_table(cache: Any, results: Any, search: str, selected: str) -> list[Any]:
    """Your slices with their scores and links, and the selected one's detail."""
    saved, table, notes = own_scores(cache, results)
    if not saved:
        return [
            html.P(
                "None yet. Save one from a lasso in Embeddings or a filter of Misclassified or Inspect (their "
                "Save as slice button), or paste example ids below.",
                className="text-muted small",
            )
        ]
    header = ["slice", "examples", "made from", "F1 [95%]", "rest F1 [95%]", "difference [95%]", "spans", "", ""]
    rows = []
    for item, row in zip(saved, table.to_dict("records")):
        difference = interval_text(row["difference"], row["difference_low"], row["difference_high"])
        worse = row["difference_high"] < 0
        rows.append(
            html.Tr(
                [
                    html.Td(
                        [
                            dcc.Link(item.name, href=SECTION.link(search, own=item.name)),
                            html.Div(notes[item.name], className="text-warning") if item.name in notes else None,
                        ]
                    ),
                    html.Td(f"{int(row['examples']):,}"),
                    html.Td(item.made_from or "-"),
                    html.Td(interval_text(row["f1"], row["f1_low"], row["f1_high"])),
                    html.Td(interval_text(row["rest_f1"], row["rest_f1_low"], row["rest_f1_high"])),
                    html.Td(difference, className="text-danger" if worse else None),
                    html.Td(f"{int(row['support']):,}"),
                    html.Td(
                        [
                            dcc.Link("errors", href=misclassified.SECTION.link(search, level="span", own=item.name)),
                            " · ",
                            dcc.Link("examples", href=inspect_section.SECTION.link(search, own=item.name)),
                        ]
                    ),
                    html.Td(
                        dbc.Button(
                            "delete",
                            id={"type": DELETE_TYPE, "name": item.name},
                            size="sm",
                            color="link",
                            className="p-0 text-danger",
                        )
                    ),
                ],
                className="table-active" if item.name == selected else None,
            )
        )
    listing = html.Table(
        [html.Thead(html.Tr([html.Th(text) for text in header])), html.Tbody(rows)],
        className="table table-sm small",
    )
    return [listing, *own_detail(cache, results, table, saved, selected, search)]


def own_detail(cache: Any, results: Any, table: Any, saved: list[Any], selected: str, search: str) -> list[Any]:
    """The selected slice of yours: its F1 beside the rest's, a link to its errors, its first examples with errors."""
    if not selected:
        return []
    names = [item.name for item in saved]
    if selected not in names:
        return [dbc.Alert(f"No slice named {selected!r} is saved for this cache.", color="secondary")]
    index = names.index(selected)
    row = table.iloc[index].to_dict()
    spans = coded_spans(cache, results)
    member = np.isin(spans.example_id, np.asarray(saved[index].examples, dtype=np.int64))
    with_errors = [int(example) for example in pd.unique(spans.example_id[member & ~spans.matched])]
    shown = with_errors[:MAX_CARDS]
    verdict = (
        "lower than the rest: the whole interval of the difference is below 0"
        if row["difference_high"] < 0
        else "higher than the rest: the whole interval of the difference is above 0"
        if row["difference_low"] > 0
        else "not distinguishable from the rest at 95%: the interval of the difference holds 0"
    )
    return [
        html.H5(f"Your slice {selected!r}", className="mt-3"),
        html.P(
            f"{int(row['examples']):,} examples, {int(row['n_gold']):,} gold and {int(row['n_pred']):,} predicted "
            f"spans: F1 {interval_text(row['f1'], row['f1_low'], row['f1_high'])} (precision {row['precision']:.3f}, "
            f"recall {row['recall']:.3f}) against {interval_text(row['rest_f1'], row['rest_f1_low'], row['rest_f1_high'])}"
            f" on the other {int(row['rest_examples']):,} examples; F1 is {verdict} "
            f"({interval_text(row['difference'], row['difference_low'], row['difference_high'])}). "
            f"{len(with_errors):,} of its examples hold an error.",
            className="small",
        ),
        dcc.Graph(
            id=Ids.OWN_CHART,
            figure=own_slice_figure(row, overall_f1=results.overall_f1),
            config={"displaylogo": False},
            style={"maxWidth": "520px"},
        ),
        dcc.Link(
            "List its errors in Misclassified",
            href=misclassified.SECTION.link(search, level="span", own=selected),
            className="btn btn-sm btn-outline-primary mb-2",
        ),
        *(example_cards(cache, shown, section_key=SECTION.key) if shown else []),
    ]


def new_slice_form() -> Any:
    """A name and pasted example ids: a new slice of yours."""
    return html.Div(
        [
            html.Span("New slice from example ids", className="small me-2"),
            dbc.Input(id=Ids.OWN_NAME, placeholder="slice name", size="sm", maxLength=60, style={"maxWidth": "200px"}),
            dbc.Textarea(
                id=Ids.OWN_IDS,
                placeholder="ids: 3, 17, 20-25",
                size="sm",
                rows=1,
                className="mx-2",
                style={"maxWidth": "320px"},
            ),
            dbc.Button("Save", id=Ids.OWN_SAVE, size="sm", color="secondary", outline=True, className="me-2"),
            html.Div(id=Ids.OWN_MESSAGE, className="small"),
        ],
        className="d-flex align-items-center flex-wrap mb-3",
    )


def own_section(cache: Any, results: Any, view: SlicesView, search: str) -> list[Any]:
    return [
        html.H5("Your slices", className="mt-3"),
        html.Div(own_table(cache, results, search, view.own), id=Ids.OWN),
        new_slice_form(),
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
    coded_spans(cache, results)  # built with the tab (and so by the workers' warm-up), not on the first click
    types = sorted(str(kind) for kind in results.buckets["type"].unique() if kind)
    entity_type = view.type if view.type in types else ""
    return html.Div(
        [
            intro(results),
            html.H5("Weak slices"),
            html.Div(weak_list(results, search), id=Ids.WEAK),
            *own_section(cache, results, view, search),
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


def save_pasted(context: Any, name: str | None, text: str | None, search: str | None) -> tuple[Any, Any, Any]:
    """Callback body: a name and pasted ids -> (your slices' table, the message, the URL selecting the new slice)."""
    try:
        cache = context.cache(search)
        results = cache.slices()
        if isinstance(results, Missing):
            raise ExplainerError(results.reason)
        n_examples = int(cache.manifest.get("counts", {}).get("examples", 0))
        new = own_slices.make_slice(cache, name, parse_example_ids(text, n_examples=n_examples), made_from="pasted ids")
        own_slices.store_slice(cache, new, context.settings.corrections_dir)
    except ExplainerError as error:
        return no_update, html.Span(str(error), className="text-danger"), no_update
    new_search = update_query(search, sl_own=new.name)
    message = html.Span(f"Saved {new.name!r}: {len(new.examples):,} examples.", className="text-success")
    return own_table(cache, results, new_search, new.name), message, new_search


def delete_clicked(context: Any, triggered: list[dict[str, Any]] | None, search: str | None) -> tuple[Any, Any]:
    """Callback body: a delete button -> (your slices' table without it, the URL without it when selected)."""
    click = fired(triggered, type=DELETE_TYPE)  # buttons appearing are no click
    name = click.id.get("name") if click is not None and isinstance(click.id, dict) else None
    if not name:
        return no_update, no_update
    from explainer.app.state import parse_query
    from explainer.cache.own_slices import delete_slice

    cache = context.cache(search)
    results = cache.slices()
    if isinstance(results, Missing):
        return no_update, no_update
    try:
        delete_slice(own_slices.slices_file(cache, context.settings.corrections_dir), str(name))
    except ExplainerError as error:
        return [dbc.Alert(str(error), color="danger")], no_update
    view = SlicesView.from_query(parse_query(search))
    new_search = update_query(search, sl_own=None) if view.own == name else (search or "")
    return own_table(cache, results, new_search, "" if view.own == name else view.own), new_search


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

    @app.callback(
        Output(Ids.OWN, "children"),
        Output(Ids.OWN_MESSAGE, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.OWN_SAVE, "n_clicks"),
        State(Ids.OWN_NAME, "value"),
        State(Ids.OWN_IDS, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_save(clicks: int | None, name: str | None, text: str | None, search: str | None) -> tuple[Any, Any, Any]:
        if not clicks:
            return no_update, no_update, no_update
        return save_pasted(context, name, text, search)

    @app.callback(
        Output(Ids.OWN, "children", allow_duplicate=True),
        Output("url", "search", allow_duplicate=True),
        Input({"type": DELETE_TYPE, "name": ALL}, "n_clicks"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_delete(_clicks: Any, search: str | None) -> tuple[Any, Any]:
        return delete_clicked(context, dash.ctx.triggered, search)

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
