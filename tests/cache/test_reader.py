"""Reading caches and writing them atomically under a lock (explainer.cache.reader / writer)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT, WRONG_MANIFEST_FIELDS, deny_reads, set_manifest_field, write_conll

from explainer.analysis.activations import DEFAULT_COMPONENTS
from explainer.cache import schema
from explainer.cache.artefacts import (
    ActivationSample,
    DuplicateFindings,
    Factorisation,
    LabelErrorFindings,
    LabelQualityScores,
    Missing,
    Projections,
)
from explainer.cache.reader import list_caches, open_cache
from explainer.cache.writer import CacheWriter, lock_path
from explainer.cli import main
from explainer.errors import ExplainerError

ROOT = REPO_ROOT


@pytest.fixture
def cache_copy(tiny_cache, tmp_path):
    return shutil.copytree(tiny_cache, tmp_path / "copy")


def siblings(out: Path) -> list[str]:
    """Hidden files a build keeps next to ``out`` (temporary dirs, moved-aside caches, the lock)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def build(model, data, out, *extra):
    return main(["build", "--model", str(model), "--dataset", str(data), "--out", str(out), *map(str, extra)])


# --- reader --------------------------------------------------------------------------------------


def test_open_cache_exposes_everything(tiny_cache, tiny_model, tiny_dataset):
    cache = open_cache(tiny_cache)
    assert cache.path == tiny_cache and cache.labels == cache.manifest["labels"]
    assert cache.metrics["labels"] == cache.labels
    assert cache.describe() == f"{tiny_model.name} · {tiny_dataset.name}"
    for name in ("examples", "words", "subwords", "spans", "span_errors"):
        assert getattr(cache, name) is cache.table(name)  # memoised
    assert isinstance(cache.probs, np.memmap) and not cache.probs.flags.writeable
    assert isinstance(cache.hidden, np.memmap) and cache.hidden is cache.hidden
    words = cache.table("words", columns=["word", "pred"])
    assert list(words.columns) == ["word", "pred"] and len(words) == cache.manifest["counts"]["words"]


def test_column_selection_reads_only_those_columns(cache_copy):
    cache = open_cache(cache_copy)
    assert list(cache.table("subwords.parquet", columns=["token"]).columns) == ["token"]
    with pytest.raises(ValueError, match="unknown table"):
        cache.table("nope")


def test_memoisation_is_thread_safe(cache_copy):
    cache = open_cache(cache_copy)
    with ThreadPoolExecutor(8) as pool:
        frames = list(pool.map(lambda _: cache.words, range(32)))
    assert all(frame is frames[0] for frame in frames)


def test_describe_uses_the_split_and_hub_ids(cache_copy):
    manifest_path = cache_copy / schema.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["model"]["id"], manifest["split"] = "dslim/bert-base-NER", "validation"
    manifest_path.write_text(json.dumps(manifest))
    assert open_cache(cache_copy).describe() == "dslim/bert-base-NER · tiny.conll · validation"


def test_another_schema_version_is_refused_with_the_rebuild_command(cache_copy, capsys):
    manifest_path = cache_copy / schema.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = schema.SCHEMA_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ExplainerError, match="schema version") as raised:
        open_cache(cache_copy)
    assert manifest["command"] in str(raised.value)
    assert main(["info", str(cache_copy)]) == 2
    assert manifest["command"] in capsys.readouterr().err


def test_an_incomplete_cache_is_refused_with_the_rebuild_command(cache_copy):
    (cache_copy / schema.WORDS).unlink()
    command = json.loads((cache_copy / schema.MANIFEST).read_text())["command"]
    with pytest.raises(ExplainerError, match="incomplete .missing words.parquet.") as raised:
        open_cache(cache_copy)
    assert command in str(raised.value)


def test_an_array_of_the_wrong_length_is_refused(cache_copy):
    np.save(cache_copy / schema.PROBS, np.zeros((3, 9), dtype=np.float32))
    with pytest.raises(ExplainerError, match="shape"):
        open_cache(cache_copy).probs


# --- optional artefacts: a value, or Missing with the reason ---------------------------------------


