"""Grid paging, filtering, sorting and row ids (explainer.analysis.gridquery)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.gridquery import example_of_row_id, filter_frame, page_of, page_rows, sort_frame


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"example_id": np.arange(200), "word": [f"w{i % 17}" for i in range(200)], "loss": rng.random(200)}
    )


def test_text_and_number_filters_match_pandas(frame):
    model = {
        "word": {"filterType": "text", "type": "contains", "filter": "W1"},
        "loss": {"filterType": "number", "type": "greaterThan", "filter": 0.5},
    }
    expected = frame[frame["word"].str.contains("w1") & (frame["loss"] > 0.5)]
    assert filter_frame(frame, model).equals(expected)


def test_or_conditions_and_unknown_columns(frame):
    model = {
        "word": {
            "filterType": "text",
            "operator": "OR",
            "conditions": [
                {"filterType": "text", "type": "equals", "filter": "w3"},
                {"filterType": "text", "type": "equals", "filter": "w4"},
            ],
        },
        "no_such_column": {"filterType": "text", "type": "contains", "filter": "x"},
    }
    assert set(filter_frame(frame, model)["word"]) == {"w3", "w4"}


def test_page_rows_sorts_slices_and_counts(frame):
    answer = page_rows(
        frame, {"startRow": 10, "endRow": 20, "sortModel": [{"colId": "loss", "sort": "desc"}], "filterModel": {}}
    )
    expected = frame.sort_values("loss", ascending=False).iloc[10:20]
    assert answer["rowCount"] == 200
    assert [row["example_id"] for row in answer["rowData"]] == expected["example_id"].tolist()
    assert answer["rowData"][0]["row_id"] == str(expected["example_id"].iloc[0])


def test_page_rows_bounds_a_greedy_request(frame):
    assert len(page_rows(frame, {"startRow": 0, "endRow": 10**9}, max_rows=50)["rowData"]) == 50


def test_sort_is_stable_with_missing_values_last():
    frame = pd.DataFrame({"a": [2.0, None, 1.0, 2.0], "b": [0, 1, 2, 3]})
    assert sort_frame(frame, [{"colId": "a", "sort": "asc"}])["b"].tolist() == [2, 0, 3, 1]


def test_row_ids_name_examples_and_words():
    assert example_of_row_id("12:3") == (12, 3)
    assert example_of_row_id("12") == (12, None)
    assert example_of_row_id("row5") == (None, None)
    assert example_of_row_id("../etc") == (None, None)


def test_page_of_slices_and_clamps():
    ids = np.arange(25)
    chosen, page, n_pages = page_of(ids, page=3, per_page=10)
    assert chosen.tolist() == list(range(20, 25)) and (page, n_pages) == (3, 3)
    assert page_of(ids, page=99, per_page=10)[1] == 3
    assert page_of(ids, page=-4, per_page=10)[0].tolist() == list(range(10))
    assert page_of(np.arange(0), page=1)[1:] == (1, 1)
