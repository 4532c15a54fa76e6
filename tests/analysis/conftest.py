"""Fixtures of the analysis tests: the frames of tests/frames.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frames import make_words


@pytest.fixture
def words():
    return make_words()


@pytest.fixture
def span_errors():
    rows = [  # example 0: gold PER 0-2 boundary vs pred PER 0-1; gold LOC 3-4 wrong type; example 1: spurious, correct
        (0, "boundary", "PER", 0, 2, "PER", 0, 1, "PER"),
        (0, "wrong type", "LOC", 3, 4, "LOC", 3, 4, "PER"),
        (1, "correct", "LOC", 0, 1, "LOC", 0, 1, "LOC"),
        (1, "spurious", "LOC", None, None, None, 1, 2, "LOC"),
        (2, "missed", "PER", 0, 1, "PER", None, None, None),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "example_id",
            "category",
            "type",
            "gold_start",
            "gold_end",
            "gold_type",
            "pred_start",
            "pred_end",
            "pred_type",
        ],
    )
    for column in ("gold_start", "gold_end", "pred_start", "pred_end"):
        frame[column] = frame[column].astype("Int32")
    return frame.astype({"category": "str", "type": "str", "gold_type": "str", "pred_type": "str"})


@pytest.fixture
def examples():
    return pd.DataFrame(
        {
            "example_id": np.arange(6),
            "total_loss": [3.0, 9.0, np.nan, 9.0, 1.0, 5.0],
            "f1": [0.0, 1.0, 0.5, 0.0, 0.0, np.nan],
        }
    )


@pytest.fixture
def subwords():
    # example 0 of SENTENCES tokenized: [CLS] john smith visit ##ed paris . [SEP]
    tokens = ["[CLS]", "john", "smith", "visit", "##ed", "paris", ".", "[SEP]"]
    word_index = [-1, 0, 1, 2, 2, 3, 4, -1]
    label_id = [-100, 1, 2, 0, -100, 3, 0, -100]
    pred_id = [0, 1, 0, 0, 3, 1, 0, 0]
    loss = [np.nan, 0.1, 2.0, 0.2, np.nan, 1.5, 0.05, np.nan]
    return pd.DataFrame(
        {
            "example_id": 0,
            "position": range(8),
            "token": tokens,
            "input_id": range(100, 108),
            "word_index": word_index,
            "label_id": label_id,
            "pred_id": pred_id,
            "loss": loss,
            "window": 0,
        }
    )
