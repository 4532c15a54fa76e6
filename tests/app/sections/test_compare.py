"""Compare on two real caches of the tiny data (two tiny models): the table, counts that open their
examples, ranking in the URL, the paired inspector, and caches of other data refused on the page."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest
from helpers import strings, walk

from explainer.analysis.compare import FIXED, OVERALL, TRANSITIONS
from explainer.app import pairs
from explainer.app.components.aligned import open_button_id
from explainer.app.factory import create_app, paired_inspector, vs_picker, vs_to_query
from explainer.app.sections import compare as section
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.errors import ExplainerError


@pytest.fixture(scope="module")
def root(tiny_cache, tiny_cache_vs, tiny_cache_other_data, tmp_path_factory):
    """A cache root holding A (tiny), B (a second model, same data) and a cache of corrected data."""
    root = tmp_path_factory.mktemp("compare-root")
    for name, path in (("a", tiny_cache), ("b", tiny_cache_vs), ("other", tiny_cache_other_data)):
        (root / name).symlink_to(path, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def app(root):
    return create_app(Settings(cache=root))


@pytest.fixture(scope="module")
def context(app):
    return app.server.config["EXPLAINER_CONTEXT"]


def ids_in(tree) -> list:
    return [getattr(node, "id", None) for node in walk(tree)]


def count_buttons(tree) -> list[dict]:
    return [i for i in ids_in(tree) if isinstance(i, dict) and i.get("type") == section.COUNT_TYPE]


def example_buttons(tree) -> list[int]:
    return [i["index"] for i in ids_in(tree) if isinstance(i, dict) and i.get("section") == section.SECTION.key]


def test_without_a_second_cache_it_offers_the_caches_of_the_same_data(context):
    tree = section.layout(context.registry.get("a"), {"cache": "a", "tab": "compare"}, context)
    links = [node for node in walk(tree) if str(getattr(node, "id", "")).startswith("compare-with-")]
    assert [parse_query(link.href)["vs"] for link in links] == ["b"]  # not "other": its gold differs
    assert parse_query(links[0].href)["tab"] == "compare" and parse_query(links[0].href)["cache"] == "a"
    table = next(node for node in walk(tree) if getattr(node, "id", None) == section.Ids.TRAJECTORY)
    hrefs = [parse_query(node.href) for node in walk(table) if getattr(node, "href", None)]
    assert [(h["cache"], h.get("vs"), h["tab"]) for h in hrefs] == [("b", None, "compare"), ("a", "b", "compare")]


def test_the_pair_shows_scores_with_intervals_and_every_count(context):
    a, b = context.registry.get("a"), context.registry.get("b")
    tree = section.layout(a, {"cache": "a", "vs": "b", "tab": "compare"}, context)
    comparison = pairs.comparison(a, b)
    overall = comparison.scores.set_index("type").loc[OVERALL]
    text = " ".join(strings(tree))
    assert f"{overall.f1_a:.3f} → {overall.f1_b:.3f}" in text and f"p = {overall.f1_p:.3f}" in text
    assert a.manifest["headline"]["entity_f1"] == pytest.approx(overall.f1_a, abs=1e-6)
    counts = comparison.counts.set_index("type")
    expected = [
        (transition, name) for name in counts.index for transition in TRANSITIONS if counts.loc[name, transition] > 0
    ]
    assert [(i["transition"], i["etype"]) for i in count_buttons(tree)] == expected
    ranked = pairs.ranking(a, b, transition=None, entity_type=None, order="changed")
    assert example_buttons(tree) == list(ranked["example_id"][: section.PAGE_SIZE])
    assert pairs.comparison(a, b) is comparison  # computed once per pair


def test_a_count_lists_its_examples_and_writes_the_url(context):
    a, b = context.registry.get("a"), context.registry.get("b")
    search = "?cache=a&vs=b&tab=compare&cmp_page=3"
    clicked = section.count_id(FIXED, "PER")
    click = {"prop_id": json.dumps(clicked) + ".n_clicks", "value": 1}
    examples, table, url = section.selection_changed(context, [click], search)
    query = parse_query(url)
    assert (query["cmp_transition"], query["cmp_type"], query.get("cmp_page", "1")) == (FIXED, "PER", "1")
    fixed = pairs.comparison(a, b).transitions
    fixed = fixed[(fixed["transition"] == FIXED) & (fixed["type"] == "PER")]
    shown = example_buttons(examples)
    assert shown and set(shown) <= set(fixed["example_id"])
    assert len(shown) == min(section.PAGE_SIZE, fixed["example_id"].nunique())
    selected = [node for node in walk(table) if getattr(node, "color", None) == "primary"]
    assert len(selected) == 1  # the clicked count is marked
    # The same view from the URL (a shared link) lists the same examples.
    assert example_buttons(section.layout(a, parse_query(url), context)) == shown
    # The section appearing fires the callback with every input: buttons without clicks, the order and
    # the page the view was rendered with; that is no click (the first count must not be taken as one).
    appearing = [
        {"prop_id": json.dumps(section.count_id(FIXED, "LOC")) + ".n_clicks", "value": None},
        {"prop_id": f"{section.Ids.ORDER}.value", "value": "changed"},
        {"prop_id": f"{section.Ids.PAGER}.active_page", "value": 1},
    ]
    assert section.selection_changed(context, appearing, url) == (section.no_update,) * 3
    _, _, by_loss = section.selection_changed(
        context, [{"prop_id": f"{section.Ids.ORDER}.value", "value": "loss"}], url
    )
    assert parse_query(by_loss)["cmp_order"] == "loss" and parse_query(by_loss)["cmp_transition"] == FIXED
    _, _, page_two = section.selection_changed(
        context, [{"prop_id": f"{section.Ids.PAGER}.active_page", "value": 2}], by_loss
    )
    assert parse_query(page_two)["cmp_page"] == "2" and parse_query(page_two)["cmp_order"] == "loss"


def test_an_example_opens_the_inspector_with_both_models(context):
    a, b = context.registry.get("a"), context.registry.get("b")
    transitions = pairs.comparison(a, b).transitions
    fixed = transitions[(transitions["transition"] == FIXED) & transitions["gold"]].iloc[0]
    example_id = int(fixed.example_id)
    assert open_button_id(section.SECTION.key, example_id)["section"] == "compare"
    state = {"cache": "a", "vs": "b", "tab": "compare", "sample": str(example_id)}
    title, body = paired_inspector(context, a, state, example_id)
    assert "(A)" in title and "(B)" in title
    ids = ids_in(body)
    assert {"inspector-gold", "inspector-pred-a", "inspector-pred-b"} <= set(ids)
    gold_line = next(node for node in walk(body) if getattr(node, "id", None) == "inspector-gold")
    assert any(FIXED in text for text in strings(gold_line))
    assert any("span-changed" in (getattr(node, "className", "") or "") for node in walk(gold_line))


def test_caches_of_other_data_are_refused_naming_what_differs(app, context):
    with pytest.raises(ExplainerError, match="gold tags of 1 examples differ"):
        section.layout(context.registry.get("a"), {"cache": "a", "vs": "other", "tab": "compare"}, context)
    render = next(v["callback"].__wrapped__ for k, v in app.callback_map.items() if "tab-content.children" in k)
    content, _ = render({"cache": "a", "tab": "compare", "vs": "other"}, "?cache=a&vs=other&tab=compare")
    assert "gold tags of 1 examples differ" in " ".join(strings(content))


def test_the_second_picker_follows_the_url(context):
    options, value = vs_picker(context, {"cache": "a", "tab": "compare", "vs": "b"}, None, None)
    assert [option["value"] for option in options] == ["b", "other"] and value == "b"
    assert vs_picker(context, {"cache": "a", "tab": "metrics"}, options, None) == (section.no_update,) * 2
    assert parse_query(vs_to_query("?cache=a&tab=compare&sample=3", "b")) == {"cache": "a", "tab": "compare", "vs": "b"}
    assert "vs" not in parse_query(vs_to_query("?cache=a&vs=b", None))
    assert vs_to_query("?cache=a&vs=b", "b") is section.no_update


def test_every_cache_of_the_data_is_listed_with_its_f1_and_links(context):
    a = context.registry.get("a")
    tree = section.layout(a, {"cache": "a", "vs": "b", "tab": "compare"}, context)
    table = next(node for node in walk(tree) if getattr(node, "id", None) == section.Ids.TRAJECTORY)
    text = " ".join(strings(table))
    assert "a (A)" in text and "b (B)" in text and "other" not in text  # other data is not offered
    for key in ("a", "b"):
        assert f"{context.registry.get(key).metrics['seqeval']['micro avg']['f1']:.3f}" in text
    figure = next(node for node in walk(tree) if getattr(node, "id", None) == section.Ids.TRAJECTORY_FIGURE)
    assert [trace.name for trace in figure.figure.data][0] == OVERALL
    # B's row offers to make it A (with no B left, as it would compare with itself).
    hrefs = [parse_query(node.href) for node in walk(table) if getattr(node, "href", None)]
    assert [(h["cache"], h.get("vs"), h["tab"]) for h in hrefs] == [("b", None, "compare")]


def test_checkpoints_are_listed_in_training_order_with_their_epoch(tiny_cache, tiny_cache_vs, tmp_path):
    # Copies of the two caches whose manifests record epochs 4 and 2 (as built from explainer train's
    # checkpoints), named so that name order would be wrong; "base" (the tiny model: no training record) first.
    from helpers import set_manifest_field

    root = tmp_path / "root"
    root.mkdir()
    for name, source, epoch in (("run-epoch4", tiny_cache, 4), ("run-epoch2", tiny_cache_vs, 2)):
        copy = shutil.copytree(source, root / name)
        model = json.loads((copy / "manifest.json").read_text())["model"]
        set_manifest_field(copy, "model", {**model, "training_epoch": epoch})
    (root / "base").symlink_to(tiny_cache, target_is_directory=True)  # a manifest without the key
    context = create_app(Settings(cache=root)).server.config["EXPLAINER_CONTEXT"]
    assert pairs.training_epoch(context.registry.get("base")) is None  # read from the model directory: no record
    tree = section.layout(context.registry.get("run-epoch4"), {"cache": "run-epoch4", "tab": "compare"}, context)
    table = next(node for node in walk(tree) if getattr(node, "id", None) == section.Ids.TRAJECTORY)
    rows = [strings(row)[:2] for row in walk(table) if type(row).__name__ == "Tr"][1:]
    assert rows == [["base", ""], ["run-epoch2", "2"], ["run-epoch4 (A)", "4"]]
    figure = next(node for node in walk(tree) if getattr(node, "id", None) == section.Ids.TRAJECTORY_FIGURE)
    assert list(figure.figure.data[0].x) == ["base", "run-epoch2 (epoch 2)", "run-epoch4 (epoch 4)"]
    # Any two picked: run-epoch2 as B beside A.
    b_link = next(
        parse_query(link.href) for link in walk(table) if getattr(link, "href", None) and "vs=run-epoch2" in link.href
    )
    assert (b_link["cache"], b_link["vs"], b_link["tab"]) == ("run-epoch4", "run-epoch2", "compare")


def plotted(value) -> np.ndarray:
    """An array of a figure sent as a plain dict: plotly encodes numeric arrays as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(size) for size in str(value.get("shape", len(array))).split(",")]
        return array.reshape(shape)
    return np.asarray(value)


