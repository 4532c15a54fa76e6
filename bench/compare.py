"""Compare (issue 21): pairing and the first view of two CoNLL-2003-train-sized caches, goal < 3 s.

Builds (once, kept under ``--work``) a small random BERT (bench/build.py's ``make_model``), a second
one whose classifier weights are the first's plus seeded noise (a related model: most predictions the
same, some not), and a cache of CoNLL-2003 train (14,041 examples) for each, with the optional
analyses off (they play no part in a comparison). Then, in a fresh process per repeat, it times:

- pairing: opening both caches and checking they hold the same data (manifests);
- first view: the comparison (per-type scores with a 1,000-resample paired bootstrap, span
  transitions) and the Compare section's layout (table, counts, first page of ranked examples) as
  the app renders it for ``?cache=A&vs=B&tab=compare``;
- a count clicked (the examples of one transition and type) and the paired inspector, once warm.

Usage: python bench/compare.py [--work DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "conll2003" / "train.txt"
RESULTS = ROOT / "bench" / "results" / "compare.md"
GOAL_S = 3.0
sys.path.insert(0, str(ROOT))


def load_build_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_build", Path(__file__).with_name("build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ensure_models(work: Path) -> tuple[Path, Path]:
    """Model A (random, small) and model B (A's classifier plus seeded noise), built once."""
    a, b = work / "model-a", work / "model-b"
    if not (a / "config.json").is_file():
        load_build_bench().make_model(a, layers=1, hidden=64, vocab_size=8000)
    if not (b / "config.json").is_file():
        noisy_copy(a, b)
    return a, b


def noisy_copy(a: Path, b: Path, *, seed: int = 1) -> Path:
    """A copy of model ``a`` at ``b`` whose classifier weights are ``a``'s plus seeded noise (a related model)."""
    import shutil

    import numpy as np
    from safetensors.numpy import load_file, save_file

    shutil.copytree(a, b)
    weights = load_file(str(a / "model.safetensors"))
    rng = np.random.default_rng(seed)
    for name in ("classifier.weight", "classifier.bias"):
        weights[name] = weights[name] + rng.normal(0, weights[name].std() * 0.5, weights[name].shape).astype(
            weights[name].dtype
        )
    save_file(weights, str(b / "model.safetensors"), metadata={"format": "pt"})
    return b


def ensure_cache(model: Path, out: Path) -> Path:
    if (out / "manifest.json").is_file():
        return out
    command = [sys.executable, "-m", "explainer.cli", "build", "--model", str(model), "--dataset", str(DATA)]
    command += ["--out", str(out), "--batch-size", "64", "--projection", "none", "--label-quality", "none"]
    command += ["--activations-sample", "0"]
    print("building:", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, cwd=ROOT)
    return out


MEASURE = r"""
import json, sys, time
start = time.perf_counter()
from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.sections import compare as section
from explainer.app import pairs
imported = time.perf_counter()
app = create_app(Settings(cache=sys.argv[1]))
context = app.server.config["EXPLAINER_CONTEXT"]
t0, c0 = time.perf_counter(), time.process_time()
a, b = context.registry.get("a"), context.registry.get("b")
from explainer.cache.pair import check_pair
check_pair(a, b)
t1, c1 = time.perf_counter(), time.process_time()
state = {"cache": "a", "vs": "b", "tab": "compare"}
section.layout(a, state, context)
t2, c2 = time.perf_counter(), time.process_time()
comparison = pairs.comparison(a, b)
counts = comparison.counts.set_index("type")
clicked = section.count_id("fixed", "PER")
search = "?cache=a&vs=b&tab=compare"
section.selection_changed(context, [{"prop_id": json.dumps(clicked, separators=(",", ":")) + ".n_clicks", "value": 1}], search)
t3 = time.perf_counter()
from explainer.app.factory import paired_inspector
example = int(comparison.transitions.iloc[0]["example_id"])
paired_inspector(context, a, {**state, "sample": str(example)}, example)
t4 = time.perf_counter()
print(json.dumps({
    "import": imported - start, "pairing": t1 - t0, "first_view": t2 - t1, "count_click": t3 - t2,
    "inspector": t4 - t3, "cpu_pairing": c1 - c0, "cpu_first_view": c2 - c1, "examples": int(a.manifest["counts"]["examples"]),
    "subwords": int(a.manifest["counts"]["subwords"]), "gold": int(counts.loc["overall", "gold spans"]),
    "spurious": int(counts.loc["overall", "spurious spans"]), "transitions": len(comparison.transitions),
    "f1": [float(comparison.scores.iloc[-1]["f1_a"]), float(comparison.scores.iloc[-1]["f1_b"])],
}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-caches/compare"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    model_a, model_b = ensure_models(args.work)
    root = args.work / "caches"
    ensure_cache(model_a, root / "a")
    ensure_cache(model_b, root / "b")
    load_before = os.getloadavg()[0]
    runs = []
    for _ in range(args.repeats):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(root)], check=True, capture_output=True, text=True, cwd=ROOT, env=env
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    load_after = os.getloadavg()[0]
    first = runs[0]

    def best(key: str) -> float:
        return min(run[key] for run in runs)

    def worst(key: str) -> float:
        return max(run[key] for run in runs)

    total = [run["pairing"] + run["first_view"] for run in runs]
    cpu_total = [run["cpu_pairing"] + run["cpu_first_view"] for run in runs]
    lines = [
        "# Compare: pairing and first view (issue 21)",
        "",
        f"Two caches of CoNLL-2003 train: {first['examples']:,} examples, {first['subwords']:,} subwords, "
        f"{first['gold']:,} gold spans, {first['spurious']:,} spurious spans of A or B, "
        f"{first['transitions']:,} span transitions; random small models (F1 A {first['f1'][0]:.3f}, "
        f"B {first['f1'][1]:.3f}: far more spurious spans than a trained model, so more work).",
        f"{args.repeats} fresh processes; load average {load_before:.1f} before, {load_after:.1f} after "
        f"({os.cpu_count()} cores).",
        "",
        "| step | best s | worst s |",
        "|---|---:|---:|",
        f"| pairing (open both caches, check the data) | {best('pairing'):.3f} | {worst('pairing'):.3f} |",
        f"| first view (bootstrap 1,000 resamples, transitions, layout) | {best('first_view'):.3f} | "
        f"{worst('first_view'):.3f} |",
        f"| **pairing + first view** (goal < {GOAL_S:.0f} s) | **{min(total):.3f}** | **{max(total):.3f}** |",
        f"| pairing + first view, CPU time of the process (what a free core would take) | {min(cpu_total):.3f} | "
        f"{max(cpu_total):.3f} |",
        f"| a count clicked (its examples, warm) | {best('count_click'):.3f} | {worst('count_click'):.3f} |",
        f"| paired inspector (warm) | {best('inspector'):.3f} | {worst('inspector'):.3f} |",
        f"| (imports, not counted: the app's workers have them) | {best('import'):.3f} | {worst('import'):.3f} |",
        "",
        f"Pairing + first view: {max(total) / GOAL_S:.2f} of the {GOAL_S:.0f} s budget at worst in wall time, "
        f"{max(cpu_total) / GOAL_S:.2f} in CPU time (at this load the wall time is mostly waiting for a core).",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
