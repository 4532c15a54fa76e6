"""Which button was clicked: one reading of ``dash.ctx.triggered`` for every callback of the app.

Dash calls a callback whose input is an ``ALL`` pattern (``{"type": ..., "index": ALL}``) not only when one
of its buttons is clicked but also when buttons of the pattern appear (a page of cards, a table, a draft
rendered), listing the new buttons as triggers with the ``n_clicks`` they were rendered with (None, or 0);
when a layout mounts it lists the callback's other inputs too (a dropdown's value, a pager's page). Read as
a click (``dash.ctx.triggered_id``), that opens an example or changes the view by itself. A click raises
the button's ``n_clicks`` to 1 or more, and the trigger carries that new value: only such a trigger is a
click. The same holds for a grid's ``cellClicked`` and a chart's ``clickData`` (None until a click).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple


class Fired(NamedTuple):
    """A trigger that is a user's action: the component's id (a dict for a pattern id) and the new value."""

    id: str | dict[str, Any]
    value: Any


def fired(triggered: list[dict[str, Any]] | None, *, prop: str = "n_clicks", type: str | None = None) -> Fired | None:
    """The first trigger of ``prop`` that carries a value (``n_clicks`` risen to 1 or more, a cell or point
    clicked), or None when there is none: buttons appearing, controls mounting.

    ``triggered`` is ``dash.ctx.triggered``; ``type`` keeps only pattern ids of that ``type``.

    >>> appear = [{"prop_id": '{"index":4,"type":"open"}.n_clicks', "value": None}]
    >>> fired(appear) is None
    True
    >>> fired([{"prop_id": '{"index":4,"type":"open"}.n_clicks', "value": 1}]).id
    {'index': 4, 'type': 'open'}
    """
    for item in triggered or []:
        component, _, name = str(item.get("prop_id", "")).rpartition(".")
        value = item.get("value")
        if name != prop or not _acted(value):
            continue
        ident: str | dict[str, Any] = component
        if component.startswith("{"):
            try:
                ident = json.loads(component)
            except ValueError:
                continue
        if type is None or (isinstance(ident, dict) and ident.get("type") == type):
            return Fired(ident, value)
    return None


def clicked(triggered: list[dict[str, Any]] | None, *, type: str | None = None) -> str | dict[str, Any] | None:
    """The id of the button really clicked (see :func:`fired`), or None."""
    found = fired(triggered, type=type)
    return None if found is None else found.id


def clicked_field(triggered: list[dict[str, Any]] | None, key: str, *, type: str | None = None) -> Any:
    """Field ``key`` of the pattern id of the button really clicked (``index``, ``check``...), or None."""
    ident = clicked(triggered, type=type)
    return ident.get(key) if isinstance(ident, dict) else None


def _acted(value: Any) -> bool:
    """Whether a trigger's value is a user's action: ``n_clicks`` of 1 or more, a click's data."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    return bool(value)
