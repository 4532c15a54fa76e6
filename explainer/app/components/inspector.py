"""The sample inspector: one example with gold and predicted spans overlaid, and a per-word table.

Every piece of dataset text goes in as component children (strings), which React escapes: a
sentence containing ``<script>`` shows those characters, it never runs them.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html
from dash.development.base_component import Component

from explainer.analysis.compare import BOTH_RIGHT, CHANGED
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
    words: list[str],
    spans: list[tuple],
    *,
    colours: dict,
    marks: dict,
    highlight: int | None,
    id_prefix: str,
    notes: dict | None = None,
    changed: frozenset | set = frozenset(),
) -> html.Div:
    """Words as text, entity spans as coloured boxes with their type and error category.

    ``notes`` adds a word to a span's label by (start, end) (a comparison's transition); the spans in
    ``changed`` are emphasised (a comparison's changed outcomes)."""
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
            if (start, end) in changed:
                style["boxShadow"] = CHANGED_SHADOW
            inner = [_word(words[i], i == highlight) for i in range(start, min(end, len(words)))]
            label = kind if category == CORRECT else f"{kind} · {category}"
            note = (notes or {}).get((start, end))
            label = f"{label} · {note}" if note else label
            class_name = f"entity entity-{category.replace(' ', '-')}" + (
                " span-changed" if (start, end) in changed else ""
            )
            children.append(
                html.Span(
                    _spaced(inner) + [html.Sup(label, className="ms-1 text-muted small", style=NO_WRAP)],
                    style=style,
                    className=class_name,
                    title=label,
                )
            )
            index = end
        else:
            children.append(_word(words[index], index == highlight))
            index += 1
        children.append(" ")
    return html.Div(children, id=id_prefix, className="span-line", style={"lineHeight": "2.2em"})


CHANGED_SHADOW = "0 0 0 3px #9467bd"  # a span whose outcome differs between the two models compared


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


def findings_note(findings: pd.DataFrame | None, review_href: str | None, *, limit: int = 3):
    """The example's suspected label errors (best first) with their fixes, and a link to review them (None
    without findings)."""
    if findings is None or findings.empty:
        return None
    items = [
        html.Li(
            [
                dbc.Badge(row.kind, color="warning", text_color="dark", className="me-2"),
                f"“{row.text}”: {spans_text(row.gold_spans)} → {spans_text(row.fix_spans)} · score {row.score:.2f}",
                html.Div(row.evidence, className="text-muted"),
            ]
        )
        for row in findings.head(limit).itertuples()
    ]
    link = (
        html.A("Review this example (f applies the first fix)", href=review_href, className="inspector-review-link")
        if review_href
        else None
    )
    return html.Div(
        [html.H6("Suspected label errors"), html.Ul(items, className="small mb-1"), link],
        className="mb-2 inspector-findings",
    )


def spans_text(spans) -> str:
    parts = [str(text).split(",", 2) for text in spans]
    return ", ".join(f"{kind} {start}–{int(end) - 1}" for start, end, kind in parts) or "no entity"


def render_inspector(
    view: ExampleView | None,
    *,
    types,
    highlight: int | None = None,
    findings: pd.DataFrame | None = None,
    review_href: str | None = None,
):
    """Title and body of the inspector for ``view`` (None: the example does not exist); ``findings`` are the
    example's suspected label errors, ``review_href`` the Review section showing it."""
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
            findings_note(findings, review_href),
            word_table(view, highlight=highlight),
            label_quality_note(view),
            explain_panel("inspector", words=words, gold=[str(label) for label in view.words["gold"]]),
        ],
        id="inspector-content",
    )
    return title, body


