"""The review queue as the reviewer sees it: the view (order, filters, example shown), where Previous and
Next lead, and the progress line (pure: no Dash, no cache).

The orders, statuses and the arrays behind the queue are :mod:`explainer.analysis.review`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from explainer.analysis.review import ORDERS, STATUSES, neighbour, position_in

DEFAULT_ORDER = ORDERS[0]
DEFAULT_STATUS = STATUSES[0]
QUALITY = "quality"
FINDINGS = "findings"
QUALITY_NOTE = (
    "This cache has no label-quality scores, so the queue is ordered by entity F1; rebuild it with "
    "`explainer build ... --label-quality self_confidence` to add them."
)
FINDINGS_NOTE = (
    "This cache has no label-error findings, so the queue is ordered by entity F1; rebuild it with "
    "`explainer build ... --findings on` to add them."
)


@dataclass(frozen=True)
class View:
    """The queue's order and filters, and the example shown (None: the first of the queue); made valid by
    the Review section's URL view (``explainer.app.sections.review.ReviewView``)."""

    order: str = DEFAULT_ORDER
    entity: str | None = None
    category: str | None = None
    status: str = DEFAULT_STATUS
    example: int | None = None

    def filters(self) -> tuple[str, str | None, str | None, str]:
        return self.order, self.entity, self.category, self.status

    def at(self, example: int | None) -> View:
        return replace(self, example=example)


@dataclass(frozen=True, eq=False)
class Queue:
    ids: np.ndarray  # the filtered queue, in order
    full: np.ndarray  # every example in the chosen order
    note: str | None  # why the order differs from the one asked for


def effective_order(order: str, *, has_quality: bool, has_findings: bool = True) -> tuple[str, str | None]:
    """The order to use and why it is not ``order``: without the scores it needs, entity F1."""
    if order == QUALITY and not has_quality:
        return "f1", QUALITY_NOTE
    if order == FINDINGS and not has_findings:
        return "f1", FINDINGS_NOTE
    return order, None


def example_to_show(queue: Queue, example: int | None, *, n_examples: int, step: int = 0) -> int | None:
    """The example to show: ``step`` (+1 next, -1 previous) from ``example`` in the queue (staying put at
    either end), else ``example`` when it is one of the cache's ``n_examples``, else the queue's first."""
    if step:
        moved = neighbour(queue.ids, queue.full, example, step)
        return example if moved is None else moved
    if example is None or not 0 <= example < n_examples:
        return int(queue.ids[0]) if len(queue.ids) else None
    return example


def n_reviewed(keys: np.ndarray, latest: Mapping[str, object]) -> int:
    """How many examples (by their words hash ``keys``) have a decision; duplicates of a sentence share one."""
    return int(np.isin(keys, list(latest)).sum()) if latest else 0


def progress_text(*, n_reviewed: int, n_examples: int, queue_ids: np.ndarray, example: int | None) -> str:
    position = position_in(queue_ids, example)
    where = (
        f"example {position} of {len(queue_ids):,} in this queue" if position else f"{len(queue_ids):,} in this queue"
    )
    return f"{n_reviewed:,} of {n_examples:,} examples reviewed · {where}"
