"""The server-side grids' callback (explainer.app.factory): an oversized row request is refused with a
message in the page and a log line, as the browser would send it (through Flask's test client)."""

from __future__ import annotations

import logging

import pytest

from explainer.app.factory import create_app
from explainer.app.server import PAGE_ERROR_ID
from explainer.app.settings import Settings

GRID = {"type": "grid", "name": "inspect"}


@pytest.fixture(scope="module")
def client(tiny_cache):
    app = create_app(Settings(cache=tiny_cache.parent))
    client = app.server.test_client()
    outputs = [dep["output"] for dep in client.get("/_dash-dependencies").get_json()]
    client.grid_output = next(output for output in outputs if output.endswith(".getRowsResponse"))
    return client


def ask_rows(client, request: dict):
    body = {
        "output": client.grid_output,
        "outputs": {"id": GRID, "property": "getRowsResponse"},
        "inputs": [{"id": GRID, "property": "getRowsRequest", "value": request}],
        "changedPropIds": ['{"name":"inspect","type":"grid"}.getRowsRequest'],
        "state": [{"id": "url", "property": "search", "value": "?tab=inspect"}],
    }
    return client.post("/_dash-update-component", json=body)


def rows_of(response) -> dict:
    """The grid's answer (a pattern-matching output is keyed by its id's JSON)."""
    return response.get_json()["response"]['{"name":"inspect","type":"grid"}']["getRowsResponse"]


def test_a_reasonable_request_gets_rows(client):
    response = ask_rows(client, {"startRow": 0, "endRow": 10, "filterModel": {}, "sortModel": []})
    assert response.status_code == 200
    assert rows_of(response)["rowCount"] > 0


def test_a_14000_condition_filter_gets_a_message_and_a_log_line(client, caplog):
    conditions = [{"filterType": "text", "type": "contains", "filter": "x"}] * 14_000
    request = {
        "startRow": 0,
        "endRow": 50,
        "sortModel": [],
        "filterModel": {"text": {"filterType": "text", "operator": "OR", "conditions": conditions}},
    }
    with caplog.at_level(logging.WARNING, logger="explainer.app"):
        response = ask_rows(client, request)
    assert response.status_code == 200
    assert rows_of(response) == {"rowData": [], "rowCount": 0}
    alert = response.get_json()["sideUpdate"][PAGE_ERROR_ID]
    assert alert["is_open"] is True and "14000 conditions; at most 50 are accepted" in alert["children"]
    assert any("refused a request of grid 'inspect'" in record.getMessage() for record in caplog.records)
