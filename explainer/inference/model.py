"""The model behind Probing and Attributions: loaded lazily, once per process, used under a lock.

gunicorn workers share nothing, so each worker process loads the model on its first request that
needs it and keeps it. Within a process, threads share it: loading happens once behind a lock, and
every inference holds the model's own lock (a forward hook installed by the attributions must not
leak into another thread's forward pass). torch's intra-op threads are bounded once, at first
load, so several workers on one machine do not oversubscribe its cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from explainer.errors import ExplainerError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

DEFAULT_MAX_LINES = 20
DEFAULT_MAX_CHARS = 2000
DEFAULT_TORCH_THREADS = 1  # per process: gunicorn workers give the parallelism (see _default_threads)


def _default_threads() -> int:
    # One thread per process by default: with several workers (or other jobs) on the cores, torch's
    # OpenMP threads spin against each other; measured 10x slower with 2 threads on a busy 2-core machine.
    return max(1, min(DEFAULT_TORCH_THREADS, os.cpu_count() or 1))


@dataclass(frozen=True)
class LiveSettings:
    """What live inference may use, from the environment.

    ``EXPLAINER_MODEL`` (a model directory or hub id) replaces the model recorded in the cache's
    manifest, for a server that keeps the model elsewhere than the machine that built the cache.
    ``EXPLAINER_PROBE_MAX_LINES`` / ``EXPLAINER_PROBE_MAX_CHARS`` bound one probing request;
    ``EXPLAINER_TORCH_THREADS`` bounds torch's threads per process.
    """

    model: str | None = None
    max_lines: int = DEFAULT_MAX_LINES
    max_chars: int = DEFAULT_MAX_CHARS
    torch_threads: int = field(default_factory=_default_threads)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LiveSettings:
        """Settings from ``environ`` (default ``os.environ``); a malformed number is a one-line error."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        if environ.get("EXPLAINER_MODEL", "").strip():
            values["model"] = environ["EXPLAINER_MODEL"].strip()
        for key, name in (
            ("max_lines", "EXPLAINER_PROBE_MAX_LINES"),
            ("max_chars", "EXPLAINER_PROBE_MAX_CHARS"),
            ("torch_threads", "EXPLAINER_TORCH_THREADS"),
        ):
            if environ.get(name, "").strip():
                values[key] = _positive_int(environ[name], name)
        return cls(**values)


def _positive_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ExplainerError(f"{name}={value!r}: expected a positive whole number")
    return number


@dataclass
class LiveModel:
    """A token-classification model ready for live text, with the lock every inference holds."""

    model: PreTrainedModel
    tokenizer: object
    labels: list[str]
    max_length: int
    model_id: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, name: str, *, revision: str | None = None, device: str = "cpu") -> LiveModel:
        """Load ``name`` (directory or hub id) with ``explainer.pipeline.model.load_model``.

        Parameters are frozen (``requires_grad`` off): attributions need gradients with respect
        to the embeddings only, and this spares the backward pass the weight gradients.
        """
        from explainer.pipeline.model import load_model

        loaded = load_model(name, revision=revision, device=device)
        loaded.model.requires_grad_(False)
        return cls(
            model=loaded.model,
            tokenizer=loaded.tokenizer,
            labels=list(loaded.labels),
            max_length=int(loaded.max_length),
            model_id=str(loaded.info.get("id", name)),
        )


_LOAD_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str | None], LiveModel] = {}
_THREADS_SET = False


def model_id_for(manifest: Mapping, *, settings: LiveSettings | None = None) -> tuple[str, str | None]:
    """The model (id, revision) to load for a cache: ``EXPLAINER_MODEL`` if set, else the manifest's.

    Raises
    ------
    ExplainerError
        If neither names a model.
    """
    settings = settings or LiveSettings.from_env()
    if settings.model:
        return settings.model, None
    model = manifest.get("model") or {}
    if not model.get("id"):
        raise ExplainerError(
            "this cache's manifest.json names no model (model.id); set EXPLAINER_MODEL to a model "
            "directory or hub id to probe text"
        )
    revision = model.get("revision")
    return str(model["id"]), (str(revision) if revision else None)


def live_model(name: str, *, revision: str | None = None, settings: LiveSettings | None = None) -> LiveModel:
    """The process's model for ``name``, loaded on first call (later calls return the same object).

    Parameters
    ----------
    name : str
        A model directory or hub id (see :func:`model_id_for`).
    revision : str, optional
    settings : LiveSettings, optional
        Default: from the environment; gives the torch thread bound applied at first load.

    Returns
    -------
    LiveModel

    Raises
    ------
    ExplainerError
        If the model cannot be loaded (one line naming it and what to check).
    """
    key = (name, revision)
    model = _MODELS.get(key)
    if model is not None:
        return model
    settings = settings or LiveSettings.from_env()
    with _LOAD_LOCK:
        model = _MODELS.get(key)
        if model is None:
            bound_torch_threads(settings.torch_threads)
            model = LiveModel.load(name, revision=revision)
            _MODELS[key] = model
    return model


def bound_torch_threads(threads: int) -> None:
    """Cap torch's intra-op threads for this process (once; later calls change nothing)."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    import torch

    torch.set_num_threads(max(1, min(int(threads), os.cpu_count() or 1)))
    _THREADS_SET = True
