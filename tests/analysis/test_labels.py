"""Entity types of labels and label masks (explainer.analysis.labels), on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis.labels import entity_type, label_mask

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


def test_entity_type_strips_the_scheme_prefix():
    assert [entity_type(x) for x in ("B-PER", "I-LOC", "E-ORG", "S-MISC", "O", "PER", None)] == [
        "PER",
        "LOC",
        "ORG",
        "MISC",
        "O",
        "PER",
        None,
    ]


def test_label_mask_matches_a_label_or_a_whole_type(words):
    gold = words["gold"]
    assert label_mask(gold, "B-PER").tolist() == (gold == "B-PER").tolist()
    assert label_mask(gold, "PER").tolist() == gold.isin(["B-PER", "I-PER"]).tolist()
    assert label_mask(gold, None).all()
    assert not label_mask(gold, "NOPE").any()
