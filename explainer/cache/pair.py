"""Two caches opened together to compare their models on the same data (``?cache=A&vs=B``, ``explainer compare``).

The pairing check reads the manifests; only when their dataset fingerprints differ does it read the
examples tables, to say what differs. The comparison reads the ``spans``, ``span_errors`` and
``examples`` tables of both and hands them to :mod:`explainer.analysis.compare`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from explainer.analysis.compare import Comparison, changed_examples, check_same_data, compare

if TYPE_CHECKING:
    import pandas as pd

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
        n_examples=int(a.manifest.get("counts", {}).get("examples", len(a.table("examples", ["example_id"])))),
        resamples=resamples,
        seed=seed,
    )


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
