"""Embeddings: every word (or example) placed by the 2-D projection of its hidden state.

Colour by gold or predicted entity type (the default; B- and I- merged, counts in the legend), gold
label, predicted label, error category or loss; misclassified points have a black
outline. Clicking a point opens the inspector on its example and word (ids come from the point's
``customdata``). A lasso or box selection lists the words inside it, with counts by gold and
predicted label; a row opens the inspector. Filters and the selected region live in the URL
(``emb_mode``, ``emb_colour``, ``emb_labels``, ``emb_errors``, ``emb_loss``, ``emb_sel``).

Plotly's ``selectedData`` holds every selected point with its hover text, which can exceed the
server's request limit; a clientside callback keeps only the selection's geometry (the box or the
lasso path) and the server applies it to all filtered points, drawn or not.

"Save as slice" names the examples of the selected points (of the words inside, in word mode) as your own
slice, scored in the Slices section.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis import embeddings as emb
from explainer.analysis.label_quality import read_label_quality, with_scores
from explainer.analysis.misclassified import word_context
from explainer.app.components import own_slices
from explainer.app.components.grid import column, grid_source, server_grid
from explainer.app.components.wording import counted
from explainer.app.memo import per_cache, per_cache_lru
from explainer.app.sections.base import DATA, Section, StrEnum, View, view_field
from explainer.app.state import build_query, parse_query, update_query
from explainer.cache.artefacts import Missing, Projections
from explainer.cache.reader import LABEL_QUALITY_NOT_BUILT as NOT_BUILT
from explainer.cache.reader import Cache
from explainer.errors import ExplainerError
from explainer.figures.embeddings import embedding_figure, parse_point_id

MAX_POINTS = 20_000  # drawn at most; more is downsampled (seeded, errors first)
HOVER_CONTEXT = 3  # words either side in a point's hover text (the text is most of the figure's bytes)
MAX_TABLE_ROWS = 5_000  # selected rows listed, highest loss first
RENDERED_VIEWS = 4  # figures kept per cache (the tab opens on the URL's view, mostly the default)
DISPLAY_SEED = 0
NO_LABELS = "~"  # URL value of an empty label choice (an absent parameter means all labels)
GRIDS = {emb.WORD: "embeddings-words", emb.EXAMPLE: "embeddings-examples"}
LABEL_QUALITY_NOTE = (
    "Label quality: cleanlab's score of the gold label (red = likely wrong); diamonds are flagged as "
    "likely label issues."
)
COLOUR_NAMES = {
    "gold_type": "gold entity type",
    "pred_type": "predicted entity type",
    "gold": "gold label",
    "pred": "predicted label",
    "category": "error category",
    "loss": "loss",
    "label_quality": "label quality",
}

# Keep only the geometry of a selection: the full selectedData repeats every point's hover text.
# A deselection (double click) becomes {cleared: true}: the store's own null is only its mounting.
SELECTION_GEOMETRY_JS = """
function (selected) {
    if (!selected) { return {cleared: true}; }
    return {range: selected.range || null, lassoPoints: selected.lassoPoints || null,
            points: (selected.points || []).length};
}
"""


# --- data, once per cache ----------------------------------------------------------------------


def projections(cache) -> Projections | None:
    """The cache's projections (memory-mapped), or None when it was built without them."""
    found = cache.projections()
    return None if isinstance(found, Missing) else found


def stored_projections(cache) -> Projections:
    """The cache's projections, for views past the layout's check that the cache has them."""
    found = cache.projections()
    if isinstance(found, Missing):
        raise ExplainerError(found.reason)
    return found


# The columns of the cache's tables this section reads: not whole tables (the words table alone held
# ~200 MB per worker at 1M subwords).
WORD_COLUMNS_READ = ["example_id", "word_index", "word", "gold", "pred", "gold_id", "pred_id", "loss"]
EXAMPLE_COLUMNS_READ = ["example_id", "text", "mean_loss", "n_word_errors", "n_errors"]
SPAN_ERROR_COLUMNS_READ = ["example_id", "category", "gold_start", "gold_end", "pred_start", "pred_end"]


def section_words(cache):
    """The words (``example_id, word_index, word, gold, pred, loss``, in table order: a point's ``row``
    indexes them): the word points themselves when every word has one (kept anyway), else read again."""
    points = all_points(cache, emb.WORD)
    if len(points) == int(cache.manifest.get("counts", {}).get("words", -1)):
        return points
    return cache.table("words", WORD_COLUMNS_READ)


