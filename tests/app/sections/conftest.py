"""The app on the tiny cache, shared by the section tests that call callbacks directly (a test module that
needs other settings defines its own ``context``)."""

from __future__ import annotations

import pytest

from explainer.app.factory import create_app
from explainer.app.settings import Settings


@pytest.fixture(scope="module")
def context(tiny_cache):
    app = create_app(Settings(cache=tiny_cache.parent))
    return app.server.config["EXPLAINER_CONTEXT"]


@pytest.fixture(scope="module")
def cache(context):
    return context.cache(None)
