"""The optional artefacts of a cache as typed values, and :class:`Missing` for the ones it lacks.

:class:`~explainer.cache.reader.Cache` returns these (or a ``Missing`` saying why the file is absent and
which build adds it); the build steps of explainer/pipeline/ write them. Plain data: numpy arrays and
pandas frames, no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

    from explainer.analysis.slices import CodedSpans


@dataclass(frozen=True)
class Missing:
    """An optional artefact this cache does not hold; ``reason`` says why and which build adds it."""

    reason: str


@dataclass(frozen=True)
class Projections:
    """The 2-D coordinates of a cache's words and examples, and how they were made."""

    words: npt.NDArray[np.float32]  # [n_words, 2], row i <-> words.parquet row i
    examples: npt.NDArray[np.float32]  # [n_examples, 2]
    info: dict[str, Any]  # projection.json

    def method(self, mode: str = "word") -> str:
        """How the points of ``mode`` were placed: ``"umap"`` or ``"pca"`` (small sets fall back to PCA)."""
        part = self.info.get("words" if mode == "word" else "examples", {})
        return str(part.get("method") or self.info.get("method", "umap"))


@dataclass(frozen=True)
class LabelQualityScores:
    """The two label-quality score tables of a cache (see ``explainer/cache/schema.py``)."""

    words: pd.DataFrame  # row i <-> words.parquet row i: example_id, label_quality, label_issue
    examples: pd.DataFrame  # row i <-> examples.parquet row i: example_id, label_quality, n_label_issues
    method: str | None  # the cleanlab scoring method, from the manifest


@dataclass(frozen=True)
class ActivationSample:
    """The cache's stored FFN activations: the memory map, its positions table and the build's summary."""

    activations: npt.NDArray[np.float16]  # [n_layers, n_positions, d_ff], memory-mapped
    positions: pd.DataFrame  # example_id, word_index, position, subword_row
    summary: dict[str, Any]

    @property
    def n_layers(self) -> int:
        return int(self.activations.shape[0])

    @property
    def example_ids(self) -> list[int]:
        return sorted(int(i) for i in self.positions["example_id"].unique())


@dataclass(frozen=True)
class Factorisation:
    """NMF of the positions x neurons matrix of some layers (explainer/analysis/activations.py).

    ``weights`` [n_positions, n_components]: each component's activation at each position (W);
    ``components`` [n_components, len(neurons)]: each component's neuron loadings (H), over the kept
    ``neurons`` (flat indices ``layer_offset * d_ff + neuron`` into the chosen layers laid side by side).
    """

    layers: tuple[int, ...]
    n_components: int
    seed: int
    weights: npt.NDArray[np.float32]
    components: npt.NDArray[np.float32]
    neurons: npt.NDArray[np.int64]
    fitted_on: int
    seconds: float


@dataclass(frozen=True)
class DuplicateFindings:
    """What Find duplicates lists (explainer/analysis/duplicates.py): the exact groups and, when the cache
    has example embeddings, the near pairs at the lowest threshold with their label conflicts (a higher
    threshold only filters them)."""

    groups: pd.DataFrame  # see exact_duplicate_groups
    near: pd.DataFrame | None  # see near_duplicate_pairs; None without example embeddings

    @property
    def has_embeddings(self) -> bool:
        return self.near is not None


