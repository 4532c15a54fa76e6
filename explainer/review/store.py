"""Review decisions in a database, through SQLAlchemy: SQLite beside the cache by default, PostgreSQL (or any
database SQLAlchemy speaks) when ``EXPLAINER_REVIEW_DB`` names one, so several app hosts share it.

Where
    ``<cache>/../<cache name>.review.sqlite`` (a sibling of the cache directory: a rebuild swaps the directory
    and must not take the reviews with it; ``EXPLAINER_CORRECTIONS_DIR`` moves it), or the URL in
    ``EXPLAINER_REVIEW_DB``. One database may hold the decisions of many caches: each row names its cache.

Tables (created, and migrated, by :func:`open_store`; ``review_schema`` holds the version)
    ``review_decisions``  the audit trail: every decision ever saved, never updated or deleted. A decision is
                          the JSON object of :func:`explainer.review.corrections.make_decision` plus its
                          ``revision``: 1, 2, 3... per (cache, example key). The latest revision is the settled
                          decision the exports and ``explainer merge`` use.
    ``review_claims``     which reviewer holds which example until when (the queue skips others' claims).
    ``review_imports``    the corrections files (JSONL) already imported, so each is imported once.

Concurrency
    A save names the revision its reviewer saw (``base``). If another decision was saved since, the save is
    refused with :class:`Conflict`, which carries the other decision; the reviewer takes it or saves again on
    top of it. The unique (cache, key, revision) constraint makes two concurrent saves on the same base end
    in one row and one conflict, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from explainer.errors import ExplainerError
from explainer.review.corrections import CorrectionsWarning, corrections_path, read_decisions

SCHEMA_VERSION = 1
STORE_SUFFIX = ".review.sqlite"
SCHEMA_LOCK = 0x4E45_5201  # PostgreSQL advisory lock held while the tables are created or migrated
CLAIM_SECONDS = 600.0  # an example handed to a reviewer stays theirs this long unless they decide it

metadata = MetaData()
schema_table = Table("review_schema", metadata, Column("version", Integer, nullable=False))
decisions_table = Table(
    "review_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cache", String(255), nullable=False),
    Column("key", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("reviewer", String(100)),
    Column("time", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("record", Text, nullable=False),
    UniqueConstraint("cache", "key", "revision", name="one_decision_per_revision"),
)
claims_table = Table(
    "review_claims",
    metadata,
    Column("cache", String(255), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("reviewer", String(100), nullable=False),
    Column("expires", Float, nullable=False),
)
imports_table = Table(
    "review_imports",
    metadata,
    Column("cache", String(255), primary_key=True),
    Column("source", String(1000), primary_key=True),
    Column("decisions", Integer, nullable=False),
    Column("time", Float, nullable=False),
)


class Conflict(ExplainerError):
    """A save on top of a decision its reviewer had not seen; ``theirs`` is that decision."""

    def __init__(self, theirs: dict[str, Any]) -> None:
        who = theirs.get("reviewer") or "another reviewer"
        super().__init__(
            f"{who} saved a decision on this example at {theirs.get('time')} after you opened it "
            f"(revision {theirs.get('revision')}); take theirs, or save yours again on top of it"
        )
        self.theirs = theirs


@dataclass(frozen=True)
class Reviewed:
    """The decisions of one cache, as the app shows them."""

    latest: dict[str, dict[str, Any]]  # key -> its settled (latest) decision, with "revision"
    n_decisions: int
    reviewers: dict[str, frozenset[str]] = field(default_factory=dict)  # key -> who decided it ("" for no name)

    def done_for(self, reviewer: str | None, double: set[str] | frozenset[str] = frozenset()) -> set[str]:
        """The examples that count as reviewed for ``reviewer``: decided, except an example of the ``double``
        review share that only someone else has decided so far (it waits for a second reviewer)."""
        me = reviewer or ""
        return {
            key
            for key in self.latest
            if key not in double or me in self.reviewers.get(key, ()) or len(self.reviewers.get(key, ())) >= 2
        }

    def blind_for(self, reviewer: str | None, double: set[str] | frozenset[str]) -> set[str]:
        """The ``double`` examples this reviewer reviews without seeing the other reviewer's decision."""
        me = reviewer or ""
        return {key for key in double if key in self.latest and me not in self.reviewers.get(key, ())}


