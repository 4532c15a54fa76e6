"""Registered attributes, their buckets and the reference set (explainer.analysis.slice_attributes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer.analysis import slice_attributes as attributes
from explainer.analysis.slice_attributes import (
    ATTRIBUTES,
    Categorical,
    Fixed,
    Quantile,
    Reference,
    capitalisation,
    compute_attributes,
    describe_slice,
    source_file,
)
from explainer.analysis.slices import Condition, bucket_column


def frames():
    spans = pd.DataFrame(
        {
            "example_id": [0, 0, 1, 1],
            "side": ["gold", "pred", "gold", "pred"],
            "start": [0, 0, 2, 1],
            "end": [2, 2, 3, 2],
            "type": ["ORG", "ORG", "PER", "PER"],
            "words": [("New", "York"), ("New", "York"), ("@bob",), ("www.x.com",)],
            "text": ["New York", "New York", "@bob", "www.x.com"],
            "n_subwords": [2, 2, 3, 6],
            "example_words": [4, 4, 3, 3],
            "matched": [True, True, False, False],
        }
    )
    examples = pd.DataFrame(
        {
            "example_id": [0, 1, 2],
            "n_words": [4, 3, 10],
            "n_subwords": [6, 9, 30],
            "windowed": [False, False, True],
            "source": ["train.txt:1", "train.txt:9", "test[3]"],
            "n_gold_spans": [1, 1, 0],
        }
    )
    return spans, examples


@pytest.mark.parametrize(
    ("words", "pattern"),
    [
        (["NASA"], "all caps"),
        (["New", "York"], "title case"),
        (["McDonald"], "mixed"),
        (["iphone"], "lower case"),
        (["1990"], "no letters"),
        (["U.S."], "all caps"),
        (["A"], "title case"),
    ],
)
def test_capitalisation(words, pattern):
    assert capitalisation(words) == pattern


def test_source_file():
    assert source_file("data/train.txt:1203") == "data/train.txt"
    assert source_file("test[17]") == "test"
    assert source_file("plain") == "plain"


def test_buckets():
    fixed = Fixed((0, 1, 3), ("0", "1–2", "3+"), missing="none").assign(pd.Series([0, 2, 3, 99, np.nan]))
    assert list(fixed) == ["0", "1–2", "3+", "3+", "none"]
    assert list(fixed.categories) == ["0", "1–2", "3+", "none"]
    quantile = Quantile(2).assign(pd.Series([1, 2, 3, 4]))
    assert list(quantile) == ["1–2", "1–2", "3–4", "3–4"]
    categorical = Categorical(order=("b",), top=2).assign(pd.Series(["a", "a", "b", "c"]))
    assert list(categorical) == ["a", "a", "b", "other"] and list(categorical.categories) == ["b", "a", "other"]


def test_span_and_example_attributes():
    spans, examples = frames()
    result, per_example, names = compute_attributes(spans, examples)
    assert "seen" not in names  # no reference
    assert result["length"].tolist() == [2, 2, 1, 1]
    assert result["capitalisation"].tolist() == ["title case", "title case", "lower case", "lower case"]
    assert result["mention"].tolist() == ["no", "no", "yes", "no"]
    assert result["url"].tolist() == ["no", "no", "no", "yes"]
    assert result["subwords_per_word"].tolist() == [1.0, 1.0, 3.0, 6.0]
    assert result[bucket_column("position")].tolist() == ["first word", "first word", "second half", "first half"]
    # Example attributes: one row per example, and each span gets its example's value.
    assert per_example["source"].tolist() == ["train.txt", "train.txt", "test"]
    assert per_example["windowed"].tolist() == ["no", "no", "yes"]
    assert result["example_words"].tolist() == [4, 4, 3, 3]
    assert result[bucket_column("entities")].tolist() == ["1"] * 4


def test_reference_attributes():
    reference = Reference.of(
        [(["New", "York", "is"], ["B-LOC", "I-LOC", "O"]), (["New", "York"], ["B-ORG", "I-ORG"]), (["x"], ["B-ORG"])],
        name="train",
    )
    assert reference.types == {"LOC": 1, "ORG": 2}
    spans, examples = frames()
    result, _, names = compute_attributes(spans, examples, reference=reference)
    assert {"seen", "train_frequency", "label_consistency", "type_frequency"} <= set(names)
    assert result["seen"].tolist() == ["seen", "seen", "unseen", "unseen"]
    assert result["train_frequency"].tolist() == [2, 2, 0, 0]
    assert result["label_consistency"].tolist()[:2] == [0.5, 0.5]
    assert result[bucket_column("label_consistency")].tolist() == ["50–99%", "50–99%", "unseen", "unseen"]
    assert result["type_frequency"].tolist() == [2, 2, 0, 0]


def test_one_function_adds_an_attribute(monkeypatch):
    monkeypatch.setattr(attributes, "ATTRIBUTES", dict(ATTRIBUTES))

    @attributes.attribute(
        "vowels", title="Vowels", description="vowels in the text", buckets=Fixed((0, 2), ("0–1", "2+"))
    )
    def _vowels(data):
        return [sum(char in "aeiou" for char in text.lower()) for text in data.spans["text"]]

    result, _, names = compute_attributes(*frames())
    assert "vowels" in names
    assert result[bucket_column("vowels")].tolist() == ["2+", "2+", "0–1", "0–1"]
    assert describe_slice([Condition("vowels", "2+")], "ORG") == "ORG entities vowels 2+"


def test_describe_slice_in_words():
    text = describe_slice([Condition("seen", "unseen"), Condition("length", "3+")], "ORG")
    assert text == "ORG entities unseen in training, of 3+ words"
    assert describe_slice([], "") == "entities"


def test_a_value_called_other_keeps_its_own_bucket_beside_the_rest():
    from explainer.analysis.slice_attributes import Categorical

    values = pd.Series(["other", "person", "other", "band", "song", None])
    buckets = Categorical(top=2, missing=None).assign(values)
    assert list(buckets.categories) == ["other", "person", "(other)"]  # WNUT's type "other", then the rest
    assert list(buckets.astype(object))[:5] == ["other", "person", "other", "(other)", "(other)"]
