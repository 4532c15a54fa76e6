"""The app in headless Chromium on a cache built in the test (dash[testing]'s dash_duo)."""

from __future__ import annotations

import pytest
from dash import html
from helpers import HOSTILE_WORDS
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.sections import load_sections
from explainer.app.sections.base import DATA, MODEL, PERFORMANCE, REVIEW, Section
from explainer.app.settings import Settings
from explainer.app.state import parse_query
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


ACTIVE = "#nav .nav-link.active"


def nav_link(dash_duo, label: str):
    return dash_duo.driver.find_element(By.XPATH, f"//*[@id='nav']//a[normalize-space()='{label}']")


def test_every_tab_renders_without_console_errors(dash_duo, app):
    dash_duo.start_server(app)
    for section in load_sections():
        visit(dash_duo, f"?tab={section.key}")
        dash_duo.wait_for_element(ACTIVE, timeout=10)
        dash_duo.wait_for_text_to_equal(ACTIVE, section.label, timeout=10)
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
    visit(dash_duo, "?tab=metrics&metrics_confusion=word")  # the word matrix (entities are the default)
    plot = dash_duo.wait_for_element("#metrics-confusion .nsewdrag", timeout=15)
    # Click the centre of the cell in row 0 (gold = labels[0]) and the last column; this
    # selenium (4.2) measures offsets from the element's top-left corner.
    n = len(labels)
    width, height = plot.size["width"], plot.size["height"]
    x = (n - 0.5) * width / n
    y = 0.5 * height / n
    ActionChains(dash_duo.driver).move_to_element_with_offset(plot, int(x), int(y)).click().perform()
    dash_duo.wait_for_text_to_equal(ACTIVE, "Misclassified", timeout=10)
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


def test_navigation_links_open_sections_and_keep_the_rest_of_the_url(dash_duo, app, tiny_cache):
    dash_duo.start_server(app)
    visit(dash_duo, f"?cache={tiny_cache.name}&tab=loss&loss_min=5&metrics_norm=0")
    dash_duo.wait_for_text_to_equal(ACTIVE, "Loss by token/label", timeout=15)
    # Real links: each carries the current query with its own section (so it can open in a new browser tab),
    # without the other sections' view settings.
    dash_duo.wait_for_element("#nav a[href*='cache=']", timeout=10)
    href = nav_link(dash_duo, "Inspect").get_attribute("href")
    assert parse_query(href.split("?", 1)[1]) == {"cache": tiny_cache.name, "tab": "inspect"}
    href = nav_link(dash_duo, "Metrics").get_attribute("href")
    assert parse_query(href.split("?", 1)[1]) == {"cache": tiny_cache.name, "tab": "metrics", "metrics_norm": "0"}
    nav_link(dash_duo, "Inspect").click()
    dash_duo.wait_for_text_to_equal(ACTIVE, "Inspect", timeout=10)
    dash_duo.wait_for_element("#tab-content .ag-root", timeout=15)
    assert parse_query(dash_duo.driver.current_url.split("?", 1)[1]) == {"cache": tiny_cache.name, "tab": "inspect"}
    dash_duo.driver.back()
    dash_duo.wait_for_text_to_equal(ACTIVE, "Loss by token/label", timeout=10)
    no_console_errors(dash_duo)


def test_old_tab_links_open_their_section_with_its_view(dash_duo, app):
    dash_duo.start_server(app)
    visit(dash_duo, "?tab=raw_data&raw_id=3")
    dash_duo.wait_for_text_to_equal(ACTIVE, "Raw data", timeout=15)
    dash_duo.wait_for_text_to_equal("#tab-content h6", "Example 3", timeout=15)
    visit(dash_duo, "?tab=no_such_section")
    dash_duo.wait_for_text_to_equal(ACTIVE, "Metrics", timeout=15)
    no_console_errors(dash_duo)


# Sections the next issues add (stand-ins): with them the app has 21 sections.
UPCOMING = [
    ("Slices", PERFORMANCE),
    ("Compare two models", PERFORMANCE),
    ("Calibration", PERFORMANCE),
    ("Span-level label issues", DATA),
    ("Data checks", DATA),
    ("Label distribution", DATA),
    ("Attention heads", MODEL),
    ("Review database", REVIEW),
]


def test_the_navigation_fits_1280_px_with_21_sections(dash_duo, tiny_cache):
    upcoming = [
        Section(
            key=f"upcoming_{number}",
            label=label,
            group=group,
            order=100 + number,
            layout=lambda cache, state, label=label: html.P(f"{label} comes here"),
        )
        for number, (label, group) in enumerate(UPCOMING)
    ]
    sections = load_sections() + upcoming
    assert len(sections) >= 20
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent), sections=sections))
    dash_duo.driver.set_window_size(1280, 800)
    visit(dash_duo, "?tab=metrics")
    dash_duo.wait_for_text_to_equal(ACTIVE, "Metrics", timeout=15)
    layout = dash_duo.driver.execute_script(
        """
        var nav = document.getElementById('nav');
        var links = Array.from(nav.querySelectorAll('.nav-link'));
        return {
            links: links.length,
            groups: nav.querySelectorAll('.nav-group-label').length,
            navOverflow: nav.scrollWidth - nav.clientWidth,
            pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
            clipped: links.filter(function (l) { return l.scrollWidth > l.clientWidth; }).map(function (l) {
                return l.textContent; }),
            heights: links.map(function (l) { return l.getBoundingClientRect().height; }),
            lineHeight: parseFloat(getComputedStyle(links[0]).lineHeight),
            navWidth: nav.getBoundingClientRect().width,
            viewport: window.innerWidth
        };
        """
    )
    assert layout["viewport"] <= 1280 and layout["links"] == len(sections) and layout["groups"] == 6
    assert layout["navOverflow"] <= 0 and layout["pageOverflow"] <= 0, layout  # nothing sticks out sideways
    assert layout["clipped"] == []  # every label shown whole
    assert max(layout["heights"]) < 2 * layout["lineHeight"], layout  # one line each: no label wraps
    assert layout["navWidth"] <= 0.25 * layout["viewport"]  # the content keeps three quarters of the width
    last = nav_link(dash_duo, UPCOMING[-1][0])
    dash_duo.driver.execute_script("arguments[0].scrollIntoView();", last)
    last.click()
    dash_duo.wait_for_text_to_equal("#tab-content p", "Review database comes here", timeout=10)
    assert dash_duo.find_element(ACTIVE).text == "Review database"
    no_console_errors(dash_duo)