def all_points(cache, mode: str):
    """Every word (or example) point of the cache, with its colouring columns (built once per cache)."""
    found = stored_projections(cache)
    if mode == emb.EXAMPLE:
        return per_cache(
            cache,
            "embeddings-example-points",
            lambda: with_scores(
                emb.example_points(cache.table("examples", EXAMPLE_COLUMNS_READ), found.examples),
                read_label_quality(cache),
                level=emb.EXAMPLE,
            ),
        )

    def compute():
        words = cache.table("words", WORD_COLUMNS_READ)  # not kept: the points hold what the section needs
        categories = emb.word_error_categories(words, cache.table("span_errors", SPAN_ERROR_COLUMNS_READ))
        return with_scores(emb.word_points(words, found.words, categories), read_label_quality(cache), level=emb.WORD)

    return per_cache(cache, "embeddings-word-points", compute)


def rebuild_hint(cache: Cache) -> str:
    """The build command of this cache with ``--projection umap`` (replacing any other choice)."""
    return cache.rebuild_command(projection="umap")


# --- ids and view ------------------------------------------------------------------------------


class Ids(StrEnum):
    MISSING = "embeddings-missing"
    CAPTION = "embeddings-caption"
    MODE = "embeddings-mode"
    COLOUR = "embeddings-colour"
    LABELS = "embeddings-labels"
    ERRORS = "embeddings-errors"
    LOSS = "embeddings-loss"
    NOTE = "embeddings-note"
    GRAPH = "embeddings-graph"
    SELECTION = "embeddings-selection"  # the selection's geometry (a store)
    SELECTION_BLOCK = "embeddings-selection-block"
    SELECTION_SUMMARY = "embeddings-selection-summary"
    COUNTS = "embeddings-counts"
    GRID = "embeddings-grid"  # + a digest of the view: a new id mounts a fresh grid
    SLICE_NAME = "embeddings-slice-name"  # the "Save as slice" bar (components/own_slices.py)
    SLICE_SAVE = "embeddings-slice-save"
    SLICE_MESSAGE = "embeddings-slice-message"


def _parse_labels(text: str) -> tuple[str, ...]:
    return () if text == NO_LABELS else tuple(text.split(","))


def _parse_region(text: str) -> dict:
    region = emb.parse_region(text)
    if region is None:
        raise ValueError(text)
    return region


@dataclass(frozen=True)
class EmbeddingsView(View, prefix="emb"):
    """Mode, colouring, filters and the selected region; ``labels`` None shows every label."""

    mode: str = view_field(emb.WORD, choices=emb.MODES)
    colour: str = emb.COLOURINGS[emb.WORD][0]
    labels: tuple[str, ...] | None = view_field(
        None, parse=_parse_labels, format=lambda labels: ",".join(labels) or NO_LABELS
    )
    errors: bool = False  # misclassified points only
    loss: float | None = None  # points of a higher loss only
    sel: dict | None = view_field(None, parse=_parse_region, format=emb.format_region)  # the selected region

    def corrections(self) -> dict[str, Any]:
        colourings = emb.COLOURINGS[self.mode]
        return {} if self.colour in colourings else {"colour": colourings[0]}

    def for_labels(self, labels: list[str]) -> EmbeddingsView:
        """This view with the labels a cache has (every one of them is no choice: None)."""
        if self.labels is None:
            return self
        chosen = tuple(label for label in self.labels if label in labels)
        return replace(self, labels=None if set(chosen) >= set(labels) else chosen)


def view_of(cache, state: dict) -> EmbeddingsView:
    """The URL's view of ``cache``."""
    return EmbeddingsView.from_query(state).for_labels(cache.labels)


def filtered(cache, view: EmbeddingsView):
    """The points of ``view``'s mode that pass its filters (before downsampling)."""
    return emb.filter_points(
        all_points(cache, view.mode),
        labels=view.labels,
        errors_only=view.errors,
        min_loss=view.loss,
        words=section_words(cache) if view.mode == emb.EXAMPLE else None,
    )


# --- pieces of the page ------------------------------------------------------------------------


