"""The aligned rows in headless Chromium: drawn from their JSON as text, wrapped into lines, redrawn on update."""

from __future__ import annotations

import dash
import pytest
from dash import Input, Output, html
from helpers import HOSTILE_WORDS
from selenium.webdriver.common.by import By

from explainer.app.components.aligned import aligned_blocks
from explainer.app.factory import ASSETS

pytestmark = pytest.mark.browser


def blocks(words):
    return [[word, "", [[[word.lower(), ""], ["O", ""]]]] for word in words]


def test_rows_are_drawn_as_text_and_wrap_instead_of_scrolling(dash_duo):
    words = [*HOSTILE_WORDS, *(f"word{n}" for n in range(300))]
    app = dash.Dash(__name__, assets_folder=str(ASSETS))
    app.layout = html.Div(
        [
            html.Button("next", id="next"),
            html.Div(aligned_blocks(["word", "subword", "gold"], blocks(words)), id="holder", style={"width": "600px"}),
        ]
    )

    @app.callback(Output("holder", "children"), Input("next", "n_clicks"), prevent_initial_call=True)
    def replace(_clicks):
        return aligned_blocks(["word", "subword", "gold"], blocks(["other", "words"]))

    dash_duo.start_server(app)
    dash_duo.wait_for_element(".aligned-example .aligned-word", timeout=15)
    example = dash_duo.find_element(".aligned-example")
    shown = [cell.get_attribute("textContent") for cell in example.find_elements(By.CSS_SELECTOR, ".aligned-word")]
    assert shown == words  # every word, as text
    assert not example.find_elements(By.CSS_SELECTOR, "script, b, img, iframe")  # no markup from the data
    width, scroll = dash_duo.driver.execute_script(
        "var e = arguments[0]; return [e.clientWidth, e.scrollWidth];", example
    )
    assert scroll <= width  # nothing runs off to the right
    tops = {block.location["y"] for block in example.find_elements(By.CSS_SELECTOR, ".aligned-block")}
    assert len(tops) > 5  # the blocks wrapped into lines
    assert example.find_element(By.CSS_SELECTOR, ".aligned-head").text.split() == ["word", "subword", "gold"]

    dash_duo.find_element("#next").click()
    dash_duo.wait_for_text_to_equal(".aligned-example .aligned-block:nth-child(2) .aligned-word", "other", timeout=10)
    assert len(dash_duo.find_elements(".aligned-example .aligned-word")) == 2
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
