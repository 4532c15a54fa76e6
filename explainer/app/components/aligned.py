"""Examples as aligned rows (word / subword / gold / predicted / loss / confidence / label quality),
shared by Samples by loss, Random samples and Data checks (Find duplicates draws its words over label
rows the same way). A card's header gives the example's scores: total loss, entity F1, label quality
(cleanlab's sentence score, on caches built with it) and confidence (its least certain word's
probability of the predicted label): the orders of Samples by loss and Random samples.

Each word is a block: the word over its subwords, each subword a column of its labels; the blocks
wrap into lines as text does, so a long example never runs off to the right. Subwords after a word's
first carry no label (IGN): they are shown, greyed, so the alignment the model saw is visible.

The blocks are drawn in the browser by ``assets/aligned.js`` from one JSON attribute per example
(``data-aligned``): a page of long examples is thousands of cells, and as Dash components each costs
the renderer about a millisecond on the main thread (3.8 s for the demo's first page of Samples by
loss); as plain DOM nodes the page takes a few milliseconds. The script sets every text with
``textContent``, so dataset text is text, never HTML.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import ALL, Input, Output, State, html, no_update

from explainer.analysis.examples import AlignedSubword, aligned_example, order_examples, rows_of
from explainer.analysis.label_quality import read_label_quality
from explainer.analysis.labels import IGN_LABEL
from explainer.app.components.clicks import clicked_field
from explainer.app.state import update_query

OPEN_TYPE = "open-sample"
ROW_HEADERS = ("word", "subword", "gold", "predicted", "loss", "confidence")
QUALITY_HEADER = "label quality"  # a last row on caches with label-quality scores
# A confidence or label quality below this is marked (class ``low``): a doubtful prediction, a suspect label.
LOW_SCORE = 0.5
# Loss cells are shaded in LOSS_SHADES steps up to LOSS_SATURATION (classes loss-1..loss-5 in assets/explainer.css).
LOSS_SATURATION = 4.0
LOSS_SHADES = 5
# The columns a card shows, per table: reading only these decodes far less than whole row groups.
CARD_COLUMNS = {
    "examples": ["example_id", "total_loss", "f1", "n_errors", "n_word_errors", "windowed"],
    "words": ["example_id", "word_index", "word", "gold", "pred", "loss", "prob_pred"],
    "subwords": ["example_id", "word_index", "position", "token", "label_id", "pred_id", "loss"],
}
# Classes a cell may carry (assets/explainer.css styles them).
MUTED, MISMATCH, CONFLICT, UNMATCHED, LOW = "ign", "mismatch", "conflict", "unmatched", "low"


def open_button_id(section_key: str, example_id) -> dict:
    """Id of the button that opens ``example_id`` in the inspector (one pattern per section)."""
    return {"type": OPEN_TYPE, "section": section_key, "index": example_id}


def loss_class(loss: float) -> str | None:
    """The shade of a loss cell: the nearest of ``loss-1`` (0.8) to ``loss-5`` (4 or more); None below 0.4."""
    shade = math.floor(min(loss / LOSS_SATURATION, 1.0) * LOSS_SHADES + 0.5)
    return f"loss-{shade}" if shade > 0 else None


def _loss_cell(loss: float, ignored: bool) -> list:
    if ignored or math.isnan(loss):
        return [IGN_LABEL, MUTED]
    return [f"{loss:.2f}", loss_class(loss) or ""]


def _score_cell(score: float, ignored: bool) -> list:
    """A probability-like score (confidence, label quality): ``low`` below LOW_SCORE, blank where unscored."""
    if ignored:
        return ["", MUTED]
    if math.isnan(score):
        return ["–", MUTED]
    return [f"{score:.2f}", LOW if score < LOW_SCORE else ""]


def aligned_blocks(headers, blocks: list, *, class_name: str = "", **attributes) -> html.Div:
    """The element ``assets/aligned.js`` fills: word blocks over labelled rows, wrapping into lines.

    ``headers`` names the rows (the first is the word's); ``blocks`` is one ``[word, word_class,
    columns]`` per word, ``columns`` a list of columns, each ``[[text, class], ...]`` for the rows
    after the first. Texts are strings the script sets as text (never parsed as HTML).
    """
    data = json.dumps({"headers": list(headers), "blocks": blocks}, ensure_ascii=False, separators=(",", ":"))
    # A data-* attribute can only be passed through ** (Dash's **kwargs are untyped, its named props typed).
    props: dict = {"data-aligned": data, **attributes}
    return html.Div(className=f"aligned-example {class_name}".strip(), **props)


def aligned_table(columns: list[AlignedSubword], *, scored: bool = False) -> html.Div:
    """The aligned rows of one example (``columns`` from ``explainer.analysis.examples.aligned_example``);
    ``scored``: a last row of label-quality scores (the cache has them).

    Subwords after a word's first have the class ``ign`` (greyed); a predicted label that differs
    from gold is ``mismatch``; a confidence or label quality below LOW_SCORE is ``low``.
    """
    blocks: list = []
    for column in columns:
        muted = "" if column.first else MUTED
        cells = [
            [column.token, muted],
            [column.gold, muted],
            [column.pred, MISMATCH if column.mismatch else muted],
            _loss_cell(column.loss, not column.first),
            _score_cell(column.confidence, not column.first),
        ]
        if scored:
            cells.append(_score_cell(column.label_quality, not column.first))
        if column.first or not blocks:
            blocks.append([column.word, "", [cells]])
        else:
            blocks[-1][2].append(cells)
    return aligned_blocks((*ROW_HEADERS, QUALITY_HEADER) if scored else ROW_HEADERS, blocks)


def _rows_of_examples(ids: np.ndarray, wanted: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, start of each row's example) in a table sorted by example id (``ids``) of the ``wanted`` examples."""
    wanted_ids = np.asarray(sorted(set(int(i) for i in wanted)), dtype=np.int64)
    starts, stops = np.searchsorted(ids, wanted_ids, "left"), np.searchsorted(ids, wanted_ids, "right")
    rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) if len(wanted_ids) else np.array([], int)
    return rows.astype(np.int64), np.repeat(starts, stops - starts)


