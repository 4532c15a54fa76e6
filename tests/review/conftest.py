"""The review database backends the store tests run against: SQLite in a temporary file, and a PostgreSQL server
the session starts on loopback (skipped where PostgreSQL's server is not installed)."""

from __future__ import annotations

import pytest

from tests.helpers import postgres_server


@pytest.fixture(scope="session")
def postgres():
    """(url, stop, start) of one PostgreSQL server for the session."""
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A database URL of each backend (PostgreSQL: one server, each test with its own cache names)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.sqlite'}"
    url, _stop, _start = request.getfixturevalue("postgres")
    return url
