"""Hand-made words, span errors, examples and subwords for the analysis tests (three short examples)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
