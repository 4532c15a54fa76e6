"""The Activations tab in headless Chromium: components shaded on an example, top words, URL state."""

from __future__ import annotations

import shutil

import pytest
from helpers import build_activation_cache
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache import schema
from explainer.cache.reader import open_cache

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def root(tiny_model, tiny_dataset, tmp_path_factory):
    """A cache root: a cache with activations ("tiny") and a copy without them ("bare")."""
    root = tmp_path_factory.mktemp("activations-browser")
    build_activation_cache(tiny_model, tiny_dataset, root / "tiny")
    shutil.copytree(root / "tiny", root / "bare")
    (root / "bare" / schema.ACTIVATIONS).unlink()
    return root


def no_console_errors(dash_duo):
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == [], errors


def test_section_shows_components_on_an_example_and_keeps_the_view_in_the_url(dash_duo, root):
    cache = open_cache(root / "tiny")
    hostile = int(cache.examples[cache.examples["text"].str.contains("<script>", regex=False)]["example_id"].iloc[0])
    dash_duo.start_server(create_app(Settings(cache=root)))
    dash_duo.driver.get(f"{dash_duo.server_url}/?cache=tiny&tab=activations&act_k=3&act_layers=1&act_example={hostile}")
    dash_duo.wait_for_element("#activations-example-rows", timeout=30)
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#activations-example-rows tr")
    assert len(rows) == 3
    words = [span.text for span in rows[0].find_elements(By.CSS_SELECTOR, ".act-word")]
    assert words == list(cache.examples.loc[hostile, "words"])  # hostile words shown as text, not markup
    assert (
        dash_duo.driver.find_elements(By.CSS_SELECTOR, "#activations-example-rows script, #activations-example-rows b")
        == []
    )
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#activations-top-words .act-component")) == 3
    assert "layer 1 " in dash_duo.find_element("#activations-summary").text
    state = parse_query(dash_duo.driver.execute_script("return window.location.search"))
    assert (state["act_k"], state["act_layers"], state["act_example"]) == ("3", "1", str(hostile))
    dash_duo.find_element("#activations-inspect").click()
    dash_duo.wait_for_text_to_equal("#inspector-title", f"Example {hostile}", timeout=15)
    no_console_errors(dash_duo)


def test_cache_without_activations_shows_the_build_option(dash_duo, root):
    dash_duo.start_server(create_app(Settings(cache=root)))
    dash_duo.driver.get(f"{dash_duo.server_url}/?cache=bare&tab=activations")
    note = dash_duo.wait_for_element("#activations-note", timeout=20)
    assert "--activations-sample" in note.text
    no_console_errors(dash_duo)
