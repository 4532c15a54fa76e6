"""Find duplicates: planted exact, near and label-inconsistent duplicates are all found and none invented.

Pure functions on hand-made frames and embeddings; the section on caches built by the real build;
exact duplicates and test-in-train leakage on CoNLL-2003 against the counts of its SOURCE.md.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from dash import no_update
from helpers import fixture_sentences, walk, write_conll

from explainer.analysis import duplicates as dup
from explainer.app.components.aligned import clicked_example
from explainer.app.factory import create_app
from explainer.app.sections import duplicates as section
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache.artefacts import DuplicateFindings
from explainer.cache.reader import open_cache
from explainer.cache.schema import DUPLICATE_GROUPS, EXAMPLE_EMBEDDINGS, NEAR_DUPLICATES

DIM = 64


def unit(vector):
    return vector / np.linalg.norm(vector)


def planted():
    """Examples and embeddings with known duplicates.

    0, 1, 2: the same sentence (1 differs in case and spacing), 2 labelled differently -> an
    inconsistent exact group. 3, 4: a consistent exact group. 5~6: near duplicates, consistent.
    7~8: near duplicates whose shared word "Washington" is labelled differently. 9..29: unrelated.
    """
    rng = np.random.default_rng(0)
    rows = [
        (["John", "Smith", "visited", "Paris", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"]),
        (["JOHN", "Smith ", "visited", " paris", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"]),
        (["John", "Smith", "visited", "Paris", "."], ["B-PER", "I-PER", "O", "B-ORG", "O"]),
        (["Results", "on", "Monday", ":"], ["O", "O", "O", "O"]),
        (["Results", "on", "Monday", ":"], ["O", "O", "O", "O"]),
        (["Germany", "beat", "France", "2-1", "."], ["B-LOC", "O", "B-LOC", "O", "O"]),
        (["Germany", "beat", "Italy", "2-1", "."], ["B-LOC", "O", "B-LOC", "O", "O"]),
        (["Washington", "won", "the", "match", "."], ["B-LOC", "O", "O", "O", "O"]),
        (["Washington", "won", "the", "game", "."], ["B-ORG", "O", "O", "O", "O"]),
    ]
    rows += [([f"word{i}", f"other{i}", "."], ["O", "O", "O"]) for i in range(9, 30)]
    vectors = np.array([unit(rng.normal(size=DIM)) for _ in rows])
    vectors[1] = vectors[2] = vectors[0]  # the same words give the same embedding
    vectors[4] = vectors[3]
    vectors[6] = unit(vectors[5] + 0.08 * unit(rng.normal(size=DIM)))
    vectors[8] = unit(vectors[7] + 0.08 * unit(rng.normal(size=DIM)))
    examples = pd.DataFrame(
        {"example_id": np.arange(len(rows)), "words": [w for w, _ in rows], "gold_tags": [t for _, t in rows]}
    )
    return examples, vectors.astype(np.float32)


def test_exact_groups_are_the_planted_ones_inconsistent_first():
    examples, _ = planted()
    groups = dup.exact_duplicate_groups(examples)
    assert groups["example_ids"].tolist() == [[0, 1, 2], [3, 4]]
    assert groups["inconsistent"].tolist() == [True, False] and groups["variants"].tolist() == [2, 1]
    assert groups["size"].tolist() == [3, 2] and groups["text"].iloc[0] == "John Smith visited Paris ."
    variants = dup.label_variants(examples, [0, 1, 2])
    assert variants == [(["B-PER", "I-PER", "O", "B-LOC", "O"], [0, 1]), (["B-PER", "I-PER", "O", "B-ORG", "O"], [2])]


def test_exact_groups_from_text_and_joined_tags_equal_those_from_the_lists():
    # What the app reads at scale: the text column and the tags joined, not a list per example.
    examples, _ = planted()
    light = pd.DataFrame(
        {"example_id": examples["example_id"], "text": [" ".join(words) for words in examples["words"]]}
    )
    keys = [" ".join(tags) for tags in examples["gold_tags"]]
    pd.testing.assert_frame_equal(
        dup.exact_duplicate_groups(light, tag_keys=keys), dup.exact_duplicate_groups(examples)
    )


def test_near_pairs_are_the_planted_ones_conflicts_first():
    examples, vectors = planted()
    index = dup.duplicate_index(examples, vectors)
    near = index.near(examples, threshold=0.95)
    assert list(zip(near["a"], near["b"])) == [(7, 8), (5, 6)]
    assert near["inconsistent"].tolist() == [True, False] and near["conflicts"].tolist() == [1, 0]
    assert (near["similarity"] > 0.99).all()
    # Exact duplicates take part once: no pair inside a group, and members do not multiply pairs.
    assert index.pairs[["a", "b"]].isin([1, 2, 4]).to_numpy().sum() == 0
    assert index.near(examples, threshold=0.999).empty


def test_without_embeddings_only_exact_groups_are_found():
    examples, _ = planted()
    index = dup.duplicate_index(examples, None)
    assert not index.has_embeddings and index.pairs.empty and len(index.groups) == 2


def test_neighbour_pairs_match_all_pairs_above_the_threshold():
    rng = np.random.default_rng(1)
    centres = np.array([unit(rng.normal(size=16)) for _ in range(5)])
    vectors = np.array([unit(centres[i % 5] + 0.1 * rng.normal(size=16)) for i in range(60)])
    vectors[7] = 0.0  # an example without kept subwords: never paired
    pairs = dup.neighbour_pairs(vectors, min_similarity=0.8, n_neighbors=59, centre=False)
    similarity = vectors @ vectors.T
    expected = {(a, b) for a in range(60) for b in range(a + 1, 60) if similarity[a, b] >= 0.8 and a != 7 and b != 7}
    assert set(zip(pairs["a"], pairs["b"])) == expected and len(expected) > 20
    assert np.allclose(pairs["similarity"], [similarity[a, b] for a, b in zip(pairs["a"], pairs["b"])], atol=1e-5)
    assert pairs["similarity"].is_monotonic_decreasing


def test_centring_removes_the_direction_every_embedding_shares():
    rng = np.random.default_rng(2)
    common = unit(rng.normal(size=DIM))
    # Like mean-pooled hidden states: one dominant direction plus a little that tells sentences apart.
    vectors = np.array([unit(3 * common + unit(rng.normal(size=DIM))) for _ in range(40)])
    vectors[1] = unit(vectors[0] + 0.02 * unit(rng.normal(size=DIM)))
    raw = dup.neighbour_pairs(vectors, min_similarity=0.8, centre=False)
    assert len(raw) > 100  # raw cosine calls almost everything a near duplicate
    pairs = dup.neighbour_pairs(vectors, min_similarity=0.8)
    assert list(zip(pairs["a"], pairs["b"])) == [(0, 1)]
    assert np.allclose(np.linalg.norm(dup.centred(vectors), axis=1), 1.0, atol=1e-5)


def test_label_conflicts_align_the_shared_words():
    assert dup.label_conflicts(
        ["Washington", "won", "."],
        ["B-LOC", "O", "O"],
        ["Yesterday", "washington", "won", "."],
        ["O", "B-ORG", "O", "O"],
    ) == [(0, 1)]
    assert dup.label_conflicts(["a", "b"], ["O", "O"], ["c", "d"], ["B-PER", "O"]) == []


def test_leakage_lists_exact_and_near_occurrences_only():
    training, train_vectors = planted()
    rng = np.random.default_rng(5)
    evaluation = pd.DataFrame(
        {
            "example_id": [0, 1, 2],
            "words": [["results", "ON", "monday", ":"], ["Germany", "beat", "Spain", "2-1", "."], ["nothing", "alike"]],
            "gold_tags": [["O", "O", "O", "O"], ["B-LOC", "O", "B-LOC", "O", "O"], ["O", "O"]],
        }
    )
    eval_vectors = np.array(
        [train_vectors[3], unit(train_vectors[5] + 0.05 * unit(rng.normal(size=DIM))), unit(rng.normal(size=DIM))],
        dtype=np.float32,
    )
    found = dup.leakage(evaluation, training, evaluation_embeddings=eval_vectors, training_embeddings=train_vectors)
    assert found[["example_id", "kind", "match_id"]].values.tolist() == [[0, "exact", 3], [1, "near", 5]]
    assert found["matches"].tolist() == [2, 1] and found["same_labels"].tolist() == [True, True]
    exact_only = dup.leakage(evaluation, training)
    assert exact_only["example_id"].tolist() == [0]


def test_conll_train_repeats_and_test_in_train(shared_data):
    from explainer.data.loaders import load_dataset

    def frame(split):
        examples = load_dataset(str(shared_data / "conll2003" / f"{split}.txt")).examples
        return pd.DataFrame(
            {
                "example_id": np.arange(len(examples)),
                "words": [e.words for e in examples],
                "gold_tags": [e.tags for e in examples],
            }
        )

    train, test = frame("train"), frame("test")
    groups = dup.exact_duplicate_groups(train)
    # SOURCE.md: 1350 repeated sentences with the same token sequence; ignoring case adds 10 more.
    assert int(groups["size"].sum()) - len(groups) == 1360
    identical = train["words"].map(tuple)
    assert len(train) - identical.nunique() == 1350
    assert groups["inconsistent"].iloc[0] and not groups["inconsistent"].iloc[-1]
    leaked = dup.leakage(test, train)
    assert leaked["text"].str.casefold().nunique() == 78  # SOURCE.md: 78 distinct test sentences occur in train


# --- the section on built caches ---------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tiny_model, tmp_path_factory):
    """Two caches built by the real build: "train" with planted duplicates, "test" sharing two sentences."""
    from explainer.cli import main

    data = tmp_path_factory.mktemp("duplicates-data")
    sentences = fixture_sentences(20, seed=3)[:20]
    base = sentences[0]
    other_type = lambda tag: tag[:2] + ("PER" if tag.endswith("MISC") else "MISC")
    relabelled = [(word, tag if tag == "O" else other_type(tag)) for word, tag in base]
    assert relabelled != base
    shouting = [(word.upper(), tag) for word, tag in sentences[1]]
    train = sentences + [base, relabelled, shouting]
    test = [sentences[2], sentences[3]] + fixture_sentences(5, seed=9)[:5]
    root = tmp_path_factory.mktemp("duplicates-root")
    for name, rows in (("train", train), ("test", test)):
        path = write_conll(data / f"{name}.conll", rows)
        assert main(["build", "--model", str(tiny_model), "--dataset", str(path), "--out", str(root / name)]) == 0
    shutil.copytree(root / "train", root / "train-no-embeddings")
    # A cache built before example embeddings existed, hence before the duplicates step too.
    for name in (EXAMPLE_EMBEDDINGS, DUPLICATE_GROUPS, NEAR_DUPLICATES):
        (root / "train-no-embeddings" / name).unlink()
    return root


@pytest.fixture(scope="module")
def context(root):
    return create_app(Settings(cache=root)).server.config["EXPLAINER_CONTEXT"]


def test_the_section_finds_the_planted_groups_inconsistent_first(context):
    cache = context.registry.get("train")
    items = section.findings(cache, section.DuplicatesView())
    exact = [item["group"] for item in items if item["kind"] == "exact"]
    assert [group["example_ids"] for group in exact] == [[0, 20, 21], [1, 22]]
    assert exact[0]["inconsistent"] and not exact[1]["inconsistent"]
    assert items[0]["kind"] == "exact" and items[0]["group"]["inconsistent"]
    # Identical words give identical hidden states: members of a group are never listed as near pairs.
    group_members = {0, 20, 21, 1, 22}
    for item in items:
        if item["kind"] == "near":
            assert not {item["pair"]["a"], item["pair"]["b"]} <= group_members
    text = str(section.layout(cache, {}))
    assert "2 groups of exact duplicates (5 examples, 3 repeats), 1 of them labelled inconsistently" in text
    assert "different labellings" in text


def test_the_build_stores_what_the_tab_computed(context):
    """The ``duplicates`` step's groups and near pairs equal what each worker computed before the step."""
    cache = context.registry.get("train")
    stored = cache.duplicate_findings()
    assert isinstance(stored, DuplicateFindings) and stored.near is not None
    examples = cache.table("examples", ["example_id", "words", "gold_tags"])
    embeddings = np.load(cache.path / EXAMPLE_EMBEDDINGS, allow_pickle=False)
    computed = dup.duplicate_index(examples, embeddings, min_similarity=dup.LOWEST_THRESHOLD)
    pd.testing.assert_frame_equal(stored.groups, computed.groups)
    pd.testing.assert_frame_equal(stored.near, computed.near(examples, threshold=dup.LOWEST_THRESHOLD))
    assert section.index(cache) is stored  # the tab reads it, nothing is computed


