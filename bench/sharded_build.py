"""Benchmark a sharded build (torchrun, 2 CPU processes) against a single-process build.

CoNLL-2003 validation (3,250 examples) with a small random BERT built from a config (4 layers, hidden
256, WordPiece vocabulary trained on the CoNLL-2003 training words, as bench/build.py makes it). Runs,
each a fresh ``explainer build`` process with the dataset-level steps off (they run once, on rank 0,
in both cases, so they would only add the same seconds to each):

- 1 process, torch's default threads (one per core);
- ``torchrun --nproc-per-node 2`` (torchrun gives each rank 1 thread), gloo on 127.0.0.1;
- 1 process, 1 thread (what each rank gets).

Wall time of the whole command (process start, imports, load, tokenisation, forward, merge, write) and
the manifest's forward and merge seconds, with the load average before and after each run: the machine
is shared, so only ratios within one run of this script mean something.

Usage: ``.venv/bin/python bench/sharded_build.py [--limit N] [--results PATH]``; prints a markdown table
and writes it to ``bench/results/sharded_build.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS = ROOT / "bench" / "results" / "sharded_build.md"
STEPS_OFF = ["--projection", "none", "--label-quality", "none", "--activations-sample", "0"]


def bench_build_module():
    """bench/build.py (its model maker and subset writer), loaded by path: bench/ is not a package."""
    spec = importlib.util.spec_from_file_location("bench_build", ROOT / "bench" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(command: list[str], out: Path, env: dict) -> dict:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "wall": wall,
        "forward": manifest["timings"]["forward"],
        "merge": manifest["timings"].get("merge"),
        "load": (load_before, os.getloadavg()[0]),
        "sharding": manifest.get("sharding"),
        "f1": manifest["headline"]["entity_f1"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N validation examples (quick check)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    bench_build = bench_build_module()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = bench_build.make_model(tmp / "model", layers=4, hidden=256, vocab_size=8000)
        dataset = DATA / "validation.txt"
        if args.limit:
            dataset = bench_build.write_subset(dataset, tmp / "valid.conll", limit=args.limit)
        build = ["-m", "explainer", "build", "--model", str(model), "--dataset", str(dataset), *STEPS_OFF]
        cores = os.cpu_count() or 1
        runs = [
            (f"1 process, {cores} threads", [python, *build, "--out", str(tmp / "one")], tmp / "one", {}),
            (
                "torchrun, 2 processes × 1 thread",
                [
                    python,
                    "-m",
                    "torch.distributed.run",
                    "--nnodes",
                    "1",
                    "--nproc-per-node",
                    "2",
                    "--master-addr",
                    "127.0.0.1",
                    "--master-port",
                    str(free_port()),
                    *build,
                    "--out",
                    str(tmp / "two"),
                ],
                tmp / "two",
                {"OMP_NUM_THREADS": "1"},
            ),
            (
                "1 process, 1 thread",
                [python, *build, "--out", str(tmp / "one-thread")],
                tmp / "one-thread",
                {"OMP_NUM_THREADS": "1"},
            ),
        ]
        rows = []
        for name, command, out, env in runs:
            print(f"running: {name}", file=sys.stderr, flush=True)
            rows.append((name, run(command, out, env)))
    baseline = rows[0][1]["wall"]
    lines = [
        f"# Sharded build: torchrun with 2 processes vs 1 (CoNLL-2003 validation{f', first {args.limit}' if args.limit else ''})",
        "",
        f"{platform.node()}, {os.cpu_count()} cores, torch threads as stated; small random BERT "
        "(4 layers, hidden 256); dataset-level steps off; load average = 1-minute load before → after "
        "each run (other jobs share the machine).",
        "",
        "| run | wall s | × 1 process | forward s | merge s | load avg | entity F1 |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, row in rows:
        merge = "" if row["merge"] is None else f"{row['merge']:.2f}"
        forward = f"{row['forward']:.1f}"
        if row["sharding"]:
            forward += f" (ranks: {', '.join(f'{s:.1f}' for s in row['sharding']['forward_seconds'])})"
        lines.append(
            f"| {name} | {row['wall']:.1f} | {row['wall'] / baseline:.2f} | {forward} | {merge} | "
            f"{row['load'][0]:.1f} → {row['load'][1]:.1f} | {row['f1']:.4f} |"
        )
    bench_build.write_results("\n".join(lines) + "\n", args.results)


if __name__ == "__main__":
    main()
