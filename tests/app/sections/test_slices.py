"""Slices section on the tiny cache: a chart per attribute, a bar's click selects its bucket (URL, detail,
link to its errors in Misclassified), weak slices link to their errors, and Misclassified filters by slice."""

from __future__ import annotations

import gc
import json
import shutil
import sys
from types import SimpleNamespace

import numpy as np
from dash import dcc, no_update
from helpers import strings, walk

from explainer.analysis.slices import Condition, decode_conditions, encode_conditions, slice_mask
from explainer.app.components.aligned import open_button_id
from explainer.app.sections import misclassified
from explainer.app.sections import slices as section
from explainer.app.state import parse_query
from explainer.cache import schema
from explainer.cache.reader import open_cache


def bar_click(attribute: str, bucket: str) -> list[dict]:
    prop = json.dumps(section.chart_id(attribute)) + ".clickData"
    return [{"prop_id": prop, "value": {"points": [{"customdata": [attribute, bucket, 0.1, 0.5, 30]}]}}]


def graph_ids(tree) -> list:
    return [node.id for node in walk(tree) if isinstance(node, dcc.Graph)]


def test_one_chart_per_attribute_with_intervals(cache):
    results = cache.slices()
    tree = section.layout(cache, {})
    assert graph_ids(tree) == [section.chart_id(name) for name in results.attributes]
    first = next(node for node in walk(tree) if isinstance(node, dcc.Graph))
    bar = first.figure["data"][0]
    assert len(bar["error_y"]["array"]) == len(bar["x"]) and bar["customdata"][0][0] == results.attributes[0]
    # One type: the charts of that type, without the type chart.
    some_type = sorted(t for t in results.buckets["type"].unique() if t)[0]
    typed = section.layout(cache, {"sl_type": some_type})
    assert section.chart_id("type") not in graph_ids(typed) and graph_ids(typed)


def test_a_bar_click_selects_its_bucket_and_links_its_errors(context, cache):
    panel, url = section.bucket_clicked(context, bar_click("length", "1"), "?tab=slices&sl_type=PER")
    query = parse_query(url)
    assert decode_conditions(query["sl_slice"]) == [Condition("length", "1"), Condition("type", "PER")]
    links = [node.href for node in walk(panel) if isinstance(node, dcc.Link)]
    assert len(links) == 1
    target = parse_query(links[0])
    assert target["tab"] == "misclassified" and target["mis_level"] == "span"
    assert target["mis_slice"] == query["sl_slice"]
    text = " ".join(strings(panel))
    assert "PER entities of 1 word" in text
    # The cards are examples with an error in the slice, each one click from the inspector.
    spans = cache.slices().spans
    members = spans[slice_mask(spans, decode_conditions(query["sl_slice"]))]
    wrong = list(dict.fromkeys(members.loc[~members["matched"], "example_id"].tolist()))[: section.MAX_CARDS]
    buttons = [node.id for node in walk(panel) if isinstance(getattr(node, "id", None), dict)]
    assert buttons == [open_button_id(section.SECTION.key, example_id) for example_id in wrong]
    # The same view from the URL shows the same detail.
    again = section.layout(cache, query)
    assert "PER entities of 1 word" in " ".join(strings(again))


def test_mount_and_junk_clicks_change_nothing(context):
    assert section.bucket_clicked(context, [{"prop_id": "x.clickData", "value": None}], "?tab=slices") == (
        no_update,
        no_update,
    )


