"""Benchmark: all-token Layer Integrated Gradients on one sentence, ours against transformers-interpret.

A 6-layer, 384-wide BERT built from a config (random weights, seeded) explains every subword of
"We visited Paris last weekend, where Emmanuel Macron lives." with n_steps=50. In one run:

- ours: ``explainer.inference.attributions.explain`` (one shared forward pass; backward passes batched
  in groups sized to the work), and the same with all targets in one batched backward pass or
  one target at a time;
- transformers-interpret's ``TokenClassificationExplainer`` on the same model (when the package
  is importable), otherwise a faithful re-implementation of its algorithm: one captum
  ``LayerIntegratedGradients`` call per target, with its inputs, baseline and forward function;
- the bare cost: one grad-enabled forward pass over the 50 interpolated inputs and one backward
  pass per target, nothing else;
- the fast preset (Gauss-Legendre, few points) with its completeness error.

Each is timed ``--repeats`` times, interleaved, and the median is reported; ratios come from the
same run. The table is printed and written to bench/results/attribution.md.

transformers-interpret is not a dependency of the project. To compare against the package, run
this script with a Python that has it and the project on its path, e.g.::

    python3 -m venv /tmp/ti-venv && /tmp/ti-venv/bin/pip install torch==2.13.0 \
        && /tmp/ti-venv/bin/pip install transformers-interpret captum "torch==2.13.0"
    PYTHONPATH=. /tmp/ti-venv/bin/python bench/attribution.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The checkout's explainer, through the path entry above (hence E402).
from explainer.inference.attributions import PRESETS, explain, forward_from_embeddings  # noqa: E402
from explainer.inference.model import LiveModel, LiveSettings  # noqa: E402

SENTENCE = "We visited Paris last weekend, where Emmanuel Macron lives."
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# A small WordPiece vocabulary: "weekend" and "macron" split into subwords, as a real vocabulary would.
WORDS = [
    "we",
    "visited",
    "paris",
    "last",
    "week",
    "where",
    "emmanuel",
    "macro",
    "lives",
    "the",
    "a",
    "of",
    "in",
    "and",
    ",",
    ".",
    "!",
    "?",
]
PIECES = ["##end", "##n", "##s"]


def build_model(directory: Path) -> LiveModel:
    """A random 6-layer, 384-wide BERT token classifier with a fast tokenizer, saved and reloaded."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES + list("abcdefghijklmnopqrstuvwxyz")
    tokenizer = BertTokenizerFast(
        vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True, model_max_length=512
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    BertForTokenClassification(config).save_pretrained(directory)
    return LiveModel.load(str(directory))


def bare_passes(live: LiveModel, *, n_steps: int) -> None:
    """The irreducible work: one forward pass over the interpolated inputs, one backward per target."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    encoded_ids = live.tokenizer(SENTENCE)["input_ids"]
    ids = torch.tensor([encoded_ids])
    layer = live.model.get_input_embeddings()
    with torch.no_grad():
        text, base = (
            layer(ids)[0],
            layer(torch.tensor([[encoded_ids[0]] + [0] * (len(encoded_ids) - 2) + [encoded_ids[-1]]]))[0],
        )
    alphas = torch.tensor(approximation_parameters("gausslegendre")[1](n_steps), dtype=torch.float32)
    embeddings = (base + alphas[:, None, None] * (text - base)).requires_grad_(True)
    probs = torch.softmax(forward_from_embeddings(live.model, ids, embeddings, torch.ones_like(ids)), dim=-1)
    n_tokens = ids.shape[1]
    for position in range(n_tokens):
        torch.autograd.grad(probs[:, position, 0].sum(), embeddings, retain_graph=position < n_tokens - 1)


def transformers_interpret_explainer(live: LiveModel):
    """``run(n_steps) -> {position: normalised attributions}`` with transformers-interpret, and its name."""
    try:
        from transformers_interpret import TokenClassificationExplainer
    except ImportError:
        return reimplemented_explainer(live), "transformers-interpret's algorithm (re-implemented: package absent)"
    explainer = TokenClassificationExplainer(live.model, live.tokenizer)

    def run(n_steps):
        explainer(SENTENCE, n_steps=n_steps)
        # Its word_attributions are keyed by token string; the per-position results are in .attributions.
        return {index: lig.attributions_sum.detach().double().numpy() for index, lig in explainer.attributions.items()}

    import transformers_interpret

    return run, f"transformers-interpret {getattr(transformers_interpret, '__version__', '0.10.0')} (package)"


def reimplemented_explainer(live: LiveModel):
    """transformers-interpret 0.10's TokenClassificationExplainer, step for step: a prediction pass, then
    one captum LayerIntegratedGradients call per target with (input_ids, position_ids) inputs, a
    [CLS] [PAD]... [SEP] baseline with zero position ids, the softmax at the target's position, and
    the convergence delta."""
    from captum.attr import LayerIntegratedGradients

    model, tokenizer = live.model, live.tokenizer

    def run(n_steps):
        ids = torch.tensor([tokenizer.encode(SENTENCE)])
        n_tokens = ids.shape[1]
        reference = torch.tensor(
            [[tokenizer.cls_token_id] + [tokenizer.pad_token_id] * (n_tokens - 2) + [tokenizer.sep_token_id]]
        )
        positions, reference_positions = torch.arange(n_tokens)[None], torch.zeros((1, n_tokens), dtype=torch.long)
        mask = torch.ones_like(ids)
        predicted = torch.softmax(model(ids).logits, dim=2).argmax(dim=2)[0]
        results = {}
        for index in range(n_tokens):

            def forward(input_ids, position_ids, attention_mask, index=index):
                logits = model(input_ids, position_ids=position_ids, attention_mask=attention_mask).logits
                return torch.softmax(logits, dim=2)[:, index, :]

            lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
            attributions, _delta = lig.attribute(
                inputs=(ids, positions),
                baselines=(reference, reference_positions),
                target=int(predicted[index]),
                return_convergence_delta=True,
                additional_forward_args=(mask,),
                n_steps=n_steps,
            )
            summed = attributions.sum(dim=-1).squeeze(0)
            results[index] = (summed / torch.norm(summed)).detach().double().numpy()
        return results

    return run


def timed(function, *args, **kwargs) -> tuple[float, float, object]:
    """Wall-clock and CPU seconds of one call (CPU time is what a busy shared machine does not distort)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument(
        "--threads",
        type=int,
        default=LiveSettings().torch_threads,
        help="torch threads (default: what the app uses, EXPLAINER_TORCH_THREADS or 1)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "attribution.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as directory:
        live = build_model(Path(directory))
        baseline_run, baseline_name = transformers_interpret_explainer(live)
        fast = PRESETS["fast"]
        runs = {
            "ours (default)": lambda: explain(live, text=SENTENCE, n_steps=args.n_steps),
            "ours, all targets in one batched backward": lambda: explain(
                live, text=SENTENCE, n_steps=args.n_steps, target_batch=1000
            ),
            "ours, one target at a time": lambda: explain(live, text=SENTENCE, n_steps=args.n_steps, target_batch=1),
            "bare forward + backward passes": lambda: bare_passes(live, n_steps=args.n_steps),
            baseline_name: lambda: baseline_run(args.n_steps),
            f"ours, fast preset ({fast.n_steps} {fast.method} points)": lambda: explain(
                live, text=SENTENCE, n_steps=fast.n_steps, method=fast.method
            ),
        }
        for run in runs.values():  # warm-up: first calls pay one-off costs
            run()
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        results: dict[str, object] = {}
        for _ in range(args.repeats):
            for name, run in runs.items():
                wall, cpu, results[name] = timed(run)
                walls[name].append(wall)
                cpus[name].append(cpu)
    median = {name: statistics.median(values) for name, values in cpus.items()}
    median_wall = {name: statistics.median(values) for name, values in walls.items()}
    ours = results["ours (default)"]
    fast_result = results[f"ours, fast preset ({fast.n_steps} {fast.method} points)"]
    reference = results[baseline_name]
    correlations = [np.corrcoef(ours.by_position()[position], reference[position])[0, 1] for position in reference]
    table = report(
        args,
        live=live,
        ours=ours,
        fast=fast_result,
        median=median,
        median_wall=median_wall,
        baseline_name=baseline_name,
        correlations=correlations,
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")
    return 0


def report(args, *, live, ours, fast, median, median_wall, baseline_name, correlations) -> str:
    ours_time = median["ours (default)"]
    bare = median["bare forward + backward passes"]
    baseline = median[baseline_name]
    n_targets = len(ours.targets)
    rows = ["| run | CPU seconds | wall seconds | vs ours (CPU) |", "| --- | ---: | ---: | ---: |"]
    for name, seconds in median.items():
        rows.append(f"| {name} | {seconds:.3f} | {median_wall[name]:.3f} | {seconds / ours_time:.2f}x |")
    fast_name = next(name for name in median if "fast preset" in name)
    score_span = np.abs(ours.score_input - ours.score_baseline).max()
    lines = [
        "# Attribution benchmark",
        "",
        f'Sentence: "{SENTENCE}" ({len(ours.tokens)} subwords: {" ".join(ours.tokens)}), every subword a target '
        f"({n_targets} targets), n_steps={args.n_steps}, Gauss-Legendre; BERT 6 layers x 384 (12 heads, random "
        f"weights), CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end), torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s); median of {args.repeats} interleaved runs after a "
        "warm-up. Ratios use CPU time, which other jobs on a shared machine distort far less than wall time "
        "(one torch thread: CPU time is the wall time of an idle machine).",
        "",
        *rows,
        "",
        f"- Ours vs {baseline_name}: **{baseline / ours_time:.2f}x faster** (goal >= 1.5x).",
        f"- Ours vs the bare forward and backward passes: **{ours_time / bare:.2f}x** their cost (goal <= 1.3x).",
        f"- Agreement with {baseline_name}: Pearson per target min {min(correlations):.6f}, "
        f"median {statistics.median(correlations):.6f} over {len(correlations)} targets (goal >= 0.99).",
        f"- Completeness at n_steps={args.n_steps}: max |sum of attributions - (score(text) - score(baseline))| = "
        f"{np.abs(ours.delta).max():.2e} (largest score difference {score_span:.2e}).",
        f"- Fast preset ({fast.n_steps} points): {median[fast_name]:.3f} s CPU ({median_wall[fast_name]:.3f} s wall), "
        f"completeness error max {np.abs(fast.delta).max():.2e}; Pearson with the {args.n_steps}-step result "
        "per target "
        f"min {min(np.corrcoef(fast.raw[k], ours.raw[k])[0, 1] for k in range(n_targets)):.4f}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
