"""Two models on the same data: per-type scores with a paired bootstrap, span transitions, changed examples.

Pure functions over the tables of two caches (``examples``, ``spans``, ``span_errors``) and their
manifests; no Dash and no file access (:mod:`explainer.cache.pair` reads the caches).

*A* is the reference (the older model or checkpoint), *B* the candidate; a difference is B − A.

Span transitions follow every gold span from A to B, and every spurious prediction:

- *fixed*: A got the gold span wrong, B right (or A's spurious span is gone in B);
- *broken*: A right, B wrong (or B predicts a spurious span A did not);
- *still wrong (same error)*: both wrong in the same way (same category and same predicted span; a
  spurious span both predict);
- *still wrong (other error)*: both wrong, differently;
- *both right*.

Per type, the gold-span transitions add up to the gold spans of that type, and the spurious ones to
the spurious spans of A and B together (a span both predict counted once).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.analysis.metrics import NONE
from explainer.analysis.slices import bootstrap_scores, bucket_column, percentile_intervals, row_counts, scores
from explainer.analysis.slices import support as slice_support
from explainer.cache.schema import CORRECT, SPURIOUS
from explainer.errors import ExplainerError

FIXED = "fixed"
BROKEN = "broken"
SAME_ERROR = "still wrong (same error)"
OTHER_ERROR = "still wrong (other error)"
BOTH_RIGHT = "both right"
TRANSITIONS = (FIXED, BROKEN, SAME_ERROR, OTHER_ERROR, BOTH_RIGHT)
CHANGED = (FIXED, BROKEN, OTHER_ERROR)  # a span whose outcome differs between A and B
NOT_PREDICTED = "not predicted"  # the category of a spurious span on the side that does not predict it
OVERALL = "overall"
METRICS = ("precision", "recall", "f1")
ORDERS = ("changed", "loss")

# Per example and type, what the scores are computed from (columns of the count array, in this order).
_GOLD, _PRED_A, _TP_A, _PRED_B, _TP_B = range(5)


# --- pairing ------------------------------------------------------------------------------------


def check_same_data(
    manifest_a: Mapping[str, Any],
    manifest_b: Mapping[str, Any],
    examples_a: pd.DataFrame | None = None,
    examples_b: pd.DataFrame | None = None,
    *,
    names: tuple[str, str] = ("A", "B"),
) -> None:
    """Raise ExplainerError saying what differs unless both caches hold the same examples and gold tags.

    Parameters
    ----------
    manifest_a, manifest_b : mapping
        The caches' manifests; equal ``dataset.fingerprint`` values (sha256 over every example's
        words and gold tags, in order) mean the same data.
    examples_a, examples_b : pandas.DataFrame, optional
        The ``examples`` tables (``words_hash``, ``gold_tags``, ``source``), read only when the
        fingerprints differ, to say what differs: the number of examples, their words, or their gold tags.
    names : (str, str)
        How the message names the two caches.

    Examples
    --------
    >>> check_same_data({"dataset": {"fingerprint": "f"}}, {"dataset": {"fingerprint": "f"}})
    """
    fingerprints = [dict(manifest.get("dataset") or {}).get("fingerprint") for manifest in (manifest_a, manifest_b)]
    if fingerprints[0] and fingerprints[0] == fingerprints[1]:
        return
    first, second = names
    what = _what_differs(examples_a, examples_b, names) if examples_a is not None and examples_b is not None else None
    if what is None:
        shown = [str(value)[:12] if value else "none" for value in fingerprints]
        what = f"dataset fingerprints differ ({first} {shown[0]}, {second} {shown[1]})"
    raise ExplainerError(
        f"{first} and {second} were not built on the same data: {what}; "
        "build both caches from the same dataset file and split to compare them"
    )


def _what_differs(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str]) -> str | None:
    first, second = names
    if len(a) != len(b):
        return f"{first} has {len(a):,} examples, {second} {len(b):,}"
    words_differ = np.flatnonzero(a["words_hash"].to_numpy() != b["words_hash"].to_numpy())
    if len(words_differ):
        return f"the words of {len(words_differ):,} examples differ (first: {_where(a, words_differ[0])})"
    gold_a, gold_b = a["gold_tags"].to_numpy(), b["gold_tags"].to_numpy()
    tags_differ = [i for i in range(len(a)) if list(gold_a[i]) != list(gold_b[i])]
    if tags_differ:
        return (
            f"the gold tags of {len(tags_differ):,} examples differ (first: {_where(a, tags_differ[0])}; "
            "merged corrections change the gold: compare models on data neither was corrected on)"
        )
    return None


def _where(examples: pd.DataFrame, position: int) -> str:
    row = examples.iloc[int(position)]
    source = row.get("source") if hasattr(row, "get") else None
    return f"example {int(row['example_id'])}" + (f", {source}" if source else "")


# --- per-type scores with a paired bootstrap ----------------------------------------------------


def span_counts(
    spans_a: pd.DataFrame, spans_b: pd.DataFrame, *, n_examples: int, types: Sequence[str] | None = None
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Per example and entity type: gold spans, A's and B's predicted and exactly matched spans.

    Parameters
    ----------
    spans_a, spans_b : pandas.DataFrame
        The caches' ``spans`` tables (example_id, source ``gold``/``pred``, start, end, type).
    n_examples : int
        Examples in the data (ids ``0..n_examples-1``), those without spans included: the bootstrap
        resamples examples, not spans.
    types : sequence of str, optional
        Entity types (default: every type either side has, sorted).

    Returns
    -------
    (list of str, numpy.ndarray)
        The types and an int64 array ``[n_examples, n_types, 5]``: gold, A predicted, A correct,
        B predicted, B correct. A predicted span is correct when its boundaries and type equal a gold
        span's (seqeval's default mode), so summed over examples these give seqeval's scores.
    """
    if types is None:
        types = sorted(set(spans_a["type"].astype(str).unique()) | set(spans_b["type"].astype(str).unique()))
    types = list(types)
    n_types = len(types)
    counts = np.zeros((n_examples, n_types, 5), dtype=np.int64)
    gold = _span_rows(spans_a[spans_a["source"] == "gold"], types)
    preds = [_span_rows(spans[spans["source"] == "pred"], types) for spans in (spans_a, spans_b)]
    gold_key, *pred_keys = joint_keys(gold, *preds)
    _add(counts, gold, _GOLD)
    for pred, key, pred_column, correct_column in zip(preds, pred_keys, (_PRED_A, _PRED_B), (_TP_A, _TP_B)):
        _add(counts, pred, pred_column)
        # A prediction is correct when its (example, type, start, end) is a gold span's.
        _add(counts, pred[np.isin(key, gold_key)], correct_column)
    return types, counts


