"""Lazy reading (issue 10): rows of one example by row group, precomputed views, warming a worker."""

from __future__ import annotations

import gc
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from explainer.analysis.examples import rows_of
from explainer.cache import schema
from explainer.cache.reader import open_cache

TABLES = ("examples", "words", "subwords", "spans", "span_errors")


@pytest.fixture(scope="module")
def small_row_groups(tiny_cache, tmp_path_factory):
    """A copy of the tiny cache whose tables have row groups of 7 rows (an example spans several)."""
    copy = tmp_path_factory.mktemp("row-groups") / "tiny"
    shutil.copytree(tiny_cache, copy)
    for name in TABLES:
        path = copy / f"{name}.parquet"
        pq.write_table(pq.read_table(path), path, row_group_size=7)
    assert pq.ParquetFile(copy / "words.parquet").metadata.num_row_groups > 10
    return copy


def test_example_rows_equal_the_rows_of_the_whole_table(small_row_groups):
    lazy, whole = open_cache(small_row_groups), open_cache(small_row_groups)
    n_examples = whole.manifest["counts"]["examples"]
    for name in TABLES:
        table = whole.table(name)
        for example_id in (0, 1, n_examples // 2, n_examples - 1, n_examples + 5, -1):
            rows = lazy.example_rows(name, example_id)
            expected = rows_of(table, example_id)
            pd.testing.assert_frame_equal(rows.reset_index(drop=True), expected.reset_index(drop=True))
        pd.testing.assert_frame_equal(
            lazy.example_rows(name, 3, ["example_id"]).reset_index(drop=True),
            rows_of(table, 3)[["example_id"]].reset_index(drop=True),
        )
        several = [n_examples - 1, 2, 2, n_examples + 3, 5]  # unsorted, repeated, one missing
        expected = table[table["example_id"].isin(several)]
        pd.testing.assert_frame_equal(
            lazy.example_rows(name, several).reset_index(drop=True), expected.reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(
            whole.example_rows(name, several).reset_index(drop=True), expected.reset_index(drop=True)
        )
    assert "words.parquet" not in lazy._memo  # nothing read a whole table


def test_decoded_row_groups_stay_within_the_budget(small_row_groups, monkeypatch):
    from explainer.cache import reader

    cache = open_cache(small_row_groups)
    monkeypatch.setattr(reader, "ROW_GROUP_BUDGET", 1)  # keeps only the group just read
    for example_id in range(10):
        cache.example_rows("subwords", example_id)
    assert len(cache._row_groups) == 1


def test_the_build_writes_the_views_the_pages_would_compute(tiny_cache):
    from explainer.pipeline.views import compute_views

    cache = open_cache(tiny_cache)
    assert set(cache.manifest["analyses"]["views"]) == {name.removesuffix(".arrow") for name in schema.VIEW_TABLES}
    for name, frame in compute_views(cache.words, cache.span_errors).items():
        pd.testing.assert_frame_equal(cache.mapped_table(name), frame)
    assert pq.ParquetFile(tiny_cache / "words.parquet").metadata.row_group(0).num_rows <= schema.ROW_GROUP_ROWS


def test_sections_compute_the_views_of_a_cache_built_without_them(tiny_cache, tmp_path):
    from explainer.app.sections import loss, misclassified

    older = tmp_path / "older"
    shutil.copytree(tiny_cache, older)
    for name in schema.VIEW_TABLES:
        (older / name).unlink()
    stored, computed = open_cache(tiny_cache), open_cache(older)
    pd.testing.assert_frame_equal(misclassified.word_errors(computed), misclassified.word_errors(stored))
    pd.testing.assert_frame_equal(misclassified.span_errors(computed), misclassified.span_errors(stored))
    pd.testing.assert_frame_equal(loss.word_table(computed), loss.word_table(stored))
    assert "words.parquet" in computed._memo and "words.parquet" not in stored._memo


def test_warming_renders_every_tab_once(tiny_cache, monkeypatch):
    from explainer.app import memo as app_memo
    from explainer.app.factory import create_app
    from explainer.app.settings import Settings
    from explainer.app.warm import warm_context, warm_in_background

    app = create_app(Settings(cache=tiny_cache.parent))
    context = app.server.config["EXPLAINER_CONTEXT"]
    seconds = warm_context(context)
    assert {"metrics", "misclassified", "loss", "samples"} <= set(seconds) and "probing" not in seconds
    memo = app_memo._MEMO[context.registry.get(None)]
    assert {"misclassified-words", "misclassified-spans-scored", "loss-by-word", "inspect-rows"} <= set(memo)
    monkeypatch.setenv("EXPLAINER_WARM", "0")
    try:
        assert warm_in_background(app.server) is None
        # What the worker holds is frozen: full collections no longer walk it (150-220 ms pauses before).
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_warmed_worker_freezes_what_warming_built(tiny_cache, monkeypatch):
    from explainer.app.factory import create_app
    from explainer.app.settings import Settings
    from explainer.app.warm import warm_in_background

    monkeypatch.setenv("EXPLAINER_WARM", "1")
    app = create_app(Settings(cache=tiny_cache.parent))
    gc.unfreeze()
    try:
        thread = warm_in_background(app.server)
        thread.join(timeout=120)
        assert not thread.is_alive() and gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_duplicates_and_review_do_not_keep_the_whole_examples_table(tiny_cache, tmp_path):
    from explainer.app.components.review_view import example_panel
    from explainer.app.factory import create_app
    from explainer.app.sections import duplicates, review
    from explainer.app.settings import Settings
    from explainer.review import session

    context = create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path)).server.config["EXPLAINER_CONTEXT"]
    cache = open_cache(tiny_cache)
    first = int(pq.read_table(tiny_cache / "examples.parquet", columns=["example_id"])["example_id"][0].as_py())
    duplicates.layout(cache, {})
    review.layout(cache, {}, context)
    _, queue, draft = session.navigate(cache, review.queue_view({}), {})
    assert draft["example_id"] == int(queue.ids[0]) and f"Example {draft['example_id']}" in str(
        example_panel(cache, draft)
    )
    assert session.new_draft(cache, first, {})["words"]
    assert "examples.parquet" not in cache._memo
