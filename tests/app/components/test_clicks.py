"""Which button was clicked (``explainer/app/components/clicks.py``): buttons appearing are no click, in every
callback of the app that listens to a pattern of buttons, grids or charts."""

from __future__ import annotations

import json

import pytest

from explainer.app.components.clicks import clicked, clicked_field, fired
from explainer.app.factory import create_app
from explainer.app.settings import Settings

OPEN = {"type": "open-sample", "section": "samples", "index": 4}


def _trigger(ident, value, prop="n_clicks") -> dict:
    """One item of ``dash.ctx.triggered`` as Dash makes it (a pattern id as compact JSON, sorted keys)."""
    text = json.dumps(ident, sort_keys=True, separators=(",", ":")) if isinstance(ident, dict) else ident
    return {"prop_id": f"{text}.{prop}", "value": value}


def test_buttons_appearing_are_no_click_and_a_risen_count_is():
    assert clicked([_trigger(OPEN, None), _trigger({**OPEN, "index": 5}, None)]) is None  # a page of cards
    assert clicked([_trigger(OPEN, 0)]) is None  # rendered with n_clicks=0 (the Review's draft)
    assert clicked([_trigger(OPEN, 2)]) == OPEN
    assert clicked_field([_trigger(OPEN, 1)], "index") == 4
    # The appearing button comes first, the clicked one after: the click is found, not the first trigger.
    assert clicked([_trigger({**OPEN, "index": 9}, None), _trigger(OPEN, 1)]) == OPEN
    assert clicked([_trigger("review-save", 1)]) == "review-save"  # a fixed id
    assert clicked([{"prop_id": ".", "value": None}]) is None and clicked(None) is None


def test_a_click_of_another_type_or_property_is_not_this_ones():
    triggered = [_trigger({"type": "other", "index": 1}, 1), _trigger("order", "f1", prop="value")]
    assert clicked(triggered, type="open-sample") is None
    assert clicked_field(triggered, "check", type="other") is None  # its id has no such field
    point = {"points": [{"customdata": ["length", "1"]}]}
    chart = {"type": "slices-chart", "attribute": "length"}
    assert fired([_trigger(chart, None, "clickData")], prop="clickData") is None  # a chart appearing
    assert fired([_trigger(chart, point, "clickData")], prop="clickData", type="slices-chart").value == point
    assert fired([_trigger_raw("{not json", 1)]) is None


def _trigger_raw(component: str, value) -> dict:
    return {"prop_id": f"{component}.n_clicks", "value": value}


# --- through the app: every callback that listens to a pattern ------------------------------------

PROPS = ("n_clicks", "cellClicked", "clickData")


@pytest.fixture(scope="module")
def client(tiny_cache):
    app = create_app(Settings(cache=tiny_cache.parent))
    client = app.server.test_client()
    client.get("/")  # sets the server up
    return client


def _dependencies(client) -> list[dict]:
    return json.loads(client.get("/_dash-dependencies").get_data(as_text=True))


def _pattern_callbacks(client) -> list[dict]:
    """The server callbacks with an ALL-pattern input of a clicked property."""
    found = []
    for callback in _dependencies(client):
        if callback.get("clientside_function"):
            continue
        if any(_is_all(item["id"]) and item["property"] in PROPS for item in callback["inputs"]):
            found.append(callback)
    return found


def _is_all(ident: str) -> bool:
    return ident.startswith("{") and '["ALL"]' in ident


def _concrete(ident: str, number: int) -> str | dict:
    """A pattern id with its wildcards filled (ALL by ``number``, MATCH by a fixed value)."""
    if not ident.startswith("{"):
        return ident
    parsed = json.loads(ident)
    return {
        key: (number if value == ["ALL"] else "m" if value == ["MATCH"] else value) for key, value in parsed.items()
    }


