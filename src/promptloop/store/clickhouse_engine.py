"""The two ways to reach ClickHouse: a server over HTTP, or the engine in-process (chDB).

Both expose the same three calls (read to Arrow, run a command, insert an Arrow table), so
:class:`~promptloop.store.clickhouse.ClickHouseStore` does not care which one it has.

chDB runs one embedded ClickHouse per process, bound to one data directory: every store
on ``chdb://PATH`` in a process must name the same PATH (use ``?database=NAME`` to keep
stores apart). Each store still gets its own connection, so its current database and
settings are its own.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa

from promptloop.exceptions import ConfigError, StoreError

# Session settings that make ClickHouse answer the way the SQL of the other backends expects.
QUERY_SETTINGS: dict[str, Any] = {
    # Unmatched LEFT JOIN columns are NULL, not 0 / ''.
    "join_use_nulls": 1,
    # sum/max/avg over no rows is NULL, as in standard SQL.
    "aggregate_functions_null_for_empty": 1,
    # `SELECT sum(x) AS x ... WHERE x > 0`: WHERE means the column, as in standard SQL.
    "prefer_column_name_to_alias": 1,
    # A bare UNION / EXCEPT / INTERSECT removes duplicates, as in standard SQL.
    "union_default_mode": "DISTINCT",
    "except_default_mode": "DISTINCT",
    "intersect_default_mode": "DISTINCT",
    # Time buckets never depend on the server's time zone.
    "session_timezone": "UTC",
    # A join with a small side (a page of IDs) reads only the granules holding its keys:
    # listing a page was 180 ms and is 65 ms on 1M interactions here.
    "enable_join_runtime_filters_index_analysis": 1,
    # Key look-ups inline a batch's IDs into one IN list.
    "max_query_size": 64 * 1024 * 1024,
    # Writes wait until every replica applied them: a read after a write sees it.
    "mutations_sync": 2,
    "lightweight_deletes_sync": 2,
}


# Materialized CTEs (``WITH x AS MATERIALIZED``, an experimental setting in ClickHouse
# 26): set where the engine has them; clickhouse_sql.ReadPlan.materialized uses them.
MATERIALIZED_CTE_SETTING = "enable_materialized_cte"


class Engine(Protocol):
    database: str
    # True: the engine runs ``WITH x AS MATERIALIZED (...)`` once per query.
    materialized_cte: bool

    def query_arrow(self, sql: str) -> pa.Table: ...

    def command(self, sql: str) -> None: ...

    def insert_arrow(self, table: str, batch: pa.Table) -> None: ...

    def close(self) -> None: ...


class _Connection:
    """One chdb connection, shared by every store open on the same database."""

    def __init__(self, path: str, database: str, settings: Mapping[str, Any]) -> None:
        import chdb

        try:
            self.conn = chdb.connect(path)  # type: ignore[no-untyped-call]
        except RuntimeError as exc:
            raise StoreError(f"cannot open chdb at {path}: {exc}") from exc
        self.lock = threading.Lock()
        self.users = 0
        for name, value in {**QUERY_SETTINGS, **settings}.items():
            shown = f"'{value}'" if isinstance(value, str) else str(value)
            self.run(f"SET {name} = {shown}")
        try:
            self.run(f"SET {MATERIALIZED_CTE_SETTING} = 1")
            self.materialized_cte = True
        except StoreError:  # a chdb without them: CTEs stay inlined
            self.materialized_cte = False
        self.run(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        self.run(f"USE `{database}`")

    def run(self, sql: str, fmt: str = "CSV") -> Any:
        with self.lock:
            try:
                return self.conn.query(sql, fmt)
            except RuntimeError as exc:
                raise StoreError(str(exc).strip()) from exc


# chdb hosts one engine per process: its data directory, and the connections open on it.
_engine_path: str | None = None
_connections: dict[str, _Connection] = {}
_registry_lock = threading.Lock()


def _ipc_stream(batch: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_table(batch)
    return bytes(sink.getvalue().to_pybytes())


class ChdbEngine:
    """The process's embedded ClickHouse (chDB), on one database.

    Stores opened on the same database share one connection (opening one costs a few
    queries, and its first query warms the engine up); the last to close closes it.
    """

    def __init__(self, path: str, database: str, settings: Mapping[str, Any] | None = None) -> None:
        global _engine_path
        self.path = path if path == ":memory:" else str(Path(path).resolve())
        self.database = database
        with _registry_lock:
            if _connections and _engine_path != self.path:
                raise ConfigError(
                    f"chdb runs one engine per process and it is open on {_engine_path}; "
                    f"cannot also open {self.path}: use chdb://{_engine_path}?database=NAME "
                    "to keep this store apart, or another process"
                )
            if self.path != ":memory:":
                Path(self.path).mkdir(parents=True, exist_ok=True)
            # Stores with the same database and settings share a connection.
            self._key = f"{database}?{sorted((settings or {}).items())}"
            shared = _connections.get(self._key)
            if shared is None:
                shared = _Connection(self.path, database, settings or {})
                _connections[self._key] = shared
                _engine_path = self.path
            shared.users += 1
        self._shared = shared
        self._closed = False
        self.materialized_cte = shared.materialized_cte

    def _run(self, sql: str, fmt: str = "CSV") -> Any:
        if self._closed:
            raise StoreError("this ClickHouse store is closed")
        return self._shared.run(sql, fmt)

    def query_arrow(self, sql: str) -> pa.Table:
        result: pa.Table = self._run(sql, "Arrowtable")
        return result

    def command(self, sql: str) -> None:
        self._run(sql)

    def insert_arrow(self, table: str, batch: pa.Table) -> None:
        if self._closed:
            raise StoreError("this ClickHouse store is closed")
        names = ", ".join(f"`{name}`" for name in batch.column_names)
        payload = _ipc_stream(batch)
        shared = self._shared
        with shared.lock:
            try:
                with shared.conn.send_insert(
                    f"INSERT INTO `{table}` ({names})", "ArrowStream"
                ) as ins:
                    ins.append(payload)
                    ins.finish()
            except RuntimeError as exc:
                raise StoreError(str(exc).strip()) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _registry_lock:
            self._shared.users -= 1
            if self._shared.users == 0:
                _connections.pop(self._key, None)
                with self._shared.lock:
                    self._shared.conn.close()


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    secure: bool
    username: str | None
    password: str
    database: str
    options: dict[str, str] = field(default_factory=dict)


def parse_server_url(url: str) -> ServerAddress:
    """``clickhouse://user:pass@host:8123/db?opt=v``, ``clickhouses://`` or ``http(s)://``."""
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "clickhouses", "clickhouse+https")
    database = unquote(parts.path.strip("/")) or "default"
    return ServerAddress(
        host=parts.hostname or "localhost",
        port=parts.port or (8443 if secure else 8123),
        secure=secure,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password or ""),
        database=database,
        options=dict(parse_qsl(parts.query)),
    )


