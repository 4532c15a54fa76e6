"""The slices a user names (explainer/analysis/own_slices.py), kept beside the cache, not in it.

Where
    ``<cache>/../<cache name>.slices.json``, a sibling of the cache directory like the review's decisions
    (a rebuild swaps the directory and must not take the slices with it); ``EXPLAINER_CORRECTIONS_DIR``
    moves it, as it moves the review database (a read-only cache root keeps its slices there).

Format (one JSON object, ``"version": 1``)::

    {"version": 1, "slices": [{"name": "...", "examples": [3, 17, ...], "made_from": "Inspect filter",
      "query": "?tab=inspect&...", "created": "2026-12-07T21:00:00Z", "fingerprint": "..."}, ...]}

``fingerprint`` is the dataset fingerprint of the cache the slice was made on: after a rebuild on other
data the ids may name other examples, and the app says so.

Writes
    Read, change and write the whole file under the lock ``.<cache name>.slices.json.lock``: the new text
    goes to a temporary sibling, is fsynced, then renamed over the file (one atomic step), so a reader sees
    the old file or the new one, never half of one, and two app workers never lose each other's slice.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from explainer.analysis.own_slices import check_name
from explainer.errors import ExplainerError

SUFFIX = ".slices.json"
VERSION = 1
MAX_SLICES = 50  # per cache: the Slices section scores them all (~2 s of CPU for 50 at 14k examples)
LOCK_TIMEOUT = 30.0  # seconds; a write holds the lock for a few milliseconds


@dataclass(frozen=True)
class OwnSlice:
    """One named slice: its examples and how it was made."""

    name: str
    examples: tuple[int, ...]
    made_from: str = ""  # "Embeddings lasso", "Misclassified filter", "Inspect filter", "pasted ids"
    query: str = ""  # the URL query it was made from ("" for pasted ids)
    created: str = ""  # ISO 8601, UTC
    fingerprint: str | None = None  # the dataset fingerprint of the cache it was made on


def slices_path(cache_path: str | Path, directory: str | Path | None = None) -> Path:
    """``<directory or the cache's parent>/<cache name>.slices.json``."""
    cache_path = Path(cache_path).expanduser().absolute()
    parent = Path(directory).expanduser().absolute() if directory else cache_path.parent
    return parent / f"{cache_path.name}{SUFFIX}"


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_slices(path: str | Path) -> list[OwnSlice]:
    """The slices saved in ``path`` (none when it does not exist); ExplainerError when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ExplainerError(f"{path}: cannot read the saved slices ({error.strerror})") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("slices"), list):
            raise ValueError("not a slices file of version 1")
        return [_slice_of(item) for item in data["slices"]]
    except (ValueError, TypeError, KeyError, ExplainerError) as error:
        raise ExplainerError(
            f"{path}: not a saved-slices file ({error}); move it away and the app starts a new one"
        ) from None


def _slice_of(item: Any) -> OwnSlice:
    if not isinstance(item, dict):
        raise ValueError("a slice is not an object")
    examples = item["examples"]
    if not isinstance(examples, list) or not all(isinstance(value, int) for value in examples):
        raise ValueError(f"slice {item.get('name')!r}: examples are not a list of ids")
    fingerprint = item.get("fingerprint")
    return OwnSlice(
        name=check_name(str(item["name"])),
        examples=tuple(examples),
        made_from=str(item.get("made_from", "")),
        query=str(item.get("query", "")),
        created=str(item.get("created", "")),
        fingerprint=None if fingerprint is None else str(fingerprint),
    )


def save_slice(path: str | Path, new: OwnSlice, *, timeout: float = LOCK_TIMEOUT) -> None:
    """Add ``new`` to the slices of ``path``; ExplainerError if its name is taken or the file cannot be written."""
    with _locked(Path(path), timeout) as saved:
        if any(item.name.casefold() == new.name.casefold() for item in saved):
            raise ExplainerError(f"a slice named {new.name!r} exists; choose another name or delete that one first")
        if len(saved) >= MAX_SLICES:
            raise ExplainerError(f"this cache has {MAX_SLICES} slices already; delete one first")
        _write(Path(path), [*saved, new])


def delete_slice(path: str | Path, name: str, *, timeout: float = LOCK_TIMEOUT) -> bool:
    """Remove the slice ``name`` from ``path``; False when there was none of that name."""
    with _locked(Path(path), timeout) as saved:
        kept = [item for item in saved if item.name != name]
        if len(kept) == len(saved):
            return False
        _write(Path(path), kept)
        return True


@contextmanager
def _locked(path: Path, timeout: float) -> Iterator[list[OwnSlice]]:
    """The saved slices, read under the file lock held until the block ends."""
    try:
        with FileLock(str(lock_path(path)), timeout=timeout):
            yield read_slices(path)
    except Timeout:
        raise ExplainerError(
            f"{path}: another writer holds the lock {lock_path(path).name} for more than {timeout:.0f} s; try again"
        ) from None
    except PermissionError:
        raise ExplainerError(_not_writable(path)) from None
    except OSError as error:
        raise ExplainerError(f"{path}: cannot save the slices ({error.strerror})") from None


def _not_writable(path: Path) -> str:
    return (
        f"{path.parent} is not writable by the app's user, so slices cannot be saved; "
        "make it writable or set EXPLAINER_CORRECTIONS_DIR to a writable directory"
    )


def _write(path: Path, items: list[OwnSlice]) -> None:
    """The whole file, written to a temporary sibling, fsynced and renamed over ``path``."""
    text = json.dumps(
        {"version": VERSION, "slices": [{**asdict(item), "examples": list(item.examples)} for item in items]},
        ensure_ascii=False,
        indent=1,
    )
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
