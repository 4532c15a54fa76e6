"""Exact and near-duplicate examples, label inconsistencies between them, and leakage across splits.

Pure numpy/pandas/scikit-learn: frames and arrays in, frames out; no Dash.

- *Exact duplicates*: examples whose words are equal after normalising case and whitespace. One
  group per distinct text; a group whose members carry different gold label sequences is a *label
  inconsistency* (the same sentence annotated two ways).
- *Near duplicates*: pairs of examples whose example embeddings (see ``explainer.pipeline.projection``)
  have a cosine similarity at or above a threshold, found with a nearest-neighbour index rather
  than all pairs. The embeddings are first centred on their mean: mean-pooled hidden states share
  one dominant direction (random pairs of CoNLL sentences score 0.73-0.97 raw), which centring
  removes (the same pairs: -0.33-0.45) while sentences that differ by a word or two stay near 0.9. Each exact group takes part through one member,
  so a sentence repeated fifty times does not flood the list. A pair *conflicts* when words the
  two examples share in the same place (aligned with difflib) carry different gold labels.
- *Leakage*: examples of one cache (say test) that also occur, exactly or nearly, in another
  (say train).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.cache.artefacts import DuplicateFindings

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_THRESHOLD = 0.95
# Each example's gold tags joined by spaces (see joined_tags).
TagKeys = Sequence[str] | npt.NDArray[np.object_]
LOWEST_THRESHOLD = 0.80
DEFAULT_NEIGHBOURS = 10
_SPACE = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def normalise_text(words: Iterable[Any]) -> str:
    """The words of an example joined by single spaces, whitespace collapsed, case folded."""
    return _normalise(" ".join(str(word) for word in words))


def normalised_texts(examples: pd.DataFrame) -> np.ndarray:
    """:func:`normalise_text` of every example (from its ``words`` column, or else from its ``text``
    column: the words joined by spaces, which normalises the same and holds no list per example)."""
    if "words" not in examples.columns:
        return np.array([_normalise(str(text)) for text in examples["text"]], dtype=object)
    return np.array([normalise_text(words) for words in examples["words"]], dtype=object)


def _joined(examples: pd.DataFrame, position: int) -> str:
    """Example ``position``'s words joined by spaces (its ``text`` column when it has no ``words``)."""
    if "words" not in examples.columns:
        return str(examples["text"].iloc[position])
    return " ".join(map(str, examples["words"].iloc[position]))


def _tag_key(tags: Iterable[Any]) -> str:
    return " ".join(map(str, tags))


# --- exact duplicates ---------------------------------------------------------------------------


def exact_duplicate_groups(
    examples: pd.DataFrame, *, texts: np.ndarray | None = None, tag_keys: TagKeys | None = None
) -> pd.DataFrame:
    """Groups of examples with the same normalised text.

    Parameters
    ----------
    examples : DataFrame
        ``example_id, words, gold_tags`` (the cache's examples table).
    texts : ndarray, optional
        :func:`normalised_texts` of ``examples``, when already computed.
    tag_keys : sequence of str, optional
        Each example's gold tags joined by spaces, when already computed (then ``gold_tags`` is not
        read, and ``examples`` may hold ``example_id, text`` only).

    Returns
    -------
    DataFrame
        One row per group of two or more examples: ``group`` (0..), ``text`` (the first member's
        words joined), ``size``, ``example_ids`` (list, ascending), ``variants`` (number of distinct
        gold label sequences), ``inconsistent`` (``variants > 1``). Inconsistent groups first, then
        by size descending, then by first example id.
    """
    texts = normalised_texts(examples) if texts is None else texts
    ids = examples["example_id"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "key": texts,
            "example_id": ids,
            "tags": [_tag_key(tags) for tags in examples["gold_tags"]]
            if tag_keys is None
            else np.asarray(tag_keys, dtype=object),
        }
    )
    sizes = frame.groupby("key", sort=False)["example_id"].transform("size")
    repeated = frame[sizes.to_numpy() > 1]
    columns = ["group", "text", "size", "example_ids", "variants", "inconsistent"]
    if repeated.empty:
        return pd.DataFrame(
            {
                name: pd.Series(dtype=dtype)
                for name, dtype in zip(columns, ("int64", "str", "int64", "object", "int64", "bool"))
            }
        )
    grouped = repeated.groupby("key", sort=False).agg(
        example_ids=("example_id", lambda s: sorted(s.tolist())),
        size=("example_id", "size"),
        variants=("tags", "nunique"),
    )
    grouped = grouped.reset_index(drop=True)
    first = grouped["example_ids"].map(lambda members: members[0]).to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    grouped["text"] = [_joined(examples, position[e]) for e in first]
    grouped["inconsistent"] = grouped["variants"] > 1
    grouped["first"] = first
    grouped = grouped.sort_values(["inconsistent", "size", "first"], ascending=[False, False, True], kind="stable")
    grouped["group"] = np.arange(len(grouped))
    return grouped[columns].reset_index(drop=True)


