"""A review of one cache: the queue and drafts read from the cache, decisions appended to the corrections
file (no Dash). The decisions themselves are :mod:`explainer.review.draft`'s and :mod:`.queue`'s.

What the queue needs is read once per opened cache and kept (a few columns, not whole tables); an
example's row is read by row group when it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from explainer.analysis.agreement import double_review_keys
from explainer.analysis.findings import example_scores
from explainer.analysis.review import filter_queue, matching_examples, queue_order
from explainer.app.memo import per_cache
from explainer.cache import schema
from explainer.cache.artefacts import Missing
from explainer.cache.reader import Cache
from explainer.errors import ExplainerError
from explainer.review.corrections import clean_reviewer, make_decision
from explainer.review.draft import (
    NOT_IN_CACHE,
    CachedExample,
    Draft,
    Pending,
    after_save,
    checked_example_id,
    checked_tags,
    start_draft,
)
from explainer.review.queue import Queue, View, effective_order, example_to_show, n_reviewed, progress_text
from explainer.review.store import DecisionStore, Reviewed

Latest = Mapping[str, Mapping[str, Any]]  # example key -> its last decision

# The queue needs these columns of the examples table only.
ORDER_COLUMNS = ["example_id", "total_loss", "f1"]


class ReviewerSettings(Protocol):
    """Who reviews: ``Settings``' ``reviewer`` and ``reviewer_headers``."""

    @property
    def reviewer(self) -> str | None: ...

    @property
    def reviewer_headers(self) -> tuple[str, ...]: ...


def n_examples(cache: Cache) -> int:
    return int(cache.manifest["counts"]["examples"])


def example_row(cache: Cache, example_id: int) -> pd.Series:
    """Example ``example_id``'s row of the examples table (read by row group, not the whole table)."""
    rows = cache.example_rows("examples", int(example_id))
    if rows.empty:
        raise ExplainerError(NOT_IN_CACHE)
    return rows.iloc[0]


def cached_example(row: pd.Series) -> CachedExample:
    return CachedExample(
        example_id=int(row["example_id"]),
        key=str(row["words_hash"]),
        words=[str(word) for word in row["words"]],
        gold=[str(tag) for tag in row["gold_tags"]],
        pred=[str(tag) for tag in row["pred_tags"]],
        source=str(row["source"]),
    )


def entity_types(cache: Cache) -> list[str]:
    types = cache.metrics.get("entity_types") or {label[2:] for label in cache.labels if label[:2] in ("B-", "I-")}
    return sorted(types)


def example_quality(cache: Cache) -> np.ndarray | None:
    """The example-level label-quality score per example (row-aligned), or None when the cache has none."""

    def load() -> np.ndarray | None:
        frame = cache.optional_table(schema.EXAMPLE_LABEL_QUALITY)
        if frame is None or "label_quality" not in frame or len(frame) != n_examples(cache):
            return None
        scores: np.ndarray = frame["label_quality"].to_numpy(dtype=np.float64)
        return scores

    quality: np.ndarray | None = per_cache(cache, "review-example-quality", load)
    return quality


def example_finding_scores(cache: Cache) -> np.ndarray | None:
    """The best finding's score per example (0 without a finding), or None when the cache has no findings."""

    def load() -> np.ndarray | None:
        found = cache.findings()
        return None if isinstance(found, Missing) else example_scores(found.table, n_examples(cache))

    scores: np.ndarray | None = per_cache(cache, "review-finding-scores", load)
    return scores


def findings_of(cache: Cache, example_id: int) -> pd.DataFrame | None:
    """The example's findings, best first, with their row in the cache's findings (``finding``); None without."""
    found = cache.findings()
    if isinstance(found, Missing):
        return None
    return found.of_example(int(example_id)).rename_axis("finding").reset_index()


def finding(cache: Cache, row: int) -> dict[str, Any]:
    """Row ``row`` of the cache's findings (what a button names), as a dict."""
    found = cache.findings()
    if isinstance(found, Missing) or not 0 <= row < len(found.table):
        raise ExplainerError("that finding is not in this cache (was it rebuilt?); reload the page")
    return dict(found.table.iloc[row])


