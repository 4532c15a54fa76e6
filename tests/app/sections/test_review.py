"""The Review section's callbacks, called directly on the tiny cache (no browser)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from explainer.analysis.review import ORDERS, STATUSES, filter_queue, matching_examples, neighbour, queue_order
from explainer.analysis.spans import extract_spans
from explainer.app.components.review_view import Ids, draft_view, example_panel
from explainer.app.factory import create_app
from explainer.app.sections import review
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache.reader import open_cache
from explainer.review import edits, session
from explainer.review.draft import click_word, decision_for, edit_draft
from explainer.review.queue import DEFAULT_ORDER, DEFAULT_STATUS, View

SEARCH = "?tab=review"


@pytest.fixture
def context(tiny_cache, tmp_path):
    app = create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path, reviewer="settings-name"))
    return app.server.config["EXPLAINER_CONTEXT"]


@pytest.fixture
def cache(tiny_cache):
    return open_cache(tiny_cache)


def click(kind, index=None):
    """The id of the button clicked, as ``dash.ctx.triggered_id`` gives it."""
    return {"type": kind, "index": index} if index is not None else kind


def database(directory: Path, cache) -> Path:
    """Where the review database of ``cache`` is kept when the corrections directory is ``directory``."""
    return directory / f"{cache.path.name}.review.sqlite"


def saved(context, cache) -> list[dict]:
    """Every decision saved about ``cache``, oldest first."""
    return review.store_of(context, cache).history()


def first_draft(context, cache, search=SEARCH):
    view, _queue, draft = session.navigate(cache, review.queue_view(parse_query(search)), {})
    return view, draft


def test_queue_orders_filters_and_steps(cache):
    examples = cache.examples
    by_f1 = queue_order(examples, order="f1")
    f1 = examples.set_index("example_id").loc[by_f1, "f1"].to_numpy()
    assert (f1[:-1] <= f1[1:]).all()
    quality = examples["total_loss"].to_numpy() * -1.0  # any score: lowest first
    assert list(queue_order(examples, order="quality", quality=quality)) == list(queue_order(examples, order="loss"))
    keep = matching_examples(spans=cache.spans, span_errors=cache.span_errors, entity="LOC")
    with_loc = set(cache.spans.loc[cache.spans["type"] == "LOC", "example_id"])
    assert set(keep) == with_loc
    keys = examples["words_hash"].to_numpy(dtype=object)
    done = {keys[by_f1[0]]}
    todo = filter_queue(by_f1, keys=keys, reviewed=done, status="todo")
    assert by_f1[0] not in todo and len(todo) == len(by_f1) - 1
    # The example left the queue (reviewed), yet "next" still goes to the one after it.
    assert neighbour(todo, by_f1, int(by_f1[0]), 1) == by_f1[1]
    assert neighbour(todo, by_f1, int(by_f1[1]), -1) is None


def test_the_view_keeps_what_it_knows_and_defaults_the_rest():
    ReviewView = review.ReviewView
    assert ReviewView("loss", "PER", "missed", "todo", 7).queue() == View("loss", "PER", "missed", "todo", 7)
    assert ReviewView("worst", "", None, "maybe").queue() == View(DEFAULT_ORDER, None, None, DEFAULT_STATUS, None)
    assert ReviewView(None, None, None, None).queue() == View()  # controls without a value
    assert (DEFAULT_ORDER, DEFAULT_STATUS) == ("findings", "all") and set(STATUSES) == {"all", "todo", "done"}
    for order in ORDERS:
        assert ReviewView(order, None, None, None).order == order
    query = {"rev_order": "loss", "rev_type": "PER", "rev_cat": "missed", "rev_status": "todo", "rev_ex": "7"}
    assert review.queue_view(query) == View("loss", "PER", "missed", "todo", 7)
    assert review.queue_view({"rev_order": "worst", "rev_status": "maybe", "rev_ex": "x"}) == View()
    assert ReviewView.of(View("loss", "PER", None, "todo", 7)).to_query() == query | {"rev_cat": None}


def test_layout_without_label_quality_says_which_build_option_adds_it(context, tiny_cache, tmp_path):
    import shutil

    copy = tmp_path / "caches" / "older"  # as built before label quality, or with --label-quality none
    shutil.copytree(tiny_cache, copy)
    (copy / "example_label_quality.parquet").unlink(missing_ok=True)
    html = str(review.layout(open_cache(copy), {"rev_order": "quality"}, context))
    assert "--label-quality" in html and "Example " in html


def test_layout_reads_the_decisions_where_the_app_keeps_them(context, cache, tmp_path):
    # No request, no Flask app context: the factory passes the app's context (corrections_dir=tmp_path).
    _, draft = first_draft(context, cache)
    review.on_edit(context, draft, None, SEARCH, trigger=click("review-accept-gold"), headers={})
    assert database(tmp_path, cache).is_file()
    page = str(review.SECTION.render(context, cache, {"rev_status": "done"}))
    assert f"Example {draft['example_id']}" in page and "1 of" in page and "reviewed: accepted gold" in page


def test_two_apps_in_one_process_each_read_their_own_decisions(context, cache, tiny_cache, tmp_path):
    """Each app's Review tab reads its own corrections directory, whichever app was created last."""
    _, draft = first_draft(context, cache)
    review.on_edit(context, draft, None, SEARCH, trigger=click("review-accept-gold"), headers={})
    other_dir = tmp_path / "other"
    other = create_app(Settings(cache=tiny_cache.parent, corrections_dir=other_dir)).server.config["EXPLAINER_CONTEXT"]
    done = {"rev_status": "done"}
    assert "reviewed: accepted gold" in str(review.SECTION.render(context, cache, done))
    assert "No example matches these filters." in str(review.SECTION.render(other, cache, done))
    assert not saved(other, cache)