def example_rows(examples: pd.DataFrame, example_ids: Iterable[int]) -> pd.DataFrame:
    """The rows of ``examples`` (sorted by ``example_id``, as in a cache) with these ids, in that order."""
    ids = np.asarray(list(example_ids), dtype=np.int64)
    positions = examples["example_id"].to_numpy().searchsorted(ids)
    rows = examples.iloc[np.minimum(positions, len(examples) - 1)]
    if len(ids) and not np.array_equal(rows["example_id"].to_numpy(), ids):
        raise KeyError(f"no example with id(s) {sorted(set(ids) - set(rows['example_id']))}")
    return rows


def label_variants(examples: pd.DataFrame, example_ids: Iterable[int]) -> list[tuple[list[str], list[int]]]:
    """The distinct gold label sequences among ``example_ids``: ``[(tags, [ids having them]), ...]``,
    most common first."""
    rows = example_rows(examples, example_ids)
    variants: dict[str, tuple[list[str], list[int]]] = {}
    for example_id, tags in zip(rows["example_id"].tolist(), rows["gold_tags"]):
        variants.setdefault(_tag_key(tags), (list(map(str, tags)), []))[1].append(int(example_id))
    return sorted(variants.values(), key=lambda item: (-len(item[1]), item[1][0]))


# --- near duplicates ----------------------------------------------------------------------------


def embedding_mean(embeddings: np.ndarray) -> np.ndarray:
    """The mean of the non-zero rows (an example without kept subwords has a zero row)."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    usable = np.linalg.norm(vectors, axis=1) > 0
    return vectors[usable].mean(axis=0) if usable.any() else np.zeros(vectors.shape[1], dtype=np.float32)


def centred(embeddings: np.ndarray, *, mean: np.ndarray | None = None) -> np.ndarray:
    """Rows minus ``mean`` (default: :func:`embedding_mean` of the rows), L2-normalised; zero rows stay zero."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    usable = np.linalg.norm(vectors, axis=1) > 0
    shifted = np.where(usable[:, None], vectors - (embedding_mean(vectors) if mean is None else mean), 0.0)
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = np.divide(shifted, norms, out=np.zeros_like(shifted), where=norms > 0)
    return unit.astype(np.float32)


def neighbour_pairs(
    embeddings: np.ndarray,
    *,
    min_similarity: float = LOWEST_THRESHOLD,
    n_neighbors: int = DEFAULT_NEIGHBOURS,
    rows: np.ndarray | None = None,
    centre: bool = True,
) -> pd.DataFrame:
    """Pairs of rows whose cosine similarity is at least ``min_similarity``, via nearest neighbours.

    Parameters
    ----------
    embeddings : ndarray
        ``[n, dim]`` L2-normalised rows (zero rows, which have no direction, are never paired).
    min_similarity : float
        The lowest threshold a view will ask for; higher ones filter the result.
    n_neighbors : int
        Neighbours looked up per row: each row is paired with at most this many others (plus
        whatever pairs others make with it).
    rows : ndarray of int, optional
        Only these rows take part (e.g. one member per exact group); default all.
    centre : bool
        Centre on the mean of all rows before comparing (see the module notes).

    Returns
    -------
    DataFrame
        ``a, b`` (row numbers, ``a < b``, each pair once), ``similarity`` (float), most similar first.
    """
    from sklearn.neighbors import NearestNeighbors

    rows = np.arange(len(embeddings)) if rows is None else np.asarray(rows, dtype=np.int64)
    vectors = (centred(embeddings) if centre else np.asarray(embeddings, dtype=np.float32))[rows]
    usable = np.linalg.norm(vectors, axis=1) > 0
    rows, vectors = rows[usable], vectors[usable]
    empty = pd.DataFrame(
        {"a": pd.Series(dtype="int64"), "b": pd.Series(dtype="int64"), "similarity": pd.Series(dtype="float64")}
    )
    if len(rows) < 2:
        return empty
    k = min(n_neighbors + 1, len(rows))
    index = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(vectors)
    distances, neighbours = index.kneighbors(vectors)
    similarity = 1.0 - distances.ravel()
    left = np.repeat(np.arange(len(rows)), k)
    right = neighbours.ravel()
    keep = (left != right) & (similarity >= min_similarity - 1e-6)
    a, b = rows[left[keep]], rows[right[keep]]
    pairs = pd.DataFrame({"a": np.minimum(a, b), "b": np.maximum(a, b), "similarity": np.clip(similarity[keep], -1, 1)})
    pairs = pairs.drop_duplicates(["a", "b"])
    return (
        pairs.sort_values(["similarity", "a", "b"], ascending=[False, True, True], kind="stable").reset_index(drop=True)
        if len(pairs)
        else empty
    )


