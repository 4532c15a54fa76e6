"""Span-level findings: suspected label errors, each with the fix it proposes, from several signals (pure).

A *finding* is one region of one example whose gold spans look wrong, and the spans that should be there
instead (the *fix*). Candidates come from three places, each a second opinion on the gold tags:

- the model's prediction (where predicted spans differ from gold spans);
- the dataset itself: the same surface form labelled otherwise in most of its other occurrences
  (e.g. a country LOC in forty sports results and ORG in two: the two get the majority label as fix);
- the gold labels of the k nearest words in the model's hidden-state space (a kNN tagger).

Every candidate is then scored by every signal, in [0, 1], higher = more likely a label error:

``model``
    1 - the lowest label-quality score (cleanlab's token score, ``self_confidence`` = the model's
    probability of the gold tag) over the words the fix changes. Out-of-fold when the cache is.
``consistency``
    the share of the other occurrences of the surface form labelled as the fix proposes
    (``agree / (others + 1)``, so a form seen once elsewhere counts half).
``neighbours``
    the share of the changed words' k nearest neighbours (other examples' words, in the hidden-state
    space) whose gold tag is the fixed tag.

``dynamics``
    where the cache is of the model's own training data and the model recorded its training dynamics
    (``explainer train --record-dynamics``): ``(1 - m) / 2`` for the lowest margin ``m`` (area under the
    margin, in [-1, 1]) over the changed words, so a word whose gold label kept losing while the model
    was trained on it scores near 1. Stored and shown, but weighted 0 in ``score`` by default: the
    benchmark scores out-of-fold caches (no training dynamics), and a small in-sample check (README,
    *Label-error findings*) found no weight that helps consistently.

``score`` is their weighted sum (:data:`DEFAULT_WEIGHTS`, chosen by ``bench/label_errors.py``; a signal
the cache cannot give is left out and the other weights are scaled up). An example's score is its
best finding's.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.analysis.spans import Span, extract_spans

WRONG_TYPE = "wrong type"
WRONG_BOUNDARY = "wrong boundary"
MISSING = "missing entity"
SPURIOUS = "should not be an entity"
KINDS = (WRONG_TYPE, WRONG_BOUNDARY, MISSING, SPURIOUS)

MODEL, CONSISTENCY, NEIGHBOURS, DYNAMICS = "model", "consistency", "neighbours", "dynamics"
SIGNALS = (MODEL, CONSISTENCY, NEIGHBOURS)  # the signals the benchmark weighs
EXTRA_SIGNALS = (DYNAMICS,)  # stored per finding, weight 0 unless given (see the module docstring)
# Chosen by bench/label_errors.py (grid over the simplex, best mean AP over its two corpora); see its results.
DEFAULT_WEIGHTS: dict[str, float] = {MODEL: 0.6, CONSISTENCY: 0.3, NEIGHBOURS: 0.1}
OUTSIDE = "O"
MAX_FORM_WORDS = 6  # longer surface forms are not looked up elsewhere (rare, and costly to scan for)
MIN_OTHERS = 2  # a surface form needs this many other occurrences to propose a fix by majority
MAJORITY = 0.5  # ... and its majority label more than this share of all its occurrences
NEIGHBOUR_MAJORITY = 0.5  # the kNN tagger proposes a tag only when this share of neighbours agree

COLUMNS = (
    "example_id",
    "start",
    "end",
    "kind",
    "text",
    "gold_spans",
    "fix_spans",
    "fix_tags",
    MODEL,
    CONSISTENCY,
    NEIGHBOURS,
    DYNAMICS,
    "score",
    "sources",
    "evidence",
)


def span_text(span: Span) -> str:
    """How a span is stored in a findings table: ``"start,end,type"`` (the review draft's format)."""
    return f"{span[0]},{span[1]},{span[2]}"


def parse_span_text(text: str) -> Span:
    start, end, kind = text.split(",", 2)
    return int(start), int(end), kind


def _entity_type(tag: str) -> str:
    return OUTSIDE if tag == OUTSIDE else tag[2:]


def spans_to_tags(n_words: int, spans: Iterable[Span]) -> list[str]:
    tags = [OUTSIDE] * n_words
    for start, end, kind in spans:
        tags[start] = f"B-{kind}"
        for index in range(start + 1, end):
            tags[index] = f"I-{kind}"
    return tags


def differing_regions(gold: Sequence[Span], other: Sequence[Span]) -> list[tuple[int, int, list[Span], list[Span]]]:
    """Where two span lists of one example disagree: ``(start, end, gold spans, other spans)`` per group of
    overlapping spans whose two sides differ, the region covering all of them."""
    items = [(span, 0) for span in gold] + [(span, 1) for span in other]
    items.sort(key=lambda item: (item[0][0], item[0][1]))
    regions: list[list[tuple[Span, int]]] = []
    current: list[tuple[Span, int]] = []
    reach = -1
    for span, side in items:
        if current and span[0] >= reach:
            regions.append(current)
            current, reach = [], -1
        current.append((span, side))
        reach = max(reach, span[1])
    if current:
        regions.append(current)
    found = []
    for group in regions:
        left = sorted(span for span, side in group if side == 0)
        right = sorted(span for span, side in group if side == 1)
        if left != right:
            start = min(span[0] for span, _ in group)
            end = max(span[1] for span, _ in group)
            found.append((start, end, left, right))
    return found


def kind_of(gold: Sequence[Span], fix: Sequence[Span]) -> str:
    """The finding's kind from the gold spans of its region and the spans after the fix."""
    if not gold:
        return MISSING
    if not fix:
        return SPURIOUS
    if sorted(span[:2] for span in gold) == sorted(span[:2] for span in fix):
        return WRONG_TYPE
    return WRONG_BOUNDARY


@dataclass
class SurfaceForms:
    """Every occurrence of the looked-up surface forms: form -> label -> [(example, start)].

    A label is the gold type when a gold span covers exactly the occurrence, ``"O"`` when none of its
    words is in a gold span, and ``"partial"`` otherwise (part of a longer or shifted span).
    """

    places: dict[tuple[str, ...], dict[str, list[tuple[int, int]]]] = field(default_factory=dict)
    # (form, label) -> its places as a set: a lookup per finding, not a scan of every occurrence (a
    # frequent form such as "said" occurs ~10,000 times in 1M words: the scan made findings quadratic).
    _place_sets: dict[tuple[tuple[str, ...], str], set[tuple[int, int]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def others(self, form: tuple[str, ...], example: int, start: int) -> Counter[str]:
        """Labels of the form's other occurrences (not the one at ``example``/``start``)."""
        counts: Counter[str] = Counter()
        for label, places in self.places.get(form, {}).items():
            members = self._place_sets.get((form, label))
            if members is None or len(members) != len(places):  # an occurrence is listed once per form
                members = self._place_sets[form, label] = set(places)
            counts[label] = len(places) - ((example, start) in members)
        return +counts


def index_surface_forms(
    words: Sequence[Sequence[str]], gold: Sequence[Sequence[Span]], forms: Iterable[tuple[str, ...]]
) -> SurfaceForms:
    """Find every occurrence of ``forms`` in the examples' ``words`` and how gold labels it there."""
    wanted = {form for form in forms if 0 < len(form) <= MAX_FORM_WORDS}
    lengths = sorted({len(form) for form in wanted})
    index = SurfaceForms({form: defaultdict(list) for form in wanted})
    for example, (tokens, spans) in enumerate(zip(words, gold)):
        exact = {(start, end): kind for start, end, kind in spans}
        covered = np.zeros(len(tokens) + 1, dtype=np.int32)
        for start, end, _ in spans:
            covered[start:end] = 1
        cumulative = np.concatenate([[0], np.cumsum(covered[: len(tokens)])])
        for length in lengths:
            for start in range(len(tokens) - length + 1):
                form = tuple(tokens[start : start + length])
                if form not in wanted:
                    continue
                end = start + length
                label = exact.get((start, end))
                if label is None:
                    label = OUTSIDE if cumulative[end] == cumulative[start] else "partial"
                index.places[form][label].append((example, start))
    return index


EXACT_SEARCH_LIMIT = 50_000  # words per group searched exactly; larger groups use an approximate graph


def neighbour_tags(
    vectors: npt.NDArray[np.floating],
    gold_ids: npt.NDArray[np.integer],
    example_ids: npt.NDArray[np.integer],
    *,
    n_labels: int,
    k: int = 10,
    groups: npt.NDArray[np.integer] | None = None,
    exact_limit: int = EXACT_SEARCH_LIMIT,
    dimensions: int | None = 64,
    seed: int = 0,
) -> npt.NDArray[np.float32]:
    """Per word, the share of its ``k`` nearest neighbours (cosine, other examples only) with each gold label.

    Every word of a group is both a query and a candidate neighbour. A group of at most ``exact_limit``
    words is searched exactly (brute force); a larger one by pynndescent's nearest-neighbour graph
    (NN-descent, seeded): a brute-force search costs words x words, which at 1M words took over 20
    minutes even against a 50,000-word sample, and a sample that small makes the neighbours worse
    (README, *Label-error findings*).

    Parameters
    ----------
    vectors : ndarray
        ``[n_words, d]`` a hidden state per word (its first subword's).
    gold_ids : ndarray
        ``[n_words]`` gold label ids; words with an id outside ``0..n_labels-1`` are neither queried nor used.
    example_ids : ndarray
    n_labels : int
    k : int
    groups : ndarray, optional
        ``[n_words]`` neighbours are searched within a word's group only (the folds of an out-of-fold
        cache: K models' hidden states share no space).
    exact_limit : int
        Groups of more words than this are searched approximately.
    dimensions : int, optional
        Vectors wider than this are first reduced by PCA (fitted on a seeded sample of the group).
    seed : int

    Returns
    -------
    ndarray
        float32 ``[n_words, n_labels]``, rows of shares summing to 1 (zeros for unscored words).
    """
    n_words = len(gold_ids)
    shares = np.zeros((n_words, n_labels), dtype=np.float32)
    valid = (gold_ids >= 0) & (gold_ids < n_labels)
    groups = np.zeros(n_words, dtype=np.int64) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    for group in np.unique(groups[valid]):
        members = np.flatnonzero(valid & (groups == group))
        n_query = min(k + 8, len(members))  # a few more: neighbours from the word's own example are dropped
        if n_query < 2:
            continue
        fitted_on = members
        if len(fitted_on) > PCA_SAMPLE:
            fitted_on = np.sort(rng.choice(members, size=PCA_SAMPLE, replace=False))
        data = _reducer(vectors, fitted_on, dimensions=dimensions, seed=seed)(members)
        if len(members) > exact_limit:
            nearest = _approximate_neighbours(data, n_query, seed=seed)
        else:
            nearest = _exact_neighbours(data, n_query)
        for rows in np.array_split(np.arange(len(members)), max(1, len(members) // 65_536)):
            chunk, found = members[rows], members[nearest[rows]]
            other = example_ids[found] != example_ids[chunk][:, None]
            # the first k neighbours from other examples
            keep = other & (np.cumsum(other, axis=1) <= k)
            counts = np.zeros((len(chunk), n_labels), dtype=np.float32)
            counted = np.repeat(np.arange(len(chunk)), keep.sum(axis=1))
            np.add.at(counts, (counted, gold_ids[found[keep]]), 1.0)
            shares[chunk] = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    return shares


PCA_SAMPLE = 50_000  # the PCA before the search is fitted on at most this many words of a group


def _exact_neighbours(data: npt.NDArray[np.float32], n_neighbours: int) -> npt.NDArray[np.int64]:
    """Row -> its ``n_neighbours`` nearest rows of ``data`` (itself included), nearest first, by brute force."""
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=n_neighbours, algorithm="brute", metric="euclidean").fit(data)
    found: npt.NDArray[np.int64] = search.kneighbors(data, return_distance=False)
    return found


def _approximate_neighbours(data: npt.NDArray[np.float32], n_neighbours: int, *, seed: int) -> npt.NDArray[np.int64]:
    """As :func:`_exact_neighbours`, from pynndescent's NN-descent graph (seeded: the same graph every run)."""
    graph = nn_descent_class()(data, metric="euclidean", n_neighbors=n_neighbours, random_state=seed).neighbor_graph
    assert graph is not None
    return np.asarray(graph[0], dtype=np.int64)


_NN_DESCENT_IMPORT = threading.Lock()


@functools.cache
def nn_descent_class() -> Any:
    """pynndescent's ``NNDescent``, imported with numba's on-disk cache on for its kernels.

    pynndescent compiles its numba kernels in every process (about a minute on 2 busy cores) and marks
    only some ``cache=True``; caching the others too (as ``explainer.pipeline.projection.umap_class``
    does for umap's) leaves ~30 s for the two that numba cannot cache (they take the distance function
    as an argument). The build compiles them in a background thread during the forward pass (step
    ``findings``' ``start_warm_up``). numba's cache places apply: ``$NUMBA_CACHE_DIR``, else
    ``__pycache__`` beside pynndescent's source when writable, else ``~/.cache/numba``.
    """
    with _NN_DESCENT_IMPORT:
        import pynndescent
        import pynndescent.distances
        import pynndescent.graph_utils
        import pynndescent.pynndescent_
        import pynndescent.rp_trees
        import pynndescent.utils
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
        from numba.core.errors import NumbaWarning

        # numba says so of the two kernels it cannot cache, at their first compile in every process
        warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=NumbaWarning)
        for module in (
            pynndescent.pynndescent_,
            pynndescent.rp_trees,
            pynndescent.utils,
            pynndescent.distances,
            pynndescent.graph_utils,
        ):
            for kernel in vars(module).values():
                if isinstance(kernel, Dispatcher) and isinstance(getattr(kernel, "_cache", None), NullCache):
                    kernel.enable_caching()  # what numba.njit(cache=True) does at decoration
        return pynndescent.NNDescent


def warm_up_approximate_search(dimensions: int = 64) -> None:
    """Compile (or load from numba's cache) the approximate search's kernels: a tiny graph through the
    same code path, and so the same argument types, as :func:`neighbour_tags`' above ``exact_limit``."""
    points = _unit_rows(np.random.default_rng(0).normal(size=(200, dimensions)).astype(np.float32))
    _approximate_neighbours(points, 18, seed=0)


def _unit_rows(data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12).astype(np.float32)
    unit: npt.NDArray[np.float32] = data / norms
    return unit


def _reducer(
    vectors: npt.NDArray[np.floating], reference: npt.NDArray[np.integer], *, dimensions: int | None, seed: int
) -> Callable[[npt.NDArray[np.integer]], npt.NDArray[np.float32]]:
    """rows -> their vectors L2-normalised (so euclidean ranks as cosine), PCA-reduced when wider than ``dimensions``."""

    def normalised(rows: npt.NDArray[np.integer]) -> npt.NDArray[np.float32]:
        return _unit_rows(np.asarray(vectors[rows], dtype=np.float32))

    if dimensions is None or vectors.shape[1] <= dimensions or len(reference) <= dimensions:
        return normalised
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dimensions, random_state=seed).fit(normalised(reference))

    def reduced(rows: npt.NDArray[np.integer]) -> npt.NDArray[np.float32]:
        return _unit_rows(pca.transform(normalised(rows)).astype(np.float32))

    return reduced


def find_label_errors(
    words: pd.DataFrame,
    *,
    labels: Sequence[str],
    word_quality: npt.NDArray[np.floating] | None = None,
    neighbour_shares: npt.NDArray[np.floating] | None = None,
    word_margin: npt.NDArray[np.floating] | None = None,
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The findings of a dataset, most likely label error first.

    Parameters
    ----------
    words : DataFrame
        One row per word, sorted by example and word: ``example_id``, ``word_index``, ``word``, ``gold``
        and ``pred`` (IOB2 tags; ``pred`` may be absent: no model candidates).
    labels : sequence of str
        The label names (index = label id of ``neighbour_shares``' columns).
    word_quality : ndarray, optional
        ``[n_words]`` cleanlab's token label-quality score of the gold tag (low = suspicious); without it
        the ``model`` signal is NaN.
    neighbour_shares : ndarray, optional
        ``[n_words, n_labels]`` from :func:`neighbour_tags`; without it the ``neighbours`` signal is NaN
        and the kNN tagger proposes nothing.
    word_margin : ndarray, optional
        ``[n_words]`` the mean training margin of each word's gold label (explainer/analysis/dynamics.py;
        NaN for words without dynamics); without it the ``dynamics`` signal is NaN.
    weights : mapping, optional
        Weight per signal for ``score`` (default :data:`DEFAULT_WEIGHTS`).

    Returns
    -------
    DataFrame
        One row per finding (:data:`COLUMNS`): ``start``/``end`` the region's words (end exclusive),
        ``gold_spans`` and ``fix_spans`` lists of ``"start,end,type"``, ``fix_tags`` the region's IOB2
        tags after the fix, one column per signal, ``score``, ``sources`` (the signals that proposed
        it, comma-separated) and ``evidence`` (one sentence per signal).
    """
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    label_index = {label: i for i, label in enumerate(labels)}
    example_ids = words["example_id"].to_numpy(dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, example_ids[1:] != example_ids[:-1]]) if len(words) else np.array([], int)
    bounds = list(zip(starts, np.r_[starts[1:], len(words)]))
    all_words = words["word"].astype(str).tolist()
    all_gold = words["gold"].astype(str).tolist()
    all_pred = words["pred"].astype(str).tolist() if "pred" in words else None
    tokens = [all_words[a:b] for a, b in bounds]
    gold_spans = [extract_spans(all_gold[a:b]) for a, b in bounds]

    # Candidates: (example position, start, end, fix spans) -> the sources proposing them.
    candidates: dict[tuple[int, int, int, tuple[Span, ...]], set[str]] = defaultdict(set)

    def propose(position: int, other: Sequence[Span], source: str) -> None:
        for start, end, _, fix in differing_regions(gold_spans[position], other):
            candidates[position, start, end, tuple(fix)].add(source)

    if all_pred is not None:
        for position, (a, b) in enumerate(bounds):
            propose(position, extract_spans(all_pred[a:b]), MODEL)
    knn_best = None
    if neighbour_shares is not None:
        shares = np.asarray(neighbour_shares, dtype=np.float32)
        knn_best = np.argmax(shares, axis=1)
        confident = shares[np.arange(len(shares)), knn_best] >= NEIGHBOUR_MAJORITY
        for position, (a, b) in enumerate(bounds):
            tags = [labels[knn_best[i]] if confident[i] else all_gold[i] for i in range(a, b)]
            propose(position, extract_spans(tags), NEIGHBOURS)

    # Consistency: every surface form of a gold or candidate span, looked up everywhere.
    forms = {tuple(tokens[p][s:e]) for p, spans in enumerate(gold_spans) for s, e, _ in spans}
    forms |= {tuple(tokens[p][s:e]) for (p, _, _, fix) in candidates for s, e, _ in fix}
    surface = index_surface_forms(tokens, gold_spans, forms)
    for form, by_label in surface.places.items():
        total = sum(len(places) for places in by_label.values())
        others = total - 1
        for label, places in by_label.items():
            if label == "partial" or others < MIN_OTHERS:
                continue
            majority, count = max(
                ((other, len(p) - (other == label)) for other, p in by_label.items() if other != "partial"),
                key=lambda item: item[1],
            )
            if majority == label or count <= MAJORITY * total:  # a majority of all its occurrences, itself included
                continue
            for example, start in places:
                end = start + len(form)
                inside = [span for span in gold_spans[example] if span[0] < end and span[1] > start]
                if any(span[0] < start or span[1] > end for span in inside):
                    continue
                fix: tuple[Span, ...] = () if majority == OUTSIDE else ((start, end, majority),)
                candidates[example, start, end, fix].add(CONSISTENCY)

    # float64 once here, not once per finding (that copied every word's score for each of them).
    qualities = None if word_quality is None else np.asarray(word_quality, dtype=np.float64)
    rows = []
    for (position, start, end, fix), sources in candidates.items():
        offset = bounds[position][0]
        region_gold = [span for span in gold_spans[position] if span[0] < end and span[1] > start]
        fix_tags = spans_to_tags(end - start, [(s - start, e - start, t) for s, e, t in fix])
        gold_tags = all_gold[offset + start : offset + end]
        changed = [i for i in range(end - start) if fix_tags[i] != gold_tags[i]]
        if not changed:
            continue
        rows.append(
            _finding(
                position=position,
                example_id=int(example_ids[offset]),
                start=start,
                end=end,
                region_gold=region_gold,
                fix=list(fix),
                fix_tags=fix_tags,
                changed=changed,
                offset=offset,
                tokens=tokens[position],
                surface=surface,
                word_quality=qualities,
                shares=neighbour_shares,
                margin=word_margin,
                label_index=label_index,
                sources=sources,
            )
        )
    frame = pd.DataFrame(rows, columns=[column for column in COLUMNS if column != "score"])
    frame = frame.astype({MODEL: "float32", CONSISTENCY: "float32", NEIGHBOURS: "float32", DYNAMICS: "float32"})
    frame["score"] = combined_score(frame, weights)
    frame = frame[list(COLUMNS)]
    return frame.sort_values(["score", "example_id", "start"], ascending=[False, True, True], ignore_index=True)


def _finding(
    *,
    position: int,
    example_id: int,
    start: int,
    end: int,
    region_gold: list[Span],
    fix: list[Span],
    fix_tags: list[str],
    changed: list[int],
    offset: int,
    tokens: list[str],
    surface: SurfaceForms,
    word_quality: npt.NDArray[np.floating] | None,
    shares: npt.NDArray[np.floating] | None,
    margin: npt.NDArray[np.floating] | None,
    label_index: dict[str, int],
    sources: set[str],
) -> dict[str, object]:
    text = " ".join(tokens[start:end])
    evidence = []
    model = np.nan
    if word_quality is not None:
        quality = word_quality[[offset + start + i for i in changed]]
        if np.isfinite(quality).any():
            lowest = float(np.nanmin(quality))
            model = 1.0 - lowest
            evidence.append(f"the model gives the gold tags a label quality of {lowest:.2f}")
    consistency, agree_all, others_all = 0.0, 0, 0
    decisive = fix if fix else region_gold
    for s, e, kind in decisive:
        form = tuple(tokens[s:e])
        wanted = kind if fix else OUTSIDE
        counts = surface.others(form, position, s)
        agree, others = counts.get(wanted, 0), sum(counts.values())
        agree_all, others_all = agree_all + agree, others_all + others
        consistency += agree / (others + 1)
    consistency /= max(len(decisive), 1)
    if others_all:
        target = "unlabelled" if not fix else "/".join(sorted({kind for _, _, kind in fix}))
        evidence.append(f"elsewhere in the data the same words are {target} {agree_all} of {others_all} times")
    neighbours = np.nan
    if shares is not None:
        agreeing = [
            float(shares[offset + start + i, label_index[fix_tags[i]]]) if fix_tags[i] in label_index else 0.0
            for i in changed
        ]
        neighbours = float(np.mean(agreeing))
        evidence.append(f"{neighbours:.0%} of the nearest words in the model's hidden states are tagged as the fix")
    dynamics = np.nan
    if margin is not None:
        margins = np.asarray(margin, dtype=np.float64)[[offset + start + i for i in changed]]
        if np.isfinite(margins).any():
            lowest_margin = float(np.nanmin(margins))
            dynamics = (1.0 - lowest_margin) / 2.0
            evidence.append(f"while training on it, the model's margin for the gold tags averaged {lowest_margin:+.2f}")
    return {
        "example_id": example_id,
        "start": start,
        "end": end,
        "kind": kind_of(region_gold, fix),
        "text": text,
        "gold_spans": [span_text(span) for span in region_gold],
        "fix_spans": [span_text(span) for span in fix],
        "fix_tags": fix_tags,
        MODEL: model,
        CONSISTENCY: consistency,
        NEIGHBOURS: neighbours,
        DYNAMICS: dynamics,
        "sources": ",".join(signal for signal in SIGNALS if signal in sources),
        "evidence": "; ".join(evidence),
    }


def combined_score(findings: pd.DataFrame, weights: Mapping[str, float]) -> npt.NDArray[np.float32]:
    """The weighted sum of the signals; a signal that is NaN in every row is left out (weights rescaled)."""
    available = [
        s for s in SIGNALS + EXTRA_SIGNALS if s in findings and findings[s].notna().any() and weights.get(s, 0) > 0
    ]
    total = sum(weights[s] for s in available)
    score = np.zeros(len(findings), dtype=np.float64)
    for signal in available:
        score += weights[signal] / total * findings[signal].fillna(0.0).to_numpy(dtype=np.float64)
    return score.astype(np.float32)


def example_scores(findings: pd.DataFrame, n_examples: int, *, column: str = "score") -> npt.NDArray[np.float32]:
    """Per example, its best finding's ``column`` (0 for an example without a finding)."""
    scores = np.zeros(n_examples, dtype=np.float32)
    if len(findings):
        best = findings.groupby("example_id")[column].max()
        scores[best.index.to_numpy(dtype=np.int64)] = best.fillna(0.0).to_numpy(dtype=np.float32)
    return scores


def apply_fix(tags: Sequence[str], finding: Mapping[str, Any]) -> list[str]:
    """``tags`` (one example's IOB2) with the finding's region replaced by its fix.

    Raises
    ------
    ValueError
        When the finding's region does not fit the tags (the finding is of another example or version).
    """
    start, end = int(finding["start"]), int(finding["end"])
    fix_tags = [str(tag) for tag in finding["fix_tags"]]
    if not 0 <= start < end <= len(tags) or len(fix_tags) != end - start:
        raise ValueError(f"the finding's words {start}..{end} do not fit an example of {len(tags)} words")
    fixed = list(tags[:start]) + fix_tags + list(tags[end:])
    # A span cut by the region's edge keeps a valid IOB2 sequence: an I- right after the region opens a span.
    if end < len(fixed) and fixed[end].startswith("I-") and _entity_type(fixed[end - 1]) != fixed[end][2:]:
        fixed[end] = "B-" + fixed[end][2:]
    return fixed
