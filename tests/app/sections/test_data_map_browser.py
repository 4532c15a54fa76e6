"""The Data map in headless Chromium: the scatter draws under the app's strict CSP, a click on a point opens
the inspector on its example, the span toggle redraws with spans and writes the URL."""

from __future__ import annotations

import pytest
from helpers import ISOLATED_POINT_JS, click_plot_at, wait_for_scatter
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.state import parse_query

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRAPH = "#data_map-graph .js-plotly-plot"


def test_click_a_point_to_inspect_it_and_switch_to_spans(dash_duo, tiny_cache_dynamics):
    dash_duo.start_server(create_app(Settings(cache=tiny_cache_dynamics.parent)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=data_map")
    wait_for_scatter(dash_duo, GRAPH)
    point = dash_duo.driver.execute_script(ISOLATED_POINT_JS, GRAPH, 5)
    assert point["gap"] > 3  # a point no other covers
    example_id = int(point["ids"][0])
    click_plot_at(dash_duo, GRAPH, point["px"], point["py"])
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=15)
    state = parse_query(dash_duo.driver.execute_script("return window.location.search"))
    assert state["sample"] == str(example_id) and state["tab"] == "data_map"

    dash_duo.driver.get(dash_duo.server_url + "/?tab=data_map")
    wait_for_scatter(dash_duo, GRAPH)
    radio = dash_duo.driver.find_element(By.CSS_SELECTOR, "#data_map-level input[value='spans']")
    dash_duo.driver.execute_script("arguments[0].click();", radio)
    dash_duo.wait_for_contains_text("#data_map-lowest", "Lowest margin first (gold spans)", timeout=15)
    assert "dmap_level=spans" in dash_duo.driver.current_url
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
