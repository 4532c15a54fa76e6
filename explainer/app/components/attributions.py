"""The attributions panel: an "Explain" control, a heatmap of targets x inputs, and shaded text.

A panel explains one text. It can sit anywhere (Probing puts one under each probed line, the
sample inspector one under its example): ``explain_panel(key, text=...)`` or ``words=...``.
Elsewhere on the page, ``token_button(key, position)`` explains a single subword of that panel's
text. The callbacks use pattern-matching ids, so any number of panels work side by side; they are
registered once per app by :func:`register_callbacks` (the Probing section does it).

The model is resolved from the cache in the URL, never from anything the browser sends; the text
is the panel's own and is checked against the probing limits. Every piece of text is rendered as
component children (escaped), never as HTML. torch is imported inside the callback only.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, dcc, html, no_update
from dash.dependencies import Wildcard

from explainer.app.components.clicks import fired
from explainer.errors import ExplainerError
from explainer.figures.attributions import attribution_heatmap, diverging_colour, position_labels, text_colour

EXPLAIN = "attr-explain"
TOKEN = "attr-token"
SOURCE = "attr-source"
PRESET = "attr-preset"
IGNORED = "attr-ignored"
TARGET_CLASS = "attr-class"
CONTRAST = "attr-contrast"
LEVEL = "attr-level"
DATA = "attr-data"
RESULT = "attr-result"
SCOPE = "attr-scope"
WHY = "attr-why"
ENTITIES, EVERYTHING = "entities", "all"
# The apps register_callbacks has added the callbacks to (weakly held: an app that goes away leaves).
_APPS_WITH_CALLBACKS: weakref.WeakSet[dash.Dash] = weakref.WeakSet()


def _id(kind: str, key: str | Wildcard, **extra: object) -> dict[str, object]:
    return {"type": kind, "panel": key, **extra}


def token_button(key: str, position: int, *, label: str = "explain") -> dbc.Button:
    """A small button that explains subword ``position`` of panel ``key``'s text alone."""
    return dbc.Button(
        label,
        id=_id(TOKEN, key, position=int(position)),
        size="sm",
        color="link",
        className="p-0 attr-token-button",
        n_clicks=0,
    )


def why_not_button(key: str, word_index: int, *, predicted: str, gold: str) -> dbc.Button:
    """One click: why word ``word_index`` was predicted ``predicted`` rather than its ``gold`` label (the contrast)."""
    return dbc.Button(
        f"why {predicted}, not {gold}?",
        id=_id(WHY, key, word=int(word_index), contrast=str(gold)),
        size="sm",
        color="link",
        className="p-0 attr-why-button",
        n_clicks=0,
    )


def explain_panel(
    key: str, *, text: str | None = None, words: list[str] | None = None, gold: list[str] | None = None
) -> html.Div:
    """An Explain control and the place its results appear, for free ``text`` or an example's ``words``.

    Parameters
    ----------
    key : str
        Unique on the page (e.g. ``"probe-3"``, ``"inspector"``); ties buttons and results together.
    gold : list of str, optional
        The words' gold labels: Explain's default scope then keeps missed entities too.
    """
    from explainer.inference.attributions import DEFAULT_PRESET, PRESETS

    source: dict[str, Any] = {"text": text} if words is None else {"words": [str(word) for word in words]}
    if gold is not None:
        source["gold"] = [str(label) for label in gold]
    presets = [{"label": f"{name} ({preset.n_steps} points)", "value": name} for name, preset in PRESETS.items()]
    controls = html.Div(
        [
            dbc.Button(
                "Explain",
                id=_id(EXPLAIN, key),
                color="secondary",
                size="sm",
                n_clicks=0,
                className="me-3 attr-explain-button",
            ),
            dbc.RadioItems(
                id=_id(PRESET, key), options=presets, value=DEFAULT_PRESET, inline=True, className="me-3 small"
            ),
            html.Div(
                dcc.Dropdown(id=_id(IGNORED, key), multi=True, placeholder="ignore subwords predicted as..."),
                style={"minWidth": "220px"},
                className="me-2",
            ),
            html.Div(
                dcc.Dropdown(id=_id(TARGET_CLASS, key), placeholder="class: predicted"),
                style={"minWidth": "150px"},
                className="me-2",
            ),
            html.Div(
                dcc.Dropdown(id=_id(CONTRAST, key), placeholder="and not: (none)"),
                style={"minWidth": "150px"},
                className="me-3",
            ),
            dbc.RadioItems(
                id=_id(SCOPE, key),
                options=[
                    {"label": "entities and errors", "value": ENTITIES},
                    {"label": "every subword (O, special, IGN)", "value": EVERYTHING},
                ],
                value=ENTITIES,
                inline=True,
                className="me-3 small",
            ),
            dbc.RadioItems(
                id=_id(LEVEL, key),
                options=[{"label": "subwords", "value": "subwords"}, {"label": "words", "value": "words"}],
                value="subwords",
                inline=True,
                className="small",
            ),
        ],
        className="d-flex flex-wrap align-items-center gap-1",
    )
    return html.Div(
        [
            dcc.Store(id=_id(SOURCE, key), data=source),
            dcc.Store(id=_id(DATA, key)),
            controls,
            dcc.Loading(html.Div(id=_id(RESULT, key), className="mt-2 attr-result"), delay_show=200),
        ],
        className="attr-panel mt-2",
    )


