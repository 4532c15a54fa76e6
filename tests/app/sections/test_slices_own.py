"""Your own slices on the tiny cache: made from pasted ids, a Misclassified or Inspect filter or an Embeddings
selection; listed in Slices with the scores of own_slice_scores; Misclassified and Inspect filter by them
(``mis_own``, ``ins_own``); one-line errors; deleted."""

from __future__ import annotations

import pytest
from dash import dcc, no_update
from helpers import strings, walk

from explainer.analysis.own_slices import own_slice_scores
from explainer.app.components import own_slices
from explainer.app.factory import create_app
from explainer.app.sections import embeddings, inspect, misclassified
from explainer.app.sections import slices as section
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache.own_slices import read_slices, slices_path


@pytest.fixture()
def app(tiny_cache, tmp_path):
    """The app with its own slices directory (EXPLAINER_CORRECTIONS_DIR), empty for each test."""
    return create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path))


@pytest.fixture()
def context(app):
    with app.server.test_request_context():  # grid sources find the app's settings as in a request
        yield app.server.config["EXPLAINER_CONTEXT"]


@pytest.fixture()
def cache(context):
    return context.cache(None)


def text_of(tree) -> str:
    return " ".join(strings(tree))


def links(tree) -> list[str]:
    return [node.href for node in walk(tree) if isinstance(node, dcc.Link)]


def test_pasted_ids_become_a_slice_listed_with_its_scores_beside_the_rest(context, cache, tmp_path):
    table, message, url = section.save_pasted(context, "first few", "0-3, 7", "?tab=slices")
    assert "Saved 'first few': 5 examples." in text_of(message)
    assert parse_query(url)["sl_own"] == "first few"
    saved = read_slices(slices_path(cache.path, tmp_path))
    assert [(item.name, item.examples, item.made_from) for item in saved] == [
        ("first few", (0, 1, 2, 3, 7), "pasted ids")
    ]
    assert not slices_path(cache.path).exists()  # the corrections directory, not beside the cache
    # The table and the selected slice's detail show own_slice_scores' numbers on the build's draws.
    results = cache.slices()
    expected = own_slice_scores(
        results.spans,
        {"first few": [0, 1, 2, 3, 7]},
        n_examples=cache.manifest["counts"]["examples"],
        draws=results.summary["draws"],
        seed=results.summary["seed"],
    ).iloc[0]
    shown = text_of(table)
    assert section.interval_text(expected["f1"], expected["f1_low"], expected["f1_high"]) in shown
    assert section.interval_text(expected["rest_f1"], expected["rest_f1_low"], expected["rest_f1_high"]) in shown
    assert "Your slice 'first few'" in shown
    chart = next(node for node in walk(table) if isinstance(node, dcc.Graph))
    assert chart.figure.data[0].x == ("first few", "rest of the dataset")
    # Each slice is one click from its errors and its examples.
    targets = [parse_query(link) for link in links(table)]
    assert {"tab": "misclassified", "mis_level": "span", "mis_own": "first few"}.items() <= targets[1].items()
    assert {"tab": "inspect", "ins_own": "first few"}.items() <= targets[2].items()
    # The same view from the URL.
    again = section.layout(cache, parse_query(url))
    assert "Your slice 'first few'" in text_of(again)


@pytest.mark.parametrize(
    "name, ids, says",
    [
        ("", "1", "slice name: empty"),
        ("<script>alert(1)</script>", "1", "use letters, digits"),
        ("ok", "1, two", "'two' is not an id"),
        ("ok", "999999", "999999 is not an example of this cache"),
        ("ok", "", "holds no example"),
    ],
)
def test_bad_names_and_ids_are_one_line_and_save_nothing(context, cache, tmp_path, name, ids, says):
    table, message, url = section.save_pasted(context, name, ids, "?tab=slices")
    assert table is no_update and url is no_update
    assert says in text_of(message) and "\n" not in text_of(message)
    assert read_slices(slices_path(cache.path, tmp_path)) == []


def test_a_name_is_saved_once(context):
    section.save_pasted(context, "twice", "1", "?tab=slices")
    _, message, _ = section.save_pasted(context, "Twice", "2", "?tab=slices")
    assert "a slice named 'Twice' exists" in text_of(message)


def test_misclassified_and_inspect_list_only_the_examples_of_a_slice(context, cache):
    section.save_pasted(context, "some", "1, 4, 6", "?tab=slices")
    for level in ("word", "span", "surface"):
        everything = misclassified.filtered(cache, misclassified.MisclassifiedView(level=level))
        mine = misclassified.filtered(cache, misclassified.MisclassifiedView(level=level, own="some"))
        if level != "surface":
            assert set(mine["example_id"]) == set(everything["example_id"]) & {1, 4, 6}
            assert len(mine) == int(everything["example_id"].isin([1, 4, 6]).sum())
        else:
            assert mine["count"].sum() == len(
                misclassified.filtered(cache, misclassified.MisclassifiedView(level="span", own="some"))
            )
    view = misclassified.MisclassifiedView(level="span", own="some")
    assert "in the examples of your slice 'some'" in misclassified.summary(cache, view)
    assert inspect.inspect_rows(cache, {"ins_own": "some"})["example_id"].tolist() == [1, 4, 6]
    assert "The 3 examples of your slice 'some'" in text_of(inspect.layout(cache, {"ins_own": "some"}))
    # A name no slice has matches nothing, and says so (as text: user input is never HTML).
    assert inspect.inspect_rows(cache, {"ins_own": "<b>gone</b>"}).empty
    assert "No slice named '<b>gone</b>'" in text_of(inspect.layout(cache, {"ins_own": "<b>gone</b>"}))


