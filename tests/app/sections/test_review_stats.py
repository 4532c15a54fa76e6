"""Double review and the Review statistics section (agreement, pace, disagreements, audit trail), called directly."""

from __future__ import annotations

import pytest

from explainer.app.factory import create_app
from explainer.app.sections import review, review_stats
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache.reader import open_cache
from tests.helpers import strings

SEARCH = "?tab=review&rev_order=loss&rev_status=todo"
ANN, BOB = {"X-Forwarded-User": "ann"}, {"X-Forwarded-User": "bob"}


@pytest.fixture
def context(tiny_cache, tmp_path):
    settings = Settings(cache=tiny_cache.parent, corrections_dir=tmp_path, review_double=1.0)
    return create_app(settings).server.config["EXPLAINER_CONTEXT"]


def opened(context, headers):
    """The draft the queue hands to the reviewer of ``headers``."""
    _url, _panel, draft, _progress, _note = review.on_navigate(
        context, ("loss", None, None, "todo"), "?tab=review", trigger="review-order", headers=headers
    )
    return draft


def test_a_double_review_example_goes_blind_to_a_second_reviewer_and_their_disagreement_is_listed(context, tiny_cache):
    cache = open_cache(tiny_cache)
    first = opened(context, ANN)
    review.on_edit(context, first, None, SEARCH, trigger="review-accept-all", headers=ANN)
    store = review.store_of(context, cache)
    store.claim(first["key"], "ann", seconds=-1)  # ann moved on: her claim has expired
    second = opened(context, BOB)
    assert second["example_id"] == first["example_id"]  # still to review for bob: it needs a second reviewer
    assert second["tags"] == second["gold"] and second["saved"] is None  # blind: ann's decision is not shown
    assert second["revision"] == 1
    _draft, message, _ = review.on_edit(context, second, None, SEARCH, trigger="review-accept-gold", headers=BOB)
    assert message == ""  # saving on top of a decision the reviewer was not meant to see is not a conflict
    assert opened(context, ANN)["example_id"] != first["example_id"]  # reviewed twice: out of everyone's queue

    page = review_stats.SECTION.render(context, cache, {"tab": "review_stats"})
    text = " ".join(strings(page))
    assert "2 decisions" in text and "1 examples reviewed by two reviewers" in text
    agree = second["gold"] == first["pred"]
    assert ("0 disagreements" in text) == agree
    if not agree:
        [link] = [href for href in _hrefs(page) if "rev_ex" in href]
        assert parse_query(link)["rev_ex"] == str(first["example_id"])
    assert "accepted all predictions" in text and "ann" in text and "bob" in text  # the audit trail


def _hrefs(tree):
    from tests.helpers import walk

    return [getattr(node, "href", None) for node in walk(tree) if getattr(node, "href", None)]


def test_the_share_setting_is_checked():
    from explainer.errors import ExplainerError

    assert Settings.from_env({"EXPLAINER_REVIEW_DOUBLE": "10%"}).review_double == pytest.approx(0.1)
    with pytest.raises(ExplainerError, match="EXPLAINER_REVIEW_DOUBLE='2' is not a share"):
        Settings.from_env({"EXPLAINER_REVIEW_DOUBLE": "2"})
