"""Metrics section: the entity-level confusion by default (rows add up to the gold spans), the word matrix
one toggle away, confusion cells linking to their errors, and nervaluate's schemes."""

from __future__ import annotations

import numpy as np
import pytest
from dash import dcc
from helpers import strings, walk

from explainer.app.sections import metrics as section
from explainer.app.state import parse_query
from explainer.cache.reader import open_cache


def confusion_of(tree):
    graph = next(node for node in walk(tree) if isinstance(node, dcc.Graph) and node.id == section.Ids.CONFUSION)
    return graph.figure["data"][0]


def test_the_default_confusion_is_entity_level_and_adds_up(cache):
    heatmap = confusion_of(section.layout(cache, {"metrics_norm": "0"}))
    labels = list(heatmap["x"])
    assert labels == [*cache.metrics["entity_types"], "none"]
    counts = np.array([[cell[2] for cell in row] for row in heatmap["customdata"]])
    gold = cache.spans[cache.spans["source"] == "gold"]["type"].value_counts()
    pred = cache.spans[cache.spans["source"] == "pred"]["type"].value_counts()
    for index, kind in enumerate(labels[:-1]):
        assert counts[index].sum() == gold.get(kind, 0)
        assert counts[:, index].sum() == pred.get(kind, 0)
    assert counts[-1, -1] == 0


def test_the_word_matrix_is_one_toggle_away(context, cache):
    figure, url = section.toggled(context, True, False, "word", "?tab=metrics")
    assert parse_query(url)["metrics_confusion"] == "word"
    assert list(figure["data"][0]["x"]) == cache.metrics["confusion"]["labels"]
    heatmap = confusion_of(section.layout(cache, {"metrics_confusion": "word"}))
    assert list(heatmap["x"]) == cache.metrics["confusion"]["labels"]


def test_confusion_cells_link_to_their_errors():
    spurious = parse_query(section.confusion_cell_link("?tab=metrics", "entity", "none", "PER"))
    assert (spurious["mis_level"], spurious["mis_category"], spurious["mis_pred"]) == ("span", "spurious", "PER")
    missed = parse_query(section.confusion_cell_link("?tab=metrics", "entity", "ORG", "none"))
    assert (missed["mis_category"], missed["mis_gold"]) == ("missed", "ORG")
    swapped = parse_query(section.confusion_cell_link("?tab=metrics", "entity", "ORG", "PER"))
    assert (swapped["mis_gold"], swapped["mis_pred"], swapped["mis_level"]) == ("ORG", "PER", "span")
    words = parse_query(section.confusion_cell_link("?tab=metrics", "word", "B-PER", "O"))
    assert (words["mis_level"], words["mis_gold"], words["mis_pred"]) == ("word", "B-PER", "O")


def test_the_schemes_table_lists_the_four_schemes(cache):
    rows = section.scheme_rows(cache)
    assert [row["scheme"] for row in rows] == ["strict", "exact", "partial", "ent_type"]
    strict = rows[0]
    assert strict["precision"] == pytest.approx(cache.manifest["headline"]["entity_precision"])
    assert "nervaluate" in " ".join(strings(section.layout(cache, {})))


def test_the_tab_reads_columns_of_the_span_tables_without_keeping_them_whole(tiny_cache):
    # Kept whole in the cache's memo, the two tables stayed in every worker for the entity confusion
    # and the four schemes, which need two and five of their columns once.
    fresh = open_cache(tiny_cache)
    tree = section.layout(fresh, {})
    assert "nervaluate" in " ".join(strings(tree)) and confusion_of(tree)["x"]  # both views were built
    assert "span_errors.parquet" not in fresh._memo and "spans.parquet" not in fresh._memo


def test_toggling_the_figure_reads_the_span_errors_once(tiny_cache, monkeypatch):
    # The span-level counts cost a read of every span error (~1.5 s at 1M subwords): the four
    # normalise/zero-diagonal states of a worker share them instead of reading them again.
    fresh = open_cache(tiny_cache)
    reads = []
    table = fresh.table
    monkeypatch.setattr(
        fresh, "table", lambda name, *args, **kwargs: reads.append(name) or table(name, *args, **kwargs)
    )
    figures = [
        section.confusion_view(fresh, normalise=normalise, zero_diagonal=zero)
        for normalise in (False, True)
        for zero in (False, True)
    ]
    assert reads.count("span_errors") == 1
    assert figures[0]["data"][0]["z"] != figures[3]["data"][0]["z"]  # the states still differ
