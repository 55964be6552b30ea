"""Storage behind one protocol. :func:`open_store` picks the backend from a URL."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl

from promptloop.exceptions import ConfigError
from promptloop.store.base import FEEDBACK_TABLE, INTERACTIONS_TABLE, Store

DEFAULT_STORE_PATH = Path(".promptloop") / "promptloop.duckdb"

__all__ = ["DEFAULT_STORE_PATH", "FEEDBACK_TABLE", "INTERACTIONS_TABLE", "Store", "open_store"]


_CLICKHOUSE_SCHEMES = (
    "chdb://",
    "clickhouse://",
    "clickhouses://",
    "clickhouse+http://",
    "clickhouse+https://",
    "http://",
    "https://",
)


def default_store_url() -> str:
    return os.environ.get("PROMPTLOOP_STORE") or f"duckdb:///{DEFAULT_STORE_PATH}"


def open_store(url: str | None = None, *, migrate: bool = True, read_only: bool = False) -> Store:
    """Open the store a URL names and bring its schema up to date.

    - ``duckdb:///relative/path.duckdb``, ``duckdb:////abs/path.duckdb``, ``duckdb:///:memory:``
      or a bare file path ending in ``.duckdb``: the embedded default. DuckDB settings go in
      the query: ``duckdb:///p.duckdb?memory_limit=2GB&threads=2`` (``URL_OPTIONS`` there).
    - ``postgresql://user@host:port/db`` (or ``postgres://``): PostgreSQL.
    - ``chdb://PATH`` (ClickHouse in-process), ``clickhouse://user@host:8123/db``,
      ``clickhouses://`` or ``http(s)://host:port/db``: ClickHouse (docs/clickhouse.md).
    """
    url = url or default_store_url()
    store: Store
    if url.startswith(("postgresql://", "postgres://")):
        from promptloop.store.postgres import PostgresStore

        store = PostgresStore(url)
    elif url.startswith("duckdb://") or url.endswith(".duckdb") or url == ":memory:":
        from promptloop.store.duckdb import DuckDBStore

        path, _, query = url.removeprefix("duckdb://").partition("?")
        if path.startswith("/") and url.startswith("duckdb://"):
            path = path[1:]  # duckdb:///rel -> rel ; duckdb:////abs -> /abs
        store = DuckDBStore(path or ":memory:", read_only=read_only, options=_options(query))
    elif url.startswith(_CLICKHOUSE_SCHEMES):
        from promptloop.store.clickhouse import open_clickhouse

        store = open_clickhouse(url)
    else:
        raise ConfigError(
            f"unknown store URL {url!r}: use duckdb:///PATH, postgresql://USER@HOST/DB,"
            " chdb://PATH or clickhouse://USER@HOST:8123/DB"
        )
    if migrate and not read_only:
        store.migrate()
    return store


def _options(query: str) -> dict[str, str]:
    """``a=1&b=2`` as a dict; a malformed or repeated option is a configuration error."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError(f"the store URL's options {query!r} are not name=value pairs") from None
    options = dict(pairs)
    if len(options) != len(pairs):
        raise ConfigError(f"the store URL's options {query!r} repeat a name")
    return options
