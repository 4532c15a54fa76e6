"""Grid paging, filtering, sorting and row ids (explainer.analysis.gridquery)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.gridquery import (
    MAX_FILTER_CONDITIONS,
    MAX_MODEL_BYTES,
    RowRequestError,
    example_of_row_id,
    filter_frame,
    page_of,
    page_rows,
    sort_frame,
)


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


def word_filter(n_conditions: int, text: str = "w1") -> dict:
    conditions = [{"filterType": "text", "type": "contains", "filter": text}] * n_conditions
    return {"word": {"filterType": "text", "operator": "OR", "conditions": conditions}}


def test_a_14000_condition_filter_is_refused_before_any_filtering(frame, monkeypatch):
    import explainer.analysis.gridquery as gridquery

    monkeypatch.setattr(gridquery, "filter_frame", lambda *_: pytest.fail("filtered an oversized request"))
    with pytest.raises(RowRequestError, match="14000 conditions; at most 50 are accepted"):
        page_rows(frame, {"startRow": 0, "endRow": 10, "filterModel": word_filter(14_000)})


def test_the_condition_bound_counts_every_column(frame):
    per_column = {"filterType": "text", "type": "contains", "filter": "w"}
    within = {**word_filter(MAX_FILTER_CONDITIONS - 1), "loss": per_column}
    assert page_rows(frame, {"filterModel": within})["rowCount"] == filter_frame(frame, within).shape[0]
    with pytest.raises(RowRequestError, match=f"{MAX_FILTER_CONDITIONS + 1} conditions"):
        page_rows(frame, {"filterModel": {**word_filter(MAX_FILTER_CONDITIONS), "loss": per_column}})


def test_a_filter_of_over_64_kib_is_refused(frame):
    with pytest.raises(RowRequestError, match=f"at most {MAX_MODEL_BYTES // 1024} KiB"):
        page_rows(frame, {"filterModel": word_filter(1, "w" * MAX_MODEL_BYTES)})


def test_a_sort_longer_than_the_columns_is_refused(frame):
    keys = [{"colId": "loss", "sort": "desc"}, {"colId": "word"}, {"colId": "loss"}]  # the first "loss" counts
    answer = page_rows(frame, {"sortModel": keys, "endRow": 200})
    expected = frame.sort_values("loss", ascending=False)["example_id"].tolist()
    assert [row["example_id"] for row in answer["rowData"]] == expected
    with pytest.raises(RowRequestError, match="sort has 4 keys but the table has 3 columns"):
        page_rows(frame, {"sortModel": [*keys, keys[0]]})


@pytest.mark.parametrize(
    "request_", [{"filterModel": ["word"]}, {"filterModel": {"word": "w1"}}, {"sortModel": {"colId": "loss"}}]
)
def test_malformed_models_are_refused(frame, request_):
    with pytest.raises(RowRequestError, match="malformed"):
        page_rows(frame, request_)


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


def test_a_row_id_with_a_repeat_number_still_names_its_example_and_word():
    from explainer.analysis.gridquery import example_of_row_id

    assert example_of_row_id("12:3:1") == (12, 3)
    assert example_of_row_id("12:3") == (12, 3)
