"""Server-side paging, sorting and filtering for AG Grid's infinite row model (pure pandas).

Filtering and sorting work on row positions; only the page asked for is copied out of the frame, so a
request on a table of a million rows allocates a few arrays of positions, not a filtered copy of it.

The grid sends ``{"startRow", "endRow", "sortModel", "filterModel"}``; we answer
``{"rowData": [...], "rowCount": n}``. Doing it here keeps large tables on the server: the browser
only ever holds the rows on screen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from explainer.errors import ExplainerError

# Bounds of one request (it comes from a browser): a real filter has a few conditions, a sort a few
# columns; 14,000 conditions took 7 s of worker CPU before these bounds.
MAX_FILTER_CONDITIONS = 50
MAX_MODEL_BYTES = 64 * 1024  # filter and sort models together, as JSON


class RowRequestError(ExplainerError):
    """A grid request outside the bounds or of the wrong shape: refused (a 400: the client's fault)."""


_TEXT_OPS: dict[str, Callable[[pd.Series, str], pd.Series]] = {
    "contains": lambda s, v: s.str.contains(v, case=False, regex=False),
    "notContains": lambda s, v: ~s.str.contains(v, case=False, regex=False),
    "equals": lambda s, v: s.str.lower() == v.lower(),
    "notEqual": lambda s, v: s.str.lower() != v.lower(),
    "startsWith": lambda s, v: s.str.lower().str.startswith(v.lower()),
    "endsWith": lambda s, v: s.str.lower().str.endswith(v.lower()),
}
_NUMBER_OPS: dict[str, Callable[[pd.Series, float, Any], pd.Series]] = {
    "equals": lambda s, v, _: s == v,
    "notEqual": lambda s, v, _: s != v,
    "lessThan": lambda s, v, _: s < v,
    "lessThanOrEqual": lambda s, v, _: s <= v,
    "greaterThan": lambda s, v, _: s > v,
    "greaterThanOrEqual": lambda s, v, _: s >= v,
    "inRange": lambda s, v, to: (s >= v) & (s <= to),
}
_BLANK_OPS: dict[str, Callable[[pd.Series], pd.Series]] = {"blank": lambda s: s.isna(), "notBlank": lambda s: s.notna()}


def _condition_mask(series: pd.Series, condition: dict[str, Any]) -> pd.Series:
    kind = str(condition.get("type"))
    if kind in _BLANK_OPS:
        return _BLANK_OPS[kind](series)
    value = condition.get("filter")
    if value is None:
        return pd.Series(True, index=series.index)
    if condition.get("filterType") == "number":
        number_op = _NUMBER_OPS.get(kind)
        if number_op is None:
            return pd.Series(True, index=series.index)
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        return number_op(pd.to_numeric(series, errors="coerce"), float(value), condition.get("filterTo"))
    text_op = _TEXT_OPS.get(kind, _TEXT_OPS["contains"])
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _category_text_mask(series, lambda values: text_op(values, str(value)))
    if not _arrow_strings(series):  # Arrow strings (a column over a memory-mapped file) are tested in place
        series = series.astype("string")
    return text_op(series.fillna(""), str(value)).fillna(False).astype(bool)


def _arrow_strings(series: pd.Series) -> bool:
    """Whether ``series`` holds Arrow strings, whose ``.str`` methods run on Arrow's kernels as ``"string"``'s
    do (the same answers), so it needs no copy converted to ``"string"`` first."""
    dtype = series.dtype
    return isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    )


