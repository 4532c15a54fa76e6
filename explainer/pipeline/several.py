"""Several models on one dataset in one build: ``explainer build --model A --model B --out DIR``.

Each model gets its own cache, ``DIR/<the model directory's name>`` (a Hub id's last part), so DIR is a
cache root the app lists and Compare pairs (checkpoints of one run: ``model-epoch1``, ``model-epoch2``...).
Every output is checked before the first model loads; the dataset is loaded once and tokenised once
per distinct tokenizer (:class:`explainer.pipeline.pipeline.SharedInputs`). Each cache records its own
single-model options, so its rebuild command is the one-model form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from explainer.cache import schema
from explainer.cache.writer import check_output
from explainer.errors import ExplainerError
from explainer.pipeline.options import BuildOptions


def cache_name(model: str) -> str:
    """The name of ``model``'s cache among several: its directory's name, or a Hub id's last part."""
    return Path(str(model).rstrip("/")).expanduser().name


def options_per_model(options: BuildOptions, models: Sequence[str]) -> list[BuildOptions]:
    """One build's options per model: ``options`` with ``model`` and ``out`` = ``options.out/<name>``.

    Raises
    ------
    ExplainerError
        A model given twice, two models whose caches would have the same name, a model that names no
        cache, or an ``--out`` that is a file or itself a cache (it is to hold the caches).
    """
    root = Path(options.out).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise ExplainerError(
            f"--out {root} is an existing file; with several --model pass a directory to hold the caches"
        )
    if (root / schema.MANIFEST).is_file():
        raise ExplainerError(
            f"--out {root} is a cache; with several --model, --out is the directory that holds one cache per "
            f"model ({root}/<model name>): choose another directory"
        )
    by_name: dict[str, str] = {}
    for model in models:
        name = cache_name(model)
        if not name or name.startswith("."):
            raise ExplainerError(
                f"--model {model}: its cache would be named {name!r}, which the app does not list; "
                "give the model directory a plain name"
            )
        if name in by_name:
            first = by_name[name]
            if first == model:
                raise ExplainerError(f"--model {model} is given twice; give each model once")
            raise ExplainerError(
                f"--model {first} and --model {model} would both be written to {root / name} (a cache is named "
                "after its model directory); rename one directory, or build them one at a time with their own --out"
            )
        by_name[name] = model
    return [replace(options, model=model, out=str(root / name)) for name, model in by_name.items()]


def build_caches(
    many: Sequence[BuildOptions],
    *,
    progress: bool = True,
    built: Callable[[BuildOptions, dict | None], None] | None = None,
) -> list[dict | None]:
    """Build one cache per options of :func:`options_per_model`, sharing the dataset and its tokenisation.

    Every ``out`` is checked before the first model loads (a non-cache directory in the way stops
    everything, not the third build). ``built(options, manifest)`` is called after each cache (the
    command prints its line); a failed build raises, leaving the caches built before it in place.

    Returns
    -------
    list of dict or None
        The manifests, in order (None on a rank other than 0 of a sharded build).
    """
    from explainer.pipeline.pipeline import SharedInputs, build_cache

    for options in many:
        check_output(options.out, force=options.force)
    shared = SharedInputs()
    manifests = []
    for options in many:
        manifest = build_cache(options, progress=progress, shared=shared)
        if built is not None:
            built(options, manifest)
        manifests.append(manifest)
    return manifests