def test_navigation_writes_the_view_to_the_url(context, cache):
    by_f1 = queue_order(cache.examples, order="f1")
    search = SEARCH + f"&rev_ex={int(by_f1[0])}"
    new_search, panel, draft, progress, note = review.on_navigate(
        context, ("f1", None, None, "all"), search, trigger="review-next"
    )
    assert parse_query(new_search)["rev_ex"] == str(int(by_f1[1])) and draft["example_id"] == int(by_f1[1])
    assert "example 2 of" in progress and note is None
    # Before the URL names an example, Next goes from the one shown (the first of the queue).
    assert review.on_navigate(context, ("f1", None, None, "all"), SEARCH, trigger="review-next", shown=int(by_f1[0]))[
        2
    ]["example_id"] == int(by_f1[1])
    # Controls echoing the URL change nothing.
    assert review.on_navigate(context, ("f1", None, None, "all"), new_search, trigger=None)[0] is review.no_update
    new_search, *_ = review.on_navigate(context, ("loss", "PER", "missed", "todo"), new_search, trigger="review-order")
    state = parse_query(new_search)
    assert (state["rev_order"], state["rev_type"], state["rev_cat"], state["rev_status"]) == (
        "loss",
        "PER",
        "missed",
        "todo",
    )


def test_editing_a_span_and_saving_writes_one_decision(context, cache, tmp_path):
    _, draft = first_draft(context, cache)
    words = draft["words"]
    draft, message, _ = review.on_edit(context, draft, None, SEARCH, trigger=click(Ids.WORD, 0))
    draft, message, _ = review.on_edit(context, draft, None, SEARCH, trigger=click(Ids.WORD, 1))
    assert draft["selection"] == [0, 1]
    draft, message, _ = review.on_edit(context, draft, "MISC", SEARCH, trigger=click("review-add"))
    assert draft["tags"][:2] == ["B-MISC", "I-MISC"] and draft["dirty"]
    assert not saved(context, cache)  # an edit is saved by Save
    draft, message, progress = review.on_edit(
        context, draft, None, SEARCH, trigger=click("review-save"), headers={"X-Forwarded-User": "alice"}
    )
    assert message == "" and not draft["dirty"] and progress.startswith("1 of")
    [decision] = saved(context, cache)
    assert decision["kind"] == "edit" and decision["reviewer"] == "alice" and decision["words"] == words
    assert decision["corrected"][:2] == ["B-MISC", "I-MISC"]
    assert decision["key"] == cache.examples.iloc[draft["example_id"]]["words_hash"]
    assert decision["identity"]["cache"] == cache.path.name and decision["identity"]["fingerprint"]
    # Reopening the example starts from the saved correction and shows it reviewed.
    reopened = session.new_draft(cache, draft["example_id"], review.latest_of(context, cache))
    assert reopened["tags"] == decision["corrected"] and reopened["saved"]["kind"] == "edit"
    assert "reviewed: edited by alice" in str(draft_view(reopened))