@dataclass(frozen=True, eq=False)
class SliceResults:
    """The build's slices (explainer/pipeline/slices.py): attributes per span and example, every bucket's
    scores with intervals, the weak slices, and the step's summary (attributes, reference, overall).

    The span and example tables are read only when asked for: at 1M subwords the span table is 830k
    rows of 35 columns, ~250 MB as pandas. The app reads :attr:`coded` instead (a few arrays of small
    integers, ~20 MB), and the rows of one slice with :meth:`span_rows`; each is read from the memory
    map and the map let go, so neither the file's pages nor its strings stay in a worker.
    """

    buckets: pd.DataFrame
    weak: pd.DataFrame
    summary: dict[str, Any]
    # columns (None: every one) -> slice_spans as Arrow over a fresh memory map (not kept)
    read_spans: Callable[[Sequence[str] | None], pa.Table]
    read_examples: Callable[[], pd.DataFrame]  # slice_examples as pandas (the reader memoises it)
    read_all_spans: Callable[[], pd.DataFrame]  # every span column as pandas (the reader memoises it)

    @classmethod
    def of_frames(
        cls,
        spans: pd.DataFrame,
        examples: pd.DataFrame,
        buckets: pd.DataFrame,
        weak: pd.DataFrame,
        summary: dict[str, Any],
    ) -> SliceResults:
        """Results held in memory (tests, a just-computed step)."""
        import pyarrow as pa

        return cls(
            buckets=buckets,
            weak=weak,
            summary=summary,
            read_spans=lambda columns: pa.Table.from_pandas(
                spans if columns is None else spans[list(columns)], preserve_index=False
            ),
            read_examples=lambda: examples,
            read_all_spans=lambda: spans,
        )

    @cached_property
    def spans(self) -> pd.DataFrame:
        """Every column of every span as pandas (Compare): heavy, kept once read."""
        return self.read_all_spans()

    @cached_property
    def examples(self) -> pd.DataFrame:
        return self.read_examples()

    @cached_property
    def coded(self) -> CodedSpans:
        """What a slice's mask, counts and examples need of the spans, as small-integer arrays, read once."""
        from explainer.analysis.slices import CodedSpans

        columns = self.read_spans(None).column_names
        return CodedSpans.of(self.read_spans(CodedSpans.columns_of(columns)))

    def span_columns(self, columns: Sequence[str]) -> pd.DataFrame:
        """``columns`` of every span as pandas, read for this call only (the rest of the table untouched)."""
        return self.read_spans(list(columns)).to_pandas(split_blocks=True)

    def span_rows(self, mask: npt.NDArray[np.bool_], columns: Sequence[str]) -> pd.DataFrame:
        """``columns`` of the spans in ``mask`` (``coded``'s row order), read from the file for this call, in
        compact dtypes (strings categorical, integers int32 where they fit): a caller may keep several."""
        import pyarrow as pa

        table = self.read_spans(list(columns)).filter(pa.array(np.asarray(mask, dtype=bool)))
        compact = []
        for field, column in zip(table.schema, table.columns):
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                column = column.dictionary_encode()
            elif pa.types.is_int64(field.type):
                try:
                    column = column.cast(pa.int32())  # a safe cast: fails rather than wraps
                except pa.ArrowInvalid:
                    pass
            compact.append(column)
        return pa.table(compact, names=table.column_names).to_pandas()

    @property
    def attributes(self) -> list[str]:
        return [str(name) for name in self.summary.get("attributes", [])]

    @property
    def overall_f1(self) -> float:
        return float((self.summary.get("overall") or {}).get("f1", 0.0))

    @property
    def reference(self) -> str | None:
        reference = self.summary.get("reference")
        return str(reference["name"]) if isinstance(reference, dict) else None


@dataclass(frozen=True)
class LabelErrorFindings:
    """Suspected label errors with proposed fixes (build step ``findings``; explainer/analysis/findings.py)."""

    table: pd.DataFrame  # one row per finding, best first (columns in explainer/cache/schema.py)
    info: dict[str, Any]  # manifest analyses.findings: weights, signals used, counts

    def of_example(self, example_id: int) -> pd.DataFrame:
        """The example's findings, best first."""
        return self.table[self.table["example_id"] == example_id]


@dataclass(frozen=True)
class TrainingDynamics:
    """The data map of a training set (build step ``training_dynamics``; explainer/analysis/dynamics.py):
    confidence, variability and margin per word (row i <-> words row i), per example and per gold span."""

    words: pd.DataFrame
    examples: pd.DataFrame
    spans: pd.DataFrame
    info: dict[str, Any]  # manifest analyses.training_dynamics: epochs, matched counts, the model's file
