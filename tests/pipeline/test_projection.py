"""Projections and example embeddings written into a real cache, and the Embeddings section over them.

The cache comes from the real build (fixture ``tiny_cache``, default options), which runs the
``projection`` step; tests copy it, without or with other projections, to try the options.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dash import no_update

from explainer.analysis import embeddings as emb
from explainer.analysis.labels import entity_type
from explainer.app.components.wording import counted
from explainer.app.factory import create_app
from explainer.app.sections import embeddings as section
from explainer.app.settings import Settings
from explainer.app.state import parse_query
from explainer.cache.reader import open_cache
from explainer.errors import ExplainerError
from explainer.figures.embeddings import parse_point_id
from explainer.figures.palette import type_colours
from explainer.pipeline import projection
from explainer.pipeline.projection import (
    DEFAULT_MAX_FIT,
    EXAMPLE_EMBEDDINGS,
    EXAMPLE_PROJECTION,
    FILES,
    PROJECTION_INFO,
    UMAP_MIN_POINTS,
    WORD_PROJECTION,
    add_projections,
    example_embeddings,
    place_by_neighbours,
    project,
)


def copy_cache(source, target, *, bare: bool = False):
    """A copy of cache ``source``; ``bare``: without the projection step's files (as an older cache)."""
    shutil.copytree(source, target)
    if bare:
        for name in FILES:
            (target / name).unlink(missing_ok=True)
    return target


@pytest.fixture(scope="module")
def pca_root(tiny_cache, tmp_path_factory):
    """A cache root with the tiny cache projected with PCA ("tiny") and one without projections ("bare")."""
    root = tmp_path_factory.mktemp("projection-root")
    copy_cache(tiny_cache, root / "tiny")
    copy_cache(tiny_cache, root / "bare", bare=True)
    add_projections(root / "tiny", method="pca")
    return root


@pytest.fixture(scope="module")
def cache(pca_root):
    return open_cache(pca_root / "tiny")


@pytest.fixture(scope="module")
def context(pca_root):
    return create_app(Settings(cache=pca_root)).server.config["EXPLAINER_CONTEXT"]


# --- the build step ----------------------------------------------------------------------------


def test_files_have_one_row_per_word_and_example(cache):
    counts = cache.manifest["counts"]
    words = np.load(cache.path / WORD_PROJECTION, allow_pickle=False)
    examples = np.load(cache.path / EXAMPLE_PROJECTION, allow_pickle=False)
    vectors = np.load(cache.path / EXAMPLE_EMBEDDINGS, mmap_mode="r", allow_pickle=False)
    assert words.shape == (counts["words"], 2) and words.dtype == np.float32 and np.isfinite(words).all()
    assert examples.shape == (counts["examples"], 2) and np.isfinite(examples).all()
    assert vectors.shape == (counts["examples"], cache.hidden.shape[1]) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    info = json.loads((cache.path / PROJECTION_INFO).read_text())
    assert info["method"] == "pca" and info["words"] == {
        "points": counts["words"],
        "fitted_on": counts["words"],
        "method": "pca",
        "pca_dimensions": 2,
    }


def test_example_embedding_is_the_normalised_mean_of_its_non_special_subwords(cache):
    vectors = np.load(cache.path / EXAMPLE_EMBEDDINGS, allow_pickle=False)
    subwords, hidden = cache.subwords, np.asarray(cache.hidden, dtype=np.float64)
    for example_id in (0, 5, len(cache.examples) - 1):
        rows = np.flatnonzero(
            (subwords["example_id"] == example_id).to_numpy() & (subwords["word_index"] >= 0).to_numpy()
        )
        mean = hidden[rows].mean(axis=0)
        assert np.allclose(vectors[example_id], mean / np.linalg.norm(mean), atol=1e-5)


def test_pca_projection_of_words_is_the_first_two_components_of_their_first_subwords(cache):
    from sklearn.decomposition import PCA

    first = np.asarray(cache.hidden, dtype=np.float32)[cache.words["subword_row"].to_numpy()]
    expected = PCA(n_components=2, random_state=0).fit_transform(first)
    coords = np.load(cache.path / WORD_PROJECTION, allow_pickle=False)
    # Components are defined up to sign; the picture is the same.
    for column in range(2):
        sign = np.sign(np.dot(coords[:, column], expected[:, column]))
        assert np.allclose(coords[:, column], sign * expected[:, column], atol=1e-3)


