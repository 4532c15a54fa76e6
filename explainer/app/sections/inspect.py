"""Inspect: the whole dataset as a table, filterable by id or text; a row opens the inspector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dash import html

from explainer.analysis.label_quality import read_label_quality, with_scores
from explainer.app.components.grid import column, grid_source, server_grid
from explainer.app.memo import per_cache
from explainer.app.sections.base import EXAMPLES, Section, View

COLUMNS = ["example_id", "text", "n_words", "total_loss", "f1", "n_errors", "n_word_errors", "source"]


@dataclass(frozen=True)
class InspectView(View, prefix="ins"):
    text: str | None = None  # only examples containing it (e.g. a link from Loss by token)


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
    text = InspectView.from_query(state).text
    if text:  # a filter carried in the URL, on top of the grid's own
        frame = frame[frame["text"].str.contains(text, case=False, regex=False)]
    return frame


def layout(cache, state):
    text = InspectView.from_query(state).text
    note = (
        html.P(["Examples containing ", html.Code(text), " (from the URL)."], className="text-muted") if text else None
    )
    return html.Div(
        [
            html.P(
                "Every example of the dataset. Filter by id or text in the column headers; click a row to inspect it.",
                className="text-muted small",
            ),
            note,
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


SECTION = Section(key="inspect", label="Inspect", group=EXAMPLES, order=30, layout=layout, view=InspectView)
