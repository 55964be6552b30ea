"""Shared fixtures: real stores on every backend, and a real PostgreSQL server.

The PostgreSQL server is started once per test session. In CI (``CI`` set) a missing
PostgreSQL is an error, never a silent skip.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptloop.store import Store, open_store
from tests.support.clickhouse import CleanDatabase, chdb_database, server_database, server_url
from tests.support.pgserver import (
    PostgresServer,
    PostgresUnavailable,
    create_database,
    postgres_server,
)

# ClickHouse runs in-process through chdb everywhere; against a server too when
# CLICKHOUSE_URL is set.
BACKENDS = ("duckdb", "postgresql", "clickhouse", *(("clickhouse-server",) if server_url() else ()))
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        with postgres_server() as server:
            yield server
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return create_database(pg_server, f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one data directory chdb may use in this test process."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_conformance(chdb_dir: Path) -> Iterator[CleanDatabase]:
    with chdb_database(chdb_dir) as database:
        yield database


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[CleanDatabase]:
    with server_database(server_url() or "") as database:
        yield database


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/store.duckdb"
    if request.param.startswith("clickhouse"):
        name = "chdb_conformance" if request.param == "clickhouse" else "clickhouse_server"
        database: CleanDatabase = request.getfixturevalue(name)
        return database.url()
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()