def word_issues(cache: Cache, row: pd.Series) -> list[bool] | None:
    """Which words of the example in ``row`` cleanlab flags as likely label issues (None without label quality)."""

    def load() -> np.ndarray | None:
        frame = cache.optional_table(schema.LABEL_QUALITY)
        if frame is None or "label_issue" not in frame:
            return None
        issues: np.ndarray = frame["label_issue"].to_numpy(dtype=bool)
        return issues

    flags: np.ndarray | None = per_cache(cache, "review-word-issues", load)
    start, count = int(row["word_offset"]), int(row["n_words"])
    if flags is None or start + count > len(flags):
        return None
    return [bool(flag) for flag in flags[start : start + count]]


def example_keys(cache: Cache) -> np.ndarray:
    """The examples' words hashes (the corrections' keys), indexed by example id."""
    keys: np.ndarray = per_cache(
        cache, "review-keys", lambda: cache.table("examples", ["words_hash"])["words_hash"].to_numpy(dtype=object)
    )
    return keys


def identity_of(cache: Cache) -> dict[str, Any]:
    """The build a decision was made on, as the corrections file records it."""
    manifest = cache.manifest
    model, dataset = manifest.get("model", {}), manifest.get("dataset", {})
    return {
        "cache": cache.path.name,
        "model": model.get("id"),
        "model_version": model.get("revision") or model.get("files_sha256"),
        "dataset": dataset.get("spec"),
        "split": manifest.get("split"),
        "fingerprint": dataset.get("fingerprint"),
        "label_map": dataset.get("label_map"),
    }


def build_queue(
    cache: Cache,
    view: View,
    latest: Latest,
    *,
    claimed: frozenset[str] = frozenset(),
    done: set[str] | None = None,
) -> Queue:
    """The queue of ``view``: without the examples other reviewers hold (``claimed``), unless the view names one.
    ``done`` is what counts as reviewed for this reviewer (default: every decided example)."""
    quality, findings = example_quality(cache), example_finding_scores(cache)
    order, note = effective_order(view.order, has_quality=quality is not None, has_findings=findings is not None)
    full: np.ndarray = per_cache(
        cache,
        f"review-order-{order}",
        lambda: queue_order(cache.table("examples", ORDER_COLUMNS), order=order, quality=quality, findings=findings),
    )
    keep = None
    if view.entity or view.category:
        # The filters need a few columns of the span tables, read once and kept (not the whole tables).
        spans = per_cache(cache, "review-spans", lambda: cache.table("spans", ["example_id", "type"]))
        span_errors = per_cache(
            cache,
            "review-span-errors",
            lambda: cache.table("span_errors", ["example_id", "category", "gold_type", "pred_type"]),
        )
        keep = matching_examples(spans=spans, span_errors=span_errors, entity=view.entity, category=view.category)
    keys = example_keys(cache)
    ids = filter_queue(full, keep=keep, keys=keys, reviewed=set(latest) if done is None else done, status=view.status)
    if claimed:
        ids = np.asarray([i for i in ids if keys[i] not in claimed or i == view.example], dtype=ids.dtype)
    return Queue(ids=ids, full=full, note=note)


@dataclass(frozen=True)
class Reviewing:
    """One reviewer's standing in a review: the settled decisions, the examples others hold (``claimed``), what
    counts as reviewed for them (``done``) and the double-review examples they see without the first decision."""

    latest: Latest
    claimed: frozenset[str]
    done: set[str]
    blind: frozenset[str]

    def navigate(self, cache: Cache, view: View, *, step: int = 0) -> tuple[View, Queue, Draft | None]:
        return navigate(cache, view, self.latest, step=step, claimed=self.claimed, done=self.done, blind=self.blind)


def double_keys(cache: Cache, share: float) -> frozenset[str]:
    """The examples of the double-review ``share`` (stable across hosts: chosen by the key's hash)."""
    if share <= 0:
        return frozenset()
    keys: frozenset[str] = per_cache(
        cache, f"review-double-{share}", lambda: frozenset(double_review_keys(list(example_keys(cache)), share))
    )
    return keys