def test_optional_artefacts_are_typed_members(tiny_cache):
    cache = open_cache(tiny_cache)
    counts = cache.manifest["counts"]
    embeddings = cache.example_embeddings()
    assert isinstance(embeddings, np.memmap) and embeddings.shape == (counts["examples"], cache.hidden.shape[1])
    projections = cache.projections()
    assert isinstance(projections, Projections) and projections.words.shape == (counts["words"], 2)
    assert projections.examples.shape == (counts["examples"], 2) and projections.info["method"]
    scores = cache.label_quality()
    assert isinstance(scores, LabelQualityScores) and len(scores.words) == counts["words"]
    sample = cache.activation_sample()
    assert isinstance(sample, ActivationSample) and sample.activations.shape[1] == len(sample.positions) > 0
    found = cache.duplicate_findings()
    assert isinstance(found, DuplicateFindings) and found.has_embeddings
    assert all(isinstance(ids, list) and all(type(i) is int for i in ids) for ids in found.groups["example_ids"])
    assert cache.duplicate_findings() is found  # memoised
    factorisation = cache.activation_factorisation()
    assert isinstance(factorisation, Factorisation) and factorisation.weights.shape[0] == len(sample.positions)
    assert factorisation.layers == tuple(range(sample.n_layers)) and factorisation.n_components == DEFAULT_COMPONENTS


def test_findings_keep_their_lists_in_arrow_and_a_row_reads_as_lists_of_str(tiny_cache):
    # Converted up front, the lists were ~100 MB of Python objects per worker at 250k words.
    found = open_cache(tiny_cache).findings()
    assert isinstance(found, LabelErrorFindings) and len(found.table) > 0
    for name in ("gold_spans", "fix_spans", "fix_tags"):
        assert isinstance(found.table[name].dtype, pd.ArrowDtype), name
    row = dict(found.table.iloc[0])
    assert isinstance(row["fix_tags"], list) and all(type(tag) is str for tag in row["fix_tags"])
    mine = next(found.of_example(int(row["example_id"])).itertuples())
    assert all(type(span) is str for span in [*mine.gold_spans, *mine.fix_spans])


@pytest.mark.parametrize(
    ("member", "files", "says"),
    [
        ("example_embeddings", [schema.EXAMPLE_EMBEDDINGS], "rebuild it with"),
        ("projections", [schema.WORD_PROJECTION, schema.EXAMPLE_PROJECTION], "--projection"),
        ("label_quality", [schema.LABEL_QUALITY], "--label-quality"),
        ("activation_sample", [schema.ACTIVATIONS], "--activations-sample"),
        ("activation_factorisation", [schema.ACTIVATION_NMF], "rebuild it with"),
        ("duplicate_findings", [schema.DUPLICATE_GROUPS], "rebuild it with"),
    ],
)
def test_a_missing_artefact_says_which_build_adds_it(cache_copy, member, files, says):
    for name in files:
        (cache_copy / name).unlink(missing_ok=True)
    cache = open_cache(cache_copy)
    found = getattr(cache, member)()
    assert isinstance(found, Missing) and says in found.reason
    if says == "rebuild it with":
        assert cache.command in found.reason
    assert len(cache.examples) == cache.manifest["counts"]["examples"]  # the rest of the cache still reads


@pytest.mark.parametrize(
    ("member", "name"),
    [
        ("example_embeddings", schema.EXAMPLE_EMBEDDINGS),
        ("projections", schema.WORD_PROJECTION),
        ("label_quality", schema.EXAMPLE_LABEL_QUALITY),
        ("activation_sample", schema.ACTIVATION_POSITIONS),
        ("activation_factorisation", schema.ACTIVATION_NMF),
        ("duplicate_findings", schema.DUPLICATE_GROUPS),
    ],
)
def test_a_damaged_artefact_is_an_error_naming_its_file(cache_copy, member, name):
    manifest = json.loads((cache_copy / schema.MANIFEST).read_text())
    manifest["analyses"].setdefault("activation_nmf", {"layers": [0], "n_components": 2, "seed": 0})
    (cache_copy / schema.MANIFEST).write_text(json.dumps(manifest))
    (cache_copy / name).write_bytes(b"not what the build wrote")
    cache = open_cache(cache_copy)  # opening and the other members are unaffected
    with pytest.raises(ExplainerError, match="rebuild") as raised:
        getattr(cache, member)()
    assert str(cache_copy / name) in str(raised.value)
    assert len(cache.words) == manifest["counts"]["words"]


