"""View state in the URL query string: ``?cache=K&tab=metrics&sample=12&...``.

Pure helpers (no Dash import), so the same parsing serves callbacks and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload
from urllib.parse import parse_qsl, urlencode


def parse_query(search: str | None) -> dict[str, str]:
    """'?a=1&b=x' -> {'a': '1', 'b': 'x'} (the last value wins; blank values dropped)."""
    return {key: value for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=False)}


def build_query(state: Mapping[str, Any]) -> str:
    """The inverse of ``parse_query``; None and '' values are left out, order is stable."""
    items = [(key, str(value)) for key, value in state.items() if value is not None and value != ""]
    return "?" + urlencode(items) if items else ""


def update_query(search: str | None, **changes: Any) -> str:
    """``search`` with ``changes`` applied (a None value removes the key)."""
    state = parse_query(search)
    for key, value in changes.items():
        if value is None or value == "":
            state.pop(key, None)
        else:
            state[key] = value if isinstance(value, str) else str(value)
    return build_query(state)


@overload
def int_param(state: Mapping[str, Any], key: str, default: int) -> int: ...
@overload
def int_param(state: Mapping[str, Any], key: str, default: None = None) -> int | None: ...
def int_param(state: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    """An integer parameter, or ``default`` when absent or not a number (URLs are user input)."""
    try:
        return int(state[key])
    except (KeyError, TypeError, ValueError):
        return default