def figure_and_note(cache, view: EmbeddingsView):
    """The scatter of ``view`` and a note saying what is drawn; the last ``RENDERED_VIEWS`` are kept per cache
    (a scatter of 20,000 points with their hover texts takes ~0.2 s to build at 250k subwords)."""
    return per_cache_lru(
        cache,
        "embeddings-rendered",
        build_query(view.to_query()),
        lambda: _figure_and_note(cache, view),
        maxsize=RENDERED_VIEWS,
    )


def _figure_and_note(cache, view: EmbeddingsView):
    points = filtered(cache, view)
    drawn, note = emb.display_sample(points, max_points=MAX_POINTS, seed=DISPLAY_SEED)
    hover = emb.hover_texts(drawn, section_words(cache) if view.mode == emb.WORD else None, context_size=HOVER_CONTEXT)
    figure = embedding_figure(
        drawn,
        hover,
        colour_by=view.colour,
        labels=cache.labels,
        method=stored_projections(cache).method(view.mode),
        region=view.sel,
        counts=_value_counts(points, view.colour),
    )
    noun = "word" if view.mode == emb.WORD else "example"
    total = len(all_points(cache, view.mode))
    if not len(points):
        note = f"No {noun} passes these filters (of {counted(total, noun)})."
    note = note or f"Showing every {noun} that passes the filters: {len(points):,} of {total:,}."
    if view.colour == "label_quality":
        note += " " + (LABEL_QUALITY_NOTE if read_label_quality(cache) else NOT_BUILT)
    return figure, note


def _value_counts(points, colour: str) -> dict[str, int] | None:
    """How many filtered points (drawn or not) have each value of a categorical colouring, for the legend."""
    if colour in ("loss", "label_quality"):
        return None
    # Counted on the column as kept (categorical for words): no string per point; unseen categories dropped.
    return {str(value): int(count) for value, count in points[colour].value_counts().items() if count}


@grid_source(GRIDS[emb.WORD])
def selected_word_rows(cache, state):
    """Words inside the URL's selected region, highest loss first (at most MAX_TABLE_ROWS), with context."""
    view = view_of(cache, state)
    chosen = emb.selected_points(filtered(cache, replace(view, mode=emb.WORD)), view.sel)
    top = chosen.sort_values("loss", ascending=False, kind="stable", na_position="last").head(MAX_TABLE_ROWS)
    frame = top[["example_id", "word_index", "word", "gold", "pred", "loss", "category"]].reset_index(drop=True)
    frame = frame.astype({name: "str" for name in ("word", "gold", "pred", "category")})  # the grid filters text
    frame["context"] = word_context(section_words(cache), top["row"].to_numpy(), size=HOVER_CONTEXT)
    return frame


@grid_source(GRIDS[emb.EXAMPLE])
def selected_example_rows(cache, state):
    """Examples inside the URL's selected region, highest mean loss first (at most MAX_TABLE_ROWS)."""
    view = view_of(cache, state)
    chosen = emb.selected_points(filtered(cache, replace(view, mode=emb.EXAMPLE)), view.sel)
    top = chosen.sort_values("loss", ascending=False, kind="stable", na_position="last").head(MAX_TABLE_ROWS)
    return top[["example_id", "text", "n_errors", "loss"]].reset_index(drop=True)


WORD_COLUMNS = [
    column("example_id", "example", number=True, width=100, flex=0),
    column("word_index", "#", number=True, width=70, flex=0),
    column("word"),
    column("gold"),
    column("pred", "predicted"),
    column("loss", number=True, decimals=3),
    column("category", "error"),
    column("context", flex=3),
]
EXAMPLE_COLUMNS = [
    column("example_id", "example", number=True, width=100, flex=0),
    column("text", flex=4),
    column("n_errors", "span errors", number=True),
    column("loss", "mean loss", number=True, decimals=3),
]


