"""The app in headless Chromium on a cache built in the test (dash[testing]'s dash_duo)."""

from __future__ import annotations

import pytest
from helpers import HOSTILE_WORDS
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.sections import load_sections
from explainer.app.settings import Settings
from explainer.cache.reader import open_cache

pytestmark = pytest.mark.browser


@pytest.fixture
def app(tiny_cache):
    return create_app(Settings(cache=tiny_cache.parent))


def visit(dash_duo, query: str):
    dash_duo.driver.get(dash_duo.server_url + "/" + query)


def no_console_errors(dash_duo):
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []


def test_every_tab_renders_without_console_errors(dash_duo, app):
    dash_duo.start_server(app)
    for section in load_sections():
        visit(dash_duo, f"?tab={section.key}")
        dash_duo.wait_for_element("#tabs .nav-link.active", timeout=10)
        dash_duo.wait_for_text_to_equal("#tabs .nav-link.active", section.label, timeout=10)
        content = dash_duo.wait_for_element("#tab-content > *", timeout=15)
        assert content.text.strip() or content.find_elements(By.CSS_SELECTOR, "*"), section.key
        no_console_errors(dash_duo)


def test_headline_shows_the_cache_numbers(dash_duo, app, tiny_cache):
    manifest = open_cache(tiny_cache).manifest
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal("#headline-examples strong", f"{manifest['counts']['examples']:,}", timeout=15)
    assert dash_duo.find_element("#headline-entity-F1 strong").text == f"{manifest['headline']['entity_f1']:.3f}"


def test_clicking_a_confusion_cell_filters_misclassified(dash_duo, app, tiny_cache):
    cache = open_cache(tiny_cache)
    labels = cache.metrics["confusion"]["labels"]
    dash_duo.start_server(app)
    visit(dash_duo, "?tab=metrics")
    plot = dash_duo.wait_for_element("#metrics-confusion .nsewdrag", timeout=15)
    # Click the centre of the cell in row 0 (gold = labels[0]) and the last column; this
    # selenium (4.2) measures offsets from the element's top-left corner.
    n = len(labels)
    width, height = plot.size["width"], plot.size["height"]
    x = (n - 0.5) * width / n
    y = 0.5 * height / n
    ActionChains(dash_duo.driver).move_to_element_with_offset(plot, int(x), int(y)).click().perform()
    dash_duo.wait_for_text_to_equal("#tabs .nav-link.active", "Misclassified", timeout=10)
    url = dash_duo.driver.current_url
    assert f"mis_gold={labels[0]}" in url and f"mis_pred={labels[-1]}" in url
    no_console_errors(dash_duo)


def test_sample_in_url_opens_the_inspector(dash_duo, app, tiny_cache):
    cache = open_cache(tiny_cache)
    example_id = 3
    dash_duo.start_server(app)
    visit(dash_duo, f"?tab=inspect&sample={example_id}")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=15)
    words = cache.examples.iloc[example_id]["words"]
    table = dash_duo.find_element(".inspector-words").text
    assert all(word in table for word in words)
    no_console_errors(dash_duo)


def test_hostile_dataset_text_is_shown_as_text(dash_duo, app, tiny_cache):
    cache = open_cache(tiny_cache)
    hostile = int(cache.examples[cache.examples["text"].str.contains("<script>", regex=False)]["example_id"].iloc[0])
    dash_duo.start_server(app)
    visit(dash_duo, f"?sample={hostile}")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {hostile}", timeout=15)
    gold_line = dash_duo.find_element("#inspector-gold").text
    for word in HOSTILE_WORDS:
        assert word in gold_line
    # Rendered as characters: no <b> or <script> element was created from the dataset text.
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#inspector-content b") == []
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#inspector-content script") == []
    no_console_errors(dash_duo)
