"""Worker start-up and first visits of Find duplicates and Activations, per checkout of the code (issue 15).

For each ``--run LABEL=CODE:CACHE`` (a checkout of this project and a cache directory or root), two
fresh Python processes import that checkout's ``explainer``:

- *cold*: import and ``create_app`` (what a gunicorn worker does before it serves), then the first
  visit of Find duplicates (the tab's layout) and of Activations (its layout and the results callback
  it fires on mount), then both again (served from the worker's memo);
- *warmed*: ``create_app`` then ``warm_context`` (the warm-up a worker runs at start with
  ``EXPLAINER_WARM=1``, rendering every tab once): its total and its Find duplicates and Activations parts.

Build the caches as bench/app.py does (a small config-built BERT on CoNLL-2003 train). One run each;
the load average is printed beside every row. Usage::

    python bench/worker_start.py --run before=/work/main:/tmp/caches-main \\
        --run after=.:/tmp/caches-new [--run after-old-cache=.:/tmp/caches-main]

Prints a markdown table and writes it to ``bench/results/worker_start.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "worker_start.md"

COLD = """
import json, sys, time
started = time.perf_counter()
from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.sections import activations, duplicates
context = create_app(Settings(cache=sys.argv[1])).server.config["EXPLAINER_CONTEXT"]
key = context.registry.default_key()
cache = context.registry.get(key)
result = {"create_app": time.perf_counter() - started}
for visit in ("first", "second"):
    mark = time.perf_counter()
    duplicates.layout(cache, {})
    result[f"duplicates_{visit}"] = time.perf_counter() - mark
    mark = time.perf_counter()
    activations.layout(cache, {})
    activations.update_view(context, None, None, None, f"?cache={key}")
    result[f"activations_{visit}"] = time.perf_counter() - mark
print(json.dumps(result))
"""

WARMED = """
import json, sys, time
started = time.perf_counter()
from explainer.app.factory import create_app
from explainer.app.settings import Settings
from explainer.app.warm import warm_context
context = create_app(Settings(cache=sys.argv[1])).server.config["EXPLAINER_CONTEXT"]
created = time.perf_counter()
seconds = warm_context(context)
done = time.perf_counter()
print(json.dumps({"warm": done - created, "ready": done - started, "warm_duplicates": seconds.get("duplicates", 0.0),
                  "warm_activations": seconds.get("activations", 0.0)}))
"""


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def measure(code: Path, cache: Path, script: str) -> dict[str, float]:
    """Run ``script`` in a fresh interpreter that imports ``explainer`` from ``code``; its JSON result."""
    environment = {**os.environ, "PYTHONPATH": str(code), "EXPLAINER_WARM": "0"}
    finished = subprocess.run(
        [sys.executable, "-c", script, str(cache)],
        cwd=code,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise SystemExit(f"measuring {code} on {cache} failed:\n{finished.stderr[-3000:]}")
    result: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="LABEL=CODE:CACHE (repeatable)")
    args = parser.parse_args(argv)
    lines = [
        "| run | create_app s | warm-up s | ready s | warm: duplicates s | warm: activations s | "
        "Find duplicates 1st / 2nd s | Activations 1st / 2nd s | load (1/5/15 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in args.run:
        label, _, rest = run.partition("=")
        code, _, cache = rest.partition(":")
        cold = measure(Path(code).resolve(), Path(cache), COLD)
        warmed = measure(Path(code).resolve(), Path(cache), WARMED)
        lines.append(
            f"| {label} | {cold['create_app']:.2f} | {warmed['warm']:.2f} | {warmed['ready']:.2f} | "
            f"{warmed['warm_duplicates']:.2f} | {warmed['warm_activations']:.2f} | "
            f"{cold['duplicates_first']:.2f} / {cold['duplicates_second']:.3f} | "
            f"{cold['activations_first']:.2f} / {cold['activations_second']:.3f} | {load()} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
