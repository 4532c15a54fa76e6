"""Team review on two app hosts behind nginx, sharing one review database (SQLite file, or a PostgreSQL server the
test starts): 20 reviewers × 50 decisions through the proxy, as the browser sends them.

Every reviewer saves "accept gold" on examples of a small shared pool, on top of the revision it last saw, so saves
collide. Checked: every save a reviewer was told succeeded is in the database once (0 lost, 0 duplicated), every
refused save was reported to its reviewer, revisions of each example run 1..n without a gap; with PostgreSQL, the
database is stopped mid-run: reviewers are told it is unavailable, nothing is saved meanwhile, and saving resumes
when it is back.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from helpers import REPO_ROOT, postgres_server

sys.path.insert(0, str(REPO_ROOT / "bench"))
# bench/ is not a package: these imports need the path entry above (hence E402).
import stack  # noqa: E402
from load import DashClient  # noqa: E402

from explainer.app.components.review_view import Ids  # noqa: E402
from explainer.cache.reader import open_cache  # noqa: E402
from explainer.review import session  # noqa: E402
from explainer.review.store import DecisionStore  # noqa: E402

REVIEWERS, DECISIONS, POOL = 20, 50, 12
PASSWORD = b"review"
SEARCH = "?tab=review"


@dataclass
class Tally:
    saved: Counter[str] = field(default_factory=Counter)  # reviewer -> saves the app confirmed
    refused: int = 0  # saves refused because another reviewer saved first (reported to the reviewer)
    unavailable: int = 0  # saves refused while the database was away (reported to the reviewer)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def htpasswd() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="explainer-reviewers-"))
    folder.chmod(0o755)
    path = folder / "htpasswd"
    path.write_bytes(b"".join(f"r{index}".encode() + b":{PLAIN}" + PASSWORD + b"\n" for index in range(REVIEWERS)))
    path.chmod(0o644)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def edit_callback(dependencies: list[dict]) -> dict:
    [callback] = [dep for dep in dependencies if any(item["id"] == Ids.ACCEPT_GOLD for item in dep["inputs"])]
    return callback


def accept_gold(client: DashClient, callback: dict, draft: dict) -> dict:
    """Click "accept gold" on ``draft`` as the browser does; the callback's outputs by component id."""
    response = client.click(callback, Ids.ACCEPT_GOLD, {Ids.DRAFT: draft, Ids.NEW_TYPE: None, "url": SEARCH})
    response.raise_for_status()
    answer = response.json()
    return {**answer["response"], "side": answer.get("sideUpdate")}


def reviewer(index: int, url: str, drafts: list[dict], tally: Tally, seed: int) -> None:
    try:
        review_until_done(index, url, drafts, tally, seed)
    except Exception as error:  # a thread's exception would be lost: the test reports it
        with tally.lock:
            tally.unexpected.append(f"r{index}: {type(error).__name__}: {error}")


def review_until_done(index: int, url: str, drafts: list[dict], tally: Tally, seed: int) -> None:
    name = f"r{index}"
    client = DashClient(url, timeout=120)
    client.session.auth = (name.encode(), PASSWORD)
    callback = edit_callback(client.load_dependencies())
    seen: dict[str, int] = {}  # example key -> the revision this reviewer last saw
    rng = random.Random(seed)
    retry: dict | None = None  # a save the database was away for: saved again, as a reviewer would
    while tally.saved[name] < DECISIONS:
        draft = retry or dict(rng.choice(drafts))
        retry = None
        draft["revision"] = seen.get(draft["key"], 0)
        try:
            answer = accept_gold(client, callback, draft)
        except requests.RequestException as error:
            with tally.lock:
                tally.unexpected.append(f"{name}: {error}")
            return
        message = str(answer.get(Ids.MESSAGE, {}).get("children", ""))
        new = answer.get(Ids.DRAFT, {}).get("data") or {}
        with tally.lock:
            if "saved a decision" in message and new.get("conflict"):
                tally.refused += 1
                seen[draft["key"]] = new["conflict"]["revision"]  # take theirs, then go on
            elif "review database" in message and "unavailable" in message:
                tally.unavailable += 1
                retry = draft
                time.sleep(0.2)
            elif new.get("revision") == draft["revision"] + 1 and new["saved"]["reviewer"] == name:
                tally.saved[name] += 1
                seen[draft["key"]] = new["revision"]
            else:
                tally.unexpected.append(
                    f"{name}: {message!r} revision {new.get('revision')} answer {str(answer)[:600]}"
                )
                return


@pytest.mark.deploy
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_twenty_reviewers_on_two_hosts_lose_and_duplicate_nothing(backend, tiny_cache, htpasswd, tmp_path):
    with postgres_server() if backend == "postgresql" else _sqlite(tmp_path) as (database, stop, start):
        env = {"EXPLAINER_REVIEW_DB": database, "EXPLAINER_WARM": "0", "EXPLAINER_REVIEWER": ""}
        with (
            stack.Gunicorn(cache=tiny_cache.parent, workers=1, threads=4, env=env) as first,
            stack.Gunicorn(cache=tiny_cache.parent, workers=1, threads=4, env=env) as second,
            stack.Nginx(upstream_port=[first.port, second.port], htpasswd=htpasswd) as proxy,
        ):
            cache = open_cache(tiny_cache)
            drafts = [session.new_draft(cache, example, {}) for example in range(POOL)]
            tally = Tally()
            threads = [
                threading.Thread(target=reviewer, args=(index, proxy.url, drafts, tally, index))
                for index in range(REVIEWERS)
            ]
            for thread in threads:
                thread.start()
            if stop is not None:
                while sum(tally.saved.values()) < REVIEWERS * DECISIONS // 3 and any(t.is_alive() for t in threads):
                    time.sleep(0.1)
                stop()
                time.sleep(3)  # reviewers keep saving: each is told the database is unavailable
                start()
            for thread in threads:
                thread.join(timeout=900)
            if tally.unexpected:  # the hosts' logs say why (pytest shows this output when the test fails)
                for host in (first, second):
                    lines = host.log.read_text(errors="replace").splitlines()
                    print("\n".join(line for line in lines if not line.startswith("127.0.0.1"))[-20_000:])
            assert not tally.unexpected, tally.unexpected[:3]
            assert all(count == DECISIONS for count in tally.saved.values()) and len(tally.saved) == REVIEWERS

            store = DecisionStore(database, tiny_cache.name)
            history = store.history()
            by_reviewer = Counter(decision["reviewer"] for decision in history)
            assert by_reviewer == tally.saved  # 0 lost, 0 duplicated
            revisions: dict[str, list[int]] = {}
            for decision in history:
                revisions.setdefault(decision["key"], []).append(decision["revision"])
            assert all(found == list(range(1, len(found) + 1)) for found in revisions.values())
            assert tally.refused > 0  # the saves did collide, and each refusal reached its reviewer
            # Only a database that went away makes a save fail (SQLite's lock waits rather than refusing).
            assert (tally.unavailable > 0) == (stop is not None)


class _sqlite:
    """(url, None, None) of a SQLite file both hosts share (no server to stop)."""

    def __init__(self, directory: Path) -> None:
        self.url = f"sqlite:///{directory / 'review.sqlite'}"

    def __enter__(self) -> tuple[str, None, None]:
        return self.url, None, None

    def __exit__(self, *_exc: object) -> None:
        return None
