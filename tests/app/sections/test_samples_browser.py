"""Samples by loss in headless Chromium at 1024 and 1600 px: each card shows its scores (label quality,
confidence) and rows of them, the order by label quality sorts the cards, nothing runs off to the right, and the
inspector's link to Raw data carries only Raw data's settings (the URL keeps only the active section's)."""

from __future__ import annotations

import pytest
from helpers import BROWSER_TIMEOUT, BROWSER_WIDTHS, click, url_state, visit
from selenium.webdriver.support.ui import WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.state import parse_query

pytestmark = pytest.mark.browser

WIDTHS, TIMEOUT = BROWSER_WIDTHS, BROWSER_TIMEOUT


SCORES_JS = """
return Array.from(document.querySelectorAll('#samples-cards .card-score-quality'))
    .map(function (node) { return parseFloat(node.textContent.replace('label quality', '')); });
"""
OVERFLOW_JS = "var e = document.documentElement; return e.scrollWidth - e.clientWidth;"


@pytest.fixture
def app(tiny_cache):
    return create_app(Settings(cache=tiny_cache.parent))


@pytest.mark.parametrize("width", WIDTHS)
def test_cards_show_and_sort_by_their_scores_and_links_keep_only_their_settings(dash_duo, app, width):
    dash_duo.start_server(app)
    visit(dash_duo, "?tab=samples&metrics_norm=0&loss_min=5", width)  # other sections' settings, as a link may bring
    dash_duo.wait_for_element("#samples-cards .aligned-card .card-score-confidence", timeout=TIMEOUT)
    dash_duo.wait_for_element("#samples-cards .aligned-head", timeout=TIMEOUT)  # drawn by aligned.js
    heads = dash_duo.driver.execute_script(
        "return Array.from(document.querySelector('#samples-cards .aligned-head').children)"
        ".map(function (cell) { return cell.textContent; });"
    )
    assert heads == ["word", "subword", "gold", "predicted", "loss", "confidence", "label quality"]

    click(dash_duo, "#samples-order input[value='label_quality']")
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: url_state(dash_duo).get("smp_order") == "label_quality")
    WebDriverWait(dash_duo.driver, TIMEOUT).until(
        lambda _: (scores := dash_duo.driver.execute_script(SCORES_JS)) and scores == sorted(scores)
    )
    assert len(dash_duo.driver.execute_script(SCORES_JS)) == 10
    assert dash_duo.driver.execute_script(OVERFLOW_JS) <= 0  # nothing runs off to the right

    card = dash_duo.find_element("#samples-cards .aligned-card")
    example_id = card.get_attribute("id").rsplit("-", 1)[1]
    click(dash_duo, "#samples-cards .aligned-card button")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=TIMEOUT)
    WebDriverWait(dash_duo.driver, TIMEOUT).until(
        lambda _: f"raw_id={example_id}" in (dash_duo.find_element("#inspector-raw-link").get_attribute("href") or "")
    )
    href = dash_duo.find_element("#inspector-raw-link").get_attribute("href")
    state = parse_query("?" + href.partition("?")[2])
    assert state == {"tab": "raw_data", "raw_id": example_id}  # no smp_, metrics_ or loss_ settings
    click(dash_duo, "#inspector-raw-link")
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: url_state(dash_duo) == state)
    dash_duo.wait_for_contains_text("#tab-content", f"{example_id}", timeout=TIMEOUT)
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
