"""Misclassified, Loss, Samples by loss, Random samples and Raw data on a real tiny cache.

Layouts and callback bodies are called directly (no browser); the assertions compare what a
section shows with the cache's own tables.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from dash import dcc, html, no_update
from helpers import HOSTILE_WORDS, REPO_ROOT, strings, walk

from explainer.analysis.gridquery import example_of_row_id, page_rows
from explainer.analysis.label_quality import read_label_quality
from explainer.app.components import aligned
from explainer.app.components.aligned import open_button_id, open_sample
from explainer.app.components.grid import source
from explainer.app.factory import create_app
from explainer.app.sections import inspect, loss, misclassified, random_samples, raw_data, samples
from explainer.app.settings import Settings
from explainer.app.state import build_query, parse_query
from explainer.cache.schema import CORRECT


@pytest.fixture(scope="module")
def context(tiny_cache):
    app = create_app(Settings(cache=tiny_cache.parent))  # registers every section's callbacks
    return app.server.config["EXPLAINER_CONTEXT"]


@pytest.fixture(scope="module")
def cache(context):
    return context.cache(None)


def by_id(tree, component_id):
    found = [c for c in walk(tree) if getattr(c, "id", None) == component_id]
    assert len(found) == 1, component_id
    return found[0]


def search(**params) -> str:
    return build_query(params)


# --- Misclassified -----------------------------------------------------------------------------


def test_word_rows_are_the_words_whose_gold_differs_from_predicted(cache):
    rows = misclassified.word_rows(cache, {})
    words = cache.words
    expected = words[words["gold"] != words["pred"]]
    assert len(rows) > 0
    key = lambda frame: list(zip(frame["example_id"], frame["word_index"]))
    assert key(rows) == key(expected)
    assert (rows["gold"] != rows["pred"]).all()
    first = rows.iloc[0]
    assert f"[{first['word']}]" in first["context"]


def test_span_rows_carry_their_sentence_and_scores_and_group_by_surface_form(cache):
    rows = misclassified.span_rows(cache, {"mis_level": "span"})
    texts = cache.examples.set_index("example_id")["text"]
    assert (rows["sentence"].to_numpy() == texts.reindex(rows["example_id"]).to_numpy()).all()
    assert rows["loss"].notna().all() and rows["confidence"].between(0, 1).all()
    groups = misclassified.surface_rows(cache, {"mis_level": "surface"})
    assert groups["count"].sum() == len(rows) and groups["count"].is_monotonic_decreasing
    assert groups["row_id"].is_unique
    summary = misclassified.summary(cache, misclassified.MisclassifiedView(level="surface"))
    assert summary.endswith(f"in {len(groups):,} surface forms")


def test_span_rows_are_the_span_errors_but_correct_with_their_text(cache):
    rows = misclassified.span_rows(cache, {"mis_level": "span"})
    errors = cache.span_errors
    assert len(rows) == int((errors["category"] != CORRECT).sum()) > 0
    assert CORRECT not in set(rows["category"])
    for row in rows.head(30).itertuples():
        words = cache.examples.iloc[row.example_id]["words"]
        if pd.notna(row.gold_start):
            assert row.gold_text == " ".join(words[row.gold_start : row.gold_end])
        if pd.notna(row.pred_start):
            assert row.pred_text == " ".join(words[row.pred_start : row.pred_end])


def test_metrics_links_filter_misclassified(cache):
    word_link = parse_query("?tab=misclassified&mis_level=word&mis_gold=B-PER&mis_pred=O")
    rows = misclassified.rows(cache, word_link)
    words = cache.words
    assert len(rows) == int(((words["gold"] == "B-PER") & (words["pred"] == "O")).sum())
    span_link = parse_query("?tab=misclassified&mis_level=span&mis_category=missed&mis_type=PER")
    rows = misclassified.rows(cache, span_link)
    errors = cache.span_errors
    assert len(rows) == int(((errors["category"] == "missed") & (errors["type"] == "PER")).sum())
    assert set(rows["category"]) <= {"missed"} and set(rows["type"]) <= {"PER"}


def test_url_filters_restore_the_dropdowns_and_round_trip(context, cache):
    state = parse_query("?tab=misclassified&mis_level=span&mis_category=missed&mis_type=PER&mis_text=a")
    tree = misclassified.layout(cache, state)
    assert by_id(tree, "misclassified-level").value == "span"
    assert by_id(tree, "misclassified-category").value == "missed"
    assert by_id(tree, "misclassified-type").value == "PER"
    assert by_id(tree, "misclassified-text").value == "a"
    expected_rows = len(misclassified.rows(cache, state))
    assert by_id(tree, "misclassified-summary").children.startswith(f"{expected_rows:,} of ")
    # The user picks a gold type: the URL gets it, keeps the rest, and the summary follows.
    outputs = misclassified.update_filters(
        context, "span", "missed", "PER", "PER", None, "a", build_query(state), trigger="misclassified-gold"
    )
    new_state = parse_query(outputs[2])
    assert new_state == {**state, "mis_gold": "PER"}
    assert misclassified.MisclassifiedView.from_query(new_state) == misclassified.MisclassifiedView(
        level="span", category="missed", type="PER", gold="PER", pred=None, text="a"
    )
    assert outputs[1].startswith(f"{len(misclassified.rows(cache, new_state)):,} of ")


def test_switching_to_spans_turns_labels_into_types(context):
    outputs = misclassified.update_filters(
        context,
        "span",
        None,
        None,
        "B-PER",
        "O",
        None,
        search(tab="misclassified", mis_gold="B-PER", mis_pred="O"),
        trigger="misclassified-level",
    )
    table, _, url, gold_options, _, gold, pred, category_disabled, _ = outputs
    assert (gold, pred) == ("PER", None)
    assert parse_query(url) == {"tab": "misclassified", "mis_level": "span", "mis_gold": "PER"}
    assert {"label": "PER", "value": "PER"} in gold_options and not category_disabled
    assert "misclassified-spans" in json.dumps(table.to_plotly_json(), default=str)


def test_controls_echoing_the_url_change_nothing(context):
    current = search(tab="misclassified", mis_gold="B-PER")
    assert misclassified.update_filters(context, "word", None, None, "B-PER", None, "", current) == (no_update,) * 9


def test_new_filters_mount_a_new_grid():
    view = misclassified.MisclassifiedView
    first = misclassified.grid_block(view(level="word", gold="B-PER"))
    second = misclassified.grid_block(view(level="word", gold="I-PER"))
    assert first.id != second.id  # Dash keys components by id: a new id is a fresh grid, which re-requests rows
    assert first.id == misclassified.grid_block(view(level="word", gold="B-PER")).id


def test_a_misclassified_row_opens_the_inspector_on_its_word(cache):
    state = {"mis_gold": "B-PER"}
    answer = page_rows(source("misclassified-words")(cache, state), {"startRow": 0, "endRow": 50})
    ids = [row["row_id"] for row in answer["rowData"]]
    assert len(ids) == len(set(ids)) > 0
    example_id, word_index = example_of_row_id(ids[0])
    assert (example_id, word_index) == (answer["rowData"][0]["example_id"], answer["rowData"][0]["word_index"])
    span_rows = misclassified.span_rows(cache, {"mis_level": "span"})
    span_ids = page_rows(span_rows, {"startRow": 0, "endRow": 1000})["rowData"]
    assert len({row["row_id"] for row in span_ids}) == len(span_rows)  # one row per span error, each clickable


# --- Loss by token / label ---------------------------------------------------------------------


def test_loss_by_word_equals_a_groupby_of_the_words(cache):
    table = loss.word_rows(cache, {"loss_min": "1"}).set_index("word")
    words = cache.words
    expected = words.groupby("word")["loss"].agg(["size", "mean", "median", "sum"])
    assert len(table) == len(expected)
    joined = table.join(expected)
    assert (joined["count"] == joined["size"]).all()
    np.testing.assert_allclose(joined["mean_loss"], joined["mean"], rtol=1e-5)
    np.testing.assert_allclose(joined["median_loss"], joined["median"], rtol=1e-5)
    np.testing.assert_allclose(joined["total_loss"], joined["sum"], rtol=1e-5)
    assert loss.word_table(cache) is loss.word_table(cache)  # computed once per cache


def test_loss_by_word_lists_words_seen_often_enough_by_mean_loss(cache):
    counts = cache.words["word"].value_counts()
    assert set(loss.word_rows(cache, {})["word"]) == set(counts[counts >= 3].index)  # the default minimum
    assert set(loss.word_rows(cache, {"loss_min": "5"})["word"]) == set(counts[counts >= 5].index)
    grid = by_id(loss.layout(cache, {}), {"type": "grid", "name": loss.WORD_GRID})
    assert [c["field"] for c in grid.columnDefs if c.get("sort") == "desc"] == ["mean_loss"]
    block, url = loss.update_min_count(5, search(tab="loss"))
    assert parse_query(url)["loss_min"] == "5" and block.id.endswith("-5")
    assert loss.update_min_count(3, search(tab="loss")) == (no_update, no_update)  # the default, already shown


def test_loss_by_label_covers_every_gold_label(cache):
    table = loss.label_table(cache)
    assert set(table["gold"]) == set(cache.words["gold"])
    assert table["count"].sum() == len(cache.words)
    tree = loss.layout(cache, {})
    assert by_id(tree, "loss-labels").rowData[0]["gold"] == table["gold"].iloc[0]


def test_a_word_row_opens_the_examples_containing_it(cache):
    word = "Paris"
    url = loss.word_clicked({"rowId": f"word:{word}", "colId": "word"}, search(tab="loss", sample=3))
    state = parse_query(url)
    assert state == {"tab": "inspect", "ins_text": word}
    shown = inspect.inspect_rows(cache, state)
    assert len(shown) > 0 and all(word.lower() in text.lower() for text in shown["text"])
    assert example_of_row_id(f"word:{word}") == (None, None)  # the default click handler leaves it alone


def test_a_label_row_opens_its_misclassified_words(cache):
    state = parse_query(loss.label_clicked({"rowId": "B-LOC"}, search(tab="loss")))
    assert state == {"tab": "misclassified", "mis_level": "word", "mis_gold": "B-LOC"}
    rows = misclassified.rows(cache, state)
    assert set(rows["gold"]) == {"B-LOC"}
    assert loss.label_clicked(None, "?tab=loss") is no_update


# --- Samples by loss ---------------------------------------------------------------------------


def card_ids(cards) -> list[int]:
    return [int(card.id.rsplit("-", 1)[1]) for card in cards if getattr(card, "id", None)]


def test_samples_are_ordered_by_total_loss_and_paginated(cache):
    by_loss = cache.examples.sort_values(["total_loss", "example_id"], ascending=[False, True])["example_id"].tolist()
    tree = samples.layout(cache, {})
    assert card_ids(by_id(tree, "samples-cards").children) == by_loss[:10]
    tree = samples.layout(cache, {"smp_page": "2"})
    assert card_ids(by_id(tree, "samples-cards").children) == by_loss[10:20]
    assert by_id(tree, "samples-page").max_value == -(-len(by_loss) // 10)


def test_review_hardest_orders_by_f1_then_loss(cache):
    examples = cache.examples
    expected = examples.sort_values(["f1", "total_loss", "example_id"], ascending=[True, False, True])
    tree = samples.layout(cache, {"smp_order": "f1"})
    assert card_ids(by_id(tree, "samples-cards").children) == expected["example_id"].tolist()[:10]


def test_samples_order_by_label_quality_and_confidence_lowest_first(cache):
    scores = read_label_quality(cache)
    assert scores is not None  # the tiny cache is built with them
    quality = cache.examples[["example_id", "total_loss"]].merge(scores.examples[["example_id", "label_quality"]])
    expected = quality.sort_values(["label_quality", "total_loss", "example_id"], ascending=[True, False, True])
    tree = samples.layout(cache, {"smp_order": "label_quality"})
    assert card_ids(by_id(tree, "samples-cards").children) == expected["example_id"].tolist()[:10]
    lowest = cache.words.groupby("example_id")["prob_pred"].min().rename("confidence").reset_index()
    expected = cache.examples[["example_id", "total_loss"]].merge(lowest)
    expected = expected.sort_values(["confidence", "total_loss", "example_id"], ascending=[True, False, True])
    tree = samples.layout(cache, {"smp_order": "confidence"})
    assert card_ids(by_id(tree, "samples-cards").children) == expected["example_id"].tolist()[:10]


def test_a_card_shows_the_examples_scores_and_a_row_of_each(cache):
    example_id = int(read_label_quality(cache).examples["label_quality"].idxmin())
    card = random_samples.example_cards(cache, [example_id], section_key="samples")[0]
    texts = [node.children for node in walk(card) if isinstance(node, html.Span)]
    quality = float(read_label_quality(cache).examples["label_quality"].iloc[example_id])
    confidence = float(cache.words.loc[cache.words["example_id"] == example_id, "prob_pred"].min())
    assert f"label quality {quality:.2f}" in texts and f"confidence {confidence:.2f}" in texts
    (data,) = aligned_data(card)
    assert data["headers"] == [*aligned.ROW_HEADERS, "label quality"]
    words = cache.words[cache.words["example_id"] == example_id]
    shown = [column[4][0] for block in data["blocks"] for column in block[2][:1]]
    assert shown == [f"{p:.2f}" for p in words["prob_pred"]]  # each word's confidence, on its first subword


def test_a_random_draw_sorts_by_a_score_in_the_url(context, cache):
    drawn = card_ids(by_id(random_samples.layout(cache, {"rnd_seed": "11"}), "random_samples-cards").children)
    assert drawn == sorted(drawn)  # as drawn: by example id
    by_loss = card_ids(
        by_id(random_samples.layout(cache, {"rnd_seed": "11", "rnd_order": "loss"}), "random_samples-cards").children
    )
    losses = cache.examples.set_index("example_id").loc[by_loss, "total_loss"].tolist()
    assert sorted(by_loss) == drawn and losses == sorted(losses, reverse=True)
    cards, _, url = random_samples.update_view(
        context, 10, search(tab="random_samples", rnd_seed=11), new_draw=False, order="confidence"
    )
    assert parse_query(url)["rnd_order"] == "confidence" and sorted(card_ids(cards)) == drawn
    lowest = cache.words.groupby("example_id")["prob_pred"].min().loc[card_ids(cards)].tolist()
    assert lowest == sorted(lowest)


def test_changing_the_order_restarts_at_page_one(context):
    cards, page, n_pages, summary, url = samples.update_view(
        context, "f1", 4, search(tab="samples", smp_page=4), trigger="samples-order"
    )
    assert page == 1 and parse_query(url) == {"tab": "samples", "smp_page": "1", "smp_order": "f1"}
    assert summary.startswith("examples 1–10 of")
    assert samples.update_view(context, "loss", 2, search(smp_page=2), trigger=None) == (no_update,) * 5


def aligned_data(card) -> list[dict]:
    """The JSON of each aligned-rows element of ``card`` (what assets/aligned.js draws)."""
    return [
        json.loads(node.to_plotly_json()["props"]["data-aligned"])
        for node in walk(card)
        if isinstance(node, html.Div) and "aligned-example" in (node.className or "")
    ]


def test_aligned_rows_show_ign_subwords_and_escape_text(cache):
    hostile = int(cache.examples[cache.examples["text"].str.contains("<script>", regex=False)]["example_id"].iloc[0])
    card = random_samples.example_cards(cache, [hostile], section_key="samples")[0]
    (data,) = aligned_data(card)
    assert data["headers"][: len(aligned.ROW_HEADERS)] == list(aligned.ROW_HEADERS)
    words = [block[0] for block in data["blocks"]]
    for word in HOSTILE_WORDS:
        assert word in words  # a plain string the script sets as textContent
    cells = [cell for block in data["blocks"] for column in block[2] for cell in column]
    assert [aligned.IGN_LABEL, "ign"] in cells
    assert not any(isinstance(node, (html.Script, dcc.Markdown, html.Iframe)) for node in walk(card))
    n_subwords = int((cache.subwords.query("example_id == @hostile")["word_index"] >= 0).sum())
    assert sum(len(block[2]) for block in data["blocks"]) == n_subwords  # one column per subword
    assert len(words) == int((cache.words["example_id"] == hostile).sum())  # one block per word


def test_aligned_cells_are_styled_by_classes_the_stylesheet_defines(cache):
    example_id = int(cache.examples["n_subwords"].idxmax())
    card = random_samples.example_cards(cache, [example_id], section_key="samples")[0]
    (data,) = aligned_data(card)
    used = {cell[1] for block in data["blocks"] for column in block[2] for cell in column} - {""}
    used |= {block[1] for block in data["blocks"]} - {""}
    assert any(name.startswith("loss-") for name in used)
    stylesheet = (REPO_ROOT / "assets" / "explainer.css").read_text()
    for name in used:
        assert f".aligned-cell.{name}" in stylesheet, name
    assert [aligned.loss_class(loss) for loss in (0.0, 0.39, 0.41, 2.0, 3.9, 40.0)] == [
        None,
        None,
        "loss-1",
        "loss-3",
        "loss-5",
        "loss-5",
    ]


def test_a_page_of_samples_is_a_few_components_per_example(cache):
    """The cells travel as data: a page of the longest examples stays a few hundred components (was ~1,700,
    which kept the browser busy for a minute on a loaded machine)."""
    cards, *_ = samples.page_view(cache, order="loss", page=1)
    components = [node for node in walk(cards) if hasattr(node, "_type") or isinstance(node, dict)]
    cells = sum(
        len(column) for card in cards for data in aligned_data(card) for block in data["blocks"] for column in block[2]
    )
    assert cells > 1000 and len(components) < 20 * len(cards)


def test_samples_pages_are_rendered_once_per_cache(cache):
    first, *_ = samples.page_view(cache, order="loss", page=1)
    assert samples.page_view(cache, order="loss", page=1)[0] is first
    other, *_ = samples.page_view(cache, order="f1", page=1)
    assert other is not first
    for page in range(2, samples.RENDERED_PAGES + 2):  # more pages than are kept: page 1 of loss is dropped
        samples.page_view(cache, order="loss", page=page)
    again, *_ = samples.page_view(cache, order="loss", page=1)
    assert again is not first and card_ids(again) == card_ids(first)


def test_an_inspect_button_sets_the_sample(context):
    button = open_button_id("samples", 7)
    triggered = [{"prop_id": json.dumps(button, separators=(",", ":")) + ".n_clicks", "value": 1}]
    assert parse_query(open_sample("?tab=samples", triggered)) == {"tab": "samples", "sample": "7"}
    appearing = [{"prop_id": json.dumps(button) + ".n_clicks", "value": None}]  # new buttons, no click
    assert open_sample("?tab=samples", appearing) is no_update


# --- Random samples ----------------------------------------------------------------------------


def test_the_seed_in_the_url_fixes_the_draw(cache):
    first = card_ids(by_id(random_samples.layout(cache, {"rnd_seed": "11"}), "random_samples-cards").children)
    again = card_ids(by_id(random_samples.layout(cache, {"rnd_seed": "11"}), "random_samples-cards").children)
    other = card_ids(by_id(random_samples.layout(cache, {"rnd_seed": "12"}), "random_samples-cards").children)
    assert first == again and first != other and len(first) == 10 == len(set(first))


def test_a_new_draw_writes_its_seed_to_the_url(context, cache):
    cards, summary, url = random_samples.update_view(context, 5, search(tab="random_samples"), new_draw=True)
    state = parse_query(url)
    assert state["rnd_n"] == "5" and int(state["rnd_seed"]) >= 0
    assert card_ids(cards) == card_ids(by_id(random_samples.layout(cache, state), "random_samples-cards").children)
    assert random_samples.update_view(context, 10, search(rnd_seed=3), new_draw=False) == (no_update,) * 3


# --- Raw data ----------------------------------------------------------------------------------


def test_raw_data_shows_what_the_model_sees(cache):
    example_id = int(cache.examples["n_subwords"].idxmax())
    tree = raw_data.layout(cache, {"raw_id": str(example_id)})
    subwords = cache.subwords[cache.subwords["example_id"] == example_id]
    text = by_id(tree, "raw_data-inputs").children
    assert f"input_ids = {subwords['input_id'].tolist()!r}" in text
    assert f"labels = {subwords['label_id'].tolist()!r}" in text
    word_ids = [None if w < 0 else w for w in subwords["word_index"].tolist()]
    assert f"word_ids = {word_ids!r}" in text
    table = by_id(tree, "raw_data-table")
    assert len(table.children[1].children) == len(subwords)


def test_raw_data_follows_the_inspector_then_raw_id(cache):
    assert raw_data.chosen_id({}) == 0
    assert raw_data.chosen_id({"sample": "5"}) == 5
    assert raw_data.chosen_id({"sample": "5", "raw_id": "2"}) == 2
    assert by_id(raw_data.layout(cache, {"sample": "5"}), "raw_data-id").value == 5


def test_raw_data_explains_an_unknown_id(context, cache):
    content, url = raw_data.update_view(context, 10_000, search(tab="raw_data"))
    assert "ids go from 0 to" in " ".join(strings(content))
    content, url = raw_data.update_view(context, 4, search(tab="raw_data"))
    assert parse_query(url)["raw_id"] == "4"


# --- speed on a dataset of 250k words ------------------------------------------------------------


class FakeCache:
    """Just the attributes the sections read (a plain class: the per-cache memo keys it by weak reference)."""

    def __init__(self, **tables):
        self.__dict__.update(tables)
        if "examples" in tables:
            self.manifest = {"counts": {"examples": len(tables["examples"])}}

    def table(self, name, columns=None):
        frame = getattr(self, name)
        return frame if columns is None else frame[list(columns)]

    def example_rows(self, name, example_id, columns=None):
        from explainer.analysis.examples import rows_of

        frame = self.table(name, columns)
        if isinstance(example_id, (list, tuple)):
            return frame[frame["example_id"].isin(example_id)]
        return rows_of(frame, example_id)

    def precomputed(self, file_name, compute):
        return compute()  # no precomputed views: the sections compute them, as on an older cache

    def compact_table(self, file_name, mapped_text=(), skip=()):
        return None  # as precomputed: no view files

    def label_quality(self):
        from explainer.cache.artefacts import Missing

        return Missing("built without --label-quality")  # as a cache built without scores


def synthetic_cache(n_words: int = 250_000, seed: int = 0):
    """A cache-shaped object over random frames: ~14k examples, a Zipf vocabulary, 10% word errors."""
    rng = np.random.default_rng(seed)
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    lengths = rng.integers(3, 33, size=n_words // 8)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_words)]
    n, n_examples = int(lengths.sum()), len(lengths)
    example_ids = np.repeat(np.arange(n_examples), lengths)
    word_index = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    gold_id = rng.choice(len(labels), size=n, p=[0.84] + [0.02] * 8)
    pred_id = np.where(rng.random(n) < 0.1, rng.integers(0, len(labels), n), gold_id)
    names = np.array(labels, dtype=object)
    word = pd.Series(np.char.add("w", (rng.zipf(1.3, n) % 30_000).astype(str)), dtype="str")
    loss = rng.exponential(0.5, n).astype(np.float32)
    words = pd.DataFrame(
        {
            "example_id": example_ids,
            "word_index": word_index.astype(np.int32),
            "word": word,
            "gold": pd.Series(names[gold_id], dtype="str"),
            "pred": pd.Series(names[pred_id], dtype="str"),
            "gold_id": gold_id.astype(np.int16),
            "pred_id": pred_id.astype(np.int16),
            "loss": loss,
            "prob_pred": rng.random(n).astype(np.float32),
            "prob_gold": rng.random(n).astype(np.float32),
        }
    )
    subwords = words.rename(columns={"word": "token", "gold_id": "label_id"})[
        ["example_id", "word_index", "token", "label_id", "pred_id", "loss"]
    ].assign(position=word_index + 1, input_id=7, window=0)
    offsets = np.cumsum(lengths) - lengths
    text = pd.Series(
        [" ".join(chunk) for chunk in np.split(word.to_numpy(dtype=object), np.cumsum(lengths)[:-1])], dtype="str"
    )
    total = np.bincount(example_ids, weights=loss)
    examples = pd.DataFrame(
        {
            "example_id": np.arange(n_examples),
            "source": "synthetic",
            "text": text,
            "words": np.split(word.to_numpy(dtype=object), np.cumsum(lengths)[:-1]),
            "n_words": lengths,
            "word_offset": offsets,
            "windowed": False,
            "total_loss": total,
            "f1": rng.random(n_examples).round(1),
            "n_errors": 1,
            "n_word_errors": 1,
        }
    )
    span_rows = np.sort(rng.choice(n, size=n // 20, replace=False))
    starts, lengths_of_span = word_index[span_rows], lengths[example_ids[span_rows]]
    categories = np.array(["correct", "missed", "spurious", "wrong type", "boundary", "type and boundary"])
    as_int32 = lambda values: pd.array(values, dtype="Int32")
    span_errors = pd.DataFrame(
        {
            "example_id": example_ids[span_rows],
            "category": categories[rng.integers(0, 6, len(span_rows))],
            "type": "PER",
            "gold_start": as_int32(starts),
            "gold_end": as_int32(np.minimum(starts + 2, lengths_of_span)),
            "gold_type": "PER",
            "pred_start": as_int32(starts),
            "pred_end": as_int32(starts + 1),
            "pred_type": "LOC",
        }
    )
    return FakeCache(
        words=words,
        subwords=subwords,
        examples=examples,
        span_errors=span_errors,
        labels=labels,
        metrics={"entity_types": ["LOC", "MISC", "ORG", "PER"]},
    )


GRID_REQUEST = {
    "startRow": 50,
    "endRow": 100,
    "sortModel": [{"colId": "loss", "sort": "desc"}, {"colId": "total_loss", "sort": "desc"}],
    "filterModel": {},
}


def best_of(call, repeats: int = 5) -> float:
    """The fastest of ``repeats`` runs in ms (the shared test machines are noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


@pytest.mark.slow
def test_speed_on_250k_words():
    """Prints how long each section's main function takes (run with -s); not a timed assertion.

    "first call" runs on a fresh cache object, so it includes the once-per-cache tables; "later
    calls" reuse them, as the app does for every later request.
    """
    fake = synthetic_cache()
    calls = {
        "misclassified words": lambda c: misclassified.word_rows(c, {"mis_gold": "PER"}),
        "misclassified spans": lambda c: misclassified.span_rows(c, {"mis_level": "span", "mis_category": "missed"}),
        "misclassified grid page": lambda c: page_rows(misclassified.word_rows(c, {}), GRID_REQUEST),
        "loss by word": lambda c: loss.word_rows(c, {}),
        "loss by word grid page": lambda c: page_rows(loss.word_rows(c, {}), GRID_REQUEST),
        "loss by label": lambda c: loss.label_table(c),
        "samples by loss (page 3)": lambda c: samples.page_view(c, order="loss", page=3),
        "samples by F1 (page 1)": lambda c: samples.page_view(c, order="f1", page=1),
        "random samples": lambda c: random_samples.draw_view(c, seed=1, size=10),
        "raw data": lambda c: raw_data.raw_view(c, 123),
    }
    print(f"\n{len(fake.words):,} words, {len(fake.examples):,} examples; best of 3 / 5 runs")
    print(f"{'section function':28} {'first call ms':>14} {'later calls ms':>15}")
    for name, call in calls.items():
        first = best_of(lambda: call(FakeCache(**vars(fake))), repeats=3)
        assert call(fake) is not None
        print(f"{name:28} {first:14.1f} {best_of(lambda: call(fake)):15.1f}")
