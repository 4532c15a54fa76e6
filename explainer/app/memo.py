"""Per-process memo of values computed from an opened cache (one per app worker, read-only values).

The app computes a few things per opened cache (a page's rendered cards, a filtered frame): they are kept
here, keyed weakly by the :class:`~explainer.cache.reader.Cache`, so a cache the app re-opens (after a
rebuild) starts afresh and a dropped one frees its values.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from explainer.cache.reader import Cache

T = TypeVar("T")

_MEMO: weakref.WeakKeyDictionary[Cache, dict[str, Any]] = weakref.WeakKeyDictionary()
_MEMO_LOCK = threading.Lock()


def per_cache(cache: Cache, name: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per (opened cache, name); later calls return the stored value.

    The store is keyed weakly by the cache object, so a cache the app re-opens (e.g. after a
    rebuild) gets fresh values and a dropped cache frees its tables. Values are shared between
    threads and must be treated as read-only.
    """
    with _MEMO_LOCK:
        store = _MEMO.setdefault(cache, {})
        if name in store:
            stored: T = store[name]
            return stored
    value = compute()  # outside the lock: a slow table must not block other caches
    trim_heap()
    with _MEMO_LOCK:
        kept: T = store.setdefault(name, value)
        return kept


def trim_heap() -> None:
    """Give the memory freed by a computation back to the system (glibc's ``malloc_trim``).

    Building a cache's long-lived values (Embeddings' word points: the words and span columns read,
    the categories worked out) frees several times what it keeps, in small blocks the allocator
    otherwise holds on to: on CoNLL-2003 train (203,621 words) the points' build left the heap
    66 MB larger, 32 MB after the trim (bench/worker_memory.py). No-op off glibc.
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _MALLOC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (musl, macOS)
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None


class LruMemo:
    """A small thread-safe LRU of computed values (least recently used evicted beyond ``maxsize``).

    ``get(key, compute)`` returns the stored value or stores ``compute()``; two threads asking for a
    missing key at once may both compute it, and the first result is kept.
    """

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                stored: T = self._items[key]
                return stored
        value = compute()  # outside the lock: a slow value must not block the other keys
        with self._lock:
            kept: T = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
            return kept

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def per_cache_lru(cache: Cache, name: str, key: Hashable, compute: Callable[[], T], *, maxsize: int) -> T:
    """``compute()`` for ``key``, kept per opened cache among the last ``maxsize`` keys asked under ``name``
    (rendered pages and figures, factorisations: too many variants to keep them all)."""
    return per_cache(cache, name, lambda: LruMemo(maxsize)).get(key, compute)
