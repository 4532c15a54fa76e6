"""Find duplicates: repeated and near-duplicate examples, label inconsistencies first, and leakage.

Exact duplicates (same words after normalising case and whitespace) form groups; near duplicates
are pairs whose example embeddings have a cosine similarity at or above the slider's threshold.
Groups whose members are labelled differently, and pairs whose shared words are labelled
differently, come first: they are annotation inconsistencies. Given another cache of the root
("compare with"), the examples of this one that also occur there are listed (leakage).

The costly part (the neighbour search, at the lowest threshold) is done by the build (step
``duplicates``; once per worker for an older cache); the slider only filters. URL parameters:
``dup_threshold``, ``dup_only`` (inconsistencies only), ``dup_page``, ``dup_with`` (the other cache's key).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis import duplicates as dup
from explainer.app.components.aligned import CONFLICT, UNMATCHED, aligned_blocks, open_sample, page_bar
from explainer.app.components.grid import client_csv_button
from explainer.app.components.wording import counted
from explainer.app.memo import per_cache, per_cache_lru
from explainer.app.sections.base import DATA, Section, StrEnum, View, view_field
from explainer.app.state import parse_query, update_query
from explainer.cache.artefacts import DuplicateFindings, Missing
from explainer.errors import ExplainerError
from explainer.pipeline.duplicates import EXAMPLE_COLUMNS, find_duplicates

PER_PAGE = 10  # cards per page: 20 held the main thread ~340 ms on opening the tab (bench/browser_tabs.py)
RENDERED_PAGES = 4
STEP = 0.01
MAX_LEAK_ROWS = 5_000


class Ids(StrEnum):
    THRESHOLD = "duplicates-threshold"
    ONLY = "duplicates-only"
    PAGE = "duplicates-page"
    NO_EMBEDDINGS = "duplicates-no-embeddings"
    SUMMARY = "duplicates-summary"
    CARDS = "duplicates-cards"
    OPEN = "duplicates-open"  # the type of the Inspect buttons' ids: {type, card, example}
    WITH = "duplicates-with"  # the other cache
    LEAK = "duplicates-leak"
    LEAK_SUMMARY = "duplicates-leak-summary"
    LEAKS = "duplicates-leaks"  # the grid of leaked examples


def _snapped(threshold: float) -> float:
    """``threshold`` on the slider's steps."""
    return round(round(threshold / STEP) * STEP, 2)


@dataclass(frozen=True)
class DuplicatesView(View, prefix="dup"):
    """Threshold (on the slider's steps, within its range), inconsistencies only, page, the other cache.
    A field at its default stays out of the URL."""

    threshold: float = view_field(
        dup.DEFAULT_THRESHOLD,
        low=dup.LOWEST_THRESHOLD,
        high=1.0,
        format=lambda value: None if value == dup.DEFAULT_THRESHOLD else f"{value:.2f}",
    )
    only: bool = view_field(False, format=lambda value: "1" if value else None)
    page: int = view_field(1, low=1, format=lambda value: str(value) if value > 1 else None)
    other: str | None = view_field(None, key="with")

    def corrections(self) -> dict[str, Any]:
        threshold = dup.DEFAULT_THRESHOLD if self.threshold is None else _snapped(self.threshold)
        return {} if threshold == self.threshold else {"threshold": threshold}


# --- data, once per cache ----------------------------------------------------------------------


def example_embeddings(cache) -> np.ndarray | None:
    """The cache's example embeddings (memory-mapped), or None when it was built without them."""
    found = cache.example_embeddings()
    return None if isinstance(found, Missing) else found


def index(cache) -> DuplicateFindings:
    """Exact groups and near pairs at the lowest threshold: as the build stored them, or computed once per
    cache for a cache built before the ``duplicates`` step."""

    def load() -> DuplicateFindings:
        stored = cache.duplicate_findings()
        return find_duplicates(cache) if isinstance(stored, Missing) else stored

    return per_cache(cache, "duplicates-index", load)


