"""Build step ``activation_nmf``: the Activations tab's default factorisation, made once by the build.

The tab opens on all layers and ``DEFAULT_COMPONENTS`` components; factorising them took each worker
seconds on its first visit. The step factorises the activation sample the ``activations`` step just
wrote, exactly as the tab would (same seed), and stores the arrays in ``schema.ACTIVATION_NMF``; the
tab computes any other choice of layers or components on demand, and the default one too for a cache
built before this step.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from explainer.analysis.activations import DEFAULT_COMPONENTS, factorisation_seed, factorise
from explainer.cache import schema
from explainer.cache.artefacts import Missing
from explainer.errors import ExplainerError
from explainer.pipeline.steps import StepContext, written_cache


def check_options(options: Any) -> None:
    """Nothing to check: the step follows ``--activations-sample`` (checked by the ``activations`` step)."""


def build_step(context: StepContext) -> dict[str, Any] | None:
    """Factorise the stored sample over all layers; None when the cache has no (or an empty) sample."""
    written = written_cache(context)
    sample = written.activation_sample()
    if isinstance(sample, Missing) or len(sample.positions) == 0:
        return None
    layers = tuple(range(sample.n_layers))
    seed = factorisation_seed(written.manifest, sample.summary)
    try:
        found = factorise(sample.activations, layers=layers, n_components=DEFAULT_COMPONENTS, seed=seed)
    except ExplainerError as error:
        # A sample too small for the default view: the tab computes (and explains) it when asked.
        print(f"note: the default activation factorisation was not stored: {error}", file=sys.stderr)
        return {"status": f"skipped: {error}"}
    with (context.writer.path / schema.ACTIVATION_NMF).open("wb") as handle:
        np.savez(handle, weights=found.weights, components=found.components, neurons=found.neurons)
    return {
        "layers": list(found.layers),
        "n_components": found.n_components,
        "seed": found.seed,
        "fitted_on": found.fitted_on,
        "seconds": round(found.seconds, 3),
    }