def node_with_id(tree, ident):
    return next(node for node in walk(tree) if getattr(node, "id", None) == ident)


def test_both_confusions_and_their_difference_share_one_order(context):
    from explainer.analysis.metrics import entity_confusion

    a, b = context.registry.get("a"), context.registry.get("b")
    tree = section.layout(a, {"cache": "a", "vs": "b", "tab": "compare"}, context)
    heatmaps = {
        ident: node_with_id(tree, ident).figure["data"][0]
        for ident in (section.Ids.CONFUSION_A, section.Ids.CONFUSION_B, section.Ids.CONFUSION_DIFFERENCE)
    }
    labels = list(heatmaps[section.Ids.CONFUSION_A]["x"])
    assert labels[-1] == "none" and all(list(h["x"]) == list(h["y"]) == labels for h in heatmaps.values())
    # A's matrix is Metrics' entity confusion of A (same function), B's of B, on the shared order.
    for ident, cache in ((section.Ids.CONFUSION_A, a), (section.Ids.CONFUSION_B, b)):
        own = entity_confusion(cache.span_errors, types=cache.metrics.get("entity_types"))
        index = [own["labels"].index(label) for label in labels]
        expected = np.asarray(own["counts"])[np.ix_(index, index)]
        assert (plotted(heatmaps[ident]["z"]) == expected).all()
    difference = plotted(heatmaps[section.Ids.CONFUSION_B]["z"]) - plotted(heatmaps[section.Ids.CONFUSION_A]["z"])
    off_diagonal = difference.copy()
    np.fill_diagonal(off_diagonal, 0)
    assert (plotted(heatmaps[section.Ids.CONFUSION_DIFFERENCE]["z"]) == off_diagonal).all()
    assert np.abs(off_diagonal).sum() > 0  # two models of different seeds err differently