def _span_rows(spans: pd.DataFrame, types: list[str]) -> npt.NDArray[np.int64]:
    """``[n, 4]``: example, type code, start, end of each span (spans of types outside ``types`` dropped)."""
    codes = pd.Categorical(spans["type"].astype(str), categories=types).codes.astype(np.int64)
    rows: npt.NDArray[np.int64] = np.column_stack(
        [
            spans["example_id"].to_numpy(dtype=np.int64),
            codes,
            spans["start"].to_numpy(dtype=np.int64),
            spans["end"].to_numpy(dtype=np.int64),
        ]
    )[codes >= 0]
    return rows


def joint_keys(*blocks: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    """One int64 per row of each ``[n_i, k]`` block of integers (>= -1), equal exactly when the rows are.

    The columns are packed into the bits of one int64 when they fit (the usual case: a bincount and
    ``np.isin`` on one array instead of a merge on several columns); otherwise rows are numbered by
    ``np.unique``. The same numbering holds across the blocks, so keys compare between them.
    """
    stacked = np.concatenate(blocks, axis=0) + 1  # -1 (none) becomes 0
    if len(stacked) == 0:
        return [np.zeros(len(block), dtype=np.int64) for block in blocks]
    widths = [int(value).bit_length() for value in stacked.max(axis=0)]
    if sum(widths) <= 62:
        keys = np.zeros(len(stacked), dtype=np.int64)
        for column, width in enumerate(widths):
            keys = (keys << width) | stacked[:, column]
    else:
        keys = np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return np.split(keys, np.cumsum([len(block) for block in blocks])[:-1])


def _add(counts: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], column: int) -> None:
    """Count ``rows`` (example, type code, ...) into ``counts[:, :, column]``."""
    n_examples, n_types = counts.shape[:2]
    flat = np.bincount(rows[:, 0] * n_types + rows[:, 1], minlength=n_examples * n_types)
    counts[:, :, column] += flat[: n_examples * n_types].reshape(n_examples, n_types)


