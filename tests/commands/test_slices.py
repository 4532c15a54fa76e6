"""``explainer slices CACHE``: the weak slices in words or JSON lines."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from explainer.cache.artefacts import SliceResults
from explainer.cli import main
from explainer.commands import slices as command


def results(weak_rows):
    weak = pd.DataFrame(weak_rows)
    summary = {"overall": {"f1": 0.87}, "min_support": 30}
    return SliceResults.of_frames(
        spans=pd.DataFrame(), examples=pd.DataFrame(), buckets=pd.DataFrame(), weak=weak, summary=summary
    )


ROW = {
    "conditions": "seen=unseen;length=3+",
    "type": "ORG",
    "f1": 0.41,
    "f1_low": 0.33,
    "f1_high": 0.49,
    "precision": 0.5,
    "recall": 0.35,
    "support": 212,
}


def test_a_weak_slice_reads_as_a_sentence():
    records = command.weak_slice_records(results([ROW, {**ROW, "type": "PER"}]), top=1)
    assert len(records) == 1
    assert command.sentence(records[0]) == (
        "ORG entities unseen in training, of 3+ words: F1 0.41 [0.33, 0.49] vs 0.87 overall, 212 spans"
    )


def test_the_command_prints_the_stored_list(tiny_cache, capsys):
    assert main(["slices", str(tiny_cache), "--top", "3"]) == 0
    text = capsys.readouterr().out.strip().splitlines()
    assert 1 <= len(text) <= 3
    assert text[0].startswith("1. ") or text[0].startswith("no weak slice")
    assert main(["slices", str(tiny_cache), "--json", "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for line in lines:
        record = json.loads(line)
        assert record["f1_high"] < record["overall_f1"]


def test_a_cache_without_slices_says_how_to_add_them(tiny_cache, tmp_path, capsys):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(tiny_cache, copy)
    (copy / "weak_slices.arrow").unlink()
    assert main(["slices", str(copy)]) != 0
    error = capsys.readouterr().err
    assert "no slices" in error and "--train-dataset" in error


@pytest.mark.parametrize("top", ["-1"])
def test_a_negative_top_is_refused(tiny_cache, capsys, top):
    assert main(["slices", str(tiny_cache), "--top", top]) != 0
    assert "--top" in capsys.readouterr().err
