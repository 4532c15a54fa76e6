"""Loss by word and by label (explainer.analysis.loss), on hand-made frames."""

from __future__ import annotations

import numpy as np
import pytest
from frames import LABELS, make_words

from explainer.analysis.loss import loss_by


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
