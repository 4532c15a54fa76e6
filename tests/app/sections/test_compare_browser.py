"""Compare in headless Chromium: from Metrics, pick a second cache, open Compare, click the fixed spans'
count and inspect an example: the inspector shows the gold with A's and B's predictions."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def root(tiny_cache, tiny_cache_vs, tmp_path_factory):
    root = tmp_path_factory.mktemp("compare-browser")
    for name, path in (("a", tiny_cache), ("b", tiny_cache_vs)):
        (root / name).symlink_to(path, target_is_directory=True)
    return root


def click(dash_duo, selector: str) -> None:
    element = dash_duo.wait_for_element(selector, timeout=20)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def test_from_metrics_to_a_fixed_span(dash_duo, root):
    dash_duo.start_server(create_app(Settings(cache=root)))
    dash_duo.driver.get(dash_duo.server_url + "/?cache=a&tab=metrics")
    dash_duo.wait_for_contains_text("#metrics-report", "micro avg", timeout=30)

    dash_duo.select_dcc_dropdown("#vs-picker", index=0)  # the only other cache: b
    dash_duo.wait_for_element("#nav a[href*='vs=b']", timeout=20)
    assert "vs=b" in dash_duo.driver.current_url
    click(dash_duo, "#nav a[href*='tab=compare']")
    dash_duo.wait_for_contains_text("#compare-summary", "B − A", timeout=30)
    assert "tab=compare" in dash_duo.driver.current_url

    click(dash_duo, "#compare-transitions .compare-count-fixed")
    dash_duo.wait_for_contains_text("#compare-examples", "fixed", timeout=20)
    assert "cmp_transition=fixed" in dash_duo.driver.current_url
    buttons = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#compare-examples button[id*='open-sample']")
    assert buttons
    dash_duo.driver.execute_script("arguments[0].click();", buttons[0])
    dash_duo.wait_for_contains_text("#inspector-title", "(B)", timeout=20)
    dash_duo.wait_for_contains_text("#inspector-gold", "fixed", timeout=20)
    assert dash_duo.find_element("#inspector-pred-a") and dash_duo.find_element("#inspector-pred-b")
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#inspector-gold .span-changed")

    # A shared link keeps its selection: the section appearing is no click on the first count.
    dash_duo.driver.get(dash_duo.server_url + "/?cache=a&vs=b&tab=compare&cmp_transition=broken&cmp_type=PER")
    dash_duo.wait_for_contains_text("#compare-examples", "broken · PER", timeout=30)
    time.sleep(1)  # a callback fired by the section appearing would have replaced the list by now
    assert "broken · PER" in dash_duo.find_element("#compare-examples").text
    assert "cmp_type=PER" in dash_duo.driver.current_url
    # The slices of both fill in once the page is shown (their callback fires as its trigger appears).
    dash_duo.wait_for_contains_text("#compare-slices", "95% interval", timeout=30)
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#compare-confusion-difference .heatmaplayer")

    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
