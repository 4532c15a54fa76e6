"""How well the label-quality ranking finds planted label swaps, and what the scoring costs.

1. Copies WNUT-17 train (``../shared/data/wnut17/train.txt``, 3,394 sentences) into a temporary
   directory and plants seeded label swaps in the copy: in ``--swaps`` distinct sentences, one gold
   entity of type person, location, corporation or product gets another of these four types (its
   words and boundaries stay). The original file is never touched, nothing is written in the repo.
2. Builds a cache of the copy with each of two models that never saw WNUT-17 train:
   - ``--model`` (default: the demo model ``demo/model``, all-MiniLM-L6-v2 fine-tuned on WNUT-16 by
     ``make demo``). WNUT-17's types are mapped to its labels: person, location -> geo-loc,
     corporation -> company, product, and group and creative-work -> other (WNUT-16 has no counterpart),
     so sentences with those two types disagree with the model by construction;
   - the same model fine-tuned on WNUT-17 validation (1,009 sentences, 3 epochs, ``explainer train``),
     which has WNUT-17's own labels (``--no-scheme-model`` skips it; training takes ~15 min on 2 busy cores).
   Scores on the data a model was trained on would be over-confident (that is what ``explainer
   crossval`` is for); here both score data they did not see.
3. Ranks the sentences by their label-quality score (cleanlab's sentence score, lowest first) and
   reports how many planted sentences are in the top k (k = number planted) and the top 2k, the
   AUROC, and the same for each cleanlab method and for ranking by total loss; at word level, how
   many swapped words ``find_label_issues`` flags.
4. Times the scoring on CoNLL-2003 train's shape (14,041 sentences, 203,621 words, 9 labels) with
   random probabilities: cleanlab's cost depends on the sizes, not on the values.

Usage: ``.venv/bin/python bench/label_quality.py [--model DIR] [--swaps N] [--seed S] [--work DIR]``;
prints a markdown table and writes it to ``bench/results/label_quality.md``. The load average is
recorded with the figures (other jobs share the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "label_quality.md"
SWAPPABLE = ("person", "location", "corporation", "product")
LABEL_MAP = {
    "person": "person",
    "location": "geo-loc",
    "corporation": "company",
    "product": "product",
    "group": "other",
    "creative-work": "other",
}
_LAST_COLUMN = re.compile(r"(\S+)(\s*)$")


def plant_swaps(text: str, *, n_swaps: int, seed: int, name: str) -> tuple[str, dict[str, list[tuple]]]:
    """The CoNLL text with ``n_swaps`` entity types swapped, one per sentence, and what was swapped.

    Returns
    -------
    text : str
        The corrupted copy (every other byte as it was).
    planted : dict
        ``source -> [(start word, end word, old type, new type)]``, keyed like the loader's
        ``source`` column (``"<name>:<first line>"``).
    """
    from explainer.analysis.spans import extract_spans

    lines = text.split("\n")
    sentences, current = [], []  # each sentence: list of line indices (0-based)
    for index, line in enumerate(lines):
        if line.strip():
            current.append(index)
        elif current:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    tag_of = lambda index: _LAST_COLUMN.search(lines[index]).group(1)
    candidates = []
    for sentence in sentences:
        spans = [span for span in extract_spans([tag_of(i) for i in sentence]) if span[2] in SWAPPABLE]
        if spans:
            candidates.append((sentence, spans))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(candidates), size=min(n_swaps, len(candidates)), replace=False)
    planted = {}
    for pick in sorted(chosen):
        sentence, spans = candidates[pick]
        start, end, old = spans[rng.integers(len(spans))]
        new = str(rng.choice([kind for kind in SWAPPABLE if kind != old]))
        for position in range(start, end):
            index = sentence[position]
            match = _LAST_COLUMN.search(lines[index])
            prefix = match.group(1).split("-", 1)[0]
            lines[index] = lines[index][: match.start()] + f"{prefix}-{new}" + match.group(2)
        planted[f"{name}:{sentence[0] + 1}"] = [(start, end, old, new)]
    return "\n".join(lines), planted


def ranking_figures(scores: np.ndarray, planted: np.ndarray, *, lower_is_worse: bool = True) -> dict:
    """Top-k and top-2k recall (k = planted count), precision at k, AUROC and median rank of the planted."""
    from sklearn.metrics import roc_auc_score

    values = np.where(np.isnan(scores), np.inf if lower_is_worse else -np.inf, scores)
    order = np.argsort(values if lower_is_worse else -values, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    k = int(planted.sum())
    in_top = lambda size: int(planted[order[:size]].sum())
    return {
        "k": k,
        "top_k": in_top(k) / k,
        "top_2k": in_top(2 * k) / k,
        "top_10pct": in_top(len(order) // 10) / k,
        "auroc": float(roc_auc_score(planted, -values if lower_is_worse else values)),
        "median_rank": float(np.median(rank[planted])),
        "n": len(order),
    }


def time_conll_shape(repeats: int = 1) -> dict:
    """Seconds of the scoring on CoNLL-2003 train's sentence lengths with random probabilities."""
    from explainer.data.loaders import load_dataset
    from explainer.pipeline.label_quality import label_quality_scores

    dataset = load_dataset(str(DATA / "conll2003" / "train.txt"))
    lengths = np.array([len(example.words) for example in dataset.examples])
    labels = sorted({tag for example in dataset.examples for tag in example.tags})
    label_id = {tag: i for i, tag in enumerate(labels)}
    gold = np.array([label_id[tag] for example in dataset.examples for tag in example.tags])
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(gold), len(labels)))
    logits[np.arange(len(gold)), gold] += 3.0  # a model that mostly agrees with the labels
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    example_ids = np.repeat(np.arange(len(lengths)), lengths)
    label_quality_scores(
        probs[:100].astype(np.float32), gold[:100], example_ids[:100], n_examples=int(example_ids[99]) + 1
    )
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        label_quality_scores(probs.astype(np.float32), gold, example_ids, n_examples=len(lengths))
        best = min(best, time.perf_counter() - started)
    return {"examples": len(lengths), "words": len(gold), "labels": len(labels), "seconds": best}


