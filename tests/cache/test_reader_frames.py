"""Cache.open and Cache.frames: a cache's tables as pandas frames, for notebooks."""

from __future__ import annotations

import pandas as pd

from explainer import Cache
from explainer.cache.reader import open_cache


def test_open_gives_every_table_and_the_findings_as_frames(tiny_cache):
    cache = Cache.open(tiny_cache)
    frames = cache.frames()
    assert list(frames)[:5] == ["examples", "words", "subwords", "spans", "span_errors"]
    assert all(isinstance(frame, pd.DataFrame) for frame in frames.values())
    assert len(frames["examples"]) == cache.manifest["counts"]["examples"]
    assert len(frames["words"]) == cache.manifest["counts"]["words"]
    # The tiny cache is built with the default steps: label quality and data checks are among its findings.
    assert {"data_checks", "word_label_quality", "example_label_quality", "findings", "slice_buckets"} <= set(frames)
    assert len(frames["word_label_quality"]) == len(frames["words"])
    worst = frames["examples"].sort_values("total_loss", ascending=False)
    assert worst["total_loss"].iloc[0] == frames["examples"]["total_loss"].max()
    assert isinstance(cache.metrics, dict) and cache.metrics == open_cache(tiny_cache).metrics