def near_pairs(cache, threshold: float):
    """Near-duplicate pairs at ``threshold``: a filter of those at the lowest threshold (the cache must
    have example embeddings: see ``index(cache).has_embeddings``)."""
    every = index(cache).near
    if every is None:
        raise ExplainerError(f"cache {cache.path} has no example embeddings, hence no near duplicates")
    return every[every["similarity"] >= threshold - 1e-6]


def example_rows(cache, example_ids, page_rows=None):
    """The examples with these ids (columns of ``EXAMPLE_COLUMNS``), in that order: from ``page_rows``
    (the rows of a whole page, read at once) or else read by row group."""
    if page_rows is None:
        page_rows = cache.example_rows("examples", list(example_ids), EXAMPLE_COLUMNS)
    return dup.example_rows(page_rows, example_ids)


def same_model(cache, other) -> bool:
    """Whether two caches come from the same model weights (so their embeddings are comparable)."""
    mine, theirs = cache.manifest.get("model", {}), other.manifest.get("model", {})
    if mine.get("files_sha256") and theirs.get("files_sha256"):
        return mine["files_sha256"] == theirs["files_sha256"]
    return (mine.get("id"), mine.get("revision"), mine.get("hidden_size")) == (
        theirs.get("id"),
        theirs.get("revision"),
        theirs.get("hidden_size"),
    )


def leaked(cache, other, threshold: float):
    """Examples of ``cache`` also found in ``other`` (memoised per pair of caches and threshold)."""
    comparable = same_model(cache, other)
    key = f"duplicates-leak-{other.path}-{other.manifest.get('created')}-{threshold:.2f}-{comparable}"
    return per_cache(
        cache,
        key,
        lambda: dup.leakage(
            cache.table("examples", EXAMPLE_COLUMNS),
            other.table("examples", EXAMPLE_COLUMNS),
            threshold=threshold,
            evaluation_embeddings=example_embeddings(cache) if comparable else None,
            training_embeddings=example_embeddings(other) if comparable else None,
        ),
    )


def _finding_blocks(cache, view: DuplicatesView) -> list[tuple[str, pd.DataFrame]]:
    """The findings of ``view`` as consecutive blocks ``(kind, frame)`` in the order shown."""
    groups = index(cache).groups
    pairs = near_pairs(cache, view.threshold) if index(cache).has_embeddings else None
    blocks = []
    for inconsistent in (True, False):
        if view.only and not inconsistent:
            break
        blocks.append(("exact", groups[groups["inconsistent"] == inconsistent]))
        if pairs is not None:
            blocks.append(("near", pairs[pairs["inconsistent"] == inconsistent]))
    return blocks


def findings(cache, view: DuplicatesView, start: int = 0, stop: int | None = None) -> list[dict]:
    """Exact groups and near pairs in the order shown (label inconsistencies first), items
    ``start:stop`` of them (only those are turned into dicts: a page of a long list stays cheap).

    Each finding is ``{"kind": "exact", "group": row}`` or ``{"kind": "near", "pair": row}``.
    """
    items: list[dict] = []
    offset = 0
    for kind, frame in _finding_blocks(cache, view):
        low, high = max(start - offset, 0), len(frame) if stop is None else min(stop - offset, len(frame))
        offset += len(frame)
        if high > low:
            items += [
                {"kind": kind, "group" if kind == "exact" else "pair": row}
                for row in frame.iloc[low:high].to_dict("records")
            ]
    return items


def count_findings(cache, view: DuplicatesView) -> int:
    return sum(len(frame) for _, frame in _finding_blocks(cache, view))


def summary(cache, view: DuplicatesView) -> str:
    groups = index(cache).groups
    repeats = int(groups["size"].sum() - len(groups)) if len(groups) else 0
    members = int(groups["size"].sum()) if len(groups) else 0
    text = (
        f"{counted(len(groups), 'group')} of exact duplicates ({counted(members, 'example')}, "
        f"{counted(repeats, 'repeat')}), {int(groups['inconsistent'].sum()):,} of them labelled inconsistently"
    )
    if index(cache).has_embeddings:
        pairs = near_pairs(cache, view.threshold)
        text += (
            f"; {counted(len(pairs), 'near-duplicate pair')} at cosine ≥ {view.threshold:.2f}, "
            f"{int(pairs['inconsistent'].sum()):,} with conflicting labels."
        )
    else:
        text += "."
    return text


