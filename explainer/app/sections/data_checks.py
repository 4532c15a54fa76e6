"""Data checks: what the build found wrong or risky in the dataset and in what the tokenizer makes of it.

Each check of explainer/analysis/data_checks.py is a row (its count and what to do); "Show" lists the
examples it points at as aligned cards, each one click away from the inspector. The checked check is in
the URL (``chk_check``), so a link shows its examples. The findings are the build step ``data_checks``'s
(explainer/pipeline/data_checks.py); a cache built before it says how to rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, html, no_update

from explainer.analysis.data_checks import MAX_LOCATIONS, WORD_LEVEL
from explainer.app.components.aligned import example_cards, register_open_buttons
from explainer.app.components.clicks import clicked_field
from explainer.app.sections.base import DATA, Section, StrEnum, View, view_field
from explainer.cache.artefacts import Missing

MAX_CARDS = 20  # examples shown for a check (its count says how many there are)
SHOW_TYPE = "data_checks-show"  # pattern-matching id type of the Show buttons: {"type", "check"}
TITLES = {
    "shared_affix": "Prefix or suffix on most words",
    "unknown_token": "Words read as the unknown token",
    "no_subword": "Words that become no subword",
    "long_split": "Words split into many subwords",
    "normaliser_case": "Normaliser: case removed",
    "normaliser_accents": "Normaliser: accents removed",
    "normaliser_unicode_form": "Normaliser: Unicode form changed",
    "normaliser_other": "Normaliser: other changes",
    "i_after_o": "I- after O or another type",
    "long_entity": "Long gold entities",
    "type_without_spans": "Dataset types with no gold span",
    "model_type_absent": "Model types absent from the data",
    "type_dropped_by_map": "Types the label map drops",
    "duplicate_example": "Duplicate examples",
    "empty_example": "Empty examples (skipped)",
    "windowed_example": "Examples longer than the model's window",
}


class Ids(StrEnum):
    TABLE = "data_checks-table"
    EXAMPLES = "data_checks-examples"


@dataclass(frozen=True)
class ChecksView(View, prefix="chk"):
    check: str = view_field("")  # the check whose examples are listed; "" for none


def show_button_id(check: str) -> dict[str, str]:
    return {"type": SHOW_TYPE, "check": check}


def check_table(findings: Any) -> dbc.Table:
    """One row per check: its title, count, message, and a Show button when it points at examples."""
    rows = []
    for finding in findings.itertuples(index=False):
        fired = finding.count > 0
        show = (
            dbc.Button(
                "Show",
                id=show_button_id(finding.check),
                size="sm",
                color="secondary",
                outline=True,
                className=f"data-checks-show-{finding.check}",
            )
            if fired and finding.example_ids
            else None
        )
        rows.append(
            html.Tr(
                [
                    html.Td(TITLES.get(finding.check, finding.check), className="fw-semibold" if fired else None),
                    html.Td(f"{finding.count:,}", className="text-end"),
                    html.Td(finding.message if fired else "", className="small"),
                    html.Td(show),
                ],
                className=None if fired else "text-muted",
            )
        )
    head = html.Thead(
        html.Tr([html.Th("check"), html.Th("count", className="text-end"), html.Th("what to do"), html.Th()])
    )
    return dbc.Table([head, html.Tbody(rows)], id=Ids.TABLE, size="sm", hover=True)


def examples_view(cache: Any, findings: Any, check: str) -> list[Any]:
    """The first MAX_CARDS examples ``check`` points at, as cards, each under the words it flags."""
    chosen = findings[findings["check"] == check]
    if not check or chosen.empty:
        return []
    finding = chosen.iloc[0]
    words: dict[int, list[int]] = {}
    for example_id, word_index in zip(finding["example_ids"], finding["word_indexes"]):
        words.setdefault(int(example_id), [])
        if word_index != WORD_LEVEL:
            words[int(example_id)].append(int(word_index))
    shown = list(words)[:MAX_CARDS]
    cards = example_cards(cache, shown, section_key=SECTION.key)
    body: list[Any] = [
        html.H5(TITLES.get(check, check), className="mt-3"),
        html.P(
            f"{len(shown)} of the {len(words):,} examples it points at (the build keeps the first {MAX_LOCATIONS} "
            f"of its {int(finding['count']):,} places); Inspect opens one in the inspector.",
            className="text-muted small",
        ),
    ]
    for example_id, card in zip(shown, cards):
        flagged = words[example_id]
        if flagged:
            body.append(html.Div(f"word(s) {', '.join(map(str, flagged))}", className="small text-muted"))
        body.append(card)
    return body


def layout(cache: Any, state: dict[str, str]) -> html.Div:
    findings = cache.data_checks()
    if isinstance(findings, Missing):
        return html.Div(dbc.Alert(findings.reason, color="secondary"))
    view = ChecksView.from_query(state)
    return html.Div(
        [
            html.P(
                "What the build checked in the dataset and in what the model's tokenizer makes of its words. "
                "A count above zero explains errors elsewhere; Show lists the examples.",
                className="text-muted small",
            ),
            check_table(findings),
            html.Div(examples_view(cache, findings, view.check), id=Ids.EXAMPLES),
        ]
    )


def clicked_check(triggered: list[dict[str, Any]] | None) -> str | None:
    """The check of the Show button really clicked, or None (buttons appearing are no click)."""
    check = clicked_field(triggered, "check", type=SHOW_TYPE)
    return None if check is None else str(check)


def show_clicked(context: Any, triggered: list[dict[str, Any]] | None, search: str | None) -> tuple[Any, Any]:
    """Callback body: a Show button -> (that check's example cards, the URL naming the check)."""
    check = clicked_check(triggered)
    if check is None:
        return no_update, no_update
    cache = context.cache(search)
    findings = cache.data_checks()
    if isinstance(findings, Missing):
        return no_update, no_update
    return examples_view(cache, findings, check), SECTION.link(search, check=check)


def register(app: Any, context: Any) -> None:
    @app.callback(
        Output(Ids.EXAMPLES, "children"),
        Output("url", "search", allow_duplicate=True),
        Input({"type": SHOW_TYPE, "check": ALL}, "n_clicks"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def on_show(_clicks: Any, search: str | None) -> tuple[Any, Any]:
        return show_clicked(context, dash.ctx.triggered, search)

    register_open_buttons(app, SECTION.key)


SECTION = Section(
    key="data_checks",
    label="Data checks",
    group=DATA,
    order=30,
    layout=layout,
    register=register,
    ids=Ids,
    view=ChecksView,
)
