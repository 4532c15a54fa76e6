"""The review queue: which examples to review, in which order (pure pandas/numpy, no Dash).

Orders (``ORDERS``): ``findings`` the example's best label-error finding's combined score descending (the
default: explainer/analysis/findings.py, build step ``findings``), ``f1`` entity F1 ascending (Prodigy's ``ner.review_hardest``), ``loss`` total loss
descending, ``quality`` the example's label-quality score ascending (cleanlab's, from
``example_label_quality.parquet`` when the cache was built with ``--label-quality``). Filters: an entity
type (examples with a gold or predicted span of it), a span error category (examples with such an error,
of that type when one is chosen; ``any`` = any error) and the review status.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.analysis.examples import order_examples
from explainer.cache.schema import CORRECT

ORDERS = ("findings", "f1", "loss", "quality")
ANY_ERROR = "any"
STATUSES = ("all", "todo", "done")


def queue_order(
    examples: pd.DataFrame, *, order: str, quality: np.ndarray | None = None, findings: np.ndarray | None = None
) -> np.ndarray:
    """Example ids in review order.

    Parameters
    ----------
    examples : DataFrame
        The cache's examples table.
    order : {"findings", "f1", "loss", "quality"}
    quality : array, optional
        Label-quality score per example, row-aligned with ``examples`` (lowest = most suspicious);
        required for ``"quality"``. Missing scores go last; ties by total loss descending.
    findings : array, optional
        The best finding's score per example, row-aligned (highest = most suspicious, 0 without a
        finding); required for ``"findings"``. Ties by total loss descending.
    """
    if order in ("f1", "loss"):
        return order_examples(examples, order=order)
    if order not in ("quality", "findings"):
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    chosen = quality if order == "quality" else findings
    if chosen is None or len(chosen) != len(examples):
        raise ValueError(f"the {order} order needs one score per example")
    ids = examples["example_id"].to_numpy(dtype=np.int64)
    scores = np.asarray(chosen, dtype=np.float64) * (1 if order == "quality" else -1)  # lowest first
    loss = examples["total_loss"].to_numpy(dtype=np.float64, na_value=np.nan)
    ordered: npt.NDArray[np.int64] = ids[
        np.lexsort((ids, np.where(np.isnan(loss), np.inf, -loss), np.where(np.isnan(scores), np.inf, scores)))
    ]
    return ordered


def matching_examples(
    *, spans: pd.DataFrame, span_errors: pd.DataFrame, entity: str | None = None, category: str | None = None
) -> np.ndarray | None:
    """Ids of the examples the filters keep (None: no filter, keep all).

    ``entity`` keeps examples with a gold or predicted span of that type; ``category`` keeps examples with
    a span error of that category (``"any"``: any category but *correct*), of type ``entity`` if given.
    """
    if not entity and not category:
        return None
    if category:
        rows = span_errors
        rows = rows[rows["category"] != CORRECT] if category == ANY_ERROR else rows[rows["category"] == category]
        if entity:
            rows = rows[(rows["gold_type"] == entity) | (rows["pred_type"] == entity)]
    else:
        rows = spans[spans["type"] == entity]
    return np.unique(rows["example_id"].to_numpy(dtype=np.int64))


def filter_queue(
    ordered: np.ndarray,
    *,
    keep: np.ndarray | None = None,
    keys: np.ndarray | None = None,
    reviewed: set[Any] | None = None,
    status: str = "all",
) -> np.ndarray:
    """``ordered`` ids restricted to ``keep`` and to a review status.

    ``keys`` maps example id -> words hash (the examples' ``words_hash`` column, indexed by id);
    ``reviewed`` is the set of reviewed keys; ``status`` ``todo`` keeps the unreviewed, ``done`` the reviewed.
    """
    mask = np.ones(len(ordered), dtype=bool)
    if keep is not None:
        mask &= np.isin(ordered, keep)
    if status in ("todo", "done") and keys is not None:
        done = np.fromiter((key in (reviewed or ()) for key in keys[ordered]), dtype=bool, count=len(ordered))
        mask &= done if status == "done" else ~done
    return ordered[mask]


def neighbour(queue: np.ndarray, full_order: np.ndarray, current: int | None, step: int) -> int | None:
    """The example ``step`` (+1 next, -1 previous) from ``current`` in ``queue``.

    ``current`` may have left the queue (e.g. reviewed while showing only the unreviewed): its place in
    ``full_order`` still says what comes next. None when there is nothing further that way.
    """
    if len(queue) == 0:
        return None
    if current is None:
        return int(queue[0])
    rank = np.empty(int(full_order.max()) + 1 if len(full_order) else 0, dtype=np.int64)
    rank[full_order] = np.arange(len(full_order))
    if not 0 <= current < len(rank):
        return int(queue[0])
    here = rank[current]
    ranks = rank[queue]
    if step > 0:
        later = queue[ranks > here]
        return int(later[0]) if len(later) else None
    earlier = queue[ranks < here]
    return int(earlier[-1]) if len(earlier) else None


def position_in(queue: np.ndarray, example_id: int | None) -> int | None:
    """1-based position of ``example_id`` in ``queue``, None when it is not there."""
    where: npt.NDArray[np.intp] | list[int] = np.flatnonzero(queue == example_id) if example_id is not None else []
    return int(where[0]) + 1 if len(where) else None
