"""The review draft (explainer/review/draft.py): every transition and every check, on hand-made examples."""

from __future__ import annotations

import pytest

from explainer.errors import ExplainerError
from explainer.review import draft as drafts
from explainer.review.corrections import ACCEPT_ALL_PREDICTIONS, ACCEPT_GOLD, ACCEPT_PREDICTION_SPAN, EDIT
from explainer.review.draft import (
    ADD,
    CHANGED,
    NOT_IN_CACHE,
    PICK_TYPE,
    REMOVE,
    REMOVE_SPAN,
    SELECT_FIRST,
    UNKNOWN_TAG,
    CachedExample,
    Pending,
    after_save,
    checked_example_id,
    checked_tags,
    click_word,
    decision_for,
    edit_draft,
    parse_span,
    span_argument,
    start_draft,
)

EXAMPLE = CachedExample(
    example_id=3,
    key="hash-3",
    words=["Peter", "Blackburn", "visits", "Paris", "today"],
    gold=["B-PER", "I-PER", "O", "B-LOC", "O"],
    pred=["B-PER", "O", "O", "I-ORG", "O"],  # "I-ORG" after "O": seqeval reads a span, accepted as B-ORG
    source="train.conll:12",
)
TYPES = ["LOC", "ORG", "PER"]


def decision(corrected, *, original=EXAMPLE.gold, kind=EDIT):
    return {"kind": kind, "original": list(original), "corrected": list(corrected), "reviewer": "ann", "time": "T"}


def fresh():
    return start_draft(EXAMPLE, decision=None, types=TYPES, issues=[False, True, False, False, False])


def test_a_new_draft_starts_from_gold_clean_and_unselected():
    draft = fresh()
    assert draft["tags"] == EXAMPLE.gold and draft["tags"] is not EXAMPLE.gold
    assert (draft["anchor"], draft["selection"], draft["dirty"], draft["saved"]) == (None, None, False, None)
    assert draft["example_id"] == 3 and draft["key"] == "hash-3" and draft["types"] == TYPES
    assert draft["issues"] == [False, True, False, False, False]


def test_a_draft_starts_from_the_last_decision_only_if_it_was_made_on_todays_gold():
    corrected = ["B-PER", "I-PER", "O", "O", "O"]
    draft = start_draft(EXAMPLE, decision=decision(corrected), types=TYPES)
    assert draft["tags"] == corrected and draft["dirty"] is False
    assert draft["saved"] == {"kind": EDIT, "reviewer": "ann", "time": "T", "changed": True}
    unchanged = start_draft(EXAMPLE, decision=decision(EXAMPLE.gold, kind=ACCEPT_GOLD), types=TYPES)
    assert unchanged["saved"]["changed"] is False
    stale = decision(corrected, original=["O"] * 5)  # the dataset's gold changed since
    draft = start_draft(EXAMPLE, decision=stale, types=TYPES)
    assert draft["tags"] == EXAMPLE.gold and draft["saved"] is None


def test_clicks_anchor_then_extend_then_start_over():
    anchored = click_word(fresh(), 3)
    assert (anchored["anchor"], anchored["selection"]) == (3, [3, 3])
    selected = click_word(anchored, 1)  # backwards: the selection is ordered
    assert (selected["anchor"], selected["selection"]) == (None, [1, 3])
    again = click_word(selected, 4)
    assert (again["anchor"], again["selection"]) == (4, [4, 4])
    one_word = click_word(click_word(fresh(), 2), 2)
    assert (one_word["anchor"], one_word["selection"]) == (None, [2, 2])
    assert click_word(one_word, 0)["anchor"] == 0
    assert fresh()["selection"] is None  # clicks return new drafts


def test_add_and_remove_need_a_selection():
    draft = fresh()
    for action in (ADD, REMOVE):
        assert edit_draft(draft, action, entity="LOC") == (draft, SELECT_FIRST)