def test_same_inputs_give_the_same_files_and_tables_may_be_passed_in(tiny_cache, tmp_path):
    first, second = copy_cache(tiny_cache, tmp_path / "a"), copy_cache(tiny_cache, tmp_path / "b")
    add_projections(first, method="pca", seed=3)
    # What the build holds in memory: pyarrow tables and the hidden memmap.
    add_projections(
        second,
        method="pca",
        seed=3,
        words=pq.read_table(second / "words.parquet"),
        subwords=pq.read_table(second / "subwords.parquet"),
        examples=pq.read_table(second / "examples.parquet"),
        hidden=np.load(second / "hidden.npy", mmap_mode="r"),
    )
    for name in (WORD_PROJECTION, EXAMPLE_PROJECTION, EXAMPLE_EMBEDDINGS):
        assert np.array_equal(np.load(first / name), np.load(second / name)), name


@pytest.mark.slow  # UMAP compiles its numba kernels the first time on a machine (then loads them from disk)
def test_umap_is_seeded_fits_a_sample_and_places_the_rest_near_their_cluster():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=8.0, size=(3, 60))
    cluster = np.arange(450) % 3
    vectors = (centres[cluster] + rng.normal(size=(450, 60))).astype(np.float32)
    runs = []
    for _ in range(2):
        steps, timings = [], {}
        coords, info = project(
            lambda rows: vectors[rows],
            len(vectors),
            method="umap",
            max_fit=300,
            seed=1,
            min_umap_points=100,
            chunk_rows=100,
            report=steps.append,
            timings=timings,
        )
        runs.append(coords)
    assert info == {
        "points": 450,
        "fitted_on": 300,
        "method": "umap",
        "pca_dimensions": 50,
        "umap": {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": 100},
        "placed_by": "nearest fitted point, 0.15 towards the mean of the 5 nearest",
    }
    assert steps == ["pca", "umap fit on 300", "placed by neighbours", "placed by neighbours"]
    assert set(timings) == {"pca", "fit", "place"}
    assert coords.shape == (450, 2) and np.isfinite(coords).all()
    assert np.array_equal(runs[0], runs[1])  # seeded: a rebuild draws the same picture
    # The placed points (not in the fitted sample) land with their own cluster.
    fitted = np.zeros(450, dtype=bool)
    fitted[np.sort(np.random.default_rng(1).choice(450, 300, replace=False))] = True
    means = np.array([coords[fitted & (cluster == k)].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((coords[~fitted, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == cluster[~fitted]).mean() > 0.95


def test_method_none_writes_only_the_example_embeddings(tiny_cache, tmp_path):
    target = copy_cache(tiny_cache, tmp_path / "none", bare=True)
    result = add_projections(target, method="none")
    assert (target / EXAMPLE_EMBEDDINGS).is_file() and (target / PROJECTION_INFO).is_file()
    assert not (target / WORD_PROJECTION).exists() and not (target / EXAMPLE_PROJECTION).exists()
    assert result["settings"]["method"] == "none"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "tsne"}, "--projection 'tsne'"),
        ({"max_fit": 1}, "--projection-sample 1"),
        ({"seed": -1}, "--seed -1"),
    ],
)
def test_bad_options_are_one_line_errors(tiny_cache, tmp_path, options, message):
    target = copy_cache(tiny_cache, tmp_path / "bad", bare=True)
    with pytest.raises(ExplainerError, match=message):
        add_projections(target, **options)
    assert not (target / EXAMPLE_EMBEDDINGS).exists()


def test_hidden_states_of_another_cache_are_refused(tiny_cache, tmp_path):
    target = copy_cache(tiny_cache, tmp_path / "mismatch")
    with pytest.raises(ExplainerError, match="do not match"):
        add_projections(target, hidden=np.zeros((3, 4), dtype=np.float16))


def test_example_embeddings_skip_special_rows_and_leave_empty_examples_at_zero():
    hidden = np.array([[9, 9], [1, 0], [3, 0], [9, 9], [0, 2], [9, 9]], dtype=np.float16)
    example_ids = np.array([0, 0, 0, 1, 2, 2])
    keep = np.array([False, True, True, False, True, False])
    vectors = example_embeddings(hidden, example_ids=example_ids, keep=keep, n_examples=3, chunk_rows=4)
    assert np.allclose(vectors, [[1, 0], [0, 0], [0, 1]])


def test_a_placed_point_sits_by_its_nearest_fitted_point_moved_towards_the_others():
    fitted = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 8.0]])
    neighbours = np.array([[0, 1], [1, 2], [2, 0]])
    distances = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, 5.0]])
    # spread 1: the inverse-distance mean. Weights 1/1 and 1/3 -> 3/4 of the way to the nearer;
    # equal distances -> the midpoint; a duplicate of a fitted point (distance 0) lands on it.
    mean = place_by_neighbours(fitted, neighbours, distances, spread=1.0)
    assert mean.dtype == np.float32 and np.allclose(mean, [[1.0, 0.0], [2.0, 4.0], [0.0, 8.0]])
    # spread 0: on the nearest fitted point; in between: that far along the way.
    assert np.allclose(place_by_neighbours(fitted, neighbours, distances, spread=0.0), fitted[[0, 1, 2]])
    quarter = place_by_neighbours(fitted, neighbours, distances, spread=0.25)
    assert np.allclose(quarter, fitted[[0, 1, 2]] + 0.25 * (mean - fitted[[0, 1, 2]]))


