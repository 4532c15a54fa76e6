"""``explainer slices CACHE [--top N] [--json]``: the weak slices the build found, in words."""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_TOP = 10


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "slices", help="print the groups of spans where the model is significantly worse than overall"
    )
    parser.add_argument("cache", help="a cache directory written by `explainer build`")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="N", help="how many (default: 10)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of sentences")
    parser.set_defaults(func=run)


def weak_slice_records(results: Any, top: int) -> list[dict[str, Any]]:
    """The ``top`` weak slices as dicts: conditions, type, sentence, f1 and its interval, support."""
    from explainer.analysis.slice_attributes import describe_slice
    from explainer.analysis.slices import decode_conditions

    records = []
    for row in results.weak.head(max(top, 0)).itertuples(index=False):
        records.append(
            {
                "conditions": str(row.conditions),
                "type": str(row.type),
                "description": describe_slice(decode_conditions(str(row.conditions)), str(row.type)),
                "f1": float(row.f1),
                "f1_low": float(row.f1_low),
                "f1_high": float(row.f1_high),
                "precision": float(row.precision),
                "recall": float(row.recall),
                "support": int(row.support),
                "overall_f1": results.overall_f1,
            }
        )
    return records


def sentence(record: dict[str, Any]) -> str:
    """``unseen ORG entities of 3+ words: F1 0.41 [0.33, 0.49] vs 0.87 overall, 212 spans``."""
    return (
        f"{record['description']}: F1 {record['f1']:.2f} [{record['f1_low']:.2f}, {record['f1_high']:.2f}] "
        f"vs {record['overall_f1']:.2f} overall, {record['support']:,} spans"
    )


def run(args: argparse.Namespace) -> int:
    from explainer.cache.artefacts import Missing
    from explainer.cache.reader import open_cache
    from explainer.errors import ExplainerError

    if args.top < 0:
        raise ExplainerError(f"--top {args.top}: must be 0 or more")
    results = open_cache(args.cache).slices()
    if isinstance(results, Missing):
        raise ExplainerError(results.reason)
    records = weak_slice_records(results, args.top)
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
        return 0
    if not records:
        print(
            f"no weak slice: no group of at least {results.summary.get('min_support')} spans has a 95% interval "
            f"below the overall F1 {results.overall_f1:.2f}"
        )
        return 0
    for rank, record in enumerate(records, 1):
        print(f"{rank}. {sentence(record)}")
    return 0
