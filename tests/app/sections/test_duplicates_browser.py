"""Find duplicates in headless Chromium at 1024 and 1600 px: a shared link's other cache stays chosen, the
leakage table shows whole sentences (wrapped, not cut at the column's width), nothing runs off to the right."""

from __future__ import annotations

import shutil

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.state import parse_query

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1600)
TIMEOUT = 30  # generous: these machines are shared and often loaded

CUT_JS = """
var cells = Array.from(document.querySelectorAll("#duplicates-leaks .ag-center-cols-container [col-id='text']"));
return [cells.length, cells.filter(function (cell) {
    var text = cell.querySelector('.ag-cell-value') || cell;
    return text.scrollWidth > text.clientWidth + 1 || text.scrollHeight > cell.clientHeight + 1;
}).map(function (cell) { return cell.textContent; })];
"""


@pytest.fixture(scope="module")
def root(tiny_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("leak")
    for name in ("tiny", "copy"):
        shutil.copytree(tiny_cache, root / name)
    return root


@pytest.mark.parametrize("width", WIDTHS)
def test_a_shared_leakage_link_shows_whole_sentences(dash_duo, root, width):
    dash_duo.start_server(create_app(Settings(cache=root)))
    dash_duo.driver.set_window_size(width, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/?cache=tiny&tab=duplicates&dup_with=copy")
    dash_duo.wait_for_contains_text("#duplicates-leak-summary", "also occur in", timeout=TIMEOUT)
    dash_duo.wait_for_element("#duplicates-leaks .ag-center-cols-container [col-id='text']", timeout=TIMEOUT)
    WebDriverWait(dash_duo.driver, TIMEOUT, poll_frequency=0.3).until(lambda _: dash_duo._wait_for_callbacks())
    assert parse_query("?" + dash_duo.driver.current_url.partition("?")[2])["dup_with"] == "copy"  # kept
    n_cells, cut = dash_duo.driver.execute_script(CUT_JS)
    assert n_cells > 5 and cut == []
    overflow = dash_duo.driver.execute_script("var e = document.documentElement; return e.scrollWidth - e.clientWidth;")
    assert overflow <= 0
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
