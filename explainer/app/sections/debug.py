"""Debug: the manifest, package versions, model config, build settings and timings."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import dash_bootstrap_components as dbc
from dash import html

from explainer.app.sections.base import DEBUG, Section

PACKAGES = (
    "ner-explainer",
    "torch",
    "transformers",
    "datasets",
    "dash",
    "dash-bootstrap-components",
    "dash-ag-grid",
    "plotly",
    "pandas",
    "pyarrow",
    "numpy",
    "seqeval",
    "scikit-learn",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def model_config(manifest: dict) -> dict | None:
    """The model's config.json when the manifest carries it or the model is a local directory."""
    model = manifest.get("model", {})
    if isinstance(model.get("config"), dict):
        return model["config"]
    path = Path(str(model.get("id", ""))) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def block(title: str, value) -> html.Div:
    return html.Div(
        [
            html.H6(title),
            html.Pre(
                json.dumps(value, indent=2, ensure_ascii=False, default=str),
                className="bg-light p-2 small",
                # long lines (the build command, paths) wrap instead of running off to the right
                style={"maxHeight": "420px", "whiteSpace": "pre-wrap", "overflowWrap": "anywhere"},
            ),
        ]
    )


def layout(cache, state):
    manifest = cache.manifest
    return dbc.Row(
        [
            dbc.Col(
                [
                    block("Build settings", manifest.get("settings", {})),
                    block("Timings (s)", manifest.get("timings", {})),
                    block("Package versions (this app)", package_versions()),
                ],
                lg=4,
            ),
            dbc.Col([block("Manifest", manifest)], lg=4),
            dbc.Col([block("Model config", model_config(manifest) or "not available (model not local)")], lg=4),
        ]
    )


SECTION = Section(key="debug", label="Debug", group=DEBUG, order=10, layout=layout)
