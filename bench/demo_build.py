"""The demo's build, step by step, against the code before (issue 19: < 15 s on an idle 2-core machine).

Builds the demo's held-out 20% of WNUT-16 as ``explainer.demo.build_heldout_cache`` does (the defaults,
the training 80% as the Slices reference), each build a new ``explainer build`` process. With
``--baseline DIR`` (a checkout of the code before, e.g. ``git archive main | tar -x -C DIR``) the builds
alternate between that code and this one, so both meet the same load on a shared machine; the ratios
within one run are what to read. Per build: every step's seconds (the manifest's timings), the process's
CPU seconds (user + system, from ``getrusage``), and total / forward.

Why CPU seconds: on a busy machine a build's wall time says little of an idle one. The CPU seconds are
nearly what the build would take alone on one core; on an idle 2-core machine its wall time lies between
half of them (everything in parallel) and all of them (nothing in parallel), plus disk waits.

Usage: ``.venv/bin/python bench/demo_build.py [--model DIR] [--baseline DIR] [--repeat N]
[--numba-cache DIR] [--results PATH]``; writes ``bench/results/demo_build.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "demo_build.md"
MAIN_STEPS = ("load", "tokenize", "forward", "write")


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_build(code: Path, model: Path, heldout: Path, train: Path, out: Path, numba_cache: Path) -> tuple[dict, float]:
    """The manifest's timings and the CPU seconds of one ``explainer build`` process run with ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "NUMBA_CACHE_DIR": str(numba_cache), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "explainer", "build", "--model", str(model), "--dataset", str(heldout)]
    command += ["--out", str(out), "--device", "cpu", "--train-dataset", str(train)]
    before = child_cpu()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=code)
    cpu = child_cpu() - before
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["timings"], cpu


def default_model() -> Path:
    for candidate in (ROOT / "demo" / "model", Path("/work/demo-base/model")):
        if (candidate / "config.json").is_file():
            return candidate
    raise SystemExit("no demo model: run `make demo` first or pass --model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="the fine-tuned demo model (default: demo/model)")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before, built alternately")
    parser.add_argument("--repeat", type=int, default=1, help="builds of each code (default 1)")
    parser.add_argument("--numba-cache", type=Path, help="numba cache with UMAP's kernels (default: a new one, warmed)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    from explainer.demo import split_corpus, write_conll

    model = args.model or default_model()
    codes = ([("before", args.baseline)] if args.baseline else []) + [("now", ROOT)]
    rows: list[tuple[str, dict, float]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-demo-build-") as scratch:
        scratch = Path(scratch)
        train, heldout = split_corpus(log=lambda message: None)
        write_conll(heldout, scratch / "heldout.txt")
        write_conll(train, scratch / "train.txt")
        numba_cache = args.numba_cache or scratch / "numba"
        if args.numba_cache is None:  # compile UMAP's kernels once, outside the measured builds
            one_build(ROOT, model, scratch / "heldout.txt", scratch / "train.txt", scratch / "warm", numba_cache)
        for run in range(args.repeat):
            for label, code in codes:
                out = scratch / f"cache-{label}-{run}"
                timings, cpu = one_build(code, model, scratch / "heldout.txt", scratch / "train.txt", out, numba_cache)
                print(f"{label}: {timings['total']:.1f} s, CPU {cpu:.1f} s: {timings}", flush=True)
                rows.append((label, timings, cpu))
    load_after = os.getloadavg()[0]

    steps = list(dict.fromkeys(name for _, timings, _ in rows for name in timings if name != "total"))
    header = "| step | " + " | ".join(f"{label} s" for label, _, _ in rows) + " |"
    lines = [
        "# The demo's build (WNUT-16 held-out 20%), step by step\n",
        f"Model {model} (all-MiniLM-L6-v2 fine-tuned by the demo); each build a new `explainer build` process with "
        "the demo's options, UMAP's kernels already in numba's disk cache; "
        + (
            f"`before` = the code in {args.baseline}, `now` = this checkout, built alternately; "
            if args.baseline
            else ""
        )
        + f"1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end (2 cores). "
        "Goal: < 15 s on an idle 2-core machine. One run; read the ratios.\n",
        header,
        "|---|" + "---:|" * len(rows),
    ]
    for step in steps:
        lines.append(f"| {step} | " + " | ".join(f"{timings.get(step, 0):.1f}" for _, timings, _ in rows) + " |")
    lines.append("| **total** | " + " | ".join(f"**{timings['total']:.1f}**" for _, timings, _ in rows) + " |")
    lines.append("| total / forward | " + " | ".join(f"{t['total'] / t['forward']:.2f}" for _, t, _ in rows) + " |")
    after_forward = lambda t: sum(v for k, v in t.items() if k not in MAIN_STEPS and k != "total")
    lines.append("| steps after the forward pass | " + " | ".join(f"{after_forward(t):.1f}" for _, t, _ in rows) + " |")
    lines.append("| process CPU s (user + system) | " + " | ".join(f"{cpu:.1f}" for _, _, cpu in rows) + " |")
    if args.baseline:
        before = [t for label, t, _ in rows if label == "before"]
        now = [t for label, t, _ in rows if label == "now"]
        share = sum(t["total"] for t in now) / sum(t["total"] for t in before)
        lines.append(f"\nnow / before (total, summed over the runs): **{share:.2f}**.")
    write_results("\n".join(lines) + "\n", args.results)


def write_results(table: str, path: Path) -> None:
    print(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