def aligned_positions(words_a: Sequence[Any], words_b: Sequence[Any]) -> list[tuple[int, int]]:
    """Positions ``(i, j)`` where word i of A and word j of B are the same word in aligned places
    (case-insensitive, difflib's matching blocks), in order."""
    folded_a = [str(word).casefold() for word in words_a]
    folded_b = [str(word).casefold() for word in words_b]
    matcher = difflib.SequenceMatcher(a=folded_a, b=folded_b, autojunk=False)
    return [
        (block.a + offset, block.b + offset) for block in matcher.get_matching_blocks() for offset in range(block.size)
    ]


def label_conflicts(
    words_a: Sequence[Any],
    tags_a: Sequence[Any],
    words_b: Sequence[Any],
    tags_b: Sequence[Any],
    *,
    aligned: list[tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """The :func:`aligned_positions` ``(i, j)`` (pass them as ``aligned`` if already known) whose words
    carry different gold labels."""
    aligned = aligned_positions(words_a, words_b) if aligned is None else aligned
    return [(i, j) for i, j in aligned if tags_a[i] != tags_b[j]]


def near_duplicate_pairs(pairs: pd.DataFrame, examples: pd.DataFrame, *, threshold: float) -> pd.DataFrame:
    """Near-duplicate pairs at ``threshold`` with their label conflicts, conflicting pairs first.

    Parameters
    ----------
    pairs : DataFrame
        From :func:`neighbour_pairs` (``a``/``b`` are row positions in ``examples``).
    examples : DataFrame
        ``example_id, words, gold_tags``.
    threshold : float

    Returns
    -------
    DataFrame
        ``a, b`` (example ids), ``similarity``, ``conflicts`` (number of aligned words labelled
        differently), ``inconsistent`` (``conflicts > 0``). Sorted by inconsistent first, then
        similarity descending; so a higher threshold is a filter that keeps the order.
    """
    chosen = pairs[pairs["similarity"] >= threshold - 1e-6]
    ids = examples["example_id"].to_numpy(dtype=np.int64)
    words, tags = examples["words"], examples["gold_tags"]
    signatures: dict[int, dict[str, frozenset[str]]] = {}

    def signature(row: int) -> dict[str, frozenset[str]]:
        if row not in signatures:
            labels_of: dict[str, set[str]] = {}
            for word, tag in zip(words.iloc[row], tags.iloc[row]):
                labels_of.setdefault(str(word).casefold(), set()).add(str(tag))
            signatures[row] = {word: frozenset(found) for word, found in labels_of.items()}
        return signatures[row]

    conflicts = []
    for a, b in zip(chosen["a"].tolist(), chosen["b"].tolist()):
        left, right = signature(a), signature(b)
        # Aligned words can only disagree if some shared word has another (or more than one) label.
        if all(left[word] == right[word] and len(left[word]) == 1 for word in left.keys() & right.keys()):
            conflicts.append(0)
        else:
            conflicts.append(len(label_conflicts(words.iloc[a], tags.iloc[a], words.iloc[b], tags.iloc[b])))
    frame = pd.DataFrame(
        {
            "a": ids[chosen["a"].to_numpy(dtype=np.int64)],
            "b": ids[chosen["b"].to_numpy(dtype=np.int64)],
            "similarity": chosen["similarity"].to_numpy(dtype=np.float64),
            "conflicts": np.asarray(conflicts, dtype=np.int64),
        }
    )
    frame["inconsistent"] = frame["conflicts"] > 0
    return frame.sort_values(
        ["inconsistent", "similarity", "a", "b"], ascending=[False, False, True, True], kind="stable"
    ).reset_index(drop=True)


@dataclass(frozen=True)
class DuplicateIndex:
    """What a cache's Find duplicates view needs, computed once: the exact groups and the neighbour
    pairs at the lowest threshold (a higher threshold only filters them)."""

    groups: pd.DataFrame
    pairs: pd.DataFrame  # row positions in the examples table, see neighbour_pairs
    has_embeddings: bool

    def near(self, examples: pd.DataFrame, *, threshold: float) -> pd.DataFrame:
        """:func:`near_duplicate_pairs` at ``threshold``."""
        return near_duplicate_pairs(self.pairs, examples, threshold=threshold)


def duplicate_index(
    examples: pd.DataFrame,
    embeddings: np.ndarray | None,
    *,
    min_similarity: float = LOWEST_THRESHOLD,
    n_neighbors: int = DEFAULT_NEIGHBOURS,
    centre: bool = True,
    tag_keys: TagKeys | None = None,
) -> DuplicateIndex:
    """Exact groups, and near-duplicate candidate pairs among one member per exact group.

    ``embeddings`` (row i <-> examples row i) may be None: then only exact groups are found.
    ``tag_keys``: see :func:`exact_duplicate_groups`.
    """
    texts = normalised_texts(examples)
    groups = exact_duplicate_groups(examples, texts=texts, tag_keys=tag_keys)
    if embeddings is None:
        return DuplicateIndex(groups=groups, pairs=neighbour_pairs(np.zeros((0, 1))), has_embeddings=False)
    # One representative row per distinct text: a group joins near pairs once, not size^2 times.
    _, representatives = np.unique(texts, return_index=True)
    pairs = neighbour_pairs(
        embeddings, min_similarity=min_similarity, n_neighbors=n_neighbors, rows=np.sort(representatives), centre=centre
    )
    return DuplicateIndex(groups=groups, pairs=pairs, has_embeddings=True)


def joined_tags(gold_tags: pa.ChunkedArray) -> npt.NDArray[np.object_]:
    """Each example's gold tags joined by spaces (the ``tag_keys`` of :func:`exact_duplicate_groups`),
    joined in Arrow: no Python list per example."""
    import pyarrow.compute as pc

    joined: npt.NDArray[np.object_] = pc.binary_join(gold_tags, " ").to_numpy(zero_copy_only=False)
    return joined


def duplicate_findings(
    examples: pd.DataFrame, embeddings: npt.NDArray[np.floating[Any]] | None, *, tag_keys: TagKeys | None = None
) -> DuplicateFindings:
    """What Find duplicates lists: the exact groups, and with ``embeddings`` the near pairs at
    ``LOWEST_THRESHOLD`` with their label conflicts (``examples``: ``example_id, words, gold_tags``;
    without embeddings ``example_id, text`` and ``tag_keys`` suffice)."""
    if embeddings is None:
        return DuplicateFindings(groups=duplicate_index(examples, None, tag_keys=tag_keys).groups, near=None)
    found = duplicate_index(examples, embeddings, min_similarity=LOWEST_THRESHOLD, tag_keys=tag_keys)
    return DuplicateFindings(groups=found.groups, near=found.near(examples, threshold=LOWEST_THRESHOLD))


# --- across caches ------------------------------------------------------------------------------


def leakage(
    evaluation: pd.DataFrame,
    training: pd.DataFrame,
    *,
    evaluation_embeddings: np.ndarray | None = None,
    training_embeddings: np.ndarray | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    centre: bool = True,
) -> pd.DataFrame:
    """Examples of ``evaluation`` that also occur in ``training``.

    Parameters
    ----------
    evaluation, training : DataFrame
        ``example_id, words, gold_tags`` of the two caches.
    evaluation_embeddings, training_embeddings : ndarray, optional
        Their example embeddings, from the same model (else only exact matches are found).
    threshold : float
        Cosine similarity of a near match.
    centre : bool
        Centre both on the mean of the training embeddings first (see the module notes).

    Returns
    -------
    DataFrame
        ``example_id`` (evaluation), ``text``, ``match_id`` (a training example), ``kind``
        (``"exact"`` or ``"near"``), ``similarity`` (1.0 for exact), ``matches`` (training examples
        with the same text, for exact), ``same_labels`` (the matched training example has the same
        gold labels, for exact matches; aligned words agree, for near ones). Exact matches first.
    """
    eval_texts, train_texts = normalised_texts(evaluation), normalised_texts(training)
    train_ids = training["example_id"].to_numpy(dtype=np.int64)
    first_of_text: dict[str, int] = {}
    count_of_text: dict[str, int] = {}
    for position, text in enumerate(train_texts):
        first_of_text.setdefault(text, position)
        count_of_text[text] = count_of_text.get(text, 0) + 1
    records = []
    exact = np.array([text in first_of_text for text in eval_texts], dtype=bool)
    for position in np.flatnonzero(exact).tolist():
        match = first_of_text[eval_texts[position]]
        records.append(
            (
                position,
                match,
                "exact",
                1.0,
                count_of_text[eval_texts[position]],
                _tag_key(evaluation["gold_tags"].iloc[position]) == _tag_key(training["gold_tags"].iloc[match]),
            )
        )
    if evaluation_embeddings is not None and training_embeddings is not None and (~exact).any():
        if centre:
            mean = embedding_mean(training_embeddings)
            evaluation_embeddings = centred(evaluation_embeddings, mean=mean)
            training_embeddings = centred(training_embeddings, mean=mean)
        records += _near_matches(
            evaluation,
            training,
            evaluation_embeddings,
            training_embeddings,
            rows=np.flatnonzero(~exact),
            threshold=threshold,
        )
    frame = pd.DataFrame(records, columns=["position", "match", "kind", "similarity", "matches", "same_labels"])
    frame.insert(
        0, "example_id", evaluation["example_id"].to_numpy(dtype=np.int64)[frame["position"].to_numpy(dtype=np.int64)]
    )
    frame["text"] = [_joined(evaluation, p) for p in frame["position"]]
    frame["match_id"] = train_ids[frame["match"].to_numpy(dtype=np.int64)]
    frame = frame.sort_values(["kind", "similarity", "example_id"], ascending=[True, False, True], kind="stable")
    return (
        frame[["example_id", "text", "match_id", "kind", "similarity", "matches", "same_labels"]]
        .astype({"similarity": "float64", "matches": "int64", "same_labels": "bool"})
        .reset_index(drop=True)
    )


def _near_matches(
    evaluation: pd.DataFrame,
    training: pd.DataFrame,
    evaluation_embeddings: np.ndarray,
    training_embeddings: np.ndarray,
    *,
    rows: npt.NDArray[np.int64],
    threshold: float,
) -> list[tuple[int, int, str, float, int, bool]]:
    from sklearn.neighbors import NearestNeighbors

    train_vectors = np.asarray(training_embeddings, dtype=np.float32)
    usable = np.flatnonzero(np.linalg.norm(train_vectors, axis=1) > 0)
    queries = np.asarray(evaluation_embeddings[rows], dtype=np.float32)
    has_direction = np.linalg.norm(queries, axis=1) > 0
    rows, queries = rows[has_direction], queries[has_direction]
    if len(usable) == 0 or len(rows) == 0:
        return []
    index = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(train_vectors[usable])
    distances, neighbours = index.kneighbors(queries)
    records = []
    for position, distance, neighbour in zip(rows, distances[:, 0], neighbours[:, 0]):
        similarity = 1.0 - float(distance)
        if similarity < threshold - 1e-6:
            continue
        match = int(usable[neighbour])
        conflicts = label_conflicts(
            evaluation["words"].iloc[position],
            evaluation["gold_tags"].iloc[position],
            training["words"].iloc[match],
            training["gold_tags"].iloc[match],
        )
        records.append((int(position), match, "near", min(similarity, 1.0), 1, not conflicts))
    return records
