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
    shown_rows,
    sort_frame,
    take_rows,
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


# --- compact columns: categoricals and Arrow strings answer as their strings do -------------------------------

REQUESTS = [
    {"sortModel": [{"colId": "word", "sort": "asc"}, {"colId": "loss", "sort": "desc"}]},
    {"sortModel": [{"colId": "text", "sort": "desc"}]},
    {"filterModel": {"word": {"filterType": "text", "type": "contains", "filter": "Ss"}}},
    {"filterModel": {"word": {"filterType": "text", "type": "equals", "filter": "STRASSE"}}},
    {"filterModel": {"word": {"filterType": "text", "type": "notContains", "filter": "a"}}},
    {"filterModel": {"word": {"filterType": "text", "type": "blank"}}},
    {"filterModel": {"word": {"filterType": "text", "type": "notEqual", "filter": "b"}}},
    {
        "filterModel": {
            "text": {
                "filterType": "text",
                "operator": "OR",
                "conditions": [
                    {"filterType": "text", "type": "startsWith", "filter": "x"},
                    {"filterType": "text", "type": "endsWith", "filter": "3"},
                ],
            }
        },
        "sortModel": [{"colId": "text", "sort": "asc"}],
    },
]


def _string_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    words = np.array(["b", "a", "Straße", "STRASSE", "ÉTÉ", "été", "", None, "a b"], dtype=object)
    return pd.DataFrame(
        {
            "example_id": np.arange(300),
            "word": pd.Series(words[rng.integers(0, len(words), 300)], dtype="str"),
            "text": pd.Series([f"x{i % 7} y{i % 11} z{i}" for i in range(300)], dtype="str"),
            "loss": rng.random(300),
        }
    )


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``word`` as a categorical (sorted categories) and ``text`` as Arrow strings in 4 chunks."""
    import pyarrow as pa

    codes, categories = pd.factorize(frame["word"], sort=True)
    text = pa.array(frame["text"].tolist(), type=pa.large_string())
    chunks = pa.chunked_array([text.slice(start, 75) for start in range(0, len(text), 75)])
    return frame.assign(
        word=pd.Categorical.from_codes(codes, categories=categories),
        text=pd.Series(pd.arrays.ArrowExtensionArray(chunks)),
    )


@pytest.mark.parametrize("request_", REQUESTS)
def test_categorical_and_chunked_arrow_columns_filter_sort_and_page_as_their_strings(request_):
    frame = _string_frame()
    compact = _compact(frame)
    assert compact["text"].array._pa_array.num_chunks == 4
    for start, end in ((0, 40), (40, 300)):
        expected = page_rows(frame, {**request_, "startRow": start, "endRow": end})
        assert page_rows(compact, {**request_, "startRow": start, "endRow": end}) == expected
    assert shown_rows(compact, request_).astype(str).equals(shown_rows(frame, request_).astype(str))


def test_take_rows_takes_arrow_chunks_in_the_order_asked():
    compact = _compact(_string_frame())
    positions = np.array([299, 0, 150, 74, 75, 151, 3])
    taken = take_rows(compact, positions)
    assert taken["text"].tolist() == [compact["text"].iloc[int(i)] for i in positions]
    assert taken.index.tolist() == positions.tolist() and list(taken.columns) == list(compact.columns)
    assert take_rows(compact, np.array([], dtype=np.intp))["text"].tolist() == []


def test_a_page_of_a_chunked_arrow_column_copies_only_the_page(tmp_path):
    # pyarrow's take on a chunked array joins every chunk first: a page of 50 rows copied the whole column
    # (31 MB of contexts at 1M subwords). Measured in a fresh process: its pool's peak starts at zero.
    script = """
import numpy as np, pandas as pd, pyarrow as pa
from explainer.analysis.gridquery import page_rows
text = pa.array(["x" * 200] * 100_000, type=pa.large_string())
chunked = pa.chunked_array([text.slice(start, 10_000) for start in range(0, len(text), 10_000)])
frame = pd.DataFrame({"example_id": np.arange(100_000), "text": pd.arrays.ArrowExtensionArray(chunked)})
pool = pa.default_memory_pool()
before = pool.max_memory()
answer = page_rows(frame, {"startRow": 0, "endRow": 50, "sortModel": [{"colId": "example_id", "sort": "desc"}]})
assert answer["rowData"][0]["example_id"] == 99_999 and answer["rowCount"] == 100_000
print(pool.max_memory() - before)
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[-1]) < 1_000_000  # the column is 20 MB
