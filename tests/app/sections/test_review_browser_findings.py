"""The Review queue's first findings in headless Chromium: each example shows its proposed fix, and the f key
applies it (a saved ``apply_finding`` decision whose tags are the fix), then n moves on — issue 18's demo check."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from explainer.analysis.findings import apply_fix, parse_span_text
from explainer.app.components.inspector import spans_text
from explainer.app.factory import create_app
from explainer.app.sections.review import queue_view
from explainer.app.settings import Settings
from explainer.cache.reader import open_cache
from explainer.review.corrections import APPLY_FINDING, KIND_LABELS
from explainer.review.session import build_queue, findings_of
from explainer.review.store import open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIRST = 10  # the check: the first ten findings of the queue


def title_of(dash_duo) -> str:
    return dash_duo.wait_for_element("#review-title", timeout=20).text


def test_the_first_findings_of_the_queue_show_their_fix_and_apply_with_one_key(dash_duo, tiny_cache, tmp_path):
    cache = open_cache(tiny_cache)
    expected = [int(e) for e in build_queue(cache, queue_view({}), {}, done=set()).ids[:FIRST]]
    assert all(findings_of(cache, e) is not None and len(findings_of(cache, e)) for e in expected)
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=review")

    visited = []
    for step in range(FIRST):
        title = title_of(dash_duo)
        example_id = int(title.split()[-1])
        visited.append(example_id)
        best = findings_of(cache, example_id).iloc[0]
        proposed = f"“{best['text']}”: {spans_text(best['gold_spans'])} → {spans_text(best['fix_spans'])}"
        dash_duo.wait_for_contains_text("#review-findings", proposed, timeout=15)
        assert "Apply fix (f)" in dash_duo.find_element("#review-findings").text
        dash_duo.find_element("body").send_keys("f")
        dash_duo.wait_for_contains_text("#review-state", f"reviewed: {KIND_LABELS[APPLY_FINDING]}", timeout=15)

        decision = open_store(tiny_cache, directory=tmp_path).history()[-1]
        assert decision["example_id"] == example_id and decision["kind"] == APPLY_FINDING
        gold = list(cache.example_rows("examples", example_id, ["example_id", "gold_tags"]).iloc[0]["gold_tags"])
        assert decision["corrected"] == apply_fix(gold, best)
        fixed = [parse_span_text(span) for span in best["fix_spans"]]
        assert all(decision["corrected"][start].endswith(kind) for start, _, kind in fixed)
        if step < FIRST - 1:
            dash_duo.find_element("body").send_keys("n")
            WebDriverWait(dash_duo.driver, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda driver, shown=title: driver.find_element(By.ID, "review-title").text != shown
            )
    assert visited == expected
    assert len(open_store(tiny_cache, directory=tmp_path).history()) == FIRST
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
