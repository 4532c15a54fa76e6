"""The Data map in headless Chromium: the scatter draws under the app's strict CSP, a click on a point opens
the inspector on its example, the span toggle redraws with spans and writes the URL."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.state import parse_query

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRAPH = "#data_map-graph .js-plotly-plot"
# The drawn point farthest (in pixels) from any other, so a click there can only hit it.
ISOLATED_POINT_JS = """
var gd = document.querySelector(arguments[0]);
var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, points = [];
gd._fullData.forEach(function (trace) {
    for (var i = 0; i < trace.x.length; i++) {
        points.push({px: xa.l2p(trace.x[i]), py: ya.l2p(trace.y[i]), ids: String(trace.customdata[i]).split(':').map(Number)});
    }
});
var best = null, bestGap = -1;
points.forEach(function (p) {
    var gap = Infinity;
    points.forEach(function (q) { if (q !== p) { gap = Math.min(gap, Math.hypot(p.px - q.px, p.py - q.py)); } });
    if (gap > bestGap && p.px > 5 && p.py > 5 && p.px < xa._length - 5 && p.py < ya._length - 5) { best = p; bestGap = gap; }
});
best.gap = bestGap;
return best;
"""


def wait_for_scatter(dash_duo) -> None:
    dash_duo.driver.set_window_size(1400, 1400)
    dash_duo.wait_for_element(f"{GRAPH} .nsewdrag", timeout=20)
    WebDriverWait(dash_duo.driver, 20).until(
        lambda driver: driver.execute_script(
            "var gd = document.querySelector(arguments[0]); return gd && gd._fullLayout && gd.data.length > 0", GRAPH
        )
    )
    size = lambda: dash_duo.driver.execute_script(  # noqa: E731
        "var l = document.querySelector(arguments[0])._fullLayout; return [l.width, l.height];", GRAPH
    )
    previous = None
    for _ in range(40):  # the graph resizes to its container after the first draw
        current = size()
        if current == previous:
            break
        previous = current
        time.sleep(0.5)
    assert "WebGL is not supported" not in dash_duo.find_element(GRAPH).text


def click_at(dash_duo, px: float, py: float) -> None:
    drag = dash_duo.find_element(f"{GRAPH} .nsewdrag")
    left, top = dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); var r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top];",
        drag,
    )
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(int(round(left + px)), int(round(top + py))).pause(0.2).click()
    actions.perform()


def test_click_a_point_to_inspect_it_and_switch_to_spans(dash_duo, tiny_cache_dynamics):
    dash_duo.start_server(create_app(Settings(cache=tiny_cache_dynamics.parent)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=data_map")
    wait_for_scatter(dash_duo)
    point = dash_duo.driver.execute_script(ISOLATED_POINT_JS, GRAPH)
    assert point["gap"] > 3  # a point no other covers
    example_id = int(point["ids"][0])
    click_at(dash_duo, point["px"], point["py"])
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=15)
    state = parse_query(dash_duo.driver.execute_script("return window.location.search"))
    assert state["sample"] == str(example_id) and state["tab"] == "data_map"

    dash_duo.driver.get(dash_duo.server_url + "/?tab=data_map")
    wait_for_scatter(dash_duo)
    radio = dash_duo.driver.find_element(By.CSS_SELECTOR, "#data_map-level input[value='spans']")
    dash_duo.driver.execute_script("arguments[0].click();", radio)
    dash_duo.wait_for_contains_text("#data_map-lowest", "Lowest margin first (gold spans)", timeout=15)
    assert "dmap_level=spans" in dash_duo.driver.current_url
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
