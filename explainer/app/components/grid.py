"""Server-side AG Grid tables: the browser holds one page, the server filters, sorts and slices.

A section declares a table with ``server_grid(name, columns)`` and registers the function that
produces its rows with ``@grid_source(name)``: ``fn(cache, state) -> DataFrame``, where ``state`` is
the URL query dict (so section filters outside the grid apply too). Rows that carry ``example_id``
open the sample inspector when clicked (see ``explainer.app.factory``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html
from dash.dependencies import Wildcard

from explainer.analysis.gridquery import ROW_REPEAT, check_row_request, shown_rows

GRID_TYPE = "grid"
CSV_TYPE = "grid-csv"  # the Export CSV button of a grid
DOWNLOAD_TYPE = "grid-csv-download"
MAX_CSV_ROWS = 500_000  # rows one export writes at most (the grid's filter and sort applied first)
_SOURCES: dict[str, Callable] = {}


def grid_source(name: str):
    """Register the row source of grid ``name`` (done once at import; read-only afterwards)."""

    def decorate(fn):
        _SOURCES[name] = fn
        return fn

    return decorate


def source(name: str) -> Callable | None:
    return _SOURCES.get(name)


def grid_id(name: str | Wildcard) -> dict:
    return {"type": GRID_TYPE, "name": name}


def csv_button_id(name: str | Wildcard) -> dict:
    return {"type": CSV_TYPE, "name": name}


def download_id(name: str | Wildcard) -> dict:
    return {"type": DOWNLOAD_TYPE, "name": name}


CLIENT_CSV_TYPE = "client-grid-csv"  # Export CSV of a grid that holds all its rows in the browser


def client_csv_id(grid: str | Wildcard) -> dict:
    return {"type": CLIENT_CSV_TYPE, "grid": grid}


def client_csv_button(grid: str) -> html.Div:
    """Export CSV for the browser-side AG Grid of id ``grid``: AG Grid writes the file itself, filter and sort
    applied (every row: such a grid holds them all)."""
    button = dbc.Button("Export CSV", id=client_csv_id(grid), size="sm", color="link", className="p-0 grid-csv")
    return html.Div(button, className="d-flex justify-content-end")


def client_csv_params(file_name: str) -> dict:
    """The ``csvExportParams`` of a browser-side grid: its file name."""
    return {"fileName": file_name}


def column(
    field: str,
    header: str | None = None,
    *,
    number: bool = False,
    decimals: int | None = None,
    width: int | None = None,
    **extra,
) -> dict:
    """A column definition with the filter that suits its kind."""
    definition: dict[str, Any] = {
        "field": field,
        "headerName": header or field.replace("_", " "),
        "filter": "agNumberColumnFilter" if number else "agTextColumnFilter",
        "sortable": True,
    }
    if decimals is not None:
        definition["valueFormatter"] = {
            "function": f"params.value == null ? '' : d3.format('.{decimals}f')(params.value)"
        }
    if width:
        definition["width"] = width
    definition.update(extra)
    return definition


def server_grid(
    name: str, columns: list[dict], *, page_size: int = 50, height: int = 520, clickable: bool = True
) -> html.Div:
    """An AG Grid on the infinite row model whose rows come from the source registered as ``name``, under an
    Export CSV button (every row the grid's filter and sort select, not only the page on screen).

    The initial order is set on a column (``column(..., sort="desc")``). Every row needs a
    unique ``row_id``; ``page_rows`` adds one from ``example_id``/``word_index`` (and ``row_repeat``) when absent. The grid
    fills the window's height (``height`` is its least).
    """
    options = {
        "rowModelType": "infinite",
        "pagination": True,
        "paginationPageSize": page_size,
        "paginationPageSizeSelector": False,
        "cacheBlockSize": page_size,
        "maxBlocksInCache": 20,
        "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True} if clickable else None,
        "suppressCellFocus": True,
        "getRowId": {"function": "params.data.row_id"},  # dash-ag-grid's safe parser has no String()
    }
    grid = dag.AgGrid(
        id=grid_id(name),
        columnDefs=columns,
        defaultColDef={"resizable": True, "floatingFilter": True, "flex": 1, "minWidth": 90},
        dashGridOptions={key: value for key, value in options.items() if value is not None},
        rowModelType="infinite",
        style={"height": "calc(100vh - 220px)", "minHeight": f"{height}px", "width": "100%"},
    )
    toolbar = html.Div(
        [
            dbc.Button("Export CSV", id=csv_button_id(name), size="sm", color="link", className="p-0 grid-csv"),
            dcc.Download(id=download_id(name)),
        ],
        className="d-flex justify-content-end",
    )
    return html.Div([toolbar, grid], className="server-grid")


def csv_rows(frame: pd.DataFrame, request: dict | None) -> pd.DataFrame:
    """The rows an export writes: the grid's filter and sort applied (as on screen), at most MAX_CSV_ROWS."""
    request = request or {}
    check_row_request(request, n_columns=len(frame.columns))
    shown = shown_rows(frame, request, 0, MAX_CSV_ROWS)
    return shown.drop(columns=["row_id", ROW_REPEAT], errors="ignore")
