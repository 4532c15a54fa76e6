"""Inspect: the whole dataset as a table, filterable by id or text; a row opens the inspector.

``ins_text`` (examples containing a text) and ``ins_own`` (the examples of a slice you named) filter it
from the URL; "Save as slice" names the examples listed (both and the column filters applied) as a slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dash import html

from explainer.analysis.gridquery import check_row_request, filter_frame
from explainer.analysis.label_quality import read_label_quality, with_scores
from explainer.app.components import own_slices
from explainer.app.components.grid import column, grid_source, server_grid
from explainer.app.memo import per_cache
from explainer.app.sections.base import EXAMPLES, Section, StrEnum, View

COLUMNS = ["example_id", "text", "n_words", "total_loss", "f1", "n_errors", "n_word_errors", "source"]


class Ids(StrEnum):
    # The "Save as slice" bar (explainer/app/components/own_slices.py names them after the section).
    SLICE_NAME = "inspect-slice-name"
    SLICE_SAVE = "inspect-slice-save"
    SLICE_MESSAGE = "inspect-slice-message"


@dataclass(frozen=True)
class InspectView(View, prefix="ins"):
    text: str | None = None  # only examples containing it (e.g. a link from Loss by token)
    own: str | None = None  # only the examples of a slice you named (a link from Slices)


def _scored_examples(cache):
    """The examples' columns, with cleanlab's label-quality score of each example when the cache has scores."""
    frame = cache.table("examples", columns=COLUMNS)
    scores = read_label_quality(cache)
    if scores is None:
        return frame
    scored = with_scores(frame.assign(row=np.arange(len(frame))), scores, level="example")
    return scored.drop(columns=["row", "label_issue"])


@grid_source("inspect")
def inspect_rows(cache, state):
    frame = per_cache(cache, "inspect-rows", lambda: _scored_examples(cache))
    view = InspectView.from_query(state)
    if view.text:  # a filter carried in the URL, on top of the grid's own
        frame = frame[frame["text"].str.contains(view.text, case=False, regex=False)]
    examples = own_slices.slice_examples(cache, view.own)
    if examples is not None:
        frame = frame[np.isin(frame["example_id"].to_numpy(dtype=np.int64), examples)]
    return frame


def examples_of_view(cache, state, requests) -> tuple[list[int], str]:
    """The examples the table lists: the URL's filters and the grid's column filters ("Save as slice")."""
    request = requests.get("inspect") or {}
    check_row_request(request, n_columns=len(COLUMNS) + 1)
    rows = filter_frame(inspect_rows(cache, state), request.get("filterModel"))
    return rows["example_id"].astype(int).tolist(), "Inspect filter"


def layout(cache, state):
    view = InspectView.from_query(state)
    text = view.text
    note = (
        html.P(["Examples containing ", html.Code(text), " (from the URL)."], className="text-muted") if text else None
    )
    found = own_slices.find_slice(cache, view.own)
    if found is not None:
        told = f"The {len(found.examples):,} examples of your slice {found.name!r} (from the URL)."
        note = html.Div([note, html.P(told, className="text-muted")])
    return html.Div(
        [
            html.P(
                "Every example of the dataset. Filter by id or text in the column headers; click a row to inspect it.",
                className="text-muted small",
            ),
            note,
            own_slices.missing_note(cache, view.own),
            own_slices.save_bar("inspect", what="the examples listed (column filters too)"),
            server_grid(
                "inspect",
                [
                    column("example_id", "id", number=True, width=90, flex=0),
                    column("text", flex=4),
                    column("n_words", "words", number=True),
                    column("total_loss", "total loss", number=True, decimals=3),
                    column("f1", "entity F1", number=True, decimals=2),
                    column("n_errors", "span errors", number=True),
                    column("n_word_errors", "word errors", number=True),
                    column("source"),
                    *(
                        [column("label_quality", "label quality", number=True, decimals=3)]
                        if read_label_quality(cache) is not None
                        else []
                    ),
                ],
            ),
        ]
    )


def register(app, context):
    own_slices.register_save_bar(app, context, "inspect", examples_of_view)


SECTION = Section(
    key="inspect",
    label="Inspect",
    group=EXAMPLES,
    order=30,
    layout=layout,
    register=register,
    ids=Ids,
    view=InspectView,
)
