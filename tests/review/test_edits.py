"""Span edits keep IOB2 well formed (explainer.review.edits)."""

from __future__ import annotations

import pytest

from explainer.review import edits


def test_span_edits_keep_well_formed_iob2():
    tags = ["B-PER", "I-PER", "O", "B-LOC"]
    assert edits.add_span(tags, 1, 3, "ORG") == ["O", "B-ORG", "I-ORG", "B-LOC"]  # the overlapped PER gives way
    assert edits.remove_spans(tags, 3, 4) == ["B-PER", "I-PER", "O", "O"]
    assert edits.normalised(["O", "I-PER", "I-PER"]) == ["O", "B-PER", "I-PER"]
    assert edits.accept_span(tags, (0, 1, "LOC")) == ["B-LOC", "O", "O", "B-LOC"]
    assert edits.spans_to_accept(tags, ["B-PER", "I-PER", "O", "B-ORG"]) == [(3, 4, "ORG")]
    with pytest.raises(ValueError):
        edits.add_span(tags, 2, 9, "PER")
