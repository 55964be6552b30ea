"""PostgreSQL store (psycopg 3): the usual production choice at small to medium scale.

Bulk writes COPY into a temporary table and then ``INSERT ... ON CONFLICT DO NOTHING``,
which keeps ingest idempotent and fast. Each thread gets its own connection.

The records' COPY is binary: each value goes in its column type's wire form (UTF-8 text,
8-byte timestamps and floats), which costs the collector and the server about half of what
formatting and parsing COPY's text format did (benchmarks/ingest.py).

Left as they are, measured: commits keep the server's ``synchronous_commit``: the collector
deletes its own log segment as soon as an insert returns, so a commit acknowledged before
its WAL is flushed could lose events after a server crash, and at one commit per table per
flush (0.5 s or 5,000 rows) the flush costs microseconds per event anyway. Planning is
~0.3 ms per batch of thousands (nothing for prepared statements to save), and the plans'
costs stay far below ``jit_above_cost``, so JIT never starts. What the server spends is
mostly index and rollup maintenance (``interaction_signals`` updates are rarely HOT).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.exceptions import ConstraintViolation, StoreError
from promptloop.store import rollup, schema
from promptloop.store._sql import (
    FEEDBACK_COLUMNS,
    INTERACTION_COLUMNS,
    Record,
    decode_json_columns,
    metadata_json,
    to_pyformat_params,
    unique_by_id,
)

# Serialises concurrent `migrate()` calls across processes sharing one database.
_MIGRATION_LOCK_KEY = 0x70726F6D70746C


class PostgresStore:
    """A :class:`~promptloop.store.base.Store` on a PostgreSQL database."""

    dialect = "postgresql"
    signal_rollup = True  # insert paths maintain interaction_signals (store/rollup.py)

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        # table -> the type OID of each record column, for binary COPY (set by migrate()).
        self._copy_types: dict[str, list[int]] = {}
        self._all: list[psycopg.Connection[dict[str, Any]]] = []
        self._all_lock = threading.Lock()
        self._connection()  # fail fast on a bad URL

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        conn: psycopg.Connection[dict[str, Any]] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(
                    self.url, row_factory=dict_row, options="-c timezone=UTC", autocommit=False
                )
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
            self._local.conn = conn
            self._local.batch_tables = set()  # temporary tables this session has created
            with self._all_lock:
                self._all.append(conn)
        return conn

    # -- schema -------------------------------------------------------------------------
    def schema_version(self) -> int:
        rows = self.fetch_all(
            "SELECT to_regclass(:t) IS NOT NULL AS present", {"t": schema.MIGRATIONS_TABLE}
        )
        if not rows[0]["present"]:
            return 0
        found = self.fetch_all(
            f"SELECT coalesce(max(version), 0) AS v FROM {schema.MIGRATIONS_TABLE}"
        )
        return int(found[0]["v"])

    def migrate(self) -> int:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {schema.MIGRATIONS_TABLE} ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            cur.execute(f"SELECT coalesce(max(version), 0) AS v FROM {schema.MIGRATIONS_TABLE}")
            row = cur.fetchone()
            current = int(row["v"]) if row else 0
            cur.execute(f"SELECT version FROM {schema.MIGRATIONS_TABLE}")
            applied = {int(found["version"]) for found in cur.fetchall()}
            for migration, statements in schema.pending(current, self.dialect, applied):
                for statement in statements:
                    cur.execute(statement.encode())
                cur.execute(
                    f"INSERT INTO {schema.MIGRATIONS_TABLE} VALUES (%s, %s, now())",
                    (migration.version, migration.name),
                )
        conn.commit()
        self._copy_types.clear()  # a migration may have changed a column's type
        return self.schema_version()

    # -- writes -------------------------------------------------------------------------
    def insert_interactions(self, items: Sequence[Interaction]) -> int:
        return self._insert(
            "llm_interaction_logs", unique_by_id(items, "interaction_id"), INTERACTION_COLUMNS
        )

    def insert_feedback(self, items: Sequence[FeedbackEvent]) -> int:
        return self._insert("feedback_events", unique_by_id(items, "feedback_id"), FEEDBACK_COLUMNS)

    def _insert(self, table: str, items: Sequence[Record], columns: Sequence[str]) -> int:
        if not items:
            return 0
        names = ", ".join(columns)
        conn = self._connection()
        created: set[str] = self._local.batch_tables
        try:
            with conn.transaction(), conn.cursor() as cur:
                if table not in created:  # once per session: saves a round trip per batch
                    cur.execute(
                        f"CREATE TEMP TABLE IF NOT EXISTS _batch_{table} "
                        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                    )
                types = self._copy_types.get(table)
                if types is None:
                    types = self._copy_types[table] = _column_types(cur, f"_batch_{table}", names)
                with cur.copy(f"COPY _batch_{table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types([_BYTEA if oid == _JSONB else oid for oid in types])
                    for row in _binary_rows(items, columns, types):
                        copy.write_row(row)
                inserted = _insert_from(cur, table, names, f"_batch_{table}")
            conn.commit()
            created.add(table)
        except (psycopg.Error, ValueError, TypeError, OverflowError) as exc:
            # Values a column's binary form cannot hold (an integer beyond INTEGER, say)
            # fail in the client instead of the server: the same StoreError either way.
            conn.rollback()
            created.discard(table)  # a rolled-back transaction may have created it
            raise StoreError(str(exc)) from exc
        return max(inserted, 0)

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        columns = list(rows[0])
        names = ", ".join(columns)
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS _rows_{table} "
                    f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                with cur.copy(f"COPY _rows_{table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(row[name] for name in columns))
                inserted = _insert_from(cur, table, names, f"_rows_{table}")
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise StoreError(str(exc)) from exc
        return max(inserted, 0)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.transaction([(sql, params or {})])

    def transaction(self, statements: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                for sql, params in statements:
                    cur.execute(to_pyformat_params(sql).encode(), dict(params))
            conn.commit()
        except psycopg.errors.IntegrityError as exc:
            conn.rollback()
            raise ConstraintViolation(str(exc)) from exc
        except psycopg.Error as exc:
            conn.rollback()
            raise StoreError(str(exc)) from exc

    # -- reads --------------------------------------------------------------------------
    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute(to_pyformat_params(sql).encode(), dict(params or {}))
                rows = [decode_json_columns(dict(row)) for row in cur.fetchall()]
            conn.rollback()  # end the read transaction; never hold snapshots open
            return rows
        except psycopg.Error as exc:
            conn.rollback()
            raise StoreError(str(exc)) from exc

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def _insert_from(cur: psycopg.Cursor[dict[str, Any]], table: str, names: str, source: str) -> int:
    """Insert the rows of ``source`` (skipping existing keys); for the log and feedback
    tables, fold the rows that were new into the ``interaction_signals`` rollup in the same
    statement (a data-modifying CTE: RETURNING yields only inserted rows)."""
    insert = f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} ON CONFLICT DO NOTHING"
    if table not in _ROLLUP_SOURCES:
        cur.execute(insert.encode())
        return max(cur.rowcount, 0)
    upsert = (
        rollup.interaction_upsert("new_rows", "postgresql")
        if table == "llm_interaction_logs"
        else rollup.feedback_upsert("new_rows")
    )
    cur.execute(
        f"WITH new_rows AS ({insert} RETURNING {_ROLLUP_SOURCES[table]}),"
        f" folded AS ({upsert} RETURNING 1)"
        " SELECT count(*) AS n FROM new_rows".encode()
    )
    found = cur.fetchone()
    return int(found["n"]) if found else 0


# Tables the interaction_signals rollup summarises -> the columns its upsert reads.
_ROLLUP_SOURCES = rollup.SOURCE_COLUMNS


_JSONB: int = psycopg.postgres.types["jsonb"].oid
_BYTEA: int = psycopg.postgres.types["bytea"].oid
_TIMESTAMPTZ: int = psycopg.postgres.types["timestamptz"].oid
# psycopg's binary int2/int4 dumpers wrap around out of range (2**40 -> 0) where the text
# format had the server refuse the value: these columns are checked here instead.
_INT_RANGES: dict[int, tuple[str, int]] = {
    psycopg.postgres.types["int2"].oid: ("smallint", 2**15),
    psycopg.postgres.types["int4"].oid: ("integer", 2**31),
}
_JSONB_VERSION = b"\x01"  # jsonb's binary form: a version byte, then the JSON text


def _column_types(cur: psycopg.Cursor[dict[str, Any]], table: str, names: str) -> list[int]:
    """The type OID of each of ``names``, as COPY's binary dumpers need them."""
    cur.execute(f"SELECT {names} FROM {table} LIMIT 0".encode())
    return [column.type_code for column in cur.description or ()]


