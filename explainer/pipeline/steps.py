"""Dataset-level analyses that ``explainer build`` runs after the forward pass, before the manifest.

Each step is a module-level function registered in ``STEPS`` by name. A step reads what the build has
written so far (``context.writer.path`` holds the tables and arrays), writes its own files there, and
returns a small JSON-able summary that lands in ``manifest["analyses"][name]`` (or None when it did
nothing, for instance because its option turned it off). The app treats a missing analysis as "not
built" and says which build option adds it, so older caches keep working.

Steps are imported lazily so a build that skips one does not import its libraries (umap, cleanlab, ...).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any

# name -> "module:function"; run in this order. A step's check function (same module, ``check_options``)
# is called before anything is loaded so a bad option fails fast with nothing written.
STEPS: dict[str, str] = {
    "views": "explainer.pipeline.views:build_step",  # the app pages' aggregates (lazy reading, issue 10)
    "projection": "explainer.pipeline.projection:build_step",
    "label_quality": "explainer.pipeline.label_quality:build_step",
    "activations": "explainer.pipeline.activations:build_step",
}


@dataclass
class StepContext:
    """What a step can use: the build's options, the prepared inputs, the writer and the model outputs."""

    options: Any  # BuildOptions
    prepared: Any  # pipeline.Prepared (dataset, aligned, loaded model, alignment, settings)
    writer: Any  # CacheWriter; its .path is the temporary cache directory being written
    predictions: Any  # inference outputs (see pipeline/forward.py)
    progress: bool = True


def _resolve(target: str, attribute: str | None = None):
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None  # step not written yet
        raise
    return getattr(module, attribute or function_name, None)


def check_step_options(options) -> None:
    """Run every step's ``check_options(options)``; each raises ExplainerError on a bad option."""
    for target in STEPS.values():
        check = _resolve(target, "check_options")
        if check is not None:
            check(options)


def run_steps(context: StepContext, timings: dict) -> dict:
    """Run the registered steps in order; return ``{name: summary}`` and add ``timings[name]``."""
    summaries = {}
    for name, target in STEPS.items():
        step = _resolve(target)
        if step is None:
            continue
        started = time.perf_counter()
        summary = step(context)
        timings[name] = time.perf_counter() - started
        if summary is not None:
            summaries[name] = summary
    return summaries
