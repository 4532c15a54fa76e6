"""Benchmark: a worker's heap after warm-up (every tab rendered once), this checkout against a baseline.

Each measurement is a fresh process set up as a gunicorn worker is (``gunicorn.conf.py``: pyarrow's
system allocator, 2 glibc malloc arenas): it creates the app on one cache, renders every tab once
(``explainer.app.warm.warm_context``) and reports its anonymous resident memory (the heap; the
memory-mapped cache files are not in it) and the growth per section. ``--baseline DIR`` measures the
app of another checkout (e.g. ``git archive`` of the commit before a change) in the same run.
``bench/app.py`` measures the same through gunicorn, with traffic, at 250k and 1M subwords; this is
the quick check of a memory change. Written to bench/results/worker_memory.md.

Usage: python bench/worker_memory.py CACHE_DIR [--baseline DIR] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = r"""
import ctypes, json, os, sys
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX, as gunicorn.conf.py
from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.warm import heap_mb, warm_context
app = create_app(Settings(cache=sys.argv[1]))
started = heap_mb()
grown = {}
warm_context(app.server.config["EXPLAINER_CONTEXT"], grown=grown)
print(json.dumps({"started": started, "warm": heap_mb(), "grown": grown}))
"""


def measure(repo: Path, root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo), "EXPLAINER_WARM": "0"}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root)], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "worker_memory.md")
    args = parser.parse_args(argv)
    from explainer.cache.reader import open_cache

    counts = open_cache(args.cache).manifest["counts"]
    repos = {"baseline": args.baseline.resolve(), "now": ROOT} if args.baseline else {"now": ROOT}
    load_before = os.getloadavg()[0]
    found: dict[str, list[dict]] = {name: [] for name in repos}
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / args.cache.name).symlink_to(args.cache.resolve())
        for _ in range(args.repeats):
            for name, repo in repos.items():  # interleaved
                found[name].append(measure(repo, Path(root)))
    lines = [
        "# Worker heap after warm-up",
        "",
        f"Cache {args.cache.name}: {counts['examples']:,} examples, {counts['words']:,} words, "
        f"{counts['subwords']:,} subwords. Fresh process per measurement, set up as a gunicorn worker; "
        f"median of {args.repeats}, interleaved. Load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| checkout | heap after create_app, MB | heap after warm-up, MB | warm-up growth, MB | Embeddings' growth, MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in found.items():
        started = statistics.median(run["started"] for run in runs)
        warm = statistics.median(run["warm"] for run in runs)
        embeddings = statistics.median(run["grown"].get("embeddings", 0.0) for run in runs)
        lines.append(f"| {name} | {started:.0f} | {warm:.0f} | {warm - started:.0f} | {embeddings:.0f} |")
    if args.baseline:
        before = statistics.median(run["warm"] for run in found["baseline"])
        after = statistics.median(run["warm"] for run in found["now"])
        lines += ["", f"Heap after warm-up: {after:.0f} MB now vs {before:.0f} MB ({after / before:.2f}x)."]
    lines += ["", "Growth per section (MB, median):", ""]
    sections = sorted({key for runs in found.values() for run in runs for key in run["grown"]})
    lines.append("| section | " + " | ".join(found) + " |")
    lines.append("|---|" + "---:|" * len(found))
    for key in sections:
        values = [statistics.median(run["grown"].get(key, 0.0) for run in runs) for runs in found.values()]
        lines.append(f"| {key} | " + " | ".join(f"{value:.0f}" for value in values) + " |")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
