"""Activations: NMF components of the feed-forward neurons, shaded on an example's words (as Ecco does).

Reads the sample of FFN activations the build stored (``--activations-sample``) and the factorisation
of the default view (all layers, DEFAULT_COMPONENTS; build step ``activation_nmf``); any other
factorisation is computed on demand (as is the default one for a cache built before that step) and kept
per opened cache in a small LRU, so going back to a view is instant.

URL state: ``act_layers`` (``all``, ``3`` or ``1-4``), ``act_k`` (2..10 components), ``act_example``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.activations import (
    DEFAULT_COMPONENTS,
    ENERGY_KEPT,
    MAX_COMPONENTS,
    MIN_COMPONENTS,
    TOP_OCCURRENCES,
    ComponentView,
    component_view,
    factorisation_seed,
    factorise,
    format_layers,
    parse_layers,
)
from explainer.app.memo import per_cache_lru
from explainer.app.sections.base import MODEL, Section, StrEnum, View, view_field
from explainer.app.state import parse_query, update_query
from explainer.cache.artefacts import ActivationSample, Factorisation, Missing
from explainer.errors import ExplainerError

# One colour per component (Tableau 10), as RGB so a word's shade is the colour at its activation's alpha.
COMPONENT_COLOURS = [
    (78, 121, 167),
    (242, 142, 43),
    (89, 161, 79),
    (225, 87, 89),
    (176, 122, 161),
    (118, 183, 178),
    (237, 201, 72),
    (156, 117, 95),
    (255, 157, 167),
    (186, 176, 172),
]
TOP_WORDS_SHOWN = 10
LRU_SIZE = 16  # factorisations kept per opened cache (each is small: positions x components)


class Ids(StrEnum):
    NOTE = "activations-note"  # why there is nothing to show
    LAYERS = "activations-layers"
    K = "activations-k"
    EXAMPLE = "activations-example"
    RESULTS = "activations-results"
    SUMMARY = "activations-summary"
    INSPECT = "activations-inspect"
    EXAMPLE_ROWS = "activations-example-rows"
    ROW = "activations-row"  # + "-" + the component: one row of the example's table
    TOP_WORDS = "activations-top-words"


@dataclass(frozen=True)
class ActivationsView(View, prefix="act"):
    """Layers (``all``, ``3`` or ``1-4``), number of components and the example shown (None: the first of
    the sample); ``resolved`` makes layers and example valid for a cache's sample."""

    layers: str = "all"
    k: int = view_field(DEFAULT_COMPONENTS, low=MIN_COMPONENTS, high=MAX_COMPONENTS)
    example: int | None = None

    def resolved(self, sample: ActivationSample) -> tuple[tuple[int, ...], int, int | None]:
        """(layers, components, example) within the sample (URLs are user input)."""
        ids = sample.example_ids
        example = self.example if self.example in ids else (ids[0] if ids else None)
        return parse_layers(self.layers, sample.n_layers), self.k, example


def build_summary(cache) -> dict:
    return cache.analyses.get("activations") or {}


def unavailable_note(cache) -> str | None:
    """Why this cache has no activations to show (one line), or None when it has them."""
    status = str(build_summary(cache).get("status", ""))
    if status.startswith("unsupported:"):
        model_type = status.split(":", 1)[1].strip()
        from explainer.pipeline.activations import FFN_MODULES  # a table of names: imports no torch

        return (
            f"FFN activations are not recorded for model type {model_type!r}: the build does not know where its "
            f"feed-forward layers are (supported: {', '.join(sorted(FFN_MODULES))})."
        )
    sample = cache.activation_sample()
    if isinstance(sample, Missing):
        return sample.reason
    if build_summary(cache).get("positions") == 0:
        return (
            f"The activation sample of this cache is empty: every example was larger than the build's budget "
            f"of {build_summary(cache).get('budget_bytes', 0) / 2**20:.0f} MiB of activations."
        )
    return None


def open_sample(cache) -> ActivationSample:
    """The stored activations of ``cache`` (opened once per cache; read-only)."""
    sample = cache.activation_sample()
    if isinstance(sample, Missing):
        raise ExplainerError(sample.reason)
    return sample


def components_for(cache, *, layers: tuple[int, ...], n_components: int) -> ComponentView:
    """The factorisation view for these parameters, computed once per (opened cache, layers, components, seed);
    the default view's factorisation is read from the cache when the build made it."""
    sample = open_sample(cache)
    seed = factorisation_seed(cache.manifest, sample.summary)

    def compute():
        stored = cache.activation_factorisation()
        if isinstance(stored, Factorisation) and (stored.layers, stored.n_components, stored.seed) == (
            tuple(layers),
            n_components,
            seed,
        ):
            factorisation = stored
        else:
            factorisation = factorise(sample.activations, layers=layers, n_components=n_components, seed=seed)
        words = cache.table("words", columns=["example_id", "word_index", "word"])
        return component_view(factorisation, sample.positions, words)

    return per_cache_lru(cache, "activations-nmf", (tuple(layers), n_components, seed), compute, maxsize=LRU_SIZE)


