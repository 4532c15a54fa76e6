"""Data checks section on the tiny cache: every check listed with the build's count, Show lists the flagged
examples as cards that open the inspector, and a cache without the step says how to rebuild."""

from __future__ import annotations

import json
import shutil

from dash import no_update
from helpers import strings, walk

from explainer.app.components.aligned import open_button_id
from explainer.app.sections import data_checks as section
from explainer.app.state import parse_query
from explainer.cache.reader import open_cache
from explainer.cache.schema import DATA_CHECKS


def clicked(check: str, clicks=1) -> list[dict]:
    return [{"prop_id": json.dumps(section.show_button_id(check)) + ".n_clicks", "value": clicks}]


def ids_in(tree) -> list:
    return [getattr(node, "id", None) for node in walk(tree)]


def test_every_check_is_listed_with_its_count(cache):
    tree = section.layout(cache, {})
    text = strings(tree)
    counts = cache.analyses["data_checks"]["counts"]
    assert set(counts) <= set(section.TITLES)
    for check, count in counts.items():
        assert section.TITLES[check] in text
        assert (section.show_button_id(check) in ids_in(tree)) == (count > 0)
    assert counts["normaliser_case"] > 0  # the tiny model lowercases
    assert section.Ids.EXAMPLES in ids_in(tree)


def test_show_lists_the_flagged_examples_and_writes_the_url(context, cache):
    cards, url = section.show_clicked(context, clicked("normaliser_case"), "?tab=data_checks")
    assert parse_query(url)["chk_check"] == "normaliser_case" and parse_query(url)["tab"] == "data_checks"
    findings = cache.data_checks().set_index("check")
    first = list(dict.fromkeys(findings.loc["normaliser_case", "example_ids"]))[: section.MAX_CARDS]
    buttons = [i for i in ids_in(cards) if isinstance(i, dict) and i.get("section") == section.SECTION.key]
    assert buttons == [open_button_id(section.SECTION.key, example_id) for example_id in first]
    # The same view from the URL (a shared link) lists the same examples.
    tree = section.layout(cache, parse_query(url))
    assert [i for i in ids_in(tree) if isinstance(i, dict) and i.get("section") == section.SECTION.key] == buttons


def test_a_button_appearing_is_no_click(context):
    assert section.show_clicked(context, clicked("normaliser_case", None), "?") == (no_update, no_update)
    assert section.clicked_check([{"prop_id": "not json.n_clicks", "value": 1}]) is None


def test_an_unknown_check_in_the_url_shows_no_examples(cache):
    tree = section.layout(cache, {"chk_check": "no-such-check"})
    assert not [i for i in ids_in(tree) if isinstance(i, dict) and i.get("section") == section.SECTION.key]


def test_a_cache_without_the_step_says_how_to_rebuild(tiny_cache, tmp_path):
    copy = shutil.copytree(tiny_cache, tmp_path / "old")
    (copy / DATA_CHECKS).unlink()
    text = " ".join(strings(section.layout(open_cache(copy), {})))
    assert "no data checks" in text and "explainer build" in text
