"""Label-quality scores, written into a cache by ``explainer build`` (``--label-quality METHOD``).

Each word's label is scored by cleanlab's token-classification module from the model's probabilities
on the word's first subword (the row ``words.subword_row`` of ``probs.npy``) and its gold label id
(``words.gold_id``):

- ``cleanlab.token_classification.rank.get_label_quality_scores``: a score in [0, 1] per word (low =
  the label is likely wrong; ``self_confidence`` is the model's probability of the gold label) and per
  example (cleanlab's sentence score, the minimum over its words);
- ``cleanlab.token_classification.filter.find_label_issues``: which words confident learning flags
  as likely label issues.

Files added (documented in ``explainer/cache/schema.py``): ``label_quality.parquet`` (one row per word,
row i <-> row i of words.parquet) and ``example_label_quality.parquet`` (one row per example).

Windowed examples need nothing special (``subword_row`` points at the stitched output); a word whose
gold id is not one of the model's labels (IGN, or a corrupt table) gets no score (NaN) and is never
flagged, and an example with no scored word gets NaN.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explainer.cache import schema
from explainer.errors import ExplainerError

# cleanlab.rank's token scoring methods (what ``token_score_method`` accepts), and "none" to skip the step.
METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
NONE = "none"
SENTENCE_SCORE_METHOD = "min"  # cleanlab's default: an example is as suspicious as its worst word


@dataclass
class LabelQuality:
    """Scores of a whole dataset, flat per word and per example."""

    word_scores: np.ndarray  # float32 [n_words], NaN where the word has no valid gold id
    word_issues: np.ndarray  # bool [n_words]
    example_scores: np.ndarray  # float32 [n_examples], NaN for an example without a scored word
    example_issues: np.ndarray  # int32 [n_examples], flagged words per example
    issues_found: bool  # False when find_label_issues could not run (fewer than 2 gold classes)


def check_options(options) -> None:
    """Refuse an unknown ``--label-quality`` method before anything is loaded.

    Raises
    ------
    ExplainerError
    """
    method = options.label_quality
    if method != NONE and method not in METHODS:
        raise ExplainerError(f"--label-quality {method!r}: choose one of {', '.join(METHODS + (NONE,))}")


def build_step(context) -> dict | None:
    """Write the label-quality files into the build's temporary cache; None for ``--label-quality none``."""
    method = context.options.label_quality
    if method == NONE:
        return None
    return add_label_quality(context.writer.path, method=method)


def add_label_quality(cache_dir: str | Path, *, method: str = "self_confidence") -> dict:
    """Score the labels of the cache in ``cache_dir`` and write ``label_quality.parquet`` and
    ``example_label_quality.parquet`` there.

    Parameters
    ----------
    cache_dir : str or Path
        A cache directory (complete or being built) holding words.parquet, examples.parquet, probs.npy.
    method : str
        One of ``METHODS``.

    Returns
    -------
    dict
        The manifest summary: method, counts of scored words and flagged words and examples, seconds.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if method not in METHODS:
        raise ExplainerError(f"--label-quality {method!r}: choose one of {', '.join(METHODS)}")
    started = time.perf_counter()
    cache_dir = Path(cache_dir)
    words = pq.read_table(cache_dir / schema.WORDS, columns=["example_id", "gold_id", "subword_row"])
    n_examples = pq.read_metadata(cache_dir / schema.EXAMPLES).num_rows
    probs = np.load(cache_dir / schema.PROBS, mmap_mode="r", allow_pickle=False)
    subword_rows = words.column("subword_row").to_numpy()
    quality = label_quality_scores(
        np.asarray(probs[subword_rows], dtype=np.float32),
        words.column("gold_id").to_numpy(),
        words.column("example_id").to_numpy(),
        n_examples=n_examples,
        method=method,
    )
    pq.write_table(
        pa.table(
            {
                "example_id": words.column("example_id"),
                "label_quality": quality.word_scores,
                "label_issue": quality.word_issues,
            }
        ),
        cache_dir / schema.LABEL_QUALITY,
    )
    pq.write_table(
        pa.table(
            {
                "example_id": np.arange(n_examples, dtype=np.int64),
                "label_quality": quality.example_scores,
                "n_label_issues": quality.example_issues,
            }
        ),
        cache_dir / schema.EXAMPLE_LABEL_QUALITY,
    )
    return {
        "method": method,
        "sentence_score_method": SENTENCE_SCORE_METHOD,
        "scored_words": int(np.isfinite(quality.word_scores).sum()),
        "label_issues": int(quality.word_issues.sum()) if quality.issues_found else None,
        "examples_with_issues": int((quality.example_issues > 0).sum()) if quality.issues_found else None,
        "seconds": round(time.perf_counter() - started, 3),
    }


def label_quality_scores(
    word_probs: np.ndarray,
    gold_ids: np.ndarray,
    example_ids: np.ndarray,
    *,
    n_examples: int,
    method: str = "self_confidence",
) -> LabelQuality:
    """Word- and example-level label-quality scores with cleanlab's token-classification functions.

    Parameters
    ----------
    word_probs : ndarray
        float ``[n_words, n_labels]``: the model's probabilities on each word's first subword.
    gold_ids : ndarray of int
        ``[n_words]`` gold label ids; ids outside ``0..n_labels-1`` (IGN) are not scored.
    example_ids : ndarray of int
        ``[n_words]`` example of each word, non-decreasing (the order of words.parquet).
    n_examples : int
    method : str
        cleanlab's ``token_score_method`` (one of ``METHODS``).

    Returns
    -------
    LabelQuality
    """
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    n_words, n_labels = word_probs.shape
    gold_ids = np.asarray(gold_ids, dtype=np.int64)
    example_ids = np.asarray(example_ids, dtype=np.int64)
    scored = (gold_ids >= 0) & (gold_ids < n_labels)
    rows = np.flatnonzero(scored)
    # cleanlab takes one list entry per sentence; only examples with a scored word are passed.
    kept_ids, starts = np.unique(example_ids[rows], return_index=True)
    labels = np.split(gold_ids[rows], starts[1:])
    probs = np.split(np.asarray(word_probs[rows], dtype=np.float32), starts[1:])

    word_scores = np.full(n_words, np.nan, dtype=np.float32)
    word_issues = np.zeros(n_words, dtype=bool)
    example_scores = np.full(n_examples, np.nan, dtype=np.float32)
    issues_found = False
    if len(rows):
        sentence_scores, token_scores = get_label_quality_scores(
            labels, probs, token_score_method=method, sentence_score_method=SENTENCE_SCORE_METHOD
        )
        word_scores[rows] = np.concatenate([np.asarray(series, dtype=np.float32) for series in token_scores])
        example_scores[kept_ids] = sentence_scores
        # Confident learning needs at least two classes among the given labels.
        if len(np.unique(gold_ids[rows])) >= 2:
            # n_jobs=1: no worker processes forked from a process that holds torch threads.
            with warnings.catch_warnings():  # "may not flag all issues in class X": rare classes, expected
                warnings.filterwarnings("ignore", message="May not flag all label issues")
                issues = find_label_issues(labels, probs, return_indices_ranked_by=method, n_jobs=1)
            if issues:
                sentence, position = np.asarray(issues, dtype=np.int64).T
                word_issues[rows[starts[sentence] + position]] = True
            issues_found = True
    example_issues = np.bincount(example_ids[word_issues], minlength=n_examples).astype(np.int32)
    return LabelQuality(
        word_scores=word_scores,
        word_issues=word_issues,
        example_scores=example_scores,
        example_issues=example_issues,
        issues_found=issues_found,
    )