def test_add_needs_a_known_type():
    draft = click_word(click_word(fresh(), 2), 2)
    assert edit_draft(draft, ADD, entity=None) == (draft, PICK_TYPE)
    assert edit_draft(draft, ADD, entity="EVIL") == (draft, PICK_TYPE)


def test_add_makes_the_selection_one_span_and_the_draft_dirty():
    draft = click_word(click_word(fresh(), 1), 3)
    new, message = edit_draft(draft, ADD, entity="ORG")
    assert message is None
    assert new["tags"] == ["O", "B-ORG", "I-ORG", "I-ORG", "O"]  # the spans it overlapped gave way
    assert (new["anchor"], new["selection"], new["dirty"]) == (None, None, True)


def test_an_edit_that_changes_nothing_leaves_the_draft_clean_but_never_cleans_it():
    draft = click_word(click_word(fresh(), 3), 3)
    same, _ = edit_draft(draft, ADD, entity="LOC")  # LOC over "Paris" is already there
    assert same["tags"] == EXAMPLE.gold and same["dirty"] is False and same["selection"] is None
    dirty = {**draft, "dirty": True}
    assert edit_draft(dirty, ADD, entity="LOC")[0]["dirty"] is True


def test_remove_drops_the_spans_over_the_selection():
    draft = click_word(click_word(fresh(), 1), 2)
    new, message = edit_draft(draft, REMOVE)
    assert message is None and new["tags"] == ["O", "O", "O", "B-LOC", "O"] and new["dirty"]


def test_remove_span_drops_the_named_span_without_a_selection():
    new, message = edit_draft(fresh(), REMOVE_SPAN, argument=span_argument(3, 4))
    assert message is None and new["tags"] == ["B-PER", "I-PER", "O", "O", "O"] and new["dirty"]
    selected = click_word(fresh(), 0)
    assert edit_draft(selected, REMOVE_SPAN, argument="0,2")[0]["selection"] is None
    for bad in ("0", "a,b", None):
        with pytest.raises(ValueError):
            edit_draft(fresh(), REMOVE_SPAN, argument=bad)


def test_an_unknown_edit_is_refused():
    with pytest.raises(ValueError, match="edit must be one of"):
        edit_draft(fresh(), "rename")


def test_span_arguments_round_trip():
    assert parse_span(span_argument(1, 3, "I-X,Y"), typed=True) == (1, 3, "I-X,Y")
    assert parse_span(span_argument(1, 3), typed=False) == (1, 3, "")
    with pytest.raises(ValueError, match="not a span"):
        parse_span("1,3", typed=True)


def test_each_button_asks_for_its_decision():
    draft = edit_draft(click_word(click_word(fresh(), 4), 4), ADD, entity="LOC")[0]
    assert decision_for(draft, ACCEPT_GOLD) == Pending(ACCEPT_GOLD, EXAMPLE.gold)
    assert decision_for(draft, ACCEPT_ALL_PREDICTIONS) == Pending(
        ACCEPT_ALL_PREDICTIONS, ["B-PER", "O", "O", "B-ORG", "O"]
    )
    assert decision_for(draft, EDIT) == Pending(EDIT, draft["tags"])
    accepted = decision_for(draft, ACCEPT_PREDICTION_SPAN, argument=span_argument(3, 4, "ORG"))
    assert accepted == Pending(
        ACCEPT_PREDICTION_SPAN, ["B-PER", "I-PER", "O", "B-ORG", "B-LOC"], {"span": [3, 4, "ORG"]}
    )
    with pytest.raises(ValueError):
        decision_for(draft, ACCEPT_PREDICTION_SPAN, argument="3,4")
    with pytest.raises(ValueError, match="unknown decision"):
        decision_for(draft, "approve")


@pytest.mark.parametrize("example_id", [None, "3", 3.0, -1, 5])
def test_an_example_id_the_cache_does_not_have_is_refused(example_id):
    with pytest.raises(ExplainerError, match=NOT_IN_CACHE):
        checked_example_id({**fresh(), "example_id": example_id}, 5)