def _scores(sums: npt.NDArray[np.float64]) -> dict[str, dict[str, npt.NDArray[np.float64]]]:
    """P/R/F1 of A and B from summed counts ``[..., 5]`` (0 where undefined, seqeval's zero_division=0)."""

    def ratio(top: npt.NDArray[np.float64], bottom: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)

    gold = sums[..., _GOLD]
    result = {}
    for side, pred, correct in (("a", _PRED_A, _TP_A), ("b", _PRED_B, _TP_B)):
        tp = sums[..., correct]
        result[side] = {
            "precision": ratio(tp, sums[..., pred]),
            "recall": ratio(tp, gold),
            # 2PR/(P+R) written on the counts: defined (0) where P+R is 0.
            "f1": ratio(2 * tp, sums[..., pred] + gold),
        }
    return result


def paired_bootstrap(
    counts: npt.NDArray[np.int64],
    types: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 100,
) -> pd.DataFrame:
    """P/R/F1 of A and B per type and overall, B − A, its paired bootstrap interval and p-value.

    Parameters
    ----------
    counts : numpy.ndarray
        ``[n_examples, n_types, 5]`` from :func:`span_counts`.
    types : sequence of str
        The types of ``counts``' second axis.
    resamples : int
        Bootstrap samples. Each draws ``n_examples`` examples with replacement and scores *both*
        models on that same draw (paired), so the spread reflects which examples were drawn, not two
        independent draws.
    seed : int
        Seed of the draws: the same seed gives the same intervals.
    confidence : float
        Level of the percentile interval of the difference.
    chunk : int
        Resamples drawn at once (bounds memory at ``chunk × n_examples`` weights).

    Returns
    -------
    pandas.DataFrame
        One row per type, then ``overall`` (micro average over types): ``type``, ``support`` (gold
        spans), and for each of precision, recall and f1: ``<m>_a``, ``<m>_b``, ``<m>_diff`` (B − A),
        ``<m>_low``, ``<m>_high`` (the interval of the difference) and ``<m>_p`` (two-sided p-value
        of "no difference": the share of resampled differences at least as far from the observed one
        as the observed one is from 0, with the usual +1 correction).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    n_examples = counts.shape[0]
    # Types and the overall micro average, as one flat matrix the resampling weights multiply.
    stacked = np.concatenate([counts, counts.sum(axis=1, keepdims=True)], axis=1).astype(np.float64)
    names = [*types, OVERALL]
    flat = stacked.reshape(n_examples, -1)
    observed = _scores(stacked.sum(axis=0))
    rng = np.random.default_rng(seed)
    differences: dict[str, list[npt.NDArray[np.float64]]] = {metric: [] for metric in METRICS}
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        if n_examples:
            # How often each example is drawn, per resample (n draws with replacement), counted by one
            # bincount over all the resamples of the chunk; then the counts are weighted sums.
            drawn = rng.integers(0, n_examples, size=(size, n_examples)) + n_examples * np.arange(size)[:, None]
            weights = np.bincount(drawn.ravel(), minlength=size * n_examples).reshape(size, n_examples)
            sums = (weights.astype(np.float64) @ flat).reshape(size, len(names), 5)
        else:
            sums = np.zeros((size, len(names), 5))
        scores = _scores(sums)
        for metric in METRICS:
            differences[metric].append(scores["b"][metric] - scores["a"][metric])
        done += size
    tail = (1 - confidence) / 2
    table: dict[str, Any] = {"type": names, "support": stacked[:, :, _GOLD].sum(axis=0).astype(np.int64)}
    for metric in METRICS:
        resampled = np.concatenate(differences[metric])  # [resamples, n_names]
        observed_diff = observed["b"][metric] - observed["a"][metric]
        low, high = np.quantile(resampled, [tail, 1 - tail], axis=0)
        as_far = (np.abs(resampled - observed_diff) >= np.abs(observed_diff) - 1e-12).sum(axis=0)
        table[f"{metric}_a"] = observed["a"][metric]
        table[f"{metric}_b"] = observed["b"][metric]
        table[f"{metric}_diff"] = observed_diff
        table[f"{metric}_low"] = low
        table[f"{metric}_high"] = high
        table[f"{metric}_p"] = (as_far + 1) / (resamples + 1)
    return pd.DataFrame(table)


# --- span transitions ---------------------------------------------------------------------------


def _plain(errors: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """span_errors as numpy columns: int64 positions (-1 for none), str types and categories ('' for none)."""
    columns: dict[str, npt.NDArray[Any]] = {"example_id": errors["example_id"].to_numpy(dtype=np.int64)}
    for column in ("gold_start", "gold_end", "pred_start", "pred_end"):
        columns[column] = errors[column].astype("Int64").to_numpy(dtype=np.int64, na_value=-1)
    for column in ("category", "gold_type", "pred_type"):
        columns[column] = errors[column].astype(object).fillna("").to_numpy(dtype=object)
    return columns


def _take(columns: dict[str, npt.NDArray[Any]], rows: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
    return {name: values[rows] for name, values in columns.items()}


def span_transitions(errors_a: pd.DataFrame, errors_b: pd.DataFrame) -> pd.DataFrame:
    """Every gold span, and every spurious span of A or B, with how its outcome changed from A to B.

    Parameters
    ----------
    errors_a, errors_b : pandas.DataFrame
        The caches' ``span_errors`` tables (one record per gold span, one per spurious prediction).

    Returns
    -------
    pandas.DataFrame
        One row per gold span, then one per spurious span (A's and B's, a span both predict once),
        sorted by example and start: ``example_id``, ``type``, ``transition`` (one of TRANSITIONS),
        ``gold`` (True for a gold span), ``start``, ``end`` (the gold span's, or the spurious
        prediction's), ``category_a``, ``category_b`` (span error categories; ``not predicted`` for a
        spurious span on the side that does not predict it), ``pred_start_a``, ``pred_end_a``,
        ``pred_type_a``, ``pred_start_b``, ``pred_end_b``, ``pred_type_b`` (the prediction recorded
        for the span; -1 and '' for none).

    Raises
    ------
    ValueError
        If the two tables do not have the same gold spans (caches of different data).
    """
    a, b = _plain(errors_a), _plain(errors_b)
    gold_a, gold_b = (_take(side, side["category"] != SPURIOUS) for side in (a, b))
    gold_a, gold_b = (_take(side, _gold_order(side)) for side in (gold_a, gold_b))
    same_gold = len(gold_a["example_id"]) == len(gold_b["example_id"]) and all(
        np.array_equal(gold_a[name], gold_b[name]) for name in ("example_id", "gold_start", "gold_end", "gold_type")
    )
    if not same_gold:
        raise ValueError("the two span_errors tables have different gold spans: the caches hold different data")
    right_a, right_b = gold_a["category"] == CORRECT, gold_b["category"] == CORRECT
    same = (gold_a["category"] == gold_b["category"]) & np.logical_and.reduce(
        [gold_a[name] == gold_b[name] for name in ("pred_start", "pred_end", "pred_type")]
    )
    gold_rows = {
        "example_id": gold_a["example_id"],
        "type": gold_a["gold_type"],
        "transition": np.select(
            [right_a & right_b, right_b, right_a, same], [BOTH_RIGHT, FIXED, BROKEN, SAME_ERROR], OTHER_ERROR
        ),
        "gold": np.ones(len(right_a), dtype=bool),
        "start": gold_a["gold_start"],
        "end": gold_a["gold_end"],
        **{f"category_{side}": values["category"] for side, values in (("a", gold_a), ("b", gold_b))},
        **{
            f"{name}_{side}": values[name]
            for side, values in (("a", gold_a), ("b", gold_b))
            for name in ("pred_start", "pred_end", "pred_type")
        },
    }
    spurious_rows = _spurious_transitions(*(_take(side, side["category"] == SPURIOUS) for side in (a, b)))
    rows = pd.DataFrame({name: np.concatenate([gold_rows[name], spurious_rows[name]]) for name in gold_rows})
    type_codes = pd.Categorical(rows["type"]).codes
    order = np.lexsort((type_codes, ~rows["gold"].to_numpy(), rows["end"], rows["start"], rows["example_id"]))
    return rows.iloc[order].reset_index(drop=True)


def _gold_order(side: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.int64]:
    """Gold records by example, start, end (a table is sorted so already; frames built by hand may not be)."""
    return np.lexsort((side["gold_end"], side["gold_start"], side["example_id"]))


def _spurious_transitions(
    a: dict[str, npt.NDArray[Any]], b: dict[str, npt.NDArray[Any]]
) -> dict[str, npt.NDArray[Any]]:
    """The spurious spans of A or B (one row for a span both predict) and their transitions."""
    types = sorted(set(a["pred_type"]) | set(b["pred_type"]))

    def rows(side: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.int64]:
        codes = pd.Categorical(side["pred_type"], categories=types).codes.astype(np.int64)
        return np.column_stack([side["example_id"], side["pred_start"], side["pred_end"], codes])

    rows_a, rows_b = rows(a), rows(b)
    key_a, key_b = joint_keys(rows_a, rows_b)
    keys, first = np.unique(np.concatenate([key_a, key_b]), return_index=True)
    found = np.concatenate([rows_a, rows_b])[first]
    in_a, in_b = np.isin(keys, key_a), np.isin(keys, key_b)
    kinds = np.asarray(types, dtype=object)[found[:, 3]] if len(found) else np.zeros(0, dtype=object)
    result: dict[str, npt.NDArray[Any]] = {
        "example_id": found[:, 0],
        "type": kinds,
        "transition": np.select([in_a & in_b, in_a], [SAME_ERROR, FIXED], BROKEN).astype(object),
        "gold": np.zeros(len(found), dtype=bool),
        "start": found[:, 1],
        "end": found[:, 2],
    }
    for side, present in (("a", in_a), ("b", in_b)):
        result[f"category_{side}"] = np.where(present, SPURIOUS, NOT_PREDICTED).astype(object)
        result[f"pred_start_{side}"] = np.where(present, found[:, 1], -1)
        result[f"pred_end_{side}"] = np.where(present, found[:, 2], -1)
        result[f"pred_type_{side}"] = np.where(present, kinds, "").astype(object)
    return result


def transition_counts(transitions: pd.DataFrame, *, types: Sequence[str] | None = None) -> pd.DataFrame:
    """Spans per type and transition, with the totals they add up to.

    Returns
    -------
    pandas.DataFrame
        One row per type (default: those in ``transitions``, sorted), then ``overall``: ``type``, one
        column per transition (TRANSITIONS order), ``gold spans`` (the gold spans of the type, the
        sum of their transitions) and ``spurious spans`` (spurious spans of A or B).
    """
    types = sorted(set(transitions["type"])) if types is None else list(types)
    table = pd.crosstab(transitions["type"], transitions["transition"]).reindex(
        index=types, columns=list(TRANSITIONS), fill_value=0
    )
    table["gold spans"] = transitions[transitions["gold"]].groupby("type").size().reindex(types, fill_value=0)
    table["spurious spans"] = transitions[~transitions["gold"]].groupby("type").size().reindex(types, fill_value=0)
    table.loc[OVERALL] = table.sum(axis=0)
    table = table.astype(np.int64)
    table.index.name = "type"
    table.columns.name = None
    return table.reset_index()


def select_transitions(
    transitions: pd.DataFrame, *, transition: str | None = None, entity_type: str | None = None
) -> pd.DataFrame:
    """The rows of one transition and/or type (None: any; type ``overall`` is any type)."""
    keep = np.ones(len(transitions), dtype=bool)
    if transition:
        keep &= (transitions["transition"] == transition).to_numpy()
    if entity_type and entity_type != OVERALL:
        keep &= (transitions["type"] == entity_type).to_numpy()
    return transitions[keep]


# --- examples ranked ----------------------------------------------------------------------------


def changed_examples(
    transitions: pd.DataFrame,
    examples_a: pd.DataFrame,
    examples_b: pd.DataFrame,
    *,
    transition: str | None = None,
    entity_type: str | None = None,
    order: str = "changed",
) -> pd.DataFrame:
    """Examples ranked by how much changed from A to B, optionally those with a given transition and type.

    Parameters
    ----------
    transitions : pandas.DataFrame
        From :func:`span_transitions`.
    examples_a, examples_b : pandas.DataFrame
        The ``examples`` tables (``example_id``, ``text``, ``total_loss``, ``f1``), same examples in
        the same order.
    transition, entity_type : str, optional
        Keep the examples with at least one span of this transition (and of this type).
    order : {"changed", "loss"}
        ``changed``: most changed spans first (fixed + broken + other error), then the larger loss
        change; ``loss``: the larger loss change (either way) first, then the changed spans.

    Returns
    -------
    pandas.DataFrame
        ``example_id``, ``text``, ``n_changed``, ``n_fixed``, ``n_broken``, ``f1_a``, ``f1_b``,
        ``loss_a``, ``loss_b``, ``loss_change`` (B − A; negative: B is more confident of the gold),
        ``matching`` (spans of the selected transition and type); ties by example id.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    ids = examples_a["example_id"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "example_id": ids,
            "text": examples_a["text"].to_numpy(),
            "f1_a": examples_a["f1"].to_numpy(dtype=np.float64),
            "f1_b": examples_b["f1"].to_numpy(dtype=np.float64),
            "loss_a": examples_a["total_loss"].to_numpy(dtype=np.float64),
            "loss_b": examples_b["total_loss"].to_numpy(dtype=np.float64),
        }
    )
    frame["loss_change"] = frame["loss_b"] - frame["loss_a"]
    id_order = np.argsort(ids, kind="stable")
    sorted_ids = ids[id_order]

    def per_example(rows: pd.DataFrame) -> npt.NDArray[np.int64]:
        """Rows per example, in the order of ``examples_a`` (rows of unknown examples ignored)."""
        found = rows["example_id"].to_numpy(dtype=np.int64)
        at = np.searchsorted(sorted_ids, found).clip(0, max(len(ids) - 1, 0))
        known = sorted_ids[at] == found if len(ids) else np.zeros(len(found), dtype=bool)
        return np.bincount(id_order[at[known]], minlength=len(ids)).astype(np.int64)

    frame["n_changed"] = per_example(transitions[transitions["transition"].isin(CHANGED)])
    frame["n_fixed"] = per_example(transitions[transitions["transition"] == FIXED])
    frame["n_broken"] = per_example(transitions[transitions["transition"] == BROKEN])
    frame["matching"] = per_example(select_transitions(transitions, transition=transition, entity_type=entity_type))
    if transition or (entity_type and entity_type != OVERALL):
        frame = frame[frame["matching"] > 0]
    frame["_abs_loss"] = frame["loss_change"].abs().fillna(0.0)
    keys = ["n_changed", "_abs_loss"] if order == "changed" else ["_abs_loss", "n_changed"]
    frame = frame.sort_values([*keys, "example_id"], ascending=[False, False, True], kind="stable")
    columns = ["example_id", "text", "n_changed", "n_fixed", "n_broken", "f1_a", "f1_b", "loss_a", "loss_b"]
    return frame[[*columns, "loss_change", "matching"]].reset_index(drop=True)


