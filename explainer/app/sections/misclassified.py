"""Misclassified: every error, at word level (gold != predicted) or span level (span errors but correct, each
with its mean loss, confidence and sentence), or span errors grouped by surface form with counts.

Dropdown filters live in the URL (``mis_level``, ``mis_category``, ``mis_type``, ``mis_gold``,
``mis_pred``, ``mis_text``, ``mis_slice``: the span errors of a slice of the Slices section, as
``attribute=bucket;...``, and ``mis_own``: the errors in the examples of a slice you named), so the Metrics
and Slices sections can link here and a filtered view can be shared; the grid's own column filters narrow
further. A row opens the inspector on its example and word. "Save as slice" names the examples of the errors
listed (filters and column filters applied) as your own slice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.gridquery import ROW_REPEAT, check_row_request, filter_frame
from explainer.analysis.label_quality import read_label_quality
from explainer.analysis.labels import entity_type
from explainer.analysis.misclassified import (
    filter_span_errors,
    filter_word_errors,
    group_by_surface,
    misclassified_spans,
    misclassified_words,
    span_error_mask,
    span_scores,
    surface_forms,
    word_error_mask,
)
from explainer.analysis.slices import decode_conditions, errors_in_slice
from explainer.app.components import own_slices
from explainer.app.components.grid import column, grid_source, server_grid
from explainer.app.memo import per_cache, per_cache_lru
from explainer.app.sections.base import PERFORMANCE, Section, StrEnum, View, view_field
from explainer.app.state import build_query, parse_query, update_query
from explainer.cache import schema
from explainer.cache.artefacts import Missing
from explainer.cache.reader import compact_pandas
from explainer.cache.schema import CORRECT, ERROR_CATEGORIES
from explainer.errors import ExplainerError

LEVELS = ("word", "span", "surface")  # surface: span errors grouped by their text, with counts
SPAN_LEVELS = ("span", "surface")
SPAN_ONLY = ("category", "type", "slice_conditions")
GRIDS = {"word": "misclassified-words", "span": "misclassified-spans", "surface": "misclassified-surfaces"}
CATEGORIES = [category for category in ERROR_CATEGORIES if category != CORRECT]


class Ids(StrEnum):
    LEVEL = "misclassified-level"
    CATEGORY = "misclassified-category"
    TYPE = "misclassified-type"
    GOLD = "misclassified-gold"
    PRED = "misclassified-pred"
    TEXT = "misclassified-text"
    SUMMARY = "misclassified-summary"
    TABLE = "misclassified-table"
    GRID = "misclassified-grid"  # + a digest of the view: a new id mounts a fresh grid
    SLICE_NAME = "misclassified-slice-name"  # the "Save as slice" bar (components/own_slices.py)
    SLICE_SAVE = "misclassified-slice-save"
    SLICE_MESSAGE = "misclassified-slice-message"


@dataclass(frozen=True)
class MisclassifiedView(View, prefix="mis"):
    """Level and filters (None where unset); word-level views ignore the span-only filters."""

    level: str = view_field("word", choices=LEVELS)
    category: str | None = None
    type: str | None = None
    gold: str | None = None
    pred: str | None = None
    text: str | None = None
    slice_conditions: str | None = view_field(None, key="slice")  # a slice of the Slices section
    own: str | None = None  # a slice you named: the errors in its examples (every level)

    def corrections(self) -> dict[str, Any]:
        return dict.fromkeys(SPAN_ONLY) if self.level == "word" else {}


def word_errors(cache):
    """Every misclassified word with its context (and cleanlab's label-quality score when the cache has
    scores), built once per cache."""

    def compute():
        frame = cache.compact_table(schema.MISCLASSIFIED_WORDS, mapped_text=("context",))
        if frame is None:  # a cache built before the file
            frame = compact_pandas(misclassified_words(cache.words), text=("context",))
        scores = read_label_quality(cache)
        if scores is None:
            return frame
        offsets = cache.table("examples", ["example_id", "word_offset"]).set_index("example_id")["word_offset"]
        rows = offsets.reindex(frame["example_id"].to_numpy()).to_numpy(dtype=np.int64) + frame["word_index"].to_numpy()
        return frame.assign(label_quality=scores.words["label_quality"].to_numpy()[rows])

    return per_cache(cache, "misclassified-words", compute)


def span_errors(cache):
    """Every span error with its texts, mean loss and confidence over its words and its sentence, built once
    per cache."""

    def compute():
        spans = cache.compact_table(schema.MISCLASSIFIED_SPANS, skip=("row_id",))
        if spans is None:  # a cache built before the file
            spans = compact_pandas(misclassified_spans(cache.span_errors, cache.words).drop(columns="row_id"))
        # The row ids ("example:word", ":n" for the n-th other error starting there) are written per page from
        # this count (one byte a row) rather than kept as strings (11 MB at 1M subwords, read by every filter).
        repeat = spans.groupby(["example_id", "word_index"], sort=False).cumcount().to_numpy()
        spans = spans.assign(**{ROW_REPEAT: repeat.astype(np.int8 if repeat.max(initial=0) < 128 else np.int32)})
        scores = span_scores(spans, cache.table("words", ["example_id", "word_index", "loss", "prob_pred"]))
        sentence = sentences_of(cache.table("examples", ["example_id", "text"]), spans["example_id"].to_numpy())
        return pd.concat([spans.reset_index(drop=True), scores.reset_index(drop=True)], axis=1).assign(
            sentence=sentence
        )

    return per_cache(cache, "misclassified-spans-scored", compute)


def sentences_of(examples: pd.DataFrame, example_ids: np.ndarray) -> pd.Categorical:
    """The text of each example of ``example_ids`` (``examples``: ``example_id, text``), as a categorical over
    the distinct texts, sorted: a code per span error rather than a copy of its sentence (at 1M subwords
    the copies took ~100 MB per worker)."""
    codes, texts = pd.factorize(examples["text"], sort=True)
    of_example = pd.Series(codes, index=examples["example_id"].to_numpy())
    return pd.Categorical.from_codes(
        of_example.reindex(example_ids).fillna(-1).to_numpy(dtype=np.int64), categories=texts
    )


def filtered(cache, view: MisclassifiedView):
    """The errors of ``view``'s level that pass its filters (before the grid's own column filters)."""
    spans = filtered_spans(cache, view)
    if spans is not None:
        return group_by_surface(spans) if view.level == "surface" else spans
    words = filter_word_errors(word_errors(cache), gold=view.gold, pred=view.pred, text=view.text)
    return in_own_slice(cache, words, view.own)


def count_filtered(cache, view: MisclassifiedView) -> int:
    """``len(filtered(cache, view))`` at the word and span levels, counted on a mask: with a broad filter
    (gold ``O``) the rows it keeps were a copy of most of the table, their contexts read from the file."""
    if view.level == "surface" or (view.level == "span" and view.slice_conditions):
        return len(filtered(cache, view))
    if view.level == "span":
        rows = span_errors(cache)
        mask = span_error_mask(
            rows, category=view.category, entity=view.type, gold=view.gold, pred=view.pred, text=view.text
        )
    else:
        rows = word_errors(cache)
        mask = word_error_mask(rows, gold=view.gold, pred=view.pred, text=view.text)
    examples = own_slices.slice_examples(cache, view.own)
    if examples is not None:
        mask &= np.isin(rows["example_id"].to_numpy(dtype=np.int64), examples)
    return int(mask.sum())


def filtered_spans(cache, view: MisclassifiedView):
    """The span errors that pass ``view``'s filters (the surface level groups them); None at word level."""
    if view.level not in SPAN_LEVELS:
        return None
    spans = filter_span_errors(
        span_errors(cache), category=view.category, entity=view.type, gold=view.gold, pred=view.pred, text=view.text
    )
    if view.slice_conditions:
        spans = in_slice(cache, spans, view.slice_conditions)
    return in_own_slice(cache, spans, view.own)