def render_result(data: dict | None, *, level: str = "subwords") -> list:
    """The children of a panel's result area for one explained text (or its error)."""
    if not data:
        return []
    if data.get("error"):
        return [dbc.Alert(data["error"], color="danger", className="py-2 mb-0")]
    targets = data["targets"]
    if not targets:
        return [
            dbc.Alert(
                "Nothing to explain: no word is predicted as an entity or mislabelled, and every other subword is "
                "left out (choose “every subword” to explain O, special tokens and IGN positions).",
                color="warning",
                className="py-2 mb-0",
            )
        ]
    words = level == "words"
    columns = data["word_columns"] if words else data["tokens"]
    column_labels = columns if words else position_labels(columns)
    if words:  # distinct axis labels when a word repeats
        column_labels = [f"{index} {name}" for index, name in enumerate(columns)]
    values = [t["word_attributions" if words else "attributions"] for t in targets]
    rows = [f"{t['position']} {t['token']} → {_explained(t)}" for t in targets]
    worst = max(abs(t["delta"]) for t in targets)
    summary = html.Div(
        [
            html.Span(f"{len(targets)} target{'s' if len(targets) != 1 else ''}", className="me-3"),
            html.Span(_points(data), className="me-3 attr-points"),
            html.Span(
                f"completeness error ≤ {worst:.1e}",
                className="me-3 attr-delta",
                title="|sum of raw attributions − (score on the text − score on the baseline)|",
            ),
            html.Span(f"{data.get('seconds', 0):.2f} s", className="me-3"),
            html.Span("red: towards the class · blue: away from it", className="text-muted"),
        ],
        className="small mb-1",
    )
    figure = attribution_heatmap(
        values, columns=column_labels, rows=rows, row_positions=[t["position"] for t in targets]
    )
    lines = [shaded_line(columns, t, values=value) for t, value in zip(targets, values)]
    return [
        summary,
        *_missed_warning(data),
        dcc.Graph(figure=figure, config={"displaylogo": False}, className="attr-heatmap"),
        html.Div(lines, className="attr-lines"),
    ]


def _points(data: dict) -> str:
    """'8 gausslegendre points', or with refinement '8 gausslegendre points, 3 targets refined (up to 64)'."""
    text = f"{data['n_steps']} {data['method']} points"
    refined = data.get("refined") or 0
    if refined:
        text += f", {refined} target{'s' if refined != 1 else ''} refined (up to {data.get('max_steps_used')})"
    return text


def _missed_warning(data: dict) -> list:
    """An alert naming the targets whose completeness error is still above the tolerance, if any."""
    missed = [t for t in data["targets"] if t.get("within_tolerance") is False]
    if not missed:
        return []
    tolerance = data.get("tolerance") or 0
    names = ", ".join(
        f"{t['position']} {t['token']} (error {abs(t['delta']):.2f} of score {t['score_input']:.2f})" for t in missed
    )
    return [
        dbc.Alert(
            f"{len(missed)} target{'s' if len(missed) != 1 else ''} still miss{'es' if len(missed) == 1 else ''} "
            f"the completeness tolerance ({tolerance:.0%} of the score) at {data.get('max_steps_used')} points: "
            f"{names}. Their attributions are approximate; the full preset or a shorter text may do better.",
            color="warning",
            className="py-1 px-2 mb-1 small attr-missed",
        )
    ]


def _explained(target: dict) -> str:
    return target["label"] + (f" − {target['contrast']}" if target.get("contrast") else "")


def shaded_line(columns: list[str], target: dict, *, values: list[float]) -> html.Div:
    """One target's text, each token on a background shaded by its attribution (escaped text)."""
    scale = max((abs(v) for v in values), default=0.0)
    tokens = [
        html.Span(
            name,
            title=f"{value:+.3f}",
            className="attr-token",
            style={
                "backgroundColor": diverging_colour(value, scale=scale),
                "color": text_colour(value, scale=scale),
                "padding": "1px 3px",
                "margin": "0 1px",
                "borderRadius": "3px",
            },
        )
        for name, value in zip(columns, values)
    ]
    missed = " ⚠ completeness error above tolerance" if target.get("within_tolerance") is False else ""
    head = html.Span(
        f"{target['position']} {target['token']} → {_explained(target)} "
        f"(predicted {target['predicted']} {target['probability']:.2f}){missed}",
        className="attr-target me-2 text-muted small",
    )
    # A data-* attribute can only be passed through ** (Dash's **kwargs are untyped, its named props typed).
    data_attributes: dict[str, Any] = {"data-position": str(int(target["position"]))}
    return html.Div([head, html.Span(tokens)], className="attr-line mb-1", **data_attributes)


