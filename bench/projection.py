"""Benchmark the projection step of the build and the duplicate search, on CoNLL-2003 train (and test).

The model is a small BERT built from a config (no hub), as in ``bench/build.py``: 2 layers, hidden
size 128, WordPiece vocabulary of 16,000 trained on the CoNLL-2003 training words; random unless
``--model`` names another (e.g. one fine-tuned with ``explainer train``). A random model's hidden states
carry no meaning, so its clusters and near duplicates are not meaningful; exact duplicates and
timings are. The caches are built with ``--projection none``; the projections are then timed alone.

Measured, one run each, with the load average (1 min) after each step:

- numba's compilation: the first small UMAP fit and transform in a process, which every build with
  ``--projection umap`` on 2,000 points or more pays once;
- ``add_projections`` with the defaults (``umap``, fitted on ``--projection-sample`` words, the
  rest placed by their nearest fitted words), split into PCA, fit and placement, per 1,000 points;
- with ``--full-fit``: UMAP fitted on every word (``--projection-sample 203621``), for comparison;
- ``pca``; the Find duplicates index (exact groups + nearest-neighbour pairs at cosine >= 0.80), the
  label conflicts of its pairs, the pairs at the default 0.95, the test-in-train leakage check;
- the Embeddings section's first draw of the train words and the Find duplicates page.

Usage: ``.venv/bin/python bench/projection.py [--work DIR] [--limit N] [--model DIR] [--full-fit]``;
prints a markdown table and writes it to ``bench/results/projection.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS = ROOT / "bench" / "results" / "projection.md"
LAYERS, HIDDEN, VOCAB = 2, 128, 16_000


def bench_build_module():
    """``bench/build.py`` (for its model builder), loaded by path: bench/ is not a package."""
    spec = importlib.util.spec_from_file_location("bench_build", ROOT / "bench" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ensure_cache(model: Path, data: Path, out: Path) -> Path:
    from explainer.cli import main

    if not (out / "manifest.json").is_file():
        assert (
            main(
                [
                    "build",
                    "--model",
                    str(model),
                    "--dataset",
                    str(data),
                    "--out",
                    str(out),
                    "--batch-size",
                    "64",
                    "--projection",
                    "none",
                    "--label-quality",
                    "none",
                    "--activations-sample",
                    "0",
                ]
            )
            == 0
        )
    return out


CPU_SECONDS: dict[str, float] = {}  # CPU seconds (all threads) of the last timed call, beside its wall time


def timed(function):
    started, cpu = time.perf_counter(), time.process_time()
    value = function()
    CPU_SECONDS["last"] = time.process_time() - cpu
    return value, time.perf_counter() - started


def load() -> str:
    """Load average (1 min) and the CPU seconds of the last timed step, for the table's last column."""
    return f"{os.getloadavg()[0]:.1f} | {CPU_SECONDS.pop('last', 0.0):.1f}"