def _request(callback: dict, search: str, *, clicked_number: int | None = None) -> dict:
    """The body Dash's renderer posts when two buttons (0 and 1) of each pattern appear, or when button
    ``clicked_number`` of them is clicked; the other inputs and the states as unset, the URL's search."""
    inputs, changed = [], []
    for item in callback["inputs"]:
        if _is_all(item["id"]):
            buttons = []
            for number in (0, 1):
                ident = _concrete(item["id"], number)
                value = 1 if number == clicked_number and item["property"] in PROPS else None
                if item["property"] == "cellClicked" and value:
                    value = {"rowId": "3", "colId": "word"}
                buttons.append({"id": ident, "property": item["property"], "value": value})
                if clicked_number is None or number == clicked_number:
                    changed.append(f"{json.dumps(ident, sort_keys=True, separators=(',', ':'))}.{item['property']}")
            inputs.append(buttons)
        else:
            inputs.append({"id": _concrete(item["id"], 0), "property": item["property"], "value": None})
    state = [
        {
            "id": _concrete(item["id"], 0),
            "property": item["property"],
            "value": search if (item["id"], item["property"]) == ("url", "search") else None,
        }
        for item in callback["state"]
    ]
    outputs = [
        {"id": _concrete(part.rpartition(".")[0], 0), "property": part.rpartition(".")[2]}
        for part in callback["output"].strip(".").split("...")
        if part
    ]
    return {
        "output": callback["output"],
        "outputs": outputs if callback["output"].startswith("..") else (outputs[0] if outputs else []),
        "inputs": inputs,
        "changedPropIds": changed,
        "state": state,
    }


def _changes(response) -> dict:
    """What a callback's answer changes: {} when it changes nothing (204, or no outputs and no side updates)."""
    if response.status_code == 204:
        return {}
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    return {**body.get("response", {}), **body.get("sideUpdate", {})}


def test_every_pattern_callback_is_found(client):
    callbacks = _pattern_callbacks(client)
    inputs = {item["id"] for callback in callbacks for item in callback["inputs"] if _is_all(item["id"])}
    types = {json.loads(ident)["type"] for ident in inputs}
    # The open buttons of the cards, Data checks' Show, Compare's counts, Find duplicates' Inspect, Slices'
    # charts, the grids' cells and CSV buttons, the Review's word/span/finding buttons, the Explain buttons.
    expected = {"open-sample", "data_checks-show", "compare-count", "duplicates-open", "grid", "client-grid-csv"}
    assert expected <= types, types
    assert len(callbacks) >= 15


def test_buttons_appearing_change_nothing_in_any_callback(client, tiny_cache):
    appeared = {}
    for callback in _pattern_callbacks(client):
        tab = next((section for section in _sections() if callback["output"].find(section) >= 0), "samples")
        body = _request(callback, f"?cache={tiny_cache.name}&tab={tab}")
        response = client.post("/_dash-update-component", json=body)
        appeared[callback["output"]] = _changes(response)
    assert {output: changes for output, changes in appeared.items() if changes} == {}


def _sections() -> list[str]:
    from explainer.app.sections import load_sections

    return [section.key for section in load_sections()]


@pytest.mark.parametrize("section", ["samples", "random_samples", "data_checks", "slices", "compare", "review"])
def test_a_click_on_an_open_button_opens_its_example(client, tiny_cache, section):
    """The same request with button 1 clicked is a click: the check above could fail."""
    callback = next(
        callback
        for callback in _pattern_callbacks(client)
        if any(f'"section":"{section}"' in item["id"] for item in callback["inputs"])
    )
    response = client.post(
        "/_dash-update-component",
        json=_request(callback, f"?cache={tiny_cache.name}&tab={section}", clicked_number=1),
    )
    assert "sample=1" in _changes(response)["url"]["search"]


def test_a_click_on_a_show_button_and_a_duplicate_opens_what_it_names(client, tiny_cache):
    show = next(c for c in _pattern_callbacks(client) if any("data_checks-show" in i["id"] for i in c["inputs"]))
    response = client.post(
        "/_dash-update-component",
        json=_request(show, f"?cache={tiny_cache.name}&tab=data_checks", clicked_number=1),
    )
    assert "chk_check=1" in _changes(response)["url"]["search"]
    duplicate = next(c for c in _pattern_callbacks(client) if any("duplicates-open" in i["id"] for i in c["inputs"]))
    response = client.post(
        "/_dash-update-component",
        json=_request(duplicate, f"?cache={tiny_cache.name}&tab=duplicates", clicked_number=1),
    )
    assert "sample=1" in _changes(response)["url"]["search"]