def test_accept_buttons_save_at_once_and_the_browser_is_not_trusted(context, cache, tmp_path):
    _, draft = first_draft(context, cache)
    draft, _, _ = review.on_edit(context, draft, None, SEARCH, trigger=click("review-accept-all"), headers={})
    decisions = saved(context, cache)
    assert decisions[-1]["kind"] == "accept_all_predictions" and decisions[-1]["reviewer"] == "settings-name"
    assert extract_spans(decisions[-1]["corrected"]) == extract_spans(draft["pred"])
    draft, _, _ = review.on_edit(context, draft, None, SEARCH, trigger=click("review-accept-gold"), headers={})
    assert saved(context, cache)[-1]["corrected"] == draft["gold"]
    missing = edits.spans_to_accept(draft["tags"], draft["pred"])
    if missing:
        start, end, kind = missing[0]
        draft, _, _ = review.on_edit(
            context, draft, None, SEARCH, trigger=click(Ids.ACCEPT_SPAN, f"{start},{end},{kind}"), headers={}
        )
        assert saved(context, cache)[-1]["detail"] == {"span": [start, end, kind]}
    n = len(saved(context, cache))
    tampered = {**draft, "tags": ["B-EVIL"] + draft["tags"][1:]}
    _, message, _ = review.on_edit(context, tampered, None, SEARCH, trigger=click("review-save"), headers={})
    assert "does not know" in message and len(saved(context, cache)) == n


def test_downloads_merge_into_the_original_conll(context, cache, tiny_dataset, tmp_path):
    _, draft = first_draft(context, cache)
    assert review.download(context, "corrections", SEARCH)[0] is None  # nothing reviewed yet
    draft = click_word(click_word(draft, 0), 0)
    draft, _ = edit_draft(draft, "add", entity="LOC")
    store = review.store_of(context, cache)
    session.save_decision(cache, draft, decision_for(draft, "edit"), store=store, reviewer=None)
    data, note = review.download(context, "conll", SEARCH)
    merged = base64.b64decode(data["content"]).decode("utf-8")
    original = Path(tiny_dataset).read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(original.split("\n"), merged.split("\n")) if a != b]
    assert len(merged) >= len(original) - 1 and "byte-for-byte" in note
    assert changed and all(a.split()[0] == b.split()[0] for a, b in changed)
    assert changed[0][1].split()[-1] == "B-LOC"
    summary = json.loads(review.download(context, "summary", SEARCH)[0]["content"])
    assert summary["corrected"] == 1 and sum(summary["changes"].values()) >= 1
    jsonl, note = review.download(context, "jsonl", SEARCH)
    first = json.loads(jsonl["content"].split("\n")[draft["example_id"]])
    assert first["spans"][0]["token_start"] == 0 and first["spans"][0]["label"] == "LOC"
    assert "model's labels" in note
    corrections, _ = review.download(context, "corrections", SEARCH)
    assert base64.b64decode(corrections["content"]).count(b"\n") == 1


def test_label_quality_order_uses_the_example_scores(tiny_cache, tmp_path):
    import shutil

    import numpy as np
    import pandas as pd

    copy = tmp_path / "caches" / "tiny"
    shutil.copytree(tiny_cache, copy)
    n = len(open_cache(copy).examples)
    scores = np.random.default_rng(0).random(n).astype(np.float32)
    pd.DataFrame({"example_id": np.arange(n), "label_quality": scores}).to_parquet(
        copy / "example_label_quality.parquet"
    )
    words = open_cache(copy).words
    pd.DataFrame(
        {
            "example_id": words["example_id"],
            "label_quality": np.float32(0.5),
            "label_issue": words["word_index"].to_numpy() == 1,
        }
    ).to_parquet(copy / "label_quality.parquet")
    cache = open_cache(copy)
    view, queue, draft = session.navigate(cache, View(order="quality"), {})
    assert queue.note is None and list(queue.ids) == list(np.argsort(scores, kind="stable"))
    assert draft["example_id"] == int(np.argmin(scores))
    assert "label quality" in str(example_panel(cache, draft))
    assert draft["issues"] == [index == 1 for index in range(len(draft["words"]))]  # flagged words, marked
    assert str(draft_view(draft)).count("review-label-issue") == 1


