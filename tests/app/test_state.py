"""View state in the URL query string (explainer.app.state)."""

from __future__ import annotations

from explainer.app.state import build_query, int_param, parse_query, update_query


def test_query_round_trip_and_update():
    search = build_query({"cache": "conll", "tab": "metrics", "sample": 12})
    assert parse_query(search) == {"cache": "conll", "tab": "metrics", "sample": "12"}
    updated = update_query(search, sample=None, mis_gold="B-PER")
    assert parse_query(updated) == {"cache": "conll", "tab": "metrics", "mis_gold": "B-PER"}
    assert update_query("", tab="loss") == "?tab=loss"


def test_int_param_tolerates_garbage():
    assert int_param({"sample": "7"}, "sample") == 7
    assert int_param({"sample": "<script>"}, "sample") is None
    assert int_param({}, "sample", 0) == 0
