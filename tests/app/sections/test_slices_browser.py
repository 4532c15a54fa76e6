"""Slices in headless Chromium: the charts draw, a bar's click selects its bucket (URL and detail), and the
detail's link opens the bucket's span errors in Misclassified."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_bar_opens_its_bucket_and_its_errors(dash_duo, tiny_cache):
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=slices")
    dash_duo.wait_for_contains_text("#slices-weak", "", timeout=20)
    chart = dash_duo.wait_for_element("#slices-charts .js-plotly-plot", timeout=20)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
    # The tiny model's bars are flat (F1 ~0), with nothing to aim a pointer at: the click is plotly's own
    # event on the first bar, as a pointer click emits it (dcc.Graph reads the bar's customdata from it).
    dash_duo.driver.execute_script(
        "arguments[0].emit('plotly_click', {points: [{curveNumber: 0, pointNumber: 0}]});", chart
    )
    dash_duo.wait_for_contains_text("#slices-detail", "List its span errors", timeout=60)
    assert "sl_slice=type%3D" in dash_duo.driver.current_url  # the first chart is the entity type's

    link = dash_duo.driver.find_element(By.CSS_SELECTOR, "#slices-detail a.btn")
    dash_duo.driver.execute_script("arguments[0].click();", link)
    dash_duo.wait_for_contains_text("#misclassified-summary", "(a slice)", timeout=60)
    assert "mis_slice=" in dash_duo.driver.current_url

    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
