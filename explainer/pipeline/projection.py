"""Two-dimensional projections and example embeddings: the build step ``projection``.

``explainer build`` runs :func:`build_step` (registered in ``explainer/pipeline/steps.py``) on its temporary
cache directory once the hidden states and the tables are written, before the manifest. It adds these
files (documented with the rest in ``explainer/cache/schema.py``)::

    example_embeddings.npy  float32 [n_examples, hidden_size]  per example, the mean of the last hidden
                            state over its non-special subwords, L2-normalised (row i <-> examples row i;
                            an example without such subwords gets zeros); always written
    word_projection.npy     float32 [n_words, 2]  each word's first subword projected to 2-D
                            (row i <-> row i of words.parquet); not written for ``--projection none``
    example_projection.npy  float32 [n_examples, 2]  the example embeddings projected the same way;
                            not written for ``--projection none``
    projection.json         {"method", "seed", "max_fit", "words": {...}, "examples": {...}}: how each
                            projection was made (points, fitted_on, method, pca_dimensions, umap settings)

Arrays are plain ``.npy`` (``np.load(..., mmap_mode="r", allow_pickle=False)``); nothing is pickled.

``umap``: PCA to 50 dimensions, then UMAP to 2 (started from PCA), all seeded, so a rebuild draws
the same picture. Beyond ``max_fit`` points (``--projection-sample``) UMAP is fitted on a seeded sample
and each other point is placed by its nearest fitted point, moved a little towards the others of its
``PLACE_NEIGHBOURS`` nearest (nearest in the 50-dimensional PCA space; :func:`place_by_neighbours`). UMAP's neighbour graph
is exact, from scikit-learn, so umap-learn compiles only its layout kernels, which are cached on disk
(:func:`umap_class`) and compiled or loaded in a background thread during the forward pass
(:func:`start_warm_up`, called through ``steps.start_warm_ups``). Fewer than ``UMAP_MIN_POINTS`` points are projected
with PCA instead (``projection.json`` says which method each projection used). ``pca``: the first two
principal components. The PCA itself is fitted on at most ``PCA_FIT_ROWS`` seeded rows, which estimates
the components well and bounds the memory.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from explainer.cache.schema import EXAMPLE_EMBEDDINGS, EXAMPLE_PROJECTION, PROJECTION_INFO, WORD_PROJECTION
from explainer.errors import ExplainerError

METHODS = ("umap", "pca", "none")
DEFAULT_MAX_FIT = 10_000  # --projection-sample (BuildOptions.projection_sample): see bench/results/build.md
PCA_DIMENSIONS = 50
PCA_FIT_ROWS = 50_000
CHUNK_ROWS = 32_768
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.1
# UMAP's optimisation epochs (umap-learn's default is 200 above 10,000 points, 500 below): the layout
# pass is most of a fit's time, and 100 epochs already separate the clusters.
UMAP_EPOCHS = 100
# A point outside the fitted sample sits by its nearest fitted point, PLACE_SPREAD of the way towards the
# weighted mean of its PLACE_NEIGHBOURS nearest (place_by_neighbours; measured in bench/results/build_minilm.md).
PLACE_NEIGHBOURS = 5
PLACE_SPREAD = 0.15
# Below this many points the projection is PCA even for --projection umap: the first UMAP build on a machine
# compiles numba kernels (a minute on 2 idle cores, several on a busy machine), which would dwarf the
# build of so small a dataset, and a linear classifier's hidden states separate by label in PCA too.
UMAP_MIN_POINTS = 2_000

FILES = (WORD_PROJECTION, EXAMPLE_PROJECTION, EXAMPLE_EMBEDDINGS, PROJECTION_INFO)


def check_projection_options(method: str, max_fit: int, seed: int = 0) -> None:
    """Refuse an unknown method, a sample too small or an unusable seed, before any costly work.

    Raises
    ------
    ExplainerError
    """
    if method not in METHODS:
        raise ExplainerError(f"--projection {method!r}: choose one of {', '.join(METHODS)}")
    if not isinstance(max_fit, int) or max_fit < 2:
        raise ExplainerError(f"--projection-sample {max_fit}: must be at least 2 (points UMAP is fitted on)")
    if not isinstance(seed, int) or not 0 <= seed < 2**32:  # numpy's and UMAP's seeds are 32-bit unsigned
        raise ExplainerError(f"--seed {seed}: must be an integer from 0 to {2**32 - 1}")


def check_options(options) -> None:
    """The build's early check of ``--projection``, ``--projection-sample`` and ``--seed`` (see steps.py)."""
    check_projection_options(options.projection, options.projection_sample, options.seed)


