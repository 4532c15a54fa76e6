"""Assemble the cache's tables and metrics from the alignment and the per-subword predictions.

Everything per subword and per word is vectorised with numpy; only the span analysis runs once per
example (a handful of spans each). Column names and dtypes follow ``explainer/cache/schema.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from explainer.analysis.metrics import entity_report, error_counts, word_accuracy, word_confusion
from explainer.analysis.spans import classify_spans, example_scores, extract_spans
from explainer.cache.schema import CORRECT
from explainer.data.example import Example
from explainer.pipeline.align import Alignment
from explainer.pipeline.forward import SubwordPredictions


@dataclass
class WordResults:
    """Per-word values taken from each word's first subword, flat over the dataset."""

    example_id: np.ndarray
    gold_id: np.ndarray
    pred_id: np.ndarray
    loss: np.ndarray
    gold: np.ndarray  # object array of str
    pred: np.ndarray


def word_results(alignment: Alignment, predictions: SubwordPredictions, labels: list[str]) -> WordResults:
    """Read every word's gold and predicted label and loss off its first subword."""
    rows = alignment.word_rows
    n_words = np.diff(alignment.word_offsets)
    label_names = np.asarray(labels, dtype=object)
    gold_id, pred_id = alignment.label_id[rows], predictions.pred_id[rows]
    return WordResults(
        example_id=np.repeat(np.arange(len(n_words), dtype=np.int64), n_words),
        gold_id=gold_id,
        pred_id=pred_id,
        loss=predictions.loss[rows],
        gold=label_names[gold_id],
        pred=label_names[pred_id],
    )


def subwords_table(alignment: Alignment, predictions: SubwordPredictions, tokens: np.ndarray) -> pa.Table:
    """subwords.parquet: one row per model token of every stitched sequence."""
    lengths = np.diff(alignment.subword_offsets)
    example_id = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    position = np.arange(alignment.n_subwords, dtype=np.int64) - alignment.subword_offsets[example_id]
    return pa.table(
        {
            "example_id": example_id,
            "position": position.astype(np.int32),
            "token": pa.array(tokens, type=pa.string()),
            "input_id": alignment.input_ids.astype(np.int32),
            "word_index": alignment.word_index.astype(np.int32),
            "label_id": alignment.label_id.astype(np.int16),
            "pred_id": predictions.pred_id.astype(np.int16),
            "prob_pred": predictions.prob_pred,
            "prob_gold": predictions.prob_gold,
            "loss": predictions.loss,
            "window": alignment.window.astype(np.int16),
        }
    )


def words_table(
    examples: list[Example], alignment: Alignment, predictions: SubwordPredictions, words: WordResults
) -> pa.Table:
    """words.parquet: one row per dataset word."""
    rows = alignment.word_rows
    word_index = np.arange(len(rows), dtype=np.int64) - alignment.word_offsets[words.example_id]
    return pa.table(
        {
            "example_id": words.example_id,
            "word_index": word_index.astype(np.int32),
            "word": pa.array([word for example in examples for word in example.words], type=pa.string()),
            "gold": pa.array(words.gold, type=pa.string()),
            "pred": pa.array(words.pred, type=pa.string()),
            "gold_id": words.gold_id.astype(np.int16),
            "pred_id": words.pred_id.astype(np.int16),
            "loss": words.loss,
            "prob_pred": predictions.prob_pred[rows],
            "prob_gold": predictions.prob_gold[rows],
            "subword_row": rows.astype(np.int64),
            "n_subwords": alignment.word_n_subwords.astype(np.int16),
        }
    )


@dataclass
class SpanAnalysis:
    """Spans, span errors and per-example span scores of the whole dataset."""

    spans: pa.Table
    span_errors: pa.Table
    records: list[dict]
    per_example: dict  # column name -> numpy array, one value per example
    gold_tags: list[list[str]]
    pred_tags: list[list[str]]


def analyse_spans(words: WordResults, word_offsets: np.ndarray) -> SpanAnalysis:
    """Extract gold and predicted spans of every example, classify them and score each example."""
    gold_tags = [tags.tolist() for tags in np.split(words.gold, word_offsets[1:-1])]
    pred_tags = [tags.tolist() for tags in np.split(words.pred, word_offsets[1:-1])]
    span_rows: dict[str, list[object]] = {"example_id": [], "source": [], "start": [], "end": [], "type": []}
    records: list[dict] = []
    scores: dict[str, list[float]] = {
        "n_gold_spans": [],
        "n_pred_spans": [],
        "n_correct_spans": [],
        "n_errors": [],
        "precision": [],
        "recall": [],
        "f1": [],
    }
    for example_id, (gold, pred) in enumerate(zip(gold_tags, pred_tags)):
        gold_spans, pred_spans = extract_spans(gold), extract_spans(pred)
        for source, spans in (("gold", gold_spans), ("pred", pred_spans)):
            for start, end, entity_type in spans:
                for column, value in zip(span_rows, (example_id, source, start, end, entity_type)):
                    span_rows[column].append(value)
        classified = classify_spans(gold_spans, pred_spans)
        records.extend(dict(record, example_id=example_id) for record in classified)
        score = example_scores(gold_spans, pred_spans)
        for column, value in (
            ("n_gold_spans", len(gold_spans)),
            ("n_pred_spans", len(pred_spans)),
            ("n_correct_spans", score["n_correct"]),
            ("n_errors", sum(record["category"] != CORRECT for record in classified)),
            ("precision", score["precision"]),
            ("recall", score["recall"]),
            ("f1", score["f1"]),
        ):
            scores[column].append(value)
    spans = pa.table(
        {
            "example_id": pa.array(span_rows["example_id"], type=pa.int64()),
            "source": pa.array(span_rows["source"], type=pa.string()),
            "start": pa.array(span_rows["start"], type=pa.int32()),
            "end": pa.array(span_rows["end"], type=pa.int32()),
            "type": pa.array(span_rows["type"], type=pa.string()),
        }
    )
    per_example = {
        column: np.asarray(values, dtype=np.float32 if column in ("precision", "recall", "f1") else np.int32)
        for column, values in scores.items()
    }
    return SpanAnalysis(
        spans=spans,
        span_errors=span_errors_table(records),
        records=records,
        per_example=per_example,
        gold_tags=gold_tags,
        pred_tags=pred_tags,
    )


