"""The review database (explainer/review/store.py) on SQLite and on a PostgreSQL server the tests start."""

from __future__ import annotations

import threading
import uuid

import pytest

from explainer.errors import ExplainerError
from explainer.review.corrections import append_decision, corrections_path
from explainer.review.store import Conflict, DecisionStore, open_store, store_of_url
from tests.helpers import decision

WORDS = ["Anna", "lives", "in", "Oslo"]
GOLD = ["B-PER", "O", "O", "O"]


def new_store(url: str) -> DecisionStore:
    return DecisionStore(url, f"cache-{uuid.uuid4().hex[:8]}").create()


def test_saves_keep_every_revision_and_the_latest_is_settled(database_url):
    store = new_store(database_url)
    first = store.save(decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann"), base=0)
    second = store.save(decision(WORDS, GOLD, GOLD, reviewer="bob"), base=first["revision"])
    assert (first["revision"], second["revision"]) == (1, 2)
    assert [d["reviewer"] for d in store.history()] == ["ann", "bob"]  # the audit trail keeps both
    latest = store.latest()
    assert latest[first["key"]]["corrected"] == GOLD and latest[first["key"]]["revision"] == 2
    assert store.reviewed().n_decisions == 2


def test_a_save_on_a_decision_not_seen_is_refused_with_theirs(database_url):
    store = new_store(database_url)
    store.save(decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann"), base=0)
    with pytest.raises(Conflict) as refused:
        store.save(decision(WORDS, GOLD, GOLD, reviewer="bob"), base=0)  # bob opened it before ann saved
    assert refused.value.theirs["reviewer"] == "ann" and refused.value.theirs["revision"] == 1
    assert "ann saved a decision" in str(refused.value)
    # Overwriting is saving again on top of theirs.
    assert store.save(decision(WORDS, GOLD, GOLD, reviewer="bob"), base=1)["revision"] == 2
    assert len(store.history()) == 2


def test_concurrent_saves_on_one_base_make_one_decision_and_conflicts(database_url):
    store = new_store(database_url)
    outcomes: list[str] = []

    def reviewer(name: str) -> None:
        try:
            store.save(decision(WORDS, GOLD, GOLD, reviewer=name), base=0)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=reviewer, args=(f"r{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["saved"]
    assert len(store.history()) == 1


def test_claims_expire_and_are_not_handed_to_others(database_url):
    store = new_store(database_url)
    assert store.claim("k1", "ann")
    assert store.claim("k1", "ann")  # renewing one's own claim
    assert not store.claim("k1", "bob")
    assert store.claimed_by_others("bob") == {"k1"} and store.claimed_by_others("ann") == set()
    assert store.claim("k2", "bob", seconds=-1)  # already expired
    assert store.claim("k2", "ann")
    saved = store.save(decision(WORDS, GOLD, GOLD, reviewer="ann"), base=0)
    store.claim(saved["key"], "ann")
    store.save(decision(WORDS, GOLD, GOLD, reviewer="ann"), base=1)
    assert saved["key"] not in store.claimed_by_others("bob")  # a decision releases the claim


def test_a_corrections_file_is_imported_once_in_file_order(tmp_path):
    cache = tmp_path / "val"
    cache.mkdir()
    legacy = corrections_path(cache)
    append_decision(legacy, decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann"))
    append_decision(legacy, decision(WORDS, GOLD, GOLD, reviewer="bob"))
    store = open_store(cache)
    assert [(d["reviewer"], d["revision"]) for d in store.history()] == [("ann", 1), ("bob", 2)]
    assert store.import_jsonl(legacy) == 0  # already imported
    assert legacy.read_text().count("\n") == 2  # the file is left as it was
    assert (tmp_path / "val.review.sqlite").is_file()


def test_a_database_that_goes_away_is_reported_and_resumed(postgres):
    url, stop, start = postgres
    store = new_store(url)
    store.save(decision(WORDS, GOLD, GOLD, reviewer="ann"), base=0)
    stop()
    try:
        with pytest.raises(ExplainerError, match="review database .* is unavailable.*not saved"):
            store.save(decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann"), base=1)
    finally:
        start()
    assert store.save(decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann"), base=1)["revision"] == 2
    assert len(store.history()) == 2


def test_merge_finds_the_one_cache_of_a_database_or_asks_for_its_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    DecisionStore(url, "a").create().save(decision(WORDS, GOLD, GOLD), base=0)
    assert store_of_url(url).cache == "a"
    DecisionStore(url, "b").create().save(decision(WORDS, GOLD, GOLD), base=0)
    with pytest.raises(ExplainerError, match=r"2 caches \(a, b\); name one with --cache"):
        store_of_url(url)
    assert store_of_url(url, "b").cache == "b"
    with pytest.raises(ExplainerError, match="no decisions for the cache 'c'"):
        store_of_url(url, "c")


def test_a_bad_url_says_what_a_url_looks_like():
    with pytest.raises(ExplainerError, match="not a database URL"):
        DecisionStore("not a url", "x")


def test_a_save_retried_after_its_answer_was_lost_is_kept_once(database_url):
    store = new_store(database_url)
    mine = decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann")
    store.save(mine, base=0)
    assert store.save(dict(mine), base=0)["revision"] == 1  # the same reviewer, tags and base: the same save
    assert len(store.history()) == 1
    with pytest.raises(Conflict):
        store.save(decision(WORDS, GOLD, GOLD, reviewer="ann"), base=0)  # other tags: a real conflict


def test_a_lost_answer_retried_after_others_saved_on_top_is_still_kept_once(database_url):
    store = new_store(database_url)
    mine = decision(WORDS, GOLD, ["B-PER", "O", "O", "B-LOC"], reviewer="ann")
    store.save(mine, base=0)  # committed, but ann was told the database was unavailable
    store.save(decision(WORDS, GOLD, GOLD, reviewer="bob"), base=1)  # bob saves on top before ann retries
    again = store.save(dict(mine), base=0)
    assert (again["revision"], again["reviewer"]) == (1, "ann")
    assert [saved["reviewer"] for saved in store.history()] == ["ann", "bob"]
    with pytest.raises(Conflict, match="bob"):  # ann's next save goes on top of revision 1: bob's is newer
        store.save(decision(WORDS, GOLD, GOLD, reviewer="ann"), base=1)
