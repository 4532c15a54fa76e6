"""Who the reviewer is, from the request's headers or the settings (explainer.review.session)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from explainer.review.session import header_text, reviewer_name


@dataclass(frozen=True)
class Reviewers:
    reviewer: str | None = "fallback"
    reviewer_headers: tuple[str, ...] = ("X-Forwarded-User", "X-Remote-User")


def as_wsgi(name: str) -> str:
    """``name`` as WSGI hands it to the app when the proxy sent its UTF-8 bytes: decoded as Latin-1."""
    return name.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize("name", ["zoë", "Łukasz", "李小龙", "Renée 🙂"])
def test_utf8_names_from_the_proxy_are_decoded_as_utf8(name):
    assert as_wsgi(name) != name  # what the app would have written before
    assert reviewer_name(Reviewers(), {"X-Forwarded-User": as_wsgi(name)}) == name


def test_utf8_is_decoded_before_controls_are_removed():
    # "Ł" is C5 81 in UTF-8: read as Latin-1, its second byte is the C1 control U+0081.
    assert "\x81" in as_wsgi("Łukasz")
    assert reviewer_name(Reviewers(), {"X-Forwarded-User": as_wsgi("Ł\x85ukasz\x1b")}) == "Łukasz"


def test_bytes_that_are_not_utf8_stay_latin1_and_text_stays_text():
    assert header_text("Ren\xe9e") == "Renée"  # the Latin-1 byte E9 alone is no UTF-8
    assert header_text("李") == "李"  # already text (not from WSGI): kept
    assert header_text("ann") == "ann"


def test_the_first_configured_header_with_a_name_wins_then_the_setting():
    headers = {"X-Forwarded-User": " \x85\t", "X-Remote-User": as_wsgi("zoë")}
    assert reviewer_name(Reviewers(), headers) == "zoë"  # a header left blank by cleaning does not count
    assert reviewer_name(Reviewers(), {}) == "fallback" and reviewer_name(Reviewers(), None) == "fallback"
    assert reviewer_name(Reviewers(reviewer="bob\x9b"), {"X-Other": "mallory"}) == "bob"
