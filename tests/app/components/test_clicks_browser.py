"""Buttons appearing are no click, in headless Chromium at 1024 and 1600 px: opening the sections whose cards,
Show buttons and charts are pattern-matched (Dash calls their callbacks when they appear), turning pages and
drawing again open no example and change no view; a real click still does."""

from __future__ import annotations

import pytest
from helpers import BROWSER_TIMEOUT, BROWSER_WIDTHS, click, url_state, visit
from selenium.webdriver.support.ui import WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = pytest.mark.browser

WIDTHS, TIMEOUT = BROWSER_WIDTHS, BROWSER_TIMEOUT


@pytest.fixture
def app(tiny_cache):
    return create_app(Settings(cache=tiny_cache.parent))


def settled(dash_duo) -> None:
    """Wait until the renderer has no callback pending (so one that would take buttons appearing for a click has
    answered by now): a condition, not a time."""
    WebDriverWait(dash_duo.driver, TIMEOUT, poll_frequency=0.3).until(lambda _: dash_duo._wait_for_callbacks())


def nothing_opened(dash_duo, **expected) -> None:
    settled(dash_duo)
    state = url_state(dash_duo)
    assert "sample" not in state, state
    assert not dash_duo.driver.find_elements("css selector", "#inspector.show")
    for key, value in expected.items():
        assert state.get(key) == value, (key, state)


@pytest.mark.parametrize("width", WIDTHS)
def test_cards_appearing_open_nothing_and_a_click_opens_its_example(dash_duo, app, width):
    dash_duo.start_server(app)
    visit(dash_duo, "?tab=samples", width)
    dash_duo.wait_for_element("#samples-cards .aligned-card button", timeout=TIMEOUT)
    nothing_opened(dash_duo, tab="samples")
    dash_duo.driver.execute_script(
        "Array.from(document.querySelectorAll('#samples-page .page-link'))"
        ".find(function (link) { return link.textContent.trim() === '2'; }).click();"
    )
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: url_state(dash_duo).get("smp_page") == "2")
    nothing_opened(dash_duo, smp_page="2")  # a new page of cards: new buttons, still no click

    visit(dash_duo, "?tab=random_samples", width)
    dash_duo.wait_for_element("#random_samples-cards .aligned-card button", timeout=TIMEOUT)
    click(dash_duo, "#random_samples-draw")
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: "rnd_seed" in url_state(dash_duo))
    nothing_opened(dash_duo, tab="random_samples")
    first = dash_duo.wait_for_element("#random_samples-cards .aligned-card", timeout=TIMEOUT)
    example_id = first.get_attribute("id").rsplit("-", 1)[1]
    click(dash_duo, "#random_samples-cards .aligned-card button")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=TIMEOUT)
    assert url_state(dash_duo)["sample"] == example_id
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_show_buttons_and_charts_appearing_change_no_view(dash_duo, app, width):
    dash_duo.start_server(app)
    visit(dash_duo, "?tab=data_checks", width)
    dash_duo.wait_for_element("#tab-content button[id*='data_checks-show']", timeout=TIMEOUT)
    nothing_opened(dash_duo, tab="data_checks", chk_check=None)  # Show buttons appeared: no check chosen
    click(dash_duo, "#tab-content button[id*='data_checks-show']")
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: "chk_check" in url_state(dash_duo))
    nothing_opened(dash_duo)  # the check's example cards appeared: none opened

    visit(dash_duo, "?tab=slices", width)
    dash_duo.wait_for_element("#tab-content .js-plotly-plot", timeout=TIMEOUT)
    nothing_opened(dash_duo, tab="slices", sl_slice=None)  # charts appearing are no bar clicked

    visit(dash_duo, "?tab=duplicates&dup_threshold=0.8", width)
    dash_duo.wait_for_element("#duplicates-cards .duplicate-card, #duplicates-cards .alert", timeout=TIMEOUT)
    nothing_opened(dash_duo, tab="duplicates")
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
