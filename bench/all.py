"""Every benchmark, one after the other (`make bench`): each step's wall time and the total.

Each step is one script of ``bench/`` (or the demo, whose model ``bench/label_quality.py`` and
``bench/activations.py`` use) run in its own process; it writes its own ``bench/results/*.md``.
This script times them and writes ``bench/results/all.md``. Inputs a step builds are kept under
``--work`` (``/tmp/bench-caches`` by default) and in ``demo/``, so a second run skips building them;
``--fresh`` starts from nothing, as on a new machine (it empties ``--work`` and sets ``demo/`` aside).

Usage: python bench/all.py [--work DIR] [--fresh] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "all.md"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def steps(work: Path) -> list[tuple[str, list[str], str]]:
    """(name, command, what it measures) in the order they run."""
    python = sys.executable
    demo_cache = ROOT / "demo" / "cache" / "wnut16-heldout-minilm"
    return [
        (
            "build",
            [python, "bench/build.py"],
            "BERT-base on CoNLL-2003 validation: bare forward, build, naive; all-MiniLM-L6-v2 on CoNLL-2003 test and "
            "the demo's held-out 20%: build / (load + forward), picture quality",
        ),
        ("sharded_build", [python, "bench/sharded_build.py"], "torchrun 2 processes vs 1"),
        ("attribution", [python, "bench/attribution.py"], "ours vs transformers-interpret's algorithm"),
        ("app", [python, "bench/app.py", "--work", str(work)], "250k and 1M caches (built if missing), HTTP latency"),
        (
            "projection",
            [python, "bench/projection.py", "--work", str(work / "projection"), "--full-fit"],
            "UMAP and PCA, duplicate index, leakage on CoNLL-2003 train",
        ),
        ("demo", [python, "-m", "explainer.demo", "--no-serve"], "the demo model and cache (skipped when up to date)"),
        (
            "demo_build",
            [python, "bench/demo_build.py", "--model", str(ROOT / "demo" / "model")],
            "the demo's build step by step (issue 19: < 15 s idle), CPU seconds",
        ),
        (
            "label_quality",
            [python, "bench/label_quality.py", "--work", str(work / "label-quality")],
            "planted label swaps in WNUT-17 train, two models",
        ),
        (
            "activations",
            [python, "bench/activations.py", str(demo_cache), "--work", str(work)],
            "NMF on the demo cache's activation sample",
        ),
        ("data_checks", [python, "bench/data_checks.py"], "each data check's count on CoNLL-2003 and WNUT-17"),
        ("slices", [python, "bench/slices.py"], "attributes, intervals, weak slices on CoNLL-2003 train"),
        (
            "compare",
            [python, "bench/compare.py", "--work", str(work / "compare")],
            "pairing and the first Compare view on two CoNLL-2003 train caches",
        ),
        (
            "label_errors",
            [python, "bench/label_errors.py", "--work", str(work / "label-errors")],
            "span-level findings vs planted noise in CoNLL-2003 and WNUT-17 train, per signal and combined",
        ),
        (
            "attribution_accuracy",
            [python, "bench/attribution_accuracy.py", "--model", str(ROOT / "demo" / "model")],
            "fast attributions vs 50 and 300 points, demo model and random weights",
        ),
        (
            "browser_tabs",
            [
                python,
                "bench/browser_tabs.py",
                str(demo_cache),
                str(work / "caches-250k" / "conll-train"),
                "--rounds",
                "2",
            ],
            "Chromium: longest main-thread block when each tab opens (demo, 250k)",
        ),
        (
            "worker_memory",
            [python, "bench/worker_memory.py", str(work / "caches-250k" / "conll-train")],
            "a worker's heap after warm-up, per section (250k)",
        ),
    ]


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished child processes (and theirs): a step's cost that the
    other jobs of a shared machine distort far less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-caches"), help="inputs the steps build")
    parser.add_argument("--fresh", action="store_true", help="start from nothing: empty --work, set demo/ aside")
    parser.add_argument("--only", help="comma-separated step names (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    chosen = steps(args.work)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {name for name, _, _ in chosen}
        if unknown:
            print(
                f"error: unknown step(s) {', '.join(sorted(unknown))}; choose from "
                f"{', '.join(name for name, _, _ in chosen)}",
                file=sys.stderr,
            )
            return 2
        chosen = [step for step in chosen if step[0] in wanted]
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
        if (ROOT / "demo").exists():
            aside = ROOT / f"demo.before-bench-{int(time.time())}"
            (ROOT / "demo").rename(aside)
            print(f"moved demo/ to {aside.name}/ (delete it, or move it back)", file=sys.stderr)
    args.work.mkdir(parents=True, exist_ok=True)

    rows, started_all = [], time.perf_counter()
    for name, command, what in chosen:
        load_before = os.getloadavg()[0]
        print(f"\n=== {name}: {' '.join(command)}", file=sys.stderr, flush=True)
        started, cpu_before = time.perf_counter(), children_cpu_seconds()
        code = subprocess.run(command, cwd=ROOT, env={**os.environ, **OFFLINE}).returncode
        seconds = time.perf_counter() - started
        rows.append((name, what, seconds, children_cpu_seconds() - cpu_before, code, load_before, os.getloadavg()[0]))
        print(f"=== {name}: {seconds / 60:.1f} min, exit {code}", file=sys.stderr, flush=True)
    total = time.perf_counter() - started_all

    lines = [
        "# `make bench`: every benchmark, timed\n",
        f"{'From nothing (`--fresh`: no caches, no demo model)' if args.fresh else 'Inputs found under ' + str(args.work) + ' and demo/ were reused'}; "
        f"{os.cpu_count()} cores; CPU minutes are the step's processes' user + system time; 1-minute load average "
        "before and after each step.\n",
        "| step | measures | minutes | CPU minutes | exit | load |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, what, seconds, cpu, code, before, after in rows:
        lines.append(f"| {name} | {what} | {seconds / 60:.1f} | {cpu / 60:.1f} | {code} | {before:.1f} → {after:.1f} |")
    cpu_total = sum(row[3] for row in rows)
    lines.append(f"| **all** | | **{total / 60:.1f}** | {cpu_total / 60:.1f} | | |")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.only:
        args.results.write_text(table, encoding="utf-8")
    failed = [name for name, _, _, _, code, _, _ in rows if code != 0]
    if failed:
        print(f"error: failed steps: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
