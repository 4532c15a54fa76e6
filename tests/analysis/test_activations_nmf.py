"""The factorisation's solver settings (explainer/analysis/activations.py): faster, same result."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from explainer.analysis import activations
from explainer.analysis.activations import factorise, gather


def ffn_like(n_positions=1_500, d_ff=200, n_layers=2, n_factors=8, seed=0):
    """Non-negative low-rank activations with noise and GELU-like small negatives, float16 like the cache."""
    rng = np.random.default_rng(seed)
    loadings = rng.gamma(0.3, 1.0, (n_positions, n_factors))
    patterns = rng.gamma(0.2, 1.0, (n_factors, n_layers * d_ff))
    flat = loadings @ patterns + rng.normal(0, 0.3, (n_positions, n_layers * d_ff))
    flat = np.where(flat > 0, flat, 0.05 * np.tanh(flat))  # GELU's small negative tail
    return flat.reshape(n_positions, n_layers, d_ff).transpose(1, 0, 2).astype(np.float16)


def relative_error(found, acts) -> float:
    """||X - W H|| / ||X|| over every position and neuron (neurons left out count as reconstructed by 0)."""
    layers = tuple(range(acts.shape[0]))
    matrix = gather(acts, layers, np.arange(acts.shape[1]))
    full = np.zeros((found.n_components, matrix.shape[1]), np.float32)
    full[:, found.neurons] = found.components
    residual = matrix - found.weights @ full
    return float(np.sqrt((residual**2).sum() / (matrix**2).sum()))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_faster_tolerance_keeps_the_former_factorisation(monkeypatch, seed):
    acts = ffn_like(seed=seed)
    layers = (0, 1)
    now = factorise(acts, layers=layers, n_components=5, seed=seed, fit_positions=1_000)
    monkeypatch.setattr(activations, "NMF_TOL", 1e-3)  # the setting before (scikit-learn's NMF, tol=1e-3)
    before = factorise(acts, layers=layers, n_components=5, seed=seed, fit_positions=1_000)
    assert activations.NMF_TOL != 1e-2 and now.fitted_on == before.fitted_on == 1_000
    # Reconstruction error within 1% (relative) of the former setting's.
    assert relative_error(now, acts) <= relative_error(before, acts) * 1.01
    # The same components (matched one to one) and the same per-position weights.
    unit = lambda h: h / np.linalg.norm(h, axis=1, keepdims=True)
    cosine = unit(now.components) @ unit(before.components).T
    rows, cols = linear_sum_assignment(-cosine)
    assert cosine[rows, cols].min() >= 0.97
    for row, col in zip(rows, cols):
        assert np.corrcoef(now.weights[:, row], before.weights[:, col])[0, 1] >= 0.97
