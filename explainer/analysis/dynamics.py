"""Training dynamics of a training set: confidence, variability and margin per word, example and span (pure).

From the per-epoch probability of the gold label of every training word (``explainer train
--record-dynamics``), as Dataset Cartography (Swayamdipta et al., 2020) maps a dataset:

``confidence``
    the mean over epochs of the gold label's probability: high = the model learnt the label early and
    kept it.
``variability``
    the standard deviation of that probability over epochs: high = the model went back and forth.
``margin``
    the mean over epochs of the gold probability minus the largest other probability (area under the
    margin, Pleiss et al., 2020, on probabilities): negative = another label kept winning against the
    gold one while the model was trained on it, the sign of a mislabelled word.

An example's (or a gold span's) value per epoch is the mean over its words, then the same statistics
over epochs. Each point falls in a *region* of the data map (:func:`regions`): easy to learn (confident,
stable), ambiguous (variable) or hard to learn (not confident, stable) — where label errors gather.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.analysis.spans import extract_spans

EASY, AMBIGUOUS, HARD = "easy to learn", "ambiguous", "hard to learn"
REGIONS = (EASY, AMBIGUOUS, HARD)
# Cartography's regions are thirds of the map; fixed thresholds keep a point's region the same whatever
# else is in the data: a std of 0.2 is a swing of about half the probability range over a few epochs.
AMBIGUOUS_VARIABILITY = 0.2
EASY_CONFIDENCE = 0.5
STATISTICS = ("confidence", "variability", "margin")


def statistics(gold_prob: npt.ArrayLike, margin: npt.ArrayLike) -> dict[str, npt.NDArray[np.float32]]:
    """Per row, confidence, variability and margin over the epochs (columns; NaN epochs are skipped).

    Examples
    --------
    >>> s = statistics([[0.2, 0.6, 1.0]], [[-0.6, 0.2, 1.0]])
    >>> [round(float(s[k][0]), 3) for k in ("confidence", "variability", "margin")]
    [0.6, 0.327, 0.2]
    """
    gold_prob = np.asarray(gold_prob, dtype=np.float64)
    margin = np.asarray(margin, dtype=np.float64)
    seen = np.isfinite(gold_prob)
    count = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(seen, gold_prob, 0.0).sum(axis=1) / count
        squared = np.where(seen, (gold_prob - confidence[:, None]) ** 2, 0.0).sum(axis=1) / count
        mean_margin = np.where(np.isfinite(margin), margin, 0.0).sum(axis=1) / np.isfinite(margin).sum(axis=1)
    return {
        "confidence": confidence.astype(np.float32),
        "variability": np.sqrt(squared).astype(np.float32),
        "margin": mean_margin.astype(np.float32),
    }


def regions(confidence: npt.ArrayLike, variability: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The data-map region of each point: ambiguous when variable, else easy or hard by confidence ("" if NaN).

    Examples
    --------
    >>> regions([0.9, 0.5, 0.1, np.nan], [0.05, 0.3, 0.05, np.nan]).tolist()
    ['easy to learn', 'ambiguous', 'hard to learn', '']
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    variability = np.asarray(variability, dtype=np.float64)
    found = np.where(
        variability >= AMBIGUOUS_VARIABILITY, AMBIGUOUS, np.where(confidence >= EASY_CONFIDENCE, EASY, HARD)
    ).astype(object)
    found[~(np.isfinite(confidence) & np.isfinite(variability))] = ""
    return found


def _grouped(
    gold_prob: npt.NDArray[np.float32], margin: npt.NDArray[np.float32], groups: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per group (0..n-1), the mean per epoch of its rows' values (NaN where none was seen)."""
    sums = np.zeros((n, gold_prob.shape[1]))
    margin_sums = np.zeros_like(sums)
    counts = np.zeros_like(sums)
    seen = np.isfinite(gold_prob)
    np.add.at(sums, groups, np.where(seen, gold_prob, 0.0))
    np.add.at(margin_sums, groups, np.where(seen, margin, 0.0))
    np.add.at(counts, groups, seen.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, margin_sums / counts


def data_map(
    words: pd.DataFrame, gold_prob: npt.ArrayLike, margin: npt.ArrayLike
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The data map of a dataset at word, example and gold-span level.

    Parameters
    ----------
    words : DataFrame
        One row per word, sorted by example and word: ``example_id``, ``word_index``, ``gold`` (IOB2),
        and optionally ``word`` (then each span has its ``text``).
    gold_prob, margin : array-like
        ``[n_words, epochs]`` row i <-> row i of ``words``; NaN for a word without dynamics (not in
        the training data, or not trained on).

    Returns
    -------
    (DataFrame, DataFrame, DataFrame)
        words: ``confidence``, ``variability``, ``margin`` per row of ``words`` (NaN without dynamics);
        examples: ``example_id``, ``n_words`` (with dynamics), the statistics and ``region``, one row
        per example with dynamics; spans: ``example_id``, ``start``, ``end`` (exclusive), ``type``, ``text``
        (with ``word``), the statistics and ``region``, one row per gold span whose words all have dynamics.
    """
    gold_prob = np.asarray(gold_prob, dtype=np.float32)
    margin = np.asarray(margin, dtype=np.float32)
    if gold_prob.ndim != 2 or gold_prob.shape != margin.shape or len(gold_prob) != len(words):
        raise ValueError(f"gold_prob {gold_prob.shape} and margin {margin.shape} must be [{len(words)}, epochs]")
    per_word = pd.DataFrame(statistics(gold_prob, margin))
    has = np.isfinite(gold_prob).any(axis=1)
    example_ids = words["example_id"].to_numpy(dtype=np.int64)

    # examples
    known = np.unique(example_ids[has])
    position = np.searchsorted(known, example_ids[has])
    example_prob, example_margin = _grouped(gold_prob[has], margin[has], position, len(known))
    examples = pd.DataFrame({"example_id": known, "n_words": np.bincount(position, minlength=len(known))})
    examples = pd.concat([examples, pd.DataFrame(statistics(example_prob, example_margin))], axis=1)
    examples["region"] = regions(examples["confidence"], examples["variability"])

    # gold spans
    rows: list[tuple[int, int, int, str, str]] = []
    texts = words["word"].astype(str).tolist() if "word" in words else None
    groups: list[int] = []
    word_rows: list[int] = []
    starts = np.flatnonzero(np.r_[True, example_ids[1:] != example_ids[:-1]]) if len(words) else np.array([], int)
    tags = words["gold"].astype(str).tolist()
    for a, b in zip(starts, np.r_[starts[1:], len(words)]):
        for start, end, kind in extract_spans(tags[a:b]):
            if not has[a + start : a + end].all():
                continue
            groups.extend([len(rows)] * (end - start))
            word_rows.extend(range(a + start, a + end))
            text = " ".join(texts[a + start : a + end]) if texts is not None else ""
            rows.append((int(example_ids[a]), start, end, kind, text))
    spans = pd.DataFrame(rows, columns=["example_id", "start", "end", "type", "text"])
    if texts is None:
        spans = spans.drop(columns="text")
    index = np.asarray(word_rows, dtype=np.int64)
    span_prob, span_margin = _grouped(gold_prob[index], margin[index], np.asarray(groups, dtype=np.int64), len(rows))
    spans = pd.concat([spans, pd.DataFrame(statistics(span_prob, span_margin))], axis=1)
    spans["region"] = regions(spans["confidence"], spans["variability"])
    return per_word, examples, spans


def match_words(
    cache_words: pd.DataFrame,
    cache_hashes: Sequence[str],
    recorded: dict[str, npt.NDArray[Any]],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], int]:
    """The recorded per-epoch values of each word of a cache, matched by example words and gold tag.

    An example of the cache is matched to a recorded training example with the same words (their
    ``words_hash``; the first not matched yet when the training data repeats it), a word to its
    recorded value when it was trained on the same gold tag (a tag corrected since keeps no value).

    Parameters
    ----------
    cache_words : DataFrame
        ``example_id``, ``word_index``, ``gold``, sorted by example and word.
    cache_hashes : sequence of str
        ``words_hash`` of each cache example (index = example_id).
    recorded : dict of ndarray
        As :func:`explainer.train.dynamics.read_dynamics` returns them.

    Returns
    -------
    (ndarray, ndarray, int)
        ``gold_prob`` and ``margin`` ``[n_words, epochs]`` (NaN where unmatched) and the number of
        cache examples matched.
    """
    epochs = recorded["gold_prob"].shape[1]
    gold_prob = np.full((len(cache_words), epochs), np.nan, dtype=np.float32)
    margin = np.full_like(gold_prob, np.nan)
    by_hash: dict[str, list[int]] = {}  # words hash -> the recorded examples with those words, in order
    recorded_examples = recorded["example_index"]
    seen: set[int] = set()
    for example, words_hash in zip(recorded_examples.tolist(), recorded["words_hash"].tolist()):
        if example not in seen:
            seen.add(example)
            by_hash.setdefault(str(words_hash), []).append(example)
    bounds = np.flatnonzero(np.r_[True, recorded_examples[1:] != recorded_examples[:-1], True])
    rows_of = {int(recorded_examples[a]): (int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])}
    cache_examples = cache_words["example_id"].to_numpy(dtype=np.int64)
    cache_word_index = cache_words["word_index"].to_numpy(dtype=np.int64)
    cache_gold = cache_words["gold"].astype(str).to_numpy()
    starts = (
        np.flatnonzero(np.r_[True, cache_examples[1:] != cache_examples[:-1]])
        if len(cache_words)
        else np.array([], int)
    )
    matched = 0
    for a, b in zip(starts, np.r_[starts[1:], len(cache_words)]):
        candidates = by_hash.get(str(cache_hashes[cache_examples[a]]))
        if not candidates:
            continue
        example = candidates.pop(0)
        matched += 1
        lo, hi = rows_of[example]
        recorded_words = dict(zip(recorded["word_index"][lo:hi].tolist(), range(lo, hi)))
        for row in range(a, b):
            source = recorded_words.get(int(cache_word_index[row]))
            if source is not None and recorded["gold"][source] == cache_gold[row]:
                gold_prob[row] = recorded["gold_prob"][source]
                margin[row] = recorded["margin"][source]
    return gold_prob, margin, matched
