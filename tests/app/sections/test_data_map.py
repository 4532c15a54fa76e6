"""Data map section: the scatter of a cache with training dynamics, its level toggle and lowest-margin list
(callbacks called directly), a click opening the inspector, and a cache without dynamics saying how to get them."""

from __future__ import annotations

import pytest
from dash import no_update
from helpers import strings, walk

from explainer.analysis.dynamics import REGIONS
from explainer.app.components.aligned import open_button_id
from explainer.app.factory import create_app
from explainer.app.sections import data_map as section
from explainer.app.settings import Settings
from explainer.app.state import parse_query


@pytest.fixture(scope="module")
def dynamics_context(tiny_cache_dynamics):
    app = create_app(Settings(cache=tiny_cache_dynamics.parent))
    return app.server.config["EXPLAINER_CONTEXT"]


def graph_of(tree):
    return next(node for node in walk(tree) if getattr(node, "id", None) == section.Ids.GRAPH)


def card_buttons(tree) -> list:
    return [
        node.id
        for node in walk(tree)
        if isinstance(getattr(node, "id", None), dict) and node.id.get("section") == section.SECTION.key
    ]


def test_without_dynamics_the_section_says_how_to_get_them(cache):
    text = " ".join(strings(section.layout(cache, {})))
    assert "no training dynamics" in text
    assert "explainer train --base BASE --dataset" in text and "--record-dynamics" in text
    assert "explainer build" in text and "--model MODEL" in text


def test_the_map_has_one_point_per_example_coloured_by_region(dynamics_context):
    cache = dynamics_context.cache(None)
    found = cache.training_dynamics()
    tree = section.layout(cache, {})
    figure = graph_of(tree).figure
    assert sum(len(trace.x) for trace in figure.data) == len(found.examples)
    assert [trace.name.split(" (")[0] for trace in figure.data] == list(REGIONS)
    ids = [point for trace in figure.data for point in trace.customdata]
    assert sorted(int(point.split(":")[0]) for point in ids) == sorted(found.examples["example_id"].tolist())
    # the lowest-margin examples first, each one Inspect away
    lowest = found.examples.sort_values(["margin", "example_id"], kind="stable").head(section.LOWEST)
    assert card_buttons(tree) == [open_button_id(section.SECTION.key, int(e)) for e in lowest["example_id"]]
    assert "Lowest margin first (examples)" in strings(tree)


def test_the_span_level_plots_gold_spans_and_writes_the_url(dynamics_context):
    cache = dynamics_context.cache(None)
    found = cache.training_dynamics()
    figure, lowest, url = section.level_changed(dynamics_context, "spans", "?tab=data_map")
    assert parse_query(url)["dmap_level"] == "spans"
    assert sum(len(trace.x) for trace in figure.data) == len(found.spans)
    first = found.spans.sort_values(["margin", "example_id"], kind="stable").iloc[0]
    assert f"“{first['text']}” ({first['type']})" in " ".join(strings(lowest))
    # the same view from the URL
    tree = section.layout(cache, parse_query(url))
    assert sum(len(trace.x) for trace in graph_of(tree).figure.data) == len(found.spans)


def test_hover_text_of_dataset_words_is_escaped(dynamics_context):
    cache = dynamics_context.cache(None)
    hovers = [text for trace in graph_of(section.layout(cache, {})).figure.data for text in trace.hovertext]
    hostile = [text for text in hovers if "&lt;" in text]
    assert hostile and not any("<script" in text or "<b>" in text for text in hovers)


def test_a_click_opens_the_inspector_on_the_example_or_span(dynamics_context):
    url, reset = section.open_clicked_point({"points": [{"customdata": "7:3"}]}, "?tab=data_map&dmap_level=spans")
    assert parse_query(url) == {"tab": "data_map", "dmap_level": "spans", "sample": "7", "word": "3"} and reset is None
    url, _ = section.open_clicked_point({"points": [{"customdata": "4:-1"}]}, "?tab=data_map")
    assert parse_query(url) == {"tab": "data_map", "sample": "4"}
    assert section.open_clicked_point({"points": [{}]}, "?") == (no_update, None)
