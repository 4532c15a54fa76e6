"""Benchmark `explainer build` against the bare forward pass and a naive one-example-at-a-time loop.

The model is BERT-base-sized (12 layers, hidden 768, random weights, built from a config: there is
no hub here) with a WordPiece vocabulary trained on the CoNLL-2003 training words, so words split
into subwords roughly as with a real cased BERT. Measured on CoNLL-2003 validation (3250 examples):

- bare forward: the same batches the build uses (sorted by length), ``model(**batch)`` only;
- build: ``explainer build`` end to end (load, tokenise, forward, analysis, writing the cache) with
  the default options (UMAP projection, label quality, activations), and again with ``--projection pca``;
- naive: tokenise and run one example at a time, pick each word's first subword in a Python loop;
  measured on every k-th example and extrapolated to the whole set (the table says so).

Usage: ``.venv/bin/python bench/build.py [--limit N] [--naive-examples 150] [--forward-twice] [--results PATH]``; prints a markdown
table and writes it to ``bench/results/build.md``.
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
        f"{name.replace('_', ' ')} {timings[name]:.1f} s"
        for name in ("views", "projection", "label_quality", "activations")
        if name in timings
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
    args = parser.parse_args()

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
        pca = whole_build(model_dir, data, scratch / "cache-pca", batch_size=args.batch_size, projection="pca")
        pca_seconds = pca["timings"]["total"]
        print(f"build --projection pca: {pca_seconds:.1f} s {pca['timings']}", flush=True)
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
        ("`explainer build --projection pca`", pca_seconds, "measured; " + timing_note(pca["timings"])),
        (
            "naive, one example at a time",
            naive_seconds,
            f"measured on {len(subset)} examples (every {step}th), extrapolated x{len(examples) / len(subset):.1f}",
        ),
    ]
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
        f"\nBuild / bare forward = **{build_seconds / forward_seconds:.2f}** with the defaults, "
        f"**{pca_seconds / forward_seconds:.2f}** with `--projection pca` (goal <= 1.3); "
        f"naive / build = **{naive_seconds / build_seconds:.2f}**."
    )
    write_results("\n".join(lines) + "\n", args.results)


if __name__ == "__main__":
    main()
