"""Build step ``slices``: span and example attributes, per-bucket scores with intervals, and weak slices.

The analysis is explainer/analysis/slices.py and slice_attributes.py; this module gives them the tables
just written (spans, words, examples) and, with ``--train-dataset SPEC``, the reference training set
loaded like ``--dataset`` (same column and tag-scheme options, ``train`` split of a Hub or disk dataset)
and renamed to the model's labels like it. Files written (``explainer/cache/schema.py``):
``slice_spans.arrow``, ``slice_examples.arrow``, ``slice_buckets.arrow``, ``weak_slices.arrow``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from explainer.analysis import slices
from explainer.analysis.slice_attributes import Reference, compute_attributes
from explainer.cache import schema
from explainer.errors import ExplainerError
from explainer.pipeline.steps import StepContext, written_cache

TRAIN_SPLIT = "train"  # the split a Hub or disk --train-dataset is read from
SEARCH_EXCLUDES = ("type",)  # the weak-slice search takes the type as its own condition


def check_options(options: Any) -> None:
    """A ``--train-dataset`` that names nothing fails before the model loads."""
    spec = getattr(options, "train_dataset", None)
    if spec is None:
        return
    if not str(spec).strip():
        raise ExplainerError("--train-dataset needs a dataset: a CoNLL or JSONL file, a directory or a Hub name")
    from explainer.data.loaders import detect_format

    try:
        detect_format(spec)
    except ExplainerError as error:
        raise ExplainerError(f"--train-dataset: {error}") from None


def load_reference(options: Any, *, model_labels: list[str], label_map: dict[str, str] | None) -> Reference:
    """The reference training set of ``--train-dataset``, tags renamed to the model's labels."""
    from explainer.data.labels import align_labels
    from explainer.data.loaders import detect_format, load_dataset

    spec = options.train_dataset
    try:
        kind = detect_format(spec)
        dataset = load_dataset(
            spec,
            split=TRAIN_SPLIT if kind in ("hub", "disk") else None,
            tokens_column=options.tokens_column,
            tags_column=options.tags_column,
            strip_prefix=options.strip_prefix,
            tag_scheme=options.tag_scheme,
        )
        aligned = align_labels(dataset, model_labels, label_map=label_map)
    except ExplainerError as error:
        raise ExplainerError(f"--train-dataset {spec}: {error}") from None
    return Reference.of(((example.words, example.tags) for example in aligned.examples), name=str(spec))


@dataclass(frozen=True)
class SliceTables:
    """Everything the step stores, as frames (and the names of the attributes computed)."""

    spans: pd.DataFrame
    examples: pd.DataFrame
    buckets: pd.DataFrame
    weak: pd.DataFrame
    attributes: list[str]
    overall: dict[str, Any]


def compute_slices(
    spans: pd.DataFrame,
    words: pd.DataFrame,
    examples: pd.DataFrame,
    *,
    reference: Reference | None = None,
    draws: int = slices.DRAWS,
    seed: int = 0,
    min_support: int = slices.MIN_SUPPORT,
) -> SliceTables:
    """Attributes, bucket scores and weak slices of the cache tables ``spans``, ``words``, ``examples``."""
    n_examples = len(examples)
    frame = slices.span_frame(spans, words, examples)
    attributed, per_example, names = compute_attributes(frame, examples, reference=reference)
    buckets = slices.bucket_scores(attributed, names, n_examples=n_examples, draws=draws, seed=seed)
    searched = [name for name in names if name not in SEARCH_EXCLUDES]
    weak = slices.weak_slices(
        attributed, searched, n_examples=n_examples, draws=draws, seed=seed, min_support=min_support
    )
    return SliceTables(
        spans=_storable(attributed.drop(columns=["words"])),
        examples=_storable(per_example),
        buckets=buckets,
        weak=weak,
        attributes=names,
        overall=slices.overall_scores(attributed),
    )


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Buckets as plain strings and mixed object columns as strings, so Arrow stores them."""
    result = frame.copy()
    for column in result.columns:
        values = result[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            result[column] = values.astype(object).where(values.notna(), None)
        elif values.dtype == object:
            result[column] = values.map(lambda value: None if value is None else str(value))
    return result


def build_step(context: StepContext) -> dict[str, Any]:
    """Compute and store the slice tables; return what the manifest records of them."""
    import pyarrow as pa

    started = time.perf_counter()
    written = written_cache(context)
    reference = None
    if getattr(context.options, "train_dataset", None):
        reference = load_reference(
            context.options,
            model_labels=list(context.prepared.loaded.labels),
            label_map=context.prepared.label_map,
        )
    tables = compute_slices(
        written.spans,
        written.table("words", columns=["example_id", "word_index", "word", "n_subwords"]),
        written.table(
            "examples",
            columns=["example_id", "n_words", "n_subwords", "word_offset", "windowed", "source", "n_gold_spans"],
        ),
        reference=reference,
        seed=int(context.options.seed),
    )
    for name, frame in (
        (schema.SLICE_SPANS, tables.spans),
        (schema.SLICE_EXAMPLES, tables.examples),
        (schema.SLICE_BUCKETS, tables.buckets),
        (schema.WEAK_SLICES, tables.weak),
    ):
        context.writer.write_mapped_table(name, pa.Table.from_pandas(frame, preserve_index=False))
    return {
        "attributes": tables.attributes,
        "reference": None if reference is None else reference.summary(),
        "overall": tables.overall,
        "draws": slices.DRAWS,
        "seed": int(context.options.seed),
        "min_support": slices.MIN_SUPPORT,
        "weak_slices": len(tables.weak),
        "seconds": round(time.perf_counter() - started, 3),
    }
