"""Where the app keeps your slices and how it reads them (explainer.app.components.own_slices)."""

from __future__ import annotations

from types import SimpleNamespace

from dash import html

from explainer.app.components import own_slices
from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.cache.own_slices import OwnSlice, save_slice, slices_path


def test_the_directory_is_the_serving_apps_and_beside_the_cache_outside_one(tiny_cache, tmp_path):
    assert own_slices.slices_directory() is None
    app = create_app(Settings(cache=tiny_cache.parent, corrections_dir=tmp_path))
    with app.server.app_context():
        assert own_slices.slices_directory() == tmp_path
        assert own_slices.slices_file(SimpleNamespace(path=tiny_cache)) == slices_path(tiny_cache, tmp_path)
    assert own_slices.slices_file(SimpleNamespace(path=tiny_cache)) == slices_path(tiny_cache)


def test_saved_slices_are_read_again_when_the_file_changes(tmp_path):
    cache = SimpleNamespace(path=tmp_path / "cache")
    key, saved = own_slices.saved_state(cache, tmp_path)
    assert saved == [] and own_slices.slice_examples(cache, None) is None
    save_slice(slices_path(cache.path, tmp_path), OwnSlice("a", (1, 2)))
    first_key, first = own_slices.saved_state(cache, tmp_path)
    save_slice(slices_path(cache.path, tmp_path), OwnSlice("b", (3,)))
    second_key, second = own_slices.saved_state(cache, tmp_path)
    assert [item.name for item in first] == ["a"] and [item.name for item in second] == ["a", "b"]
    assert len({key, first_key, second_key}) == 3
    assert own_slices.find_slice(cache, "b", tmp_path).examples == (3,)


def test_the_save_bar_has_its_ids_and_a_saved_message_links_to_slices_alone():
    bar = own_slices.save_bar("inspect", what="the examples listed")
    ids = {getattr(node, "id", None) for node in bar.children}
    assert set(own_slices.bar_ids("inspect")) <= ids
    message = own_slices.saved_message(
        OwnSlice("x y", (1, 2)), "?cache=c&tab=inspect&ins_text=a&sample=3", prefixes=("ins_",)
    )
    link = next(child for child in message.children if not isinstance(child, str))
    assert link.href == "?cache=c&tab=slices&sl_own=x+y"
    assert isinstance(message, html.Span) and "Saved 'x y': 2 examples." in message.children[0]


def test_the_sections_declare_the_ids_of_their_bars():
    from explainer.app.sections import embeddings, inspect, misclassified

    for section in (embeddings, inspect, misclassified):
        ids = section.Ids
        declared = (ids.SLICE_NAME, ids.SLICE_SAVE, ids.SLICE_MESSAGE)
        assert own_slices.bar_ids(section.SECTION.key) == tuple(str(ident) for ident in declared)
