"""The second cache of the URL (``?cache=A&vs=B``) and the comparison of the two, computed once per process.

The comparison (scores with their bootstrap, span transitions) is kept per opened pair: by cache A
(weakly, as every per-cache value) under a name carrying B's path and build time, so a rebuild of
either starts afresh. Rankings of examples are kept for the last few selections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from explainer.analysis.compare import Comparison
from explainer.app.memo import per_cache, per_cache_lru
from explainer.cache.artefacts import Missing
from explainer.cache.pair import SliceComparison, compare_caches, ranked_examples, slice_comparison
from explainer.cache.pair import confusions as confusion_pair
from explainer.cache.reader import Cache
from explainer.errors import ExplainerError

if TYPE_CHECKING:
    from explainer.app.caches import CacheRegistry

VS = "vs"  # the query key of the second cache
RESAMPLES = 1000
SEED = 0
T = TypeVar("T")


def vs_key(state: Mapping[str, str]) -> str | None:
    """The key of the cache the URL compares with, or None."""
    return state.get(VS) or None


def _pair_name(b: Cache) -> str:
    return f"compare:{b.path}:{b.manifest.get('created')}"


def comparison(a: Cache, b: Cache) -> Comparison:
    """B against A (ExplainerError when they hold different data), computed once per opened pair."""
    return per_cache(a, _pair_name(b), lambda: compare_caches(a, b, resamples=RESAMPLES, seed=SEED))


def ranking(a: Cache, b: Cache, *, transition: str | None, entity_type: str | None, order: str) -> pd.DataFrame:
    """The examples ranked for one selection (kept for the last few selections of this pair)."""
    found = comparison(a, b)
    key = (transition, entity_type, order)
    return per_cache_lru(
        a,
        _pair_name(b) + ":ranking",
        key,
        lambda: ranked_examples(a, b, found, transition=transition, entity_type=entity_type, order=order),
        maxsize=16,
    )


def training_epoch(cache: Cache) -> int | None:
    """The training epoch of the cache's model (orders the checkpoints): as the build recorded it from
    the model's training record; for a cache built before that was recorded, read from the model
    directory when it is still there; None for a model not trained by ``explainer train``."""
    model = cache.manifest.get("model", {})
    if "training_epoch" in model:
        epoch = model["training_epoch"]
        return int(epoch) if isinstance(epoch, int) else None
    location = model.get("id")
    if not location or not Path(str(location)).is_dir():
        return None
    from explainer.train.trainer import recorded_epoch

    return recorded_epoch(str(location))


def same_data_keys(registry: CacheRegistry, a: Cache) -> list[str]:
    """Keys of the other listed caches with A's dataset fingerprint (the ones worth comparing with)."""
    fingerprint = a.manifest.get("dataset", {}).get("fingerprint")
    keys = []
    listed = registry.keys()
    for key in listed:
        try:
            other = registry.get(key)
        except (ExplainerError, OSError):  # a broken cache is simply not offered
            continue
        if other.path != a.path and other.manifest.get("dataset", {}).get("fingerprint") == fingerprint:
            keys.append(key)
    return keys


def confusions(a: Cache, b: Cache) -> dict[str, Any]:
    """Both entity confusions on one label order and B − A (computed once per opened pair)."""
    return pair_value(a, b, "confusion", lambda: confusion_pair(a, b))


def slices(a: Cache, b: Cache) -> SliceComparison | Missing:
    """F1 per slice bucket of A and B, B − A with its paired interval, or Missing (once per opened pair)."""
    return pair_value(a, b, "slices", lambda: slice_comparison(a, b, draws=RESAMPLES, seed=SEED))


def pair_value(a: Cache, b: Cache, name: str, build: Callable[[], T]) -> T:
    """``build()`` kept for this pair under ``name`` (a rebuild of either cache starts afresh)."""
    return per_cache(a, f"{_pair_name(b)}:{name}", build)
