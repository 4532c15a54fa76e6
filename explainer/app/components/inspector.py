"""The sample inspector: one example with gold and predicted spans overlaid, and a per-word table.

Every piece of dataset text goes in as component children (strings), which React escapes: a
sentence containing ``<script>`` shows those characters, it never runs them.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html
from dash.development.base_component import Component

from explainer.analysis.examples import ExampleView, span_error_by_word
from explainer.analysis.labels import entity_type
from explainer.app.components.attributions import explain_panel, why_not_button
from explainer.cache.reader import LABEL_QUALITY_NOT_BUILT as NOT_BUILT
from explainer.cache.schema import CORRECT
from explainer.figures.palette import type_colours

NO_WRAP = {"whiteSpace": "nowrap"}
ERROR_STYLE = {  # how each category marks a span: visible at a glance, explained by the legend
    "missed": "3px dashed #d62728",
    "spurious": "3px dotted #d62728",
    "wrong type": "3px solid #d62728",
    "boundary": "3px double #ff7f0e",
    "type and boundary": "3px solid #ff7f0e",
}


def span_line(
    words: list[str], spans: list[tuple], *, colours: dict, marks: dict, highlight: int | None, id_prefix: str
) -> html.Div:
    """Words as text, entity spans as coloured boxes with their type and error category."""
    starts = {start: (start, end, kind) for start, end, kind in spans}
    children: list[Component | str] = []
    index = 0
    while index < len(words):
        if index in starts:
            start, end, kind = starts[index]
            category = marks.get((start, end), CORRECT)
            style = {
                "backgroundColor": colours.get(kind, "#999") + "33",
                "borderBottom": f"3px solid {colours.get(kind, '#999')}",
                "padding": "1px 3px",
                "margin": "0 2px",
                "borderRadius": "3px",
            }
            if category in ERROR_STYLE:
                style["outline"] = ERROR_STYLE[category]
            inner = [_word(words[i], i == highlight) for i in range(start, min(end, len(words)))]
            label = kind if category == CORRECT else f"{kind} · {category}"
            children.append(
                html.Span(
                    _spaced(inner) + [html.Sup(label, className="ms-1 text-muted small", style=NO_WRAP)],
                    style=style,
                    className=f"entity entity-{category.replace(' ', '-')}",
                    title=label,
                )
            )
            index = end
        else:
            children.append(_word(words[index], index == highlight))
            index += 1
        children.append(" ")
    return html.Div(children, id=id_prefix, className="span-line", style={"lineHeight": "2.2em"})


def _word(text: str, highlighted: bool):
    return html.Mark(text, className="word-highlight") if highlighted else html.Span(text)


def _spaced(items: list) -> list:
    out = []
    for i, item in enumerate(items):
        out += ([" "] if i else []) + [item]
    return out


def error_legend() -> html.Div:
    return html.Div(
        [
            html.Span(name, style={"outline": style, "padding": "0 4px", "margin": "0 6px"}, className="small")
            for name, style in ERROR_STYLE.items()
        ],
        className="mb-2",
    )


def word_table(view: ExampleView, *, highlight: int | None) -> dbc.Table:
    scored = "label_quality" in view.words  # only caches built with --label-quality have scores
    header = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "#",
                    "word",
                    "subwords",
                    "gold",
                    "predicted",
                    "probability",
                    "loss",
                    *(["label quality"] if scored else []),
                    "flags",
                )
            ]
        )
    )
    rows = []
    for row in view.words.itertuples():
        flags = []
        if scored and row.label_issue:
            flags.append(
                dbc.Badge(
                    "label issue?",
                    color="primary",
                    className="me-1 label-issue",
                    title="cleanlab's find_label_issues flags this word's gold label as likely wrong",
                )
            )
        if row.mismatch:
            flags.append(dbc.Badge("gold ≠ predicted", color="danger", className="me-1"))
        if row.low_probability:
            flags.append(dbc.Badge("low probability", color="warning", text_color="dark", className="me-1"))
        if row.gold != "O" and entity_type(row.gold) != entity_type(row.pred):  # missed, or of the wrong type
            flags.append(why_not_button("inspector", int(row.word_index), predicted=str(row.pred), gold=str(row.gold)))
        rows.append(
            html.Tr(
                [
                    html.Td(row.word_index),
                    html.Td(row.word),
                    html.Td(row.subwords, className="text-muted"),
                    html.Td(row.gold, style=NO_WRAP),  # a label reads whole: B-politician, not B- / politician
                    html.Td(row.pred, style=NO_WRAP),
                    html.Td(f"{row.prob_pred:.3f}"),
                    html.Td(f"{row.loss:.3f}"),
                    *([html.Td(_score(row.label_quality), className="label-quality")] if scored else []),
                    html.Td(flags),
                ],
                className="table-warning"
                if row.word_index == highlight
                else ("table-danger" if row.mismatch else None),
            )
        )
    return dbc.Table([header, html.Tbody(rows)], size="sm", hover=True, bordered=False, className="inspector-words")


def label_quality_note(view: ExampleView):
    """One line naming the build option when the cache has no label-quality scores, else None."""
    if "label_quality" in view.words:
        return None
    return html.Div(NOT_BUILT, className="text-muted small mb-2 label-quality-note")


def _score(value) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def render_inspector(view: ExampleView | None, *, types, highlight: int | None = None):
    """Title and body of the inspector for ``view`` (None: the example does not exist)."""
    if view is None:
        return "Example not found", dbc.Alert("There is no example with that id in this cache.", color="warning")
    example = view.example
    words = list(view.words["word"])
    colours = type_colours(types)
    title = f"Example {example['example_id']}"
    summary = html.Div(
        [
            html.Span(f"source {example.get('source', '')}", className="me-3"),
            html.Span(f"total loss {example['total_loss']:.3f}", className="me-3"),
            html.Span(f"entity F1 {example['f1']:.2f}", className="me-3"),
            html.Span(f"span errors {example['n_errors']}", className="me-3"),
            dbc.Badge("windowed", color="info") if example.get("windowed") else None,
        ],
        className="text-muted small mb-2",
    )
    body = html.Div(
        [
            summary,
            html.H6("Gold"),
            span_line(
                words,
                view.gold_spans,
                colours=colours,
                marks=span_error_by_word(view.errors, source="gold"),
                highlight=highlight,
                id_prefix="inspector-gold",
            ),
            html.H6("Predicted", className="mt-2"),
            span_line(
                words,
                view.pred_spans,
                colours=colours,
                marks=span_error_by_word(view.errors, source="pred"),
                highlight=highlight,
                id_prefix="inspector-pred",
            ),
            error_legend(),
            word_table(view, highlight=highlight),
            label_quality_note(view),
            explain_panel("inspector", words=words, gold=[str(label) for label in view.words["gold"]]),
        ],
        id="inspector-content",
    )
    return title, body


# --- moving through the list the inspector was opened from -------------------------------------

MAX_LISTED = 5_000  # example ids kept of the list a row or card was clicked in (they travel to the browser)


class NavIds:
    LIST = "inspector-list"  # a store: {"ids": [...]} of the list the inspector was opened from
    PREV = "inspector-prev"
    NEXT = "inspector-next"
    POSITION = "inspector-position"
    RAW = "inspector-raw-link"
    REVIEW = "inspector-review-link"


def listed_examples(example_ids) -> list[int]:
    """The distinct example ids of a list, in its order (a list of words names an example once per word)."""
    return [int(value) for value in dict.fromkeys(example_ids)][:MAX_LISTED]


def neighbours(ids: list[int] | None, current: int | None) -> tuple[int | None, int | None, int | None]:
    """(previous, next, 1-based position) of ``current`` in ``ids``; all None when it is not listed."""
    if not ids or current is None or current not in ids:
        return None, None, None
    at = ids.index(current)
    return (ids[at - 1] if at else None), (ids[at + 1] if at + 1 < len(ids) else None), at + 1


def navigation_bar() -> html.Div:
    """Previous/next through the list the inspector was opened from, and links to the same example elsewhere."""
    button = {"size": "sm", "color": "secondary", "outline": True, "disabled": True}
    return html.Div(
        [
            dbc.Button("← previous", id=NavIds.PREV, className="me-2", **button),
            dbc.Button("next →", id=NavIds.NEXT, className="me-2", **button),
            html.Span(id=NavIds.POSITION, className="small text-muted me-4"),
            dcc.Link("Raw data", id=NavIds.RAW, href="", className="small me-3"),
            dcc.Link("Review", id=NavIds.REVIEW, href="", className="small"),
        ],
        className="d-flex align-items-center mb-2 inspector-nav",
    )