def _category_text_mask(series: pd.Series, test: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """A text condition on a categorical column, tested once per category (the same answer as on its strings,
    without a string per row); a missing value is tested as ``""``, as for string columns."""
    categories = pd.Series(series.cat.categories.astype(str), dtype="string")
    per_category = test(pd.concat([categories, pd.Series([""], dtype="string")], ignore_index=True))
    answers = per_category.fillna(False).to_numpy(dtype=bool)
    codes = series.cat.codes.to_numpy()
    return pd.Series(answers[np.where(codes < 0, len(categories), codes)], index=series.index)


def take_rows(frame: pd.DataFrame, positions: npt.NDArray[np.intp]) -> pd.DataFrame:
    """``frame.iloc[positions]``, taking a column of Arrow chunks chunk by chunk: pyarrow's take on a chunked
    array first joins its chunks into one copy (31 MB for the contexts of a million misclassified words, held
    over a memory map) to return a page of 50 rows."""
    chunked = [name for name in frame.columns if _chunked(frame[name])]
    if not chunked:
        return frame.iloc[positions]
    taken = frame.drop(columns=chunked).iloc[positions]
    for name in chunked:
        array = frame[name].array._pa_array
        taken[name] = pd.Series(
            pd.arrays.ArrowExtensionArray(_take_by_chunk(array, positions)), index=taken.index, copy=False
        )
    return taken[list(frame.columns)]


def _chunked(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.ArrowDtype) and series.array._pa_array.num_chunks > 1


def _take_by_chunk(array: pa.ChunkedArray, positions: npt.NDArray[np.intp]) -> pa.Array:
    """``array.take(positions)`` without joining the chunks: each chunk gives its rows, then they are put in order."""
    positions = np.asarray(positions, dtype=np.int64)
    positions = np.where(positions < 0, positions + len(array), positions)
    starts = np.cumsum([0] + [len(chunk) for chunk in array.chunks])
    chunk_of = np.searchsorted(starts, positions, side="right") - 1
    pieces, order = [], []
    for index in np.unique(chunk_of):
        rows = np.flatnonzero(chunk_of == index)
        pieces.append(array.chunk(int(index)).take(pa.array(positions[rows] - starts[index])))
        order.append(rows)
    if not pieces:
        return pa.array([], type=array.type)
    joined = pa.concat_arrays(pieces)  # only the rows taken
    return joined.take(pa.array(np.argsort(np.concatenate(order), kind="stable")))


def filter_mask(frame: pd.DataFrame, filter_model: dict[str, Any] | None) -> npt.NDArray[np.bool_] | None:
    """Which rows of ``frame`` pass AG Grid's ``filterModel`` (None: no filter applies, every row passes).

    Filters on columns the frame lacks are ignored rather than failing: URLs and old clients can
    name columns that no longer exist.
    """
    mask: npt.NDArray[np.bool_] | None = None
    for column, model in (filter_model or {}).items():
        if column not in frame.columns:
            continue
        if "conditions" in model:
            parts = [_condition_mask(frame[column], {**model, **cond}) for cond in model["conditions"]]
            combined = parts[0]
            for part in parts[1:]:
                combined = (combined | part) if model.get("operator") == "OR" else (combined & part)
        else:
            combined = _condition_mask(frame[column], model)
        passed = np.asarray(combined, dtype=bool)
        mask = passed if mask is None else mask & passed
    return mask


def filter_frame(frame: pd.DataFrame, filter_model: dict[str, Any] | None) -> pd.DataFrame:
    """Rows of ``frame`` that pass AG Grid's ``filterModel`` (text and number filters, AND/OR pairs).

    Filters on columns the frame lacks are ignored rather than failing: URLs and old clients can
    name columns that no longer exist.
    """
    mask = filter_mask(frame, filter_model)
    return frame if mask is None else frame[mask]


def sorted_positions(
    frame: pd.DataFrame, sort_model: list[dict[str, Any]] | None, positions: npt.NDArray[np.intp] | None = None
) -> npt.NDArray[np.intp] | None:
    """The positions of ``frame``'s rows (of ``positions`` only, when given) in the order of AG Grid's
    ``sortModel`` (stable, missing values last); None when nothing sorts and no positions were given.

    Only the key columns of those rows are read: the rows themselves are never copied.
    """
    ascending: dict[str, bool] = {}
    for entry in sort_model or []:
        if entry.get("colId") in frame.columns:  # a column named twice sorts by its first entry
            ascending.setdefault(entry["colId"], entry.get("sort") != "desc")
    if not ascending:
        return positions
    keys = frame[list(ascending)]
    if positions is not None:
        keys = take_rows(keys, positions)
    order: npt.NDArray[np.intp] = (
        keys.reset_index(drop=True)
        .sort_values(list(ascending), ascending=list(ascending.values()), kind="stable", na_position="last")
        .index.to_numpy()
    )
    return order if positions is None else positions[order]


def sort_frame(frame: pd.DataFrame, sort_model: list[dict[str, Any]] | None) -> pd.DataFrame:
    """``frame`` sorted by AG Grid's ``sortModel`` (stable, missing values last)."""
    order = sorted_positions(frame, sort_model)
    return frame if order is None else frame.iloc[order]


def shown_positions(frame: pd.DataFrame, request: dict[str, Any]) -> npt.NDArray[np.intp] | None:
    """The positions of the rows a grid shows, in order: its filter then its sort (None: every row, as
    stored). Pages are taken from these positions, so no filtered or sorted copy of the frame is made."""
    mask = filter_mask(frame, request.get("filterModel"))
    positions = None if mask is None else np.flatnonzero(mask)
    return sorted_positions(frame, request.get("sortModel"), positions)


def shown_rows(frame: pd.DataFrame, request: dict[str, Any], start: int = 0, end: int | None = None) -> pd.DataFrame:
    """Rows ``[start, end)`` of what a grid shows (its filter and sort applied), copying only those rows."""
    positions = shown_positions(frame, request)
    if positions is None:
        return frame.iloc[start:end]
    return take_rows(frame, positions[start:end])


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, (np.ndarray, list, tuple)):
        return " ".join(map(str, value))
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    return value


