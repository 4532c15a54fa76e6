"""The caches an app process serves: listed once, opened lazily, shared read-only by all threads.

Users pick a cache by its *key* (its directory name under the root). Keys are only ever looked up
in the listing, never joined onto a path, so no request can reach a file outside the cache root.
"""

from __future__ import annotations

import threading
from pathlib import Path

from explainer.app.server import relative_message
from explainer.cache.reader import Cache, list_caches, open_cache
from explainer.errors import ExplainerError


class CacheRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._open: dict[str, tuple] = {}  # key -> (Cache, manifest stamp when opened)

    def keys(self) -> list[str]:
        """Cache keys, sorted; re-read on every call so new builds appear without a restart."""
        return [path.name for path in self._paths()]

    def _paths(self) -> list[Path]:
        try:
            return list_caches(self.root) if self.root.exists() else []
        except PermissionError:
            raise ExplainerError(
                f"the cache directory {self.root} is not readable by the app's user: fix its permissions"
            ) from None

    def default_key(self) -> str | None:
        """The first cache that opens (else the first listed): a broken cache is not the landing page."""
        keys = self.keys()
        return next((key for key in keys if self.problem(key) is None), keys[0] if keys else None)

    def problem(self, key: str) -> str | None:
        """Why cache ``key`` cannot be served (files named relative to the root), or None when it opens."""
        return self._open_or_problem(key)[1]

    def _open_or_problem(self, key: str) -> tuple[Cache | None, str | None]:
        try:
            return self.get(key), None
        except (ExplainerError, OSError) as error:
            return None, relative_message(error, cache_root=self.root)

    def states(self) -> dict[str, str | None]:
        """Every listed cache's :meth:`problem` (None: it is served)."""
        return {key: self.problem(key) for key in self.keys()}

    def get(self, key: str | None):
        """The opened cache for ``key`` (default: the first one). Raises ExplainerError when absent."""
        key = key or self.default_key()
        paths = {path.name: path for path in self._paths()}
        if key not in paths:
            if not paths:
                raise ExplainerError(
                    f"no cache found under {self.root}: build one with `explainer build --model M --dataset D "
                    f"--out {self.root}/NAME` and reload"
                )
            raise ExplainerError(f"no cache named {key!r}; choose one of: {', '.join(sorted(paths))}")
        stamp = _manifest_stamp(paths[key])
        with self._lock:
            opened = self._open.get(key)
            # A rebuild swaps the directory and writes a new manifest: reopen instead of serving stale tables.
            if opened is None or opened[1] != stamp:
                opened = (open_cache(paths[key]), stamp)
                self._open[key] = opened
            return opened[0]

    def options(self) -> list[dict]:
        """Dropdown options: label 'model · dataset · split' (or the key and why it is broken), value the key."""
        options = []
        for key in self.keys():
            cache, problem = self._open_or_problem(key)
            label = f"{key} (broken: {problem})" if cache is None else cache.describe()
            options.append({"label": label, "value": key})
        return options


def _manifest_stamp(path: Path) -> tuple:
    """Identity of a cache's current build: its manifest's inode and modification time."""
    try:
        stat = (Path(path) / "manifest.json").stat()
        return stat.st_ino, stat.st_mtime_ns
    except OSError:
        return None, None