def store_url(cache_path: str | Path, *, url: str | None = None, directory: str | Path | None = None) -> str:
    """The database of the cache at ``cache_path``: ``url`` when given (``EXPLAINER_REVIEW_DB``), else SQLite
    beside the cache (or in ``directory``)."""
    if url:
        return url
    cache_path = Path(cache_path).expanduser().absolute()
    parent = Path(directory).expanduser().absolute() if directory else cache_path.parent
    return f"sqlite:///{parent / (cache_path.name + STORE_SUFFIX)}"


def display_url(url: str) -> str:
    """The URL without its password (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the review database"


@lru_cache(maxsize=32)
def engine_for(url: str) -> Engine:
    """One engine (a pool of connections) per database per process."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ExplainerError(
            f"{url!r} is not a database URL; use e.g. postgresql+psycopg://user@host/db or sqlite:////path/file"
        ) from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        # pre-ping: a database that restarted is reconnected to instead of failing every pooled connection
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise ExplainerError(
            f"{display_url(url)}: no driver for this database ({error}); for PostgreSQL install psycopg "
            "(pip install 'psycopg[binary]')"
        ) from None


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # SQLAlchemy's "begin" event below starts the transactions, not the driver
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer (several gunicorn workers)
    cursor.execute("PRAGMA synchronous=FULL")  # a saved decision survives a power cut
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write takes SQLite's write lock up front (waiting up to the timeout): a transaction that read first and
    # wrote later would fail at once with "database is locked" when another host wrote in between.
    write = connection.get_execution_options().get("review_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class DecisionStore:
    """The decisions about one cache (named ``cache``) in the database at ``url``."""

    def __init__(self, url: str, cache: str) -> None:
        self.url = url
        self.cache = cache
        self.engine = engine_for(url)

    # --- plumbing ----------------------------------------------------------------------------------------------

    @contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            engine = self.engine.execution_options(review_write=True) if write else self.engine
            with engine.begin() if write else engine.connect() as connection:
                yield connection
        except IntegrityError:  # a concurrent save: the caller turns it into a Conflict
            raise
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
            hint = (
                "make its directory writable by the app's user, or set EXPLAINER_CORRECTIONS_DIR or EXPLAINER_REVIEW_DB"
                if self.engine.url.get_backend_name() == "sqlite"
                else "decisions are not saved until it is back: try again in a moment"
            )
            raise ExplainerError(
                f"the review database {display_url(self.url)} is unavailable ({reason}); {hint}"
            ) from None

    def create(self) -> DecisionStore:
        """Create the tables, or migrate them to this version; refuse a database of a newer version."""
        with self._connection(write=True) as connection:
            if connection.dialect.name == "postgresql":
                # Hosts starting together would race to create the tables: one at a time (until commit).
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            metadata.create_all(connection)
            found = connection.execute(select(schema_table.c.version)).scalar()
            if found is None:
                connection.execute(insert(schema_table).values(version=SCHEMA_VERSION))
            elif found > SCHEMA_VERSION:
                raise ExplainerError(
                    f"the review database {display_url(self.url)} has schema version {found}, newer than this "
                    f"app's {SCHEMA_VERSION}; upgrade ner-explainer on every host that uses it"
                )
            # (migrations from older versions go here, one step per version, then the version is updated)
        return self

    # --- decisions ---------------------------------------------------------------------------------------------

    def save(self, decision: dict[str, Any], *, base: int) -> dict[str, Any]:
        """Save ``decision`` on top of revision ``base`` of its example (0: no decision seen) and return it with
        its new ``revision``.

        Raises
        ------
        Conflict
            If the example's latest revision is not ``base`` (someone saved since), with their decision.
        ExplainerError
            If the database cannot be reached.
        """
        key = str(decision["key"])
        try:
            with self._connection(write=True) as connection:
                current = self._latest_revision(connection, key)
                if current != base:
                    # This save may have committed before its answer was lost (the database went away): its retry
                    # finds it at base + 1, even when others have saved on top since, and it is saved once.
                    landed = self._decision(connection, key, base + 1) if current > base else None
                    if landed is not None and _same_save(landed, decision):
                        return landed
                    raise Conflict(self._decision(connection, key, current))
                saved = {**decision, "revision": base + 1}
                connection.execute(insert(decisions_table).values(**self._row(saved)))
                connection.execute(
                    delete(claims_table).where(claims_table.c.cache == self.cache, claims_table.c.key == key)
                )
        except IntegrityError:  # a concurrent save took revision base + 1 first
            with self._connection() as connection:
                raise Conflict(self._decision(connection, key, self._latest_revision(connection, key))) from None
        return saved

    def _row(self, decision: dict[str, Any]) -> dict[str, Any]:
        return {
            "cache": self.cache,
            "key": str(decision["key"]),
            "revision": int(decision["revision"]),
            "reviewer": decision.get("reviewer"),
            "time": str(decision.get("time") or ""),
            "kind": str(decision["kind"]),
            "record": json.dumps(decision, ensure_ascii=False, separators=(",", ":")),
        }

    def _latest_revision(self, connection: Connection, key: str) -> int:
        query = select(func.max(decisions_table.c.revision)).where(
            decisions_table.c.cache == self.cache, decisions_table.c.key == key
        )
        return int(connection.execute(query).scalar() or 0)

    def _decision(self, connection: Connection, key: str, revision: int) -> dict[str, Any]:
        query = select(decisions_table.c.record).where(
            decisions_table.c.cache == self.cache,
            decisions_table.c.key == key,
            decisions_table.c.revision == revision,
        )
        record = connection.execute(query).scalar()
        return json.loads(record) if record else {"key": key, "revision": revision}

    def history(self) -> list[dict[str, Any]]:
        """Every decision about this cache, oldest first (the audit trail)."""
        with self._connection() as connection:
            rows = connection.execute(
                select(decisions_table.c.record).where(decisions_table.c.cache == self.cache).order_by("id")
            )
            return [json.loads(record) for (record,) in rows]

    def stamp(self) -> tuple[int, int]:
        """(last row id, number of decisions): changes whenever a decision is saved."""
        with self._connection() as connection:
            row = connection.execute(
                select(func.max(decisions_table.c.id), func.count()).where(decisions_table.c.cache == self.cache)
            ).one()
            return int(row[0] or 0), int(row[1])

    def read_reviewed(self, *, n_decisions: int) -> Reviewed:
        """The latest decision of each example and who decided it (two queries, not the whole history)."""
        table = decisions_table
        newest = (
            select(table.c.key, func.max(table.c.revision).label("revision"))
            .where(table.c.cache == self.cache)
            .group_by(table.c.key)
            .subquery()
        )
        latest_rows = select(table.c.record).join(
            newest, and_(table.c.key == newest.c.key, table.c.revision == newest.c.revision)
        )
        who = select(table.c.key, table.c.reviewer).where(table.c.cache == self.cache).distinct()
        with self._connection() as connection:
            latest = [
                json.loads(record) for (record,) in connection.execute(latest_rows.where(table.c.cache == self.cache))
            ]
            reviewers: dict[str, set[str]] = {}
            for key, name in connection.execute(who):
                reviewers.setdefault(key, set()).add(name or "")
        return Reviewed(
            latest={str(decision["key"]): decision for decision in latest},
            n_decisions=n_decisions,
            reviewers={key: frozenset(names) for key, names in reviewers.items()},
        )

    def reviewed(self) -> Reviewed:
        """The settled decision of each example, re-read only when a decision was saved since."""
        return _reviewed(self.url, self.cache, self.stamp())

    def latest(self) -> dict[str, dict[str, Any]]:
        return self.reviewed().latest

    # --- claims ------------------------------------------------------------------------------------------------

    def claim(self, key: str, reviewer: str | None, *, seconds: float = CLAIM_SECONDS) -> bool:
        """Hand example ``key`` to ``reviewer`` for ``seconds``; False when another reviewer holds it."""
        who, now = reviewer or "", time.time()
        with self._connection(write=True) as connection:
            taken = connection.execute(
                update(claims_table)
                .where(claims_table.c.cache == self.cache, claims_table.c.key == key)
                .where((claims_table.c.reviewer == who) | (claims_table.c.expires < now))
                .values(reviewer=who, expires=now + seconds)
            ).rowcount
            if taken:
                return True
            held = connection.execute(
                select(claims_table.c.reviewer).where(claims_table.c.cache == self.cache, claims_table.c.key == key)
            ).scalar()
            if held is not None:
                return False
        try:
            with self._connection(write=True) as connection:
                connection.execute(
                    insert(claims_table).values(cache=self.cache, key=key, reviewer=who, expires=now + seconds)
                )
            return True
        except IntegrityError:  # another reviewer claimed it in between
            return False

    def claimed_by_others(self, reviewer: str | None) -> set[str]:
        """The examples other reviewers hold now."""
        with self._connection() as connection:
            rows = connection.execute(
                select(claims_table.c.key).where(
                    claims_table.c.cache == self.cache,
                    claims_table.c.reviewer != (reviewer or ""),
                    claims_table.c.expires >= time.time(),
                )
            )
            return {key for (key,) in rows}

    # --- import ------------------------------------------------------------------------------------------------

    def import_jsonl(self, path: str | Path) -> int:
        """Import the decisions of a corrections file (JSONL) once, in file order; the number imported (0 when the
        file was imported before or does not exist). The file itself is left as it is."""
        path = Path(path)
        source = str(path.absolute())
        with self._connection() as connection:
            done = connection.execute(
                select(imports_table.c.decisions).where(
                    imports_table.c.cache == self.cache, imports_table.c.source == source
                )
            ).scalar()
        if done is not None or not path.is_file():
            return 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorrectionsWarning)  # damaged lines are skipped, as merge skips them
            decisions = read_decisions(path)
        with self._connection(write=True) as connection:
            revisions: dict[str, int] = {}
            for decision in decisions:
                key = str(decision["key"])
                if key not in revisions:
                    revisions[key] = self._latest_revision(connection, key)
                revisions[key] += 1
                connection.execute(
                    insert(decisions_table).values(**self._row({**decision, "revision": revisions[key]}))
                )
            connection.execute(
                insert(imports_table).values(
                    cache=self.cache, source=source, decisions=len(decisions), time=time.time()
                )
            )
        return len(decisions)

    def caches(self) -> list[str]:
        """The caches this database holds decisions for."""
        with self._connection() as connection:
            rows = connection.execute(select(decisions_table.c.cache).distinct().order_by(decisions_table.c.cache))
            return [name for (name,) in rows]