def fresh_copy(cache: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(cache, target)
    return target


def numba_compilation() -> float:
    """Seconds of the build's UMAP warm-up in this process: numba compiling umap's kernels, or loading them
    from its on-disk cache when an earlier process compiled them (see explainer/pipeline/projection.py)."""
    from explainer.pipeline.projection import warm_up

    return timed(warm_up)[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="directory for the model and caches (kept); default a temp dir")
    parser.add_argument("--limit", type=int, help="only the first N training examples (a quick run)")
    parser.add_argument("--model", type=Path, help="use this model directory instead of the random config-built one")
    parser.add_argument("--full-fit", action="store_true", help="also fit UMAP on every word (slow)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-projection-"))
    work.mkdir(parents=True, exist_ok=True)

    import torch

    torch.set_num_threads(2)
    build = bench_build_module()
    model = args.model or work / "model"
    if not (model / "config.json").is_file():
        build.make_model(model, layers=LAYERS, hidden=HIDDEN, vocab_size=VOCAB)
    train_data = DATA / "train.txt"
    if args.limit:
        train_data = build.write_subset(DATA / "train.txt", work / f"train-{args.limit}.conll", limit=args.limit)
    suffix = f"-{args.limit}" if args.limit else ""
    caches = work / "caches" / (args.model.name if args.model else "random")
    train, build_seconds = timed(lambda: ensure_cache(model, train_data, caches / f"train{suffix}"))
    test = ensure_cache(model, DATA / "test.txt", caches / "test")

    from explainer.analysis import duplicates as dup
    from explainer.app.components.wording import counted
    from explainer.app.factory import create_app
    from explainer.app.sections import duplicates as duplicates_section
    from explainer.app.sections import embeddings as embeddings_section
    from explainer.app.settings import Settings
    from explainer.cache.reader import open_cache
    from explainer.pipeline.projection import DEFAULT_MAX_FIT, add_projections

    CPU_SECONDS.clear()  # the build's: not a row of the table
    rows = [("load average before", 0.0, "", load())]
    compile_seconds = numba_compilation()
    rows.append(
        (
            "UMAP warm-up (numba compiles, or loads from its disk cache, the kernels of a fit)",
            compile_seconds,
            "compiled by the first build on a machine, loaded from disk by later ones",
            load(),
        )
    )
    n_words = open_cache(train).manifest["counts"]["words"]
    runs = [("default", DEFAULT_MAX_FIT)] + ([("full fit", n_words)] if args.full_fit else [])
    umap_results = {}
    for name, max_fit in runs:
        target = fresh_copy(train, work / "projected" / name / train.name)
        result, seconds = timed(lambda: add_projections(target, method="umap", max_fit=max_fit))
        umap_results[name] = result
        t, words = result["timings"], result["settings"]["words"]
        fitted, placed = words["fitted_on"], words["points"] - words["fitted_on"]
        detail = (
            f"words: PCA {t.get('word_pca', 0):.1f} s, fit on {fitted:,} {t.get('word_fit', 0):.1f} s "
            f"({1000 * t.get('word_fit', 0) / max(fitted, 1):.2f} s per 1k)"
        )
        if placed:
            detail += (
                f", {placed:,} placed by neighbours {t.get('word_place', 0):.1f} s "
                f"({1000 * t.get('word_place', 0) / placed:.2f} s per 1k)"
            )
        detail += f"; examples {t['example_projection']:.1f} s; example embeddings {t['example_embeddings']:.1f} s"
        rows.append((f"projection `umap`, `--projection-sample {max_fit}` ({name})", seconds, detail, load()))
    target = fresh_copy(train, work / "projected" / "pca" / train.name)
    pca_result, pca_seconds = timed(lambda: add_projections(target, method="pca"))
    rows.append(("projection `pca`", pca_seconds, f"words {pca_result['timings']['word_projection']:.1f} s", load()))

    cache, other = open_cache(train), open_cache(test)
    examples = cache.examples
    embeddings = np.load(train / "example_embeddings.npy", mmap_mode="r")
    index, index_seconds = timed(lambda: dup.duplicate_index(examples, embeddings))
    groups = index.groups
    repeats = int(groups["size"].sum() - len(groups))
    rows.append(
        (
            "duplicate index (exact groups + neighbour pairs at cosine >= 0.80)",
            index_seconds,
            f"{len(groups):,} exact groups, {repeats:,} repeats, {int(groups['inconsistent'].sum())} labelled "
            f"inconsistently; {len(index.pairs):,} candidate pairs",
            load(),
        )
    )
    every, every_seconds = timed(lambda: index.near(examples, threshold=dup.LOWEST_THRESHOLD))
    rows.append(
        (
            "label conflicts of every candidate pair (once per cache)",
            every_seconds,
            f"{len(every):,} pairs, {int(every['inconsistent'].sum()):,} with conflicting labels",
            load(),
        )
    )
    near, near_seconds = timed(lambda: every[every["similarity"] >= dup.DEFAULT_THRESHOLD - 1e-6])
    rows.append(
        (
            "near pairs at the default cosine >= 0.95 (a filter: what the slider costs)",
            near_seconds,
            f"{len(near):,} pairs, {int(near['inconsistent'].sum()):,} with conflicting labels",
            load(),
        )
    )
    leaks, leak_seconds = timed(
        lambda: dup.leakage(
            other.examples,
            examples,
            evaluation_embeddings=np.load(test / "example_embeddings.npy"),
            training_embeddings=embeddings,
            threshold=dup.DEFAULT_THRESHOLD,
        )
    )
    exact = leaks[leaks["kind"] == "exact"]
    rows.append(
        (
            "leakage test -> train (exact + nearest neighbour)",
            leak_seconds,
            f"{counted(len(exact), 'test example')} exactly in train ({exact['text'].str.casefold().nunique()} distinct), "
            f"{len(leaks) - len(exact):,} near",
            load(),
        )
    )

    app_root = work / "projected" / "default"
    context = create_app(Settings(cache=app_root)).server.config["EXPLAINER_CONTEXT"]
    app_cache = context.registry.get(train.name)
    view = embeddings_section.view_of(app_cache, {})
    (figure, note), draw_seconds = timed(lambda: embeddings_section.figure_and_note(app_cache, view))
    payload = len(figure.to_json())
    rows.append(
        (
            "Embeddings: first draw of the words (points, categories, hover, figure)",
            draw_seconds,
            f"{note} Figure JSON {payload / 1e6:.1f} MB",
            load(),
        )
    )
    _, second_seconds = timed(lambda: embeddings_section.figure_and_note(app_cache, view))
    rows.append(("Embeddings: a redraw (points memoised)", second_seconds, "", load()))
    _, section_seconds = timed(lambda: duplicates_section.layout(app_cache, {}))
    rows.append(
        (
            "Find duplicates: first page in the app (its own index, then 20 cards)",
            section_seconds,
            duplicates_section.summary(app_cache, duplicates_section.DuplicatesView()),
            load(),
        )
    )

    counts = cache.manifest["counts"]
    described = (
        f"{args.model.name} (entity F1 on train {cache.manifest['headline']['entity_f1']:.3f})"
        if args.model
        else f"random BERT, {LAYERS} layers x {HIDDEN} hidden, WordPiece vocabulary of {VOCAB:,} trained on "
        "CoNLL-2003 train (built from a config; its hidden states mean nothing, so clusters and near "
        "duplicates are not meaningful, exact duplicates and timings are)"
    )
    header = (
        f"# Projection and duplicate-search benchmark\n\nCoNLL-2003 train: {counts['examples']:,} examples, "
        f"{counts['words']:,} words, {counts['subwords']:,} subwords (test: "
        f"{other.manifest['counts']['examples']:,} examples). Model: {described}. CPU, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other jobs (load average after each step, and its CPU seconds over all "
        f"threads, in the table), torch {torch.__version__}; "
        f"cache build {build_seconds:.0f} s (0 if reused). One run; these machines are noisy, compare rows of "
        "this run with each other.\n"
    )
    table = ["| step | seconds | result | load | CPU s |", "|---|---:|---|---:|---:|"]
    table += [f"| {name} | {seconds:.1f} | {result} | {after} |" for name, seconds, result, after in rows]
    text = header + "\n" + "\n".join(table) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    (work / "projection-settings.json").write_text(json.dumps(umap_results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