def reviewing(store: DecisionStore, cache: Cache, reviewer: str | None, *, double_share: float = 0.0) -> Reviewing:
    reviewed: Reviewed = store.reviewed()
    double = double_keys(cache, double_share)
    return Reviewing(
        latest=reviewed.latest,
        claimed=frozenset(store.claimed_by_others(reviewer)),
        done=reviewed.done_for(reviewer, double),
        blind=frozenset(reviewed.blind_for(reviewer, double)),
    )


def progress(cache: Cache, queue: Queue, latest: Latest, example: int | None) -> str:
    keys = example_keys(cache)
    return progress_text(
        n_reviewed=n_reviewed(keys, latest), n_examples=len(keys), queue_ids=queue.ids, example=example
    )


def new_draft(cache: Cache, example_id: int, latest: Latest, *, blind: frozenset[str] = frozenset()) -> Draft:
    """The correction of ``example_id`` to start from: its last decision if it still applies, else gold (always
    gold for an example in ``blind``: the second reviewer of a double review does not see the first's decision)."""
    row = example_row(cache, example_id)
    example = cached_example(row)
    decision = latest.get(example.key)
    draft = start_draft(
        example,
        decision=None if example.key in blind else decision,
        types=entity_types(cache),
        issues=word_issues(cache, row),
    )
    if decision is not None and example.key in blind:
        draft["revision"] = int(decision.get("revision") or 0)  # saved on top of it, unseen but not a conflict
    return draft


def navigate(
    cache: Cache,
    view: View,
    latest: Latest,
    *,
    step: int = 0,
    claimed: frozenset[str] = frozenset(),
    done: set[str] | None = None,
    blind: frozenset[str] = frozenset(),
) -> tuple[View, Queue, Draft | None]:
    """The view with its example resolved (the one in the URL, or the first of the queue, or a neighbour),
    its queue and the draft of its example (None when the queue is empty)."""
    queue = build_queue(cache, view, latest, claimed=claimed, done=done)
    example = example_to_show(queue, view.example, n_examples=n_examples(cache), step=step)
    return view.at(example), queue, None if example is None else new_draft(cache, example, latest, blind=blind)


class Headers(Protocol):
    """A request's headers (a dict, or the web framework's own type)."""

    def get(self, key: str, /) -> str | None: ...


def reviewer_name(settings: ReviewerSettings, headers: Headers | None) -> str | None:
    """The reviewer: the first configured header the request carries (an authenticating proxy sets it),
    else ``EXPLAINER_REVIEWER``."""
    for header in settings.reviewer_headers:
        raw = headers.get(header) if headers is not None else None
        value = clean_reviewer(header_text(raw)) if raw is not None else None
        if value:
            return value
    return clean_reviewer(settings.reviewer)


def header_text(value: str) -> str:
    """A header value as the proxy meant it. WSGI hands header bytes over decoded as Latin-1, while nginx
    passes a user name as the UTF-8 bytes the client authenticated with: those bytes are decoded again as
    UTF-8 (before control characters are removed: UTF-8's continuation bytes read as Latin-1 include C1
    controls). Bytes that are not UTF-8 stay as Latin-1 read them; a value that is already text beyond
    Latin-1 (not from WSGI) is kept."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def save_decision(cache: Cache, draft: Draft, pending: Pending, *, store: DecisionStore, reviewer: str | None) -> Draft:
    """Check ``pending`` against the cache, save it in the ``store`` on top of the revision the draft was opened at
    and return the new draft.

    Raises
    ------
    explainer.review.store.Conflict
        When another reviewer saved a decision on the example since (their decision is on the error).
    """
    example = cached_example(example_row(cache, checked_example_id(draft, n_examples(cache))))
    tags = checked_tags(draft, pending, example=example, types=set(entity_types(cache)))
    decision = make_decision(
        key=example.key,
        words=example.words,
        original=example.gold,
        corrected=tags,
        kind=pending.kind,
        example_id=example.example_id,
        source=example.source,
        detail=pending.detail,
        reviewer=reviewer,
        identity=identity_of(cache),
    )
    return after_save(draft, store.save(decision, base=int(draft.get("revision") or 0)))