def with_scores(cache, rows: dict) -> dict:
    """A page's rows (``CARD_COLUMNS`` tables) with the label-quality scores joined, when the cache has them:
    ``label_quality`` on each word and on each example (both tables are row-aligned with the scores)."""
    scores = read_label_quality(cache)
    if scores is None or rows["examples"].empty:
        return rows
    wanted = rows["examples"]["example_id"].tolist()
    word_ids = scores.words["example_id"].to_numpy(dtype=np.int64)
    found, starts = _rows_of_examples(word_ids, wanted)
    words = pd.DataFrame(
        {
            "example_id": word_ids[found],
            "word_index": (found - starts).astype(rows["words"]["word_index"].dtype),  # words in order within one
            "label_quality": scores.words["label_quality"].to_numpy()[found],
        }
    )
    example_ids = scores.examples["example_id"].to_numpy(dtype=np.int64)
    found, _ = _rows_of_examples(example_ids, wanted)
    examples = pd.DataFrame(
        {"example_id": example_ids[found], "label_quality": scores.examples["label_quality"].to_numpy()[found]}
    )
    return {
        **rows,
        "examples": rows["examples"].merge(examples, on="example_id", how="left"),
        "words": rows["words"].merge(words, on=["example_id", "word_index"], how="left"),
    }


def card_scores(rows: dict) -> pd.DataFrame:
    """The scores of a page's examples, one row each: ``example_id, total_loss, f1, label_quality, confidence``
    (NaN where there are none), so they order as ``explainer.analysis.examples.order_examples`` does."""
    examples = rows["examples"]
    frame = examples[["example_id", "total_loss", "f1"]].copy()
    frame["label_quality"] = examples.get("label_quality", np.nan)
    lowest = rows["words"].groupby("example_id")["prob_pred"].min()
    frame["confidence"] = frame["example_id"].map(lowest).astype(np.float64)
    return frame


