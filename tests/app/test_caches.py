"""One broken cache next to a healthy one: the picker lists it as broken, the healthy one keeps serving.

The routing and tab callbacks of explainer.app.factory are called directly (their undecorated
functions), and ``/readyz`` through Flask's test client.
"""

from __future__ import annotations

import json
import os
import shutil

import dash_bootstrap_components as dbc
import pytest
from helpers import WRONG_MANIFEST_FIELDS, deny_reads, set_manifest_field, strings, walk

from explainer.app.caches import CacheRegistry, picker_labels
from explainer.app.factory import create_app
from explainer.app.settings import Settings

GOOD, BAD = "good", "bad"  # the broken cache sorts first: it must not become the landing page


@pytest.fixture
def root(tiny_cache, tmp_path):
    root = tmp_path / "caches"
    for name in (GOOD, BAD):
        shutil.copytree(tiny_cache, root / name)
    return root


class Page:
    """The app over ``root``, with its routing and tab callbacks callable directly."""

    def __init__(self, root):
        self.root = root
        self.app = create_app(Settings(cache=root))
        callbacks = {
            key: value["callback"].__wrapped__ for key, value in self.app.callback_map.items() if "callback" in value
        }
        self._route = next(fn for key, fn in callbacks.items() if "route.data" in key)
        self._render = next(fn for key, fn in callbacks.items() if "tab-content.children" in key)

    def route(self, search: str):
        return self._route(search, None)

    def render(self, key: str, tab: str = "metrics"):
        return self._render({"cache": key, "tab": tab}, f"?cache={key}&tab={tab}")

    def readyz(self):
        return self.app.server.test_client().get("/readyz")


def alerts(tree) -> list[str]:
    return [" ".join(strings(item)) for item in walk(tree) if isinstance(item, dbc.Alert)]


def assert_good_serves(page: Page, *, lands: bool = True) -> None:
    """The healthy cache renders its tab with a headline and is ready; it is the landing page (``lands``)
    when the other one cannot be served."""
    if lands:
        route, _, key = page.route("")
        assert key == GOOD and route == {"cache": GOOD, "tab": "metrics"}
    content, headline = page.render(GOOD)
    assert alerts(content) == [] and headline, alerts(content)
    ready = page.readyz()
    assert ready.status_code == 200
    assert ready.get_json()["states"][GOOD] == {"state": "ok"}
    assert str(page.root) not in ready.get_data(as_text=True)


def assert_listed_as_broken(page: Page, *words: str) -> str:
    """``bad`` is in the picker as broken, its tab and ``/readyz`` say why (with ``words``): the reason."""
    _, options, _ = page.route(f"?cache={GOOD}")
    labels = {option["value"]: option["label"] for option in options}
    assert set(labels) == {GOOD, BAD}
    assert labels[BAD].startswith(f"{BAD} (broken: ") and str(page.root) not in labels[BAD]
    assert "broken" not in labels[GOOD]
    content, headline = page.render(BAD)
    assert headline == [] and len(alerts(content)) == 1
    state = page.readyz().get_json()["states"][BAD]
    assert state["state"] == "broken"
    for word in words:
        assert word in labels[BAD] and word in state["reason"] and word in alerts(content)[0]
    return state["reason"]


@pytest.mark.parametrize(("field", "kind", "value"), WRONG_MANIFEST_FIELDS)
def test_a_wrong_typed_manifest_field_breaks_only_its_cache(root, field, kind, value):
    set_manifest_field(root / BAD, field, value)
    page = Page(root)
    reason = assert_listed_as_broken(page, f"{BAD}/manifest.json", f"'{field}'")
    assert "rebuild the cache with: explainer build" in reason
    assert_good_serves(page)


@pytest.mark.parametrize("kind", ["string", "null"])
def test_a_split_may_be_a_string_or_null(root, kind):
    set_manifest_field(root / BAD, "split", {"string": "test", "null": None}[kind])
    page = Page(root)
    assert page.readyz().get_json()["states"] == {GOOD: {"state": "ok"}, BAD: {"state": "ok"}}


def test_invalid_json_in_the_manifest_breaks_only_its_cache(root):
    (root / BAD / "manifest.json").write_text("{not json", encoding="utf-8")
    page = Page(root)
    assert_listed_as_broken(page, f"{BAD}/manifest.json", "rebuild")
    assert_good_serves(page)


