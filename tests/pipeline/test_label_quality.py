"""Label-quality scores (issue 8): the build step, the reader and ranking, and the inspector's marks.

The reference is cleanlab itself, called here on the cache's own probabilities and gold ids.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from cleanlab.token_classification.filter import find_label_issues
from cleanlab.token_classification.rank import get_label_quality_scores
from helpers import strings, walk

from explainer.analysis.examples import example_view
from explainer.analysis.label_quality import rank_examples, rank_words, read_label_quality
from explainer.app.components.inspector import render_inspector
from explainer.cache import schema
from explainer.cache.reader import LABEL_QUALITY_NOT_BUILT as NOT_BUILT
from explainer.cache.reader import open_cache
from explainer.cli import main
from explainer.pipeline.label_quality import METHODS, label_quality_scores


def cleanlab_reference(cache_dir, method="self_confidence"):
    """Sentence and token scores and flagged (example, word) pairs, straight from cleanlab."""
    words = pq.read_table(cache_dir / schema.WORDS).to_pandas()
    probs = np.load(cache_dir / schema.PROBS, allow_pickle=False)
    groups = [group for _, group in words.groupby("example_id", sort=True)]
    labels = [group["gold_id"].to_numpy() for group in groups]
    pred_probs = [probs[group["subword_row"].to_numpy()] for group in groups]
    sentence, tokens = get_label_quality_scores(labels, pred_probs, token_score_method=method)
    issues = find_label_issues(labels, pred_probs, return_indices_ranked_by=method, n_jobs=1)
    return sentence, np.concatenate([series.to_numpy() for series in tokens]), set(issues)


def test_scores_agree_with_cleanlab_on_the_built_cache(tiny_cache):
    manifest = json.loads((tiny_cache / schema.MANIFEST).read_text())
    assert manifest["analyses"]["label_quality"]["method"] == "self_confidence"
    sentence, tokens, issues = cleanlab_reference(tiny_cache)
    words = pq.read_table(tiny_cache / schema.LABEL_QUALITY).to_pandas()
    examples = pq.read_table(tiny_cache / schema.EXAMPLE_LABEL_QUALITY).to_pandas()
    np.testing.assert_allclose(words["label_quality"], tokens, rtol=1e-6)
    np.testing.assert_allclose(examples["label_quality"], sentence, rtol=1e-6)
    word_index = pq.read_table(tiny_cache / schema.WORDS, columns=["word_index"]).column(0).to_numpy()
    flagged = set(zip(words["example_id"][words["label_issue"]], word_index[words["label_issue"].to_numpy()]))
    assert flagged == issues
    assert examples["n_label_issues"].sum() == len(issues)
    assert manifest["analyses"]["label_quality"]["label_issues"] == len(issues)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_matches_cleanlab_and_skips_ign_words(method):
    rng = np.random.default_rng(1)
    lengths = np.array([1, 4, 3, 1, 5, 2])  # one-word examples included
    example_ids = np.repeat(np.arange(len(lengths)), lengths)
    logits = rng.normal(size=(len(example_ids), 5))
    probs = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    gold = rng.integers(0, 5, len(example_ids))
    gold[[1, 2]] = -100  # IGN in the middle of an example
    gold[0] = -100  # example 0's only word: the example gets no score
    quality = label_quality_scores(probs, gold, example_ids, n_examples=len(lengths), method=method)

    kept = gold >= 0
    groups = [np.flatnonzero(kept & (example_ids == i)) for i in range(1, len(lengths))]
    sentence, tokens = get_label_quality_scores(
        [gold[g] for g in groups], [probs[g] for g in groups], token_score_method=method
    )
    assert np.isnan(quality.word_scores[~kept]).all() and np.isnan(quality.example_scores[0])
    np.testing.assert_allclose(quality.word_scores[kept], np.concatenate([t.to_numpy() for t in tokens]), rtol=1e-6)
    np.testing.assert_allclose(quality.example_scores[1:], sentence, rtol=1e-6)
    issues = find_label_issues(
        [gold[g] for g in groups], [probs[g] for g in groups], return_indices_ranked_by=method, n_jobs=1
    )
    assert set(np.flatnonzero(quality.word_issues)) == {int(groups[i][j]) for i, j in issues}
    assert not quality.word_issues[~kept].any()


def test_one_gold_class_scores_without_flagging():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    quality = label_quality_scores(probs, np.array([0, 0]), np.array([0, 1]), n_examples=2)
    np.testing.assert_allclose(quality.word_scores, [0.9, 0.2], rtol=1e-6)
    assert not quality.issues_found and not quality.word_issues.any()


def build(tiny_model, tiny_dataset, out, *extra):
    return main(
        [
            "build",
            "--model",
            str(tiny_model),
            "--dataset",
            str(tiny_dataset),
            "--out",
            str(out),
            "--projection",
            "none",
            "--activations-sample",
            "0",
            *extra,
        ]
    )


def test_label_quality_none_writes_nothing_and_the_inspector_says_how_to_add_it(tiny_model, tiny_dataset, tmp_path):
    out = tmp_path / "none"
    assert build(tiny_model, tiny_dataset, out, "--label-quality", "none") == 0
    assert not (out / schema.LABEL_QUALITY).exists() and not (out / schema.EXAMPLE_LABEL_QUALITY).exists()
    assert "label_quality" not in json.loads((out / schema.MANIFEST).read_text()).get("analyses", {})
    cache = open_cache(out)
    assert read_label_quality(cache) is None
    view = example_view(
        examples=cache.examples,
        words=cache.words,
        subwords=cache.subwords,
        spans=cache.spans,
        span_errors=cache.span_errors,
        example_id=0,
        label_quality=None,
    )
    _, body = render_inspector(view, types=[])
    assert NOT_BUILT in strings(body) and "--label-quality" in NOT_BUILT
    assert "label quality" not in strings(body)


def test_a_bad_method_is_one_line_and_writes_nothing(tiny_model, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "bad"
    assert build(tiny_model, tiny_dataset, out, "--label-quality", "confidence") == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --label-quality 'confidence'") and "\n" not in error
    assert all(method in error for method in (*METHODS, "none"))
    assert not out.exists()


def test_inspector_shows_scores_and_marks_flagged_words(tiny_cache):
    cache = open_cache(tiny_cache)
    scores = read_label_quality(cache)
    marked = scores.words.copy()
    first = int(cache.examples["word_offset"][3])
    marked["label_issue"] = False
    marked.loc[first + 1, "label_issue"] = True  # the second word of example 3
    view = example_view(
        examples=cache.examples,
        words=cache.words,
        subwords=cache.subwords,
        spans=cache.spans,
        span_errors=cache.span_errors,
        example_id=3,
        label_quality=marked,
    )
    _, body = render_inspector(view, types=cache.metrics["entity_types"])
    rows = [node for node in walk(body) if type(node).__name__ == "Tr"][1:]  # after the header
    flagged = [i for i, row in enumerate(rows) if "label issue?" in strings(row)]
    assert flagged == [1]
    shown = [str(cell.children) for cell in walk(body) if "label-quality" in str(getattr(cell, "className", ""))]
    assert shown == [f"{value:.3f}" for value in marked["label_quality"][first : first + len(rows)]]
    assert NOT_BUILT not in strings(body)


def test_ranking_puts_the_lowest_scores_first_and_unscored_last():
    scores = type("Scores", (), {})()
    scores.examples = pd.DataFrame(
        {"example_id": [0, 1, 2, 3], "label_quality": [0.5, np.nan, 0.1, 0.5], "n_label_issues": [0, 0, 2, 1]}
    )
    scores.words = pd.DataFrame(
        {"example_id": [0, 0, 2], "label_quality": [0.7, np.nan, 0.2], "label_issue": [True, False, True]}
    )
    ranked = rank_examples(scores, pd.DataFrame({"text": ["a", "b", "c", "d"]}))
    assert list(ranked["example_id"]) == [2, 0, 3, 1] and list(ranked["text"]) == ["c", "a", "d", "b"]
    assert list(rank_examples(scores, pd.DataFrame(), limit=2)["rank"]) == [1, 2]
    words = pd.DataFrame({"word": ["x", "y", "z"]})
    assert list(rank_words(scores, words)["word"]) == ["z", "x", "y"]
    assert list(rank_words(scores, words, flagged_only=True)["word"]) == ["z", "x"]


def test_embeddings_colour_by_label_quality_marks_flagged_words(tiny_cache, tmp_path):
    from explainer.app.sections import embeddings as section

    cache = open_cache(tiny_cache)
    assert section.projections(cache) is not None, "the default build writes projections"
    view = replace(section.view_of(cache, {}), colour="label_quality")
    figure, note = section.figure_and_note(cache, view)
    flagged = pq.read_table(tiny_cache / schema.LABEL_QUALITY).column("label_issue").to_numpy()
    diamonds = [trace for trace in figure.data if trace.name == "likely label issue"]
    assert len(diamonds) == 1 and diamonds[0].marker.symbol == "diamond"
    assert len(diamonds[0].x) == flagged.sum() > 0
    assert sum(len(trace.x) for trace in figure.data) == len(flagged)
    assert section.LABEL_QUALITY_NOTE in note

    bare = tmp_path / "bare"  # the same cache as one built with --label-quality none
    shutil.copytree(tiny_cache, bare)
    for name in (schema.LABEL_QUALITY, schema.EXAMPLE_LABEL_QUALITY):
        (bare / name).unlink()
    for mode in ("word", "example"):
        figure, note = section.figure_and_note(open_cache(bare), replace(view, mode=mode))
        assert [trace.name for trace in figure.data] == ["no label-quality score"] and NOT_BUILT in note


def test_inspect_lists_each_examples_label_quality_as_a_sortable_column(tiny_cache):
    from explainer.app.sections import inspect

    cache = open_cache(tiny_cache)
    scores = read_label_quality(cache)
    rows = inspect.inspect_rows(cache, {})
    np.testing.assert_allclose(rows["label_quality"], scores.examples["label_quality"], equal_nan=True)
    grid = [node for node in walk(inspect.layout(cache, {})) if getattr(node, "columnDefs", None)][0]
    assert {"field": "label_quality", "sortable": True}.items() <= next(
        c for c in grid.columnDefs if c["field"] == "label_quality"
    ).items()


def test_misclassified_words_carry_their_label_quality_as_a_sortable_column(tiny_cache):
    from explainer.app.sections import misclassified

    cache = open_cache(tiny_cache)
    scores = read_label_quality(cache)
    rows = misclassified.word_rows(cache, {})
    words = cache.words.reset_index(drop=True).assign(score=scores.words["label_quality"].to_numpy())
    expected = words.set_index(["example_id", "word_index"])["score"]
    got = rows.set_index(["example_id", "word_index"])["label_quality"]
    np.testing.assert_allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(), equal_nan=True)
    grid = [node for node in walk(misclassified.layout(cache, {})) if getattr(node, "columnDefs", None)][0]
    assert "label_quality" in [c["field"] for c in grid.columnDefs]
