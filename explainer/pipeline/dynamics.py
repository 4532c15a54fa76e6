"""Build step ``training_dynamics``: the data map of a cache of the model's own training data.

When the model directory holds the dynamics ``explainer train --record-dynamics`` recorded
(:mod:`explainer.train.dynamics`) and the cache's examples are (some of) the examples it was trained on,
the step matches them (same words, same gold tag) and stores confidence, variability and margin per word,
example and gold span (explainer/analysis/dynamics.py). Otherwise it stays off and says why in the
manifest (``analyses.training_dynamics.reason``): a model without dynamics, or another dataset. Run
after ``label_quality`` and before ``findings``, which takes the margin as a signal.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from explainer.analysis import dynamics as dyn
from explainer.cache import schema
from explainer.errors import ExplainerError
from explainer.pipeline.steps import StepContext, written_cache
from explainer.train.dynamics import DYNAMICS_FILE, read_dynamics

CHOICES = ("auto", "none")


def check_options(options: Any) -> None:
    if getattr(options, "training_dynamics", "auto") not in CHOICES:
        raise ExplainerError(f"--training-dynamics {options.training_dynamics!r}: choose one of {', '.join(CHOICES)}")


def _off(reason: str) -> dict[str, Any]:
    return {"used": False, "reason": reason}


def build_step(context: StepContext) -> dict[str, Any] | None:
    """Match the model's training dynamics to the cache's words and store the data map; a summary saying
    why not when the model has none or this is not its training data; None for ``--training-dynamics none``."""
    if getattr(context.options, "training_dynamics", "auto") == "none":
        return None
    started = time.perf_counter()
    model_dir = Path(str(context.options.model))
    if not model_dir.is_dir():
        return _off("the model is not a local directory, so it has no recorded training dynamics")
    found = read_dynamics(model_dir)
    if found is None:
        return _off(f"the model has no {DYNAMICS_FILE}: it was trained without --record-dynamics")
    metadata, recorded = found
    cache = written_cache(context)
    words = cache.table("words", ["example_id", "word_index", "word", "gold"])
    hashes = cache.table("examples", ["example_id", "words_hash"])["words_hash"].astype(str).tolist()
    gold_prob, margin, matched = dyn.match_words(words, hashes, recorded)
    n_words = int(np.isfinite(gold_prob).any(axis=1).sum())
    summary: dict[str, Any] = {
        "model_file": str((model_dir / DYNAMICS_FILE).absolute()),
        "epochs": int(gold_prob.shape[1]),
        "source": metadata.get("source", ""),
        "same_dataset": metadata.get("train_fingerprint") == context.manifest.get("dataset", {}).get("fingerprint"),
        "matched_examples": matched,
        "matched_words": n_words,
        "examples": len(hashes),
    }
    if not n_words:
        return {**summary, **_off("none of this dataset's examples is in the model's training data")}
    per_word, examples, spans = dyn.data_map(words, gold_prob, margin)
    writer = context.writer
    writer.write_mapped_table(schema.WORD_DYNAMICS, pa.Table.from_pandas(per_word, preserve_index=False))
    writer.write_mapped_table(schema.EXAMPLE_DYNAMICS, pa.Table.from_pandas(examples, preserve_index=False))
    writer.write_mapped_table(schema.SPAN_DYNAMICS, pa.Table.from_pandas(spans, preserve_index=False))
    regions = examples["region"].value_counts()
    return {
        **summary,
        "used": True,
        "regions": {region: int(regions.get(region, 0)) for region in dyn.REGIONS},
        "spans": len(spans),
        "seconds": round(time.perf_counter() - started, 3),
    }
