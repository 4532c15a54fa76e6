"""Data map: how the model learnt each training example (or gold span) — Dataset Cartography.

Each point is an example (or a gold span) of the model's own training data: its *confidence* (the mean
probability of the gold label over the training epochs) against its *variability* (their standard
deviation), coloured by region: easy to learn, ambiguous, hard to learn. Label errors gather in the
hard-to-learn corner, and below it the lowest *margins* (AUM) are listed, the likeliest errors first.
A click on a point opens it in the inspector. The map comes from the build step ``training_dynamics``
(explainer/pipeline/dynamics.py); without it the section says how to record the dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from explainer.analysis.dynamics import AMBIGUOUS_VARIABILITY, EASY_CONFIDENCE
from explainer.app.components.aligned import example_cards, register_open_buttons
from explainer.app.memo import per_cache
from explainer.app.sections.base import DATA, Section, StrEnum, View, view_field
from explainer.app.state import update_query
from explainer.cache.artefacts import Missing, TrainingDynamics
from explainer.figures.dynamics import data_map_figure, hover_text
from explainer.figures.embeddings import parse_point_id

LEVELS = {"examples": "examples", "spans": "gold spans"}
LOWEST = 10  # the lowest-margin points listed under the map


class Ids(StrEnum):
    LEVEL = "data_map-level"
    GRAPH = "data_map-graph"
    LOWEST = "data_map-lowest"


@dataclass(frozen=True)
class DataMapView(View, prefix="dmap"):
    level: str = view_field("examples", choices=tuple(LEVELS))


def points(cache: Any, found: TrainingDynamics, level: str) -> pd.DataFrame:
    """The map's points at ``level``: the statistics, region, escaped hover text and point id (example:word)."""

    def compute() -> pd.DataFrame:
        if level == "spans":
            frame = found.spans.copy()
            text = frame["text"] if "text" in frame else pd.Series([""] * len(frame), index=frame.index)
            frame["hover"] = [
                f"example {e}: {hover_text(str(t))} ({hover_text(str(k))})"
                for e, t, k in zip(frame["example_id"], text, frame["type"])
            ]
            frame["point_id"] = [f"{e}:{s}" for e, s in zip(frame["example_id"], frame["start"])]
            return frame
        frame = found.examples.copy()
        texts = cache.table("examples", ["example_id", "text"]).set_index("example_id")["text"]
        frame["hover"] = [f"example {e}: {hover_text(str(texts.get(e, '')))}" for e in frame["example_id"]]
        frame["point_id"] = [f"{e}:-1" for e in frame["example_id"]]
        return frame

    result: pd.DataFrame = per_cache(cache, f"data-map-points-{level}", compute)
    return result


def caption(found: TrainingDynamics) -> str:
    info = found.info
    return (
        f"{info.get('matched_examples', len(found.examples)):,} of the cache's {info.get('examples', '?'):,} examples "
        f"were in the model's training data; {info.get('epochs', '?')} epochs recorded from the "
        f"training passes. Ambiguous: variability ≥ {AMBIGUOUS_VARIABILITY}; otherwise easy to learn with "
        f"confidence ≥ {EASY_CONFIDENCE}, else hard to learn."
    )


def lowest_margin(cache: Any, frame: pd.DataFrame, level: str, *, limit: int = LOWEST) -> list[Any]:
    """The ``limit`` lowest-margin points as example cards, each under its numbers (likeliest label errors)."""
    chosen = frame.sort_values(["margin", "example_id"], kind="stable").head(limit)
    if chosen.empty:
        return []
    first = chosen.drop_duplicates("example_id")
    cards = example_cards(cache, first["example_id"].tolist(), section_key=SECTION.key)
    body: list[Any] = [
        html.H5(f"Lowest margin first ({LEVELS[level]})", className="mt-3"),
        html.P(
            "The margin is the gold label's probability minus the largest other one, averaged over the "
            "training epochs (area under the margin): below zero, another label kept winning while the model "
            "was trained on the gold one. Inspect opens an example.",
            className="text-muted small",
        ),
    ]
    for row, card in zip(first.itertuples(index=False), cards):
        what = f"“{row.text}” ({row.type}), " if level == "spans" and hasattr(row, "text") else ""
        body.append(
            html.Div(
                f"{what}margin {row.margin:+.2f} · confidence {row.confidence:.2f} · "
                f"variability {row.variability:.2f} · {row.region}",
                className="small text-muted data-map-lowest-line",
            )
        )
        body.append(card)
    return body


def content(cache: Any, view: DataMapView) -> tuple[Any, list[Any]]:
    """The figure and the lowest-margin list of ``view`` (the cache has dynamics)."""
    found = cache.training_dynamics()
    frame = points(cache, found, view.level)
    figure = data_map_figure(frame, title=f"Data map of the training {LEVELS[view.level]}")
    return figure, lowest_margin(cache, frame, view.level)


def layout(cache: Any, state: dict[str, str]) -> html.Div:
    found = cache.training_dynamics()
    if isinstance(found, Missing):
        return html.Div(dbc.Alert(found.reason, color="secondary", className="data-map-missing"))
    view = DataMapView.from_query(state)
    figure, lowest = content(cache, view)
    return html.Div(
        [
            html.P(
                "How the model learnt each training example while it was trained on it: confidence (mean "
                "probability of the gold label over the epochs) against variability (its standard deviation). "
                "Label errors gather among the hard to learn (low confidence, low variability); click a point to "
                "inspect it.",
                className="text-muted small",
            ),
            html.P(caption(found), className="text-muted small"),
            dbc.RadioItems(
                id=Ids.LEVEL,
                options=[{"label": label, "value": value} for value, label in LEVELS.items()],
                value=view.level,
                inline=True,
                className="mb-2",
            ),
            dcc.Graph(id=Ids.GRAPH, figure=figure, config={"displaylogo": False}),
            html.Div(lowest, id=Ids.LOWEST),
        ]
    )


def level_changed(context: Any, level: str | None, search: str | None) -> tuple[Any, Any, Any]:
    """Callback body: the level toggle -> (figure, lowest-margin list, URL)."""
    cache = context.cache(search)
    if isinstance(cache.training_dynamics(), Missing):
        return no_update, no_update, no_update
    view = DataMapView(level=level or "examples")
    figure, lowest = content(cache, view)
    return figure, lowest, update_query(search, **view.to_query())


def open_clicked_point(click: Any, search: str | None) -> tuple[Any, Any]:
    """A click on a point: the URL opens the inspector on its example (and a span's first word); clickData reset."""
    found = (click or {}).get("points") or []
    ids = parse_point_id(found[0].get("customdata")) if found else None
    if ids is None:
        return no_update, None
    example_id, word_index = ids
    return update_query(search, sample=example_id, word=word_index if word_index >= 0 else None), None


def register(app: Any, context: Any) -> None:
    @app.callback(
        Output(Ids.GRAPH, "figure"),
        Output(Ids.LOWEST, "children"),
        Output("url", "search", allow_duplicate=True),
        Input(Ids.LEVEL, "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_level(level: str | None, search: str | None) -> tuple[Any, Any, Any]:
        return level_changed(context, level, search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Output(Ids.GRAPH, "clickData"),
        Input(Ids.GRAPH, "clickData"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_click(click: Any, search: str | None) -> tuple[Any, Any]:
        if not click:
            return no_update, no_update
        return open_clicked_point(click, search)

    register_open_buttons(app, SECTION.key)


SECTION = Section(
    key="data_map",
    label="Data map",
    group=DATA,
    order=40,
    layout=layout,
    register=register,
    ids=Ids,
    view=DataMapView,
)
