"""Probing: the cache's model on free text, one text per line, and the attributions of its predictions.

The model is loaded on the first probe in each worker process (``explainer.inference``, imported
inside the callbacks so the other pages never load torch). Words whose predicted label has a
probability under the threshold are flagged and listed first in each text's table. The prefilled text
is probed when the tab opens; Probe, or Ctrl+Enter in the text (``assets/app-keys.js``), probes again.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from explainer.app.components.attributions import explain_panel, register_callbacks, token_button
from explainer.app.components.inspector import span_line
from explainer.app.sections.base import MODEL, Section, StrEnum
from explainer.errors import ExplainerError
from explainer.figures.palette import type_colours

DEFAULT_TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."


class Ids(StrEnum):
    TEXT = "probing-text"
    THRESHOLD = "probing-threshold"
    RUN = "probing-run"
    RESULTS = "probing-results"
    SUMMARY = "probing-summary"
    LINE = "probing-line"  # + the line's number: one card per probed line
    SPANS = "probing-spans"  # + the line's number


def entity_types(labels) -> list[str]:
    """'B-PER', 'I-PER', 'O' -> ['PER']."""
    return sorted({label.split("-", 1)[1] for label in labels if "-" in label})


def layout(cache, state):
    from explainer.inference.model import LiveSettings

    settings = LiveSettings.from_env()
    controls = dbc.Row(
        [
            dbc.Col(
                dbc.Textarea(
                    id=Ids.TEXT, value=DEFAULT_TEXT, rows=5, spellcheck=False, placeholder="One text per line"
                ),
                lg=9,
            ),
            dbc.Col(
                [
                    dbc.Label("Flag predictions with probability below", html_for=Ids.THRESHOLD, className="small"),
                    dbc.Input(
                        id=Ids.THRESHOLD,
                        type="number",
                        min=0,
                        max=1,
                        step=0.05,
                        value=0.5,
                        size="sm",
                        className="mb-2",
                    ),
                    dbc.Button("Probe", id=Ids.RUN, color="primary", n_clicks=0),
                ],
                lg=3,
            ),
        ],
        className="mb-2",
    )
    model = (cache.manifest.get("model") or {}).get("id", "?")
    note = html.P(
        f"One text per line (empty lines are ignored), at most {settings.max_lines} lines and "
        f"{settings.max_chars} characters. Model: {settings.model or model}.",
        className="text-muted small",
    )
    return html.Div([controls, note, dcc.Loading(html.Div(id=Ids.RESULTS), delay_show=200)])


def render_probe(texts, *, labels) -> list:
    """One card per probed text: predicted spans inline, the word table, and an attributions panel."""
    if not texts:
        return []
    colours = type_colours(entity_types(labels))
    n_low = sum(text.n_low_probability for text in texts)
    summary = html.P(
        f"{len(texts)} text{'s' if len(texts) != 1 else ''}, {n_low} low-probability "
        f"prediction{'s' if n_low != 1 else ''}.",
        className="small",
        id=Ids.SUMMARY,
    )
    return [summary] + [text_card(text, colours=colours) for text in texts]


def text_card(text, *, colours: dict) -> dbc.Card:
    key = f"probe-{text.line}"
    words = [word.text for word in text.words]
    badge = (
        dbc.Badge(f"{text.n_low_probability} low probability", color="warning", text_color="dark", className="ms-2")
        if text.n_low_probability
        else None
    )
    return dbc.Card(
        [
            dbc.CardHeader([html.Span(f"Line {text.line}"), badge]),
            dbc.CardBody(
                [
                    span_line(
                        words,
                        text.spans,
                        colours=colours,
                        marks={},
                        highlight=None,
                        id_prefix=f"{Ids.SPANS}-{text.line}",
                    ),
                    word_table(text, key=key),
                    explain_panel(key, text=text.text),
                ]
            ),
        ],
        className="mb-3 probing-text",
        id=f"{Ids.LINE}-{text.line}",
    )


def word_table(text, *, key: str) -> dbc.Table:
    header = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in ("#", "word", "subwords", "predicted", "probability", "runner-up", "probability", "", "")
            ]
        )
    )
    rows = []
    for word in text.words_for_inspection():
        flag = dbc.Badge("low probability", color="warning", text_color="dark") if word.low_probability else None
        rows.append(
            html.Tr(
                [
                    html.Td(word.index),
                    html.Td(word.text),
                    html.Td(" ".join(word.subwords), className="text-muted"),
                    html.Td(word.label),
                    html.Td(f"{word.probability:.3f}"),
                    html.Td(word.runner_up, className="text-muted"),
                    html.Td(f"{word.runner_up_probability:.3f}", className="text-muted"),
                    html.Td(flag),
                    html.Td(token_button(key, word.position)),
                ],
                className="table-warning" if word.low_probability else None,
            )
        )
    return dbc.Table([header, html.Tbody(rows)], size="sm", hover=True, className="probing-words mt-2 mb-1")


def register(app, context):
    register_callbacks(app, context)

    @app.callback(
        Output(Ids.RESULTS, "children"),
        Input(Ids.RUN, "n_clicks"),
        State(Ids.TEXT, "value"),
        State(Ids.THRESHOLD, "value"),
        State("url", "search"),
    )
    def run_probe(_n_clicks, text, threshold, search):
        # also when the tab opens (n_clicks 0): the prefilled text shows its result at once
        if not (text or "").strip():
            return no_update
        return probe_view(context, search, text, threshold)


def probe_view(context, search, text, threshold) -> list:
    """Probe ``text`` with the model of the cache in the URL; an alert with the reason on failure."""
    from explainer.inference.model import LiveSettings, live_model, model_id_for
    from explainer.inference.probe import DEFAULT_THRESHOLD, probe

    try:
        settings = LiveSettings.from_env()
        cache = context.cache(search)
        name, revision = model_id_for(cache.manifest, settings=settings)
        live = live_model(name, revision=revision, settings=settings)
        texts = probe(
            live,
            text or "",
            threshold=DEFAULT_THRESHOLD if threshold is None else float(threshold),
            max_lines=settings.max_lines,
            max_chars=settings.max_chars,
        )
    except ExplainerError as error:
        return [dbc.Alert(str(error), color="warning", className="probing-error")]
    return render_probe(texts, labels=live.labels)


SECTION = Section(key="probing", label="Probing", group=MODEL, order=10, layout=layout, register=register, ids=Ids)