def span_errors_table(records: list[dict]) -> pa.Table:
    """span_errors.parquet: every classified gold/predicted span (nullable positions)."""

    def column(name):
        return [record[name] for record in records]

    return pa.table(
        {
            "example_id": pa.array(column("example_id"), type=pa.int64()),
            "category": pa.array(column("category"), type=pa.string()),
            "type": pa.array(column("type"), type=pa.string()),
            "gold_start": pa.array(column("gold_start"), type=pa.int32()),
            "gold_end": pa.array(column("gold_end"), type=pa.int32()),
            "gold_type": pa.array(column("gold_type"), type=pa.string()),
            "pred_start": pa.array(column("pred_start"), type=pa.int32()),
            "pred_end": pa.array(column("pred_end"), type=pa.int32()),
            "pred_type": pa.array(column("pred_type"), type=pa.string()),
        }
    )


def examples_table(
    examples: list[Example], alignment: Alignment, words: WordResults, analysis: SpanAnalysis
) -> pa.Table:
    """examples.parquet: one row per example."""
    n_examples = len(examples)
    n_words = np.diff(alignment.word_offsets)
    total_loss = np.bincount(words.example_id, weights=words.loss, minlength=n_examples)
    word_errors = np.bincount(words.example_id, weights=words.gold_id != words.pred_id, minlength=n_examples)
    offsets = pa.array(alignment.word_offsets.astype(np.int32))
    table = {
        "example_id": np.arange(n_examples, dtype=np.int64),
        "source": pa.array([example.source for example in examples], type=pa.string()),
        "words_hash": pa.array([example.words_hash for example in examples], type=pa.string()),
        "text": pa.array([example.text for example in examples], type=pa.string()),
        "words": pa.ListArray.from_arrays(offsets, pa.array([w for e in examples for w in e.words], type=pa.string())),
        "gold_tags": pa.ListArray.from_arrays(offsets, pa.array(words.gold, type=pa.string())),
        "pred_tags": pa.ListArray.from_arrays(offsets, pa.array(words.pred, type=pa.string())),
        "n_words": n_words.astype(np.int32),
        "n_subwords": np.diff(alignment.subword_offsets).astype(np.int32),
        "subword_offset": alignment.subword_offsets[:-1].astype(np.int64),
        "word_offset": alignment.word_offsets[:-1].astype(np.int64),
        "windowed": alignment.windowed,
        "total_loss": total_loss.astype(np.float32),
        "mean_loss": (total_loss / np.maximum(n_words, 1)).astype(np.float32),
    }
    for column in ("n_gold_spans", "n_pred_spans", "n_correct_spans", "n_errors"):
        table[column] = analysis.per_example[column]
    table["n_word_errors"] = word_errors.astype(np.int32)
    for column in ("precision", "recall", "f1"):
        table[column] = analysis.per_example[column]
    return pa.table(table)


def dataset_metrics(labels: list[str], words: WordResults, analysis: SpanAnalysis) -> dict:
    """metrics.json: seqeval report, word accuracy, word-level confusion and error counts."""
    return {
        "labels": list(labels),
        "entity_types": sorted({label[2:] for label in labels if label[:2] in ("B-", "I-")}),
        "seqeval": entity_report(analysis.gold_tags, analysis.pred_tags),
        "word_accuracy": word_accuracy(words.gold.tolist(), words.pred.tolist()),
        "confusion": word_confusion(words.gold.tolist(), words.pred.tolist(), labels=labels),
        "error_counts": error_counts(analysis.records),
    }


def headline(metrics: dict, analysis: SpanAnalysis, words: WordResults) -> dict:
    """The few numbers the app's navbar shows."""
    micro = metrics["seqeval"].get("micro avg", {})
    return {
        "entity_f1": float(micro.get("f1", 0.0)),
        "entity_precision": float(micro.get("precision", 0.0)),
        "entity_recall": float(micro.get("recall", 0.0)),
        "word_accuracy": float(metrics["word_accuracy"]),
        "span_errors": int(sum(record["category"] != CORRECT for record in analysis.records)),
        "word_errors": int((words.gold_id != words.pred_id).sum()),
    }