class HttpEngine:
    """A ClickHouse server (or a cluster's entry node) through clickhouse-connect."""

    def __init__(
        self,
        address: ServerAddress,
        settings: Mapping[str, Any] | None = None,
        cluster: str | None = None,
    ) -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self._error = ClickHouseError
        self.database = address.database
        try:
            bootstrap = clickhouse_connect.get_client(
                host=address.host,
                port=address.port,
                username=address.username,
                password=address.password,
                secure=address.secure,
            )
            on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{address.database}`{on_cluster}")
            bootstrap.close()
            self._client = clickhouse_connect.get_client(
                host=address.host,
                port=address.port,
                username=address.username,
                password=address.password,
                secure=address.secure,
                database=address.database,
                settings={**QUERY_SETTINGS, **(settings or {})},
            )
        except ClickHouseError as exc:
            raise StoreError(f"cannot connect to ClickHouse at {address.host}: {exc}") from exc
        self._lock = threading.Lock()
        self.materialized_cte = self._enable_materialized_cte()

    def _enable_materialized_cte(self) -> bool:
        """Materialized CTEs where the server has them and lets this user set them (an
        older server, or one that allows no experimental settings, runs CTEs inlined)."""
        try:
            self._client.query(f"SELECT 1 SETTINGS {MATERIALIZED_CTE_SETTING} = 1")
        except self._error:
            return False
        self._client.set_client_setting(MATERIALIZED_CTE_SETTING, 1)
        return True

    def query_arrow(self, sql: str) -> pa.Table:
        with self._lock:
            try:
                result: pa.Table = self._client.query_arrow(sql, use_strings=True)
                return result
            except self._error as exc:
                raise StoreError(str(exc)) from exc

    def command(self, sql: str) -> None:
        with self._lock:
            try:
                self._client.command(sql)
            except self._error as exc:
                raise StoreError(str(exc)) from exc

    def insert_arrow(self, table: str, batch: pa.Table) -> None:
        with self._lock:
            try:
                self._client.insert_arrow(table, batch)
            except self._error as exc:
                raise StoreError(str(exc)) from exc

    def close(self) -> None:
        self._client.close()
