"""The sections of the app: every module of this package but ``base`` defines ``SECTION``.

Adding a section is adding a module here; its ``SECTION`` says where it sits in the navigation
(``group`` and ``order``), so no list elsewhere needs editing.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from explainer.app.sections.base import GROUPS, Section

NOT_SECTIONS = frozenset({"base"})


def section_modules() -> list[str]:
    """The names of the modules in this package that define a section."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name not in NOT_SECTIONS)


def load_sections() -> list[Section]:
    """Every ``SECTION``, in navigation order: by group (``base.GROUPS``), then ``order``, then label."""
    sections = []
    for name in section_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        section = getattr(module, "SECTION", None)
        if not isinstance(section, Section):
            raise TypeError(
                f"explainer/app/sections/{name}.py defines no SECTION = Section(...): every module there is a section"
            )
        sections.append(section)
    for what in ("key", "prefix"):  # a shared key or query prefix would mix two sections' URLs
        values = [getattr(section, what) for section in sections]
        if len(set(values)) != len(values):
            raise ValueError(f"two sections share a {what}: {sorted({v for v in values if values.count(v) > 1})}")
    unknown = [section.key for section in sections if section.group not in GROUPS]
    if unknown:
        raise ValueError(f"sections {unknown} name a group that is not in explainer.app.sections.base.GROUPS")
    return sorted(sections, key=lambda section: (GROUPS.index(section.group), section.order, section.label))


@functools.cache
def view_prefixes() -> frozenset[str]:
    """Every section's URL view prefix (``metrics``, ``mis``, ...): a query key ``<prefix>_...`` is a setting
    of that section's view (``Section.link`` drops the other sections' when it changes section)."""
    return frozenset(section.view.PREFIX for section in load_sections() if section.view is not None)
