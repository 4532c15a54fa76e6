"""Slices: entity P/R/F1 on groups of spans defined by attributes, with bootstrap intervals, and the
weak groups found automatically.

Three steps, each a pure function over frames (the build step ``slices`` runs them and stores the result):

1. :func:`span_frame` — one row per gold and per predicted span: example, side, boundaries, type, its
   words' text and subword count, and ``matched`` (a span of the other side has the same boundaries and
   type: the seqeval notion of a correct entity, so the counts here rebuild seqeval's micro scores);
2. :func:`explainer.analysis.slice_attributes.compute_attributes` — every registered attribute as a
   column, and its bucket as another (``bucket:<name>``);
3. :func:`bucket_scores` (each bucket of each attribute, overall and per type) and :func:`weak_slices`
   (conjunctions of up to two buckets and a type, ranked by how far below the overall F1 they are times
   their support, kept only when their 95% interval lies below the overall F1).

Intervals are percentile bootstrap intervals over examples: each draw resamples the examples with
replacement (seeded), every slice's counts are summed over the draw with one sparse product for all
slices, and the 2.5 and 97.5 percentiles of the draws' scores bound the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

SIDE = "side"  # gold or pred (the spans table calls it source; source is an example attribute here)
GOLD = "gold"
PRED = "pred"
ALL_TYPES = ""  # the ``type`` of a slice over every entity type
BUCKET_PREFIX = "bucket:"
DRAWS = 1000
CONFIDENCE = 0.95
MIN_SUPPORT = 30  # spans a weak slice needs: fewer make intervals too wide to say anything
CANDIDATES = 100  # weak-slice candidates (by point estimate) whose intervals are computed
NARROWER_BY = 0.02  # F1 a two-bucket slice must lose against each of its buckets to be listed
DRAW_CHUNK = 250  # draws resampled at a time (bounds the memory of the example-weight matrix)
DENSE_CELLS = 1 << 24  # examples x slice counts held dense at a time (64 MB of float32)

# The counts of a slice, per example and summed: gold spans, matched gold spans, predicted, matched predicted.
COUNTS = ("n_gold", "tp_gold", "n_pred", "tp_pred")


def bucket_column(attribute: str) -> str:
    """The column holding ``attribute``'s bucket in an attribute frame."""
    return BUCKET_PREFIX + attribute


# --- 1. spans ---------------------------------------------------------------------------------------------


def span_frame(spans: pd.DataFrame, words: pd.DataFrame, examples: pd.DataFrame) -> pd.DataFrame:
    """Every gold and predicted span with what its attributes are computed from.

    Parameters
    ----------
    spans : DataFrame
        ``example_id, source ("gold" | "pred"), start, end, type`` (the cache's spans table).
    words : DataFrame
        ``example_id, word_index, word, n_subwords``, sorted by example then word (the words table).
    examples : DataFrame
        ``example_id, n_words, word_offset`` (the examples table: ``word_offset`` is the first row of the
        example in ``words``).

    Returns
    -------
    DataFrame
        ``example_id, side ("gold" | "pred"), start, end, type, text`` (the span's words joined by a space),
        ``words`` (tuple of str), ``n_subwords`` (over its words), ``example_words`` (words of its example),
        ``matched`` (bool: the other side has a span with the same boundaries and type), in the order
        of ``spans``.
    """
    frame = spans[["example_id", "source", "start", "end", "type"]].rename(columns={"source": SIDE})
    frame = frame.reset_index(drop=True)
    frame["example_id"] = frame["example_id"].astype(np.int64)
    frame["start"] = frame["start"].astype(np.int64)
    frame["end"] = frame["end"].astype(np.int64)
    frame["type"] = frame["type"].astype(str)
    offsets = examples.set_index("example_id")["word_offset"].astype(np.int64)
    lengths = examples.set_index("example_id")["n_words"].astype(np.int64)
    first = offsets.reindex(frame["example_id"]).to_numpy() + frame["start"].to_numpy()
    last = offsets.reindex(frame["example_id"]).to_numpy() + frame["end"].to_numpy()
    texts = words["word"].astype(str).tolist()
    frame["words"] = [tuple(texts[a:b]) for a, b in zip(first, last)]
    frame["text"] = [" ".join(span_words) for span_words in frame["words"]]
    cumulative = np.concatenate([[0], np.cumsum(words["n_subwords"].to_numpy(dtype=np.int64))])
    frame["n_subwords"] = cumulative[last] - cumulative[first]
    frame["example_words"] = lengths.reindex(frame["example_id"]).to_numpy()
    key = ["example_id", "start", "end", "type"]
    gold_keys = pd.MultiIndex.from_frame(frame.loc[frame[SIDE] == GOLD, key])
    pred_keys = pd.MultiIndex.from_frame(frame.loc[frame[SIDE] == PRED, key])
    own = pd.MultiIndex.from_frame(frame[key])
    frame["matched"] = np.where(frame[SIDE] == GOLD, own.isin(pred_keys), own.isin(gold_keys))
    return frame


