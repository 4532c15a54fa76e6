"""Two real caches of the tiny data (two tiny models) paired and compared; caches of other data refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from explainer.analysis.compare import OVERALL, TRANSITIONS, slice_differences
from explainer.cache import schema
from explainer.cache.pair import check_pair, compare_caches, ranked_examples, slice_comparison
from explainer.cache.reader import open_cache
from explainer.cli import main
from explainer.errors import ExplainerError


def test_comparison_of_two_models_agrees_with_their_metrics(tiny_cache, tiny_cache_vs):
    a, b = open_cache(tiny_cache), open_cache(tiny_cache_vs)
    comparison = compare_caches(a, b, resamples=50, seed=0)
    scores = comparison.scores.set_index("type")
    for cache, side in ((a, "a"), (b, "b")):
        report = cache.metrics["seqeval"]
        assert scores.loc[OVERALL, f"f1_{side}"] == pytest.approx(report["micro avg"]["f1"])
        for name in cache.metrics["entity_types"]:
            if name in report:
                assert scores.loc[name, f"f1_{side}"] == pytest.approx(report[name]["f1"])
    counts = comparison.counts.set_index("type")
    assert counts.loc[OVERALL, "gold spans"] == a.manifest["counts"]["gold_spans"]
    assert counts.loc[OVERALL, list(TRANSITIONS)].sum() == counts.loc[OVERALL, ["gold spans", "spurious spans"]].sum()
    ranked = ranked_examples(a, b, comparison)
    assert len(ranked) == a.manifest["counts"]["examples"]
    assert ranked["n_changed"].is_monotonic_decreasing


def test_caches_of_other_data_are_refused(tiny_cache, tiny_cache_other_data):
    with pytest.raises(ExplainerError, match=r"not built on the same data: the gold tags of 1 examples differ"):
        check_pair(open_cache(tiny_cache), open_cache(tiny_cache_other_data))


def test_compare_command_prints_tables_and_json(tiny_cache, tiny_cache_vs, capsys):
    assert main(["compare", str(tiny_cache), str(tiny_cache_vs), "--resamples", "40", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "95% interval" in text and "spans from A to B" in text and "most changed examples" in text
    assert text.count("example ") <= 3
    assert main(["compare", str(tiny_cache), str(tiny_cache_vs), "--resamples", "40", "--top", "0"]) == 0
    assert "most changed examples" not in capsys.readouterr().out
    assert main(["compare", str(tiny_cache), str(tiny_cache_vs), "--json", "--resamples", "40"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["resamples"] == 40 and result["scores"][-1]["type"] == OVERALL
    assert {"f1_low", "f1_high", "f1_p"} <= set(result["scores"][0])


def test_compare_command_refuses_other_data_in_one_line(tiny_cache, tiny_cache_other_data, capsys):
    assert main(["compare", str(tiny_cache), str(tiny_cache_other_data)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "gold tags of 1 examples differ" in error and "Traceback" not in error


def test_slice_comparison_reads_only_the_scored_columns_and_scores_as_the_whole_tables(tiny_cache, tiny_cache_vs):
    a, b = open_cache(tiny_cache), open_cache(tiny_cache_vs)
    found = slice_comparison(a, b, draws=200, seed=3)
    # Neither cache's span table is kept in memory for it ...
    for cache in (a, b):
        assert schema.SLICE_SPANS not in cache._memo and "spans" not in vars(cache.slices())
    # ... and the numbers are those of the whole tables.
    buckets = pd.concat([cache.slices().buckets.query("type == ''") for cache in (a, b)], ignore_index=True)
    expected = slice_differences(
        a.slices().spans,
        b.slices().spans,
        buckets[~buckets["attribute"].isin(found.not_compared)],
        n_examples=a.manifest["counts"]["examples"],
        draws=200,
        seed=3,
    )
    pd.testing.assert_frame_equal(found.table, expected)
