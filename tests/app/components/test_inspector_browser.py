"""The inspector's ways forward in headless Chromium, at 1024 and 1600 px: previous/next through the grid it was
opened from (in the grid's sort order), links to Raw data and Review of the same example; Raw data's own
previous/next; Probing that answers its prefilled text on open and Ctrl+Enter."""

from __future__ import annotations

import pytest
from helpers import BROWSER_TIMEOUT, BROWSER_WIDTHS, click, url_state, visit
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = pytest.mark.browser

WIDTHS, TIMEOUT = BROWSER_WIDTHS, BROWSER_TIMEOUT


@pytest.fixture
def app(tiny_cache):
    return create_app(Settings(cache=tiny_cache.parent))


def no_console_errors(dash_duo):
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []


GRID_IDS_JS = """
var rows = Array.from(document.querySelectorAll('.ag-center-cols-container .ag-row'));
rows.sort(function (a, b) { return Number(a.getAttribute('row-index')) - Number(b.getAttribute('row-index')); });
return rows.map(function (row) { var cell = row.querySelector("[col-id='example_id']"); return cell ? cell.textContent : ''; });
"""


def grid_ids(dash_duo) -> list[int]:
    """The example ids of the Inspect grid's rendered rows, in display order (read in one script: rows re-render)."""
    return [int(text) for text in dash_duo.driver.execute_script(GRID_IDS_JS) if text.strip()]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_inspector_steps_through_the_sorted_grid_and_links_to_raw_data_and_review(dash_duo, app, width):
    dash_duo.start_server(app)
    visit(dash_duo, "?tab=inspect", width)
    dash_duo.wait_for_element(".ag-row[row-index='3'] [col-id='example_id']", timeout=20)
    unsorted = grid_ids(dash_duo)
    click(dash_duo, ".ag-header-cell[col-id='total_loss'] .ag-header-cell-label")  # sort by total loss
    WebDriverWait(dash_duo.driver, 30).until(lambda _: len(grid_ids(dash_duo)) > 3 and grid_ids(dash_duo) != unsorted)
    shown = grid_ids(dash_duo)
    click(dash_duo, ".ag-row[row-index='1'] [col-id='text']")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {shown[1]}", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#inspector-position", "2 of ", timeout=TIMEOUT)

    click(dash_duo, "#inspector-next")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {shown[2]}", timeout=TIMEOUT)
    click(dash_duo, "#inspector-prev")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {shown[1]}", timeout=TIMEOUT)
    click(dash_duo, "#inspector-prev")
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {shown[0]}", timeout=TIMEOUT)
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: not dash_duo.find_element("#inspector-prev").is_enabled())

    review = dash_duo.find_element("#inspector-review-link").get_attribute("href")
    assert f"rev_ex={shown[0]}" in review and "tab=review" in review
    click(dash_duo, "#inspector-raw-link")
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: url_state(dash_duo).get("tab") == "raw_data")
    dash_duo.wait_for_text_to_equal("#raw_data-content h6", f"Example {shown[0]}", timeout=TIMEOUT)
    assert "sample" not in url_state(dash_duo)
    WebDriverWait(dash_duo.driver, TIMEOUT).until(
        lambda driver: not driver.execute_script("return document.querySelector('.modal.show')")
    )

    away, back, step = ("prev", "next", -1) if shown[0] > 0 else ("next", "prev", 1)  # the last id has no next
    click(dash_duo, f"#raw_data-{away}")
    dash_duo.wait_for_text_to_equal("#raw_data-content h6", f"Example {shown[0] + step}", timeout=TIMEOUT)
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: url_state(dash_duo).get("raw_id") == str(shown[0] + step))
    click(dash_duo, f"#raw_data-{back}")
    dash_duo.wait_for_text_to_equal("#raw_data-content h6", f"Example {shown[0]}", timeout=TIMEOUT)
    no_console_errors(dash_duo)


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_probing_answers_its_prefilled_text_on_open_and_probes_again_on_ctrl_enter(
    dash_duo, tiny_cache, monkeypatch, width
):
    monkeypatch.delenv("EXPLAINER_MODEL", raising=False)
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    visit(dash_duo, "?tab=probing", width)
    dash_duo.wait_for_contains_text("#probing-line-1 .probing-words", "Paris", timeout=60)  # no click

    box = dash_duo.find_element("#probing-text")
    dash_duo.clear_input(box)
    box.send_keys("Anna met Bob\nin Rome")
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    dash_duo.wait_for_contains_text("#probing-line-2 .probing-words", "Rome", timeout=30)
    assert "Anna" in dash_duo.find_element("#probing-line-1 .probing-words").text
    assert dash_duo.find_element("#probing-text").get_attribute("value") == "Anna met Bob\nin Rome"  # no newline added
    no_console_errors(dash_duo)


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_explain_keeps_entities_and_errors_and_asks_why_not_gold_in_one_click(dash_duo, tiny_cache, monkeypatch, width):
    from explainer.analysis.labels import entity_type
    from explainer.cache.reader import open_cache

    monkeypatch.delenv("EXPLAINER_MODEL", raising=False)
    cache = open_cache(tiny_cache)
    words = cache.words
    examples = cache.examples.set_index("example_id")
    missed = words[(words["gold"] != "O") & (words["gold"].map(entity_type) != words["pred"].map(entity_type))]
    missed = missed[~missed["example_id"].map(examples["windowed"]).astype(bool)]
    example_id = int(missed["example_id"].iloc[0])
    mine = words[words["example_id"] == example_id]
    kept = mine[(mine["pred"] != "O") | (mine["gold"] != mine["pred"])]

    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    visit(dash_duo, f"?tab=inspect&sample={example_id}", width)
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=TIMEOUT)
    click(dash_duo, "#inspector-content .attr-explain-button")
    dash_duo.wait_for_element("#inspector-content .attr-line", timeout=60)
    targets = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#inspector-content .attr-target')).map(t => t.textContent)"
    )
    assert len(targets) == len(kept)  # first subwords of entity predictions and errors only: no O, no [CLS]
    assert not any("[CLS]" in text or "[SEP]" in text for text in targets)

    row = missed[missed["example_id"] == example_id].iloc[0]
    click(dash_duo, "#inspector-content .attr-why-button")
    WebDriverWait(dash_duo.driver, 60).until(
        lambda driver: driver.execute_script(
            "var t = document.querySelectorAll('#inspector-content .attr-target');"
            "return t.length === 1 ? t[0].textContent : null"
        )
    )
    (target,) = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#inspector-content .attr-target')).map(t => t.textContent)"
    )
    assert f"→ {row['pred']} − {row['gold']}" in target  # the prediction against the gold label
    no_console_errors(dash_duo)