def in_own_slice(cache, rows, name: str | None):
    """The rows of ``rows`` in the examples of your slice ``name`` (all rows without a name)."""
    examples = own_slices.slice_examples(cache, name)
    if examples is None:
        return rows
    return rows[np.isin(rows["example_id"].to_numpy(dtype=np.int64), examples)]


def examples_of_view(cache, state, requests) -> tuple[list[int], str]:
    """The examples of the errors the URL's view lists, the grid's column filters applied ("Save as slice")."""
    view = MisclassifiedView.from_query(state)
    request = requests.get(GRIDS[view.level]) or {}
    check_row_request(request, n_columns=64)
    spans = filtered_spans(cache, view)
    if view.level == "surface":
        # The grid lists surface forms: keep the span errors of the forms its column filters let through.
        kept = filter_frame(group_by_surface(spans), request.get("filterModel"))
        keys = ["surface", "category", "type"]
        spans = spans.assign(surface=surface_forms(spans)).merge(kept[keys].drop_duplicates(), on=keys)
        rows = spans
    else:
        rows = filter_frame(filtered(cache, view), request.get("filterModel"))
    return rows["example_id"].astype(int).tolist(), f"Misclassified filter ({view.level} level)"


def in_slice(cache, rows, conditions: str):
    """The span errors of ``rows`` that involve a span of the slice ``conditions`` (none without slices)."""
    results = cache.slices()
    if isinstance(results, Missing):
        return rows.iloc[:0]

    def members():
        # The slice's spans, kept for the grid's next page requests (each asks for the filtered rows again).
        # The mask from the coded spans Slices keeps, the rows' columns errors_in_slice reads from the file:
        # the whole span table is never held.
        mask = results.coded.mask(decode_conditions(conditions))
        return results.span_rows(mask, ["example_id", "side", "start", "end", "type"])

    return rows[errors_in_slice(rows, per_cache_lru(cache, "misclassified-slice", conditions, members, maxsize=8))]


