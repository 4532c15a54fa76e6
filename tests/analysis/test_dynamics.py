"""The data map: confidence, variability and margin per word, example and gold span; regions; matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis import dynamics as dyn
from explainer.data.example import Example


def words_frame(examples: list[list[str]]) -> pd.DataFrame:
    rows = [(e, w, tag) for e, tags in enumerate(examples) for w, tag in enumerate(tags)]
    return pd.DataFrame(rows, columns=["example_id", "word_index", "gold"])


def test_statistics_skip_epochs_a_word_was_not_seen():
    found = dyn.statistics([[0.5, np.nan, 0.7], [np.nan, np.nan, np.nan]], [[0.0, np.nan, 0.4], [np.nan] * 3])
    assert found["confidence"][0] == pytest.approx(0.6)
    assert found["variability"][0] == pytest.approx(0.1)
    assert found["margin"][0] == pytest.approx(0.2)
    assert np.isnan(found["confidence"][1])


def test_data_map_aggregates_examples_and_gold_spans_per_epoch_first():
    words = words_frame([["B-PER", "I-PER", "O"], ["O", "B-LOC"]])
    gold_prob = np.array([[0.1, 0.9], [0.1, 0.9], [0.9, 0.9], [0.8, 0.8], [np.nan, np.nan]])
    margin = gold_prob * 2 - 1
    per_word, examples, spans = dyn.data_map(words, gold_prob, margin)
    assert per_word["confidence"].tolist() == pytest.approx([0.5, 0.5, 0.9, 0.8, np.nan], nan_ok=True)
    # example 0 per epoch: mean(0.1, 0.1, 0.9)=0.367, mean(0.9, 0.9, 0.9)=0.9
    row = examples.set_index("example_id").loc[0]
    assert row["confidence"] == pytest.approx((0.3667 + 0.9) / 2, abs=1e-3)
    assert row["variability"] == pytest.approx(0.2667, abs=1e-3)
    assert row["region"] == dyn.AMBIGUOUS
    assert examples.set_index("example_id").loc[1, "n_words"] == 1  # the LOC word has no dynamics
    # the PER span: per epoch 0.1 then 0.9; the LOC span lacks dynamics
    assert spans[["example_id", "start", "end", "type"]].values.tolist() == [[0, 0, 2, "PER"]]
    assert spans.loc[0, "confidence"] == pytest.approx(0.5)
    assert spans.loc[0, "variability"] == pytest.approx(0.4)
    assert spans.loc[0, "region"] == dyn.AMBIGUOUS
    assert spans.loc[0, "margin"] == pytest.approx(0.0, abs=1e-6)


def test_regions_split_the_map():
    assert dyn.regions([0.95, 0.2, 0.5], [0.01, 0.02, 0.25]).tolist() == [dyn.EASY, dyn.HARD, dyn.AMBIGUOUS]


def test_data_map_refuses_arrays_of_another_shape():
    with pytest.raises(ValueError, match="epochs"):
        dyn.data_map(words_frame([["O"]]), np.zeros((2, 3)), np.zeros((2, 3)))


def test_match_words_by_words_hash_and_gold_tag():
    trained = [Example(("a", "b"), ("B-X", "O")), Example(("c",), ("O",)), Example(("a", "b"), ("O", "O"))]
    recorded = {
        "example_index": np.array([0, 0, 1, 2, 2]),
        "word_index": np.array([0, 1, 0, 0, 1]),
        "words_hash": np.array([trained[i].words_hash for i in (0, 0, 1, 2, 2)], dtype=object),
        "gold": np.array(["B-X", "O", "O", "O", "O"], dtype=object),
        "gold_prob": np.array([[0.1], [0.2], [0.3], [0.4], [0.5]], dtype=np.float32),
        "margin": np.zeros((5, 1), dtype=np.float32),
    }
    # the cache: "a b" twice (the training data's two copies, in order), then a sentence never trained on
    cache = words_frame([["B-X", "O"], ["B-X", "O"], ["O"]])
    hashes = [trained[0].words_hash, trained[0].words_hash, Example(("z",), ("O",)).words_hash]
    gold_prob, _, matched = dyn.match_words(cache, hashes, recorded)
    assert matched == 2
    # second copy: trained as O O, so its first word (B-X in this cache) has no value
    assert gold_prob[:, 0].tolist() == pytest.approx([0.1, 0.2, np.nan, 0.5, np.nan], nan_ok=True)
