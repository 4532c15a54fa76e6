"""Loss by word and by label (explainer.analysis.loss), on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.loss import loss_by

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


# (word, gold, pred, loss) per word, one list per example.
SENTENCES = [
    [
        ("John", "B-PER", "B-PER", 0.1),
        ("Smith", "I-PER", "O", 2.0),
        ("visited", "O", "O", 0.2),
        ("Paris", "B-LOC", "B-PER", 1.5),
        (".", "O", "O", 0.05),
    ],
    [("Paris", "B-LOC", "B-LOC", 0.3), ("is", "O", "B-LOC", 1.1), ("big", "O", "O", np.nan)],
    [("Mary", "B-PER", "O", 3.0)],
]


def make_words(sentences=SENTENCES) -> pd.DataFrame:
    rows = [
        {
            "example_id": e,
            "word_index": i,
            "word": w,
            "gold": g,
            "pred": p,
            "loss": loss,
            "prob_pred": 0.5,
            "prob_gold": 0.25,
        }
        for e, sentence in enumerate(sentences)
        for i, (w, g, p, loss) in enumerate(sentence)
    ]
    words = pd.DataFrame(rows).astype({"word": "str", "gold": "str", "pred": "str", "loss": "float32"})
    words["gold_id"] = words["gold"].map(LABELS.index).astype("int16")
    words["pred_id"] = words["pred"].map(LABELS.index).astype("int16")
    return words


@pytest.fixture
def words():
    return make_words()


@pytest.mark.parametrize("key", ["word", "gold"])
def test_loss_by_equals_a_direct_computation(key):
    rng = np.random.default_rng(1)
    sentences = [
        [
            (
                f"w{rng.integers(8)}",
                LABELS[rng.integers(5)],
                LABELS[rng.integers(5)],
                np.nan if rng.random() < 0.05 else float(rng.exponential()),
            )
            for _ in range(rng.integers(1, 12))
        ]
        for _ in range(300)
    ]
    words = make_words(sentences)
    table = loss_by(words, key=key).set_index(key)
    loss = words["loss"].astype(float)
    for value, group in words.groupby(key):
        row, group_loss = table.loc[value], loss[group.index]
        assert row["count"] == len(group)
        assert row["mean_loss"] == pytest.approx(np.nanmean(group_loss))
        assert row["median_loss"] == pytest.approx(np.nanmedian(group_loss))
        assert row["total_loss"] == pytest.approx(np.nansum(group_loss))
        assert row["errors"] == int((group["gold"] != group["pred"]).sum())
    assert len(table) == words[key].nunique()
    assert table["total_loss"].is_monotonic_decreasing


def test_loss_by_word_on_the_fixture(words):
    table = loss_by(words, key="word").set_index("word")
    assert table.loc["Paris", "count"] == 2 and table.loc["Paris", "total_loss"] == pytest.approx(1.8)
    assert table.loc["Paris", "errors"] == 1
    assert table.index[0] == "Mary"  # highest total loss first
    assert np.isnan(table.loc["big", "mean_loss"]) and table.loc["big", "count"] == 1
