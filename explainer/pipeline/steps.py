"""Dataset-level analyses that ``explainer build`` runs after the forward pass, before the manifest.

Each step is a module-level function registered in ``STEPS`` by name. A step reads what the build has
written so far (``context.writer.path`` holds the tables and arrays), writes its own files there, and
returns a small JSON-able summary that lands in ``manifest["analyses"][name]`` (or None when it did
nothing, for instance because its option turned it off). The app treats a missing analysis as "not
built" and says which build option adds it, so older caches keep working.

Steps are imported lazily so a build that skips one does not import its libraries (umap, cleanlab, ...).
A step that precomputes what the app would otherwise compute per worker reads the files written so far
through :func:`written_cache` (the same reader, so the app reads back exactly what it would compute).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

from explainer.cache.reader import Cache

# name -> "module:function"; run in this order. A step's check function (same module, ``check_options``)
# is called before anything is loaded so a bad option fails fast with nothing written.
STEPS: dict[str, str] = {
    "views": "explainer.pipeline.views:build_step",  # the app pages' aggregates (lazy reading, issue 10)
    "projection": "explainer.pipeline.projection:build_step",
    "label_quality": "explainer.pipeline.label_quality:build_step",
    "training_dynamics": "explainer.pipeline.dynamics:build_step",  # before findings: its margin is a signal
    "findings": "explainer.pipeline.findings:build_step",  # after label_quality: uses its scores (issue 18)
    "activations": "explainer.pipeline.activations:build_step",
    "activation_nmf": "explainer.pipeline.activation_nmf:build_step",  # after activations: factorises them
    "duplicates": "explainer.pipeline.duplicates:build_step",  # after projection: uses the example embeddings
    "data_checks": "explainer.pipeline.data_checks:build_step",
    "slices": "explainer.pipeline.slices:build_step",  # span attributes, bucket scores, weak slices (issue 20)
}


@dataclass
class StepContext:
    """What a step can use: the build's options, the prepared inputs, the writer and the model outputs."""

    options: Any  # BuildOptions
    prepared: Any  # pipeline.Prepared (dataset, aligned, loaded model, alignment, settings)
    writer: Any  # CacheWriter; its .path is the temporary cache directory being written
    predictions: Any  # inference outputs (see pipeline/forward.py)
    progress: bool = True
    # The manifest so far (counts, settings, ...); run_steps adds each step's summary to its "analyses".
    manifest: dict[str, Any] = field(default_factory=dict)
    # Step name -> its forward-pass observer (see forward_observers), when the build's forward pass fed one.
    observed: dict[str, Any] = field(default_factory=dict)


def written_cache(context: StepContext) -> Cache:
    """A reader over the cache being written, with the manifest so far (and the earlier steps' summaries)."""
    return Cache(context.writer.path, {"command": "explainer build", **context.manifest})


def _resolve(target: str, attribute: str | None = None) -> Any:
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), attribute or function_name)


def check_step_options(options: Any) -> None:
    """Run every step's ``check_options(options)``; each raises ExplainerError on a bad option."""
    for target in STEPS.values():
        _resolve(target, "check_options")(options)


def start_warm_ups(options: Any, prepared: Any) -> None:
    """Before the forward pass: let each step that has a ``start_warm_up(options, prepared)`` start, in a
    background thread, work that needs no model output (projection: UMAP's kernels), so it overlaps."""
    for target in STEPS.values():
        module_name = target.split(":")[0]
        start = getattr(importlib.import_module(module_name), "start_warm_up", None)
        if start is not None:
            start(options, prepared)


def forward_observers(options: Any, prepared: Any, writer: Any) -> dict[str, Any]:
    """Before the forward pass: ``{name: observer}`` of the steps whose ``forward_observer(options, prepared,
    writer)`` returns one. An observer is a context manager with ``before_batch(batch, width)`` and
    ``after_batch()``, called around each batch of the build's shared forward pass, so a step records what
    it needs there instead of running the model again; the step finds it in ``context.observed[name]``."""
    observers = {}
    for name, target in STEPS.items():
        make = getattr(importlib.import_module(target.split(":")[0]), "forward_observer", None)
        observer = None if make is None else make(options, prepared, writer)
        if observer is not None:
            observers[name] = observer
    return observers


def run_steps(context: StepContext, timings: dict[str, float]) -> dict[str, Any]:
    """Run the registered steps in order; return ``{name: summary}`` and add ``timings[name]``."""
    summaries = context.manifest.setdefault("analyses", {})
    for name, target in STEPS.items():
        step = _resolve(target)
        started = time.perf_counter()
        summary = step(context)
        timings[name] = time.perf_counter() - started
        if summary is not None:
            summaries[name] = summary
    return dict(summaries)
