"""Pure operations on one example's tags, as the review queue applies them.

Tags are IOB2 in the cache's label names. Every operation goes through spans (seqeval's chunks, see
:func:`explainer.analysis.spans.extract_spans`) and back, so its result is always well-formed IOB2
even when the model predicted ``O I-PER``. Spans are ``(start, end, type)`` over word positions,
``end`` exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

from explainer.analysis.spans import Span, extract_spans

OUTSIDE = "O"


def tags_from_spans(n_words: int, spans: Sequence[Span]) -> list[str]:
    """IOB2 tags of ``n_words`` words holding ``spans`` (which must not overlap)."""
    tags = [OUTSIDE] * n_words
    for start, end, kind in sorted(spans):
        if not 0 <= start < end <= n_words:
            raise ValueError(f"span {start}..{end} lies outside the {n_words} words")
        if any(tag != OUTSIDE for tag in tags[start:end]):
            raise ValueError(f"span {start}..{end} overlaps another span")
        tags[start] = f"B-{kind}"
        tags[start + 1 : end] = [f"I-{kind}"] * (end - start - 1)
    return tags


def normalised(tags: Sequence[str]) -> list[str]:
    """``tags`` as well-formed IOB2 (seqeval's reading of them)."""
    return tags_from_spans(len(tags), extract_spans(tags))


def _overlaps(span: Span, start: int, end: int) -> bool:
    return max(span[0], start) < min(span[1], end)


def add_span(tags: Sequence[str], start: int, end: int, kind: str) -> list[str]:
    """``tags`` with the words ``start..end-1`` made one ``kind`` span; spans it overlaps are removed."""
    if not 0 <= start < end <= len(tags):
        raise ValueError(f"words {start}..{end} lie outside the {len(tags)} words")
    if not kind or kind == OUTSIDE:
        raise ValueError("a span needs an entity type")
    kept = [span for span in extract_spans(tags) if not _overlaps(span, start, end)]
    return tags_from_spans(len(tags), kept + [(start, end, kind)])


def remove_spans(tags: Sequence[str], start: int, end: int) -> list[str]:
    """``tags`` without the spans that overlap the words ``start..end-1``."""
    kept = [span for span in extract_spans(tags) if not _overlaps(span, start, end)]
    return tags_from_spans(len(tags), kept)


def accept_span(tags: Sequence[str], span: Span) -> list[str]:
    """``tags`` with one predicted ``span`` accepted (spans it overlaps give way)."""
    start, end, kind = span
    return add_span(tags, start, end, kind)


def spans_to_accept(current: Sequence[str], predicted: Sequence[str]) -> list[Span]:
    """Predicted spans that ``current`` does not already hold exactly (what "accept this span" can add)."""
    held = set(extract_spans(current))
    return [span for span in extract_spans(predicted) if span not in held]
