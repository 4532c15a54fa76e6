"""Embeddings and Find duplicates in headless Chromium: a click opens the inspector, a selection fills the table.

The app's Content-Security-Policy has no 'unsafe-eval', which plotly's default bundle needs for
WebGL (regl compiles shaders with ``new Function``): the app serves plotly's *strict* bundle from
assets/, and these tests are what shows the scatter really draws and answers under that policy.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import ISOLATED_POINT_JS, click_plot_at, viewport_point, wait_for_scatter
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from explainer.analysis.embeddings import parse_region, points_in_region
from explainer.app.components.wording import counted
from explainer.app.factory import ASSETS, create_app
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache.reader import open_cache
from explainer.pipeline.projection import FILES, WORD_PROJECTION, add_projections

pytestmark = pytest.mark.browser

GRAPH = "#embeddings-graph .js-plotly-plot"


@pytest.fixture(scope="module")
def root(tiny_cache, tmp_path_factory):
    """A cache root: the tiny cache with PCA projections ("tiny") and without any ("bare")."""
    root = tmp_path_factory.mktemp("embeddings-browser")
    shutil.copytree(tiny_cache, root / "tiny")
    shutil.copytree(tiny_cache, root / "bare")
    for name in FILES:  # as a cache built before projections existed
        (root / "bare" / name).unlink(missing_ok=True)
    add_projections(root / "tiny", method="pca")
    return root


@pytest.fixture
def app(root):
    return create_app(Settings(cache=root))


def visit(dash_duo, query: str):
    dash_duo.driver.get(dash_duo.server_url + "/" + query)


def no_console_errors(dash_duo):
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []


def lasso_through(dash_duo, vertices: list[tuple[float, float]], *, steps: int = 6):
    """Press at the first vertex, move through the others and back in small steps, release (plot-area pixels)."""
    points = [viewport_point(dash_duo, GRAPH, *vertex) for vertex in vertices]
    actions = ActionBuilder(dash_duo.driver)
    move = actions.pointer_action.move_to_location(*points[0]).pointer_down()
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        for step in range(1, steps + 1):
            move = move.move_to_location(int(x0 + (x1 - x0) * step / steps), int(y0 + (y1 - y0) * step / steps))
    move.pointer_up()
    actions.perform()


def test_the_app_serves_plotlys_strict_bundle_of_the_plotly_version_in_use():
    from plotly.offline import get_plotlyjs_version

    bundle = ASSETS / "plotly-strict.min.js"
    assert bundle.is_file(), "assets/ needs plotly's strict bundle: the default one needs 'unsafe-eval' for WebGL"
    header = bundle.read_text(encoding="utf-8", errors="replace")[:200]
    # A plotly upgrade must bring the matching strict bundle (assets/README.md says how).
    assert f"plotly.js (strict - minified) v{get_plotlyjs_version()}" in header


def requests_of_the_page(dash_duo) -> list[str]:
    return dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
        ".concat([window.location.href]);"
    )


def test_the_scatter_draws_under_the_csp_with_one_plotly_and_nothing_from_elsewhere(dash_duo, app):
    from urllib.parse import urlsplit

    dash_duo.start_server(app)
    visit(dash_duo, "?cache=tiny&tab=embeddings")
    wait_for_scatter(dash_duo, GRAPH)
    assert dash_duo.driver.execute_script(
        "return document.querySelectorAll(arguments[0] + ' canvas').length > 0 && window.Plotly.version", GRAPH
    )
    requests = requests_of_the_page(dash_duo)
    plotly = [url for url in requests if "plotly" in urlsplit(url).path.rsplit("/", 1)[-1]]
    assert len(plotly) == 1 and "plotly-strict.min.js" in plotly[0]  # Dash did not load its own bundle too
    origin = urlsplit(dash_duo.server_url).netloc
    assert {urlsplit(url).netloc for url in requests} == {origin} and urlsplit(dash_duo.server_url).hostname in (
        "127.0.0.1",
        "localhost",
    )
    no_console_errors(dash_duo)


def test_clicking_a_point_opens_the_inspector_on_that_word_twice(dash_duo, app, root):
    cache = open_cache(root / "tiny")
    dash_duo.start_server(app)
    visit(dash_duo, "?cache=tiny&tab=embeddings")
    wait_for_scatter(dash_duo, GRAPH)
    point = dash_duo.driver.execute_script(ISOLATED_POINT_JS, GRAPH, 10)
    assert point["gap"] > 4
    example_id, word_index = point["ids"]
    word = cache.words[(cache.words["example_id"] == example_id) & (cache.words["word_index"] == word_index)]["word"]
    for _ in range(2):  # the second click on the same point must work too (clickData is reset)
        click_plot_at(dash_duo, GRAPH, point["px"], point["py"])
        dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=15)
        state = parse_query(dash_duo.driver.execute_script("return window.location.search"))
        assert state["sample"] == str(example_id) and state["word"] == str(word_index)
        assert dash_duo.find_element("#inspector-body mark.word-highlight").text == word.iloc[0]
        dash_duo.find_element("#inspector .btn-close").click()
        WebDriverWait(dash_duo.driver, 10).until(
            lambda driver: "sample" not in parse_query(driver.execute_script("return window.location.search"))
        )
        WebDriverWait(dash_duo.driver, 10).until(
            lambda driver: not driver.find_elements(By.CSS_SELECTOR, "#inspector.show")
        )
    no_console_errors(dash_duo)


def test_a_lasso_selection_fills_the_table_and_a_row_opens_the_inspector(dash_duo, app, root):
    cache = open_cache(root / "tiny")
    coords = np.load(root / "tiny" / WORD_PROJECTION)
    dash_duo.start_server(app)
    visit(dash_duo, "?cache=tiny&tab=embeddings")
    wait_for_scatter(dash_duo, GRAPH)
    # A real mouse drag with plotly's lasso (the scatter's default tool) around the middle of the plot.
    width, height = dash_duo.driver.execute_script(
        "var l = document.querySelector(arguments[0])._fullLayout; return [l.xaxis._length, l.yaxis._length];", GRAPH
    )
    lasso_through(
        dash_duo,
        [
            (width * 0.25, height * 0.2),
            (width * 0.7, height * 0.25),
            (width * 0.65, height * 0.8),
            (width * 0.3, height * 0.75),
        ],
    )
    WebDriverWait(dash_duo.driver, 15).until(
        lambda driver: "emb_sel" in parse_query(driver.execute_script("return window.location.search"))
    )
    state = parse_query(dash_duo.driver.execute_script("return window.location.search"))
    region = parse_region(state["emb_sel"])
    assert "lasso" in region
    inside = points_in_region(coords[:, 0], coords[:, 1], region)
    assert inside.sum() > 0
    summary = f"{counted(int(inside.sum()), 'word')} in the selection"
    dash_duo.wait_for_contains_text("#embeddings-selection-summary", summary, timeout=15)
    # The selection is part of the URL: a reload (or the link, shared) shows the same words.
    dash_duo.driver.refresh()
    wait_for_scatter(dash_duo, GRAPH)
    dash_duo.wait_for_contains_text("#embeddings-selection-summary", summary, timeout=15)
    words = cache.words[inside]
    counts = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in dash_duo.find_elements("#embeddings-counts tbody tr")
    }
    expected = words["gold"].value_counts()
    assert {label: int(text.replace(",", "")) for label, text in counts.items() if text != "0"} == dict(expected)
    # The table lists those words, highest loss first; a row opens the inspector on its example.
    first_cell = dash_duo.wait_for_element("div[id^='embeddings-grid-'] .ag-row[row-index='0'] .ag-cell", timeout=15)
    example_id = int(first_cell.text)
    assert example_id in set(words[words["loss"] == words["loss"].max()]["example_id"])
    first_cell.click()
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=15)
    no_console_errors(dash_duo)


def test_a_duplicate_cards_button_opens_the_inspector(dash_duo, app):
    dash_duo.start_server(app)
    visit(dash_duo, "?cache=tiny&tab=duplicates&dup_threshold=0.80")
    button = dash_duo.wait_for_element(".duplicate-card .card-body button", timeout=20)
    example_id = int(button.text.lstrip("#"))
    button.click()
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {example_id}", timeout=15)
    no_console_errors(dash_duo)
