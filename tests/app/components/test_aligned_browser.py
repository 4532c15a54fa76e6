"""The aligned tables in headless Chromium: assets/aligned.js builds them from their data, as text."""

from __future__ import annotations

import pytest
from helpers import HOSTILE_WORDS
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_table_is_built_from_its_data_with_hostile_words_as_text(dash_duo, tiny_cache):
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent)))
    # Data checks lists the example with markup in its words (long_split) as an aligned card.
    dash_duo.driver.get(dash_duo.server_url + "/?tab=data_checks&chk_check=long_split")
    table = dash_duo.wait_for_element("#data_checks-examples table.aligned-example", timeout=30)
    rows = {
        row.get_attribute("class").removeprefix("aligned-"): row.find_elements(By.CSS_SELECTOR, "td")
        for row in table.find_elements(By.CSS_SELECTOR, "tr")
    }
    assert list(rows) == ["word", "subword", "gold", "predicted", "loss"]
    words = [cell.text for cell in rows["word"]]
    assert any(word in words for word in HOSTILE_WORDS)
    n_subwords = len(rows["subword"])
    assert all(len(rows[name]) == n_subwords for name in ("gold", "predicted", "loss"))
    assert sum(int(cell.get_attribute("colspan") or 1) for cell in rows["word"]) == n_subwords
    assert any("ign" in cell.get_attribute("class") for cell in rows["loss"])
    # Markup in the words stayed text: no element came of it.
    assert not dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#data_checks-examples script, #data_checks-examples img, #data_checks-examples td b"
    )
    errors = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert errors == []
