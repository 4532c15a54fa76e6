"""The corrections file: beside the cache, the latest decision wins, concurrent appends (explainer.review.corrections)."""

from __future__ import annotations

import multiprocessing
import warnings

import pytest
from helpers import decision

from explainer.review.corrections import (
    ACCEPT_ALL_PREDICTIONS,
    MAX_REVIEWER_LENGTH,
    CorrectionsWarning,
    append_decision,
    clean_reviewer,
    corrections_path,
    latest_decisions,
    read_decisions,
    reviewed,
)


def _append_many(path, worker, count):
    for index in range(count):
        append_decision(path, decision([f"w{worker}", str(index)], ["O", "O"], ["B-PER", "O"]))


def test_corrections_file_lives_beside_the_cache_not_inside(tmp_path):
    path = corrections_path(tmp_path / "caches" / "tiny")
    assert path == tmp_path / "caches" / "tiny.corrections.jsonl"
    assert corrections_path(tmp_path / "tiny", tmp_path / "elsewhere").parent == tmp_path / "elsewhere"


def test_latest_decision_wins_and_a_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "c.corrections.jsonl"
    append_decision(path, decision(["a", "b"], ["O", "O"], ["B-PER", "O"]))
    append_decision(path, decision(["a", "b"], ["O", "O"], ["B-PER", "I-PER"], reviewer="ann\x07"))
    with open(path, "ab") as handle:  # a writer killed half-way through a line
        handle.write(b'{"version": 1, "key": "abc", "wor')
    with pytest.warns(CorrectionsWarning, match="truncated"):
        decisions = read_decisions(path)
    assert len(decisions) == 2
    latest = latest_decisions(decisions)
    assert list(latest.values())[0]["corrected"] == ["B-PER", "I-PER"]
    assert decisions[1]["reviewer"] == "ann"
    # The next append starts a new line, so it is readable and the broken one stays isolated.
    append_decision(path, decision(["c"], ["O"], ["B-LOC"], kind=ACCEPT_ALL_PREDICTIONS))
    with pytest.warns(CorrectionsWarning):
        assert [d["corrected"] for d in read_decisions(path)][-1] == ["B-LOC"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(reviewed(path).latest) == 2  # the app's reader: silent, cached per file state


def test_two_processes_appending_at_once_lose_no_decision(tmp_path):
    path = tmp_path / "c.corrections.jsonl"
    count = 200
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, worker, count)) for worker in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every line whole
        decisions = read_decisions(path)
    assert len(decisions) == 2 * count
    assert len(latest_decisions(decisions)) == 2 * count


def test_reviewer_names_lose_c0_del_and_c1_controls_and_keep_other_text():
    assert clean_reviewer("an\x00n\x1b[31m\x7f\x85\x9b") == "ann[31m"
    assert clean_reviewer("  zoë 李 \u200b ") == "zoë 李 \u200b"  # letters beyond ASCII are names, not controls
    assert clean_reviewer("x" * 300) == "x" * MAX_REVIEWER_LENGTH
    assert clean_reviewer("\x85\t\n") is None and clean_reviewer(None) is None


def test_a_model_error_decision_keeps_the_original_tags():
    from explainer.review.corrections import KIND_LABELS, MODEL_ERROR, make_decision

    kept = make_decision(key="k", words=["Paris"], original=["B-LOC"], corrected=["B-LOC"], kind=MODEL_ERROR)
    assert kept["kind"] == MODEL_ERROR and KIND_LABELS[MODEL_ERROR] == "model error, labels right"
    with pytest.raises(ValueError, match="keeps the original tags"):
        make_decision(key="k", words=["Paris"], original=["B-LOC"], corrected=["B-ORG"], kind=MODEL_ERROR)