def test_an_artefact_of_the_wrong_shape_is_refused(cache_copy):
    np.save(cache_copy / schema.EXAMPLE_EMBEDDINGS, np.zeros((2, 8), dtype=np.float32))
    np.save(cache_copy / schema.WORD_PROJECTION, np.zeros((3, 3), dtype=np.float32))
    cache = open_cache(cache_copy)
    for member, name in (("example_embeddings", schema.EXAMPLE_EMBEDDINGS), ("projections", schema.WORD_PROJECTION)):
        with pytest.raises(ExplainerError, match="shape") as raised:
            getattr(cache, member)()
        assert str(cache_copy / name) in str(raised.value)


def test_a_directory_without_manifest_is_not_a_cache(tmp_path):
    with pytest.raises(ExplainerError, match="no manifest.json"):
        open_cache(tmp_path)
    with pytest.raises(ExplainerError, match="does not exist"):
        open_cache(tmp_path / "nothing")


def test_list_caches(tiny_cache, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for name in ("b", "a"):
        shutil.copytree(tiny_cache, root / name)
    shutil.copytree(tiny_cache, root / ".a.tmp-123")  # a build in progress
    (root / "notes").mkdir()
    assert list_caches(root) == [root / "a", root / "b"]
    assert list_caches(root / "a") == [root / "a"]
    assert list_caches(root / "notes") == []
    with pytest.raises(ExplainerError):
        list_caches(tmp_path / "missing")


def test_list_caches_lists_a_directory_it_cannot_enter(tiny_cache, tmp_path, monkeypatch):
    root = tmp_path / "root"
    for name in ("a", "b"):
        shutil.copytree(tiny_cache, root / name)
    deny_reads(monkeypatch, root / "a")
    assert list_caches(root) == [root / "a", root / "b"]  # listed, so the app can say it is unreadable
    with pytest.raises(ExplainerError, match=r"cannot read .*a/manifest.json .*readable by the app's user"):
        open_cache(root / "a")
    assert open_cache(root / "b").describe()


@pytest.mark.parametrize(("field", "kind", "value"), WRONG_MANIFEST_FIELDS)
def test_open_cache_names_the_manifest_field_of_a_wrong_type(cache_copy, field, kind, value):
    set_manifest_field(cache_copy, field, value)
    with pytest.raises(ExplainerError) as raised:
        open_cache(cache_copy)
    message = str(raised.value)
    assert message.startswith(f"{cache_copy / schema.MANIFEST}: field '{field}' ")
    assert "rebuild the cache with: explainer build" in message


def test_open_cache_names_a_manifest_that_is_not_json(cache_copy):
    (cache_copy / schema.MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ExplainerError, match=rf"{cache_copy / schema.MANIFEST} is unreadable"):
        open_cache(cache_copy)


@pytest.mark.parametrize("content", ["[1, 2", "[1, 2]"])
def test_metrics_names_a_metrics_file_that_is_not_a_json_object(cache_copy, content):
    (cache_copy / schema.METRICS).write_text(content, encoding="utf-8")
    cache = open_cache(cache_copy)  # the manifest is fine: only what reads the metrics fails
    with pytest.raises(ExplainerError, match=rf"{cache_copy / schema.METRICS}.*rebuild the cache with: explainer"):
        cache.metrics


def test_metrics_names_an_unreadable_metrics_file(cache_copy, monkeypatch):
    deny_reads(monkeypatch, cache_copy / schema.METRICS)
    with pytest.raises(ExplainerError, match=rf"cannot read {cache_copy / schema.METRICS} .*Permission denied"):
        open_cache(cache_copy).metrics


def test_info_prints_the_summary_and_the_seqeval_table(tiny_cache, capsys):
    assert main(["info", str(tiny_cache)]) == 0
    text = capsys.readouterr().out
    manifest = json.loads((tiny_cache / schema.MANIFEST).read_text())
    assert f"{manifest['counts']['examples']} examples" in text
    assert f"F1 {manifest['headline']['entity_f1']:.4f}" in text
    assert manifest["command"] in text
    for row in ("LOC", "MISC", "ORG", "PER", "micro avg", "macro avg", "weighted avg"):
        assert any(line.startswith(row) for line in text.splitlines()), row


def test_reader_does_not_import_torch():
    code = "import sys, explainer.cache.reader; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- writer --------------------------------------------------------------------------------------


def test_a_failed_build_leaves_the_old_cache_and_no_leftovers(cache_copy):
    before = (cache_copy / schema.MANIFEST).read_text()
    with pytest.raises(RuntimeError), CacheWriter(cache_copy) as writer:
        writer.write_json(schema.METRICS, {})
        assert writer.path.name == f".copy.tmp-{os.getpid()}" and writer.path.is_dir()
        raise RuntimeError("boom")
    assert (cache_copy / schema.MANIFEST).read_text() == before
    assert siblings(cache_copy) == []
    open_cache(cache_copy)


def test_commit_replaces_the_old_cache(cache_copy):
    with CacheWriter(cache_copy) as writer:
        (writer.path / "marker").write_text("new")
        manifest = json.loads((cache_copy / schema.MANIFEST).read_text()) | {"created": "now"}
        writer.commit(manifest)
    assert (cache_copy / "marker").read_text() == "new" and not (cache_copy / schema.WORDS).exists()
    assert siblings(cache_copy) == []


def test_commit_refuses_an_incomplete_manifest(tmp_path):
    with pytest.raises(ValueError, match="manifest lacks"), CacheWriter(tmp_path / "out") as writer:
        writer.commit({"schema_version": 1})
    assert not (tmp_path / "out").exists() and siblings(tmp_path / "out") == []


def test_leftovers_of_a_killed_build_are_cleared_and_a_cache_moved_aside_is_restored(cache_copy):
    # A build killed between the two renames of a commit: the old cache sits aside, nothing in place.
    aside = cache_copy.parent / ".copy.old-999"
    os.rename(cache_copy, aside)
    (cache_copy.parent / ".copy.tmp-998").mkdir()
    with pytest.raises(RuntimeError), CacheWriter(cache_copy):
        raise RuntimeError("stop before writing")
    assert siblings(cache_copy) == []
    open_cache(cache_copy)


def test_the_lock_stops_a_second_build(tiny_model, tiny_cache, tmp_path, capsys):
    from filelock import FileLock

    out = shutil.copytree(tiny_cache, tmp_path / "busy")
    before = (out / schema.MANIFEST).read_text()
    data = write_conll(tmp_path / "d.conll", [[("John", "B-PER")]])
    with FileLock(str(lock_path(out))):
        assert build(tiny_model, data, out) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: another build is writing") and "\n" not in error
    assert (out / schema.MANIFEST).read_text() == before
    assert build(tiny_model, data, out) == 0  # the lock is free again
    assert open_cache(out).manifest["counts"]["examples"] == 1
    assert siblings(out) == []


def test_rebuilding_replaces_the_cache(tiny_model, tmp_path):
    out = tmp_path / "cache"
    first = write_conll(tmp_path / "one.conll", [[("John", "B-PER")]])
    second = write_conll(tmp_path / "two.conll", [[("Paris", "B-LOC")], [("Acme", "B-ORG")]])
    assert build(tiny_model, first, out) == 0
    old = open_cache(out)
    old_words = old.words
    assert build(tiny_model, second, out) == 0
    assert open_cache(out).manifest["counts"]["examples"] == 2
    assert old_words.word.tolist() == ["John"]  # what a reader already loaded stays valid
    assert siblings(out) == []
    # ...but it never mixes in the new cache's files.
    assert not old.is_current() and open_cache(out).is_current()
    with pytest.raises(ExplainerError, match="rebuilt"):
        old.spans


@pytest.mark.slow
def test_a_killed_build_leaves_the_old_cache_readable(tiny_model, tmp_path, capsys):
    out = tmp_path / "cache"
    assert build(tiny_model, write_conll(tmp_path / "small.conll", [[("John", "B-PER")]]), out) == 0
    before = (out / schema.MANIFEST).read_text()
    sentence = [("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("Paris", "B-LOC")] * 5
    big = write_conll(tmp_path / "big.conll", [sentence] * 3000)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explainer",
            "build",
            "--model",
            str(tiny_model),
            "--dataset",
            str(big),
            "--out",
            str(out),
            "--batch-size",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tmp = out.parent / f".cache.tmp-{process.pid}"
    try:
        deadline = time.monotonic() + 120
        while not (tmp / schema.HIDDEN).exists():  # the forward passes have started
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # A second build on the same directory meanwhile is refused.
        assert build(tiny_model, big, out) == 2
        assert "another build is writing" in capsys.readouterr().err
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert tmp.is_dir()  # what the killed build left
    assert (out / schema.MANIFEST).read_text() == before
    assert open_cache(out).words.word.tolist() == ["John"]
    assert build(tiny_model, write_conll(tmp_path / "two.conll", [[("Paris", "B-LOC")], [("x", "O")]]), out) == 0
    assert open_cache(out).manifest["counts"]["examples"] == 2
    assert siblings(out) == []


def test_the_rebuild_command_changes_an_option_without_editing_the_command(cache_copy):
    manifest = json.loads((cache_copy / "manifest.json").read_text())
    manifest["options"]["projection"] = "pca"
    (cache_copy / "manifest.json").write_text(json.dumps(manifest))
    cache = open_cache(cache_copy)
    assert cache.rebuild_command() == cache.command
    command = cache.rebuild_command(projection="umap", activations_sample=7)
    assert "--projection pca" not in command and "--activations-sample 7" in command
    assert command.startswith("explainer build ") and " --model " in command and " --out " in command
    assert command.split().count("--projection") == 1 and "--projection umap" in command  # shown, even at its default

    del manifest["options"]  # an older manifest: its command is parsed once, in one place
    manifest["command"] = "explainer build --model m --dataset d.conll --out c --projection pca"
    (cache_copy / "manifest.json").write_text(json.dumps(manifest))
    assert open_cache(cache_copy).rebuild_command(projection="none").endswith("--projection none")


def test_a_compact_view_table_holds_codes_and_maps_its_long_texts(tiny_cache):
    # The Misclassified grids' tables: each string column a categorical with sorted categories (sorting by code
    # sorts by the strings), integers as int32, the contexts Arrow strings over the memory map (no copy).
    cache = open_cache(tiny_cache)
    compact = cache.compact_table(schema.MISCLASSIFIED_WORDS, mapped_text=("context",))
    plain = cache.mapped_table(schema.MISCLASSIFIED_WORDS)
    assert list(compact.columns) == list(plain.columns)
    for name in ("word", "gold", "pred"):
        categories = compact[name].cat.categories.tolist()
        assert categories == sorted(categories)
    assert compact["example_id"].dtype == np.int32 and compact["word_index"].dtype == np.int32
    assert isinstance(compact["context"].dtype, pd.ArrowDtype)
    if Path("/proc/self/maps").is_file():  # the contexts' bytes lie in the file's mapping, not in the heap
        address = compact["context"].array._pa_array.chunk(0).buffers()[2].address
        mapped = [
            line.split()[0]
            for line in Path("/proc/self/maps").read_text().splitlines()
            if line.endswith(schema.MISCLASSIFIED_WORDS)
        ]
        assert any(int(low, 16) <= address < int(high, 16) for low, high in (span.split("-") for span in mapped))
    assert not any(str(dtype) in ("object", "str") for dtype in compact.dtypes)
    for name in plain.columns:
        assert compact[name].astype(object).tolist() == plain[name].astype(object).tolist(), name
    assert cache.compact_table(schema.MISCLASSIFIED_WORDS, mapped_text=("context",)) is compact  # memoised
    assert cache.compact_table("no_such_view.arrow") is None


def test_a_compact_table_keeps_integers_with_gaps_nullable():
    import pyarrow as pa

    from explainer.cache.reader import compact_frame

    table = pa.table(
        {
            "start": pa.array([1, None, 3], type=pa.int32()),
            "big": pa.array([0, 2**40, 1], type=pa.int64()),
            "text": pa.array(["b", None, "a"]),
        }
    )
    frame = compact_frame(table)
    assert str(frame["start"].dtype) == "Int32" and frame["start"].isna().tolist() == [False, True, False]
    assert frame["big"].dtype == np.int64  # does not fit int32: left as it is
    assert frame["text"].cat.categories.tolist() == ["a", "b"] and frame["text"].isna().tolist() == [False, True, False]