SCHEME_MODEL_COMMAND = (
    "explainer train --base {base} --dataset {data}/wnut17/validation.txt "
    "--eval-dataset {data}/wnut17/test.txt --out {out} --epochs 3 --seed 0"
)


def train_scheme_model(base: str, out: Path) -> Path:
    """A model with WNUT-17's own labels that never saw its train split: the demo model fine-tuned on
    WNUT-17 validation (1,009 sentences, 3 epochs); ``explainer train`` skips it when up to date."""
    from explainer.cli import main as cli_main

    command = SCHEME_MODEL_COMMAND.format(base=base, data=DATA, out=out).split()[1:]
    if cli_main(command) != 0:
        raise SystemExit(f"error: training failed: {' '.join(command)}")
    return out


def evaluate(model: str, *, copy: Path, planted: dict, out: Path, label_map: Path | None) -> dict:
    """Build a cache of the corrupted copy with ``model`` and measure how the rankings find the swaps."""
    import pandas as pd

    from explainer.cache.reader import open_cache
    from explainer.pipeline.label_quality import METHODS, label_quality_scores
    from explainer.pipeline.pipeline import BuildOptions, build_cache

    manifest = build_cache(
        BuildOptions(
            model=model,
            dataset=str(copy),
            out=str(out),
            label_map=str(label_map) if label_map else None,
            device="cpu",
            projection="none",
            activations_sample=0,
            force=True,
        )
    )
    cache = open_cache(out)
    examples = cache.examples
    is_planted = examples["source"].isin(planted).to_numpy()
    assert is_planted.sum() == len(planted), "every planted sentence is one example of the cache"
    example_scores = pd.read_parquet(out / "example_label_quality.parquet")["label_quality"].to_numpy()
    rows = {"self_confidence, as stored in the cache": ranking_figures(example_scores, is_planted)}

    # The other cleanlab methods on the same probabilities, and the loss as a baseline.
    words = cache.table("words", ["example_id", "gold_id", "subword_row"])
    word_probs = np.asarray(cache.probs[words["subword_row"].to_numpy()], dtype=np.float32)
    for method in METHODS:
        started = time.perf_counter()
        quality = label_quality_scores(
            word_probs,
            words["gold_id"].to_numpy(),
            words["example_id"].to_numpy(),
            n_examples=len(examples),
            method=method,
        )
        rows[method] = {**ranking_figures(quality.example_scores, is_planted), "seconds": time.perf_counter() - started}
    rows["total loss (baseline)"] = ranking_figures(
        examples["total_loss"].to_numpy(dtype=np.float64), is_planted, lower_is_worse=False
    )
    rows["random (expected)"] = {
        "k": len(planted),
        "top_k": len(planted) / len(examples),
        "top_2k": 2 * len(planted) / len(examples),
        "top_10pct": 0.1,
        "auroc": 0.5,
    }

    # Word level: are the swapped words flagged by find_label_issues?
    swapped = np.zeros(len(words), dtype=bool)
    offsets, sources = examples["word_offset"].to_numpy(), examples["source"].to_numpy()
    for example_id in np.flatnonzero(is_planted):
        for start, end, _, _ in planted[sources[example_id]]:
            swapped[offsets[example_id] + start : offsets[example_id] + end] = True
    flagged = pd.read_parquet(out / "label_quality.parquet")["label_issue"].to_numpy()
    word_level = {
        "swapped_words": int(swapped.sum()),
        "flagged_words": int(flagged.sum()),
        "swapped_and_flagged": int((swapped & flagged).sum()),
        "words": len(words),
    }
    return {"rows": rows, "word_level": word_level, "manifest": manifest, "n_examples": len(examples)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default=str(ROOT / "demo" / "model"),
        help="token-classification model directory (default: the demo model, made by `make demo`)",
    )
    parser.add_argument("--swaps", type=int, default=100, help="sentences that get one swapped entity (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-scheme-model",
        dest="scheme_model",
        action="store_false",
        help="skip the second model (the demo model fine-tuned on WNUT-17 validation, ~15 min)",
    )
    parser.add_argument("--work", help="keep the copy, models and caches here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not (Path(args.model) / "config.json").is_file():
        print(
            f"error: no model at {args.model}; run `make demo` (or `python -m explainer.demo --no-serve`) "
            "first, or pass --model",
            file=sys.stderr,
        )
        return 2

    load_start = os.getloadavg()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-label-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    source = DATA / "wnut17" / "train.txt"
    corrupted, planted = plant_swaps(
        source.read_text(encoding="utf-8"), n_swaps=args.swaps, seed=args.seed, name="train.txt"
    )
    copy = work / "train.txt"
    copy.write_text(corrupted, encoding="utf-8")
    label_map = work / "label_map.json"
    label_map.write_text(json.dumps(LABEL_MAP), encoding="utf-8")
    print(f"planted {len(planted)} swaps in {copy}", flush=True)

    results = {
        f"`{os.path.relpath(args.model, ROOT)}`: WNUT-16 labels, WNUT-17 types mapped to them": evaluate(
            args.model, copy=copy, planted=planted, out=work / "cache-demo", label_map=label_map
        )
    }
    if args.scheme_model:
        scheme = train_scheme_model(args.model, work / "model-wnut17")
        trained = json.loads((scheme / "explainer_train.json").read_text(encoding="utf-8"))
        result = evaluate(str(scheme), copy=copy, planted=planted, out=work / "cache-wnut17", label_map=None)
        result["train_seconds"] = trained.get("seconds")  # of the run that trained it (maybe an earlier one)
        result["train_f1"] = (trained.get("history") or [{}])[-1].get("eval_f1")
        results["demo model fine-tuned on WNUT-17 validation: WNUT-17's own labels"] = result
    conll = time_conll_shape()
    load_end = os.getloadavg()
    report = render(results, conll, seed=args.seed, load=(load_start, load_end))
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(f"written to {RESULTS}")
    return 0


def render(results: dict, conll: dict, *, seed: int, load: tuple) -> str:
    first = next(iter(results.values()))
    k, n = first["rows"]["self_confidence"]["k"], first["n_examples"]
    lines = [
        "# Label quality: planted label swaps in a copy of WNUT-17 train",
        "",
        f"{k} of {n} sentences got one entity's type swapped (person / location / corporation / product, seed "
        f"{seed}). Sentences ranked by label-quality score, lowest first (cleanlab's sentence score = its lowest "
        f"word); k = {k} (so the share in the top k is also the precision at k). Neither model saw WNUT-17 train.",
    ]
    for title, result in results.items():
        manifest = result["manifest"]
        lines += [
            "",
            f"## {title}",
            "",
            f"Entity F1 on the corrupted copy {manifest['headline']['entity_f1']:.3f}; build "
            f"{manifest['timings']['total']:.1f} s, of which label quality "
            f"{manifest['timings'].get('label_quality', float('nan')):.2f} s."
            + (
                f" Fine-tuning took {result['train_seconds']:.0f} s (skipped by a later run when up to date); entity F1 "
                f"on WNUT-17 test {result['train_f1']:.3f}."
                if result.get("train_seconds") and result.get("train_f1")
                else ""
            ),
            "",
            "| ranking | planted in top k | in top 2k | in top 10% | AUROC | median rank of planted | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, figures in result["rows"].items():
            median = f"{figures['median_rank']:.0f}" if "median_rank" in figures else ""
            seconds = f"{figures['seconds']:.2f}" if "seconds" in figures else ""
            lines.append(
                f"| {name} | {figures['top_k']:.1%} | {figures['top_2k']:.1%} | {figures['top_10pct']:.1%} | "
                f"{figures['auroc']:.3f} | {median} | {seconds} |"
            )
        words = result["word_level"]
        lines += [
            "",
            f"Word level (`find_label_issues`): {words['swapped_and_flagged']} of {words['swapped_words']} "
            f"swapped words flagged ({words['swapped_and_flagged'] / max(words['swapped_words'], 1):.1%}); "
            f"{words['flagged_words']} of {words['words']} words flagged in all.",
        ]
    lines += [
        "",
        f"Scoring at CoNLL-2003 train size ({conll['examples']:,} sentences, {conll['words']:,} words, "
        f"{conll['labels']} labels, random probabilities): **{conll['seconds']:.1f} s** "
        "(`get_label_quality_scores` + `find_label_issues`).",
        "",
        f"Load average (1, 5, 15 min) at start {tuple(round(x, 1) for x in load[0])}, at end "
        f"{tuple(round(x, 1) for x in load[1])}; {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
