"""How well span-level findings (explainer/analysis/findings.py) find realistic planted label errors.

1. Takes a seeded subset of CoNLL-2003 train and of WNUT-17 train (``../shared/data/``) and writes a
   noisy copy of each into ``--work`` (never into the repo): about 5% of the gold spans are changed,
   mixing type swaps, boundary shifts of one word, dropped entities and invented ones (``plant_noise``).
   Type swaps are drawn from a type-confusion matrix: by default the corpus's own ambiguity (how often
   a surface form is labelled with both types in the *full* training file); with ``--confusion-from
   CACHE`` from the out-of-fold confusion of a cache a previous run built (the model's confusion).
2. Out-of-fold predictions on each noisy copy, every example scored by a model that did not see it:
   ``--tagger features`` (default) a logistic-regression tagger on word and context features, K-fold
   (minutes on a busy CPU; a 64-d SVD of its feature vectors stands in for hidden states), or
   ``--tagger minilm``: ``explainer crossval`` with MiniLM from the ``demo`` extra, few folds and
   epochs, the word embeddings frozen (an hour or more on 2 shared cores; the cache's findings are
   computed by the build step itself).
3. Computes the findings of each cache with every signal, and ranks: findings (span level: a planted
   change is found when a finding's region overlaps it) and examples (an example is relevant when it
   holds a planted change). Reports AP, precision@100 and recall in the top 5% per signal, for the
   combined score, and for the baselines: cleanlab's token score (words ascending; examples by
   cleanlab's sentence score) and the loss (words by loss; examples by mean and total loss).
   The corpora are small enough for the neighbour search to be exact; ``--tagger features`` also runs
   the approximate search larger data gets (pynndescent, ``neighbour_tags(exact_limit=0)``) and reports
   its rows and its recall of the exact 10 nearest neighbours.
4. Chooses the combined score's weights by a grid search over the simplex maximising the mean
   example- and span-level AP over both corpora, and reports each corpus also with the weights chosen
   on the *other* corpus (out-of-sample). The weights written into explainer/analysis/findings.py
   (``DEFAULT_WEIGHTS``) are the ones this script prints.

Usage: ``python bench/label_errors.py [--tagger features|minilm] [--work DIR] [--sentences N] [--folds K]``; prints
markdown and writes ``bench/results/label_errors.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "label_errors.md"
CORPORA = {"CoNLL-2003 train": DATA / "conll2003" / "train.txt", "WNUT-17 train": DATA / "wnut17" / "train.txt"}
NOISE_SHARE = 0.05
APPROXIMATE_NEIGHBOURS = "signal: neighbours, approximate search (pynndescent)"
# Mix of planted changes (shares of the changed spans).
KIND_MIX = {"type swap": 0.4, "boundary shift": 0.25, "dropped entity": 0.2, "invented entity": 0.15}


@dataclass(frozen=True)
class Planted:
    """One planted change: in sentence ``sentence`` the words [start, end) changed from ``before`` to ``after``."""

    sentence: int
    start: int
    end: int
    kind: str
    before: tuple
    after: tuple


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """(words, IOB2 tags) per sentence; -DOCSTART- lines dropped, tags read from the last column."""
    from explainer.data.labels import to_iob2

    sentences, words, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        parts = line.split()
        if not parts:
            if words:
                sentences.append((words, to_iob2(tags)))
            words, tags = [], []
        elif parts[0] != "-DOCSTART-":
            words.append(parts[0])
            tags.append(parts[-1])
    return sentences


def spans_of(tags: list[str]) -> list[tuple[int, int, str]]:
    from explainer.analysis.spans import extract_spans

    return [tuple(span) for span in extract_spans(tags)]


def tags_of(n_words: int, spans: list[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * n_words
    for start, end, kind in spans:
        tags[start] = f"B-{kind}"
        for index in range(start + 1, end):
            tags[index] = f"I-{kind}"
    return tags


def ambiguity_confusion(sentences) -> dict[str, dict[str, float]]:
    """P(other type | type) from surface forms labelled with both types in ``sentences`` (+1 smoothing)."""
    forms: dict[tuple, Counter] = defaultdict(Counter)
    types = set()
    for words, tags in sentences:
        for start, end, kind in spans_of(tags):
            forms[tuple(words[start:end])][kind] += 1
            types.add(kind)
    pair = Counter()
    for counts in forms.values():
        for a, b in itertools.permutations(counts, 2):
            pair[a, b] += min(counts[a], counts[b])
    return {
        a: {b: (pair[a, b] + 1) / sum(pair[a, c] + 1 for c in types if c != a) for b in sorted(types) if b != a}
        for a in sorted(types)
    }


def plant_noise(sentences, *, confusion, share: float = NOISE_SHARE, seed: int = 0):
    """A noisy copy of ``sentences`` with ``share`` of the gold spans changed, and the planted changes.

    At most one change per sentence, so that each planted change is one example's error.
    """
    rng = np.random.default_rng(seed)
    n_spans = sum(len(spans_of(tags)) for _, tags in sentences)
    n_changes = max(1, round(share * n_spans))
    type_counts = Counter(kind for _, tags in sentences for _, _, kind in spans_of(tags))
    types = sorted(type_counts)
    type_p = np.array([type_counts[t] for t in types], dtype=float)
    type_p /= type_p.sum()
    noisy = [(list(words), list(tags)) for words, tags in sentences]
    planted: list[Planted] = []
    order = rng.permutation(len(sentences))
    kinds = list(KIND_MIX)
    wanted = {kind: round(KIND_MIX[kind] * n_changes) for kind in kinds}
    for index in order:
        open_kinds = [kind for kind in kinds if wanted[kind] > 0]
        if not open_kinds:
            break
        kind = str(rng.choice(open_kinds))
        words, tags = noisy[index]
        spans = spans_of(tags)
        change = _change(kind, words, spans, rng=rng, confusion=confusion, types=types, type_p=type_p)
        if change is None:
            continue
        before, after, start, end = change
        others = [span for span in spans if span not in before]
        noisy[index] = (words, tags_of(len(words), sorted(others + list(after))))
        planted.append(Planted(int(index), start, end, kind, tuple(before), tuple(after)))
        wanted[kind] -= 1
    return noisy, planted


def _change(kind, words, spans, *, rng, confusion, types, type_p):
    """(spans removed, spans added, region start, region end) for one change of ``kind``, or None."""
    if kind == "invented entity":
        taken = np.zeros(len(words), dtype=bool)
        for start, end, _ in spans:
            taken[start:end] = True
        # A capitalised (or, in lower-case text, alphabetic) word nobody labelled: where annotators slip.
        free = [i for i, word in enumerate(words) if not taken[i] and word[:1].isupper() and word.isalpha()]
        free = free or [i for i, word in enumerate(words) if not taken[i] and word.isalpha() and len(word) > 3]
        if not free:
            return None
        start = int(rng.choice(free))
        end = start + 1
        if end < len(words) and not taken[end] and words[end][:1].isupper() and rng.random() < 0.3:
            end += 1
        new = (start, end, str(rng.choice(types, p=type_p)))
        return [], [new], start, end
    if not spans:
        return None
    span = spans[int(rng.integers(len(spans)))]
    start, end, old = span
    if kind == "type swap":
        row = confusion.get(old)
        if not row:
            return None
        new_type = str(rng.choice(list(row), p=np.array(list(row.values())) / sum(row.values())))
        return [span], [(start, end, new_type)], start, end
    if kind == "dropped entity":
        return [span], [], start, end
    # boundary shift by one word: grow into a free neighbour or shrink a multi-word span.
    taken = {i for s, e, _ in spans if (s, e) != (start, end) for i in range(s, e)}
    options = []
    if start > 0 and start - 1 not in taken:
        options.append((start - 1, end))
    if end < len(words) and end not in taken:
        options.append((start, end + 1))
    if end - start >= 2:
        options += [(start + 1, end), (start, end - 1)]
    if not options:
        return None
    new_start, new_end = options[int(rng.integers(len(options)))]
    return [span], [(new_start, new_end, old)], min(start, new_start), max(end, new_end)


def write_conll(sentences, path: Path) -> None:
    lines = []
    for words, tags in sentences:
        lines += [f"{word} {tag}" for word, tag in zip(words, tags)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def minilm_path() -> str:
    from explainer.demo import base_model_path

    return str(base_model_path())


def crossval(copy: Path, out: Path, *, folds: int, epochs: int, log: Path) -> float:
    """Run ``explainer crossval`` on ``copy`` (resumes in ``<out>-folds``); seconds taken."""
    if (out / "manifest.json").is_file():
        return 0.0
    command = [
        sys.executable, "-m", "explainer", "crossval", "--base", minilm_path(), "--dataset", str(copy),
        "--out", str(out), "--folds", str(folds), "--epochs", str(epochs), "--lr", "1e-4",
        "--freeze-embeddings", "--max-length", "128", "--force",
    ]  # fmt: skip
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as handle:
        code = subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"error: crossval failed (exit {code}); see {log}")
    return time.perf_counter() - started


def prepare(name: str, source: Path, work: Path, *, sentences: int, seed: int):
    """The noisy subset of ``source`` in ``work``, its planted changes (JSON beside it) and the noisy sentences."""
    everything = read_conll(source)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(everything), size=min(sentences, len(everything)), replace=False))
    subset = [everything[i] for i in keep]
    noisy, planted = plant_noise(subset, confusion=ambiguity_confusion(everything), seed=seed)
    slug = name.split()[0].lower().replace("-", "")
    copy = work / f"{slug}-noisy.txt"
    write_conll(noisy, copy)
    (work / f"{slug}-planted.json").write_text(
        json.dumps([planted_item.__dict__ for planted_item in planted]), encoding="utf-8"
    )
    return copy, planted, noisy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-caches/label-errors"))
    parser.add_argument("--sentences", type=int, default=None, help="sentences per corpus subset")
    parser.add_argument(
        "--tagger",
        choices=("features", "minilm"),
        default="features",
        help="out-of-fold predictions from a logistic-regression feature tagger (default: minutes) or from "
        "MiniLM fine-tuned by `explainer crossval` (an hour or more on 2 busy cores)",
    )
    parser.add_argument("--folds", type=int, default=None, help="folds (default: 5 features, 2 minilm)")
    parser.add_argument("--epochs", type=int, default=2, help="minilm: epochs per fold model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prepare-only", action="store_true", help="write the noisy copies (and crossval) only")
    parser.add_argument("--corpus", choices=sorted(CORPORA), help="only this corpus (with --prepare-only)")
    args = parser.parse_args(argv)
    args.sentences = args.sentences or 1500
    args.folds = args.folds or (5 if args.tagger == "features" else 2)
    args.work.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    runs, evaluations = {}, {}
    for name, source in CORPORA.items():
        if args.corpus and name != args.corpus:
            continue
        copy, planted, noisy = prepare(name, source, args.work, sentences=args.sentences, seed=args.seed)
        print(f"{name}: {len(planted)} planted changes in {copy}", file=sys.stderr, flush=True)

        started = time.perf_counter()
        if args.tagger == "minilm":
            out = copy.with_name(copy.stem + "-cache")
            crossval(copy, out, folds=args.folds, epochs=args.epochs, log=args.work / f"crossval-{copy.stem}.log")
            if args.prepare_only:
                continue
            scored = scored_from_cache(out)
        else:
            if args.prepare_only:
                continue
            scored = scored_from_features(noisy, folds=args.folds, seed=args.seed)
        runs[name] = (planted, time.perf_counter() - started)
        evaluations[name] = evaluate(scored, planted)
    if args.prepare_only:
        return 0
    text = report(evaluations, runs, args=args, load=(load_start, os.getloadavg()))
    print(text)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


# --- evaluation --------------------------------------------------------------------------------------------


def _first_hits(order_examples, order_starts, order_ends, planted: list[Planted]) -> tuple[np.ndarray, np.ndarray]:
    """For a ranked list of (example, start, end) items: whether each overlaps a planted change, and whether it
    is the first item to hit one (so each change counts once)."""
    by_example = defaultdict(list)
    for number, change in enumerate(planted):
        by_example[change.sentence].append((number, change.start, change.end))
    overlaps = np.zeros(len(order_examples), dtype=bool)
    first = np.zeros(len(order_examples), dtype=bool)
    seen = set()
    for position, (example, start, end) in enumerate(zip(order_examples, order_starts, order_ends)):
        for number, a, b in by_example.get(int(example), ()):
            if start < b and a < end:
                overlaps[position] = True
                if number not in seen:
                    seen.add(number)
                    first[position] = True
    return overlaps, first


def span_figures(examples, starts, ends, scores, planted, *, budget: int) -> dict:
    """AP, precision@100 and recall within ``budget`` items of a ranking of spans/words (higher score first)."""
    values = np.where(np.isnan(scores), -np.inf, scores)
    order = np.lexsort((np.arange(len(values)), -values))
    overlaps, first = _first_hits(examples[order], starts[order], ends[order], planted)
    ranks = np.arange(1, len(order) + 1)
    precision_at = np.cumsum(overlaps) / ranks
    n = len(planted)
    return {
        "ap": float((precision_at * first).sum() / n),
        "p100": float(overlaps[:100].mean()) if len(order) else 0.0,
        "recall": float(first[:budget].sum() / n),
    }


def example_figures(scores, relevant, *, budget: int) -> dict:
    from sklearn.metrics import average_precision_score

    values = np.where(np.isnan(scores), -np.inf, scores)
    order = np.lexsort((np.arange(len(values)), -values))
    return {
        "ap": float(average_precision_score(relevant, np.nan_to_num(values, neginf=-1e9))),
        "p100": float(relevant[order[:100]].mean()),
        "recall": float(relevant[order[:budget]].sum() / relevant.sum()),
    }


@dataclass
class Scored:
    """What the rankings need of one out-of-fold run, from a cache (MiniLM) or from the feature tagger."""

    n: int
    word_examples: np.ndarray
    word_index: np.ndarray
    word_quality: np.ndarray  # cleanlab token score of the gold tag (low = suspicious)
    word_loss: np.ndarray
    example_quality: np.ndarray  # cleanlab sentence score
    mean_loss: np.ndarray
    total_loss: np.ndarray
    table: object  # the findings (pandas DataFrame)
    f1: float
    seconds: float  # computing the findings
    tagger: str
    approximate_table: object = None  # the findings with the neighbour search forced approximate
    approximate_recall: float | None = None  # its recall@10 of the exact nearest neighbours


def scored_from_cache(cache_dir: Path) -> Scored:
    """The MiniLM path: a cache written by ``explainer crossval``, its findings as the build step computes them."""
    from explainer.cache.reader import open_cache
    from explainer.pipeline.findings import compute_findings

    cache = open_cache(cache_dir)
    examples = cache.examples
    started = time.perf_counter()
    table, _ = compute_findings(cache)
    seconds = time.perf_counter() - started
    words = cache.table("words", ["example_id", "word_index", "loss"])
    quality = cache.label_quality()
    return Scored(
        n=len(examples),
        word_examples=words["example_id"].to_numpy(),
        word_index=words["word_index"].to_numpy(),
        word_quality=quality.words["label_quality"].to_numpy(dtype=np.float64),
        word_loss=words["loss"].to_numpy(dtype=np.float64),
        example_quality=quality.examples["label_quality"].to_numpy(dtype=np.float64),
        mean_loss=examples["mean_loss"].to_numpy(dtype=np.float64),
        total_loss=examples["total_loss"].to_numpy(dtype=np.float64),
        table=table,
        f1=float(cache.manifest["headline"]["entity_f1"]),
        seconds=seconds,
        tagger="MiniLM, `explainer crossval`",
    )


def _word_features(words: list[str], index: int) -> dict:
    word = words[index]
    shape = "".join("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word)[:6]
    features = {
        "w=" + word: 1, "lower=" + word.lower(): 1, "shape=" + shape: 1, "pre=" + word[:3].lower(): 1,
        "suf=" + word[-3:].lower(): 1, "title": float(word.istitle()), "upper": float(word.isupper()),
        "first": float(index == 0),
    }  # fmt: skip
    for offset in (-2, -1, 1, 2):
        other = words[index + offset].lower() if 0 <= index + offset < len(words) else "<pad>"
        features[f"w{offset:+d}=" + other] = 1
        if 0 <= index + offset < len(words):
            features[f"title{offset:+d}"] = float(words[index + offset].istitle())
    return features


def _say(what: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def scored_from_features(sentences, *, folds: int, seed: int) -> Scored:
    """The fast path: a logistic-regression tagger on word and context features, out-of-fold over ``folds``
    folds of sentences; its probabilities give the predictions, cleanlab's scores and the loss, and a 64-d SVD
    of the feature vectors stands in for the hidden states (the neighbour signal)."""
    import pandas as pd
    from seqeval.metrics import f1_score
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    from explainer.analysis import findings as fa
    from explainer.data.labels import to_iob2
    from explainer.pipeline.label_quality import label_quality_scores

    labels = sorted({tag for _, tags in sentences for tag in tags}, key=lambda tag: (tag != "O", tag[2:], tag))
    label_id = {label: i for i, label in enumerate(labels)}
    example_ids = np.concatenate([np.full(len(words), i) for i, (words, _) in enumerate(sentences)])
    word_index = np.concatenate([np.arange(len(words)) for words, _ in sentences])
    gold = np.array([label_id[tag] for _, tags in sentences for tag in tags])
    features = FeatureHasher(n_features=2**15).transform(
        _word_features(words, i) for words, _ in sentences for i in range(len(words))
    )
    probs = np.zeros((len(gold), len(labels)), dtype=np.float32)
    for train, held_out in GroupKFold(n_splits=folds).split(features, gold, groups=example_ids):
        model = LogisticRegression(C=2.0, max_iter=150).fit(features[train], gold[train])
        probs[np.ix_(held_out, model.classes_)] = model.predict_proba(features[held_out])
    _say(f"out-of-fold tagger fitted ({features.shape[0]} words)")
    probs = np.clip(probs, 1e-6, 1.0)
    probs /= probs.sum(axis=1, keepdims=True)
    pred = [labels[i] for i in probs.argmax(axis=1)]
    offsets = np.cumsum([0] + [len(words) for words, _ in sentences])
    pred_tags = [to_iob2(pred[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    gold_tags = [list(tags) for _, tags in sentences]
    quality = label_quality_scores(probs, gold, example_ids, n_examples=len(sentences))
    loss = -np.log(probs[np.arange(len(gold)), gold])
    frame = pd.DataFrame(
        {
            "example_id": example_ids,
            "word_index": word_index,
            "word": [word for words, _ in sentences for word in words],
            "gold": [tag for tags in gold_tags for tag in tags],
            "pred": [tag for tags in pred_tags for tag in tags],
        }
    )
    _say("cleanlab scores")
    started = time.perf_counter()
    vectors = TruncatedSVD(n_components=64, random_state=seed).fit_transform(features)
    shares = fa.neighbour_tags(vectors, gold, example_ids, n_labels=len(labels), k=10, seed=seed)
    _say("neighbours")
    table = fa.find_label_errors(frame, labels=labels, word_quality=quality.word_scores, neighbour_shares=shares)
    _say(f"{len(table)} findings")
    seconds = time.perf_counter() - started
    # The approximate search, as data above fa.EXACT_SEARCH_LIMIT words gets it, on the same vectors.
    approximate = fa.neighbour_tags(vectors, gold, example_ids, n_labels=len(labels), k=10, seed=seed, exact_limit=0)
    approximate_table = fa.find_label_errors(
        frame, labels=labels, word_quality=quality.word_scores, neighbour_shares=approximate
    )
    _say("approximate neighbours")
    counts = np.bincount(example_ids, minlength=len(sentences))
    total = np.bincount(example_ids, weights=loss, minlength=len(sentences))
    return Scored(
        n=len(sentences),
        word_examples=example_ids,
        word_index=word_index,
        word_quality=quality.word_scores.astype(np.float64),
        word_loss=loss,
        example_quality=quality.example_scores.astype(np.float64),
        mean_loss=total / np.maximum(counts, 1),
        total_loss=total,
        table=table,
        f1=float(f1_score(gold_tags, pred_tags)),
        seconds=seconds,
        tagger=f"logistic-regression feature tagger, {folds}-fold out-of-fold",
        approximate_table=approximate_table,
        approximate_recall=neighbour_recall(vectors, seed=seed),
    )


def neighbour_recall(vectors, *, seed: int, k: int = 10, queries: int = 2000) -> float:
    """Recall@k of the approximate search's nearest neighbours (pynndescent's graph, as ``neighbour_tags``
    builds it above its exact limit) against brute force, on a seeded sample of queries."""
    from explainer.analysis import findings as fa

    members = np.arange(len(vectors))
    data = fa._reducer(vectors, members, dimensions=64, seed=seed)(members)
    approximate = fa._approximate_neighbours(data, k + 8, seed=seed)[:, :k]
    sample = np.sort(np.random.default_rng(seed).choice(len(data), size=min(queries, len(data)), replace=False))
    from sklearn.neighbors import NearestNeighbors

    exact = NearestNeighbors(n_neighbors=k).fit(data).kneighbors(data[sample], return_distance=False)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(approximate[sample], exact)]))


def evaluate(scored: Scored, planted: list[Planted]) -> dict:
    """Every signal's and baseline's figures on one out-of-fold run, and the signal table for the weights."""
    from explainer.analysis import findings as fa

    table, n = scored.table, scored.n
    budget = max(1, int(np.ceil(0.05 * n)))
    relevant = np.zeros(n, dtype=bool)
    relevant[[change.sentence for change in planted]] = True
    w_examples, w_index = scored.word_examples, scored.word_index

    def finding_rows(scores):
        return span_figures(
            table["example_id"].to_numpy(), table["start"].to_numpy(), table["end"].to_numpy(), scores, planted,
            budget=budget,
        )  # fmt: skip

    rows = {}
    rows["cleanlab token score (baseline)"] = {
        "example": example_figures(-scored.example_quality, relevant, budget=budget),
        "span": span_figures(w_examples, w_index, w_index + 1, -scored.word_quality, planted, budget=budget),
    }
    rows["loss (baseline: mean loss per example, loss per word)"] = {
        "example": example_figures(scored.mean_loss, relevant, budget=budget),
        "span": span_figures(w_examples, w_index, w_index + 1, scored.word_loss, planted, budget=budget),
    }
    rows["total loss"] = {"example": example_figures(scored.total_loss, relevant, budget=budget), "span": None}
    for signal in fa.SIGNALS:
        rows[f"signal: {signal}"] = {
            "example": example_figures(fa.example_scores(table, n, column=signal), relevant, budget=budget),
            "span": finding_rows(table[signal].to_numpy(dtype=np.float64)),
        }
    approximate = scored.approximate_table
    if approximate is not None:
        rows[APPROXIMATE_NEIGHBOURS] = {
            "example": example_figures(fa.example_scores(approximate, n, column=fa.NEIGHBOURS), relevant, budget=budget),
            "span": span_figures(
                approximate["example_id"].to_numpy(), approximate["start"].to_numpy(), approximate["end"].to_numpy(),
                approximate[fa.NEIGHBOURS].to_numpy(dtype=np.float64), planted, budget=budget,
            ),
        }  # fmt: skip
    # Share of planted changes for which some finding proposes exactly the original spans.
    restored = 0
    for change in planted:
        rows_of = table[(table["example_id"] == change.sentence)]
        before = sorted([list(span) for span in change.before])
        for fix_spans, start, end in zip(rows_of["fix_spans"], rows_of["start"], rows_of["end"]):
            spans = sorted([list(fa.parse_span_text(text)) for text in fix_spans])
            if spans == before and start < change.end and change.start < end:
                restored += 1
                break
    return {
        "table": table,
        "rows": rows,
        "relevant": relevant,
        "n": n,
        "budget": budget,
        "planted": planted,
        "seconds": scored.seconds,
        "f1": scored.f1,
        "tagger": scored.tagger,
        "restorable": restored / len(planted),
        "approximate_table": approximate,
        "approximate_recall": scored.approximate_recall,
    }


def combined_figures(evaluation: dict, weights: dict) -> dict:
    from explainer.analysis import findings as fa

    table = evaluation["table"]
    score = fa.combined_score(table, weights).astype(np.float64)
    scored = table.assign(score=score)
    return {
        "example": example_figures(
            fa.example_scores(scored, evaluation["n"]), evaluation["relevant"], budget=evaluation["budget"]
        ),
        "span": span_figures(
            table["example_id"].to_numpy(), table["start"].to_numpy(), table["end"].to_numpy(), score,
            evaluation["planted"], budget=evaluation["budget"],
        ),
    }  # fmt: skip


def weight_grid(step: float = 0.1) -> list[dict]:
    from explainer.analysis.findings import SIGNALS

    parts = int(round(1 / step))
    grid = []
    for a in range(parts + 1):
        for b in range(parts + 1 - a):
            grid.append(dict(zip(SIGNALS, (a * step, b * step, (parts - a - b) * step))))
    return grid


def objective(figures: dict) -> float:
    return (figures["example"]["ap"] + figures["span"]["ap"]) / 2


def choose_weights(evaluations: dict) -> tuple[dict, dict]:
    """The grid weights with the best mean objective over all corpora, and per corpus its own best."""
    grid = weight_grid()
    scores = {name: [objective(combined_figures(ev, w)) for w in grid] for name, ev in evaluations.items()}
    overall = int(np.argmax(np.mean([scores[name] for name in evaluations], axis=0)))
    per_corpus = {name: grid[int(np.argmax(scores[name]))] for name in evaluations}
    return grid[overall], per_corpus


def _cell(figures: dict | None, key: str) -> str:
    return "" if figures is None else f"{figures[key]:.3f}"


def report(evaluations: dict, runs: dict, *, args, load) -> str:
    chosen, per_corpus = choose_weights(evaluations)
    names = list(evaluations)
    lines = [
        "# Label errors: span-level findings against realistic planted noise",
        "",
        f"Seeded subsets ({args.sentences} sentences, seed {args.seed}) of each training file, about "
        f"{NOISE_SHARE:.0%} of the gold spans changed ({', '.join(f'{k} {v:.0%}' for k, v in KIND_MIX.items())}; "
        "type swaps drawn from the full file's type ambiguity, see the script's docstring), one change per "
        f"sentence. Out-of-fold predictions: {next(iter(evaluations.values()))['tagger']}"
        + (
            f" (`--folds {args.folds} --epochs {args.epochs} --lr 1e-4 --freeze-embeddings --max-length 128`)."
            if args.tagger == "minilm"
            else " (features: the word, its lower case, shape, 3-letter prefix and suffix, the two words either "
            "side; hashed, C=2); the neighbour signal searches a 64-d SVD of those feature vectors, standing in "
            "for hidden states. `--tagger minilm` runs the same with MiniLM fine-tuned by `explainer crossval`."
        ),
        "",
        "Example level: an example is relevant when it holds a planted change (AP over all examples; P@100; "
        "recall in the top 5% of examples). Span level: the ranked findings (or words, for the baselines); an "
        "item is a hit when it overlaps a planted change, each change counted once for AP and recall; "
        "recall within as many items as 5% of the examples.",
        "",
        "Combined weights chosen by this benchmark (grid over the simplex in steps of 0.1, best mean of "
        f"example and span AP over both corpora): **{_weights_text(chosen)}** (now `DEFAULT_WEIGHTS`). "
        "In-sample; the *other-corpus weights* row uses the weights best on the other corpus only.",
    ]
    for name in names:
        ev = evaluations[name]
        other = next((per_corpus[o] for o in names if o != name), chosen)
        rows = dict(ev["rows"])
        rows[f"**combined** ({_weights_text(chosen)})"] = combined_figures(ev, chosen)
        rows[f"combined, other-corpus weights ({_weights_text(other)})"] = combined_figures(ev, other)
        if ev.get("approximate_table") is not None:  # after the combined rows: the table keeps its order
            rows[APPROXIMATE_NEIGHBOURS] = rows.pop(APPROXIMATE_NEIGHBOURS)
            rows[f"combined, approximate search ({_weights_text(chosen)})"] = combined_figures(
                {**ev, "table": ev["approximate_table"]}, chosen
            )
        base_cleanlab = ev["rows"]["cleanlab token score (baseline)"]
        base_loss = ev["rows"]["loss (baseline: mean loss per example, loss per word)"]
        best = rows[f"**combined** ({_weights_text(chosen)})"]
        planted, seconds = runs[name]
        lines += [
            "",
            f"## {name}",
            "",
            f"{ev['n']} examples, {len(planted)} planted changes ({dict(Counter(c.kind for c in planted))}); "
            f"out-of-fold entity F1 {ev['f1']:.3f}; findings {len(ev['table'])} in {ev['seconds']:.1f} s; "
            f"predictions and findings {seconds / 60:.1f} min. A finding proposing exactly the original "
            f"spans exists for {ev['restorable']:.0%} of the planted changes."
            + (
                ""
                if ev.get("approximate_recall") is None
                else f" The approximate neighbour search (rows *approximate search*) finds "
                f"{ev['approximate_recall']:.1%} of the exact 10 nearest neighbours (recall@10, 2,000 seeded queries)."
            ),
            "",
            "| ranking | example AP | example P@100 | example recall@5% | span AP | span P@100 | span recall@5% |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label, figures in rows.items():
            example, span = figures["example"], figures["span"]
            lines.append(
                f"| {label} | {_cell(example, 'ap')} | {_cell(example, 'p100')} | {_cell(example, 'recall')} | "
                f"{_cell(span, 'ap')} | {_cell(span, 'p100')} | {_cell(span, 'recall')} |"
            )
        lines += [
            "",
            f"Goal: combined example AP / cleanlab = **{best['example']['ap'] / base_cleanlab['example']['ap']:.2f}x** "
            f"(goal 1.5x), / mean loss = **{best['example']['ap'] / base_loss['example']['ap']:.2f}x** (goal 1.3x); "
            f"span AP / cleanlab token = **{best['span']['ap'] / max(base_cleanlab['span']['ap'], 1e-9):.2f}x**, "
            f"/ word loss = **{best['span']['ap'] / max(base_loss['span']['ap'], 1e-9):.2f}x**.",
        ]
    lines += [
        "",
        f"Load average (1, 5, 15 min) at start {tuple(round(x, 1) for x in load[0])}, at end "
        f"{tuple(round(x, 1) for x in load[1])}; {os.cpu_count()} cores shared with other jobs, "
        f"{platform.machine()}, Python {platform.python_version()}.",
        "",
    ]
    return "\n".join(lines)


def _weights_text(weights: dict) -> str:
    return ", ".join(f"{name} {value:.1f}" for name, value in weights.items())


if __name__ == "__main__":
    sys.exit(main())
