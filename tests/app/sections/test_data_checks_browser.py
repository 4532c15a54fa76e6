"""Data checks in headless Chromium: Show lists a check's examples, whose Inspect button opens the inspector."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def click(dash_duo, selector: str) -> None:
    element = dash_duo.wait_for_element(selector, timeout=15)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def test_show_a_check_then_inspect_an_example(dash_duo, tiny_cache):
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=data_checks")
    dash_duo.wait_for_contains_text("#data_checks-table", "Normaliser: case removed", timeout=20)

    click(dash_duo, ".data-checks-show-normaliser_case")
    dash_duo.wait_for_contains_text("#data_checks-examples", "Normaliser: case removed", timeout=20)
    assert "chk_check=normaliser_case" in dash_duo.driver.current_url
    buttons = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#data_checks-examples button")
    assert buttons

    dash_duo.driver.execute_script("arguments[0].click();", buttons[0])
    dash_duo.wait_for_contains_text("#inspector-title", "Example", timeout=20)
    assert "sample=" in dash_duo.driver.current_url

    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