def _same_save(saved: dict[str, Any], decision: dict[str, Any]) -> bool:
    """Whether ``saved`` is ``decision`` saved already (the same reviewer, kind and tags): a retried save."""
    return all(saved.get(name) == decision.get(name) for name in ("reviewer", "kind", "corrected", "original"))


@lru_cache(maxsize=16)
def _reviewed(url: str, cache: str, stamp: tuple[int, int]) -> Reviewed:  # the stamp keys a fresh read
    return DecisionStore(url, cache).read_reviewed(n_decisions=stamp[1])


@lru_cache(maxsize=64)
def _opened(url: str, cache: str, legacy: str | None) -> DecisionStore:
    database = make_url(url).database if make_url(url).get_backend_name() == "sqlite" else None
    if database:
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ExplainerError(
                f"cannot create {Path(database).parent} for the review database ({error.strerror}); set "
                "EXPLAINER_CORRECTIONS_DIR to a writable directory or EXPLAINER_REVIEW_DB to a database URL"
            ) from None
    store = DecisionStore(url, cache).create()
    if legacy:
        store.import_jsonl(legacy)
    return store


def open_store(cache_path: str | Path, *, url: str | None = None, directory: str | Path | None = None) -> DecisionStore:
    """The decision store of the cache at ``cache_path`` (created on first use; the corrections file beside the
    cache, from before the database, imported once)."""
    cache_path = Path(cache_path).expanduser().absolute()
    legacy = corrections_path(cache_path, directory)
    return _opened(store_url(cache_path, url=url, directory=directory), cache_path.name, str(legacy))


def store_of_url(url: str, cache: str | None = None) -> DecisionStore:
    """The store of ``cache`` in the database at ``url`` (``explainer merge --corrections URL``): the one cache the
    database holds when ``cache`` is None."""
    store = DecisionStore(url, cache or "").create()
    names = store.caches()
    if cache is None:
        if len(names) != 1:
            listed = ", ".join(names) or "none"
            raise ExplainerError(
                f"{display_url(url)} holds the decisions of {len(names)} caches ({listed}); name one with --cache NAME"
            )
        store.cache = names[0]
    elif cache not in names:
        raise ExplainerError(
            f"{display_url(url)} holds no decisions for the cache {cache!r}; it holds: {', '.join(names) or 'none'}"
        )
    return store


def is_database_url(value: str) -> bool:
    return "://" in value