@grid_source(GRIDS["word"])
def word_rows(cache, state):
    return filtered(cache, replace(MisclassifiedView.from_query(state), level="word"))


@grid_source(GRIDS["span"])
def span_rows(cache, state):
    return filtered(cache, replace(MisclassifiedView.from_query(state), level="span"))


@grid_source(GRIDS["surface"])
def surface_rows(cache, state):
    rows = filtered(cache, replace(MisclassifiedView.from_query(state), level="surface"))
    # a group opens its first error; the group's position keeps row ids unique
    return rows.assign(row_id=[f"{e}:{w}:{i}" for i, (e, w) in enumerate(zip(rows["example_id"], rows["word_index"]))])


def rows(cache, state):
    """The rows the grid of the URL's level starts from."""
    return filtered(cache, MisclassifiedView.from_query(state))


WORD_COLUMNS = [
    column("example_id", "example", number=True, width=100, flex=0),
    column("word_index", "#", number=True, width=70, flex=0),
    column("word"),
    column("gold"),
    column("pred", "predicted"),
    column("prob_pred", "p(predicted)", number=True, decimals=3),
    column("prob_gold", "p(gold)", number=True, decimals=3),
    column("loss", number=True, decimals=3, sort="desc"),
    column("context", flex=3),
]
LABEL_QUALITY_COLUMN = column("label_quality", "label quality", number=True, decimals=3)
SPAN_COLUMNS = [
    column("category"),
    column("type"),
    column("gold_text", "gold span", flex=2),
    column("pred_text", "predicted span", flex=2),
    column("gold_type", "gold type"),
    column("pred_type", "predicted type"),
    column("loss", "mean loss", number=True, decimals=3, sort="desc"),
    column("confidence", "p(predicted)", number=True, decimals=3),
    column("sentence", flex=4),
    column("example_id", "example", number=True, width=100, flex=0),
]
SURFACE_COLUMNS = [
    column("surface", "surface form", flex=2),
    column("category"),
    column("type"),
    column("count", "errors", number=True, width=100, sort="desc"),
    column("loss", "mean loss", number=True, decimals=3),
    column("confidence", "p(predicted)", number=True, decimals=3),
    column("sentence", "first sentence", flex=4),
    column("example_id", "first example", number=True, width=120, flex=0),
]