# --- 3. scores and intervals -------------------------------------------------------------------------------


def scores(counts: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """Precision, recall and F1 of ``counts[..., 4]`` (``COUNTS`` order), shape ``[..., 3]``.

    A side with no span scores 0 (seqeval's convention), so a slice of spurious predictions has F1 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_gold, tp_gold, n_pred, tp_pred = (counts[..., index] for index in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred > 0, tp_pred / np.maximum(n_pred, 1), 0.0)
        recall = np.where(n_gold > 0, tp_gold / np.maximum(n_gold, 1), 0.0)
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)
    return np.stack([precision, recall, f1], axis=-1)


def support(counts: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    """Distinct spans of a slice: gold plus predicted, a correct pair counted once."""
    counts = np.asarray(counts, dtype=np.int64)
    result: npt.NDArray[np.int64] = counts[..., 0] + counts[..., 2] - np.minimum(counts[..., 1], counts[..., 3])
    return result


def row_counts(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """``[n_rows, 4]``: what each span adds to the ``COUNTS`` of a slice holding it (0 or 1 each)."""
    gold = (frame[SIDE] == GOLD).to_numpy()
    matched = frame["matched"].to_numpy(dtype=bool)
    return np.stack([gold, gold & matched, ~gold, ~gold & matched], axis=1).astype(np.int64)


def example_counts(frame: pd.DataFrame, n_examples: int) -> npt.NDArray[np.int64]:
    """``[n_examples, 4]`` counts (``COUNTS``) of the spans of ``frame`` per example."""
    gold = (frame[SIDE] == GOLD).to_numpy()
    matched = frame["matched"].to_numpy(dtype=bool)
    ids = frame["example_id"].to_numpy(dtype=np.int64)
    result = np.zeros((n_examples, 4), dtype=np.int64)
    for column, mask in enumerate((gold, gold & matched, ~gold, ~gold & matched)):
        result[:, column] = np.bincount(ids[mask], minlength=n_examples)[:n_examples]
    return result


def bootstrap_intervals(
    frame: pd.DataFrame,
    memberships: Sequence[npt.NDArray[np.bool_]],
    *,
    n_examples: int,
    draws: int = DRAWS,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> npt.NDArray[np.float64]:
    """Percentile bootstrap intervals of precision, recall and F1 of each slice, resampling examples.

    Parameters
    ----------
    frame : DataFrame
        Spans with ``example_id``, ``side`` and ``matched`` (see :func:`span_frame`).
    memberships : sequence of bool arrays
        One per slice: which rows of ``frame`` it holds.
    n_examples : int
        Examples of the dataset (ids are ``0..n_examples-1``); examples without spans are resampled too.
    draws, seed, confidence
        Bootstrap draws, the seed of the resampling (the same draws for every slice, so slices compare
        on the same resamples), and the interval's coverage.

    Returns
    -------
    ndarray
        ``[n_slices, 3, 2]``: for precision, recall and F1, the interval's (low, high).

    Examples
    --------
    >>> frame = pd.DataFrame({"example_id": [0, 0, 1], "side": ["gold", "pred", "gold"],
    ...                       "matched": [True, True, False]})
    >>> bootstrap_intervals(frame, [np.ones(3, bool)], n_examples=2, draws=200).shape
    (1, 3, 2)
    """
    drawn = bootstrap_scores(frame, memberships, n_examples=n_examples, draws=draws, seed=seed)
    return percentile_intervals(drawn, confidence=confidence)


def percentile_intervals(drawn: npt.NDArray[np.float64], *, confidence: float = CONFIDENCE) -> npt.NDArray[np.float64]:
    """``[draws, ...]`` bootstrap values -> ``[..., 2]``: the (low, high) percentiles holding ``confidence``."""
    if drawn.size == 0:
        return np.zeros((*drawn.shape[1:], 2))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(drawn, [tail, 100 - tail], axis=0)
    return np.stack([low, high], axis=-1)


def bootstrap_scores(
    frame: pd.DataFrame,
    memberships: Sequence[npt.NDArray[np.bool_]],
    *,
    n_examples: int,
    draws: int = DRAWS,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """``[draws, n_slices, 3]``: precision, recall and F1 of each slice in each bootstrap draw (the draws
    :func:`bootstrap_intervals` takes its percentiles of; a paired difference between two slices is the
    difference of their columns, draw by draw)."""
    from scipy import sparse

    if not memberships:
        return np.zeros((draws, 0, 3))
    ids = frame["example_id"].to_numpy(dtype=np.int64)
    gold = (frame[SIDE] == GOLD).to_numpy()
    matched = frame["matched"].to_numpy(dtype=bool)
    per_count = (gold, gold & matched, ~gold, ~gold & matched)
    # One sparse column per (slice, count): its value per example. Summing a draw's example weights
    # against every column at once is one sparse-dense product.
    rows, columns = [], []
    for slice_index, member in enumerate(memberships):
        for count_index, mask in enumerate(per_count):
            chosen = ids[member & mask]
            rows.append(chosen)
            columns.append(np.full(len(chosen), slice_index * 4 + count_index, dtype=np.int64))
    all_rows = np.concatenate(rows)
    n_columns = len(memberships) * 4
    matrix = sparse.csc_matrix(
        (np.ones(len(all_rows), dtype=np.float32), (all_rows, np.concatenate(columns))),
        shape=(n_examples, n_columns),
    )
    # Dense products run in BLAS, far faster than a sparse one; columns go in blocks to bound memory.
    block = max(4, DENSE_CELLS // max(n_examples, 1) // 4 * 4)
    dense_blocks = [matrix[:, start : start + block].toarray() for start in range(0, n_columns, block)]
    rng = np.random.default_rng(seed)
    results = []
    for start in range(0, draws, DRAW_CHUNK):
        size = min(DRAW_CHUNK, draws - start)
        picks = rng.integers(0, n_examples, size=(size, n_examples))
        flat = (picks + (np.arange(size) * n_examples)[:, None]).ravel()
        weights = np.bincount(flat, minlength=size * n_examples).reshape(size, n_examples).astype(np.float32)
        results.append(np.concatenate([weights @ dense for dense in dense_blocks], axis=1))  # [size, n_columns]
    summed = np.concatenate(results).reshape(draws, len(memberships), 4)
    return scores(summed)  # [draws, n_slices, 3]


@dataclass(frozen=True)
class Condition:
    """One bucket of one attribute."""

    attribute: str
    bucket: str

    def encode(self) -> str:
        return f"{self.attribute}={self.bucket}"


def encode_conditions(conditions: Sequence[Condition]) -> str:
    """``attribute=bucket`` pairs joined by ``;`` (a slice in a URL or a table cell)."""
    return ";".join(condition.encode() for condition in conditions)


def decode_conditions(text: str | None) -> list[Condition]:
    """The conditions of :func:`encode_conditions`; parts without ``=`` are ignored (URLs are user input)."""
    conditions = []
    for part in (text or "").split(";"):
        attribute, sep, bucket = part.partition("=")
        if sep and attribute:
            conditions.append(Condition(attribute, bucket))
    return conditions


def slice_mask(frame: pd.DataFrame, conditions: Sequence[Condition], entity_type: str = ALL_TYPES) -> np.ndarray:
    """Rows of an attribute frame in the slice; a condition on an attribute the frame lacks holds nowhere."""
    mask = np.ones(len(frame), dtype=bool)
    for condition in conditions:
        column = bucket_column(condition.attribute)
        if column not in frame:
            return np.zeros(len(frame), dtype=bool)
        mask &= (frame[column].astype(str) == condition.bucket).to_numpy()
    if entity_type:
        mask &= (frame["type"] == entity_type).to_numpy()
    return mask


@dataclass(frozen=True)
class CodedSpans:
    """What a slice's mask and counts need of an attribute frame, as numpy arrays: every bucket column and the
    type factorised once, so each mask is a few integer comparisons instead of string comparisons over
    Arrow-backed columns (the Slices section masks on every click). ``mask`` equals :func:`slice_mask`.

    The codes are the smallest integers that hold each column's values (int8 for every attribute so far)
    and example ids int32: at 1M subwords (830k spans, 18 coded columns) the whole is ~20 MB, where the
    span frame it is read from is ~250 MB in pandas.
    """

    example_id: npt.NDArray[np.int32]
    gold: npt.NDArray[np.bool_]
    matched: npt.NDArray[np.bool_]
    codes: dict[str, tuple[npt.NDArray[np.signedinteger], dict[str, int]]]  # column -> (codes, value -> code)

    @staticmethod
    def columns_of(columns: Sequence[str]) -> list[str]:
        """The columns :meth:`of` reads, of a span table with ``columns``."""
        coded = [name for name in columns if name.startswith(BUCKET_PREFIX)] + ["type"]
        return ["example_id", SIDE, "matched", *coded]

    @classmethod
    def of(cls, frame: pd.DataFrame | pa.Table) -> CodedSpans:
        """The coded spans of an attribute frame, or of the same columns as an Arrow table (the stored
        ``slice_spans``, read without making a Python string per value)."""
        import pyarrow as pa

        codes = {}
        for column in cls.columns_of(frame.column_names if isinstance(frame, pa.Table) else list(frame.columns))[3:]:
            if isinstance(frame, pa.Table):
                values, uniques = _arrow_factorize(frame.column(column))
            else:
                values, uniques = pd.factorize(frame[column].astype(str))
            codes[column] = (_smallest(values), {str(value): index for index, value in enumerate(uniques)})
        if isinstance(frame, pa.Table):
            import pyarrow.compute as pc

            example_id = frame.column("example_id").to_numpy()
            gold = pc.fill_null(pc.equal(frame.column(SIDE), GOLD), False).to_numpy(zero_copy_only=False)
            matched = frame.column("matched").to_numpy(zero_copy_only=False)
        else:
            example_id, matched = frame["example_id"].to_numpy(), frame["matched"].to_numpy()
            gold = (frame[SIDE] == GOLD).to_numpy(dtype=bool)
        return cls(
            example_id=np.asarray(example_id, dtype=np.int32),
            gold=np.asarray(gold, dtype=bool),
            matched=np.asarray(matched, dtype=bool),
            codes=codes,
        )

    def frame(self) -> pd.DataFrame:
        """``example_id, side, matched`` (what :func:`bootstrap_scores` and own slices read), in few bytes a row."""
        side = pd.Categorical.from_codes((~self.gold).astype(np.int8), categories=[GOLD, PRED])
        return pd.DataFrame({"example_id": self.example_id, SIDE: side, "matched": self.matched})

    def mask(self, conditions: Sequence[Condition], entity_type: str = ALL_TYPES) -> npt.NDArray[np.bool_]:
        """Rows in the slice (as :func:`slice_mask`: a condition on an attribute the frame lacks holds nowhere)."""
        mask = np.ones(len(self.example_id), dtype=bool)
        wanted = [(bucket_column(condition.attribute), condition.bucket) for condition in conditions]
        for column, value in wanted + ([("type", entity_type)] if entity_type else []):
            if column not in self.codes or value not in self.codes[column][1]:
                return np.zeros(len(self.example_id), dtype=bool)
            values, index = self.codes[column]
            mask &= values == index[value]
        return mask

    def counts(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """The ``COUNTS`` of the rows in ``mask``."""
        gold, matched = self.gold[mask], self.matched[mask]
        return np.array([gold.sum(), (gold & matched).sum(), (~gold).sum(), (~gold & matched).sum()], dtype=np.int64)


def _arrow_factorize(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], list[str]]:
    """``pd.factorize(values.astype(str))`` of an Arrow column of strings, without a Python object per value:
    codes in order of first appearance, -1 for a missing value (pandas reads it as a missing string)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        if pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type):
            column = column.cast(pa.string())
        else:
            values, uniques = pd.factorize(column.to_pandas().astype(str))
            return values, [str(value) for value in uniques]
    uniques = pc.drop_null(pc.unique(column))  # in order of first appearance, as pd.factorize
    codes = pc.fill_null(pc.index_in(column, value_set=uniques), -1)  # a missing value is in no bucket, code -1
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.intp), uniques.to_pylist()