# --- rendering ---------------------------------------------------------------------------------


def open_id(card: int, example_id: int) -> dict:
    """Id of an Inspect button (one example can appear in several cards, hence the card number)."""
    return {"type": Ids.OPEN, "card": card, "example": int(example_id)}


def _open_button(card: int, example_id: int):
    return dbc.Button(
        f"#{example_id}",
        id=open_id(card, example_id),
        size="sm",
        color="link",
        className="p-0 me-2",
        title="open in the inspector",
    )


def words_table(words, rows: list[tuple[str, list, set]], *, unmatched: Collection[int] = frozenset()) -> html.Div:
    """Words over one or more label rows: ``rows = [(header, tags, conflicting positions), ...]``.

    Drawn as the aligned rows of Samples by loss are (word blocks that wrap into lines, filled in the
    browser from one attribute: ``components/aligned.py``); conflicting labels and words without a
    counterpart in the other example carry the classes ``conflict`` and ``unmatched``.
    """
    blocks = [
        [
            str(word),
            UNMATCHED if i in unmatched else "",
            [[[str(tags[i]), CONFLICT if i in conflicts else ""] for _, tags, conflicts in rows]],
        ]
        for i, word in enumerate(words)
    ]
    return aligned_blocks(["word", *(header for header, _, _ in rows)], blocks, class_name="duplicate-words")


def group_card(cache, group: dict, card: int, page_rows=None) -> dbc.Card:
    """An exact-duplicate group: its words once, each distinct gold label sequence below them."""
    members = example_rows(cache, group["example_ids"], page_rows)
    variants = dup.label_variants(members, group["example_ids"])
    first_tags = variants[0][0]
    rows, owners = [], []
    for number, (tags, ids) in enumerate(variants, start=1):
        differing = {i for i, (tag, base) in enumerate(zip(tags, first_tags)) if tag != base}
        rows.append((f"gold {number} (×{len(ids)})", tags, differing))
        shown = [_open_button(card, example_id) for example_id in ids[:8]]
        more = f" and {len(ids) - 8} more" if len(ids) > 8 else ""
        owners.append(
            html.Div([html.Span(f"gold {number}: ", className="text-muted me-1"), *shown, more], className="small")
        )
    words = members["words"].iloc[0]
    badges = [dbc.Badge(f"exact ×{group['size']}", color="secondary", className="me-2")]
    if group["inconsistent"]:
        badges.append(dbc.Badge(f"{group['variants']} different labellings", color="danger", className="me-2"))
    return dbc.Card(
        [dbc.CardHeader(badges), dbc.CardBody([words_table(words, rows), *owners], className="p-2")],
        className="mb-3 duplicate-card duplicate-exact" + (" duplicate-inconsistent" if group["inconsistent"] else ""),
    )


def pair_card(cache, pair: dict, card: int, page_rows=None) -> dbc.Card:
    """A near-duplicate pair side by side, aligned words labelled differently in red."""
    a, b = (row for _, row in example_rows(cache, [pair["a"], pair["b"]], page_rows).iterrows())
    aligned = dup.aligned_positions(a["words"], b["words"])
    conflicts = dup.label_conflicts(a["words"], a["gold_tags"], b["words"], b["gold_tags"], aligned=aligned)
    matched_a, matched_b = {i for i, _ in aligned}, {j for _, j in aligned}
    sides = []
    for example_id, row, conflict_positions, matched in (
        (pair["a"], a, {i for i, _ in conflicts}, matched_a),
        (pair["b"], b, {j for _, j in conflicts}, matched_b),
    ):
        unmatched = set(range(len(row["words"]))) - matched
        sides.append(
            dbc.Col(
                [
                    html.Div(["example ", _open_button(card, example_id)], className="small"),
                    words_table(
                        row["words"], [("gold", list(row["gold_tags"]), conflict_positions)], unmatched=unmatched
                    ),
                ],
                md=6,
            )
        )
    badges = [dbc.Badge(f"near · cosine {pair['similarity']:.3f}", color="info", className="me-2")]
    if pair["inconsistent"]:
        badges.append(dbc.Badge(f"{counted(pair['conflicts'], 'shared word')} labelled differently", color="danger"))
    return dbc.Card(
        [dbc.CardHeader(badges), dbc.CardBody(dbc.Row(sides), className="p-2")],
        className="mb-3 duplicate-card duplicate-near" + (" duplicate-inconsistent" if pair["inconsistent"] else ""),
    )


