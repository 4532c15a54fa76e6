"""Build step findings: the built cache holds the findings the analysis computes, readable through Cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from explainer.analysis.findings import COLUMNS, KINDS, apply_fix
from explainer.cache import schema
from explainer.cache.artefacts import LabelErrorFindings, Missing
from explainer.cache.reader import open_cache
from explainer.errors import ExplainerError
from explainer.pipeline import findings as step
from explainer.pipeline.options import BuildOptions


def test_the_build_stores_the_findings_and_the_reader_returns_them(tiny_cache):
    cache = open_cache(tiny_cache)
    stored = cache.findings()
    assert isinstance(stored, LabelErrorFindings)
    table = stored.table
    assert list(table.columns) == list(COLUMNS) and len(table) > 0  # a random tiny model disagrees a lot
    assert stored.info["findings"] == len(table) and stored.info["neighbours"] == step.NEIGHBOURS
    assert set(table["kind"]) <= set(KINDS)
    assert table["score"].is_monotonic_decreasing
    examples = cache.examples.set_index("example_id")
    for row in table.head(20).itertuples():
        gold = list(examples.loc[row.example_id, "gold_tags"])
        fixed = apply_fix(gold, row._asdict())
        assert fixed != gold and fixed[: row.start] == gold[: row.start]
    # What the build stored is what the analysis computes from the cache now.
    recomputed, info = step.compute_findings(cache)
    assert info["model_signal"] == "label_quality"
    np.testing.assert_allclose(recomputed["score"].to_numpy(), table["score"].to_numpy(), rtol=1e-6)
    assert recomputed["fix_tags"].map(list).tolist() == table["fix_tags"].tolist()


def test_an_out_of_fold_cache_searches_neighbours_within_each_fold(tiny_cache, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_cache, copy)
    n_examples = len(open_cache(copy).examples)
    np.save(copy / schema.FOLDS, (np.arange(n_examples) % 2).astype(np.int16), allow_pickle=False)
    _, info = step.compute_findings(open_cache(copy))
    assert info["neighbour_groups"] == "folds"


def test_a_cache_without_findings_says_how_to_add_them(tiny_cache, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_cache, copy)
    (copy / schema.FINDINGS).unlink()
    missing = open_cache(copy).findings()
    assert isinstance(missing, Missing) and "rebuild it with: explainer build" in missing.reason
    assert "--findings on" in missing.reason


def test_an_unknown_findings_option_is_refused():
    with pytest.raises(ExplainerError, match="--findings 'some'"):
        step.check_options(BuildOptions(model="m", dataset="d", out="o", findings="some"))


def test_the_inspector_shows_an_examples_findings_and_links_to_its_review(tiny_cache):
    from helpers import strings

    from explainer.analysis.examples import example_view
    from explainer.app.components.inspector import render_inspector, spans_text

    cache = open_cache(tiny_cache)
    found = cache.findings()
    example_id = int(found.table["example_id"].iloc[0])
    view = example_view(
        examples=cache.examples,
        words=cache.words,
        subwords=cache.subwords,
        spans=cache.spans,
        span_errors=cache.span_errors,
        example_id=example_id,
    )
    best = found.of_example(example_id).iloc[0]
    href = f"?tab=review&rev_ex={example_id}"
    _, body = render_inspector(view, types=[], findings=found.of_example(example_id), review_href=href)
    text = " ".join(strings(body))
    assert "Suspected label errors" in text and best["kind"] in text and spans_text(best["fix_spans"]) in text
    assert href in str(body)
    _, plain = render_inspector(view, types=[])
    assert "Suspected label errors" not in " ".join(strings(plain))
    assert spans_text(["0,2,PER", "3,4,LOC"]) == "PER 0–1, LOC 3–3" and spans_text([]) == "no entity"


def test_the_search_warms_up_only_for_a_findings_build_above_the_exact_limit(monkeypatch):
    from types import SimpleNamespace

    started = []
    monkeypatch.setattr(step, "_warm_up", None)
    monkeypatch.setattr(
        step.threading, "Thread", lambda **kwargs: started.append(kwargs) or SimpleNamespace(start=list)
    )
    limit = step.fa.EXACT_SEARCH_LIMIT

    def prepared(n_words):
        return SimpleNamespace(aligned=SimpleNamespace(examples=[SimpleNamespace(words=["w"] * n_words)]))

    step.start_warm_up(SimpleNamespace(findings="none"), prepared(limit + 1))
    step.start_warm_up(SimpleNamespace(findings="on"), prepared(limit))
    assert started == []
    step.start_warm_up(SimpleNamespace(findings="on"), prepared(limit + 1))
    step.start_warm_up(SimpleNamespace(findings="on"), prepared(limit + 1))  # once a process
    assert len(started) == 1 and started[0]["daemon"] is True