def _smallest(codes: npt.NDArray[np.integer]) -> npt.NDArray[np.signedinteger]:
    """``codes`` (>= -1) in the smallest signed integer type that holds them."""
    top = int(codes.max()) if codes.size else 0
    kind = np.int8 if top < 2**7 else np.int16 if top < 2**15 else np.int32
    return codes.astype(kind)


def bucket_scores(
    frame: pd.DataFrame,
    attributes: Sequence[str],
    *,
    n_examples: int,
    draws: int = DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """P/R/F1 with intervals of every bucket of every attribute, over all types and per type.

    Parameters
    ----------
    frame : DataFrame
        An attribute frame (``compute_attributes``): ``type``, ``side``, ``matched``, ``example_id``
        and a ``bucket:<attribute>`` column per attribute (categorical, in bucket order).

    Returns
    -------
    DataFrame
        One row per (attribute, bucket, type) with at least one span: ``attribute, bucket, order``
        (the bucket's position), ``type`` (``""`` for all types), the ``COUNTS``, ``support``,
        ``precision, recall, f1`` and ``<score>_low``/``<score>_high``. Ordered by attribute, type, bucket.
    """
    types = [ALL_TYPES, *sorted(frame["type"].unique())]
    keys: list[tuple[str, str, int, str]] = []
    memberships = []
    for attribute in attributes:
        column = frame[bucket_column(attribute)]
        categories = list(column.cat.categories) if hasattr(column, "cat") else sorted(column.dropna().unique())
        values = column.astype(object).to_numpy()
        for entity_type in types:
            in_type = np.ones(len(frame), dtype=bool) if not entity_type else (frame["type"] == entity_type).to_numpy()
            for order, bucket in enumerate(categories):
                member = in_type & (values == bucket)
                if member.any():
                    keys.append((attribute, str(bucket), order, entity_type))
                    memberships.append(member)
    return _scored(frame, keys, memberships, n_examples=n_examples, draws=draws, seed=seed)


def _scored(
    frame: pd.DataFrame,
    keys: list[tuple[str, str, int, str]],
    memberships: list[npt.NDArray[np.bool_]],
    *,
    n_examples: int,
    draws: int,
    seed: int,
) -> pd.DataFrame:
    per_row = row_counts(frame)
    counts = np.array([per_row[member].sum(axis=0) for member in memberships], dtype=np.int64).reshape(-1, 4)
    point = scores(counts)
    intervals = bootstrap_intervals(frame, memberships, n_examples=n_examples, draws=draws, seed=seed)
    result = pd.DataFrame(keys, columns=["attribute", "bucket", "order", "type"])
    for index, name in enumerate(COUNTS):
        result[name] = counts[:, index].astype(np.int64)
    result["support"] = support(counts)
    for index, name in enumerate(("precision", "recall", "f1")):
        result[name] = point[:, index]
        result[f"{name}_low"] = intervals[:, index, 0] if len(result) else []
        result[f"{name}_high"] = intervals[:, index, 1] if len(result) else []
    return result


def overall_scores(frame: pd.DataFrame) -> dict[str, float | int]:
    """Micro precision, recall and F1 over every span, with the counts (seqeval's micro average)."""
    counts = example_counts(frame, int(frame["example_id"].max()) + 1 if len(frame) else 0).sum(axis=0)
    point = scores(counts)
    return {
        **{name: int(value) for name, value in zip(COUNTS, counts)},
        "precision": float(point[0]),
        "recall": float(point[1]),
        "f1": float(point[2]),
    }


def weak_slices(
    frame: pd.DataFrame,
    attributes: Sequence[str],
    *,
    n_examples: int,
    min_support: int = MIN_SUPPORT,
    draws: int = DRAWS,
    seed: int = 0,
    candidates: int = CANDIDATES,
) -> pd.DataFrame:
    """Slices significantly worse than the whole: conjunctions of up to two buckets, and a type.

    Every slice of one bucket, or of two buckets of different attributes, over all types or one type,
    with at least ``min_support`` spans (:func:`support`) and a point F1 below the overall F1 is a
    candidate; the ``candidates`` best by ``(overall F1 - slice F1) * support`` get bootstrap intervals,
    and those whose interval's upper bound is below the overall F1 are kept. A two-bucket slice is a
    candidate only when its F1 is below each of its buckets' (by ``NARROWER_BY``), and a slice holding
    exactly the spans of a better-ranked one is skipped.

    Returns
    -------
    DataFrame
        ``conditions`` (:func:`encode_conditions`), ``type``, the ``COUNTS``, ``support``, ``precision``,
        ``recall``, ``f1``, ``f1_low``, ``f1_high``, ``score``; best (highest score) first.
    """
    overall = overall_scores(frame)["f1"]
    entity_types = frame["type"].to_numpy()
    codes = {}
    for attribute in attributes:
        column = frame[bucket_column(attribute)]
        categorical = column.astype("category") if not hasattr(column, "cat") else column
        codes[attribute] = (categorical.cat.codes.to_numpy(), [str(c) for c in categorical.cat.categories])
    type_names = [ALL_TYPES, *sorted(set(entity_types))]
    type_codes = np.searchsorted(np.array(type_names[1:]), entity_types) + 1 if len(frame) else np.zeros(0, int)
    per_row = row_counts(frame)

    def coded_mask(conditions: tuple[Condition, ...], entity_type: str) -> np.ndarray:
        """:func:`slice_mask` from the bucket codes already computed (no string comparison per call)."""
        member = np.ones(len(frame), dtype=bool)
        for condition in conditions:
            bucket_codes, labels = codes[condition.attribute]
            member &= bucket_codes == labels.index(condition.bucket)
        if entity_type:
            member &= type_codes == type_names.index(entity_type)
        return member

    found: list[tuple[tuple[Condition, ...], str, np.ndarray]] = []

    def grouped(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Counts per combination of the code arrays in ``parts`` (code, size); rows with a code -1 dropped."""
        valid = np.ones(len(frame), dtype=bool)
        key = np.zeros(len(frame), dtype=np.int64)
        for codes_array, size in parts:
            valid &= codes_array >= 0
            key = key * size + np.maximum(codes_array, 0)
        total = int(np.prod([size for _, size in parts]))
        sums = np.stack([np.bincount(key[valid], weights=per_row[valid, i], minlength=total) for i in range(4)], 1)
        return np.arange(total), sums

    def add(conditions_of: list[tuple[str, list[str]]], parts: list[tuple[np.ndarray, int]], with_type: bool) -> None:
        sizes = [size for _, size in parts]
        keys, sums = grouped(parts + ([(type_codes, len(type_names))] if with_type else []))
        if with_type:
            sizes = [*sizes, len(type_names)]
        for key, counts in zip(keys, sums):
            if support(counts) < min_support:
                continue
            index, digits = int(key), []
            for size in reversed(sizes):
                digits.append(index % size)
                index //= size
            digits.reverse()
            conditions = tuple(
                Condition(attribute, labels[digit]) for (attribute, labels), digit in zip(conditions_of, digits)
            )
            entity_type = type_names[digits[-1]] if with_type else ALL_TYPES
            if with_type and entity_type == ALL_TYPES:
                continue
            found.append((conditions, entity_type, counts.astype(np.int64)))

    names = list(attributes)
    for with_type in (False, True):
        for first_index, first in enumerate(names):
            code, labels = codes[first]
            add([(first, labels)], [(code, len(labels))], with_type)
            for second in names[first_index + 1 :]:
                code2, labels2 = codes[second]
                add([(first, labels), (second, labels2)], [(code, len(labels)), (code2, len(labels2))], with_type)

    if not found:
        return _empty_weak()
    counts = np.array([item[2] for item in found])
    f1 = scores(counts)[:, 2]
    spans = support(counts)
    score = (overall - f1) * spans
    # A two-bucket slice is worth listing only when it is worse than each of its buckets alone (with the
    # same type): otherwise it is its worse bucket again, cut smaller ("unseen, and without a digit").
    f1_of = {(conditions, entity_type): f1[index] for index, (conditions, entity_type, _) in enumerate(found)}

    def adds_to_its_parts(index: int) -> bool:
        conditions, entity_type, _ = found[index]
        if len(conditions) < 2:
            return True
        parents = [f1_of.get(((part,), entity_type)) for part in conditions]
        return all(parent is None or f1[index] < parent - NARROWER_BY for parent in parents)

    # Best score first; at equal scores the slice of fewer conditions.
    order = sorted(
        (index for index in range(len(found)) if f1[index] < overall and adds_to_its_parts(index)),
        key=lambda index: (-score[index], len(found[index][0]), index),
    )
    # A slice holding exactly the spans of a better-ranked one (a two-bucket slice equal to one of its
    # buckets, "unseen" and "seen 0 times") says nothing more: only the first is kept.
    chosen, memberships, seen_sets = [], [], set()
    for index in order:
        member = coded_mask(found[index][0], found[index][1])
        identity = np.packbits(member).tobytes()
        if identity in seen_sets:
            continue
        seen_sets.add(identity)
        chosen.append(index)
        memberships.append(member)
        if len(chosen) >= candidates:
            break
    intervals = bootstrap_intervals(frame, memberships, n_examples=n_examples, draws=draws, seed=seed)
    rows = []
    for position, index in enumerate(chosen):
        conditions, entity_type, slice_counts = found[index]
        low, high = intervals[position, 2]
        if not high < overall:
            continue
        point = scores(slice_counts)
        rows.append(
            {
                "conditions": encode_conditions(conditions),
                "type": entity_type,
                **{name: int(value) for name, value in zip(COUNTS, slice_counts)},
                "support": int(spans[index]),
                "precision": float(point[0]),
                "recall": float(point[1]),
                "f1": float(point[2]),
                "f1_low": float(low),
                "f1_high": float(high),
                "score": float(score[index]),
            }
        )
    return pd.DataFrame(rows) if rows else _empty_weak()


def _empty_weak() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "conditions",
            "type",
            *COUNTS,
            "support",
            "precision",
            "recall",
            "f1",
            "f1_low",
            "f1_high",
            "score",
        ]
    )


def errors_in_slice(errors: pd.DataFrame, slice_spans: pd.DataFrame) -> np.ndarray:
    """Which rows of a span-error table (``example_id, gold_start, gold_end, gold_type, pred_start,
    pred_end, pred_type``) involve a span of the slice: its gold span or its predicted span is one."""
    gold = slice_spans[slice_spans[SIDE] == GOLD]
    pred = slice_spans[slice_spans[SIDE] == PRED]
    mask = np.zeros(len(errors), dtype=bool)
    for spans, prefix in ((gold, "gold"), (pred, "pred")):
        if spans.empty or errors.empty:
            continue
        wanted = pd.MultiIndex.from_arrays(
            [spans["example_id"].astype(np.int64), spans["start"].astype(np.int64), spans["end"].astype(np.int64)]
            + [spans["type"].astype(str)]
        )
        present = errors[f"{prefix}_start"].notna().to_numpy()
        keys = pd.MultiIndex.from_arrays(
            [
                errors["example_id"].astype(np.int64),
                errors[f"{prefix}_start"].fillna(-1).astype(np.int64),
                errors[f"{prefix}_end"].fillna(-1).astype(np.int64),
                errors[f"{prefix}_type"].astype(str),
            ]
        )
        mask |= present & keys.isin(wanted)
    return mask
