"""ClickHouse for tests: the real engine in-process (chDB), or a server from CLICKHOUSE_URL.

chDB runs one engine per process on one data directory, and creating the ~20 tables takes
seconds, so each test process migrates one database once and every test starts from it
emptied (TRUNCATE of the tables that hold rows) instead of creating it anew.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from promptloop.store import open_store
from promptloop.store.clickhouse import ClickHouseStore
from promptloop.store.schema import MIGRATIONS_TABLE

SERVER_ENV = "CLICKHOUSE_URL"


def server_url() -> str | None:
    return os.environ.get(SERVER_ENV) or None


def _with_database(url: str, database: str) -> str:
    """The server URL pointed at one database (the path names it)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


class CleanDatabase:
    """One migrated database; :meth:`url` empties it and returns its URL."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._store = open_store(url)
        assert isinstance(self._store, ClickHouseStore)

    def url(self) -> str:
        rows = self._store.fetch_all(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
            " AND engine LIKE '%MergeTree' AND total_rows > 0 AND name <> :skip",
            {"skip": MIGRATIONS_TABLE},
        )
        for row in rows:
            self._store.execute(f"TRUNCATE TABLE {row['name']}")
        return self._url

    def close(self) -> None:
        self._store.close()


@contextmanager
def chdb_database(directory: Path) -> Iterator[CleanDatabase]:
    database = CleanDatabase(f"chdb://{directory}?database=conformance")
    try:
        yield database
    finally:
        database.close()


@contextmanager
def server_database(url: str) -> Iterator[CleanDatabase]:
    name = f"promptloop_test_{os.getpid()}"
    database = CleanDatabase(_with_database(url, name))
    try:
        yield database
    finally:
        database._store.execute(f"DROP DATABASE IF EXISTS {name}")
        database.close()