def test_misclassified_lists_exactly_the_errors_of_a_slice(cache):
    conditions = encode_conditions([Condition("length", "1")])
    view = misclassified.MisclassifiedView(level="span", slice_conditions=conditions)
    rows = misclassified.filtered(cache, view)
    everything = misclassified.filtered(cache, misclassified.MisclassifiedView(level="span"))
    spans = cache.slices().spans
    one_word = spans[spans["end"] - spans["start"] == 1]
    expected = everything[
        ((everything["gold_end"] - everything["gold_start"]) == 1).fillna(False).to_numpy(bool)
        | ((everything["pred_end"] - everything["pred_start"]) == 1).fillna(False).to_numpy(bool)
    ]
    assert len(one_word) and len(rows) == len(expected) and 0 < len(rows) <= len(everything)
    assert "(a slice)" in misclassified.summary(cache, view)
    # The word level drops the slice; the URL keeps it at span level.
    assert misclassified.MisclassifiedView(level="word", slice_conditions=conditions).slice_conditions is None
    assert misclassified.MisclassifiedView.from_query({"mis_level": "span", "mis_slice": conditions}) == view


def test_weak_slices_link_to_their_errors(cache):
    results = cache.slices()
    tree = section.weak_list(results, "?tab=slices")
    links = [node.href for node in walk(tree) if isinstance(node, dcc.Link)]
    if results.weak.empty:
        assert "No weak slice" in " ".join(strings(tree))
        return
    first = results.weak.iloc[0]
    target = parse_query(links[0])
    assert target["tab"] == "misclassified"
    assert target["mis_slice"] == section.weak_conditions(first["conditions"], first["type"])
    view = misclassified.MisclassifiedView.from_query(target)
    assert len(misclassified.filtered(cache, view)) > 0  # a weak slice has errors to list


def test_a_cache_without_slices_says_how_to_add_them(tiny_cache, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(tiny_cache, copy)
    (copy / "slice_buckets.arrow").unlink()
    text = " ".join(strings(section.layout(open_cache(copy), {})))
    assert "no slices" in text and "--train-dataset" in text


def mapped_files() -> set[str]:
    """Paths of the files this process has memory-mapped now (Linux's /proc/self/maps)."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return {line.split(maxsplit=5)[-1].strip() for line in maps if "/" in line}


def test_the_view_holds_small_codes_and_never_the_span_table(tiny_cache, tmp_path):
    # A fresh copy: nothing another test read of it is memoised.
    copy = tmp_path / "fresh"
    shutil.copytree(tiny_cache, copy)
    cache = open_cache(copy)
    tree = section.layout(cache, {})
    panel, _ = section.bucket_clicked(SimpleNamespace(cache=lambda _search: cache), bar_click("length", "1"), "?")
    assert graph_ids(tree) and "entities of 1 word" in " ".join(strings(panel))
    results = cache.slices()
    # Neither the span table (~250 MB in pandas at 1M subwords) nor its file's pages stay with the worker.
    assert schema.SLICE_SPANS not in cache._memo and "spans" not in vars(results)
    if sys.platform.startswith("linux"):
        path = str(copy.resolve() / schema.SLICE_SPANS)
        gc.collect()
        assert path not in mapped_files()
        held = results.read_spans(["example_id"])  # the check sees a map while one is held
        assert path in mapped_files()
        del held
        gc.collect()
        assert path not in mapped_files()
    # What stays: one small integer per span and coded column.
    coded = section.coded_spans(cache, results)
    assert coded is results.coded and len(coded.example_id) == len(results.spans)
    assert coded.example_id.dtype == np.int32 and coded.gold.dtype == bool and coded.matched.dtype == bool
    assert {values.dtype for values, _ in coded.codes.values()} == {np.dtype(np.int8)}
    assert set(coded.codes) == {name for name in results.spans.columns if name.startswith("bucket:")} | {"type"}


def test_a_slices_rows_are_read_in_compact_dtypes_and_equal_the_tables(cache):
    # What Misclassified keeps of each slice it filters by (up to 8): the rows of the span table, smaller.
    results, conditions = cache.slices(), [Condition("length", "1")]
    columns = ["example_id", "side", "start", "end", "type"]
    rows = results.span_rows(results.coded.mask(conditions), columns)
    expected = results.spans[columns][slice_mask(results.spans, conditions)]
    assert len(rows) and rows.astype(object).values.tolist() == expected.astype(object).values.tolist()
    assert [str(rows[name].dtype) for name in columns] == ["int32", "category", "int32", "int32", "category"]
