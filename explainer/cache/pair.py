"""Two caches opened together to compare their models on the same data (``?cache=A&vs=B``, ``explainer compare``).

The pairing check reads the manifests; only when their dataset fingerprints differ does it read the
examples tables, to say what differs. The comparison reads the ``spans``, ``span_errors`` and
``examples`` tables of both and hands them to :mod:`explainer.analysis.compare`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from explainer.analysis.compare import (
    Comparison,
    changed_examples,
    check_same_data,
    compare,
    confusion_difference,
    incomparable_attributes,
    slice_differences,
)
from explainer.analysis.metrics import entity_confusion
from explainer.analysis.slice_attributes import ATTRIBUTES, Quantile
from explainer.analysis.slices import bucket_column
from explainer.cache.artefacts import Missing, SliceResults

if TYPE_CHECKING:
    from explainer.cache.reader import Cache

PAIRING_COLUMNS = ["example_id", "words_hash", "gold_tags", "source"]
RANKING_COLUMNS = ["example_id", "text", "total_loss", "f1"]


def check_pair(a: Cache, b: Cache, *, names: tuple[str, str] | None = None) -> None:
    """Raise ExplainerError naming what differs unless ``a`` and ``b`` hold the same examples and gold."""
    names = names or (a.path.name, b.path.name)
    if a.path == b.path:
        return
    fingerprints = [cache.manifest.get("dataset", {}).get("fingerprint") for cache in (a, b)]
    if fingerprints[0] and fingerprints[0] == fingerprints[1]:
        return
    check_same_data(
        a.manifest, b.manifest, a.table("examples", PAIRING_COLUMNS), b.table("examples", PAIRING_COLUMNS), names=names
    )


def compare_caches(a: Cache, b: Cache, *, resamples: int = 1000, seed: int = 0) -> Comparison:
    """The comparison of ``b`` against ``a`` (checked to be of the same data first)."""
    check_pair(a, b)
    return compare(
        spans_a=a.spans,
        spans_b=b.spans,
        errors_a=a.span_errors,
        errors_b=b.span_errors,
        n_examples=_n_examples(a),
        resamples=resamples,
        seed=seed,
    )


def _n_examples(cache: Cache) -> int:
    return int(cache.manifest.get("counts", {}).get("examples", len(cache.table("examples", ["example_id"]))))


def confusions(a: Cache, b: Cache) -> dict[str, Any]:
    """The entity confusion of each cache (as Metrics computes it) on one label order, and B − A."""
    check_pair(a, b)
    return confusion_difference(
        *(entity_confusion(cache.span_errors, types=cache.metrics.get("entity_types")) for cache in (a, b))
    )


@dataclass(frozen=True)
class SliceComparison:
    """Slice buckets of A and B (:func:`explainer.analysis.compare.slice_differences`), and the attributes
    left out because their quantile buckets have other edges in A than in B."""

    table: pd.DataFrame
    not_compared: list[str]


def slice_comparison(a: Cache, b: Cache, *, draws: int = 1000, seed: int = 0) -> SliceComparison | Missing:
    """F1 of A and B per attribute bucket with B − A and its paired interval, or Missing naming the
    cache(s) without slices and how to build them."""
    check_pair(a, b)
    found = {name: cache.slices() for name, cache in (("A", a), ("B", b))}
    for (name, results), cache in zip(found.items(), (a, b)):
        if isinstance(results, Missing):  # one line: which cache, and its own way to build them
            return Missing(f"No slices B − A: {name} ({cache.path.name}) has no slices. {results.reason}")
    results_a, results_b = found["A"], found["B"]
    assert not isinstance(results_a, Missing) and not isinstance(results_b, Missing)
    overall = [results.buckets[results.buckets["type"] == ""] for results in (results_a, results_b)]
    quantiles = {name for name, registered in ATTRIBUTES.items() if isinstance(registered.buckets, Quantile)}
    dropped = incomparable_attributes(overall[0], overall[1], quantiles)
    buckets = pd.concat(overall, ignore_index=True)
    compared = buckets[~buckets["attribute"].isin(dropped)]
    # Only the columns the scores read, for this call: the pair's span tables are not kept in the worker.
    wanted = ["example_id", "side", "matched", *dict.fromkeys(map(bucket_column, compared["attribute"].astype(str)))]

    def columns_of(results: SliceResults) -> pd.DataFrame:
        present = set(results.read_spans(None).column_names)
        return results.span_columns([name for name in wanted if name in present])

    spans_a, spans_b = columns_of(results_a), columns_of(results_b)
    table = slice_differences(spans_a, spans_b, compared, n_examples=_n_examples(a), draws=draws, seed=seed)
    return SliceComparison(table=table, not_compared=dropped)


def ranked_examples(
    a: Cache,
    b: Cache,
    comparison: Comparison,
    *,
    transition: str | None = None,
    entity_type: str | None = None,
    order: str = "changed",
) -> pd.DataFrame:
    """:func:`explainer.analysis.compare.changed_examples` over the two caches' examples tables."""
    return changed_examples(
        comparison.transitions,
        a.table("examples", RANKING_COLUMNS),
        b.table("examples", RANKING_COLUMNS),
        transition=transition,
        entity_type=entity_type,
        order=order,
    )