def render_paired_inspector(
    view_a: ExampleView | None,
    view_b: ExampleView | None,
    transitions: pd.DataFrame,
    *,
    types,
    names: tuple[str, str],
    highlight: int | None = None,
):
    """Title and body of the inspector comparing two models on one example: the gold spans with how their
    outcome changed from A to B, A's and B's predicted spans (changed ones emphasised), and the words
    with both predictions.

    ``transitions`` are this example's rows of :func:`explainer.analysis.compare.span_transitions`.
    """
    if view_a is None or view_b is None:
        return "Example not found", dbc.Alert("There is no example with that id in these caches.", color="warning")
    example_a, example_b = view_a.example, view_b.example
    words = list(view_a.words["word"])
    colours = type_colours(types)
    gold_rows = transitions[transitions["gold"]]
    notes = {(int(r.start), int(r.end)): r.transition for r in gold_rows.itertuples() if r.transition != BOTH_RIGHT}
    changed_rows = transitions[transitions["transition"].isin(CHANGED)]
    changed_gold = {(int(r.start), int(r.end)) for r in changed_rows[changed_rows["gold"]].itertuples()}
    pred_a, pred_b = set(view_a.pred_spans), set(view_b.pred_spans)
    only_a = {(start, end) for start, end, _ in pred_a - pred_b}
    only_b = {(start, end) for start, end, _ in pred_b - pred_a}
    title = f"Example {example_a['example_id']}: {names[0]} (A) vs {names[1]} (B)"
    counts = changed_rows["transition"].value_counts()
    summary = html.Div(
        [
            html.Span(f"source {example_a.get('source', '')}", className="me-3"),
            html.Span(f"total loss {example_a['total_loss']:.3f} → {example_b['total_loss']:.3f}", className="me-3"),
            html.Span(f"entity F1 {example_a['f1']:.2f} → {example_b['f1']:.2f}", className="me-3"),
            *[
                html.Span(f"{name} {int(counts.get(name, 0))}", className="me-3", id=f"inspector-count-{index}")
                for index, name in enumerate(CHANGED)
            ],
        ],
        className="text-muted small mb-2",
    )
    lines = [
        ("Gold (how each span changed from A to B)", view_a.gold_spans, view_a, "gold", notes, changed_gold),
        (f"Predicted by A · {names[0]}", view_a.pred_spans, view_a, "pred", None, only_a),
        (f"Predicted by B · {names[1]}", view_b.pred_spans, view_b, "pred", None, only_b),
    ]
    body: list[Component] = [summary]
    for (heading, spans, view, source, line_notes, emphasised), prefix in zip(
        lines, ("inspector-gold", "inspector-pred-a", "inspector-pred-b")
    ):
        body += [
            html.H6(heading, className="mt-2"),
            span_line(
                words,
                spans,
                colours=colours,
                marks=span_error_by_word(view.errors, source=source),
                highlight=highlight,
                id_prefix=prefix,
                notes=line_notes,
                changed=emphasised,
            ),
        ]
    body += [
        html.Div(
            [
                html.Span("changed outcome", style={"boxShadow": CHANGED_SHADOW, "padding": "0 4px"}, className="me-3"),
                *error_legend().children,
            ],
            className="small mb-2",
        ),
        paired_word_table(view_a, view_b, highlight=highlight),
    ]
    return title, html.Div(body, id="inspector-content")


def paired_word_table(view_a: ExampleView, view_b: ExampleView, *, highlight: int | None) -> dbc.Table:
    """One row per word: gold, A's and B's predicted tags and losses; rows where the models differ marked."""
    header = html.Thead(html.Tr([html.Th(h) for h in ("#", "word", "gold", "A", "B", "loss A", "loss B")]))
    rows = []
    for a, b in zip(view_a.words.itertuples(), view_b.words.itertuples()):
        differs = a.pred != b.pred
        rows.append(
            html.Tr(
                [
                    html.Td(a.word_index),
                    html.Td(a.word),
                    html.Td(a.gold),
                    html.Td(a.pred, className="text-danger" if a.pred != a.gold else None),
                    html.Td(b.pred, className="text-danger" if b.pred != b.gold else None),
                    html.Td(f"{a.loss:.3f}"),
                    html.Td(f"{b.loss:.3f}"),
                ],
                className="table-warning" if a.word_index == highlight else ("table-info" if differs else None),
            )
        )
    return dbc.Table(
        [header, html.Tbody(rows)], size="sm", hover=True, bordered=False, className="inspector-words-paired"
    )


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