def check_row_request(request: dict[str, Any], *, n_columns: int) -> None:
    """Refuse a ``getRowsRequest`` whose filter or sort model is malformed or too large.

    Raises
    ------
    RowRequestError
        If the models are not an object and a list, their JSON exceeds ``MAX_MODEL_BYTES``, the filter has
        more than ``MAX_FILTER_CONDITIONS`` conditions, or the sort more keys than ``n_columns``.
    """
    filter_model, sort_model = request.get("filterModel") or {}, request.get("sortModel") or []
    if not isinstance(filter_model, dict) or not all(isinstance(model, dict) for model in filter_model.values()):
        raise RowRequestError("the table's filter is malformed; clear the filters or reload the page")
    if not isinstance(sort_model, list) or not all(isinstance(key, dict) for key in sort_model):
        raise RowRequestError("the table's sort order is malformed; reload the page")
    conditions = sum(
        len(model["conditions"]) if isinstance(model.get("conditions"), list) else 1 for model in filter_model.values()
    )
    if conditions > MAX_FILTER_CONDITIONS:
        raise RowRequestError(
            f"the table's filter has {conditions} conditions; at most {MAX_FILTER_CONDITIONS} are accepted: "
            "clear some filters"
        )
    size = len(json.dumps([filter_model, sort_model]))
    if size > MAX_MODEL_BYTES:
        raise RowRequestError(
            f"the table's filter and sort take {size // 1024} KiB; at most {MAX_MODEL_BYTES // 1024} KiB are "
            "accepted: shorten or clear the filters"
        )
    if len(sort_model) > n_columns:
        raise RowRequestError(
            f"the table's sort has {len(sort_model)} keys but the table has {n_columns} columns; reload the page"
        )


def page_rows(frame: pd.DataFrame, request: dict[str, Any] | None, *, max_rows: int = 1000) -> dict[str, Any]:
    """Answer one ``getRowsRequest``: filter, sort, slice to ``[startRow, endRow)``.

    ``max_rows`` bounds one answer whatever the request asks for (requests come from browsers); the
    filter and sort models are bounded by :func:`check_row_request` (RowRequestError).
    """
    request = request or {}
    check_row_request(request, n_columns=len(frame.columns))
    positions = shown_positions(frame, request)
    start = max(int(request.get("startRow") or 0), 0)
    end = min(int(request.get("endRow") or start + 100), start + max_rows)
    window = frame.iloc[start:end] if positions is None else take_rows(frame, positions[start:end])
    rows = [{key: _jsonable(value) for key, value in row.items()} for row in window.to_dict("records")]
    for position, row in zip(window.index, rows):
        repeat = row.pop(ROW_REPEAT, 0)
        row.setdefault("row_id", _row_id(row, position) + (f":{repeat}" if repeat else ""))
    return {"rowData": rows, "rowCount": int(len(frame) if positions is None else len(positions))}


# A frame's column numbering the rows that start at the same example and word (0 for the first): their row ids
# get ":n" (a missed gold span and a spurious prediction can start together). Not sent to the grid.
ROW_REPEAT = "row_repeat"


def _row_id(row: dict[str, Any], position: object) -> str:
    """A stable id the grid keys rows by; it also tells a click which example (and word) it hit."""
    if "example_id" in row and "word_index" in row:
        return f"{row['example_id']}:{row['word_index']}"
    if "example_id" in row:
        return str(row["example_id"])
    return f"row{position}"


def example_of_row_id(row_id: str | None) -> tuple[int | None, int | None]:
    """Inverse of the row id: (example_id, word_index), either None when the row names none."""
    if not row_id or row_id.startswith("row"):
        return None, None
    head, _, tail = str(row_id).partition(":")
    tail = tail.partition(":")[0]  # "example:word:n": the n-th row starting at that word
    try:
        return int(head), (int(tail) if tail else None)
    except ValueError:
        return None, None


def page_of(ids: np.ndarray, *, page: int, per_page: int = 10) -> tuple[np.ndarray, int, int]:
    """The ``page``-th slice (1-based, clamped into range) of ``ids``: ``(ids, page, n_pages)``."""
    n_pages = max(1, -(-len(ids) // per_page))
    page = min(max(int(page), 1), n_pages)
    return ids[(page - 1) * per_page : page * per_page], page, n_pages
