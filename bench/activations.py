"""Benchmark the Activations tab's factorisation on a cache with FFN activations (e.g. the demo's).

Measured in one process, one run each, with the load average printed beside every figure:

- opening the stored sample (memory map + positions table) and reading the words table;
- the first factorisation over all layers (what a user waits for on opening the tab), then the same
  view again (served by the LRU), then one layer alone;
- the same all-layer factorisation without the two shortcuts (fit on every position and every
  neuron, as Ecco would), for the ratio. ``--no-baseline`` skips it (it takes a minute or more).

A cache built without activations (``--activations-sample 0``, or before they existed) is rebuilt
with them into ``--work`` first, from the command in its manifest. Usage::

    .venv/bin/python bench/activations.py demo/cache/wnut16-heldout-minilm [--components 8]

Prints a markdown table and writes it to ``bench/results/activations.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "activations.md"


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def with_activations(cache, work: Path) -> Path:
    """Rebuild ``cache`` (its manifest's options) into ``work`` with the default activation sample."""
    from explainer.errors import ExplainerError
    from explainer.pipeline.options import from_record, manifest_options
    from explainer.pipeline.pipeline import build_cache, summary_line

    out = work / f"{cache.path.name}-activations"
    options = replace(from_record(manifest_options(cache.manifest)), out=str(out), force=True, activations_sample=200)
    print(f"{cache.path.name} has no activations: building {out}", flush=True)
    try:
        print(summary_line(build_cache(options), out), flush=True)
    except ExplainerError as error:
        raise SystemExit(f"could not build {out}: {error}") from None
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache")
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--work", default="/tmp/bench-caches", help="where a copy with activations is built when the cache has none"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import sklearn  # imported once per worker in the app; not part of a view's time

    from explainer.analysis.activations import component_view, factorise
    from explainer.app.sections.activations import components_for, open_sample, unavailable_note
    from explainer.cache.reader import open_cache

    import_seconds = time.perf_counter() - started

    rows = []

    def measure(what: str, run, note=lambda result: ""):
        before = load()
        mark, cpu = time.perf_counter(), time.process_time()
        result = run()
        seconds, cpu = time.perf_counter() - mark, time.process_time() - cpu
        rows.append((what, seconds, cpu, note(result), f"{before} → {load()}"))
        print(f"{what}: {seconds:.2f} s, CPU {cpu:.2f} s {rows[-1][3]} (load {rows[-1][4]})", flush=True)
        return result

    cache = open_cache(args.cache)
    if unavailable_note(cache):  # e.g. a demo cache built before activations existed: build a copy that has them
        cache = open_cache(with_activations(cache, Path(args.work)))
    sample = measure(
        "open the sample (memory map, positions) and the words table",
        lambda: (open_sample(cache), cache.table("words", columns=["example_id", "word_index", "word"])),
    )[0]
    n_layers, n_positions, d_ff = sample.activations.shape
    everything = tuple(range(n_layers))
    k = args.components
    first = measure(
        f"first view, all {n_layers} layers, {k} components (NMF + words + top words)",
        lambda: components_for(cache, layers=everything, n_components=k),
        lambda view: (
            f"NMF {view.factorisation.seconds:.2f} s, fitted on {view.factorisation.fitted_on:,} "
            f"positions x {len(view.factorisation.neurons):,} neurons"
        ),
    )
    measure(
        "the same view again (LRU)",
        lambda: components_for(cache, layers=everything, n_components=k),
        lambda view: "same object" if view is first else "recomputed!",
    )
    measure(
        f"first view, layer {n_layers // 2} alone, {k} components",
        lambda: components_for(cache, layers=(n_layers // 2,), n_components=k),
        lambda view: f"{len(view.factorisation.neurons):,} of {d_ff:,} neurons",
    )
    ratio = ""
    if not args.no_baseline:
        words = cache.table("words", columns=["example_id", "word_index", "word"])
        full = measure(
            f"baseline: all layers, every position and neuron ({n_positions:,} x {n_layers * d_ff:,})",
            lambda: component_view(
                factorise(sample.activations, layers=everything, n_components=k, fit_positions=n_positions, energy=1.0),
                sample.positions,
                words,
            ),
        )
        ratio = (
            f"\n\nThe baseline takes {rows[-1][1] / rows[1][1]:.1f}× as long as the first view in wall time "
            f"({rows[-1][1]:.1f} s vs {rows[1][1]:.1f} s) and {rows[-1][2] / rows[1][2]:.1f}× its CPU time "
            f"({rows[-1][2]:.1f} s vs {rows[1][2]:.1f} s), one run."
        )
        del full

    summary = sample.summary
    header = (
        f"# Activations: NMF timing\n\nCache `{Path(args.cache).name}`: {summary.get('examples')} sampled "
        f"examples, {n_positions:,} positions, {n_layers} layers x {d_ff:,} neurons "
        f"({summary.get('megabytes')} MB float16), model type {summary.get('model_type')}. "
        f"{platform.machine()}, {os.cpu_count()} cores, scikit-learn {sklearn.__version__}; importing "
        f"scikit-learn and the app modules took {import_seconds:.1f} s (once per worker, not counted). "
        "CPU s: this process's CPU time, all threads (less sensitive to the other jobs than wall time). "
        "Load average (1/5/15 min) before → after each step: the machine is shared with other jobs.\n"
    )
    table = ["| step | wall s | CPU s | detail | load |", "|---|---:|---:|---|---|"]
    table += [
        f"| {what} | {seconds:.2f} | {cpu:.2f} | {note} | {average} |" for what, seconds, cpu, note, average in rows
    ]
    text = header + "\n" + "\n".join(table) + ratio + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
