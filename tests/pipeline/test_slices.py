"""Build step ``slices``: stored attributes and scores, and the reference training set (--train-dataset)."""

from __future__ import annotations

import json

import pytest

from explainer.analysis.slices import decode_conditions, slice_mask
from explainer.cache.artefacts import Missing
from explainer.cache.reader import open_cache
from explainer.cli import main

FAST = ["--projection", "none", "--label-quality", "none", "--activations-sample", "0"]


@pytest.fixture(scope="module")
def reference_cache(tiny_model, tiny_dataset, tmp_path_factory):
    """The tiny dataset built with itself as the reference training set."""
    out = tmp_path_factory.mktemp("slices") / "with-train"
    command = ["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(out)]
    assert main([*command, "--train-dataset", str(tiny_dataset), *FAST]) == 0
    return open_cache(out)


def test_every_build_stores_attributes_and_scores_that_match_the_cache(tiny_cache):
    cache = open_cache(tiny_cache)
    results = cache.slices()
    assert not isinstance(results, Missing)
    assert results.reference is None and "seen" not in results.attributes
    counts = cache.manifest["counts"]
    spans = results.spans
    assert (spans["side"] == "gold").sum() == counts["gold_spans"]
    assert (spans["side"] == "pred").sum() == counts["pred_spans"]
    assert results.overall_f1 == pytest.approx(cache.manifest["headline"]["entity_f1"])
    assert len(results.examples) == counts["examples"]
    # Each attribute's buckets partition the spans: their gold counts add up to every gold span.
    whole = results.buckets[results.buckets["type"] == ""]
    for attribute in results.attributes:
        assert whole[whole["attribute"] == attribute]["n_gold"].sum() == counts["gold_spans"], attribute
    assert (results.buckets["f1_low"] <= results.buckets["f1_high"]).all()


def test_the_training_set_is_recorded_and_compared(reference_cache, tiny_dataset):
    manifest = reference_cache.manifest
    assert manifest["options"]["train_dataset"] == str(tiny_dataset)
    assert "--train-dataset" in manifest["command"]
    results = reference_cache.slices()
    assert results.reference == str(tiny_dataset)
    assert {"seen", "train_frequency", "label_consistency", "type_frequency"} <= set(results.attributes)
    gold = results.spans[results.spans["side"] == "gold"]
    # The reference is the dataset itself: every gold entity was seen in training, with its own type.
    assert set(gold["seen"]) == {"seen"}
    assert (gold["train_frequency"] >= 1).all() and (gold["label_consistency"] > 0).all()
    # Every weak slice is below the whole, and its stored counts are those of the spans it names.
    for row in results.weak.itertuples(index=False):
        assert row.f1_high < results.overall_f1
        mask = slice_mask(results.spans, decode_conditions(row.conditions), row.type)
        assert int(mask.sum()) >= row.n_gold + row.n_pred - max(row.tp_gold, row.tp_pred)
        assert int((results.spans[mask]["side"] == "gold").sum()) == row.n_gold


def test_a_missing_training_set_fails_before_the_model_loads(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "cache"
    status = main(
        ["build", "--model", str(tmp_path / "no-model"), "--dataset", str(tiny_dataset), "--out", str(out)]
        + ["--train-dataset", str(tmp_path / "missing.conll")]
    )
    assert status != 0 and not out.exists()
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--train-dataset" in error[0] and "missing.conll" in error[0]
    assert "Traceback" not in error[0]


def test_training_tags_unknown_to_the_model_are_one_clear_line(tiny_model, tiny_dataset, tmp_path, capsys):
    train = tmp_path / "train.conll"
    train.write_text("Acme B-COMPANY\nrocks O\n", encoding="utf-8")
    status = main(
        ["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(tmp_path / "c")]
        + ["--train-dataset", str(train), *FAST]
    )
    assert status != 0
    error = capsys.readouterr().err.strip().splitlines()[-1].split("\r")[-1]  # after the progress bars
    assert error.startswith("error: --train-dataset") and "COMPANY" in error and "Traceback" not in error


def test_slices_summary_is_json(reference_cache):
    summary = reference_cache.analyses["slices"]
    json.dumps(summary, allow_nan=False)
    assert summary["draws"] == 1000 and summary["reference"]["entities"] > 0
