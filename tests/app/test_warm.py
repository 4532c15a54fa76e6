"""Warming a worker and giving back what requests freed (explainer.app.warm)."""

from __future__ import annotations

import time

from explainer.app.warm import HeapTrimmer


def test_the_trimmer_trims_only_once_the_heap_grew_by_its_threshold():
    heap, trims = [100.0], []

    def trim():
        trims.append(heap[0])
        heap[0] = 90.0  # what the trim gave back

    trimmer = HeapTrimmer(growth_mb=16, heap=lambda: heap[0], trim=trim)
    heap[0] = 115.0
    assert not trimmer.check() and trims == []
    heap[0] = 95.0  # freed on its own: the floor follows it down
    assert not trimmer.check() and trimmer.floor == 95.0
    heap[0] = 111.0
    assert trimmer.check() and trims == [111.0] and trimmer.floor == 90.0 and trimmer.trims == 1
    heap[0] = 105.0
    assert not trimmer.check() and trims == [111.0]


def test_the_trimmer_thread_checks_until_stopped():
    heap, trims = [0.0], []
    trimmer = HeapTrimmer(interval=0.01, growth_mb=1, heap=lambda: heap[0], trim=lambda: trims.append(1))
    heap[0] = 50.0
    thread = trimmer.start()
    deadline = time.monotonic() + 30
    while not trims and time.monotonic() < deadline:
        time.sleep(0.01)
    trimmer.stop()
    thread.join(timeout=30)
    assert trims and not thread.is_alive()


def test_warming_trims_after_each_section_so_its_growth_is_what_it_keeps(tiny_cache, monkeypatch):
    from explainer.app import memo
    from explainer.app.factory import create_app
    from explainer.app.settings import Settings
    from explainer.app.warm import warm_context

    app = create_app(Settings(cache=tiny_cache.parent))
    trims = []
    monkeypatch.setattr(memo, "trim_heap", lambda: trims.append(1))
    grown: dict[str, float] = {}
    seconds = warm_context(app.server.config["EXPLAINER_CONTEXT"], grown=grown)
    assert len(trims) >= len(seconds) and set(grown) == set(seconds) and "grids" in seconds
