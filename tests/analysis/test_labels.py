"""Entity types of labels and label masks (explainer.analysis.labels), on hand-made frames."""

from __future__ import annotations

from explainer.analysis.labels import entity_type, label_mask


def test_entity_type_strips_the_scheme_prefix():
    assert [entity_type(x) for x in ("B-PER", "I-LOC", "E-ORG", "S-MISC", "O", "PER", None)] == [
        "PER",
        "LOC",
        "ORG",
        "MISC",
        "O",
        "PER",
        None,
    ]


def test_label_mask_matches_a_label_or_a_whole_type(words):
    gold = words["gold"]
    assert label_mask(gold, "B-PER").tolist() == (gold == "B-PER").tolist()
    assert label_mask(gold, "PER").tolist() == gold.isin(["B-PER", "I-PER"]).tolist()
    assert label_mask(gold, None).all()
    assert not label_mask(gold, "NOPE").any()
