"""Find duplicates (``explainer/app/sections/duplicates.py``): the leakage table's whole sentences and a shared
link's other cache."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from helpers import walk

from explainer.app.factory import create_app
from explainer.app.sections import duplicates
from explainer.app.settings import Settings


@pytest.fixture(scope="module")
def pair_context(tiny_cache, tmp_path_factory):
    """A root of two caches: "tiny" and "copy" (the other cache leakage is looked for in)."""
    root = tmp_path_factory.mktemp("duplicates")
    for name in ("tiny", "copy"):
        shutil.copytree(tiny_cache, root / name)
    return create_app(Settings(cache=root)).server.config["EXPLAINER_CONTEXT"]


def _by_id(tree, ident):
    return next(node for node in walk(tree) if getattr(node, "id", None) == ident)


def test_a_shared_link_keeps_its_other_cache(pair_context):
    """The dropdown comes with its options: a dropdown clears a value its options lack, which dropped dup_with."""
    cache = pair_context.registry.get("tiny")
    tree = duplicates.SECTION.render(pair_context, cache, {"dup_with": "copy"})
    dropdown = _by_id(tree, duplicates.Ids.WITH)
    assert dropdown.value == "copy" and [option["value"] for option in dropdown.options] == ["copy"]


def test_the_leakage_table_shows_whole_sentences_and_a_near_matchs_text(pair_context):
    cache = pair_context.registry.get("tiny")
    block = duplicates.leak_block(pair_context, cache, duplicates.DuplicatesView(other="copy"))
    grid = _by_id(block, duplicates.Ids.LEAKS)
    columns = {column["field"]: column for column in grid.columnDefs}
    assert columns["text"]["wrapText"] and columns["text"]["autoHeight"]  # wrapped, never cut at the width
    assert columns["match_text"]["hide"]  # a copy: every match is exact, its text is the example's own


class _Other:
    """The one method of a Cache that with_match_text reads."""

    def example_rows(self, name, ids, columns):
        assert name == "examples" and ids == [7]
        return pd.DataFrame({"example_id": [7], "text": ["Japan won the Asian Cup on Friday ."]})


def test_a_near_match_brings_its_own_text():
    rows = pd.DataFrame(
        {"example_id": [1, 2], "text": ["a b", "Japan won the Asian Cup on Thursday ."], "kind": ["exact", "near"]}
    ).assign(match_id=[3, 7])
    found = duplicates.with_match_text(_Other(), rows)
    assert found["match_text"].tolist() == ["", "Japan won the Asian Cup on Friday ."]