def page_of_findings(cache, view: DuplicatesView) -> tuple[list, int, int]:
    """(cards, page, n_pages) of the findings of ``view``; the last ``RENDERED_PAGES`` are kept per cache
    (the tab opens on the URL's page, mostly the first: its examples' row groups are often no longer in
    memory by then)."""
    return per_cache_lru(
        cache,
        "duplicates-rendered",
        (view.threshold, view.only, view.page),
        lambda: _page_of_findings(cache, view),
        maxsize=RENDERED_PAGES,
    )


def _page_of_findings(cache, view: DuplicatesView) -> tuple[list, int, int]:
    n_pages = max(1, math.ceil(count_findings(cache, view) / PER_PAGE))
    page = min(view.page, n_pages)
    start = (page - 1) * PER_PAGE
    items = findings(cache, view, start, start + PER_PAGE)
    # One read (and one conversion) for every example the page shows.
    shown = {
        int(i)
        for item in items
        for i in (item["group"]["example_ids"] if item["kind"] == "exact" else (item["pair"]["a"], item["pair"]["b"]))
    }
    rows = cache.example_rows("examples", sorted(shown), EXAMPLE_COLUMNS) if shown else None
    cards = [
        group_card(cache, item["group"], start + n, rows)
        if item["kind"] == "exact"
        else pair_card(cache, item["pair"], start + n, rows)
        for n, item in enumerate(items)
    ]
    if not cards:
        cards = [
            dbc.Alert(
                "No duplicates at this threshold."
                if not view.only
                else "No label inconsistencies among the duplicates at this threshold.",
                color="secondary",
            )
        ]
    return cards, page, n_pages


# Whole sentences, wrapped in their cell (rows grow to fit) rather than cut at the column's width.
WRAPPED = {
    "wrapText": True,
    "autoHeight": True,
    "minWidth": 180,
    "cellStyle": {"lineHeight": "1.35", "padding": "4px 8px"},
}