def build_step(context) -> dict:
    """Write the example embeddings (always) and the projections (unless ``--projection none``) into the
    build's temporary cache; the summary goes to ``manifest["analyses"]["projection"]``."""
    options = context.options
    return add_projections(
        context.writer.path,
        method=options.projection,
        max_fit=options.projection_sample,
        seed=options.seed,
        progress=context.progress,
    )


def add_projections(
    cache_dir: str | Path,
    *,
    hidden=None,
    words=None,
    examples=None,
    subwords=None,
    method: str = "umap",
    max_fit: int = DEFAULT_MAX_FIT,
    seed: int = 0,
    min_umap_points: int | None = None,
    progress: bool = False,
) -> dict:
    """Write the example embeddings and the word and example projections into ``cache_dir``.

    Parameters
    ----------
    cache_dir : str or Path
        The (temporary) cache directory; ``hidden.npy`` and the tables must already be there when
        the corresponding argument is not given.
    hidden : array-like, optional
        ``[n_subwords, hidden_size]`` last hidden state (the build's float16 memmap). Default: read
        ``hidden.npy`` memory-mapped.
    words, examples, subwords : pandas.DataFrame or pyarrow.Table, optional
        The tables (only ``words.subword_row``, ``subwords.example_id``/``word_index`` and the number
        of examples are used). Default: read from the Parquet files.
    method : {"umap", "pca", "none"}
        ``"none"`` writes only the example embeddings (Find duplicates needs them).
    max_fit : int
        Most points UMAP is fitted on; the rest are placed by their nearest fitted points.
    seed : int
        Seeds the samples, the PCA and UMAP.
    min_umap_points : int, optional
        Fewer points than this are projected with PCA even for ``"umap"`` (default ``UMAP_MIN_POINTS``).
    progress : bool
        A tqdm bar on stderr, one step per stage.

    Returns
    -------
    dict
        ``{"settings": {...}, "timings": {...}}`` for the manifest (settings as in projection.json,
        seconds per stage: example_embeddings, word_projection (of which word_pca, word_fit,
        word_place), example_projection, total).

    Raises
    ------
    ExplainerError
        On an unknown method, a ``max_fit`` below 2, or arrays that do not match the tables.
    """
    check_projection_options(method, max_fit, seed)
    cache_dir = Path(cache_dir)
    hidden = np.load(cache_dir / "hidden.npy", mmap_mode="r", allow_pickle=False) if hidden is None else hidden
    subword_rows = _column(words if words is not None else _read(cache_dir, "words", ["subword_row"]), "subword_row")
    subword_table = subwords if subwords is not None else _read(cache_dir, "subwords", ["example_id", "word_index"])
    example_of_subword = _column(subword_table, "example_id")
    special = _column(subword_table, "word_index") < 0
    n_examples = _n_rows(examples if examples is not None else _read(cache_dir, "examples", ["example_id"]))
    _check_shapes(hidden, n_subwords=len(example_of_subword), subword_rows=subword_rows)
    min_umap_points = UMAP_MIN_POINTS if min_umap_points is None else min_umap_points

    from tqdm import tqdm

    n_steps = (
        1
        if method == "none"
        else 1 + sum(_steps(n, method, max_fit, min_umap_points) for n in (len(subword_rows), n_examples))
    )
    with tqdm(total=n_steps, desc="projection", unit="step", file=sys.stderr, disable=not progress, leave=False) as bar:

        def report(stage: str) -> None:
            bar.set_postfix_str(stage, refresh=False)
            bar.update(1)

        timings = {}
        started = time.perf_counter()
        embeddings = example_embeddings(hidden, example_ids=example_of_subword, keep=~special, n_examples=n_examples)
        np.save(cache_dir / EXAMPLE_EMBEDDINGS, embeddings, allow_pickle=False)
        timings["example_embeddings"] = time.perf_counter() - started
        report("example embeddings")
        settings = {"method": method, "seed": seed, "max_fit": max_fit}
        if method != "none":
            project_points = functools.partial(
                project, method=method, max_fit=max_fit, seed=seed, min_umap_points=min_umap_points, report=report
            )
            mark = time.perf_counter()
            gather_words = lambda rows: np.asarray(hidden[subword_rows[rows]], dtype=np.float32)
            stages: dict[str, float] = {}
            coords, settings["words"] = project_points(gather_words, len(subword_rows), timings=stages)
            np.save(cache_dir / WORD_PROJECTION, coords, allow_pickle=False)
            timings["word_projection"] = time.perf_counter() - mark
            timings.update({f"word_{stage}": seconds for stage, seconds in stages.items()})
            mark = time.perf_counter()
            coords, settings["examples"] = project_points(lambda rows: embeddings[rows], n_examples)
            np.save(cache_dir / EXAMPLE_PROJECTION, coords, allow_pickle=False)
            timings["example_projection"] = time.perf_counter() - mark
        (cache_dir / PROJECTION_INFO).write_text(json.dumps(settings, indent=1), encoding="utf-8")
        timings["total"] = time.perf_counter() - started
    return {"settings": settings, "timings": {stage: round(seconds, 3) for stage, seconds in timings.items()}}


