"""Write a cache directory atomically, under a lock.

A build writes into a temporary sibling directory ``.<name>.tmp-<pid>`` and, once everything
(manifest last) is on disk, swaps it into place (:func:`exchange`: one atomic step where the kernel
allows it, else the old cache is moved aside to ``.<name>.old-<pid>`` first); the old cache is removed
after the swap. A sibling lock file ``.<name>.lock`` stops a second build on the same directory. So a
reader sees the old cache or the new one, never a mix; a build that fails or is killed leaves the
previous cache as it was, and its leftovers are cleared by the next build of the same directory.

Space: a build checks up front that the free space covers its estimate (:meth:`CacheWriter.check_space`);
arrays filled through memory maps are allocated on disk before the first write (:func:`open_allocated_array`),
so a full disk raises ENOSPC there instead of SIGBUS later; and any write that fails inside the writer
ends as one ExplainerError naming the file and the free space, with the temporary directory removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explainer.cache import schema

if TYPE_CHECKING:
    import pyarrow as pa
from explainer.errors import ExplainerError

# renameat2(2) flag that swaps two paths atomically (Linux >= 3.15, glibc >= 2.28), and "relative to the cwd".
RENAME_EXCHANGE = 2
AT_FDCWD = -100
# errno values meaning the kernel, libc or filesystem cannot exchange: fall back to two renames.
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step; False (nothing done) where the system cannot.

    Why not versioned directories behind a symlink: the app lists caches under a root as plain,
    non-hidden directories and opens them by name (cache/reader.py ``list_caches``, app/caches.py), and
    tools and tests treat ``--out`` as a directory; an exchange keeps all of that as it is.
    """
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:  # libc older than glibc 2.28
        return False
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if function(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done (the swap of a cache is never left half-way).

    Python runs signal handlers in the main thread whichever thread the kernel picks (torch starts
    several), so the signals are held by swapping the Python handlers, not by a thread's signal mask;
    a signal held is raised again, to the previous handler, at the end of the block.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread can set handlers
        yield
        return
    held: list[int] = []
    previous = {number: signal.signal(number, lambda signum, frame: held.append(signum)) for number in HELD_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for signum in held:
            signal.raise_signal(signum)


def free_bytes(path: Path) -> int:
    """Free space for an unprivileged writer on the filesystem of ``path`` (its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def size_text(n_bytes: float) -> str:
    """``1.5 MB``: bytes in decimal units, as ``df -H`` shows them."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n_bytes) < 1000:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.1f} TB"


def open_allocated_array(path: Path, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A writable memory-mapped ``.npy`` file whose blocks are allocated on disk before it is returned.

    ``open_memmap`` alone makes a sparse file: on a full disk a write into the map then kills the
    process with SIGBUS. Allocating first raises ENOSPC here instead, as an ordinary OSError.
    """
    array: npt.NDArray[Any] = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    with path.open("r+b") as handle:
        try:
            # On a filesystem without fallocate, glibc allocates by writing to each block instead.
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
        except OSError as error:
            error.filename = str(path)
            raise
    return array


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
            if self._committed:
                return
            if not isinstance(exc, OSError):
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            failure = self._write_failure(exc)  # before the removal: it names the file written last
            shutil.rmtree(self.tmp, ignore_errors=True)
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT) or not exc.errno  # numpy's short write: no errno
            advice = "; free some space or pass --out on another filesystem" if full else ""
            raise ExplainerError(
                f"{failure}, {size_text(free_bytes(self.out.parent))} once the build's temporary files were "
                f"removed); the old cache (if any) was left as it was{advice}"
            ) from exc
        finally:
            self._release()

    def _write_failure(self, error: OSError) -> str:
        """The start of the one line for a write that failed inside the build (most often a full disk)."""
        if error.filename:
            what = Path(error.filename).name
        else:  # numpy's short write says neither errno nor file: the file written last is the one
            written = sorted(self.tmp.glob("*"), key=lambda path: path.stat().st_mtime)
            what = written[-1].name if written else "the cache"
        reason = os.strerror(error.errno) if error.errno else str(error)
        return (
            f"writing {what} into {self.out} failed: {reason} (free space on {self.out.parent}: "
            f"{size_text(free_bytes(self.out.parent))} when it failed"
        )

    def check_space(self, needed: int, detail: str) -> None:
        """Refuse (ExplainerError) unless the filesystem of ``--out`` has ``needed`` bytes free.

        Called once leftovers of killed builds are cleared (they would count as used), before the first write.
        """
        free = free_bytes(self.out.parent)
        if free < needed:
            raise ExplainerError(
                f"not enough free space for the cache at {self.out}: the build needs about {size_text(needed)} "
                f"({detail}) and {self.out.parent} has {size_text(free)} free; free some space or pass --out "
                "on another filesystem"
            )

    @property
    def path(self) -> Path:
        """The temporary directory being written."""
        return self.tmp

    def open_array(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        """A writable memory-mapped ``.npy`` file, filled in place (no second copy in memory), its space
        allocated on disk first (:func:`open_allocated_array`)."""
        return open_allocated_array(self.tmp / name, shape, dtype)

    def write_table(self, name: str, table: pa.Table) -> None:
        """Write a pyarrow Table as Parquet."""
        import pyarrow.parquet as pq

        # Row groups of ROW_GROUP_ROWS: the app reads one example's rows by row group, not the whole table.
        with _naming(self.tmp / name):  # pyarrow's OSError does not say which file
            pq.write_table(table, self.tmp / name, compression="zstd", row_group_size=schema.ROW_GROUP_ROWS)

    def write_mapped_table(self, name: str, table: pa.Table) -> None:
        """Write a pyarrow Table as an uncompressed Arrow IPC file, which the app memory-maps (zero copy)
        rather than decoding it into each worker (:meth:`~explainer.cache.reader.Cache.mapped_table`)."""
        import pyarrow.feather as feather

        with _naming(self.tmp / name):
            feather.write_feather(table, self.tmp / name, compression="uncompressed")

    def write_json(self, name: str, payload: dict[str, Any]) -> None:
        path = self.tmp / name
        with _naming(path), path.open("w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=1, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest (last) and move the directory into place; return the cache path."""
        missing = [key for key in schema.MANIFEST_KEYS if key not in manifest]
        if missing:
            raise ValueError(f"manifest lacks {missing}")
        self.write_json(schema.MANIFEST, manifest)
        with signals_deferred():
            if not self.out.exists():
                os.rename(self.tmp, self.out)
                old = None
            elif exchange(self.tmp, self.out):
                old = self.tmp  # the old cache, now under the temporary name
            else:  # two renames: a build killed between them leaves no cache at --out until the next build
                old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
                os.rename(self.out, old)
                os.rename(self.tmp, self.out)
            self._committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def _clear_leftovers(self) -> None:
        """Remove what killed builds left; restore a cache moved aside by a build killed mid-swap.

        A build killed after an exchange left its old cache under ``.<name>.tmp-<pid>``: removed like any temp.
        """
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


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Give an OSError raised in the block the file name it lacks (pyarrow's and numpy's do not carry one)."""
    try:
        yield
    except OSError as error:
        if not error.filename:
            error.filename = str(path)
        raise