def test_warm_up_starts_only_for_a_umap_build_with_enough_words(monkeypatch):
    started = []
    monkeypatch.setattr(projection, "_warm_up", None)
    monkeypatch.setattr(projection.threading, "Thread", lambda **kwargs: started.append(kwargs) or _NoThread())

    def prepared(n_words):
        return SimpleNamespace(aligned=SimpleNamespace(examples=[SimpleNamespace(words=["w"] * n_words)]))

    projection.start_warm_up(SimpleNamespace(projection="pca"), prepared(UMAP_MIN_POINTS))
    projection.start_warm_up(SimpleNamespace(projection="umap"), prepared(UMAP_MIN_POINTS - 1))
    assert started == []
    projection.start_warm_up(SimpleNamespace(projection="umap"), prepared(UMAP_MIN_POINTS))
    projection.start_warm_up(SimpleNamespace(projection="umap"), prepared(UMAP_MIN_POINTS))  # once a process
    assert len(started) == 1 and started[0]["daemon"] is True


class _NoThread:
    def start(self):
        pass

    def join(self):
        pass


@pytest.mark.slow  # imports umap-learn (pynndescent compiles its kernels on a machine's first import)
def test_umap_kernels_are_cached_on_disk():
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    projection.umap_class()
    import umap.layouts
    import umap.umap_

    for kernel in (umap.umap_.smooth_knn_dist, umap.umap_.compute_membership_strengths, umap.layouts.rdist):
        assert isinstance(kernel, Dispatcher) and not isinstance(kernel._cache, NullCache)


@pytest.mark.parametrize("n", [0, 1, 5, 300])
def test_too_few_points_for_umap_get_pca_coordinates(n):
    vectors = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    steps = []
    coords, info = project(lambda rows: vectors[rows], n, method="umap", seed=0, report=steps.append)
    assert coords.shape == (n, 2) and np.isfinite(coords).all()
    assert info["points"] == n and info["method"] == "pca" and n < UMAP_MIN_POINTS
    assert steps == ["pca"]


def test_the_build_writes_the_files_with_default_options(tiny_cache):
    """The fixture's build (default options): example embeddings and projections, PCA for so few points."""
    manifest = json.loads((tiny_cache / "manifest.json").read_text())
    summary = manifest["analyses"]["projection"]
    assert summary["settings"]["method"] == "umap" and summary["settings"]["max_fit"] == DEFAULT_MAX_FIT
    n_words = manifest["counts"]["words"]
    assert n_words < UMAP_MIN_POINTS and summary["settings"]["words"] == {
        "points": n_words,
        "fitted_on": n_words,
        "method": "pca",
        "pca_dimensions": 2,
    }
    for name in FILES:
        assert (tiny_cache / name).is_file(), name
    assert np.load(tiny_cache / WORD_PROJECTION).shape == (n_words, 2)
    assert "projection" in manifest["timings"]