def test_a_cache_built_before_the_step_computes_the_same_findings(root, context, tmp_path):
    older = shutil.copytree(root / "train", tmp_path / "older")
    for name in (DUPLICATE_GROUPS, NEAR_DUPLICATES):
        (older / name).unlink()
    stored, computed = context.registry.get("train").duplicate_findings(), section.index(open_cache(older))
    pd.testing.assert_frame_equal(stored.groups, computed.groups)
    pd.testing.assert_frame_equal(stored.near, computed.near)


def test_the_step_stores_planted_near_pairs_as_the_tab_found_them(root, tmp_path):
    """The step run on a cache whose embeddings make near pairs (the tiny model's do not)."""
    from explainer.cache.writer import CacheWriter
    from explainer.pipeline import duplicates as step
    from explainer.pipeline.steps import StepContext

    planted = shutil.copytree(root / "train", tmp_path / "planted")
    for name in (DUPLICATE_GROUPS, NEAR_DUPLICATES):
        (planted / name).unlink()
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(23, DIM)).astype(np.float32)
    embeddings[5] = embeddings[4] + 0.05 * rng.normal(size=DIM)  # near, labelled however the fixture has them
    embeddings[9] = embeddings[8] + 0.05 * rng.normal(size=DIM)
    np.save(planted / EXAMPLE_EMBEDDINGS, embeddings)
    manifest = open_cache(planted).manifest
    writer = CacheWriter.__new__(CacheWriter)  # only its file writing: the directory is already in place
    writer.tmp = planted
    summary = step.build_step(StepContext(None, None, writer, None, progress=False, manifest=manifest))
    stored = open_cache(planted).duplicate_findings()
    assert isinstance(stored, DuplicateFindings) and summary["near_pairs"] == len(stored.near) >= 2
    assert {(4, 5), (8, 9)} <= set(zip(stored.near["a"], stored.near["b"]))
    examples = open_cache(planted).table("examples", ["example_id", "words", "gold_tags"])
    computed = dup.duplicate_index(examples, embeddings, min_similarity=dup.LOWEST_THRESHOLD)
    pd.testing.assert_frame_equal(stored.groups, computed.groups)
    pd.testing.assert_frame_equal(stored.near, computed.near(examples, threshold=dup.LOWEST_THRESHOLD))