def test_a_difference_cell_opens_misclassified_of_the_model_with_more_of_those_errors(context):
    a, b = context.registry.get("a"), context.registry.get("b")
    found = pairs.confusions(a, b)
    labels, difference = found["labels"], np.asarray(found["difference"])
    np.fill_diagonal(difference, 0)
    search = "?cache=a&vs=b&tab=compare&cmp_order=loss"
    for sign, expected in ((1, ("b", "a")), (-1, ("a", "b"))):
        cells = np.argwhere(difference * sign > 0)
        if not len(cells):
            continue
        gold, pred = labels[cells[0][0]], labels[cells[0][1]]
        click = {"points": [{"x": pred, "y": gold, "z": 0}]}
        url = parse_query(section.confusion_clicked(context, section.Ids.CONFUSION_DIFFERENCE, click, search))
        assert (url["tab"], url["cache"], url["vs"]) == ("misclassified", *expected)
        assert "cmp_order" not in url  # Compare's own settings are dropped, as every section link does
        if gold == "none":
            assert (url["mis_category"], url["mis_pred"]) == ("spurious", pred)
        elif pred == "none":
            assert (url["mis_category"], url["mis_gold"]) == ("missed", gold)
        else:
            assert (url["mis_gold"], url["mis_pred"]) == (gold, pred)
    assert (difference != 0).any()
    # A's and B's own matrices open their own errors; no click, no change.
    click = {"points": [{"x": labels[0], "y": "none"}]}
    assert parse_query(section.confusion_clicked(context, section.Ids.CONFUSION_B, click, search))["cache"] == "b"
    assert parse_query(section.confusion_clicked(context, section.Ids.CONFUSION_A, click, search))["cache"] == "a"
    assert section.confusion_clicked(context, section.Ids.CONFUSION_A, None, search) is section.no_update