def with_match_text(other, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` of the leakage table with ``match_text``: the text of a near match in ``other`` (an exact
    match's is the example's own; blank)."""
    near = rows["kind"] == "near"
    ids = sorted({int(i) for i in rows.loc[near, "match_id"]})
    texts = other.example_rows("examples", ids, ["example_id", "text"]).set_index("example_id")["text"] if ids else {}
    return rows.assign(match_text=rows["match_id"].map(texts).where(near, "").fillna(""))


def leak_block(context, cache, view: DuplicatesView):
    """What ``view.other`` names: the examples of this cache that also occur in that one."""
    if not view.other:
        return html.P(
            "Choose another cache of the same root (e.g. the training split next to this test split) to "
            "list this cache's examples that also occur there.",
            className="text-muted small",
        )
    other = context.registry.get(view.other)
    frame = leaked(cache, other, view.threshold)
    exact = frame[frame["kind"] == "exact"]
    n_examples = int(cache.manifest["counts"]["examples"])
    text = (
        f"{len(frame):,} of the {counted(n_examples, 'example')} of this cache also occur in "
        f"{other.describe()}: {len(exact):,} exactly "
        f"({counted(exact['text'].str.casefold().nunique(), 'distinct text')}), "
        f"{len(frame) - len(exact):,} nearly (cosine ≥ {view.threshold:.2f})."
    )
    if not same_model(cache, other):
        text += " The two caches come from different models, so only exact matches are compared."
    rows = with_match_text(other, frame.head(MAX_LEAK_ROWS).assign(row_id=lambda f: f["example_id"].astype(str)))
    grid = dag.AgGrid(
        id=Ids.LEAKS,
        rowData=rows.to_dict("records"),
        columnDefs=[
            {"field": "example_id", "headerName": "example", "width": 110, "flex": 0},
            {"field": "text", "flex": 4, **WRAPPED},
            # A near match's own text, beside this one's (an exact match's is the same): shown when there are some.
            {"field": "match_text", "headerName": "text there", "flex": 4, "hide": not (rows["kind"] == "near").any()}
            | WRAPPED,
            {"field": "kind", "width": 80, "flex": 0},
            {
                "field": "similarity",
                "headerName": "cosine",
                "width": 95,
                "flex": 0,
                "valueFormatter": {"function": "d3.format('.3f')(params.value)"},
            },
            {"field": "match_id", "headerName": "match there", "width": 95, "flex": 0},
            {"field": "matches", "headerName": "copies there", "width": 95, "flex": 0},
            {"field": "same_labels", "headerName": "same labels", "width": 95, "flex": 0},
        ],
        defaultColDef={
            "sortable": True,
            "filter": True,
            "resizable": True,
            "flex": 1,
            "wrapHeaderText": True,  # "copies there" in two lines rather than cut
            "autoHeaderHeight": True,
        },
        csvExportParams={"fileName": "leakage.csv"},
        dashGridOptions={
            "getRowId": {"function": "params.data.row_id"},
            "suppressCellFocus": True,
            "pagination": True,
            "paginationPageSize": 20,
            "paginationPageSizeSelector": False,
        },
        style={"height": "480px", "width": "100%"},
    )
    return html.Div([html.P(text, id=Ids.LEAK_SUMMARY, className="small"), client_csv_button(Ids.LEAKS), grid])


def other_caches(context, cache) -> list[dict]:
    """Dropdown options: every other cache of the root (marked when its model differs)."""
    options = []
    for option in context.registry.options():
        if option["value"] == Path(cache.path).name:
            continue
        try:
            other = context.registry.get(option["value"])
            label = option["label"] + ("" if same_model(cache, other) else " (other model: exact matches only)")
        except ExplainerError:
            continue
        options.append({"label": label, "value": option["value"]})
    return options


def layout(cache, state, context=None):
    view = DuplicatesView.from_query(state)
    cards, page, n_pages = page_of_findings(cache, view)
    note = None
    if not index(cache).has_embeddings:
        note = dbc.Alert(
            [
                "This cache has no example embeddings, so only exact duplicates are listed. Rebuild it "
                "with a current explainer to find near duplicates: ",
                html.Code(cache.command),
            ],
            color="warning",
            className="small",
            id=Ids.NO_EMBEDDINGS,
        )
    marks = {value: f"{value:.2f}" for value in (0.8, 0.85, 0.9, 0.95, 1.0)}
    controls = html.Div(
        [
            html.Span("cosine similarity at least", className="small me-2"),
            html.Div(
                dcc.Slider(
                    id=Ids.THRESHOLD,
                    min=dup.LOWEST_THRESHOLD,
                    max=1.0,
                    step=STEP,
                    value=view.threshold,
                    marks=marks,
                    tooltip={"placement": "bottom"},
                    disabled=not index(cache).has_embeddings,
                    updatemode="mouseup",
                ),
                style={"width": "320px"},
                className="me-4",
            ),
            dbc.Switch(id=Ids.ONLY, label="label inconsistencies only", value=view.only, className="me-4"),
            page_bar(Ids.PAGE, n_pages=n_pages, page=page, class_name="mb-0"),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )
    return html.Div(
        [
            html.P(
                "Repeated examples (same words ignoring case and spacing) and near duplicates (cosine similarity of "
                "the example embeddings). Duplicates labelled differently come first, red where labels disagree: "
                "they are annotation inconsistencies.",
                className="text-muted small",
            ),
            note,
            controls,
            html.P(summary(cache, view), id=Ids.SUMMARY, className="small"),
            # A spinner when a page takes over 300 ms to come (a cold read, a loaded server).
            dcc.Loading(html.Div(cards, id=Ids.CARDS), delay_show=300),
            html.H5("Across caches (leakage)", className="mt-4"),
            dcc.Dropdown(
                id=Ids.WITH,
                # The options come with the value: a dropdown clears a value its options lack (a shared link's
                # dup_with would be dropped before the callback filled them).
                options=[] if context is None else other_caches(context, cache),
                value=view.other,
                placeholder="compare with cache…",
                clearable=True,
                style={"maxWidth": "520px"},
                className="mb-2",
            ),
            html.Div(id=Ids.LEAK),
        ]
    )


# --- callback bodies ---------------------------------------------------------------------------


def update_findings(context, threshold, only, page, search, *, trigger=None):
    """Slider, switch or page changed: the cards, summary, pagination and URL (page 1 on a new filter)."""
    current = DuplicatesView.from_query(parse_query(search))
    view = replace(
        current,
        threshold=dup.DEFAULT_THRESHOLD if threshold is None else threshold,
        only=bool(only),
        page=page if trigger == Ids.PAGE else 1,
    )
    if trigger is None or (view.threshold, view.only) == (current.threshold, current.only) and trigger != Ids.PAGE:
        return (no_update,) * 5
    cache = context.cache(search)
    cards, page, n_pages = page_of_findings(cache, view)
    new_search = update_query(search, **replace(view, page=page).to_query())
    return cards, summary(cache, view), page, n_pages, new_search


def update_leak(context, other_key, threshold, search):
    """The other cache or the threshold changed: options, leakage block, and the URL's ``dup_with``."""
    cache = context.cache(search)
    options = other_caches(context, cache)
    keys = {option["value"] for option in options}
    current = replace(DuplicatesView.from_query(parse_query(search)), other=other_key if other_key in keys else None)
    view = current if threshold is None else replace(current, threshold=threshold)  # the slider's, not yet in the URL
    new_search = update_query(search, **{DuplicatesView.key("other"): current.other})
    return options, leak_block(context, cache, view), new_search if new_search != (search or "") else no_update


def register(app, context):
    @app.callback(
        Output(Ids.CARDS, "children"),
        Output(Ids.SUMMARY, "children"),
        Output(Ids.PAGE, "active_page"),
        Output(Ids.PAGE, "max_value"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.THRESHOLD, "value"),
        Input(Ids.ONLY, "value"),
        Input(Ids.PAGE, "active_page"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_findings(threshold, only, page, search):
        # Dash also calls this when the controls mount, listing every input: that is no user action.
        trigger = dash.ctx.triggered_id if len(dash.ctx.triggered) == 1 else None
        return update_findings(context, threshold, only, page, search, trigger=trigger)

    @app.callback(
        Output(Ids.WITH, "options"),
        Output(Ids.LEAK, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.WITH, "value"),
        Input(Ids.THRESHOLD, "value"),
        State("url", "search"),
        prevent_initial_call="initial_duplicate",
    )
    def on_leak(other_key, threshold, search):
        try:
            return update_leak(context, other_key, threshold, search)
        except ExplainerError as error:
            return no_update, dbc.Alert(str(error), color="danger"), no_update

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input({"type": Ids.OPEN, "card": ALL, "example": ALL}, "n_clicks"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_open(_clicks, search):
        return open_sample(search, dash.ctx.triggered, key="example")  # ids: {type, card, example}

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(Ids.LEAKS, "cellClicked"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_leak_row(click, search):
        row_id = (click or {}).get("rowId")
        try:
            return update_query(search, sample=int(row_id), word=None)
        except (TypeError, ValueError):
            return no_update


SECTION = Section(
    key="duplicates",
    label="Find duplicates",
    group=DATA,
    order=20,
    layout=layout,
    register=register,
    ids=Ids,
    view=DuplicatesView,
    layout_needs_context=True,
)
