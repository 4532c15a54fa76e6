"""Benchmark: are the fast attributions right? Fixed 8 points and the refining fast preset against 50 and 300.

Two models of the demo's architecture (all-MiniLM-L6-v2, 6 layers x 384, 21 WNUT-16 labels): the
demo's fine-tuned model (``demo/model``, from ``make demo``; skipped with a note when absent) and the
same architecture with random weights (seeded). Each explains every subword of ``--sentences``
held-out WNUT-16 tweets (seeded choice, the demo's split), as the panel does by default, with:

- 8 Gauss-Legendre points, no refinement (the fast preset before the refinement);
- the fast preset (8 points, targets whose completeness error exceeds 5% of their score doubled, up
  to 128);
- 50 points (the full preset) and 300 points (the reference).

Per target: Pearson correlation of the raw attributions with the 300-point result, the completeness
error relative to the target's score; per sentence: CPU seconds (one torch thread, as the app).
Ratios are of the same run. The table is printed and written to
bench/results/attribution_accuracy.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The checkout's explainer, through the path entry above (hence E402).
from explainer.inference.attributions import COMPLETENESS_FLOOR, PRESETS, explain  # noqa: E402
from explainer.inference.model import LiveModel  # noqa: E402

REFERENCE_STEPS = 300


def random_model(fine_tuned: LiveModel | None) -> LiveModel:
    """The demo's architecture and labels (MiniLM from the packaged encoder), weights drawn at random."""
    from transformers import AutoConfig, AutoTokenizer, BertForTokenClassification

    from explainer.demo import base_model_path

    base = base_model_path()
    labels = fine_tuned.labels if fine_tuned else ["O", "B-person", "I-person", "B-loc", "I-loc"]
    config = AutoConfig.from_pretrained(
        base, id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)}
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config).eval()
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(base)
    return LiveModel(model=model, tokenizer=tokenizer, labels=labels, max_length=512, model_id="random MiniLM")


def sentences(count: int, seed: int, max_words: int = 30) -> list[list[str]]:
    """``count`` held-out tweets of 8 to ``max_words`` words, chosen with ``seed``."""
    from explainer.demo import split_corpus

    _, heldout = split_corpus(log=lambda line: None)
    fitting = [example.words for example in heldout.examples if 8 <= len(example.words) <= max_words]
    return random.Random(seed).sample(fitting, count)


def runs() -> dict[str, dict]:
    fast = PRESETS["fast"]
    return {
        f"{fast.n_steps} points, no refinement (fast before)": {"n_steps": fast.n_steps},
        f"fast preset ({fast.n_steps} points, refined to <= {fast.tolerance:.0%}, cap {fast.max_steps})": {
            "n_steps": fast.n_steps,
            "tolerance": fast.tolerance,
            "max_steps": fast.max_steps,
        },
        "50 points (full preset)": {"n_steps": 50},
        f"{REFERENCE_STEPS} points (reference)": {"n_steps": REFERENCE_STEPS},
    }


def measure(live: LiveModel, texts: list[list[str]]) -> dict[str, dict]:
    """Per run: CPU seconds per sentence, Pearson per target with the reference, relative errors, points."""
    chosen = runs()
    reference_name = list(chosen)[-1]
    explain(live, words=texts[0], n_steps=8)  # warm-up
    found: dict[str, dict] = {name: {"seconds": [], "pearson": [], "error": [], "steps": []} for name in chosen}
    for words in texts:
        results = {}
        for name, options in chosen.items():
            started = time.process_time()
            results[name] = explain(live, words=words, **options)
            found[name]["seconds"].append(time.process_time() - started)
        reference = results[reference_name]
        for name, result in results.items():
            score = np.maximum(np.abs(result.score_input), COMPLETENESS_FLOOR)
            found[name]["error"].extend((np.abs(result.delta) / score).tolist())
            found[name]["steps"].extend(result.steps.tolist())
            found[name]["pearson"].extend(
                float(np.corrcoef(result.raw[row], reference.raw[row])[0, 1]) for row in range(len(result.targets))
            )
    return found


def table(name: str, found: dict[str, dict], n_sentences: int) -> list[str]:
    before = statistics.mean(next(iter(found.values()))["seconds"])
    n_targets = len(next(iter(found.values()))["error"])
    lines = [
        f"### {name}: {n_sentences} sentences, {n_targets} targets",
        "",
        "| run | CPU s / sentence | vs 8 points | Pearson with 300 pts: min / 5th pct / median "
        "| completeness error / score: max / 95th pct | targets within 5% (over) | mean points per target |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for run, values in found.items():
        seconds = statistics.mean(values["seconds"])
        pearson, error = np.asarray(values["pearson"]), np.asarray(values["error"])
        lines.append(
            f"| {run} | {seconds:.3f} | {seconds / before:.2f}x | {np.nanmin(pearson):.3f} / "
            f"{np.nanpercentile(pearson, 5):.3f} / {np.nanmedian(pearson):.4f} | {error.max():.3f} / "
            f"{np.percentile(error, 95):.3f} | {np.mean(error <= 0.05):.1%} ({(error > 0.05).sum()}) | "
            f"{np.mean(values['steps']):.1f} |"
        )
    return lines + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "demo" / "model", help="the fine-tuned demo model")
    parser.add_argument("--sentences", type=int, default=6)
    parser.add_argument("--skip-random", action="store_true", help="only the fine-tuned model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-words", type=int, default=30, help="longest tweet drawn (the cost grows with its square)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "attribution_accuracy.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    texts = sentences(args.sentences, args.seed, args.max_words)
    fine_tuned = LiveModel.load(str(args.model)) if (args.model / "config.json").is_file() else None
    models = {} if args.skip_random else {"random weights (MiniLM architecture, seed 0)": random_model(fine_tuned)}
    if fine_tuned:
        models = {f"fine-tuned demo model ({args.model.name})": fine_tuned, **models}
    load_start = os.getloadavg()[0]
    lines = [
        "# Attribution accuracy: the fast preset against 50 and 300 points",
        "",
        "Every subword of each sentence is a target (the panel's default), Gauss-Legendre, the "
        "predicted class; one torch thread, CPU seconds (other jobs on a shared machine distort them far "
        f"less than wall time); torch {torch.__version__}, {os.cpu_count()} cores.",
        "",
    ]
    if not fine_tuned:
        lines += [f"No fine-tuned model at {args.model} (run `make demo` first): random weights only.", ""]
    for name, live in models.items():
        measured = table(name, measure(live, texts), len(texts))
        print("\n".join(measured), flush=True)  # each model's table as soon as it is measured
        lines += measured
    lines.append(f"Load average (1 min): {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