def _binary_rows(
    items: Sequence[Record], columns: Sequence[str], types: Sequence[int]
) -> Iterator[list[Any]]:
    """Each record as its column values for a binary COPY with ``types``.

    Enum members go as they are (the records' enums are ``StrEnum``: text's dumper writes
    their value); a jsonb value (metadata) as jsonb's binary form, which the bytea dumper
    sends unchanged; a naive timestamp (records validate to UTC-aware ones, but
    ``model_construct`` skips that) is taken to be UTC, as the session's time zone would
    take it in text. Raises ValueError for an integer its column cannot hold.
    """
    values: Callable[[Record], tuple[Any, ...]] = operator.attrgetter(*columns)
    jsons = [n for n, oid in enumerate(types) if oid == _JSONB]
    stamps = [n for n, oid in enumerate(types) if oid == _TIMESTAMPTZ]
    ints = [(n, _INT_RANGES[code]) for n, code in enumerate(types) if code in _INT_RANGES]
    for item in items:
        row = list(values(item))
        for n in jsons:
            row[n] = _JSONB_VERSION + metadata_json(row[n]).encode()
        for n in stamps:
            stamp = row[n]
            if isinstance(stamp, datetime) and stamp.tzinfo is None:
                row[n] = stamp.replace(tzinfo=UTC)
        for n, (kind, bound) in ints:
            number = row[n]
            if number is not None and not -bound <= number < bound:
                raise ValueError(f"{columns[n]} = {number} is out of range for type {kind}")
        yield row