# --- the whole comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """What the Compare section and ``explainer compare`` show (one computation, then read)."""

    scores: pd.DataFrame  # paired_bootstrap
    transitions: pd.DataFrame  # span_transitions
    counts: pd.DataFrame  # transition_counts
    resamples: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        """Plain numbers for ``--json``: scores and transition counts, records per type."""
        return {
            "resamples": self.resamples,
            "seed": self.seed,
            "scores": _records(self.scores),
            "transitions": _records(self.counts),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {key: (value.item() if isinstance(value, np.generic) else value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def compare(
    *,
    spans_a: pd.DataFrame,
    spans_b: pd.DataFrame,
    errors_a: pd.DataFrame,
    errors_b: pd.DataFrame,
    n_examples: int,
    resamples: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Scores with their paired bootstrap, span transitions and their counts, for two caches of the same data."""
    types, counts = span_counts(spans_a, spans_b, n_examples=n_examples)
    transitions = span_transitions(errors_a, errors_b)
    return Comparison(
        scores=paired_bootstrap(counts, types, resamples=resamples, seed=seed),
        transitions=transitions,
        counts=transition_counts(transitions, types=types),
        resamples=resamples,
        seed=seed,
    )


# --- several checkpoints ------------------------------------------------------------------------


def checkpoint_order(epochs: Mapping[str, int | None]) -> list[str]:
    """The names of ``{name: epoch}`` in training order: models without a recorded epoch first (a base
    model, another run: the reference), by name; then by epoch, ties by name.

    >>> checkpoint_order({"run-epoch10": 10, "run-epoch2": 2, "base": None, "run": 10})
    ['base', 'run-epoch2', 'run', 'run-epoch10']
    """
    return sorted(epochs, key=lambda name: (epochs[name] is not None, epochs[name] or 0, name))


def trajectory(
    reports: Mapping[str, Mapping[str, Any]], *, epochs: Mapping[str, int | None] | None = None
) -> pd.DataFrame:
    """Entity F1 per type and overall of several models on the same data (checkpoints, in the given order).

    Parameters
    ----------
    reports : mapping
        ``{name: seqeval report}`` (``metrics.json``'s ``seqeval``: per type and ``micro avg``), in
        the order to show them (e.g. by epoch: :func:`checkpoint_order`).
    epochs : mapping, optional
        ``{name: epoch or None}``: the training epoch of each model, where known.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``name``, ``epoch`` (nullable integer), ``overall`` (micro F1), then one
        column per type (sorted; 0.0 where a model's report lacks the type).
    """
    epochs = epochs or {}
    types = sorted({key for report in reports.values() for key in report if not str(key).endswith(" avg")})
    rows = []
    for name, report in reports.items():
        row: dict[str, Any] = {"name": name, "epoch": epochs.get(name)}
        row[OVERALL] = float(report.get("micro avg", {}).get("f1", 0.0))
        row.update({kind: float(report.get(kind, {}).get("f1", 0.0)) for kind in types})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["name", "epoch", OVERALL, *types])
    frame["epoch"] = frame["epoch"].astype("Int64")
    return frame


# --- entity confusion and slices of both --------------------------------------------------------


def confusion_difference(confusion_a: Mapping[str, Any], confusion_b: Mapping[str, Any]) -> dict[str, Any]:
    """Both entity confusions on one set of labels, and B − A cell by cell.

    Parameters
    ----------
    confusion_a, confusion_b : mapping
        ``{"labels": [...], "counts": [[int]]}`` from :func:`explainer.analysis.metrics.entity_confusion`
        (rows gold, columns predicted, ``none`` last: missed gold spans in its column, spurious
        predictions in its row).

    Returns
    -------
    dict
        ``labels`` (A's types, then any only B has, then ``none``: the same order for rows and columns
        of every matrix), ``a`` and ``b`` (the counts on those labels, 0 where a side lacks a type) and
        ``difference`` (B − A): off the diagonal a positive cell is errors B makes more of.

    Examples
    --------
    >>> found = confusion_difference({"labels": ["PER", "none"], "counts": [[3, 1], [0, 0]]},
    ...                              {"labels": ["LOC", "PER", "none"], "counts": [[1, 0, 0], [0, 4, 0], [0, 0, 0]]})
    >>> found["labels"], found["difference"]
    (['PER', 'LOC', 'none'], [[1, 0, -1], [0, 1, 0], [0, 0, 0]])
    """
    types = [str(label) for label in confusion_a["labels"] if label != NONE]
    types += [str(label) for label in confusion_b["labels"] if label != NONE and label not in types]
    labels = [*types, NONE]
    position = {label: index for index, label in enumerate(labels)}

    def on_labels(confusion: Mapping[str, Any]) -> npt.NDArray[np.int64]:
        counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
        rows = [position[str(label)] for label in confusion["labels"]]
        counts[np.ix_(rows, rows)] = np.asarray(confusion["counts"], dtype=np.int64).reshape(len(rows), len(rows))
        return counts

    a, b = on_labels(confusion_a), on_labels(confusion_b)
    return {"labels": labels, "a": a.tolist(), "b": b.tolist(), "difference": (b - a).tolist()}


def slice_differences(
    spans_a: pd.DataFrame,
    spans_b: pd.DataFrame,
    buckets: pd.DataFrame,
    *,
    n_examples: int,
    draws: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Entity F1 of A and B in each attribute bucket (all types), B − A and its paired bootstrap interval.

    Parameters
    ----------
    spans_a, spans_b : pandas.DataFrame
        The attribute frames of the two caches' slices (``SliceResults.spans``: ``example_id``, ``side``,
        ``matched`` and a ``bucket:<attribute>`` column per attribute).
    buckets : pandas.DataFrame
        The buckets to score: ``attribute``, ``bucket``, ``order`` (A's ``SliceResults.buckets`` with
        B's added: a bucket either side has).
    n_examples : int
        Examples of the data (ids ``0..n_examples-1``), resampled with replacement.
    draws, seed, confidence
        Bootstrap draws and their seed: both caches' spans are summed over the *same* draws of
        examples (paired, as :func:`paired_bootstrap`), and the interval is the percentile one of the
        draw-by-draw differences.

    Returns
    -------
    pandas.DataFrame
        One row per (attribute, bucket), in attribute then bucket order: ``attribute, bucket,
        support_a, support_b, f1_a, f1_b, f1_diff, f1_low, f1_high``.
    """
    keys = (
        buckets[["attribute", "bucket", "order"]]
        .astype({"attribute": str, "bucket": str})
        .drop_duplicates(["attribute", "bucket"])
        .sort_values(["attribute", "order"], kind="stable")
    )
    columns = ["attribute", "bucket", "support_a", "support_b", "f1_a", "f1_b", "f1_diff", "f1_low", "f1_high"]
    if keys.empty:
        return pd.DataFrame(columns=columns)
    table: dict[str, Any] = {"attribute": keys["attribute"].tolist(), "bucket": keys["bucket"].tolist()}
    drawn = []
    for side, spans in (("a", spans_a), ("b", spans_b)):
        values = {
            attribute: spans[bucket_column(attribute)].astype(str).to_numpy()
            for attribute in keys["attribute"].unique()
            if bucket_column(attribute) in spans.columns
        }
        empty = np.zeros(len(spans), dtype=bool)
        members = [
            values[attribute] == bucket if attribute in values else empty
            for attribute, bucket in zip(keys["attribute"], keys["bucket"])
        ]
        per_row = row_counts(spans)
        counts = np.array([per_row[member].sum(axis=0) for member in members], dtype=np.int64).reshape(-1, 4)
        table[f"support_{side}"] = slice_support(counts)
        table[f"f1_{side}"] = scores(counts)[:, 2]
        # The same seed and number of examples give the same draws for both sides: the difference is paired.
        drawn.append(bootstrap_scores(spans, members, n_examples=n_examples, draws=draws, seed=seed)[:, :, 2])
    table["f1_diff"] = table["f1_b"] - table["f1_a"]
    interval = percentile_intervals(drawn[1] - drawn[0], confidence=confidence)
    table["f1_low"], table["f1_high"] = interval[:, 0], interval[:, 1]
    return pd.DataFrame(table)[columns]


def incomparable_attributes(
    buckets_a: pd.DataFrame, buckets_b: pd.DataFrame, data_dependent: Collection[str]
) -> list[str]:
    """Attributes whose buckets mean different things in A and B, so a bucket's B − A would compare
    different spans: those bucketed by quantiles of each cache's own spans (``data_dependent``) whose
    bucket labels differ between the two (their edges moved with the predictions).

    Examples
    --------
    >>> a = pd.DataFrame({"attribute": ["f", "f", "g"], "bucket": ["1–5", "6–9", "x"]})
    >>> b = pd.DataFrame({"attribute": ["f", "f", "g"], "bucket": ["1–4", "5–9", "y"]})
    >>> incomparable_attributes(a, b, {"f"})
    ['f']
    """
    names = []
    for attribute in sorted(set(buckets_a["attribute"].astype(str)) | set(buckets_b["attribute"].astype(str))):
        labels = [
            set(frame.loc[frame["attribute"] == attribute, "bucket"].astype(str)) for frame in (buckets_a, buckets_b)
        ]
        if attribute in data_dependent and labels[0] != labels[1]:
            names.append(attribute)
    return names