def example_options(cache, sample: ActivationSample) -> list[dict]:
    """Dropdown options for the sampled examples: '#id  text' (text as a plain string, never HTML)."""
    examples = cache.table("examples", columns=["example_id", "text"]).set_index("example_id")["text"]
    options = []
    for example_id in sample.example_ids:
        text = str(examples.get(example_id, ""))
        options.append({"label": f"#{example_id}  {text[:100]}{'…' if len(text) > 100 else ''}", "value": example_id})
    return options


def layout(cache, state):
    note = unavailable_note(cache)
    if note:
        return dbc.Alert(note, color="info", id=Ids.NOTE)
    sample = open_sample(cache)
    layers, k, example = ActivationsView.from_query(state).resolved(sample)
    last = sample.n_layers - 1
    summary = sample.summary
    intro = html.P(
        "Groups of feed-forward neurons that fire together, found by non-negative matrix factorisation of their "
        f"activations (after the non-linearity, negatives clipped) over the {len(sample.example_ids):,} sampled "
        f"examples ({len(sample.positions):,} subwords, {summary.get('neurons', sample.activations.shape[2]):,} "
        f"neurons per layer). Each component is shaded on the example's words; below, the words that activate it "
        "most across the sample. Layers count from 0.",
        className="text-muted small",
    )
    controls = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Layers (both ends together: one layer)", className="small mb-0"),
                    dcc.RangeSlider(
                        id=Ids.LAYERS,
                        min=0,
                        max=last,
                        step=1,
                        value=[layers[0], layers[-1]],
                        marks={i: str(i) for i in range(last + 1)},
                        allowCross=True,
                    ),
                ],
                lg=4,
            ),
            dbc.Col(
                [
                    dbc.Label("Components", className="small mb-0"),
                    dcc.Slider(
                        id=Ids.K,
                        min=MIN_COMPONENTS,
                        max=MAX_COMPONENTS,
                        step=1,
                        value=k,
                        marks={i: str(i) for i in range(MIN_COMPONENTS, MAX_COMPONENTS + 1)},
                    ),
                ],
                lg=3,
            ),
            dbc.Col(
                [
                    dbc.Label("Example from the sample", className="small mb-0"),
                    dcc.Dropdown(
                        id=Ids.EXAMPLE,
                        options=example_options(cache, sample),
                        value=example,
                        clearable=False,
                        searchable=True,
                        placeholder="search the sampled examples",
                    ),
                ],
                lg=5,
            ),
        ],
        className="mb-2",
    )
    return html.Div([intro, controls, dcc.Loading(html.Div(id=Ids.RESULTS), delay_show=200)])


def shade(colour: tuple[int, int, int], value: float) -> str:
    red, green, blue = colour
    return f"rgba({red}, {green}, {blue}, {max(0.0, min(1.0, float(value))):.2f})"


def component_title(view: ComponentView, component: int) -> list:
    colour = COMPONENT_COLOURS[component % len(COMPONENT_COLOURS)]
    swatch = html.Span(
        style={
            "display": "inline-block",
            "width": "0.9em",
            "height": "0.9em",
            "marginRight": "0.4em",
            "backgroundColor": shade(colour, 1.0),
            "borderRadius": "2px",
        }
    )
    return [swatch, html.Strong(f"C{component + 1}"), html.Span(f"  {view.label(component)}", className="text-muted")]


def example_rows(view: ComponentView, example_id: int) -> html.Table:
    """One row per component: the example's words, each shaded by that component's activation."""
    words = view.example(example_id)
    rows = []
    for component, column in enumerate(view.columns):
        colour = COMPONENT_COLOURS[component % len(COMPONENT_COLOURS)]
        spans: list[Any] = []
        for word, value in zip(words["word"], words[column]):
            spans += [
                html.Span(
                    word,
                    title=f"{value:.2f}",
                    className="act-word",
                    style={"backgroundColor": shade(colour, value), "padding": "1px 2px", "borderRadius": "2px"},
                ),
                " ",
            ]
        rows.append(
            html.Tr(
                [
                    html.Td(
                        component_title(view, component),
                        className="text-nowrap pe-3 small",
                        style={"maxWidth": "280px", "overflow": "hidden", "textOverflow": "ellipsis"},
                    ),
                    html.Td(spans, style={"lineHeight": "1.9em"}),
                ],
                id=f"{Ids.ROW}-{component}",
            )
        )
    return html.Table(html.Tbody(rows), className="table table-sm", id=Ids.EXAMPLE_ROWS)


