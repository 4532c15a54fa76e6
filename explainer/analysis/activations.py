"""Non-negative matrix factorisation of feed-forward neuron activations, as the Ecco library does.

The build stores, for a seeded sample of examples, every layer's FFN activations after the
non-linearity (``activations.npy`` [n_layers, n_positions, d_ff], see explainer/pipeline/activations.py).
Here the chosen layers are laid side by side into a positions x neurons matrix, negatives clipped to
zero (GELU's small negative outputs, as Ecco does), and scikit-learn's ``NMF`` splits it into a few
components: groups of neurons that fire together, each with an activation at every position.

Speed (a factorisation over all layers must take seconds, not a minute): NMF is *fitted* on at most
``FIT_POSITIONS`` seeded positions and on the neurons that carry ``ENERGY_KEPT`` of the squared
activation (most neurons barely fire: on the demo model 3,192 of 9,216 hold 90%), then every position
is placed with ``transform``. The component activations are what the app shows, per word (the
largest over the word's subwords), scaled so that each component's largest value in the sample is 1.

Results are memoised in a small thread-safe LRU (:class:`explainer.app.memo.LruMemo`); the app keeps one per
opened cache, so the key is (layers, components, seed) and a rebuilt cache starts afresh.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainer.cache.artefacts import Factorisation
from explainer.errors import ExplainerError

MIN_COMPONENTS, MAX_COMPONENTS = 2, 10
DEFAULT_COMPONENTS = 5
FIT_POSITIONS = 2_000
ENERGY_KEPT = 0.9
TOP_OCCURRENCES = 50  # a component's top words are counted among its this many strongest word occurrences
CHUNK_ROWS = 4_096
# Coordinate descent stops when an iteration improves the fit by less than NMF_TOL of the first one. 1e-2
# rather than 1e-3 halves the iterations (27 against 57 on the demo's sample) for the same reconstruction
# error to 3 digits and the same components (cosine >= 0.99 there; tests/analysis/test_activations_nmf.py).
NMF_TOL = 1e-2
NMF_MAX_ITER = 200


def factorisation_seed(manifest: dict[str, Any], summary: dict[str, Any]) -> int:
    """The seed of a cache's factorisations: its activation sample's (``summary``), else the build's."""
    return int(summary.get("seed", manifest.get("settings", {}).get("seed", 0)) or 0)


def parse_layers(text: str | None, n_layers: int) -> tuple[int, ...]:
    """Layers from ``"all"``, ``"3"`` or ``"1-4"`` (0-based, inclusive), clamped to the model's layers.

    Anything unreadable (URLs are user input) means all layers.
    """
    everything = tuple(range(n_layers))
    parts = str(text or "all").split("-")
    if len(parts) > 2:
        return everything
    try:
        first, last = int(parts[0]), int(parts[-1])
    except ValueError:
        return everything
    first, last = sorted((min(max(first, 0), n_layers - 1), min(max(last, 0), n_layers - 1)))
    return tuple(range(first, last + 1))


def format_layers(layers: tuple[int, ...], n_layers: int) -> str:
    """The inverse of :func:`parse_layers`: ``"all"``, ``"3"`` or ``"1-4"``."""
    if len(layers) == n_layers:
        return "all"
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def gather(
    activations: npt.NDArray[Any], layers: tuple[int, ...], rows: np.ndarray, neurons: np.ndarray | None = None
) -> np.ndarray:
    """float32 ``[len(rows), n]``: the layers side by side (optionally only the flat ``neurons`` columns),
    negatives clipped to 0."""
    d_ff = activations.shape[2]
    blocks = []
    for offset, layer in enumerate(layers):
        block = np.asarray(activations[layer, rows])
        if neurons is not None:  # pick the columns while still float16: half the bytes to convert
            block = block[:, neurons[(neurons >= offset * d_ff) & (neurons < (offset + 1) * d_ff)] - offset * d_ff]
        blocks.append(block)
    matrix = np.concatenate(blocks, axis=1).astype(np.float32)
    return np.maximum(matrix, 0, out=matrix)


