"""The projection quality figures: trustworthiness on a seeded sample and gold-label agreement in 2-D."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.analysis.projection_quality import label_agreement, trustworthiness_on_sample


def clusters(n_per: int = 60, dim: int = 20, seed: int = 0):
    """Three well separated clusters in ``dim`` dimensions, their labels, and a faithful 2-D picture."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.array(["PER", "LOC", "O"]), n_per)
    centres = rng.normal(scale=10.0, size=(3, dim))
    vectors = centres[np.repeat(np.arange(3), n_per)] + rng.normal(size=(3 * n_per, dim))
    faithful = vectors[:, :2] + 0.0  # the first two coordinates keep the clusters apart
    return vectors, labels, faithful


def test_a_faithful_picture_scores_higher_than_a_shuffled_one():
    vectors, labels, faithful = clusters()
    shuffled = np.random.default_rng(1).permutation(faithful)
    assert label_agreement(faithful, labels) > 0.95
    assert label_agreement(shuffled, labels) < 0.5
    assert trustworthiness_on_sample(vectors, faithful) > trustworthiness_on_sample(vectors, shuffled) + 0.2


def test_label_agreement_counts_each_points_neighbours_without_itself():
    coords = np.array([[0, 0], [0, 1], [0, 2], [10, 0], [10, 1], [10, 2]], dtype=float)
    labels = np.array(["A", "A", "B", "B", "B", "B"])
    # k=1: points 0,1 agree with each other; 2's nearest is 1 (A) -> disagree; 3,4,5 agree.
    assert label_agreement(coords, labels, neighbours=1) == pytest.approx(5 / 6)
    # Exact duplicates: a point whose own row is hidden by a twin still does not count itself.
    twins = np.array([[0, 0], [0, 0], [5, 5], [5, 5]], dtype=float)
    assert label_agreement(twins, np.array(["A", "A", "B", "B"]), neighbours=1) == 1.0


def test_trustworthiness_uses_a_seeded_sample():
    vectors, labels, faithful = clusters(n_per=200)
    first = trustworthiness_on_sample(vectors, faithful, sample=100, seed=3)
    assert first == trustworthiness_on_sample(vectors, faithful, sample=100, seed=3)
    assert first != trustworthiness_on_sample(vectors, faithful, sample=100, seed=4)


def test_mismatched_or_too_few_points_are_refused():
    vectors, labels, faithful = clusters(n_per=4)
    with pytest.raises(ValueError, match="vectors for"):
        trustworthiness_on_sample(vectors[:-1], faithful)
    with pytest.raises(ValueError, match="more than 20 points"):
        trustworthiness_on_sample(vectors, faithful)
    with pytest.raises(ValueError, match="labels for"):
        label_agreement(faithful, labels[:-1])
