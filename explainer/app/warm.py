"""Warm a worker before its first visitor: open the default cache and render every tab once.

Without this, the first visit to each tab in each gunicorn worker pays for reading that tab's tables
(seconds on a large cache) while the visitor waits. ``gunicorn.conf.py`` calls :func:`warm_in_background`
once the worker has loaded the app; a daemon thread renders each section's default view, which fills
the per-process memo (``explainer.app.memo.per_cache``) with exactly what the pages read later,
so warming holds no more memory than a visitor clicking through every tab would. Set
``EXPLAINER_WARM=0`` to turn it off.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Sections whose default view needs no warming or must not be warmed (probing loads a model).
SKIP = frozenset({"probing", "debug"})
EXTRA_GRIDS = frozenset({"misclassified-spans"})


def grid_names(component) -> set[str]:
    """Names of the server-side grids (``components.grid``) in a layout tree."""
    from explainer.app.components.grid import GRID_TYPE
    from explainer.app.sections.base import component_ids

    return {
        ident["name"]
        for ident in component_ids(component)
        if isinstance(ident, dict) and ident.get("type") == GRID_TYPE
    }


def heap_mb() -> float:
    """This process's anonymous resident memory (its heap, not memory-mapped files) in MB; 0 off Linux."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class HeapTrimmer:
    """Give the memory requests freed back to the system: a daemon thread that checks the heap every
    ``interval`` seconds and trims it (``explainer.app.memo.trim_heap``) once it has grown by ``growth_mb``
    since the last trim.

    A request allocates temporaries (a filtered copy, a column converted, a figure) and frees them; glibc keeps
    the freed blocks, so a worker's heap rose by 50-90 MB over a few rounds of traffic at 1M subwords and a
    trim gave it all back, in 5-18 ms (measured). Trimming here rather than after every request keeps that
    cost off the requests' path (a fixed mmap threshold does the same at 30-50% more CPU per request).
    """

    def __init__(self, *, interval: float = 1.0, growth_mb: float = 16.0, heap=heap_mb, trim=None) -> None:
        from explainer.app.memo import trim_heap

        self.interval, self.growth_mb = interval, growth_mb
        self._heap, self._trim = heap, trim or trim_heap
        self.floor = heap()  # the heap right after the last trim (or its lowest since)
        self.trims = 0
        self._stop = threading.Event()

    def check(self) -> bool:
        """Trim if the heap grew by ``growth_mb`` since the last trim; True if it trimmed."""
        now = self._heap()
        if now - self.floor < self.growth_mb:
            self.floor = min(self.floor, now)
            return False
        self._trim()
        self.floor, self.trims = self._heap(), self.trims + 1
        return True

    def start(self) -> threading.Thread:
        def run() -> None:
            while not self._stop.wait(self.interval):
                self.check()

        thread = threading.Thread(target=run, name="explainer-heap-trim", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def warm_context(context, *, log_to=log, grown: dict | None = None) -> dict[str, float]:
    """Render each section's default view of the default cache; return seconds per section.

    ``grown``, if given, receives the heap growth (MB) per section. A section that fails is logged
    and skipped: warming must never take a worker down.
    """
    seconds: dict[str, float] = {}
    grown = {} if grown is None else grown
    try:
        key = context.registry.default_key()
        cache = context.registry.get(key) if key else None
    except Exception as error:  # no cache yet: nothing to warm
        log_to.info("explainer: nothing to warm (%s)", error)
        return seconds
    if cache is None:
        return seconds
    from explainer.app.memo import trim_heap

    shown_grids: set[str] = set()
    for section in context.sections:
        if section.key in SKIP:
            continue
        started, before = time.perf_counter(), heap_mb()
        try:
            shown_grids.update(grid_names(section.render(context, cache, {})))
        except Exception as error:  # a failing section is logged: warming must never take a worker down
            log_to.warning("explainer: warming %s failed: %s", section.key, error)
        trim_heap()  # what the section keeps, not what reading its tables freed (the worker's trimmer would too)
        seconds[section.key], grown[section.key] = time.perf_counter() - started, heap_mb() - before
    # The rows behind the server-side grids the tabs show, and the span level of Misclassified (one
    # click away); not the grids of views that need files this cache lacks.
    from explainer.app.components import grid

    started, before = time.perf_counter(), heap_mb()
    for name in sorted(shown_grids | EXTRA_GRIDS):
        load = grid.source(name)
        if load is None:
            continue
        try:
            load(cache, {})
        except Exception as error:  # as for the sections: logged, never fatal
            log_to.warning("explainer: warming grid %s failed: %s", name, error)
    trim_heap()
    seconds["grids"], grown["grids"] = time.perf_counter() - started, heap_mb() - before
    return seconds


def freeze_long_lived() -> int:
    """Move every object alive now (modules, the app, the memos warm-up filled) out of the collector's reach.

    A full collection walks every tracked object: ~210,000 in a warmed worker on the bench caches, 150–220 ms
    per pass measured on the 250k bench cache, a pause any request in the worker may hit. Frozen
    objects are never walked again (they live as long as the worker anyway), so later passes take a
    few ms. Garbage is collected first so no dead cycle is frozen. Returns the number frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def warm_in_background(flask_app, *, log_to=log) -> threading.Thread | None:
    """Start :func:`warm_context` in a daemon thread for the app's context, then :func:`freeze_long_lived`.

    With warming off (``EXPLAINER_WARM=0``), freezes what the app holds after loading and returns None.
    """
    if os.environ.get("EXPLAINER_WARM", "1").strip() in ("0", "false", "no", "off"):
        freeze_long_lived()
        return None
    context = getattr(flask_app, "config", {}).get("EXPLAINER_CONTEXT")  # None if the app failed to load
    if context is None:
        return None

    def run() -> None:
        started = time.perf_counter()
        grown: dict[str, float] = {}
        seconds = warm_context(context, log_to=log_to, grown=grown)
        frozen = freeze_long_lived()
        if seconds:
            log_to.info(
                "explainer: worker %d warmed in %.1f s, heap %.0f MB, %d objects frozen (%s)",
                os.getpid(),
                time.perf_counter() - started,
                heap_mb(),
                frozen,
                ", ".join(f"{key} {value:.1f} s +{grown[key]:.0f} MB" for key, value in seconds.items()),
            )

    thread = threading.Thread(target=run, name="explainer-warm", daemon=True)
    thread.start()
    return thread
