"""Build step ``findings``: span-level suspected label errors with proposed fixes (``--findings on|none``).

Reads what the build wrote (words, the label-quality scores of step ``label_quality``, the hidden state of
each word's first subword and, in an out-of-fold cache, the folds), runs
:func:`explainer.analysis.findings.find_label_errors` and stores the table as ``schema.FINDINGS``
(memory-mapped by the app). Run by default: the neighbour search, the bulk of the cost, is PCA-reduced,
exact up to 50,000 words per fold and approximate (pynndescent) above; see the README for measured times.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from explainer.analysis import findings as fa
from explainer.cache import schema
from explainer.cache.artefacts import Missing
from explainer.cache.reader import Cache
from explainer.errors import ExplainerError
from explainer.pipeline.steps import StepContext, written_cache

CHOICES = ("on", "none")
NEIGHBOURS = 10
WORD_COLUMNS = ["example_id", "word_index", "word", "gold", "pred", "gold_id", "prob_gold", "subword_row"]
TABLE_SCHEMA = pa.schema(
    [
        ("example_id", pa.int64()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("kind", pa.string()),
        ("text", pa.string()),
        ("gold_spans", pa.list_(pa.string())),
        ("fix_spans", pa.list_(pa.string())),
        ("fix_tags", pa.list_(pa.string())),
        (fa.MODEL, pa.float32()),
        (fa.CONSISTENCY, pa.float32()),
        (fa.NEIGHBOURS, pa.float32()),
        (fa.DYNAMICS, pa.float32()),
        ("score", pa.float32()),
        ("sources", pa.string()),
        ("evidence", pa.string()),
    ]
)


def check_options(options: Any) -> None:
    if options.findings not in CHOICES:
        raise ExplainerError(f"--findings {options.findings!r}: choose one of {', '.join(CHOICES)}")


# The build's warm-up thread (one per process): started before the forward pass, joined by the step.
_warm_up: threading.Thread | None = None


def start_warm_up(options: Any, prepared: Any) -> None:
    """Compile the approximate neighbour search's kernels in a background thread while the forward pass
    runs, when the build will use it (findings on, more than ``EXACT_SEARCH_LIMIT`` words)."""
    global _warm_up
    n_words = sum(len(example.words) for example in prepared.aligned.examples)
    if options.findings != "on" or n_words <= fa.EXACT_SEARCH_LIMIT or _warm_up is not None:
        return
    _warm_up = threading.Thread(target=_warm_up_quietly, name="findings-warm-up", daemon=True)
    _warm_up.start()


def _warm_up_quietly() -> None:
    try:
        fa.warm_up_approximate_search()
    except Exception:  # noqa: BLE001 - the search itself compiles, and reports any real error, later
        pass


def compute_findings(
    cache: Cache, *, neighbours: int = NEIGHBOURS, seed: int = 0, weights: dict[str, float] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The findings of ``cache`` and how they were made (signals used, neighbour groups)."""
    words = cache.table("words", WORD_COLUMNS)
    quality_scores = cache.label_quality()
    # Without the label_quality step the model signal is the probability of the gold tag (cleanlab's
    # self_confidence, which is what that step stores by default).
    if isinstance(quality_scores, Missing):
        quality, quality_source = words["prob_gold"].to_numpy(dtype=np.float32), "prob_gold"
    else:
        quality, quality_source = quality_scores.words["label_quality"].to_numpy(dtype=np.float32), "label_quality"
    folds = cache.folds()
    groups = None if isinstance(folds, Missing) else np.asarray(folds)[words["example_id"].to_numpy()]
    shares = None
    if neighbours > 0 and len(words):
        vectors = cache.hidden[words["subword_row"].to_numpy()]
        shares = fa.neighbour_tags(
            vectors,
            words["gold_id"].to_numpy(dtype=np.int64),
            words["example_id"].to_numpy(dtype=np.int64),
            n_labels=len(cache.labels),
            k=neighbours,
            groups=groups,
            seed=seed,
        )
    dynamics = cache.training_dynamics()
    margin = None if isinstance(dynamics, Missing) else dynamics.words["margin"].to_numpy(dtype=np.float32)
    found = fa.find_label_errors(
        words, labels=cache.labels, word_quality=quality, neighbour_shares=shares, word_margin=margin, weights=weights
    )
    info = {
        "model_signal": quality_source,
        "neighbours": neighbours if shares is not None else 0,
        "neighbour_groups": "folds" if groups is not None else "all",
        "dynamics": margin is not None,
        "weights": dict(fa.DEFAULT_WEIGHTS if weights is None else weights),
    }
    return found, info


def build_step(context: StepContext) -> dict[str, Any] | None:
    """Compute and store the findings of the cache being written; None for ``--findings none``."""
    if context.options.findings == "none":
        return None
    started = time.perf_counter()
    if _warm_up is not None:
        _warm_up.join()  # started before the forward pass: the search's kernels are compiled by now
    found, info = compute_findings(written_cache(context), seed=context.options.seed)
    context.writer.write_mapped_table(
        schema.FINDINGS, pa.Table.from_pandas(found, schema=TABLE_SCHEMA, preserve_index=False)
    )
    return {
        **info,
        "findings": len(found),
        "examples": int(found["example_id"].nunique()),
        "kinds": {kind: int(n) for kind, n in found["kind"].value_counts().items()},
        "seconds": round(time.perf_counter() - started, 3),
    }
