"""The review queue's view and navigation (explainer/review/queue.py), on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.review.queue import (
    QUALITY_NOTE,
    Queue,
    View,
    effective_order,
    example_to_show,
    n_reviewed,
    progress_text,
)

FULL = np.array([4, 2, 0, 3, 1])  # every example, in the chosen order
QUEUE = Queue(ids=np.array([4, 0, 1]), full=FULL, note=None)  # 2 and 3 filtered out


def test_the_filters_leave_out_the_example_and_at_moves_it():
    view = View("quality", "LOC", None, "done", 2)
    assert view.filters() == ("quality", "LOC", None, "done")
    assert view.at(None) == View("quality", "LOC", None, "done", None) and view.example == 2


def test_the_quality_order_falls_back_to_f1_with_a_note_without_scores():
    assert effective_order("quality", has_quality=False) == ("f1", QUALITY_NOTE)
    assert "--label-quality" in QUALITY_NOTE
    assert effective_order("quality", has_quality=True) == ("quality", None)
    assert effective_order("loss", has_quality=False) == ("loss", None)


def test_next_and_previous_walk_the_queue_and_stop_at_its_ends():
    assert example_to_show(QUEUE, 4, n_examples=5, step=1) == 0
    assert example_to_show(QUEUE, 0, n_examples=5, step=1) == 1
    assert example_to_show(QUEUE, 1, n_examples=5, step=1) == 1  # the last: stays
    assert example_to_show(QUEUE, 0, n_examples=5, step=-1) == 4
    assert example_to_show(QUEUE, 4, n_examples=5, step=-1) == 4  # the first: stays
    assert example_to_show(QUEUE, None, n_examples=5, step=1) == 4


def test_next_from_an_example_that_left_the_queue_goes_by_its_place_in_the_full_order():
    assert example_to_show(QUEUE, 2, n_examples=5, step=1) == 0  # 2 sits between 4 and 0
    assert example_to_show(QUEUE, 3, n_examples=5, step=-1) == 0


def test_without_a_step_the_example_asked_for_is_shown_if_the_cache_has_it():
    assert example_to_show(QUEUE, 3, n_examples=5) == 3  # even when filtered out: a shared link shows it
    assert example_to_show(QUEUE, None, n_examples=5) == 4
    assert example_to_show(QUEUE, 5, n_examples=5) == 4
    assert example_to_show(QUEUE, -1, n_examples=5) == 4


def test_an_empty_queue_shows_nothing_unless_asked():
    empty = Queue(ids=np.array([], dtype=np.int64), full=FULL, note=None)
    assert example_to_show(empty, None, n_examples=5) is None
    assert example_to_show(empty, 9, n_examples=5) is None
    assert example_to_show(empty, 2, n_examples=5) == 2
    assert example_to_show(empty, 2, n_examples=5, step=1) == 2


def test_duplicates_of_a_sentence_share_its_decision():
    keys = np.array(["a", "b", "a", "c"], dtype=object)
    assert n_reviewed(keys, {"a": {}}) == 2
    assert n_reviewed(keys, {"a": {}, "c": {}, "gone": {}}) == 3
    assert n_reviewed(keys, {}) == 0


@pytest.mark.parametrize(
    ("example", "where"), [(0, "example 2 of 3 in this queue"), (3, "3 in this queue"), (None, "3 in this queue")]
)
def test_progress_says_how_many_are_reviewed_and_where_the_example_is(example, where):
    text = progress_text(n_reviewed=1234, n_examples=5000, queue_ids=QUEUE.ids, example=example)
    assert text == f"1,234 of 5,000 examples reviewed · {where}"


def test_the_findings_order_falls_back_to_f1_with_a_note_without_findings():
    from explainer.review.queue import DEFAULT_ORDER, FINDINGS_NOTE

    assert DEFAULT_ORDER == "findings"
    assert effective_order("findings", has_quality=True, has_findings=False) == ("f1", FINDINGS_NOTE)
    assert "--findings on" in FINDINGS_NOTE
    assert effective_order("findings", has_quality=False, has_findings=True) == ("findings", None)
