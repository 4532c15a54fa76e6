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
        """Dropdown options: label 'model · dataset · split' (or the key and why it is broken), value the key.

        Caches that would read the same get as much more of their dataset's (then model's) path as
        tells them apart: ``pol · politics/test.txt`` and ``pol · music/test.txt``, not two ``pol · test.txt``.
        """
        opened = {key: self._open_or_problem(key) for key in self.keys()}
        served = {key: cache for key, (cache, _) in opened.items() if cache is not None}
        labels = dict(zip(served, picker_labels([_origin(cache) for cache in served.values()], keys=list(served))))
        return [
            {"label": labels[key] if cache is not None else f"{key} (broken: {problem})", "value": key}
            for key, (cache, problem) in opened.items()
        ]


def _origin(cache: Cache) -> tuple[str, str, str]:
    """(model, dataset, split) of ``cache`` as its manifest names them."""
    manifest = cache.manifest
    model = str(manifest.get("model", {}).get("id") or "model")
    dataset = str(manifest.get("dataset", {}).get("spec") or "dataset")
    return model, dataset, str(manifest.get("split") or "")


def path_tail(path: str, depth: int) -> str:
    """The last ``depth`` parts of ``path`` (``/`` or ``\\`` separated); the whole path when it has fewer."""
    parts = [part for part in path.replace("\\", "/").split("/") if part]
    return "/".join(parts[-depth:]) if parts else path


def _depth(path: str) -> int:
    return max(1, len([part for part in path.replace("\\", "/").split("/") if part]))


def picker_labels(origins: list[tuple[str, str, str]], *, keys: list[str]) -> list[str]:
    """``model · dataset · split`` per cache, each path cut to its last part unless that makes two labels equal:
    then the colliding caches show more of their dataset path, then of their model path, until they differ
    (caches of the same model, dataset and split add their key)."""
    # a hub id (owner/name) reads best whole: start model paths of two parts at both
    depths = [[2 if _depth(model) == 2 and not model.startswith((".", "/")) else 1, 1] for model, _, _ in origins]

    def label(i: int) -> str:
        model, dataset, split = origins[i]
        parts = (path_tail(model, depths[i][0]), path_tail(dataset, depths[i][1]), split)
        return " · ".join(part for part in parts if part)

    while True:
        groups: dict[str, list[int]] = {}
        for i in range(len(origins)):
            groups.setdefault(label(i), []).append(i)
        grown = False
        for members in (members for members in groups.values() if len(members) > 1):
            for which in (1, 0):  # the dataset's path first, then the model's
                if len({origins[i][which] for i in members}) > 1:
                    for i in members:
                        if depths[i][which] < _depth(origins[i][which]):
                            depths[i][which] += 1
                            grown = True
                    break
        if not grown:
            break
    labels = [label(i) for i in range(len(origins))]
    counts = {text: labels.count(text) for text in labels}
    return [f"{text} ({key})" if counts[text] > 1 else text for text, key in zip(labels, keys)]


def _manifest_stamp(path: Path) -> tuple:
    """Identity of a cache's current build: its manifest's inode and modification time."""
    try:
        stat = (Path(path) / "manifest.json").stat()
        return stat.st_ino, stat.st_mtime_ns
    except OSError:
        return None, None