def test_reviewer_and_corrections_settings_from_the_environment():
    settings = Settings.from_env(
        {
            "EXPLAINER_REVIEWER": "bob",
            "EXPLAINER_REVIEWER_HEADERS": "X-User, X-Other",
            "EXPLAINER_CORRECTIONS_DIR": "/srv/reviews",
        }
    )
    assert settings.reviewer_headers == ("X-User", "X-Other") and settings.corrections_dir == Path("/srv/reviews")
    assert session.reviewer_name(settings, {"X-Other": " carol\n"}) == "carol"
    assert session.reviewer_name(settings, {"X-Forwarded-User": "mallory"}) == "bob"  # not a configured header
    assert Settings.from_env({"EXPLAINER_REVIEWER_HEADERS": ""}).reviewer_headers == ()


def test_a_save_on_top_of_another_reviewers_decision_is_refused_then_taken_or_overwritten(context, cache):
    _, opened_by_ann = first_draft(context, cache)
    _, opened_by_bob = first_draft(context, cache)  # both opened the example before anyone saved
    ann, bob = {"X-Forwarded-User": "ann"}, {"X-Forwarded-User": "bob"}
    review.on_edit(context, opened_by_ann, None, SEARCH, trigger=click("review-accept-all"), headers=ann)
    refused, message, _ = review.on_edit(
        context, opened_by_bob, None, SEARCH, trigger=click("review-accept-gold"), headers=bob
    )
    assert "ann saved a decision" in message and "t takes theirs" in message
    assert refused["conflict"]["reviewer"] == "ann" and len(saved(context, cache)) == 1
    assert "Take theirs (t)" in str(draft_view(refused))
    taken, message, _ = review.on_edit(context, refused, None, SEARCH, trigger=click(Ids.RESOLVE, "take"))
    assert taken["tags"] == saved(context, cache)[-1]["corrected"] and taken["conflict"] is None
    assert taken["saved"]["reviewer"] == "ann" and len(saved(context, cache)) == 1  # taking saves nothing
    mine, message, _ = review.on_edit(
        context, refused, None, SEARCH, trigger=click(Ids.RESOLVE, "overwrite"), headers=bob
    )
    assert message == "" and mine["revision"] == 2
    history = saved(context, cache)
    assert [(d["reviewer"], d["kind"], d["revision"]) for d in history] == [
        ("ann", "accept_all_predictions", 1),
        ("bob", "accept_gold", 2),
    ]


def test_the_example_one_reviewer_has_open_is_not_handed_to_another(context, cache):
    class Request:
        def __init__(self, name):
            self.headers = {"X-Forwarded-User": name}

    shown = {}
    for name in ("ann", "bob"):
        _url, _panel, draft, _progress, _note = review.on_navigate(
            context, ("f1", None, None, "todo"), SEARCH + "&rev_order=loss", trigger=None, headers=Request(name).headers
        )
        shown[name] = draft["example_id"]
    assert shown["ann"] != shown["bob"]


def test_the_default_queue_follows_the_findings_and_a_finding_applies_with_its_button(context, cache, tmp_path):
    from explainer.analysis.findings import apply_fix, example_scores

    found = cache.findings().table
    view, draft = first_draft(context, cache)
    scores = example_scores(found, len(cache.examples))
    assert view.order == "findings" and draft["example_id"] == int(np.argmax(scores))
    panel = str(example_panel(cache, draft))
    assert "Suspected label errors" in panel and "Apply fix (f)" in panel
    best = found[found["example_id"] == draft["example_id"]].index[0]
    new, message, _ = review.on_edit(context, draft, None, SEARCH, trigger=click(Ids.APPLY_FINDING, best), headers={})
    last = saved(context, cache)[-1]
    assert message == "" and last["kind"] == "apply_finding"
    assert last["corrected"] == apply_fix(draft["gold"], found.loc[best]) == new["tags"]
    assert last["detail"]["finding"]["fix_spans"] == list(found.loc[best, "fix_spans"])
    # A finding of another example is refused, nothing written.
    other = found[found["example_id"] != draft["example_id"]].index[0]
    _, message, _ = review.on_edit(context, new, None, SEARCH, trigger=click(Ids.APPLY_FINDING, other), headers={})
    assert "another example" in message and len(saved(context, cache)) == 1
    # Model error: the labels stay as they were.
    _, _, _ = review.on_edit(context, new, None, SEARCH, trigger=click(Ids.MODEL_ERROR), headers={})
    last = saved(context, cache)[-1]
    assert last["kind"] == "model_error" and last["corrected"] == last["original"] == draft["gold"]