def factorise(
    activations: npt.NDArray[Any],
    *,
    layers: tuple[int, ...],
    n_components: int = DEFAULT_COMPONENTS,
    seed: int = 0,
    fit_positions: int = FIT_POSITIONS,
    energy: float = ENERGY_KEPT,
) -> Factorisation:
    """NMF of the FFN activations of ``layers``.

    Parameters
    ----------
    activations : array-like
        ``[n_layers, n_positions, d_ff]`` (the cache's float16 memory map: only the rows needed are read).
    layers : tuple of int
    n_components : int
        2 to 10.
    seed : int
        Seeds the sample of fitted positions and NMF's initialisation.
    fit_positions : int
        Most positions NMF is fitted on; the others are placed with ``transform``.
    energy : float
        Fraction of the squared activation kept when choosing the neurons to fit on (1.0 keeps all).

    Returns
    -------
    Factorisation

    Raises
    ------
    ExplainerError
        On a number of components outside 2..10, a layer that does not exist, or a sample too small.
    """
    from sklearn.decomposition import non_negative_factorization
    from sklearn.exceptions import ConvergenceWarning

    started = time.perf_counter()
    n_layers, n_positions = activations.shape[0], activations.shape[1]
    if not MIN_COMPONENTS <= n_components <= MAX_COMPONENTS:
        raise ExplainerError(f"number of components {n_components}: choose {MIN_COMPONENTS} to {MAX_COMPONENTS}")
    if not layers or min(layers) < 0 or max(layers) >= n_layers:
        raise ExplainerError(f"layers {list(layers)}: the cache has layers 0 to {n_layers - 1}")
    rng = np.random.default_rng(seed)
    fit_rows = (
        np.arange(n_positions)
        if n_positions <= fit_positions
        else np.sort(rng.choice(n_positions, size=fit_positions, replace=False))
    )
    # Energies one layer at a time, then only the chosen neurons in float32: a BERT-base sample of all
    # 12 x 3,072 neurons would otherwise pass through memory whole.
    squares = np.concatenate([_squared_sums(activations, layer, fit_rows) for layer in layers])
    neurons = energetic_neurons(squares, energy=energy, at_least=n_components)
    sample = gather(activations, layers, fit_rows, neurons)
    if len(fit_rows) < n_components or len(neurons) < n_components:
        raise ExplainerError(
            f"the activation sample has {len(fit_rows)} positions and {len(neurons)} active "
            f"neurons, too few for {n_components} components; rebuild with a larger "
            "--activations-sample"
        )
    # The function rather than the NMF estimator: the estimator's fit also computes the reconstruction
    # error (a dense positions x neurons product), which nothing here reads.
    settings = dict(n_components=n_components, solver="cd", tol=NMF_TOL, max_iter=NMF_MAX_ITER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few components of the sample need no exact optimum
        _, components, _ = non_negative_factorization(sample, init="nndsvda", random_state=seed, **settings)
        # Each position's weights with the components fixed: what NMF.transform does.
        weights = np.concatenate(
            [
                non_negative_factorization(
                    gather(activations, layers, np.arange(start, min(start + CHUNK_ROWS, n_positions)), neurons),
                    H=components,
                    update_H=False,
                    **settings,
                )[0]
                for start in range(0, n_positions, CHUNK_ROWS)
            ]
        ).astype(np.float32)
    return Factorisation(
        layers=tuple(layers),
        n_components=n_components,
        seed=seed,
        weights=weights,
        components=components.astype(np.float32),
        neurons=neurons,
        fitted_on=len(fit_rows),
        seconds=time.perf_counter() - started,
    )


def _squared_sums(activations: npt.NDArray[Any], layer: int, rows: np.ndarray) -> npt.NDArray[np.float64]:
    block = np.maximum(np.asarray(activations[layer, rows], dtype=np.float32), 0)
    sums: npt.NDArray[np.float64] = np.einsum("ij,ij->j", block, block, dtype=np.float64)
    return sums


def energetic_neurons(squares: np.ndarray, *, energy: float, at_least: int = 1) -> np.ndarray:
    """Sorted neurons that together carry ``energy`` of the total, given each one's sum of squared activations.

    The largest are taken first; neurons that never fire are never kept; at least ``at_least`` are when
    that many fire.
    """
    squares = np.asarray(squares, dtype=np.float64)
    order = np.argsort(-squares, kind="stable")
    total = squares.sum()
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    needed = int(np.searchsorted(np.cumsum(squares[order]), energy * total * (1 - 1e-12))) + 1
    count = min(max(needed, at_least), int((squares > 0).sum()))
    return np.sort(order[:count])


@dataclass(frozen=True)
class ComponentView:
    """What the section shows of one factorisation.

    ``words``: one row per word occurrence of the sample (example_id, word_index, word, then ``c0``..
    ``c{k-1}``: each component's activation, the largest over the word's subwords, divided by that
    component's largest value in the sample, so 0..1). ``top_words``: component, word, count (among the
    component's ``TOP_OCCURRENCES`` strongest occurrences), occurrences (of the word in the sample),
    mean (its mean scaled activation there), rank.
    """

    factorisation: Factorisation
    words: pd.DataFrame
    top_words: pd.DataFrame

    @property
    def columns(self) -> list[str]:
        return [f"c{index}" for index in range(self.factorisation.n_components)]

    def example(self, example_id: int) -> pd.DataFrame:
        """The word rows of one example, in word order (empty if it is not in the sample)."""
        rows = self.words[self.words["example_id"] == example_id]
        return rows.sort_values("word_index")

    def label(self, component: int, n: int = 3) -> str:
        """The component's first ``n`` top words, for a heading (e.g. ``"@ · # · rt"``)."""
        words = self.top_words.loc[self.top_words["component"] == component, "word"].head(n)
        return " · ".join(words)


def component_view(
    factorisation: Factorisation,
    positions: pd.DataFrame,
    words: pd.DataFrame,
    *,
    top_occurrences: int = TOP_OCCURRENCES,
) -> ComponentView:
    """Component activations per word occurrence and each component's top words.

    Parameters
    ----------
    factorisation : Factorisation
    positions : DataFrame
        ``activation_positions.parquet``: example_id, word_index per row of the weights.
    words : DataFrame
        ``words.parquet`` (example_id, word_index, word), or at least the sampled examples' rows.
    top_occurrences : int
    """
    columns = [f"c{index}" for index in range(factorisation.n_components)]
    per_position = pd.DataFrame(factorisation.weights, columns=columns)
    per_position["example_id"] = positions["example_id"].to_numpy()
    per_position["word_index"] = positions["word_index"].to_numpy()
    per_word = per_position.groupby(["example_id", "word_index"], sort=True).max().reset_index()
    peaks = per_word[columns].max().replace(0, 1.0)
    per_word[columns] = (per_word[columns] / peaks).astype(np.float32)
    per_word = per_word.merge(words[["example_id", "word_index", "word"]], on=["example_id", "word_index"], how="left")
    per_word["word"] = per_word["word"].fillna("")
    keys = per_word["word"].str.lower()
    occurrences = keys.value_counts()
    tables = []
    for component, column in enumerate(columns):
        strongest = per_word.nlargest(min(top_occurrences, len(per_word)), column)
        strongest = strongest[strongest[column] > 0]
        grouped = (
            strongest.assign(key=keys[strongest.index])
            .groupby("key")
            .agg(count=(column, "size"), mean=(column, "mean"))
            .reset_index()
        )
        grouped["occurrences"] = occurrences.reindex(grouped["key"]).to_numpy()
        grouped = grouped.sort_values(["count", "mean"], ascending=False, kind="stable")
        grouped.insert(0, "component", component)
        grouped["rank"] = np.arange(1, len(grouped) + 1)
        tables.append(grouped.rename(columns={"key": "word"}))
    top = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return ComponentView(factorisation=factorisation, words=per_word, top_words=top)
