"""Settings from the environment (explainer.app.settings)."""

from __future__ import annotations

from explainer.app.settings import Settings, normalise_prefix


def test_settings_from_environment(tmp_path):
    settings = Settings.from_env({"EXPLAINER_CACHE": str(tmp_path), "EXPLAINER_URL_PREFIX": "tools/ner"})
    assert settings.cache == tmp_path and settings.url_prefix == "/tools/ner/"
    assert normalise_prefix("/") == "/"
    assert Settings.from_env({}, cache=tmp_path).cache == tmp_path