def grid_block(view: MisclassifiedView, *, scored: bool = False) -> html.Div:
    """The grid of ``view``'s level. Its wrapper's id changes with the filters: Dash keys components by
    id, so a new id mounts a fresh grid, which asks the server for rows filtered the new way."""
    digest = hashlib.sha1(build_query(view.to_query()).encode("utf-8")).hexdigest()[:10]
    columns = {"span": SPAN_COLUMNS, "surface": SURFACE_COLUMNS}.get(view.level, WORD_COLUMNS)
    if scored and view.level == "word":  # cleanlab's scores, when the cache was built with them
        columns = [*columns[:-1], LABEL_QUALITY_COLUMN, columns[-1]]
    return html.Div(server_grid(GRIDS[view.level], columns), id=f"{Ids.GRID}-{digest}")


def label_options(cache, level: str) -> list[dict]:
    """Gold/predicted choices: entity types at span level; at word level every label plus each type
    (a type matches its B- and I- labels)."""
    types = list(cache.metrics.get("entity_types", []))
    options = [{"label": f"{name} (any)" if level == "word" else name, "value": name} for name in types]
    if level == "word":
        options += [{"label": label, "value": label} for label in cache.labels]
    return options


def summary(cache, view: MisclassifiedView) -> str:
    total = len(span_errors(cache) if view.level in SPAN_LEVELS else word_errors(cache))
    if view.level == "surface":
        groups = filtered(cache, view)
        return f"{int(groups['count'].sum()):,} of {total:,} span errors match these filters, in {len(groups):,} surface forms"
    shown = count_filtered(cache, view)
    noun = "span errors" if view.level == "span" else "misclassified words"
    among = f" in the examples of your slice {view.own!r}" if view.own else ""
    if view.level == "span" and view.slice_conditions:
        from explainer.analysis.slice_attributes import describe_slice

        group = describe_slice(decode_conditions(view.slice_conditions), "")
        return f"{shown:,} of {total:,} {noun} match these filters, among {group} (a slice){among}"
    return f"{shown:,} of {total:,} {noun} match these filters{among}"


def _dropdown(ident: Ids, placeholder: str, options: list, value, *, disabled: bool = False) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=ident,
        options=options,
        value=value,
        placeholder=placeholder,
        clearable=True,
        disabled=disabled,
        style={"minWidth": "170px"},
        className="me-2",
    )