def test_a_misclassified_filter_with_the_grid_column_filter_becomes_a_slice(context, cache, tmp_path):
    spans = misclassified.filtered(cache, misclassified.MisclassifiedView(level="span"))
    kind = spans["type"].value_counts().index[0]
    request = {"filterModel": {"category": {"filterType": "text", "type": "equals", "filter": "missed"}}}
    search = f"?tab=misclassified&mis_level=span&mis_type={kind}"
    message = own_slices.save_from_view(
        context,
        "misclassified",
        misclassified.examples_of_view,
        "missed " + kind,
        search,
        {"misclassified-spans": request},
    )
    assert "Saved" in text_of(message)
    assert parse_query(links(message)[0]) == {"tab": "slices", "sl_own": f"missed {kind}"}
    expected = spans[(spans["type"] == kind) & (spans["category"] == "missed")]["example_id"]
    (saved,) = read_slices(slices_path(cache.path, tmp_path))
    assert saved.examples == tuple(sorted(set(expected.astype(int))))
    assert saved.made_from == "Misclassified filter (span level)" and saved.query == search
    assert saved.fingerprint == cache.manifest["dataset"]["fingerprint"]
    # Surface level: the span errors of the surface forms the grid lets through.
    surface = own_slices.save_from_view(
        context,
        "misclassified",
        misclassified.examples_of_view,
        "surface",
        "?tab=misclassified&mis_level=surface",
        {"misclassified-surfaces": request},
    )
    assert "Saved" in text_of(surface)
    saved_surface = read_slices(slices_path(cache.path, tmp_path))[1]
    assert set(saved_surface.examples) == set(spans.loc[spans["category"] == "missed", "example_id"].astype(int))


def test_an_inspect_filter_and_an_embeddings_selection_become_slices(context, cache, tmp_path):
    rows = inspect.inspect_rows(cache, {})
    word = rows["text"].iloc[0].split()[0]
    request = {"filterModel": {"text": {"filterType": "text", "type": "contains", "filter": word}}}
    own_slices.save_from_view(
        context, "inspect", inspect.examples_of_view, "by text", "?tab=inspect", {"inspect": request}
    )
    expected = rows[rows["text"].str.contains(word, case=False, regex=False)]["example_id"]
    saved = read_slices(slices_path(cache.path, tmp_path))
    assert saved[0].examples == tuple(sorted(expected.astype(int)))
    # A box around every point of the projection: every example with a word point.
    box = "box:-1e9,1e9,-1e9,1e9"
    message = own_slices.save_from_view(
        context, "embeddings", embeddings.examples_of_view, "everything", f"?tab=embeddings&emb_sel={box}", {}
    )
    assert "Saved" in text_of(message)
    points = embeddings.all_points(cache, "word")
    assert read_slices(slices_path(cache.path, tmp_path))[1].examples == tuple(sorted(set(points["example_id"])))
    assert read_slices(slices_path(cache.path, tmp_path))[1].made_from == "Embeddings box over words"
    nothing = own_slices.save_from_view(context, "embeddings", embeddings.examples_of_view, "x", "?tab=embeddings", {})
    assert "no selection: draw a lasso or a box" in text_of(nothing)


def test_a_deleted_slice_leaves_the_table_and_the_url(context, cache, tmp_path):
    section.save_pasted(context, "keep", "1", "?tab=slices")
    section.save_pasted(context, "drop", "2", "?tab=slices")
    prop = '{"name":"drop","type":"slices-own-delete"}.n_clicks'
    table, url = section.delete_clicked(context, [{"prop_id": prop, "value": 1}], "?tab=slices&sl_own=drop")
    assert [item.name for item in read_slices(slices_path(cache.path, tmp_path))] == ["keep"]
    assert "sl_own" not in parse_query(url) and "drop" not in text_of(table) and "keep" in text_of(table)
    # Buttons appearing (n_clicks None) are no click.
    assert section.delete_clicked(context, [{"prop_id": prop, "value": None}], "?tab=slices") == (no_update, no_update)


def test_a_slice_made_on_other_data_is_flagged(context, cache, tmp_path):
    from explainer.cache.own_slices import OwnSlice, save_slice

    save_slice(slices_path(cache.path, tmp_path), OwnSlice("old", (0, 1), fingerprint="another dataset"))
    assert "made on other data" in text_of(section.layout(cache, {}))
