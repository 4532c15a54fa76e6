"""Probing in headless Chromium: probe two lines, open one token's attributions, then a whole text's."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def click(dash_duo, selector: str) -> None:
    """Click through the DOM: plots still laying out below would make a pointer click miss its target."""
    element = dash_duo.wait_for_element(selector, timeout=15)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def test_probe_two_lines_and_explain_a_token(dash_duo, tiny_cache, monkeypatch):
    monkeypatch.delenv("EXPLAINER_MODEL", raising=False)
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=probing")
    box = dash_duo.wait_for_element("#probing-text", timeout=15)
    dash_duo.clear_input(box)
    box.send_keys("John Smith visited Paris\n\nMary lives in <b>Berlin</b>")
    dash_duo.find_element("#probing-run").click()

    dash_duo.wait_for_element("#probing-line-3", timeout=30)
    cards = dash_duo.driver.find_elements(By.CSS_SELECTOR, ".probing-text")
    assert [card.get_attribute("id") for card in cards] == ["probing-line-1", "probing-line-3"]
    first_table = dash_duo.find_element("#probing-line-1 .probing-words").text
    assert all(word in first_table for word in ("John", "Smith", "visited", "Paris"))
    # Hostile text stays text: no <b> element is made from it.
    assert "Berlin" in dash_duo.find_element("#probing-line-3").text
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#probing-line-3 .span-line b") == []

    # One token: the word table's button explains that subword alone.
    click(dash_duo, "#probing-line-1 .attr-token-button")
    dash_duo.wait_for_element("#probing-line-1 .attr-line", timeout=30)
    lines = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#probing-line-1 .attr-line")
    assert len(lines) == 1
    shaded = lines[0].find_elements(By.CSS_SELECTOR, ".attr-token")
    assert [token.text for token in shaded] == ["[CLS]", "john", "smith", "visited", "paris", "[SEP]"]
    dash_duo.wait_for_element("#probing-line-1 .attr-heatmap .main-svg", timeout=15)
    assert "completeness error" in dash_duo.find_element("#probing-line-1 .attr-result").text

    # The whole second text: by default one shaded line per first subword predicted as an entity (O, special
    # tokens and IGN positions only on request), so fewer lines than subwords.
    click(dash_duo, "#probing-line-3 .attr-explain-button")
    dash_duo.wait_for_element("#probing-line-3 .attr-line", timeout=30)
    second = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#probing-line-3 .attr-line")
    tokens = second[0].find_elements(By.CSS_SELECTOR, ".attr-token")
    assert 0 < len(second) < len(tokens) and len(tokens) > 5
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#probing-line-3 .attr-line b") == []

    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []


def test_probing_limits_are_answered_in_the_page(dash_duo, tiny_cache, monkeypatch):
    monkeypatch.setenv("EXPLAINER_PROBE_MAX_LINES", "2")
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=probing")
    box = dash_duo.wait_for_element("#probing-text", timeout=15)
    dash_duo.clear_input(box)
    box.send_keys("one\ntwo\nthree")
    dash_duo.find_element("#probing-run").click()
    dash_duo.wait_for_contains_text(".probing-error", "3 lines of text: at most 2", timeout=15)
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
