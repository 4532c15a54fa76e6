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


def test_export_csv_writes_every_row_the_grids_filter_and_sort_select(client, tiny_cache):
    import io

    import pandas as pd

    from explainer.cache.reader import open_cache

    outputs = [dep["output"] for dep in client.get("/_dash-dependencies").get_json()]
    output = next(output for output in outputs if "grid-csv-download" in output)
    download = {"type": "grid-csv-download", "name": "inspect"}
    request = {
        "startRow": 0,
        "endRow": 50,
        "sortModel": [{"colId": "total_loss", "sort": "desc"}],
        "filterModel": {"n_words": {"filterType": "number", "type": "greaterThan", "filter": 3}},
    }
    body = {
        "output": output,
        "outputs": {"id": download, "property": "data"},
        "inputs": [{"id": {"type": "grid-csv", "name": "inspect"}, "property": "n_clicks", "value": 1}],
        "changedPropIds": ['{"name":"inspect","type":"grid-csv"}.n_clicks'],
        "state": [
            {"id": GRID, "property": "getRowsRequest", "value": request},
            {"id": "url", "property": "search", "value": "?tab=inspect"},
        ],
    }
    sent = client.post("/_dash-update-component", json=body).get_json()["response"]
    data = sent['{"name":"inspect","type":"grid-csv-download"}']["data"]
    assert data["filename"] == "inspect.csv"
    exported = pd.read_csv(io.StringIO(data["content"]))
    examples = open_cache(tiny_cache).examples
    expected = examples[examples["n_words"] > 3].sort_values("total_loss", ascending=False, kind="stable")
    assert exported["example_id"].tolist() == expected["example_id"].tolist()  # all of them, not one page
    assert "row_id" not in exported.columns
