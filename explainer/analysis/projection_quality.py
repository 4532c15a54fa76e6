"""How faithful a 2-D projection is to the vectors it was drawn from (pure numpy / scikit-learn).

Two figures, both in [0, 1], higher is better, so a faster projection cannot silently draw a worse
picture (``bench/build.py`` reports them beside the build's time):

- ``trustworthiness``: scikit-learn's :func:`sklearn.manifold.trustworthiness` with k=10 on a seeded
  sample of points: are the 2-D neighbours of a point also near it in the original space?
- ``label_agreement``: for each point, the share of its k=10 nearest neighbours in 2-D that have the
  same gold label, averaged over the points: do words of one type sit together in the picture?
"""

from __future__ import annotations

import numpy as np

QUALITY_NEIGHBOURS = 10
TRUSTWORTHINESS_SAMPLE = 3_000  # trustworthiness ranks all pairwise distances of the sample: O(n^2)
QUALITY_STREAM = 7  # the sample's own random stream (see _seeded_rows)


def trustworthiness_on_sample(
    vectors: np.ndarray,
    coords: np.ndarray,
    *,
    sample: int = TRUSTWORTHINESS_SAMPLE,
    neighbours: int = QUALITY_NEIGHBOURS,
    seed: int = 0,
) -> float:
    """scikit-learn's trustworthiness (k = ``neighbours``) of ``coords`` for ``vectors``, on a seeded sample.

    Parameters
    ----------
    vectors : ndarray
        ``[n, dim]`` the original vectors (e.g. the words' hidden states).
    coords : ndarray
        ``[n, 2]`` their projection, row for row.
    sample : int
        At most this many rows, drawn without replacement with ``seed``.

    Returns
    -------
    float
        In [0, 1]; 1 when every 2-D neighbour is also a neighbour in the original space.
    """
    from sklearn.manifold import trustworthiness

    _check_rows(vectors, coords)
    rows = _seeded_rows(len(coords), sample, seed)
    if len(rows) <= 2 * neighbours:  # sklearn requires n_neighbors < n_samples / 2
        raise ValueError(f"trustworthiness needs more than {2 * neighbours} points, got {len(rows)}")
    return float(
        trustworthiness(
            np.asarray(vectors[rows], dtype=np.float32),
            np.asarray(coords[rows], dtype=np.float32),
            n_neighbors=neighbours,
        )
    )


def label_agreement(coords: np.ndarray, labels: np.ndarray, *, neighbours: int = QUALITY_NEIGHBOURS) -> float:
    """Mean share of each point's ``neighbours`` nearest 2-D neighbours (itself excluded) with its label.

    Parameters
    ----------
    coords : ndarray
        ``[n, 2]`` projected points.
    labels : array-like
        ``[n]`` the gold label of each point (any hashable values).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> coords = np.array([[0, 0], [0, 1], [10, 0], [10, 1]], dtype=float)
    >>> label_agreement(coords, np.array(["A", "A", "B", "B"]), neighbours=1)
    1.0
    """
    from sklearn.neighbors import NearestNeighbors

    coords = np.asarray(coords, dtype=np.float64)
    codes = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
    if len(codes) != len(coords):
        raise ValueError(f"{len(codes)} labels for {len(coords)} points")
    if len(coords) <= neighbours:
        raise ValueError(f"label agreement needs more than {neighbours} points, got {len(coords)}")
    # neighbours + 1: the query points are the fitted points, so each finds itself first (or a duplicate).
    index = NearestNeighbors(n_neighbors=neighbours + 1).fit(coords)
    found = index.kneighbors(coords, return_distance=False)
    others = _drop_self(found, neighbours)
    return float((codes[others] == codes[:, None]).mean())


def _drop_self(found: np.ndarray, neighbours: int) -> np.ndarray:
    """Each row's first ``neighbours`` entries other than its own row number (ties may put it anywhere)."""
    rows = np.arange(len(found))[:, None]
    is_self = found == rows
    # Rows that found themselves drop that entry; the others (self hidden by exact duplicates) drop the last.
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    others: np.ndarray = found[keep].reshape(len(found), neighbours)
    return others


def _seeded_rows(n: int, size: int, seed: int) -> np.ndarray:
    """A seeded sample drawn from its own stream: ``default_rng(seed)`` would draw the very rows the
    projection was fitted on (its sample starts the same way), and flatter the placed points."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, QUALITY_STREAM]).choice(n, size=size, replace=False))


def _check_rows(vectors: np.ndarray, coords: np.ndarray) -> None:
    if len(vectors) != len(coords):
        raise ValueError(f"{len(vectors)} vectors for {len(coords)} projected points")