def top_word_cards(view: ComponentView) -> dbc.Row:
    """Per component, the words among its strongest occurrences in the sample, with counts."""
    cards = []
    top = view.top_words
    for component in range(view.factorisation.n_components):
        rows = top[top["component"] == component].head(TOP_WORDS_SHOWN)
        body = [
            html.Tr(
                [
                    html.Td(word, style={"wordBreak": "break-all"}),
                    html.Td(int(count), className="text-end"),
                    html.Td(int(occurrences), className="text-end text-muted"),
                    html.Td(f"{mean:.2f}", className="text-end text-muted"),
                ]
            )
            for word, count, occurrences, mean in zip(rows["word"], rows["count"], rows["occurrences"], rows["mean"])
        ]
        table = dbc.Table(
            [
                html.Thead(
                    html.Tr(
                        [
                            html.Th("word"),
                            html.Th("count", className="text-end"),
                            html.Th("in sample", className="text-end"),
                            html.Th("mean", className="text-end"),
                        ]
                    )
                ),
                html.Tbody(body),
            ],
            size="sm",
            className="mb-0 small",
        )
        header = dbc.CardHeader(component_title(view, component), className="small text-truncate")
        cards.append(
            dbc.Col(
                dbc.Card([header, dbc.CardBody(table, className="p-1")], className="mb-3 act-component"),
                lg=3,
                md=4,
                sm=6,
            )
        )
    return dbc.Row(cards, id=Ids.TOP_WORDS)


def results(cache, *, layers: tuple[int, ...], n_components: int, example_id: int | None) -> list:
    sample = open_sample(cache)
    view = components_for(cache, layers=layers, n_components=n_components)
    factorisation = view.factorisation
    span = f"layer {layers[0]}" if len(layers) == 1 else f"layers {layers[0]}–{layers[-1]}"
    summary = html.P(
        f"NMF of {span} ({len(layers) * sample.activations.shape[2]:,} neurons; fitted on the "
        f"{len(factorisation.neurons):,} carrying {ENERGY_KEPT:.0%} of the activation and "
        f"{factorisation.fitted_on:,} of {len(sample.positions):,} positions) into {n_components} components in "
        f"{factorisation.seconds:.1f} s. Shade: the component's activation on the word (its largest over the "
        "word's subwords) relative to its largest in the sample.",
        className="small",
        id=Ids.SUMMARY,
    )
    parts: list[Any] = [summary]
    if example_id is not None:
        inspect = dbc.Button(
            "open in the inspector",
            id=Ids.INSPECT,
            color="link",
            size="sm",
            className="p-0 ms-2 align-baseline",
            n_clicks=0,
        )
        parts += [html.H6([f"Example #{example_id}", inspect]), example_rows(view, example_id)]
    parts += [
        html.H6(
            f"Top words per component (among its {TOP_OCCURRENCES} strongest word occurrences; "
            "'in sample': occurrences of the word in the sample)",
            className="mt-3",
        ),
        top_word_cards(view),
    ]
    return parts


def update_view(context, layer_range, n_components, example_id, search):
    """Callback body: render the results for the controls and keep them in the URL."""
    try:
        cache = context.cache(search)
        sample = open_sample(cache)
        first, last = sorted(int(v) for v in (layer_range or [0, sample.n_layers - 1]))
        chosen = int(example_id) if example_id is not None and int(example_id) in sample.example_ids else None
        view = ActivationsView(layers=f"{first}-{last}", k=int(n_components or DEFAULT_COMPONENTS), example=chosen)
        layers = parse_layers(view.layers, sample.n_layers)
        children = results(cache, layers=layers, n_components=view.k, example_id=view.example)
    except ExplainerError as error:
        return [dbc.Alert(str(error), color="warning")], no_update
    query = update_query(search, **replace(view, layers=format_layers(layers, sample.n_layers)).to_query())
    return children, (no_update if parse_query(query) == parse_query(search) else query)


def register(app, context):
    @app.callback(
        Output(Ids.RESULTS, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.LAYERS, "value"),
        Input(Ids.K, "value"),
        Input(Ids.EXAMPLE, "value"),
        State("url", "search"),
        prevent_initial_call="initial_duplicate",
    )  # renders on mount, and may write the URL
    def on_controls(layer_range, n_components, example_id, search):
        return update_view(context, layer_range, n_components, example_id, search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(Ids.INSPECT, "n_clicks"),
        State(Ids.EXAMPLE, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def open_inspector(n_clicks, example_id, search):
        if not n_clicks or example_id is None:
            return no_update
        return update_query(search, sample=int(example_id), word=None)


SECTION = Section(
    key="activations",
    label="Activations",
    group=MODEL,
    order=20,
    layout=layout,
    register=register,
    ids=Ids,
    view=ActivationsView,
)