def example_card(cache, example_id: int, *, section_key: str, rows: dict | None = None) -> dbc.Card:
    """One example: a header with its scores and an inspect button, then its aligned rows.

    ``rows``: the examples/words/subwords rows of a page of examples read at once (else read here).
    """
    if rows is None:
        read = {name: cache.example_rows(name, example_id, columns) for name, columns in CARD_COLUMNS.items()}
        rows = with_scores(cache, read)
    example = rows_of(rows["examples"], example_id).iloc[0]
    words = rows_of(rows["words"], example_id)
    columns = aligned_example(words, rows_of(rows["subwords"], example_id), labels=cache.labels)
    scored = "label_quality" in rows["words"]
    confidence = float(words["prob_pred"].min()) if len(words) else math.nan
    header = html.Div(
        [
            html.Strong(f"Example {example_id}", className="me-3"),
            html.Span(f"total loss {example['total_loss']:.2f}", className="me-3 text-nowrap card-score-loss"),
            html.Span(f"entity F1 {example['f1']:.2f}", className="me-3 text-nowrap"),
            _header_score("label quality", example.get("label_quality") if scored else None, "card-score-quality"),
            _header_score("confidence", confidence, "card-score-confidence"),
            html.Span(f"span errors {int(example['n_errors'])}", className="me-3 text-nowrap"),
            html.Span(f"word errors {int(example['n_word_errors'])}", className="me-3 text-nowrap"),
            dbc.Badge("windowed", color="info", className="me-3") if example["windowed"] else None,
            dbc.Button(
                "Inspect",
                id=open_button_id(section_key, int(example_id)),
                size="sm",
                color="primary",
                outline=True,
                className="ms-auto",
            ),
        ],
        className="d-flex flex-wrap align-items-center small",
    )
    return dbc.Card(
        [
            dbc.CardHeader(header),
            dbc.CardBody(aligned_table(columns, scored=scored), className="p-2"),
        ],
        className="mb-3 aligned-card",
        id=f"{section_key}-example-{example_id}",
    )


def _header_score(name: str, value, class_name: str):
    """``name value`` in a card's header (``low`` below LOW_SCORE), or None without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    low = " text-danger fw-semibold" if value < LOW_SCORE else ""
    return html.Span(f"{name} {value:.2f}", className=f"me-3 text-nowrap {class_name}{low}")


def example_cards(cache, example_ids, *, section_key: str, order: str | None = None) -> list:
    """Cards for ``example_ids``, in that order or sorted by ``order`` (one of
    ``explainer.analysis.examples.ORDERS``); an empty note when there are none."""
    example_ids = [int(example_id) for example_id in example_ids]
    rows = (
        with_scores(
            cache, {name: cache.example_rows(name, example_ids, columns) for name, columns in CARD_COLUMNS.items()}
        )
        if example_ids
        else None
    )
    if rows is not None and order is not None:
        example_ids = [int(example_id) for example_id in order_examples(card_scores(rows), order=order)]
    cards = [example_card(cache, example_id, section_key=section_key, rows=rows) for example_id in example_ids]
    return cards or [dbc.Alert("No examples to show.", color="secondary")]


def page_bar(component_id: str, *, n_pages: int, page: int, class_name: str = "mb-0") -> dbc.Pagination:
    """The compact pager above a page of example cards (Samples by loss, Find duplicates)."""
    return dbc.Pagination(
        id=component_id,
        max_value=n_pages,
        active_page=page,
        fully_expanded=False,
        first_last=True,
        previous_next=True,
        size="sm",
        className=class_name,
    )


def clicked_example(triggered: list[dict] | None, key: str = "index") -> int | None:
    """The example id (the button id's ``key``) of the open button really clicked, or None (buttons
    appearing are no click: ``explainer.app.components.clicks``)."""
    try:
        return int(clicked_field(triggered, key))
    except (TypeError, ValueError):
        return None


def open_sample(search: str | None, triggered: list[dict] | None, key: str = "index"):
    """Callback body: the URL with ``sample`` set to the clicked example (no_update if none was clicked)."""
    example_id = clicked_example(triggered, key)
    return no_update if example_id is None else update_query(search, sample=example_id, word=None)


def register_open_buttons(app, section_key: str) -> None:
    """The callback behind the Inspect buttons of ``section_key``'s cards."""

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(open_button_id(section_key, ALL), "n_clicks"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def open_clicked_example(_clicks, search):
        return open_sample(search, dash.ctx.triggered)
