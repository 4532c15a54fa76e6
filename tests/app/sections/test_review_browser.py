"""The Review tab in headless Chromium: select words, add a span, save with the keyboard, export."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.review.store import open_store

pytestmark = pytest.mark.browser


def downloaded(directory, *, timeout: float = 15.0) -> Path:
    """The file the browser downloaded into ``directory`` (waits for it to be complete)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [path for path in Path(directory).iterdir() if not path.name.endswith(".crdownload")]
        if files:
            return files[0]
        time.sleep(0.2)
    raise AssertionError(f"nothing was downloaded into {directory}")


def click_when_free(dash_duo, selector: str, *, timeout: float = 10.0) -> None:
    """Click ``selector`` once no loading overlay covers it and it is not being re-rendered."""
    deadline = time.monotonic() + timeout
    while True:
        element = dash_duo.find_element(selector)
        dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        try:
            element.click()
            return
        except (ElementClickInterceptedException, StaleElementReferenceException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_edit_a_span_save_with_a_key_and_see_it_in_the_export(dash_duo, tiny_cache, tiny_dataset, tmp_path):
    app = create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path))
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/?tab=review")
    title = dash_duo.wait_for_element("#review-title", timeout=20).text
    example_id = int(title.split()[-1])
    chips = dash_duo.find_elements(".review-word")
    words = [chip.text for chip in chips]
    first_tag = chips[0].get_attribute("title").split(": ")[-1]
    click_when_free(dash_duo, "#review-chips > button:nth-of-type(1)")
    dash_duo.wait_for_contains_text("#review-selection", "selected words 0–0", timeout=10)
    click_when_free(dash_duo, "#review-chips > button:nth-of-type(2)")
    dash_duo.wait_for_contains_text("#review-selection", "selected words 0–1", timeout=10)
    new_type = "MISC" if first_tag[2:] != "MISC" else "PER"  # a type the words do not have yet
    Select(dash_duo.find_element("#review-new-type")).select_by_value(new_type)
    click_when_free(dash_duo, "#review-add")
    dash_duo.wait_for_contains_text("#review-state", "unsaved changes", timeout=10)
    dash_duo.find_element("body").send_keys("s")  # the keyboard shortcut for Save
    dash_duo.wait_for_contains_text("#review-state", "reviewed: edited", timeout=10)
    dash_duo.wait_for_contains_text("#review-progress", "1 of", timeout=10)

    [decision] = open_store(tiny_cache, directory=tmp_path).history()
    assert decision["example_id"] == example_id and decision["words"] == words
    assert decision["corrected"][:2] == [f"B-{new_type}", f"I-{new_type}"]

    click_when_free(dash_duo, "#review-dl-conll")
    dash_duo.wait_for_contains_text("#review-export-note", "1 example corrected", timeout=15)
    merged = downloaded(dash_duo.download_path).read_text(encoding="utf-8").split("\n")
    original = tiny_dataset.read_text(encoding="utf-8").split("\n")
    assert len(merged) == len(original)
    changed = [(old, new) for old, new in zip(original, merged) if old != new]
    assert [new.split() for _, new in changed][:2] == [[words[0], f"B-{new_type}"], [words[1], f"I-{new_type}"]]
    assert all(old.split()[0] == new.split()[0] for old, new in changed)  # only tags changed
    dash_duo.find_element("body").send_keys("n")  # the keyboard shortcut for Next
    WebDriverWait(dash_duo.driver, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda driver: driver.find_element(By.ID, "review-title").text != title
    )  # the panel is re-rendered
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []


def test_a_save_on_another_reviewers_decision_shows_theirs_and_takes_it_with_a_key(dash_duo, tiny_cache, tmp_path):
    from explainer.cache.reader import open_cache
    from explainer.review import session
    from explainer.review.corrections import make_decision
    from explainer.review.store import open_store

    app = create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path, reviewer="bob"))
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/?tab=review")
    example_id = int(dash_duo.wait_for_element("#review-title", timeout=20).text.split()[-1])
    # While bob looks at the example, ann saves all predictions on it from another host.
    draft = session.new_draft(open_cache(tiny_cache), example_id, {})
    theirs = ["O"] * len(draft["words"])
    theirs[0] = "B-PER" if draft["gold"][0] != "B-PER" else "B-LOC"
    ann = make_decision(
        key=draft["key"], words=draft["words"], original=draft["gold"], corrected=theirs, kind="edit", reviewer="ann"
    )
    open_store(tiny_cache, directory=tmp_path).save(ann, base=0)
    dash_duo.find_element("body").send_keys("a")  # bob accepts gold: refused, ann's decision shown
    dash_duo.wait_for_contains_text("#review-message", "ann saved a decision", timeout=15)
    conflict = dash_duo.wait_for_element("#review-conflict", timeout=10).text
    assert f"{draft['words'][0]} ({theirs[0][2:]})" in conflict and "Take theirs (t)" in conflict
    dash_duo.find_element("body").send_keys("t")
    dash_duo.wait_for_contains_text("#review-state", "by ann", timeout=10)
    assert open_store(tiny_cache, directory=tmp_path).history()[-1]["reviewer"] == "ann"  # taking saves nothing
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