def run_explanation(
    context,
    search,
    source: dict,
    *,
    preset: str,
    ignored_labels,
    target_label,
    contrast_label,
    positions=None,
    word_indexes=None,
    entities_only: bool = False,
) -> dict:
    """Explain a panel's text with the cache's model; a dict for the panel's store (``error`` on failure)."""
    from explainer.inference.attributions import PRESETS, explain
    from explainer.inference.model import LiveSettings, live_model, model_id_for

    try:
        settings = LiveSettings.from_env()
        _check_length(source, max_chars=settings.max_chars)
        cache = context.cache(search)
        name, revision = model_id_for(cache.manifest, settings=settings)
        live = live_model(name, revision=revision, settings=settings)
        chosen = PRESETS.get(preset) or PRESETS["fast"]
        start = time.perf_counter()
        result = explain(
            live,
            text=source.get("text"),
            words=source.get("words"),
            positions=positions,
            word_indexes=word_indexes,
            entities_only=entities_only,
            gold=source.get("gold"),
            ignored_labels=ignored_labels or None,
            target_label=target_label or None,
            contrast_label=contrast_label or None,
            n_steps=chosen.n_steps,
            method=chosen.method,
            tolerance=chosen.tolerance,
            max_steps=chosen.max_steps,
        )
        data = result.to_dict()
        data["seconds"] = time.perf_counter() - start
        return data
    except ExplainerError as error:
        return {"error": str(error)}


def _check_length(source: dict, *, max_chars: int) -> None:
    text = source.get("text") if source.get("words") is None else " ".join(map(str, source.get("words") or []))
    if not text or not str(text).strip():
        raise ExplainerError("no text to explain")
    if len(str(text)) > max_chars:
        raise ExplainerError(
            f"{len(str(text))} characters: at most {max_chars} can be explained at once "
            "(the limit is EXPLAINER_PROBE_MAX_CHARS)"
        )


def register_callbacks(app: dash.Dash, context) -> None:
    """Add the panels' callbacks to ``app`` (once; later calls do nothing)."""
    if app in _APPS_WITH_CALLBACKS:
        return
    _APPS_WITH_CALLBACKS.add(app)

    @app.callback(
        Output(_id(IGNORED, MATCH), "options"),
        Output(_id(TARGET_CLASS, MATCH), "options"),
        Output(_id(CONTRAST, MATCH), "options"),
        Input(_id(SOURCE, MATCH), "data"),
        State("url", "search"),
    )
    def fill_label_options(_source, search):
        try:
            labels = list(context.cache(search).manifest.get("labels", []))
        except ExplainerError:
            labels = []
        return labels, labels, labels

    @app.callback(
        Output(_id(DATA, MATCH), "data"),
        Input(_id(EXPLAIN, MATCH), "n_clicks"),
        Input(_id(TOKEN, MATCH, position=ALL), "n_clicks"),
        Input(_id(PRESET, MATCH), "value"),
        Input(_id(WHY, MATCH, word=ALL, contrast=ALL), "n_clicks"),
        State(_id(SOURCE, MATCH), "data"),
        State(_id(IGNORED, MATCH), "value"),
        State(_id(TARGET_CLASS, MATCH), "value"),
        State(_id(CONTRAST, MATCH), "value"),
        State(_id(DATA, MATCH), "data"),
        State(_id(SCOPE, MATCH), "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def explain_text(
        _clicks,
        _token_clicks,
        preset,
        _why_clicks,
        source,
        ignored,
        target_label,
        contrast_label,
        previous,
        scope,
        search,
    ):
        # A button appearing fires with n_clicks 0: only a click or a new preset is an action.
        event = fired(dash.ctx.triggered) or fired(dash.ctx.triggered, prop="value", type=PRESET)
        if event is None or not isinstance(event.id, dict):
            return no_update
        triggered = event.id
        positions, word_indexes = None, None
        if triggered.get("type") == TOKEN:
            positions = [int(triggered["position"])]
        elif triggered.get("type") == WHY:  # the predicted label against the gold one, at that word
            word_indexes, target_label, contrast_label = [int(triggered["word"])], None, str(triggered["contrast"])
        elif triggered.get("type") == PRESET:
            if not previous or previous.get("error"):
                return no_update  # switching the preset recomputes only what is already shown
            options = previous.get("options") or {}
            positions, word_indexes = options.get("positions"), options.get("word_indexes")
            contrast_label = options.get("contrast") or contrast_label
        data = run_explanation(
            context,
            search,
            source or {},
            preset=preset,
            ignored_labels=ignored,
            target_label=target_label,
            contrast_label=contrast_label,
            positions=positions,
            word_indexes=word_indexes,
            entities_only=(scope or ENTITIES) == ENTITIES,
        )
        options = data.setdefault("options", {})
        options.update(positions=positions, word_indexes=word_indexes)
        if triggered.get("type") == WHY:
            options["contrast"] = contrast_label
        return data

    @app.callback(
        Output(_id(RESULT, MATCH), "children"), Input(_id(DATA, MATCH), "data"), Input(_id(LEVEL, MATCH), "value")
    )
    def show_result(data, level):
        return render_result(data, level=level or "subwords")
