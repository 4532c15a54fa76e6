"""What a section of the app is: a tab with a layout and its own callbacks.

A section module defines ``SECTION = Section(...)``; the tab bar is built from the list in
``explainer.app.sections``, so adding a section is adding one module and one name there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One tab.

    ``layout(cache, state)`` returns the tab's content for an opened cache and the URL state
    (a dict of query parameters, so filters restore from a shared link). ``register(app, context)``
    adds the section's callbacks to the app; ``context`` is the ``AppContext`` (cache registry,
    settings). ``prefix`` namespaces the section's query parameters and component ids.
    """

    key: str
    label: str
    layout: Callable
    register: Callable | None = None
    param_prefix: str | None = None  # default: the key

    @property
    def prefix(self) -> str:
        return self.param_prefix or self.key.replace("-", "_")

    def param(self, name: str) -> str:
        """The URL query key of one of this section's filters, e.g. ``mis_gold``."""
        return f"{self.prefix}_{name}"

    def id(self, name: str) -> str:
        """A component id unique to this section."""
        return f"{self.key}-{name}"
