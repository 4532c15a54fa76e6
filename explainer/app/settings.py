"""App settings: environment variables first, CLI flags override them.

=================================  ===========================================================
``EXPLAINER_CACHE``                one cache directory, or a root holding several (``caches``)
``EXPLAINER_URL_PREFIX``           the public path of the app, e.g. ``/tools/ner/`` (``/``)
``EXPLAINER_PROXY_STRIPS_PREFIX``  ``1`` when the proxy removes the prefix before forwarding (``0``)
``EXPLAINER_FRAME_ANCESTORS``      origins allowed to frame the app, space-separated (``'self'``)
``EXPLAINER_MAX_CONTENT_LENGTH``   largest request body in bytes; ``k``/``M`` suffixes allowed (``1M``)
``EXPLAINER_REVIEWER``             reviewer name written with each review decision (none)
``EXPLAINER_REVIEWER_HEADERS``     request headers naming the reviewer, first present wins; set by an
                                   authenticating proxy (``X-Forwarded-User,X-Remote-User``; empty: none)
``EXPLAINER_CORRECTIONS_DIR``      where review databases go (default: beside each cache)
``EXPLAINER_REVIEW_DB``            a database URL for review decisions, shared by several app hosts,
                                   e.g. ``postgresql+psycopg://user@db/review`` (SQLite beside each cache)
``EXPLAINER_REVIEW_DOUBLE``        share of examples each reviewed by two reviewers, blind, for agreement
                                   (``0``; e.g. ``0.1``)
=================================  ===========================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from explainer.errors import ExplainerError

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
# A CSP source expression we accept for frame-ancestors: a keyword, or scheme://host[:port] (host may
# start with '*.'). Nothing else, so the value can never smuggle another directive into the header.
_ANCESTOR = re.compile(r"'self'|'none'|https?://(?:\*\.)?[A-Za-z0-9.-]+(?::\d{1,5})?/?")
_SIZE = re.compile(r"\s*(\d+)\s*([kKmM]?)[bB]?\s*")


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs to know.

    ``cache`` is one cache directory or a root directory holding several (``EXPLAINER_CACHE``).
    ``url_prefix`` is the path the browser sees; when ``proxy_strips_prefix`` is set, the proxy
    forwards requests without it, so the app's routes live at ``/`` (see ``routes_prefix``).
    """

    cache: Path = field(default_factory=lambda: Path("caches"))
    url_prefix: str = "/"
    title: str = "NER explainer"
    page_size: int = 50  # rows per grid page and per samples page
    proxy_strips_prefix: bool = False
    frame_ancestors: tuple[str, ...] = ("'self'",)
    max_content_length: int = 1024 * 1024
    reviewer: str | None = None  # review decisions: a header (reviewer_headers) wins over this name
    reviewer_headers: tuple[str, ...] = ("X-Forwarded-User", "X-Remote-User")
    corrections_dir: Path | None = None  # None: <cache>/../<cache name>.review.sqlite
    review_db: str | None = None  # a database URL (EXPLAINER_REVIEW_DB); None: SQLite beside each cache
    review_double: float = 0.0  # share of examples reviewed by two reviewers (EXPLAINER_REVIEW_DOUBLE)

    @property
    def routes_prefix(self) -> str:
        """The path prefix of the app's routes as the WSGI server receives them."""
        return "/" if self.proxy_strips_prefix else self.url_prefix

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); ``overrides`` that are not None win."""
        environ = os.environ if environ is None else environ
        settings = cls()
        if environ.get("EXPLAINER_CACHE"):
            settings = replace(settings, cache=Path(environ["EXPLAINER_CACHE"]))
        if environ.get("EXPLAINER_URL_PREFIX"):
            settings = replace(settings, url_prefix=normalise_prefix(environ["EXPLAINER_URL_PREFIX"]))
        if "EXPLAINER_PROXY_STRIPS_PREFIX" in environ:
            strips = parse_flag(environ["EXPLAINER_PROXY_STRIPS_PREFIX"], name="EXPLAINER_PROXY_STRIPS_PREFIX")
            settings = replace(settings, proxy_strips_prefix=strips)
        if environ.get("EXPLAINER_FRAME_ANCESTORS"):
            settings = replace(settings, frame_ancestors=parse_frame_ancestors(environ["EXPLAINER_FRAME_ANCESTORS"]))
        if environ.get("EXPLAINER_MAX_CONTENT_LENGTH"):
            size = parse_size(environ["EXPLAINER_MAX_CONTENT_LENGTH"], name="EXPLAINER_MAX_CONTENT_LENGTH")
            settings = replace(settings, max_content_length=size)
        if environ.get("EXPLAINER_REVIEWER"):
            settings = replace(settings, reviewer=environ["EXPLAINER_REVIEWER"].strip() or None)
        if "EXPLAINER_REVIEWER_HEADERS" in environ:
            names = environ["EXPLAINER_REVIEWER_HEADERS"].split(",")
            settings = replace(settings, reviewer_headers=tuple(name.strip() for name in names if name.strip()))
        if environ.get("EXPLAINER_CORRECTIONS_DIR"):
            settings = replace(settings, corrections_dir=Path(environ["EXPLAINER_CORRECTIONS_DIR"]))
        if environ.get("EXPLAINER_REVIEW_DOUBLE"):
            settings = replace(settings, review_double=parse_share(environ["EXPLAINER_REVIEW_DOUBLE"]))
        if environ.get("EXPLAINER_REVIEW_DB"):
            settings = replace(settings, review_db=environ["EXPLAINER_REVIEW_DB"].strip())
        given = {key: value for key, value in overrides.items() if value is not None}
        if "cache" in given:
            given["cache"] = Path(given["cache"])
        return replace(settings, **given)


def parse_share(value: str, *, name: str = "EXPLAINER_REVIEW_DOUBLE") -> float:
    """A share between 0 and 1 ('0.1', or '10%')."""
    text = value.strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ExplainerError(f"{name}={value!r} is not a share between 0 and 1; use e.g. 0.1 (or 10%)")
    return share


def normalise_prefix(prefix: str) -> str:
    """'tools/ner' -> '/tools/ner/' (Dash wants a leading and a trailing slash)."""
    prefix = "/" + prefix.strip().strip("/")
    return prefix if prefix == "/" else prefix + "/"


def parse_flag(value: str, *, name: str) -> bool:
    """'1'/'true'/'yes'/'on' -> True, '0'/'false'/'no'/'off'/'' -> False; anything else is an error."""
    word = value.strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ExplainerError(f"{name}={value!r} is not a yes/no value; use 1 or 0")


def parse_frame_ancestors(value: str) -> tuple[str, ...]:
    """Space- or comma-separated CSP sources, e.g. ``'self' https://portal.example.com``.

    ``self`` and ``none`` may be written without quotes. Anything that is not a keyword or a
    ``scheme://host[:port]`` origin is refused, since the value goes into a response header.
    """
    sources = []
    for item in value.replace(",", " ").split():
        source = f"'{item.lower()}'" if item.lower() in ("self", "none") else item
        if not _ANCESTOR.fullmatch(source):
            raise ExplainerError(
                f"EXPLAINER_FRAME_ANCESTORS: {item!r} is not an origin; use 'self', 'none' or "
                f"scheme://host[:port], e.g. https://portal.example.com"
            )
        sources.append(source.rstrip("/"))
    if "'none'" in sources and len(sources) > 1:
        raise ExplainerError("EXPLAINER_FRAME_ANCESTORS: 'none' cannot be combined with other origins")
    return tuple(dict.fromkeys(sources)) or ("'self'",)


def parse_size(value: str, *, name: str) -> int:
    """'1048576', '512k', '2M' -> bytes (k = 1024)."""
    match = _SIZE.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise ExplainerError(f"{name}={value!r} is not a size; use bytes or a number with k or M, e.g. 1M")
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