def example_embeddings(
    hidden, *, example_ids: np.ndarray, keep: np.ndarray, n_examples: int, chunk_rows: int = CHUNK_ROWS
) -> np.ndarray:
    """Per example, the L2-normalised mean of the hidden states of its kept subwords.

    Parameters
    ----------
    hidden : array-like
        ``[n_subwords, hidden_size]``, read ``chunk_rows`` rows at a time (a memmap stays on disk).
    example_ids : ndarray of int
        The example of each subword row (rows of one example are contiguous, as in the cache).
    keep : ndarray of bool
        Subwords that count (the build passes: not a special token).
    n_examples : int

    Returns
    -------
    ndarray
        float32 ``[n_examples, hidden_size]``; rows of unit length, or zeros for an example with no
        kept subword. (Normalising the sum equals normalising the mean.)
    """
    from scipy.sparse import csr_matrix

    example_ids = np.asarray(example_ids, dtype=np.int64)
    sums = np.zeros((n_examples, hidden.shape[1]), dtype=np.float64)
    for start in range(0, len(example_ids), chunk_rows):
        stop = min(start + chunk_rows, len(example_ids))
        kept = np.flatnonzero(keep[start:stop])
        if len(kept) == 0:
            continue
        ids = example_ids[start:stop][kept]
        first = int(ids.min())
        # A 0/1 matrix [examples in this chunk, kept rows] sums each example's rows in one product.
        indicator = csr_matrix(
            (np.ones(len(kept)), (ids - first, np.arange(len(kept)))), shape=(int(ids.max()) - first + 1, len(kept))
        )
        block = np.asarray(hidden[start:stop], dtype=np.float64)[kept]
        sums[first : first + indicator.shape[0]] += indicator @ block
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0).astype(np.float32)


