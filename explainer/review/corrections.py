"""The corrections file: one JSON line per review decision, appended beside the cache.

Where
    ``<cache>/../<cache name>.corrections.jsonl``, i.e. a sibling of the cache directory, never inside
    it: a rebuild swaps the cache directory atomically and would throw the reviews away. The lock is
    the hidden sibling ``.<cache name>.corrections.jsonl.lock``. ``EXPLAINER_CORRECTIONS_DIR`` puts both
    in another directory (for a read-only cache volume).

What a line holds (``FIELDS``)
    ``key`` (the example's ``words_hash``, see :attr:`explainer.data.example.Example.words_hash`),
    ``example_id`` and ``source`` (where it was in the cache and the dataset, for people), ``words``,
    ``original`` and ``corrected`` (IOB2 tags in the cache's label names, one per word), ``kind`` (one of
    ``KINDS``), ``detail`` (e.g. the accepted span), ``time`` (UTC, ISO 8601), ``reviewer`` (or null) and
    ``identity`` (cache name, model, dataset spec, split, fingerprint and label map of the build).

Writes are appends of one whole line under a file lock, flushed and fsynced before the lock is
released, so concurrent gunicorn workers and reviewers lose nothing. Reading tolerates a damaged
line (a crash half-way through a write): it is skipped with a warning. The last decision about an
example wins (file order, not clocks, which may differ between machines).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from filelock import FileLock, Timeout

from explainer.errors import ExplainerError

SUFFIX = ".corrections.jsonl"
FORMAT_VERSION = 1
ACCEPT_GOLD = "accept_gold"
ACCEPT_PREDICTION_SPAN = "accept_prediction_span"
ACCEPT_ALL_PREDICTIONS = "accept_all_predictions"
EDIT = "edit"
# The labels are right and the model is wrong: kept so the example's findings are known to be model errors
# (its corrected tags are its original ones, so `merge` leaves the example as it is).
MODEL_ERROR = "model_error"
APPLY_FINDING = "apply_finding"  # a finding's proposed fix (explainer/analysis/findings.py); detail: the finding
KINDS = (ACCEPT_GOLD, ACCEPT_PREDICTION_SPAN, ACCEPT_ALL_PREDICTIONS, EDIT, MODEL_ERROR, APPLY_FINDING)
KIND_LABELS = {
    ACCEPT_GOLD: "accepted gold",
    ACCEPT_PREDICTION_SPAN: "accepted a predicted span",
    ACCEPT_ALL_PREDICTIONS: "accepted all predictions",
    EDIT: "edited",
    MODEL_ERROR: "model error, labels right",
    APPLY_FINDING: "applied a finding's fix",
}
FIELDS = (
    "version",
    "key",
    "example_id",
    "source",
    "words",
    "original",
    "corrected",
    "kind",
    "detail",
    "time",
    "reviewer",
    "identity",
)
LOCK_TIMEOUT = 30.0  # seconds; a write holds the lock for a few milliseconds
MAX_REVIEWER_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: Unicode's control characters (Cc)


class Decision(dict):
    """A decision as read from a corrections file: its JSON object, and ``where`` it is (``"<file>:<line>"``)
    so that a merge refusing it can name the line."""

    def __init__(self, record: dict, where: str) -> None:
        super().__init__(record)
        self.where = where


class CorrectionsWarning(UserWarning):
    """A line of a corrections file was skipped (damaged or not a decision)."""


def corrections_path(cache_path: str | Path, directory: str | Path | None = None) -> Path:
    """Where the decisions about the cache at ``cache_path`` are kept.

    Parameters
    ----------
    cache_path : str or Path
        The cache directory.
    directory : str or Path, optional
        Another directory for the file (``EXPLAINER_CORRECTIONS_DIR``); default: the cache's parent.

    Returns
    -------
    Path
        ``<directory>/<cache name>.corrections.jsonl``.
    """
    cache_path = Path(cache_path).expanduser().absolute()
    parent = Path(directory).expanduser().absolute() if directory else cache_path.parent
    return parent / f"{cache_path.name}{SUFFIX}"


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def clean_reviewer(name: str | None) -> str | None:
    """A reviewer name fit for the file: no control characters (C0, DEL, C1), at most 100 characters, None if
    blank."""
    if name is None:
        return None
    name = _CONTROL.sub("", str(name)).strip()[:MAX_REVIEWER_LENGTH]
    return name or None


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def make_decision(
    *,
    key: str,
    words,
    original,
    corrected,
    kind: str,
    example_id: int | None = None,
    source: str = "",
    detail: dict | None = None,
    reviewer: str | None = None,
    identity: dict | None = None,
    time: str | None = None,
) -> dict:
    """One decision as it is written (checked: as many tags as words, a known kind)."""
    words, original, corrected = list(words), list(original), list(corrected)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if not (len(words) == len(original) == len(corrected)):
        raise ValueError(f"{len(words)} words but {len(original)} original and {len(corrected)} corrected tags")
    if kind == MODEL_ERROR and corrected != original:
        raise ValueError("a model-error decision keeps the original tags")
    return {
        "version": FORMAT_VERSION,
        "key": str(key),
        "example_id": None if example_id is None else int(example_id),
        "source": source,
        "words": words,
        "original": original,
        "corrected": corrected,
        "kind": kind,
        "detail": detail or {},
        "time": time or now_utc(),
        "reviewer": clean_reviewer(reviewer),
        "identity": identity or {},
    }


def append_decision(path: str | Path, decision: dict, *, timeout: float = LOCK_TIMEOUT) -> None:
    """Append one decision as one line: under the file lock, flushed and fsynced before it is released.

    If the file ends in a partial line (a writer died mid-line), a newline is written first so the new
    decision stays whole and readable.

    Raises
    ------
    ExplainerError
        If the directory is not writable or the lock cannot be taken within ``timeout`` seconds.
    """
    path = Path(path)
    line = (json.dumps(decision, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        with FileLock(str(lock_path(path)), timeout=timeout):
            created = not path.exists()
            with open(path, "a+b") as handle:  # O_APPEND: every write lands at the end
                handle.seek(0, os.SEEK_END)
                if handle.tell() > 0:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        line = b"\n" + line
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                _fsync_directory(path.parent)
    except Timeout:
        raise ExplainerError(
            f"{path}: another writer holds the lock {lock_path(path).name} for more than {timeout:.0f} s; try again"
        ) from None
    except PermissionError:
        raise ExplainerError(
            f"{path.parent} is not writable by the app's user, so decisions cannot be saved; "
            "make it writable or set EXPLAINER_CORRECTIONS_DIR to a writable directory"
        ) from None
    except OSError as error:
        raise ExplainerError(f"{path}: cannot save the decision ({error.strerror})") from None


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot fsync a directory; the data itself is already synced
    finally:
        os.close(descriptor)


def parse_decisions(data: bytes, *, display: str) -> list[dict]:
    """The valid decisions of a corrections file's bytes, in file order; bad lines are skipped with a warning."""
    decisions: list[dict] = []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = number == len(lines)  # no newline after it: a write that did not finish
        problem = None
        try:
            record = json.loads(raw.decode("utf-8"))
            problem = _problem(record)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problem = "truncated (a write did not finish)" if last else f"not valid JSON ({error})"
        if problem:
            warnings.warn(f"{display}:{number}: skipped, {problem}", CorrectionsWarning, stacklevel=2)
            continue
        decisions.append(Decision(record, f"{display}:{number}"))
    return decisions