def test_invalid_json_in_metrics_breaks_only_the_tabs_that_read_it(root):
    (root / BAD / "metrics.json").write_text("[1, 2", encoding="utf-8")
    page = Page(root)
    content, _ = page.render(BAD)
    assert len(alerts(content)) == 1
    assert f"{BAD}/metrics.json" in alerts(content)[0] and "rebuild the cache with" in alerts(content)[0]
    assert alerts(page.render(BAD, "raw_data")[0]) == []  # the cache's other sections keep working
    assert_good_serves(page, lands=False)


def test_invalid_json_in_the_projection_info_is_ignored(root):
    (root / BAD / "projection.json").write_text("{", encoding="utf-8")
    page = Page(root)
    assert page.readyz().get_json()["states"][BAD] == {"state": "ok"}
    assert_good_serves(page, lands=False)


def test_an_unreadable_cache_directory_breaks_only_its_cache(root, monkeypatch):
    deny_reads(monkeypatch, root / BAD)
    page = Page(root)
    assert_listed_as_broken(page, f"{BAD}/manifest.json", "readable by the app's user")
    assert_good_serves(page)


def test_an_unreadable_manifest_breaks_only_its_cache(root, monkeypatch):
    deny_reads(monkeypatch, root / BAD / "manifest.json")
    page = Page(root)
    assert_listed_as_broken(page, f"{BAD}/manifest.json", "Permission denied")
    assert_good_serves(page)


def test_an_unreadable_metrics_file_breaks_only_the_tabs_that_read_it(root, monkeypatch):
    deny_reads(monkeypatch, root / BAD / "metrics.json")
    page = Page(root)
    assert f"{BAD}/metrics.json" in alerts(page.render(BAD)[0])[0]
    assert_good_serves(page, lands=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through chmod 000 (deny_reads covers it above)")
def test_a_chmod_000_cache_directory_breaks_only_its_cache(root):
    (root / BAD).chmod(0)
    try:
        page = Page(root)
        assert_listed_as_broken(page, f"{BAD}/manifest.json")
        assert_good_serves(page)
    finally:
        (root / BAD).chmod(0o755)


def test_readyz_is_unavailable_only_when_no_cache_can_be_served(root):
    for name in (GOOD, BAD):
        set_manifest_field(root / name, "labels", "oops")
    response = Page(root).readyz()
    assert response.status_code == 503
    body = response.get_json()
    assert body["caches"] == 0 and set(body["states"]) == {GOOD, BAD}
    assert "no cache opens" in body["reason"] and str(root) not in json.dumps(body)


def test_the_picker_shows_enough_of_the_dataset_path_to_tell_caches_apart(root):
    for name, corpus in ((GOOD, "politics"), (BAD, "music")):
        manifest = json.loads((root / name / "manifest.json").read_text(encoding="utf-8"))
        set_manifest_field(root / name, "dataset", {**manifest["dataset"], "spec": f"/srv/data/{corpus}/test.txt"})
        set_manifest_field(root / name, "model", {**manifest["model"], "id": "/srv/models/pol"})
    labels = {option["value"]: option["label"] for option in CacheRegistry(root).options()}
    assert labels[GOOD].startswith("pol · politics/test.txt") and labels[BAD].startswith("pol · music/test.txt")


def test_picker_labels_grow_the_dataset_path_then_the_model_path_only_where_they_collide():
    origins = [
        ("/m/pol", "/data/politics/test.txt", "test"),
        ("/m/pol", "/data/music/test.txt", "test"),
        ("dslim/bert-base-NER", "/data/x/valid.conll", "validation"),
        ("/runs/a/ckpt", "/d/conll.txt", "test"),
        ("/runs/b/ckpt", "/d/conll.txt", "test"),
        ("/runs/b/ckpt", "/d/conll.txt", "test"),
    ]
    assert picker_labels(origins, keys=["k1", "k2", "k3", "k4", "k5", "k6"]) == [
        "pol · politics/test.txt · test",
        "pol · music/test.txt · test",
        "dslim/bert-base-NER · valid.conll · validation",
        "a/ckpt · conll.txt · test",
        "b/ckpt · conll.txt · test (k5)",  # same model, dataset and split: the key tells them apart
        "b/ckpt · conll.txt · test (k6)",
    ]
