"""The sections of the app, in tab order. Adding a section = adding a module and its name here."""

from __future__ import annotations

import importlib

SECTION_MODULES = (
    "metrics",
    "misclassified",
    "loss",
    "samples",
    "random_samples",
    "inspect",
    "raw_data",
    "embeddings",
    "duplicates",
    "review",
    "probing",
    "activations",
    "debug",
)


def load_sections():
    """The ``SECTION`` of every module above, in order (modules not written yet are skipped)."""
    sections = []
    for name in SECTION_MODULES:
        try:
            module = importlib.import_module(f"explainer.app.sections.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"explainer.app.sections.{name}":
                continue
            raise
        sections.append(module.SECTION)
    return sections
