"""NER error analysis: precompute a model's behaviour on a dataset once, explore its errors in a browser.

The Python API (explainer/api.py), imported on first use so that ``explainer --help`` stays quick::

    from explainer import build, show, Cache, ExplainerCallback
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Cache", "ExplainerCallback", "ExplainerError", "build", "show"]

_EXPORTS = {
    "build": "explainer.api",
    "show": "explainer.api",
    "Cache": "explainer.cache.reader",
    "ExplainerError": "explainer.errors",
    "ExplainerCallback": "explainer.train.callback",
}

if TYPE_CHECKING:
    from explainer.api import build, show
    from explainer.cache.reader import Cache
    from explainer.errors import ExplainerError
    from explainer.train.callback import ExplainerCallback


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'explainer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