def selection_block(cache, view: EmbeddingsView) -> html.Div:
    """What the selected region holds: counts by gold and predicted label, and a table of its points."""
    if not view.sel:
        return html.Div(
            html.P(
                "Draw a lasso or a box around points (tools at the top right of the plot) to list them here.",
                className="text-muted small",
            ),
            id=Ids.SELECTION_SUMMARY,
        )
    points = emb.selected_points(filtered(cache, view), view.sel)
    words = points if view.mode == emb.WORD else emb.words_of_examples(section_words(cache), points["example_id"])
    noun = "word" if view.mode == emb.WORD else "example"
    counts = emb.label_counts(words, cache.labels)
    wrong = "misclassified" if noun == "word" else "with misclassified words"
    summary = (
        f"{counted(len(points), noun)} in the selection, {int(points['wrong'].sum()):,} of them {wrong}; "
        f"counts by label over {counted(len(words), 'word')}."
    )
    if len(points) > MAX_TABLE_ROWS:
        summary += f" The table lists the {MAX_TABLE_ROWS:,} of highest loss."
    table = html.Table(
        [
            html.Thead(html.Tr([html.Th("label"), html.Th("gold"), html.Th("predicted")])),
            html.Tbody(
                [
                    html.Tr([html.Td(row.label), html.Td(f"{row.gold:,}"), html.Td(f"{row.predicted:,}")])
                    for row in counts.itertuples()
                ]
            ),
        ],
        className="table table-sm small",
        id=Ids.COUNTS,
        style={"width": "auto"},
    )
    digest = hashlib.sha1(build_query(view.to_query()).encode("utf-8")).hexdigest()[:10]
    grid = server_grid(GRIDS[view.mode], WORD_COLUMNS if view.mode == emb.WORD else EXAMPLE_COLUMNS, height=420)
    return html.Div(
        [
            html.P(summary, id=Ids.SELECTION_SUMMARY, className="small"),
            dbc.Row([dbc.Col(table, md=3), dbc.Col(html.Div(grid, id=f"{Ids.GRID}-{digest}"), md=9)]),
        ]
    )


