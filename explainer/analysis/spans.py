"""Entity spans of one example and how predicted spans relate to gold ones.

A *span* is ``(start, end, type)`` over word positions, ``end`` exclusive. Spans are the chunks that
seqeval's default (conlleval-compatible) mode sees, so every count here agrees with the seqeval report.

Each gold span is classified into one error category (DESIGN.md, after nervaluate/MUC):

- *correct*: a prediction with the same boundaries and type;
- *wrong type*: a prediction with the same boundaries and another type;
- *boundary*: an overlapping prediction of the same type with other boundaries;
- *type and boundary*: an overlapping prediction of another type and other boundaries;
- *missed*: no prediction overlaps it.

A predicted span that explains no gold span is *spurious*. Gold and predicted spans are matched one to
one (:func:`classify_spans`), so every gold and every predicted span is in exactly one record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqeval.metrics.sequence_labeling import get_entities

from explainer.cache.schema import BOUNDARY, CORRECT, MISSED, SPURIOUS, TYPE_AND_BOUNDARY, WRONG_TYPE

Span = tuple[int, int, str]  # (start word, end word exclusive, entity type)

# Overlapping (gold, predicted) pairs are matched best first: lower rank wins (the order below).
_CATEGORY_RANK = {CORRECT: 0, WRONG_TYPE: 1, BOUNDARY: 2, TYPE_AND_BOUNDARY: 3}


def extract_spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans of one tag sequence, exactly as seqeval's default mode chunks it.

    Parameters
    ----------
    tags : sequence of str
        One tag per word (``"O"``, ``"B-PER"``, ``"I-PER"``, ...). Ill-formed sequences such as
        ``O I-PER`` or ``B-PER I-LOC`` are chunked the way seqeval (and conlleval) chunk them:
        an ``I-X`` after ``O`` opens a span, a change of type closes one and opens another.

    Returns
    -------
    list of (int, int, str)
        ``(start, end, type)`` with ``end`` exclusive, ordered by start.
    """
    # get_entities needs a flat list of str (it appends ['O'] and flattens nested lists).
    chunks = get_entities([str(tag) for tag in tags])
    return [(start, end + 1, entity_type) for entity_type, start, end in chunks]


def _overlaps(a: Span, b: Span) -> bool:
    return max(a[0], b[0]) < min(a[1], b[1])


def _overlap_length(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _category(gold: Span, pred: Span) -> str:
    same_boundaries = gold[:2] == pred[:2]
    same_type = gold[2] == pred[2]
    if same_boundaries:
        return CORRECT if same_type else WRONG_TYPE
    return BOUNDARY if same_type else TYPE_AND_BOUNDARY


def _record(category: str, gold: Span | None, pred: Span | None) -> dict[str, Any]:
    side = gold if gold is not None else pred
    assert side is not None, "a record has a gold or a predicted span"
    return {
        "category": category,
        "type": side[2],
        "gold_start": gold[0] if gold is not None else None,
        "gold_end": gold[1] if gold is not None else None,
        "gold_type": gold[2] if gold is not None else None,
        "pred_start": pred[0] if pred is not None else None,
        "pred_end": pred[1] if pred is not None else None,
        "pred_type": pred[2] if pred is not None else None,
    }


def _record_order(record: dict[str, Any]) -> tuple[int, int, str, str, int, int, str]:
    """Sort key: by start position; the rest only makes ties (duplicate spans) deterministic."""

    def position(key: str) -> int:
        return -1 if record[key] is None else int(record[key])

    start = position("gold_start") if record["gold_start"] is not None else position("pred_start")
    end = position("gold_end") if record["gold_end"] is not None else position("pred_end")
    return (
        start,
        end,
        record["category"],
        record["type"],
        position("pred_start"),
        position("pred_end"),
        record["pred_type"] or "",
    )


def classify_spans(gold: Sequence[Span], pred: Sequence[Span]) -> list[dict[str, Any]]:
    """Classify every gold span and every predicted span, each exactly once.

    Parameters
    ----------
    gold, pred : sequence of (int, int, str)
        Gold and predicted spans of one example, ``end`` exclusive (see :func:`extract_spans`).

    Returns
    -------
    list of dict
        One record per gold span, plus one *spurious* record per predicted span that explains no gold
        span, ordered by start position. Keys: ``category``, ``type`` (the gold type, or the
        predicted type for spurious), ``gold_start``, ``gold_end``, ``gold_type``, ``pred_start``,
        ``pred_end``, ``pred_type`` (None where absent).

    Notes
    -----
    Gold and predicted spans are matched one to one, so the categories add up: the records holding a
    gold span are the gold spans, those holding a predicted span are the predictions (precision is
    ``correct / (correct + wrong type + boundary + type and boundary + spurious)``). Overlapping pairs
    are matched best first: by category (correct > wrong type > boundary > type and boundary), then the
    larger overlap, then position. A gold span whose overlapping predictions all explain better gold
    spans is *missed*; a prediction that explains no gold span (it overlaps none, or only gold spans
    explained better by another prediction, like the second piece of a split entity) is *spurious*.
    """
    gold = [(int(start), int(end), str(kind)) for start, end, kind in gold]
    pred_list = [(int(start), int(end), str(kind)) for start, end, kind in pred]
    pairs = sorted(
        (
            (_CATEGORY_RANK[_category(gold_span, pred_span)], -_overlap_length(gold_span, pred_span), g, p)
            for g, gold_span in enumerate(gold)
            for p, pred_span in enumerate(pred_list)
            if _overlaps(gold_span, pred_span)
        ),
        key=lambda pair: (pair[0], pair[1], gold[pair[2]], pred_list[pair[3]], pair[2], pair[3]),
    )
    chosen: dict[int, int] = {}  # gold index -> pred index
    taken: set[int] = set()
    for _, _, g, p in pairs:
        if g not in chosen and p not in taken:
            chosen[g] = p
            taken.add(p)
    records = []
    for g, gold_span in enumerate(gold):
        if g in chosen:
            pred_span = pred_list[chosen[g]]
            records.append(_record(_category(gold_span, pred_span), gold_span, pred_span))
        else:
            records.append(_record(MISSED, gold_span, None))
    for p, pred_span in enumerate(pred_list):
        if p not in taken:
            records.append(_record(SPURIOUS, None, pred_span))
    return sorted(records, key=_record_order)


def example_scores(gold: Sequence[Span], pred: Sequence[Span]) -> dict[str, float | int]:
    """Exact-match entity precision, recall and F1 of one example.

    Parameters
    ----------
    gold, pred : sequence of (int, int, str)
        Gold and predicted spans of one example.

    Returns
    -------
    dict
        ``{"precision", "recall", "f1", "n_correct"}``. A predicted span counts when its boundaries
        and type equal a gold span's (as in seqeval). An example with no gold and no predicted
        span scores 1.0 everywhere (nothing to find, nothing wrongly found); when only one side is
        empty every score is 0.0.
    """
    gold_set = {tuple(span) for span in gold}
    pred_set = {tuple(span) for span in pred}
    if not gold_set and not pred_set:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_correct": 0}
    n_correct = len(gold_set & pred_set)
    precision = n_correct / len(pred_set) if pred_set else 0.0
    recall = n_correct / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_correct": n_correct}