def test_an_example_id_the_cache_has_is_accepted():
    assert checked_example_id(fresh(), 5) == 3 and checked_example_id({"example_id": 0}, 1) == 0


def test_tags_for_another_example_or_another_length_are_refused():
    draft = fresh()
    with pytest.raises(ExplainerError, match=CHANGED.split(" (")[0]):
        checked_tags({**draft, "key": "other"}, Pending(EDIT, draft["tags"]), example=EXAMPLE, types=TYPES)
    with pytest.raises(ExplainerError, match=CHANGED.split(" (")[0]):
        checked_tags(draft, Pending(EDIT, draft["tags"][:-1]), example=EXAMPLE, types=TYPES)


@pytest.mark.parametrize("tag", ["B-EVIL", "X-PER", "B-", "PER"])
def test_a_tag_the_model_does_not_know_is_refused(tag):
    tags = [tag] + fresh()["tags"][1:]
    with pytest.raises(ExplainerError, match=UNKNOWN_TAG.split(";")[0]):
        checked_tags(fresh(), Pending(EDIT, tags), example=EXAMPLE, types=TYPES)


def test_checked_tags_are_well_formed_and_accepting_gold_takes_the_caches_gold():
    draft = fresh()
    tags = ["I-PER", "I-PER", "O", "O", "O"]
    assert checked_tags(draft, Pending(EDIT, tags), example=EXAMPLE, types=TYPES) == ["B-PER", "I-PER", "O", "O", "O"]
    tampered_gold = ["O"] * 5  # the browser's copy of gold is not what is saved
    saved = checked_tags(draft, Pending(ACCEPT_GOLD, tampered_gold), example=EXAMPLE, types=TYPES)
    assert saved == EXAMPLE.gold


def test_after_a_save_the_draft_is_clean_and_shows_the_decision():
    draft = click_word(edit_draft(click_word(click_word(fresh(), 4), 4), ADD, entity="LOC")[0], 0)
    assert draft["dirty"] and draft["selection"] == [0, 0]
    corrected = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    saved = after_save(draft, decision(corrected))
    assert saved["tags"] == corrected and (saved["anchor"], saved["selection"], saved["dirty"]) == (None, None, False)
    assert saved["saved"] == {"kind": EDIT, "reviewer": "ann", "time": "T", "changed": True}
    assert saved["words"] == draft["words"] and drafts.saved_info(None) is None


def test_model_error_keeps_gold_and_applying_a_finding_fixes_its_region_only():
    from explainer.review.corrections import APPLY_FINDING, MODEL_ERROR
    from explainer.review.draft import FINDING_ELSEWHERE

    draft = fresh()
    assert decision_for(draft, MODEL_ERROR) == Pending(MODEL_ERROR, EXAMPLE.gold)
    assert checked_tags(draft, Pending(MODEL_ERROR, ["O"] * 5), example=EXAMPLE, types=TYPES) == EXAMPLE.gold
    # "Paris" LOC -> ORG, as a finding of the cache holds it (numpy scalars included)
    import numpy as np

    finding = {
        "example_id": 3,
        "start": np.int32(3),
        "end": np.int32(4),
        "kind": "wrong type",
        "gold_spans": ["3,4,LOC"],
        "fix_spans": ["3,4,ORG"],
        "fix_tags": ["B-ORG"],
        "score": np.float32(0.8),
    }
    pending = decision_for(draft, APPLY_FINDING, argument=finding)
    assert pending.kind == APPLY_FINDING and pending.tags == ["B-PER", "I-PER", "O", "B-ORG", "O"]
    assert pending.detail == {
        "finding": {
            "start": 3,
            "end": 4,
            "kind": "wrong type",
            "gold_spans": ["3,4,LOC"],
            "fix_spans": ["3,4,ORG"],
            "score": 0.8,
        }
    }
    import json

    json.dumps(pending.detail)  # what the corrections file will hold
    with pytest.raises(ExplainerError, match=FINDING_ELSEWHERE.split(" (")[0]):
        decision_for(draft, APPLY_FINDING, argument={**finding, "example_id": 4})