def controls(cache, view: EmbeddingsView) -> html.Div:
    return html.Div(
        [
            dbc.RadioItems(
                id=Ids.MODE,
                value=view.mode,
                inline=True,
                className="me-3",
                options=[{"label": "words", "value": emb.WORD}, {"label": "examples", "value": emb.EXAMPLE}],
            ),
            html.Span("colour by", className="small me-1"),
            dcc.Dropdown(
                id=Ids.COLOUR,
                options=colour_options(view.mode),
                value=view.colour,
                clearable=False,
                style={"minWidth": "170px"},
                className="me-3",
            ),
            dcc.Dropdown(
                id=Ids.LABELS,
                options=cache.labels,
                multi=True,
                placeholder="gold labels shown",
                value=cache.labels if view.labels is None else list(view.labels),
                style={"minWidth": "280px", "maxWidth": "420px"},
                className="me-3",
            ),
            dbc.Switch(id=Ids.ERRORS, label="errors only", value=view.errors, className="me-3"),
            dbc.Input(
                id=Ids.LOSS,
                type="number",
                min=0,
                step=0.1,
                debounce=True,
                size="sm",
                placeholder="loss above",
                value=view.loss,
                style={"maxWidth": "130px"},
            ),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )


def colour_options(mode: str) -> list[dict]:
    return [{"label": COLOUR_NAMES[value], "value": value} for value in emb.COLOURINGS[mode]]


def caption(found: Projections) -> str:
    """What the points are and how they were placed (small sets fall back to PCA, so say which)."""
    words, examples = (found.method(mode).upper() for mode in emb.MODES)
    how = (
        f"projected to 2-D with {words}"
        if words == examples
        else f"projected to 2-D with {words} (words) and {examples} (examples)"
    )
    return (
        f"Each point is a word (its first subword's last hidden state) or an example (mean over its subwords), "
        f"{how}. Black outline: gold and predicted differ. Click a point to inspect it; draw a lasso or a box "
        "to list the points inside."
    )


def layout(cache, state):
    found = projections(cache)
    if found is None:
        return dbc.Alert(
            [
                html.P(
                    "This cache has no projections (it was built with --projection none, or before "
                    "projections existed). Rebuild it with:",
                    className="mb-1",
                ),
                html.Code(rebuild_hint(cache)),
            ],
            color="warning",
            id=Ids.MISSING,
        )
    view = view_of(cache, state)
    figure, note = figure_and_note(cache, view)
    return html.Div(
        [
            html.P(caption(found), className="text-muted small", id=Ids.CAPTION),
            controls(cache, view),
            html.P(note, id=Ids.NOTE, className="small text-muted mb-1"),
            dcc.Graph(id=Ids.GRAPH, figure=figure, config={"displaylogo": False, "scrollZoom": True}),
            dcc.Store(id=Ids.SELECTION),
            html.Div(selection_block(cache, view), id=Ids.SELECTION_BLOCK, className="mt-2"),
            own_slices.save_bar(SECTION_KEY, what="the examples of the selected points"),
        ]
    )


def examples_of_view(cache, state, _requests) -> tuple[list[int], str]:
    """The examples of the points inside the URL's selected region ("Save as slice")."""
    view = view_of(cache, state)
    if not view.sel:
        raise ExplainerError("no selection: draw a lasso or a box around points first, then save it")
    points = emb.selected_points(filtered(cache, view), view.sel)
    shape = "box" if "box" in view.sel else "lasso"
    return sorted(set(points["example_id"].astype(int).tolist())), f"Embeddings {shape} over {view.mode}s"


# --- callback bodies ---------------------------------------------------------------------------


def update_filters(context, mode, colour, labels, errors, loss, search):
    """Controls changed: redraw, refresh the selection table, write the URL.

    Returns figure, note, selection block, URL, colour options and colour value (no_update for
    all when the controls only echo the URL, as when they mount).
    """
    cache = context.cache(search)
    current = view_of(cache, parse_query(search))
    view = EmbeddingsView(
        mode=mode,
        colour=colour,
        labels=None if labels is None else tuple(labels),
        errors=bool(errors),
        loss=_number(loss),
        sel=current.sel,
    ).for_labels(cache.labels)
    if view.mode != current.mode:
        view = replace(view, sel=None)  # a region drawn over words means nothing over examples
    if view == current:
        return (no_update,) * 6
    figure, note = figure_and_note(cache, view)
    new_search = update_query(search, **view.to_query())
    return (figure, note, selection_block(cache, view), new_search, colour_options(view.mode), view.colour)


def update_selection(context, geometry, search):
    """A new lasso/box selection (or none): store its region in the URL and list its points.

    ``geometry`` is what the clientside callback kept of plotly's ``selectedData``; None is the
    store mounting with the tab, which must not clear a selection restored from the URL.
    """
    if geometry is None:
        return no_update, no_update
    cache = context.cache(search)
    current = view_of(cache, parse_query(search))
    view = replace(current, sel=emb.region_from_selection(geometry))
    if view.to_query() == current.to_query():
        return no_update, no_update
    return selection_block(cache, view), update_query(search, **view.to_query())


def open_clicked_point(click, search):
    """A click on a point: the URL opens the inspector on its example and word; clickData is reset."""
    points = (click or {}).get("points") or []
    ids = parse_point_id(points[0].get("customdata")) if points else None
    if ids is None:
        return no_update, None
    example_id, word_index = ids
    return update_query(search, sample=example_id, word=word_index if word_index >= 0 else None), None


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def register(app, context):
    @app.callback(
        Output(Ids.GRAPH, "figure"),
        Output(Ids.NOTE, "children"),
        Output(Ids.SELECTION_BLOCK, "children"),
        Output("url", "search", allow_duplicate=True),
        Output(Ids.COLOUR, "options"),
        Output(Ids.COLOUR, "value"),
        Input(Ids.MODE, "value"),
        Input(Ids.COLOUR, "value"),
        Input(Ids.LABELS, "value"),
        Input(Ids.ERRORS, "value"),
        Input(Ids.LOSS, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_filters(mode, colour, labels, errors, loss, search):
        try:
            return update_filters(context, mode, colour, labels, errors, loss, search)
        except ExplainerError as error:
            return no_update, str(error), no_update, no_update, no_update, no_update

    app.clientside_callback(
        SELECTION_GEOMETRY_JS,
        Output(Ids.SELECTION, "data"),
        Input(Ids.GRAPH, "selectedData"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(Ids.SELECTION_BLOCK, "children", allow_duplicate=True),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.SELECTION, "data"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_selection(geometry, search):
        return update_selection(context, geometry, search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(Ids.GRAPH, "clickData"),
        Input(Ids.GRAPH, "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_click(click, search):
        if not click:
            return no_update, no_update
        return open_clicked_point(click, search)

    own_slices.register_save_bar(app, context, SECTION_KEY, examples_of_view)


SECTION_KEY = "embeddings"
SECTION = Section(
    key=SECTION_KEY,
    label="Embeddings",
    group=DATA,
    order=10,
    layout=layout,
    register=register,
    ids=Ids,
    view=EmbeddingsView,
)