def project(
    gather: Callable[[np.ndarray], np.ndarray],
    n_points: int,
    *,
    method: str,
    max_fit: int = DEFAULT_MAX_FIT,
    seed: int = 0,
    min_umap_points: int = UMAP_MIN_POINTS,
    chunk_rows: int = CHUNK_ROWS,
    report: Callable[[str], None] | None = None,
    timings: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Project ``n_points`` vectors to two dimensions.

    Parameters
    ----------
    gather : callable
        ``gather(rows) -> float32 [len(rows), dim]``: the vectors of the given (sorted) row numbers,
        so the caller never holds all of them in memory at full width.
    n_points : int
    method : {"umap", "pca"}
    max_fit, seed : int
        See :func:`add_projections`.
    min_umap_points : int
        Below this many points ``"umap"`` falls back to PCA (see ``UMAP_MIN_POINTS``).
    report : callable, optional
        Called with the name of each finished stage (``_steps`` of them), for a progress bar.
    timings : dict, optional
        Filled with the seconds of each stage: ``pca``, and for UMAP ``fit`` and ``place``.

    Returns
    -------
    coords : ndarray
        float32 ``[n_points, 2]``.
    info : dict
        ``{"points", "fitted_on", "method", "pca_dimensions"}`` (and UMAP's settings); ``method`` is
        ``"pca"`` when UMAP had too few points.
    """
    from sklearn.decomposition import PCA

    report = report or (lambda stage: None)
    timings = {} if timings is None else timings
    started = time.perf_counter()
    if n_points < 2:  # nothing to spread out: a lone point sits at the origin
        report("pca")
        return np.zeros((n_points, 2), dtype=np.float32), {"points": n_points, "fitted_on": 0, "method": "pca"}
    use_umap = method == "umap" and n_points >= max(min_umap_points, UMAP_NEIGHBOURS + 2)
    rng = np.random.default_rng(seed)
    pca_rows = _sample(rng, n_points, PCA_FIT_ROWS)
    fit_vectors = gather(pca_rows)
    wanted = PCA_DIMENSIONS if use_umap else 2
    dimensions = max(1, min(wanted, len(pca_rows), fit_vectors.shape[1]))
    pca = PCA(n_components=dimensions, random_state=seed).fit(fit_vectors)
    reduced = np.concatenate(
        [
            pca.transform(gather(np.arange(start, min(start + chunk_rows, n_points))))
            for start in range(0, n_points, chunk_rows)
        ]
    ).astype(np.float32)
    report("pca")
    timings["pca"] = time.perf_counter() - started
    if not use_umap:
        return _two_columns(reduced), {
            "points": n_points,
            "fitted_on": len(pca_rows),
            "method": "pca",
            "pca_dimensions": dimensions,
        }
    fit_rows = _sample(rng, n_points, max_fit)
    coords = np.empty((n_points, 2), dtype=np.float32)
    mark = time.perf_counter()
    wait_for_warm_up()  # started before the forward pass: the kernels are compiled (or loaded) by now
    index = _neighbour_index(reduced[fit_rows])
    coords[fit_rows] = fit_umap(reduced[fit_rows], seed=seed, index=index)
    report(f"umap fit on {len(fit_rows):,}")
    timings["fit"] = time.perf_counter() - mark
    mark = time.perf_counter()
    rest = np.setdiff1d(np.arange(n_points), fit_rows, assume_unique=True)
    for start in range(0, len(rest), chunk_rows):
        rows = rest[start : start + chunk_rows]
        distances, neighbours = index.kneighbors(reduced[rows], n_neighbors=min(PLACE_NEIGHBOURS, len(fit_rows)))
        coords[rows] = place_by_neighbours(coords[fit_rows], neighbours, distances)
        report("placed by neighbours")
    timings["place"] = time.perf_counter() - mark
    return coords, {
        "points": n_points,
        "fitted_on": len(fit_rows),
        "method": "umap",
        "pca_dimensions": dimensions,
        "umap": {"n_neighbors": UMAP_NEIGHBOURS, "min_dist": UMAP_MIN_DIST, "n_epochs": UMAP_EPOCHS},
        "placed_by": f"nearest fitted point, {PLACE_SPREAD} towards the mean of the {PLACE_NEIGHBOURS} nearest",
    }


def place_by_neighbours(
    fitted_coords: np.ndarray, neighbours: np.ndarray, distances: np.ndarray, *, spread: float = PLACE_SPREAD
) -> np.ndarray:
    """Place points beside their nearest fitted point, moved ``spread`` of the way towards the
    inverse-distance weighted mean of all their given fitted neighbours.

    On its nearest fitted point, a word keeps the company it has in the hidden states (the weighted
    mean alone, as umap-learn's ``transform`` starts, pulls points between clusters: gold-label
    agreement fell by 0.05 on CoNLL-2003 test); the small move keeps placed points from stacking.

    Parameters
    ----------
    fitted_coords : ndarray
        ``[n_fitted, 2]`` the positions of the fitted points.
    neighbours : ndarray of int
        ``[n, k]`` for each point to place, rows of ``fitted_coords``, nearest first.
    distances : ndarray
        ``[n, k]`` the distances to those points in the space they were found in; a point at distance
        0 from one (a duplicate) lands on it.
    spread : float
        0 puts each point on its nearest fitted point, 1 at the weighted mean.

    Returns
    -------
    ndarray
        float32 ``[n, 2]``.

    Examples
    --------
    >>> fitted = np.array([[0.0, 0.0], [4.0, 0.0]])
    >>> place_by_neighbours(fitted, np.array([[0, 1]]), np.array([[1.0, 3.0]]), spread=1.0)
    array([[1., 0.]], dtype=float32)
    """
    distances = np.asarray(distances, dtype=np.float64)
    fitted_coords = np.asarray(fitted_coords, dtype=np.float64)
    exact = distances <= 0
    # A duplicate of a fitted point takes its place; otherwise each neighbour counts as 1 / distance.
    weights = np.where(exact.any(axis=1, keepdims=True), exact, 1.0 / np.where(exact, 1.0, distances))
    weights /= weights.sum(axis=1, keepdims=True)
    mean = np.einsum("nk,nkd->nd", weights, fitted_coords[neighbours])
    nearest = fitted_coords[neighbours[:, 0]]
    return (nearest + spread * (mean - nearest)).astype(np.float32)


def fit_umap(points: np.ndarray, *, seed: int, index=None) -> np.ndarray:
    """UMAP's 2-D layout of ``points`` (float32 ``[n, dim]``, n > ``UMAP_NEIGHBOURS``), seeded.

    The neighbour graph is exact, from scikit-learn (``index``: a fitted ``NearestNeighbors`` of
    ``points``, made here when not given), and handed to UMAP as ``precomputed_knn``: on the few
    thousand points UMAP is fitted on, this is faster than umap-learn's own search, and it spares
    compiling pynndescent's kernels.
    """
    index = _neighbour_index(points) if index is None else index
    distances, neighbours = index.kneighbors(points, n_neighbors=UMAP_NEIGHBOURS)
    reducer = _umap(seed, precomputed_knn=(neighbours.astype(np.int32), distances.astype(np.float32)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no search index: transform unavailable" (we do not call it)
        return np.asarray(reducer.fit_transform(points), dtype=np.float32)


def _neighbour_index(points: np.ndarray):
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=UMAP_NEIGHBOURS).fit(points)


def _steps(n_points: int, method: str, max_fit: int, min_umap_points: int, chunk_rows: int = CHUNK_ROWS) -> int:
    """How many times :func:`project` reports a stage for these settings."""
    if method != "umap" or n_points < max(min_umap_points, UMAP_NEIGHBOURS + 2):
        return 1
    return 2 + math.ceil(max(n_points - max_fit, 0) / chunk_rows)


def _umap(seed: int, *, precomputed_knn):
    UMAP = umap_class()
    # n_jobs=1: a seeded UMAP runs single-threaded anyway (it warns otherwise). init="pca": the default
    # spectral start took 110 of 175 s on 50k CoNLL words, and fails on a random model's hidden states.
    return UMAP(
        n_components=2,
        n_neighbors=UMAP_NEIGHBOURS,
        min_dist=UMAP_MIN_DIST,
        n_epochs=UMAP_EPOCHS,
        init="pca",
        precomputed_knn=precomputed_knn,
        random_state=seed,
        n_jobs=1,
        verbose=False,
    )


_UMAP_IMPORT = threading.Lock()


@functools.cache
def umap_class():
    """umap-learn's ``UMAP``, imported with numba's on-disk cache on for its kernels.

    umap-learn compiles its numba kernels in every process (tens of seconds on 2 cores, minutes on a
    busy machine) and marks few of them ``cache=True``. Caching is switched on here for the kernels of
    the umap modules a fit uses, so only the first build on a machine (or after an upgrade of
    umap-learn or numba) compiles them; later builds load them from disk. numba's own cache places
    apply: ``$NUMBA_CACHE_DIR`` when set, else ``__pycache__`` beside umap's source when writable,
    else the user's cache directory (``~/.cache/numba``). pynndescent, imported by umap, caches its own.
    """
    with _UMAP_IMPORT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba and umap announce their own internals at import
            import umap.distances
            import umap.layouts
            import umap.umap_
            import umap.utils
            from numba.core.caching import NullCache
            from numba.core.dispatcher import Dispatcher

            for module in (umap.umap_, umap.layouts, umap.utils, umap.distances):
                for kernel in vars(module).values():
                    if isinstance(kernel, Dispatcher) and isinstance(kernel._cache, NullCache):
                        kernel.enable_caching()  # what numba.njit(cache=True) does at decoration
        return umap.UMAP


# The build's warm-up thread (one per process): started before the forward pass, joined by the fit.
_warm_up: threading.Thread | None = None


def warm_up() -> None:
    """Compile (first build on a machine) or load from disk (later builds) UMAP's kernels: a tiny fit
    through the same code path, and so the same argument types, as :func:`project`'s."""
    points = np.random.default_rng(0).normal(size=(4 * UMAP_NEIGHBOURS, PCA_DIMENSIONS)).astype(np.float32)
    fit_umap(points, seed=0)


def start_warm_up(options, prepared) -> None:
    """Warm UMAP up in a background thread while the forward pass runs, when the build will use it
    (``--projection umap`` on at least ``UMAP_MIN_POINTS`` words). The forward pass leaves a GPU
    machine's CPU idle; on a CPU-only one the two share the cores but still overlap."""
    global _warm_up
    n_words = sum(len(example.words) for example in prepared.aligned.examples)
    if options.projection != "umap" or n_words < UMAP_MIN_POINTS or _warm_up is not None:
        return
    _warm_up = threading.Thread(target=_warm_up_quietly, name="umap-warm-up", daemon=True)
    _warm_up.start()


def wait_for_warm_up() -> None:
    """Wait for a warm-up thread started by :func:`start_warm_up`, if any (the fit then needs no compiling)."""
    if _warm_up is not None:
        _warm_up.join()


def _warm_up_quietly() -> None:
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - the fit itself compiles, and reports any real error, later
        pass


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``min(size, n)`` distinct sorted row numbers (all of them when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _two_columns(reduced: np.ndarray) -> np.ndarray:
    """The first two columns, zero-padded when there is only one (a single point or a 1-D hidden state)."""
    coords = np.zeros((len(reduced), 2), dtype=np.float32)
    coords[:, : min(2, reduced.shape[1])] = reduced[:, :2]
    return coords


def _check_shapes(hidden, *, n_subwords: int, subword_rows: np.ndarray) -> None:
    if getattr(hidden, "ndim", 0) != 2 or hidden.shape[0] != n_subwords:
        raise ExplainerError(
            f"hidden states of shape {getattr(hidden, 'shape', None)} do not match the "
            f"{n_subwords} subwords of the subwords table; rebuild the cache"
        )
    if len(subword_rows) and (subword_rows.min() < 0 or subword_rows.max() >= n_subwords):
        raise ExplainerError("words.subword_row points outside the subwords table; rebuild the cache")


def _read(cache_dir: Path, table: str, columns: list[str]):
    import pyarrow.parquet as pq

    return pq.read_table(cache_dir / f"{table}.parquet", columns=columns)


def _column(table, name: str) -> np.ndarray:
    """A column of a pandas DataFrame or a pyarrow Table as a numpy array."""
    return np.asarray(table[name].to_numpy())  # a pandas Series and a pyarrow ChunkedArray both have it


def _n_rows(table) -> int:
    return int(table.num_rows) if hasattr(table, "num_rows") else len(table)