@pytest.mark.parametrize(
    "flags, message", [(["--projection-sample", "1"], "--projection-sample 1"), (["--seed", "-3"], "--seed -3")]
)
def test_bad_build_options_fail_before_anything_is_written(tiny_model, tiny_dataset, tmp_path, capsys, flags, message):
    from explainer.cli import main

    out = tmp_path / "cache"
    assert main(["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(out), *flags]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ") and message in error[0]
    assert not out.exists() or not any(out.iterdir())


# --- the analysis ------------------------------------------------------------------------------


def test_word_error_categories_follow_the_span_categories(cache):
    categories = emb.word_error_categories(cache.words, cache.span_errors)
    words, errors = cache.words, cache.span_errors
    assert len(categories) == len(words)
    wrong = (words["gold"] != words["pred"]).to_numpy()
    # A word whose labels agree and that lies in no span error is correct; no correct word is mislabelled.
    assert set(categories[~wrong]) <= {
        "correct",
        "missed",
        "spurious",
        "wrong type",
        "boundary",
        "type and boundary",
        emb.WRONG_LABEL,
    }
    missed = errors[errors["category"] == "missed"].iloc[0]
    row = int(np.flatnonzero((words["example_id"] == missed["example_id"]).to_numpy())[0] + missed["gold_start"])
    assert categories[row] in ("missed", emb.WRONG_LABEL)
    assert (categories[wrong] != "correct").all()


def test_downsampling_keeps_every_error_when_they_fit():
    points = pd.DataFrame({"x": np.arange(100.0), "y": 0.0, "wrong": np.arange(100) % 10 == 0, "gold": "O"})
    drawn, note = emb.display_sample(points, max_points=30, seed=0)
    assert len(drawn) == 30 and drawn["wrong"].sum() == 10 and "all 10" in note
    again, _ = emb.display_sample(points, max_points=30, seed=0)
    assert drawn.index.equals(again.index)
    same, none = emb.display_sample(points, max_points=100)
    assert len(same) == 100 and none is None
    errors_only, note = emb.display_sample(points, max_points=5)
    assert errors_only["wrong"].all() and len(errors_only) == 5 and "seeded sample" in note


def test_regions_round_trip_through_the_url_and_select_points():
    box = emb.region_from_selection({"range": {"x": [2.0, 0.0], "y": [0.0, 1.0]}, "points": []})
    assert box == {"box": [0.0, 2.0, 0.0, 1.0]}
    assert emb.parse_region(emb.format_region(box)) == box
    lasso = emb.region_from_selection({"lassoPoints": {"x": [0, 2, 2, 0], "y": [0, 0, 2, 2]}})
    assert emb.parse_region(emb.format_region(lasso)) == lasso
    x, y = np.array([1.0, 3.0, 1.0, 0.5]), np.array([1.0, 1.0, 0.5, 3.0])
    assert emb.points_in_region(x, y, box).tolist() == [True, False, True, False]
    assert emb.points_in_region(x, y, lasso).tolist() == [True, False, True, False]
    triangle = {"lasso": [[0, 0], [4, 0], [0, 4]]}
    assert emb.points_in_region(np.array([1.0, 3.0]), np.array([1.0, 3.0]), triangle).tolist() == [True, False]
    for junk in ("box:1,2", "lasso:1 2;3", "box:a,b,c,d", "circle:1", "box:nan,1,2,3", ""):
        assert emb.parse_region(junk) is None


def test_hover_text_escapes_dataset_text(cache):
    points = section.all_points(cache, emb.WORD)
    hostile = points[points["word"].str.contains("<", regex=False)].head(1)
    text = emb.hover_texts(hostile, cache.words)[0]
    assert "&lt;" in text and "<script>" not in text and "<b>x</b>" not in text


# --- the section -------------------------------------------------------------------------------


def test_layout_draws_every_word_with_ids_in_customdata(cache):
    figure, note = section.figure_and_note(cache, section.view_of(cache, {}))
    traces = figure.data
    assert {trace.type for trace in traces} == {"scattergl"}
    drawn = sum(len(trace.customdata) for trace in traces)
    assert drawn == len(cache.words) and note == f"Showing every word that passes the filters: {drawn:,} of {drawn:,}."
    words = cache.words.set_index(["example_id", "word_index"])
    trace = traces[0]
    ids = [[parse_point_id(value) for value in trace.customdata] for trace in traces]
    for (example_id, word_index), text in list(zip(ids[0], trace.text))[:20]:
        assert entity_type(words.loc[(example_id, word_index), "gold"]) == trace.name.split(" · ")[0]
        assert text.split("<br>")[0] == f"<b>{html.escape(words.loc[(example_id, word_index), 'word'])}</b>"
    outlined = np.concatenate([np.asarray(trace.marker.line.width) for trace in traces]) > 0
    wrong = np.concatenate(
        [[words.loc[pair, "gold"] != words.loc[pair, "pred"] for pair in trace_ids] for trace_ids in ids]
    )
    assert np.array_equal(outlined, wrong)


def test_points_are_coloured_by_gold_entity_type_by_default_with_counts_in_the_legend(cache):
    figure, _ = section.figure_and_note(cache, section.view_of(cache, {}))
    gold_types = cache.words["gold"].map(entity_type).value_counts()
    colours = type_colours(entity_type(label) for label in cache.labels)
    legend = {trace.name: trace.marker.color for trace in figure.data}
    assert legend == {f"{kind} · {count:,}": colours[kind] for kind, count in gold_types.items()}
    assert list(legend)[-1].startswith("O · ")  # O last, after the types in sorted order


def test_filters_go_to_the_url_and_narrow_the_points(context, cache):
    search = "?cache=tiny&tab=embeddings"
    figure, note, block, new_search, options, colour = section.update_filters(
        context, "word", "loss", ["B-PER", "I-PER"], True, 0.5, search
    )
    state = parse_query(new_search)
    assert state["emb_labels"] == "B-PER,I-PER" and state["emb_errors"] == "1" and state["emb_loss"] == "0.5"
    words = cache.words
    expected = words[words["gold"].isin(["B-PER", "I-PER"]) & (words["gold"] != words["pred"]) & (words["loss"] > 0.5)]
    assert sum(len(trace.x) for trace in figure.data) == len(expected) > 0
    # The controls echoing the URL (as when they mount) change nothing.
    assert (
        section.update_filters(context, "word", "loss", ["B-PER", "I-PER"], True, 0.5, new_search) == (no_update,) * 6
    )


def test_example_mode_colours_by_error_and_selection_lists_examples(context, cache):
    figure, *_, new_search, options, colour = section.update_filters(
        context, "example", "gold", None, False, None, "?cache=tiny&tab=embeddings"
    )
    assert colour == "category" and [o["value"] for o in options] == ["category", "loss", "label_quality"]
    assert sum(len(trace.x) for trace in figure.data) == len(cache.examples)
    coords = np.load(cache.path / EXAMPLE_PROJECTION)
    box = {
        "range": {
            "x": [float(coords[:, 0].min()) - 1, float(np.median(coords[:, 0]))],
            "y": [float(coords[:, 1].min()) - 1, float(coords[:, 1].max()) + 1],
        }
    }
    block, with_selection = section.update_selection(context, box, new_search)
    rows = section.selected_example_rows(cache, parse_query(with_selection))
    expected = np.flatnonzero(coords[:, 0] <= float(np.median(coords[:, 0])) + 1e-4)
    assert sorted(rows["example_id"]) == sorted(cache.examples["example_id"].to_numpy()[expected])


def test_a_selection_counts_the_words_inside_it_by_label(context, cache):
    coords = np.load(cache.path / WORD_PROJECTION)
    x0, x1 = np.quantile(coords[:, 0], [0.2, 0.6])
    y0, y1 = np.quantile(coords[:, 1], [0.1, 0.9])
    search = "?cache=tiny&tab=embeddings"
    block, new_search = section.update_selection(context, {"range": {"x": [x0, x1], "y": [y0, y1]}}, search)
    region = emb.parse_region(parse_query(new_search)["emb_sel"])
    inside = emb.points_in_region(coords[:, 0], coords[:, 1], region)
    words = cache.words[inside]
    rows = section.selected_word_rows(cache, parse_query(new_search))
    assert len(rows) == inside.sum() > 0
    assert set(zip(rows["example_id"], rows["word_index"])) == set(zip(words["example_id"], words["word_index"]))
    assert rows["loss"].is_monotonic_decreasing
    counts = emb.label_counts(words, cache.labels).set_index("label")
    for side, column in (("gold", "gold"), ("predicted", "pred")):
        assert {k: v for k, v in counts[side].items() if v} == dict(words[column].value_counts())
    text = str(block)
    assert f"{counted(int(inside.sum()), 'word')} in the selection" in text
    # The same selection again changes nothing; no selection clears it.
    assert section.update_selection(context, {"range": {"x": [x0, x1], "y": [y0, y1]}}, new_search) == (
        no_update,
        no_update,
    )
    assert section.update_selection(context, None, new_search) == (no_update, no_update)  # the store mounting
    _, cleared = section.update_selection(context, {"cleared": True}, new_search)
    assert "emb_sel" not in parse_query(cleared)


def test_clicking_a_point_opens_its_example_and_word_and_resets_the_click():
    click = {"points": [{"customdata": "7:3", "text": "ignored"}]}
    search, reset = section.open_clicked_point(click, "?tab=embeddings")
    assert parse_query(search) == {"tab": "embeddings", "sample": "7", "word": "3"} and reset is None
    search, _ = section.open_clicked_point({"points": [{"customdata": "4:-1"}]}, "?tab=embeddings&word=2")
    assert parse_query(search) == {"tab": "embeddings", "sample": "4"}
    assert section.open_clicked_point({"points": [{"x": 1}]}, "?tab=embeddings") == (no_update, None)
    for junk in ("7", "a:3", "7:b", None, [7, 3]):
        assert section.open_clicked_point({"points": [{"customdata": junk}]}, "?tab=embeddings") == (no_update, None)


def test_a_cache_without_projections_says_how_to_rebuild(context):
    bare = context.registry.get("bare")
    text = str(section.layout(bare, {}))
    assert "--projection umap" in text and bare.command.split()[0] in text


def test_the_scatter_is_drawn_once_per_view_without_keeping_the_whole_words_table(tiny_cache, tmp_path):
    copy = tmp_path / "cache"
    shutil.copytree(tiny_cache, copy)
    add_projections(copy, method="pca")
    cache = open_cache(copy)
    view = section.view_of(cache, {})
    figure, note = section.figure_and_note(cache, view)
    assert section.figure_and_note(cache, replace(view))[0] is figure  # the same view: the kept figure
    errors_only = section.figure_and_note(cache, replace(view, errors=True))[0]
    assert errors_only is not figure and sum(len(t.x) for t in errors_only.data) < sum(len(t.x) for t in figure.data)
    section.selection_block(cache, replace(view, sel={"box": [-1e9, 1e9, -1e9, 1e9]}))
    assert "words.parquet" not in cache._memo and "examples.parquet" not in cache._memo


def test_word_points_keep_their_labels_as_categoricals_and_the_grid_gets_text(cache):
    # Every worker keeps the points for its lifetime: a label column as Arrow strings took ~13 bytes
    # per word (~10 MB each at 1M subwords), as a categorical one.
    points = section.all_points(cache, emb.WORD)
    words = cache.words
    for name in emb.CATEGORICAL_COLUMNS:
        assert isinstance(points[name].dtype, pd.CategoricalDtype), name
    assert points["row"].dtype == np.int32 and points["example_id"].dtype == np.int32
    assert isinstance(points["word"].dtype, pd.CategoricalDtype)  # ~23k distinct words at 1M: a code each
    assert points["word"].astype("str").tolist() == words["word"].astype("str").tolist()
    assert points["gold"].astype("str").tolist() == words["gold"].astype("str").tolist()
    assert points["pred_type"].astype("str").tolist() == [entity_type(label) for label in words["pred"]]
    rows = section.selected_word_rows(cache, {"emb_sel": "box:-1e9,1e9,-1e9,1e9"})
    assert len(rows) == len(words) and not any(isinstance(rows[name].dtype, pd.CategoricalDtype) for name in rows)
    counts = section._value_counts(points, "gold")
    assert counts == {label: int(count) for label, count in words["gold"].value_counts().items()}
