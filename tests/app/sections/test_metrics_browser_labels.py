"""Labels that fit, in headless Chromium at 1024 and 1600 px: the confusion names every row and column with
readable numbers, the Metrics table shows type names whole, Debug's long JSON lines wrap, and the
Embeddings legend counts each entity type."""

from __future__ import annotations

import shutil

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.cache.reader import open_cache
from explainer.pipeline.projection import add_projections

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1600)
TIMEOUT = 30


@pytest.fixture(scope="module")
def root(tiny_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("labels-browser")
    shutil.copytree(tiny_cache, root / "tiny")
    add_projections(root / "tiny", method="pca")
    return root


def visit(dash_duo, query: str, width: int):
    dash_duo.driver.set_window_size(width, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/" + query)


def script(dash_duo, text: str, *args):
    return dash_duo.driver.execute_script(text, *args)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_label_is_named_readable_and_whole(dash_duo, root, width):
    cache = open_cache(root / "tiny")
    labels = cache.metrics["confusion"]["labels"]
    dash_duo.start_server(create_app(Settings(cache=root)))
    visit(dash_duo, "?tab=metrics&metrics_confusion=word", width)  # the word-level matrix: every B-/I- label
    dash_duo.wait_for_element("#metrics-confusion .ytick", timeout=TIMEOUT)
    ticks = lambda axis: script(
        dash_duo,
        f"return Array.from(document.querySelectorAll('#metrics-confusion .{axis}tick text')).map(t => t.textContent)",
    )
    WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: len(ticks("y")) == len(labels))
    assert ticks("y") == labels and ticks("x") == labels  # every row and column, none skipped
    sizes = script(
        dash_duo,
        "return Array.from(document.querySelectorAll('#metrics-confusion .heatmaplayer text, "
        "#metrics-confusion text.textpoint')).map(t => parseFloat(getComputedStyle(t).fontSize))",
    )
    assert sizes and min(sizes) >= 9  # cell numbers stay readable
    cut = script(
        dash_duo,
        "return Array.from(document.querySelectorAll('#metrics-report .ag-cell[col-id=\"type\"]'))"
        ".filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent)",
    )
    assert cut == []

    visit(dash_duo, "?tab=debug", width)
    dash_duo.wait_for_element("#tab-content pre", timeout=TIMEOUT)
    overflowing = script(
        dash_duo,
        "return Array.from(document.querySelectorAll('#tab-content pre')).filter(p => p.scrollWidth > p.clientWidth + 1).length",
    )
    assert overflowing == 0

    visit(dash_duo, "?tab=embeddings", width)
    WebDriverWait(dash_duo.driver, TIMEOUT).until(
        lambda _: script(dash_duo, "return document.querySelectorAll('#embeddings-graph .legendtext').length") > 0
    )
    legend = script(
        dash_duo,
        "return Array.from(document.querySelectorAll('#embeddings-graph .legendtext')).map(t => t.textContent)",
    )
    gold_types = cache.words["gold"].str.replace(r"^[BI]-", "", regex=True).value_counts()
    assert sorted(legend) == sorted(f"{kind} · {count:,}" for kind, count in gold_types.items())
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []


def test_export_csv_downloads_the_metrics_table_and_a_server_grid(dash_duo, root):
    import csv
    from pathlib import Path

    cache = open_cache(root / "tiny")
    dash_duo.start_server(create_app(Settings(cache=root)))
    folder = Path(dash_duo.download_path)

    def downloaded(name: str) -> list[dict]:
        WebDriverWait(dash_duo.driver, TIMEOUT).until(lambda _: (folder / name).is_file())
        with open(folder / name, encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))

    visit(dash_duo, "?tab=metrics", 1024)
    dash_duo.wait_for_element("#metrics-report .ag-row", timeout=TIMEOUT)
    script(dash_duo, "document.querySelector('.grid-csv').click()")
    rows = downloaded("metrics.csv")
    assert [row["Type"] for row in rows][: len(cache.metrics["entity_types"])] == sorted(cache.metrics["entity_types"])

    visit(dash_duo, "?tab=inspect", 1600)
    dash_duo.wait_for_element(".ag-row[row-index='0']", timeout=TIMEOUT)
    script(dash_duo, "document.querySelector('.grid-csv').click()")
    rows = downloaded("inspect.csv")
    assert len(rows) == len(cache.examples)  # every row, not the page on screen