def test_a_page_of_findings_is_rendered_once_per_view(context):
    cache = context.registry.get("train")
    view = section.DuplicatesView()
    cards, page, n_pages = section.page_of_findings(cache, view)
    assert section.page_of_findings(cache, replace(view))[0] is cards
    only = section.page_of_findings(cache, replace(view, only=True))[0]
    assert only is not cards and len(only) < len(cards)


def test_threshold_and_filter_go_to_the_url(context):
    search = "?cache=train&tab=duplicates"
    cards, summary, page, n_pages, new_search = section.update_findings(
        context, 0.9, True, 1, search, trigger="duplicates-threshold"
    )
    assert parse_query(new_search) == {"cache": "train", "tab": "duplicates", "dup_threshold": "0.90", "dup_only": "1"}
    assert "cosine ≥ 0.90" in summary and page == 1
    assert all("duplicate-inconsistent" in card.className for card in cards)
    assert (
        section.update_findings(context, 0.9, True, 1, new_search, trigger="duplicates-threshold") == (no_update,) * 5
    )


def test_leakage_against_another_cache_lists_the_shared_sentences(context):
    options, block, search = section.update_leak(context, "train", 0.95, "?cache=test&tab=duplicates")
    assert {"train", "train-no-embeddings"} <= {option["value"] for option in options}
    assert "test" not in {option["value"] for option in options}
    assert parse_query(search)["dup_with"] == "train"
    [grid] = [node for node in walk(block) if getattr(node, "id", None) == section.Ids.LEAKS]
    exact = [row for row in grid.rowData if row["kind"] == "exact"]
    assert sorted(row["example_id"] for row in exact) == [0, 1]
    assert {row["match_id"] for row in exact} == {2, 3}
    _, nothing, cleared = section.update_leak(context, "no-such-cache", 0.95, search)
    assert "dup_with" not in parse_query(cleared)


def test_a_cache_without_embeddings_still_lists_exact_duplicates(context):
    cache = context.registry.get("train-no-embeddings")
    text = str(section.layout(cache, {}))
    assert "no example embeddings" in text and "2 groups of exact duplicates" in text
    assert "near-duplicate" not in section.summary(cache, section.DuplicatesView())


def test_inspect_buttons_name_their_example():
    triggered = [{"prop_id": '{"card":3,"example":17,"type":"duplicates-open"}.n_clicks', "value": 1}]
    assert clicked_example(triggered, key="example") == 17
    assert (
        clicked_example(
            [{"prop_id": '{"card":3,"example":17,"type":"duplicates-open"}.n_clicks', "value": None}], key="example"
        )
        is None
    )