def test_slices_of_both_per_bucket_with_the_paired_difference(context):
    a, b = context.registry.get("a"), context.registry.get("b")
    # The page holds a placeholder whose trigger, appearing with it, fills it: the first view does not wait.
    tree = section.layout(a, {"cache": "a", "vs": "b", "tab": "compare"}, context)
    assert section.Ids.SLICES_LOAD in ids_in(tree) and not [
        r for r in walk(node_with_id(tree, section.Ids.SLICES)) if type(r).__name__ == "Tr"
    ]
    block = section.slices_shown(context, "?cache=a&vs=b&tab=compare")
    assert section.slices_shown(context, "?cache=a&tab=compare") is section.no_update
    found = pairs.slices(a, b).table
    assert not found.empty
    rows = [strings(row) for row in walk(block) if type(row).__name__ == "Tr"][1:]
    assert len(rows) == len(found)
    for side, cache in (("a", a), ("b", b)):
        buckets = cache.slices().buckets
        overall = buckets[buckets["type"] == ""].set_index(["attribute", "bucket"])["f1"]
        mine = found.set_index(["attribute", "bucket"])[f"f1_{side}"]
        shared = mine.index.intersection(overall.index)
        compared = ~overall.index.get_level_values("attribute").isin(pairs.slices(a, b).not_compared)
        assert len(shared) == compared.sum()  # every bucket A or B has is listed, of the attributes compared
        assert mine[shared].to_numpy() == pytest.approx(overall[shared].to_numpy())  # as Slices scores them
    first = found.iloc[0]
    assert rows[0][:2] == [first.attribute, first.bucket]
    assert rows[0][-2:] == [f"{first.f1_diff:+.3f}", f"[{first.f1_low:+.3f}, {first.f1_high:+.3f}]"]
    assert (found["f1_low"] <= found["f1_diff"] + 1e-9).all() and (found["f1_diff"] <= found["f1_high"] + 1e-9).all()


def test_without_slices_in_one_cache_one_line_says_which_and_how(context, tiny_cache_vs, tmp_path):
    from explainer.cache import schema
    from explainer.cache.reader import open_cache

    copy = shutil.copytree(tiny_cache_vs, tmp_path / "b-no-slices")
    (copy / schema.SLICE_BUCKETS).unlink()
    block = section.slices_block(context.registry.get("a"), open_cache(copy))
    text = " ".join(strings(block))
    assert "B (b-no-slices) has no slices" in text and "rebuild" in text
    assert not [row for row in walk(block) if type(row).__name__ == "Tr"]


def test_attributes_whose_quantile_buckets_moved_are_named_not_compared(context, monkeypatch):
    from explainer.cache.pair import SliceComparison

    a, b = context.registry.get("a"), context.registry.get("b")
    table = pairs.slices(a, b).table
    monkeypatch.setattr(pairs, "slices", lambda *_: SliceComparison(table=table, not_compared=["type_frequency"]))
    text = " ".join(strings(section.slices_block(a, b)))
    assert "Not compared: type_frequency" in text and "quantiles" in text
