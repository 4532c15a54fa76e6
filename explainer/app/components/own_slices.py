"""Your own slices in the app: where the app keeps them, the slice a URL names, and the "Save as slice" bar.

A section that can turn what it shows into a slice (a lasso in Embeddings, a filter of Misclassified or
Inspect) puts ``save_bar(key)`` in its layout and calls ``register_save_bar(app, context, key, examples_of)``
in its ``register``: ``examples_of(cache, state, requests)`` returns the example ids its view selects and
a few words saying how (``requests`` maps each grid on the page to its last ``getRowsRequest``, so the
grid's own column filters count too). The slices are kept by explainer/cache/own_slices.py, scored by
explainer/analysis/own_slices.py and shown by the Slices section (``?tab=slices&sl_own=NAME``).

Names are user text: they reach the page only as component text (React escapes it), never as HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, dcc, html, no_update

from explainer.analysis.own_slices import check_examples, check_name
from explainer.app.components.grid import GRID_TYPE
from explainer.app.state import parse_query
from explainer.cache.own_slices import OwnSlice, now_utc, read_slices, save_slice, slices_path
from explainer.errors import ExplainerError

SLICES_TAB = "slices"
OWN_KEY = "sl_own"  # the Slices section's query key of a named slice (its view field ``own``)

ExamplesOf = Callable[[Any, dict[str, str], dict[str, dict]], tuple[list[int], str]]


def slices_directory() -> Path | None:
    """``EXPLAINER_CORRECTIONS_DIR`` of the app serving this request (None: beside each cache, as outside an app)."""
    import flask

    if not flask.has_app_context():
        return None
    context = flask.current_app.config.get("EXPLAINER_CONTEXT")
    return getattr(getattr(context, "settings", None), "corrections_dir", None)


def slices_file(cache: Any, directory: Path | None = None) -> Path:
    """Where the slices of ``cache`` are kept (``directory`` default: this app's, see :func:`slices_directory`)."""
    return slices_path(cache.path, directory if directory is not None else slices_directory())


def saved_slices(cache: Any, directory: Path | None = None) -> list[OwnSlice]:
    """The slices saved for ``cache`` (read again only when the file changed)."""
    return saved_state(cache, directory)[1]


def saved_state(cache: Any, directory: Path | None = None) -> tuple[tuple[str, int, int, int], list[OwnSlice]]:
    """The slices saved for ``cache`` and a key of the file's state that changes with it (each write renames a
    new file over it: a new inode)."""
    path = slices_file(cache, directory)
    try:
        stamp = path.stat()
    except FileNotFoundError:
        return (str(path), 0, 0, 0), []
    except OSError as error:
        raise ExplainerError(f"{path}: cannot read the saved slices ({error.strerror})") from None
    key = (str(path), stamp.st_ino, stamp.st_mtime_ns, stamp.st_size)
    return key, list(_read(*key))


@lru_cache(maxsize=16)
def _read(path: str, _inode: int, _mtime_ns: int, _size: int) -> tuple[OwnSlice, ...]:
    return tuple(read_slices(path))


def find_slice(cache: Any, name: str | None, directory: Path | None = None) -> OwnSlice | None:
    """The saved slice called ``name``, or None."""
    if not name:
        return None
    return next((item for item in saved_slices(cache, directory) if item.name == name), None)


def slice_examples(cache: Any, name: str | None) -> np.ndarray | None:
    """The example ids of the slice ``name`` (an empty array when no slice has that name); None for no name."""
    if not name:
        return None
    found = find_slice(cache, name)
    return np.asarray(found.examples if found is not None else (), dtype=np.int64)


def missing_note(cache: Any, name: str | None) -> Any:
    """A warning when the URL names a slice this cache does not have (deleted, or another cache's)."""
    if not name or find_slice(cache, name) is not None:
        return None
    return dbc.Alert(
        f"No slice named {name!r} is saved for this cache: nothing matches it. Saved slices are listed in Slices.",
        color="warning",
        className="py-1 small",
    )


def make_slice(cache: Any, name: str | None, example_ids: Any, *, made_from: str, query: str = "") -> OwnSlice:
    """A slice of ``cache`` named ``name`` holding ``example_ids``, checked (ExplainerError says what is wrong)."""
    n_examples = int(cache.manifest.get("counts", {}).get("examples", 0))
    return OwnSlice(
        name=check_name(name),
        examples=tuple(check_examples(example_ids, n_examples=n_examples)),
        made_from=made_from,
        query=query,
        created=now_utc(),
        fingerprint=(cache.manifest.get("dataset") or {}).get("fingerprint"),
    )


def store_slice(cache: Any, new: OwnSlice, directory: Path | None = None) -> None:
    save_slice(slices_file(cache, directory), new)


# --- the "Save as slice" bar ---------------------------------------------------------------------


def bar_ids(section_key: str) -> tuple[str, str, str]:
    """Ids of a section's bar: its name input, its button and its message."""
    return f"{section_key}-slice-name", f"{section_key}-slice-save", f"{section_key}-slice-message"


def save_bar(section_key: str, *, what: str) -> html.Div:
    """A name box and a button saving ``what`` (e.g. "the examples of these errors") as a named slice."""
    name_id, button_id, message_id = bar_ids(section_key)
    return html.Div(
        [
            dbc.Input(
                id=name_id,
                placeholder="slice name",
                size="sm",
                maxLength=60,
                debounce=False,
                style={"maxWidth": "220px"},
                className="me-2",
            ),
            dbc.Button("Save as slice", id=button_id, size="sm", color="secondary", outline=True, className="me-2"),
            html.Span(f"saves {what} as a named slice (Slices shows its scores)", className="text-muted small me-2"),
            html.Div(id=message_id, className="small"),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )


def saved_message(new: OwnSlice, search: str | None, prefixes: tuple[str, ...] = ()) -> Any:
    """What the bar says after saving: how many examples, and a link to the slice in Slices (without the
    view settings of the sections whose query keys start with one of ``prefixes``, as the navigation does)."""
    from explainer.app.state import build_query

    state = {key: value for key, value in parse_query(search).items() if not key.startswith(prefixes)}
    state.pop("sample", None)
    state.pop("word", None)
    href = build_query({**state, "tab": SLICES_TAB, OWN_KEY: new.name})
    return html.Span(
        [
            f"Saved {new.name!r}: {len(new.examples):,} examples. ",
            dcc.Link("See it in Slices", href=href),
        ],
        className="text-success",
    )


def save_from_view(
    context: Any, section_key: str, examples_of: ExamplesOf, name: str | None, search: str | None, requests: dict
) -> Any:
    """Callback body: save what the section's view selects as the slice ``name``; the bar's message."""
    try:
        cache = context.cache(search)
        state = parse_query(search)
        example_ids, made_from = examples_of(cache, state, requests)
        new = make_slice(cache, name, example_ids, made_from=made_from, query=search or "")
        store_slice(cache, new, context.settings.corrections_dir)
    except ExplainerError as error:
        return html.Span(str(error), className="text-danger")
    prefixes = tuple(f"{section.prefix}_" for section in getattr(context, "sections", []))
    return saved_message(new, search, prefixes)


def register_save_bar(app: Any, context: Any, section_key: str, examples_of: ExamplesOf) -> None:
    """The callback of ``section_key``'s bar (its layout holds ``save_bar(section_key, ...)``)."""
    name_id, button_id, message_id = bar_ids(section_key)

    @app.callback(
        Output(message_id, "children"),
        Input(button_id, "n_clicks"),
        State(name_id, "value"),
        State("url", "search"),
        State({"type": GRID_TYPE, "name": ALL}, "getRowsRequest"),
        prevent_initial_call=True,
    )
    def on_save(clicks: int | None, name: str | None, search: str | None, requests: list) -> Any:
        if not clicks:
            return no_update
        grids = [item["id"]["name"] for item in dash.ctx.states_list[2]]
        return save_from_view(
            context, section_key, examples_of, name, search, dict(zip(grids, (r or {} for r in requests)))
        )