def _problem(record) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("key"), str) or record.get("kind") not in KINDS:
        return "no example key or an unknown kind"
    words, original, corrected = record.get("words"), record.get("original"), record.get("corrected")
    if not (
        isinstance(words, list)
        and isinstance(original, list)
        and isinstance(corrected, list)
        and all(isinstance(item, str) for items in (words, original, corrected) for item in items)
    ):
        return "words, original and corrected must be lists of strings"
    if not len(words) == len(original) == len(corrected):
        return "words, original and corrected tags differ in length"
    return None


def read_decisions(path: str | Path) -> list[dict]:
    """Every valid decision in the file at ``path``, in file order ([] when there is no file yet).

    Raises
    ------
    ExplainerError
        If the file exists but cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ExplainerError(f"{path}: cannot read the corrections ({error.strerror})") from None
    return parse_decisions(data, display=str(path))


def latest_decisions(decisions) -> dict[str, dict]:
    """``{example key: its last decision}`` (a later line overrides an earlier one)."""
    latest = {}
    for decision in decisions:
        latest[decision["key"]] = decision
    return latest


@dataclass(frozen=True)
class Reviewed:
    """The decisions of one corrections file, as the app shows them."""

    latest: dict  # key -> last decision
    n_decisions: int


def reviewed(path: str | Path) -> Reviewed:
    """The latest decision per example of the file at ``path``, re-read only when the file changed."""
    path = Path(path)
    try:
        stat = path.stat()
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    except OSError:
        stamp = None
    return _reviewed(str(path), stamp)


@lru_cache(maxsize=16)
def _reviewed(path: str, stamp) -> Reviewed:  # the stamp is part of the key: a new write reads again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionsWarning)  # the app has no one to warn; merge/CLI warn
        decisions = read_decisions(path) if stamp else []
    return Reviewed(latest=latest_decisions(decisions), n_decisions=len(decisions))
