"""App settings: environment variables first, CLI flags override them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs to know.

    ``cache`` is one cache directory or a root directory holding several (``EXPLAINER_CACHE``).
    """

    cache: Path = field(default_factory=lambda: Path("caches"))
    url_prefix: str = "/"
    title: str = "NER explainer"
    page_size: int = 50  # rows per grid page and per samples page

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        if environ.get("EXPLAINER_CACHE"):
            values["cache"] = Path(environ["EXPLAINER_CACHE"])
        if environ.get("EXPLAINER_URL_PREFIX"):
            values["url_prefix"] = normalise_prefix(environ["EXPLAINER_URL_PREFIX"])
        values.update({key: value for key, value in overrides.items() if value is not None})
        if "cache" in values:
            values["cache"] = Path(values["cache"])
        return replace(cls(), **values)


def normalise_prefix(prefix: str) -> str:
    """'tools/ner' -> '/tools/ner/' (Dash wants a leading and a trailing slash)."""
    prefix = "/" + prefix.strip().strip("/")
    return prefix if prefix == "/" else prefix + "/"