def layout(cache, state):
    view = MisclassifiedView.from_query(state)
    span_level = view.level in SPAN_LEVELS
    controls = html.Div(
        [
            dbc.RadioItems(
                id=Ids.LEVEL,
                value=view.level,
                inline=True,
                className="me-3",
                options=[
                    {"label": "words", "value": "word"},
                    {"label": "spans", "value": "span"},
                    {"label": "spans by surface form", "value": "surface"},
                ],
            ),
            _dropdown(Ids.CATEGORY, "error category", CATEGORIES, view.category, disabled=not span_level),
            _dropdown(
                Ids.TYPE, "span type", list(cache.metrics.get("entity_types", [])), view.type, disabled=not span_level
            ),
            _dropdown(Ids.GOLD, "gold", label_options(cache, view.level), view.gold),
            _dropdown(Ids.PRED, "predicted", label_options(cache, view.level), view.pred),
            dbc.Input(
                id=Ids.TEXT,
                value=view.text or "",
                placeholder="text contains",
                debounce=True,
                size="sm",
                style={"maxWidth": "200px"},
            ),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )
    return html.Div(
        [
            html.P(
                "Every error. Words: gold label differs from predicted. Spans: every span error but correct. Filter "
                "with the controls (kept in the URL) or the column headers; click a row to inspect its example.",
                className="text-muted small",
            ),
            controls,
            own_slices.missing_note(cache, view.own),
            html.P(summary(cache, view), id=Ids.SUMMARY, className="small"),
            own_slices.save_bar(SECTION_KEY, what="the examples of the errors listed"),
            html.Div(grid_block(view, scored=read_label_quality(cache) is not None), id=Ids.TABLE),
        ]
    )


def update_filters(context, level, category, entity, gold, pred, text, search, *, trigger=None):
    """Callback body: apply the controls and write them to the URL.

    Returns the grid block, the summary, the URL, the gold/predicted options and values and whether
    the span-only dropdowns are disabled. Switching level turns gold/predicted labels into their
    entity types (``B-PER`` -> ``PER``) at span level, where labels mean nothing.
    """
    level = level if level in LEVELS else "word"
    if trigger == Ids.LEVEL and level in SPAN_LEVELS:
        gold, pred = (_span_value(gold), _span_value(pred))
    view = MisclassifiedView(
        level=level,
        category=category,
        type=entity,
        gold=gold,
        pred=pred,
        text=(text or "").strip() or None,
        # No control holds the slices: they stay while the other filters change (the word level drops the
        # build's, whose conditions are on spans; your own slice is of examples and holds at every level).
        slice_conditions=MisclassifiedView.from_query(parse_query(search)).slice_conditions,
        own=MisclassifiedView.from_query(parse_query(search)).own,
    )
    new_search = update_query(search, **view.to_query())
    disabled = level not in SPAN_LEVELS
    if trigger != Ids.LEVEL and view == MisclassifiedView.from_query(parse_query(search)):  # echoing the URL
        return (no_update,) * 9
    try:
        cache = context.cache(search)
        options = label_options(cache, level)
        block = grid_block(view, scored=read_label_quality(cache) is not None)
        return (block, summary(cache, view), new_search, options, options, gold, pred, disabled, disabled)
    except ExplainerError as error:
        return (dbc.Alert(str(error), color="danger"), "", no_update, [], [], gold, pred, disabled, disabled)


def _span_value(value: str | None) -> str | None:
    kind = entity_type(value)
    return None if kind in (None, "", "O") else kind


def register(app, context):
    @app.callback(
        Output(Ids.TABLE, "children"),
        Output(Ids.SUMMARY, "children"),
        Output("url", "search", allow_duplicate=True),
        Output(Ids.GOLD, "options"),
        Output(Ids.PRED, "options"),
        Output(Ids.GOLD, "value"),
        Output(Ids.PRED, "value"),
        Output(Ids.CATEGORY, "disabled"),
        Output(Ids.TYPE, "disabled"),
        Input(Ids.LEVEL, "value"),
        Input(Ids.CATEGORY, "value"),
        Input(Ids.TYPE, "value"),
        Input(Ids.GOLD, "value"),
        Input(Ids.PRED, "value"),
        Input(Ids.TEXT, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_filters(level, category, entity, gold, pred, text, search):
        # Dash also calls this when the controls mount, listing every input: that is no user action.
        trigger = dash.ctx.triggered_id if len(dash.ctx.triggered) == 1 else None
        return update_filters(context, level, category, entity, gold, pred, text, search, trigger=trigger)

    own_slices.register_save_bar(app, context, SECTION_KEY, examples_of_view)


SECTION_KEY = "misclassified"
SECTION = Section(
    key=SECTION_KEY,
    label="Misclassified",
    group=PERFORMANCE,
    order=20,
    layout=layout,
    register=register,
    ids=Ids,
    view=MisclassifiedView,
)
