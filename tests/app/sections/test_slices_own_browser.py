"""Your own slice in headless Chromium: a Misclassified filter saved as a named slice shows in Slices with its
F1 and interval beside the rest of the dataset, and its link lists its errors in Misclassified again."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.cache.own_slices import read_slices, slices_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_filter_saved_as_a_slice_shows_in_slices_with_its_metrics(dash_duo, tiny_cache, tmp_path):
    dash_duo.start_server(create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path)))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=misclassified&mis_level=span&mis_category=missed")
    dash_duo.wait_for_contains_text("#misclassified-summary", "span errors match", timeout=30)

    name = dash_duo.wait_for_element("#misclassified-slice-name", timeout=20)
    name.send_keys("missed spans")
    dash_duo.driver.execute_script("arguments[0].click();", dash_duo.find_element("#misclassified-slice-save"))
    dash_duo.wait_for_contains_text("#misclassified-slice-message", "Saved 'missed spans'", timeout=30)
    (saved,) = read_slices(slices_path(tiny_cache, tmp_path))
    assert saved.made_from == "Misclassified filter (span level)" and saved.examples

    link = dash_duo.driver.find_element(By.LINK_TEXT, "See it in Slices")
    dash_duo.driver.execute_script("arguments[0].click();", link)
    dash_duo.wait_for_contains_text("#slices-own", "Your slice 'missed spans'", timeout=60)
    assert "sl_own=missed+spans" in dash_duo.driver.current_url
    own = dash_duo.find_element("#slices-own").text
    assert f"{len(saved.examples):,} examples" in own and "rest of the dataset" in own and "F1" in own
    dash_duo.wait_for_element("#slices-own-chart .js-plotly-plot", timeout=20)

    errors = dash_duo.driver.find_element(By.LINK_TEXT, "List its errors in Misclassified")
    dash_duo.driver.execute_script("arguments[0].click();", errors)
    dash_duo.wait_for_contains_text(
        "#misclassified-summary", "in the examples of your slice 'missed spans'", timeout=60
    )
    assert "mis_own=missed+spans" in dash_duo.driver.current_url

    severe = [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"]
    assert severe == []
