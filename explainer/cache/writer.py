"""Write a cache directory atomically, under a lock.

A build writes into a temporary sibling directory ``.<name>.tmp-<pid>`` and, once everything
(manifest last) is on disk, renames it into place: an existing cache is first moved aside to
``.<name>.old-<pid>`` and removed after the swap. A sibling lock file ``.<name>.lock`` stops a
second build on the same directory. So a reader sees the old cache or the new one, never a mix; a
build that fails or is killed leaves the previous cache as it was, and its leftovers are cleared
by the next build of the same directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explainer.cache import schema

if TYPE_CHECKING:
    import pyarrow as pa
from explainer.errors import ExplainerError


def lock_path(out: Path) -> Path:
    """The lock file of cache directory ``out``."""
    return out.parent / f".{out.name}.lock"


def check_output(out: str | Path, *, force: bool = False) -> Path:
    """Validate ``--out`` before any work: absolute path of a new, empty or cache directory.

    Raises
    ------
    ExplainerError
        If ``out`` is a file, or a non-empty directory that is not a cache (without ``force``).
    """
    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ExplainerError(f"--out {out} is an existing file; pass a directory path for the cache")
    if out.is_dir() and not force and any(out.iterdir()) and not (out / schema.MANIFEST).is_file():
        raise ExplainerError(
            f"--out {out} is a non-empty directory that is not an explainer cache (no "
            f"{schema.MANIFEST}); choose another path, or pass --force to replace it"
        )
    return out


class CacheWriter:
    """Context manager that owns the lock and the temporary directory of one build.

    Examples
    --------
    >>> with CacheWriter(out) as writer:            # doctest: +SKIP
    ...     writer.write_table(schema.WORDS, table)
    ...     writer.commit(manifest)
    """

    def __init__(self, out: str | Path, *, force: bool = False) -> None:
        self.out = check_output(out, force=force)
        self.tmp = self.out.parent / f".{self.out.name}.tmp-{os.getpid()}"
        self._lock: Any = None  # a filelock lock while the build holds it
        self._committed = False

    def __enter__(self) -> CacheWriter:
        from filelock import FileLock, Timeout

        self.out.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path(self.out)), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise ExplainerError(
                f"another build is writing {self.out} (lock {lock_path(self.out)} is held); "
                "wait for it to finish or pass another --out"
            ) from None
        self._lock = lock
        try:
            check_output(self.out, force=True)  # it may have changed while we waited for nothing
            self._clear_leftovers()
            self.tmp.mkdir()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            self._release()

    @property
    def path(self) -> Path:
        """The temporary directory being written."""
        return self.tmp

    def open_array(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        """A writable memory-mapped ``.npy`` file, filled in place (no second copy in memory)."""
        array: npt.NDArray[Any] = np.lib.format.open_memmap(self.tmp / name, mode="w+", dtype=dtype, shape=shape)
        return array

    def write_table(self, name: str, table: pa.Table) -> None:
        """Write a pyarrow Table as Parquet."""
        import pyarrow.parquet as pq

        # Row groups of ROW_GROUP_ROWS: the app reads one example's rows by row group, not the whole table.
        pq.write_table(table, self.tmp / name, compression="zstd", row_group_size=schema.ROW_GROUP_ROWS)

    def write_mapped_table(self, name: str, table: pa.Table) -> None:
        """Write a pyarrow Table as an uncompressed Arrow IPC file, which the app memory-maps (zero copy)
        rather than decoding it into each worker (:meth:`~explainer.cache.reader.Cache.mapped_table`)."""
        import pyarrow.feather as feather

        feather.write_feather(table, self.tmp / name, compression="uncompressed")

    def write_json(self, name: str, payload: dict[str, Any]) -> None:
        path = self.tmp / name
        with path.open("w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=1, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest (last) and move the directory into place; return the cache path."""
        missing = [key for key in schema.MANIFEST_KEYS if key not in manifest]
        if missing:
            raise ValueError(f"manifest lacks {missing}")
        self.write_json(schema.MANIFEST, manifest)
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            os.rename(self.out, old)
        os.rename(self.tmp, self.out)
        self._committed = True
        shutil.rmtree(old, ignore_errors=True)
        return self.out

    def _clear_leftovers(self) -> None:
        """Remove what killed builds left; restore a cache moved aside by a build killed mid-swap."""
        leftovers = sorted(self.out.parent.glob(f".{self.out.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if not self.out.exists() and leftovers and (leftovers[-1] / schema.MANIFEST).is_file():
            os.rename(leftovers.pop(), self.out)
        for path in leftovers + list(self.out.parent.glob(f".{self.out.name}.tmp-*")):
            shutil.rmtree(path, ignore_errors=True)

    def _release(self) -> None:
        if self._lock is not None:
            # Unlink while still holding the lock, so no build is left behind: a build that opened the
            # old file sees it unlinked when it gets the lock and retries on a new one (filelock does that).
            with contextlib.suppress(OSError):
                lock_path(self.out).unlink()
            self._lock.release()
            self._lock = None
