"""The per-cache memo of an app worker (explainer.app.memo)."""

from __future__ import annotations

from explainer.app.memo import per_cache


def test_per_cache_computes_once_per_cache_object():
    class FakeCache:
        pass

    calls = []
    first, second = FakeCache(), FakeCache()
    compute = lambda: calls.append(1) or len(calls)
    assert per_cache(first, "table", compute) == 1
    assert per_cache(first, "table", compute) == 1
    assert per_cache(second, "table", compute) == 2
    assert per_cache(first, "other", compute) == 3
