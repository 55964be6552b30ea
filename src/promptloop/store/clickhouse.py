"""ClickHouse store: a server or cluster (clickhouse-connect), or the engine in-process (chDB).

URLs:

- ``chdb://PATH`` (``chdb:///abs/path``, ``chdb://:memory:``): the real ClickHouse engine
  inside this process. One data directory per process; ``?database=NAME`` picks a database.
- ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` or ``https://`` for
  TLS, ``http://`` too): a server, or a cluster's entry node with ``?cluster=NAME``.

Options (URL query): ``database``, ``cluster``, ``zookeeper_path``, ``replica`` (see
:class:`~promptloop.store.clickhouse_schema.ClusterConfig`), ``ttl_days`` (retention of the
two event tables) and ``final=1`` (read through ``FINAL``, for several concurrent writers).

How the store keeps the promises of :class:`~promptloop.store.base.Store` on an engine
without unique constraints or transactions (docs/clickhouse.md):

- *Idempotent ingest.* Before a batch is written its keys are looked up (one ``IN`` query
  per 5,000 keys, served by the sorting key or a bloom-filter index); only new rows are
  inserted, so counts are exact. Tables are ReplacingMergeTree ordered by a key that ends
  with the primary key, so a row two writers raced to insert still collapses in merges.
- *Constraints.* A plain ``INSERT`` whose primary key or UNIQUE columns exist raises
  :class:`~promptloop.exceptions.ConstraintViolation`; ``ON CONFLICT DO NOTHING`` skips it;
  ``ON CONFLICT ... DO UPDATE`` updates the existing row.
- *Transactions.* :meth:`ClickHouseStore.transaction` parses and checks every statement
  before it runs any, then runs them in order under the store's lock; a statement that
  fails at run time leaves the earlier ones applied (ClickHouse has no rollback).
- *Updates and deletes* are lightweight (patch parts / row masks, visible at once); on a
  cluster they are mutations ``ON CLUSTER`` waited for on every replica.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import sqlglot
from sqlglot import exp

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.exceptions import ConfigError, ConstraintViolation, StoreError
from promptloop.store import rollup, schema
from promptloop.store._sql import (
    FEEDBACK_COLUMNS,
    INTERACTION_COLUMNS,
    decode_json_columns,
    unique_by_id,
)
from promptloop.store.clickhouse_engine import ChdbEngine, Engine, HttpEngine, parse_server_url
from promptloop.store.clickhouse_schema import (
    ClusterConfig,
    TableKeys,
    for_cluster,
    from_portable,
    parse_keys,
    ttl_statement,
)
from promptloop.store.clickhouse_sql import (
    MERGED_ON_READ,
    CommandPlan,
    InsertPlan,
    InsertSelectPlan,
    Plan,
    ReadPlan,
    WritePlan,
    bind,
    literal,
    plan,
)

DEFAULT_DATABASE = "promptloop"
KEY_LOOKUP_CHUNK = 5000
_EXCLUDED = re.compile(r"\bexcluded\.(\w+)\b", re.IGNORECASE)
_PARAM_ONLY = re.compile(r"^:(\w+)$")
_EVENT_TABLES = ("llm_interaction_logs", "feedback_events")
_DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME)\b", re.IGNORECASE)
_SIGNAL_COLUMNS = (
    "interaction_id",
    *rollup.INTERACTION_COLUMNS,
    *rollup.COUNT_COLUMNS,
    *rollup.FIRST_COLUMNS,
    *rollup.LAST_COLUMNS,
)
# The materialized views that feed interaction_signals, by the table they watch.
SIGNAL_VIEWS = {
    "llm_interaction_logs": "interaction_signals_from_logs",
    "feedback_events": "interaction_signals_from_feedback",
}


# -- the signal rollup, kept by materialized views -------------------------------------------
# interaction_signals (store/rollup.py) is an AggregatingMergeTree here: every insert into
# the two event tables also writes, through a materialized view, one partial row per
# interaction (its columns, or the aggregates of the inserted events); background merges
# combine the partial rows with min/max/sum/any, and reads see them combined (FINAL,
# clickhouse_sql.MERGED_ON_READ). Deletes and updates of events recompute the rows of the
# interactions they touched (ClickHouseStore._write), which no view can do.
def _merge_function(column: str) -> str:
    if column in rollup.COUNT_COLUMNS:
        return "sum"
    if column in rollup.FIRST_COLUMNS:
        return "min"
    if column in rollup.LAST_COLUMNS:
        return "max"
    return "any"  # the interaction's columns: one non-NULL value (NULLs are skipped)


# Few distinct values each: dictionary-encoded, the rate queries group and filter on
# integer codes (metrics over 1M rows: 0.52 -> 0.34 s of CPU here).
_DICTIONARY_COLUMNS = frozenset({"feature", "prompt_name", "prompt_version", "model"})


def signal_rollup_table_ddl() -> str:
    """interaction_signals as an AggregatingMergeTree of the portable rollup's columns."""
    portable = from_portable([rollup.ddl("VARCHAR", "DOUBLE")])[0]
    body, _, _ = portable.partition("\n)\nENGINE")
    lines = []
    for line in body.splitlines()[1:]:
        match = re.fullmatch(r"(\s+)(\w+) (.+?)( DEFAULT 0)?(,?)", line)
        if match is None or match.group(2) == "interaction_id":
            lines.append(line)
            continue
        indent, name, ch_type, default, comma = match.groups()
        if name in _DICTIONARY_COLUMNS:
            ch_type = f"LowCardinality({ch_type})"
        wrapped = f"SimpleAggregateFunction({_merge_function(name)}, {ch_type})"
        lines.append(f"{indent}{name} {wrapped}{default or ''}{comma}")
    columns = "\n".join(lines)
    return (
        f"CREATE TABLE IF NOT EXISTS {rollup.TABLE} (\n{columns}\n)\n"
        "ENGINE = AggregatingMergeTree\nORDER BY (interaction_id)\n"
        "SETTINGS enable_block_number_column = 1, enable_block_offset_column = 1"
    )


def _aliased_select(upsert: str) -> str:
    """The SELECT of a rollup upsert, each value named after its column, for a view."""
    statement = sqlglot.parse_one(upsert, read="postgres")
    assert isinstance(statement, exp.Insert)
    columns = [column.name for column in statement.this.expressions]
    select = statement.expression
    assert isinstance(select, exp.Select)
    select.set("order", None)
    select.set(
        "expressions",
        [
            exp.alias_(value.unalias(), name)
            for value, name in zip(select.expressions, columns, strict=True)
        ],
    )
    step = plan(select.sql(dialect="postgres"))
    assert isinstance(step, ReadPlan)
    return step.sql


def _signal_selects() -> dict[str, str]:
    """Per event table, the SELECT of its partial rollup rows (over all its rows, or in a
    view over the inserted block)."""
    return {
        "llm_interaction_logs": _aliased_select(
            rollup.interaction_upsert("llm_interaction_logs", "clickhouse")
        ),
        "feedback_events": _aliased_select(rollup.feedback_upsert("feedback_events")),
    }


def signal_view_ddl() -> tuple[str, ...]:
    """The two materialized views that feed interaction_signals on every insert."""
    selects = _signal_selects()
    return tuple(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {rollup.TABLE} AS {selects[source]}"
        for source, view in SIGNAL_VIEWS.items()
    )


def migration_statements(migration: schema.Migration) -> tuple[str, ...]:
    """A migration's ClickHouse statements: its own "clickhouse" variant, else a translation
    of its portable (DuckDB) statements (clickhouse_schema.from_portable)."""
    own = migration.statements.get("clickhouse")
    if own is not None:
        return own
    try:
        return from_portable(migration.statements["duckdb"])
    except (KeyError, ValueError) as exc:
        raise StoreError(
            f"migration {migration.version} ({migration.name}) has no ClickHouse statements"
            f" and cannot be translated: {exc}"
        ) from exc


@dataclass(frozen=True)
class ClickHouseOptions:
    database: str = DEFAULT_DATABASE
    cluster: ClusterConfig | None = None
    ttl_days: int | None = None
    final: bool = False


def _options(query: Mapping[str, str], database: str) -> ClickHouseOptions:
    known = {"database", "cluster", "zookeeper_path", "replica", "ttl_days", "final"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ConfigError(f"unknown ClickHouse URL option(s) {unknown}: use {sorted(known)}")
    database = query.get("database") or database
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ConfigError(f"database: {database!r} is not a plain identifier")
    cluster = None
    if query.get("cluster"):
        extra = {k: query[k] for k in ("zookeeper_path", "replica") if query.get(k)}
        cluster = ClusterConfig(cluster=query["cluster"], database=database, **extra)
    ttl: int | None = None
    if query.get("ttl_days"):
        try:
            ttl = int(query["ttl_days"])
        except ValueError:
            raise ConfigError(f"ttl_days: {query['ttl_days']!r} is not a whole number") from None
    return ClickHouseOptions(
        database=database,
        cluster=cluster,
        ttl_days=ttl,
        final=query.get("final", "0").lower() in ("1", "true", "yes"),
    )


def open_clickhouse(url: str) -> ClickHouseStore:
    """A store for a ``chdb://``, ``clickhouse://``, ``clickhouses://`` or ``http(s)://`` URL."""
    if url.startswith("chdb://"):
        parts = urlsplit(url)
        path = url.removeprefix("chdb://").split("?", 1)[0] or ":memory:"
        options = _options(dict(parse_qsl(parts.query)), DEFAULT_DATABASE)
        settings = {"final": 1} if options.final else {}
        return ClickHouseStore(url, ChdbEngine(path, options.database, settings), options)
    address = parse_server_url(url)
    options = _options(address.options, address.database)
    settings = {"final": 1} if options.final else {}
    cluster = options.cluster.cluster if options.cluster else None
    return ClickHouseStore(url, HttpEngine(address, settings, cluster), options)


@functools.cache
def _declared_keys() -> dict[str, TableKeys]:
    """Primary keys and UNIQUE sets, as the portable migrations declare them."""
    return parse_keys(
        statement for migration in schema.MIGRATIONS for statement in migration.statements["duckdb"]
    )


# -- values to Arrow ------------------------------------------------------------------------

_ARROW_TYPES: dict[str, pa.DataType] = {
    "String": pa.string(),
    "Int64": pa.int64(),
    "Int32": pa.int32(),
    "UInt64": pa.uint64(),
    "UInt8": pa.uint8(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "Date32": pa.date32(),
}
_TS = pa.timestamp("us", tz="UTC")


def _base_type(ch_type: str) -> str:
    inner = ch_type
    while True:
        match = re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", inner)
        if not match:
            return inner
        inner = match.group(1)


def _arrow_type(ch_type: str) -> pa.DataType:
    base = _base_type(ch_type)
    if base.startswith("DateTime"):
        return _TS
    return _ARROW_TYPES.get(base, pa.string())


def _to_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    return str(value)


def _to_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"not a timestamp: {value!r}")


def _converter(arrow_type: pa.DataType) -> Callable[[Any], Any]:
    if arrow_type == pa.string():
        return _to_text
    if arrow_type == _TS:
        return _to_time
    if arrow_type == pa.bool_():
        return lambda v: None if v is None else bool(v)
    if pa.types.is_integer(arrow_type):
        return lambda v: None if v is None else int(v.value if isinstance(v, Enum) else v)
    if pa.types.is_floating(arrow_type):
        return lambda v: None if v is None else float(v)
    return lambda v: v


def _column_array(values: Sequence[Any], ch_type: str, column: str) -> pa.Array:
    arrow_type = _arrow_type(ch_type)
    convert = _converter(arrow_type)
    try:
        return pa.array([convert(value) for value in values], type=arrow_type)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise StoreError(f"{column}: cannot store as {ch_type}: {exc}") from exc


def _utc_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts; timestamps carry ``datetime.UTC`` like the other backends' do."""
    rows: list[dict[str, Any]] = table.to_pylist()
    stamps = [
        field.name
        for field in table.schema
        if pa.types.is_timestamp(field.type) and field.type.tz is not None
    ]
    if stamps:
        for row in rows:
            for name in stamps:
                value = row[name]
                if value is not None:
                    row[name] = value.astimezone(UTC)
    return [decode_json_columns(row) for row in rows]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ClickHouseStore:
    """A :class:`~promptloop.store.base.Store` on ClickHouse (see the module docstring)."""

    dialect = "clickhouse"
    # True: materialized views keep interaction_signals (store/rollup.py) current and
    # analytics read it. A cluster keeps the plain table, filled only by rollup.rebuild
    # (the views would have to sit on every shard's local tables).
    signal_rollup: bool

    def __init__(self, url: str, engine: Engine, options: ClickHouseOptions) -> None:
        self.url = url
        self.options = options
        self.signal_rollup = options.cluster is None
        self._engine = engine
        self._lock = threading.RLock()
        self._column_types: dict[str, dict[str, str]] = {}

    # -- schema -------------------------------------------------------------------------
    def _ddl(self, statement: str) -> None:
        if self.options.cluster is None:
            self._engine.command(statement)
            return
        for made in for_cluster(statement, self.options.cluster):
            self._engine.command(made)

    def _table_exists(self, table: str) -> bool:
        found = self._engine.query_arrow(
            "SELECT count() AS n FROM system.tables"
            f" WHERE database = currentDatabase() AND name = {literal(table)}"
        )
        return bool(found.column("n")[0].as_py())

    def schema_version(self) -> int:
        if not self._table_exists(schema.MIGRATIONS_TABLE):
            return 0
        found = (
            self._engine.query_arrow(f"SELECT max(version) AS v FROM {schema.MIGRATIONS_TABLE}")
            .column("v")[0]
            .as_py()
        )
        return int(found or 0)

    def migrate(self) -> int:
        with self._lock:
            self._ddl(
                f"CREATE TABLE IF NOT EXISTS {schema.MIGRATIONS_TABLE} (\n"
                "    version Int64,\n    name String,\n    applied_at DateTime64(6, 'UTC')\n)\n"
                "ENGINE = ReplacingMergeTree\nORDER BY (version)"
            )
            # A crash part-way through a migration is safe to resume: every statement is
            # IF NOT EXISTS, and the version is recorded only after all of them ran.
            applied = self._applied_versions()
            for migration in schema.MIGRATIONS:
                if migration.version in applied:
                    continue
                for statement in migration_statements(migration):
                    if _DDL.match(statement):
                        self._ddl(statement)
                        self._column_types.clear()
                    else:  # data statements (a rollup's first fill) go through the translator
                        self._run(plan(statement), {})
                self._column_types.clear()
                self._insert_rows(
                    schema.MIGRATIONS_TABLE,
                    [
                        {
                            "version": migration.version,
                            "name": migration.name,
                            "applied_at": datetime.now(UTC),
                        }
                    ],
                    on_conflict="nothing",
                    keys=(("version",),),
                )
            if self.signal_rollup:
                self._ensure_signal_views()
            if self.options.ttl_days is not None:
                self.set_retention(self.options.ttl_days)
        return self.schema_version()

    def _ensure_signal_views(self) -> None:
        """interaction_signals as the views keep it; a store made before them (a plain
        table) gets the new table and views, filled from the rows it holds."""
        names = ", ".join(literal(name) for name in (rollup.TABLE, *SIGNAL_VIEWS.values()))
        found = self._engine.query_arrow(
            "SELECT name, engine FROM system.tables"
            f" WHERE database = currentDatabase() AND name IN ({names})"
        )
        engines = dict(
            zip(found.column("name").to_pylist(), found.column("engine").to_pylist(), strict=True)
        )
        if engines.get(rollup.TABLE) != "AggregatingMergeTree" or len(engines) < 3:
            self.rebuild_signals()

    def rebuild_signals(self) -> None:
        """(Re)create interaction_signals and its views, and fill it from the two tables by
        one INSERT ... SELECT merged into one part: after a bulk load that went around the
        views (drop them first: :data:`SIGNAL_VIEWS`), or for a store made before them."""
        with self._lock:
            for view in SIGNAL_VIEWS.values():
                self._engine.command(f"DROP VIEW IF EXISTS {view}")
            self._engine.command(f"DROP TABLE IF EXISTS {rollup.TABLE}")
            self._engine.command(signal_rollup_table_ddl())
            self._column_types.clear()
            # The views' SELECTs over whole tables: partial rows that the merge combines,
            # no join of the two tables (whose hash tables need GBs at 10M rows).
            for select in _signal_selects().values():
                columns = ", ".join(
                    projection.alias_or_name
                    for projection in sqlglot.parse_one(select, read="clickhouse").expressions
                )
                self._engine.command(f"INSERT INTO {rollup.TABLE} ({columns}) {select}")
            self._engine.command(f"OPTIMIZE TABLE {rollup.TABLE} FINAL")
            # Made after the fill, under the store's lock: no insert is counted twice.
            for statement in signal_view_ddl():
                self._engine.command(statement)

    def _insert_signal_rows(self, select: str, columns: Sequence[str]) -> None:
        names = ", ".join(columns) if columns else ", ".join(self._columns(rollup.TABLE))
        self._engine.command(f"INSERT INTO {rollup.TABLE} ({names}) {select}")

    def _replace_signal_rows(self, select: str, columns: Sequence[str]) -> None:
        """``INSERT INTO interaction_signals ... ON CONFLICT DO UPDATE`` with complete rows
        (rollup.recompute_statements, populate_sql): the rows of those IDs are replaced."""
        empty = (
            not self._engine.query_arrow(
                f"SELECT count() AS n FROM (SELECT 1 FROM {rollup.TABLE} LIMIT 1)"
            )
            .column("n")[0]
            .as_py()
        )
        fresh = self._engine.query_arrow(select)  # through Arrow: see _recompute_signals
        if columns:
            fresh = fresh.rename_columns(list(columns))
        if not empty:
            self._delete_signal_rows(fresh.column("interaction_id").unique().to_pylist())
        if fresh.num_rows:
            self._engine.insert_arrow(rollup.TABLE, fresh)

    def _delete_signal_rows(self, ids: Sequence[str]) -> None:
        for chunk in _chunks(ids, KEY_LOOKUP_CHUNK):
            listed = ", ".join(literal(ident) for ident in chunk)
            self._engine.command(f"DELETE FROM {rollup.TABLE} WHERE interaction_id IN ({listed})")

    def _recompute_signals(self, ids: Sequence[str]) -> None:
        """Make the rows of ``ids`` equal rollup.from_scratch_sql again (after events were
        deleted or changed, which the views do not see)."""
        for chunk in _chunks(sorted(set(ids)), KEY_LOOKUP_CHUNK):
            params = {f"rollup_id{n}": ident for n, ident in enumerate(chunk)}
            listed = ", ".join(f":{name}" for name in params)
            step = plan(rollup.from_scratch_sql(self.dialect, listed))
            assert isinstance(step, ReadPlan)
            names = ", ".join(_SIGNAL_COLUMNS)
            # Through Arrow: an INSERT ... SELECT of this join stored 1970-01-01 for some
            # NULL first_* times (chDB 4.4), the SELECT itself reads them right.
            fresh = self._engine.query_arrow(f"SELECT {names} FROM ({bind(step.sql, params)})")
            self._delete_signal_rows(chunk)
            if fresh.num_rows:
                self._engine.insert_arrow(rollup.TABLE, fresh)

    def set_retention(self, days: int, tables: Sequence[str] = _EVENT_TABLES) -> None:
        """Drop event rows older than ``days`` in background merges (0 removes the TTL)."""
        for table in tables:
            statement = ttl_statement(table, days)
            if statement is not None and (days > 0 or self._has_ttl(table)):
                self._ddl(statement)

    def _applied_versions(self) -> set[int]:
        found = self._engine.query_arrow(f"SELECT DISTINCT version FROM {schema.MIGRATIONS_TABLE}")
        return {int(version) for version in found.column("version").to_pylist()}

    def _has_ttl(self, table: str) -> bool:
        found = self._engine.query_arrow(
            "SELECT create_table_query AS q FROM system.tables"
            f" WHERE database = currentDatabase() AND name = {literal(table)}"
        )
        return found.num_rows > 0 and " TTL " in str(found.column("q")[0].as_py())

    def _columns(self, table: str) -> dict[str, str]:
        if table not in self._column_types:
            found = self._engine.query_arrow(
                "SELECT name, type FROM system.columns"
                f" WHERE database = currentDatabase() AND table = {literal(table)}"
                " ORDER BY position"
            )
            columns = dict(
                zip(
                    found.column("name").to_pylist(),
                    found.column("type").to_pylist(),
                    strict=True,
                )
            )
            if not columns:
                raise StoreError(f"table {table!r} does not exist")
            self._column_types[table] = columns
        return self._column_types[table]

    def _keys(self, table: str) -> TableKeys:
        return _declared_keys().get(table) or TableKeys(())

    # -- writes -------------------------------------------------------------------------
    def insert_interactions(self, items: Sequence[Interaction]) -> int:
        unique = unique_by_id(items, "interaction_id")
        data = {name: [getattr(item, name) for item in unique] for name in INTERACTION_COLUMNS}
        return self._insert_columns("llm_interaction_logs", data, ("interaction_id",))

    def insert_feedback(self, items: Sequence[FeedbackEvent]) -> int:
        unique = unique_by_id(items, "feedback_id")
        data = {name: [getattr(item, name) for item in unique] for name in FEEDBACK_COLUMNS}
        return self._insert_columns("feedback_events", data, ("feedback_id",))

    def _insert_columns(self, table: str, data: dict[str, list[Any]], key: tuple[str, ...]) -> int:
        """Column-wise fast path for the event tables: keys are unique within the batch."""
        count = len(next(iter(data.values()), []))
        if not count:
            return 0
        types = self._columns(table)
        with self._lock:
            wanted = list(zip(*(data[name] for name in key), strict=True))
            existing = self._existing(table, key, wanted)
            if existing:
                keep = [i for i, k in enumerate(wanted) if k not in existing]
                data = {name: [values[i] for i in keep] for name, values in data.items()}
                count = len(keep)
            if not count:
                return 0
            data["ingested_at"] = [datetime.now(UTC)] * count
            batch = pa.table(
                {name: _column_array(values, types[name], name) for name, values in data.items()}
            )
            self._engine.insert_arrow(table, batch)
        return count

    def _existing(
        self, table: str, key: Sequence[str], wanted: Sequence[tuple[Any, ...]]
    ) -> set[tuple[Any, ...]]:
        """Which of these key tuples the table already holds."""
        found: set[tuple[Any, ...]] = set()
        types = self._columns(table)
        converters = [_converter(_arrow_type(types[name])) for name in key]
        columns = ", ".join(key)
        target = f"({columns})" if len(key) > 1 else columns
        for chunk in _chunks(list(dict.fromkeys(wanted)), KEY_LOOKUP_CHUNK):
            values = ", ".join(
                "(" + ", ".join(literal(c(v)) for c, v in zip(converters, k, strict=True)) + ")"
                if len(key) > 1
                else literal(converters[0](k[0]))
                for k in chunk
            )
            result = self._engine.query_arrow(
                f"SELECT DISTINCT {columns} FROM {table} WHERE {target} IN ({values})"
            )
            found.update(zip(*(result.column(name).to_pylist() for name in key), strict=True))
        return {tuple(_normal(v) for v in k) for k in found}

    def _key_sets(self, table: str, conflict: Sequence[str]) -> list[tuple[str, ...]]:
        declared = self._keys(table)
        sets = [tuple(conflict)] if conflict else []
        for candidate in (declared.primary, *declared.unique):
            if candidate and candidate not in sets:
                sets.append(candidate)
        return sets

    def _insert_rows(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        on_conflict: str,
        keys: Sequence[tuple[str, ...]] | None = None,
        updates: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Insert plain rows with a conflict policy: 'error', 'nothing' or 'update'."""
        if not rows:
            return 0
        types = self._columns(table)
        columns = list(rows[0])
        unknown = [name for name in columns if name not in types]
        if unknown:
            raise StoreError(f"table {table} has no column(s) {unknown}")
        key_sets = list(keys) if keys is not None else self._key_sets(table, ())
        key_sets = [k for k in key_sets if k and all(name in columns for name in k)]
        normal = {
            name: _converter(_arrow_type(types[name])) for name in {n for k in key_sets for n in k}
        }

        def key_of(row: Mapping[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
            return tuple(_normal(normal[name](row[name])) for name in key)

        with self._lock:
            taken = {
                key: self._existing(table, key, [key_of(row, key) for row in rows])
                for key in key_sets
            }
            fresh: list[Mapping[str, Any]] = []
            clashing: list[Mapping[str, Any]] = []
            for row in rows:
                clash = next((key for key in key_sets if key_of(row, key) in taken[key]), None)
                if clash is None:
                    fresh.append(row)
                    for key in key_sets:
                        taken[key].add(key_of(row, key))
                elif on_conflict == "error":
                    raise ConstraintViolation(
                        f"{table}: a row with ({', '.join(clash)}) ="
                        f" {key_of(row, clash)} already exists"
                    )
                elif on_conflict == "update":
                    clashing.append(row)
            if clashing:
                self._upsert_existing(table, clashing, key_sets[0], updates)
            if fresh:
                batch = pa.table(
                    {
                        name: _column_array([row.get(name) for row in fresh], types[name], name)
                        for name in columns
                    }
                )
                self._engine.insert_arrow(table, batch)
        return len(fresh)

    def _upsert_existing(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        key: tuple[str, ...],
        updates: Sequence[tuple[str, str]],
    ) -> None:
        """``ON CONFLICT DO UPDATE`` for rows whose key exists: the SET expressions are
        evaluated by ClickHouse over the stored row joined with the new one (``excluded``),
        then the stored rows are replaced by the merged ones."""
        types = self._columns(table)
        columns = list(rows[0])
        convert = {name: _converter(_arrow_type(types[name])) for name in columns}
        structure = ", ".join(f"{name} {types[name]}" for name in columns)
        values = ", ".join(
            "(" + ", ".join(literal(convert[name](row.get(name))) for name in columns) + ")"
            for row in rows
        )
        assigned = dict(updates)
        select = ", ".join(
            f"{assigned[name]} AS `{name}`" if name in assigned else f"{table}.{name} AS `{name}`"
            for name in types
        )
        on = " AND ".join(f"{table}.{name} = excluded.{name}" for name in key)
        merged = self._engine.query_arrow(
            f"SELECT {select} FROM {table} AS {table} INNER JOIN"
            f" (SELECT * FROM values({literal(structure)}, {values})) AS excluded ON {on}"
        )
        self._delete_keys(table, key, [tuple(row[name] for name in key) for row in rows])
        if merged.num_rows:
            self._engine.insert_arrow(table, merged)

    def _delete_keys(
        self, table: str, key: Sequence[str], values: Sequence[tuple[Any, ...]]
    ) -> None:
        types = self._columns(table)
        converters = [_converter(_arrow_type(types[name])) for name in key]
        target = f"({', '.join(key)})" if len(key) > 1 else key[0]
        for chunk in _chunks(list(dict.fromkeys(values)), KEY_LOOKUP_CHUNK):
            listed = ", ".join(
                "(" + ", ".join(literal(c(v)) for c, v in zip(converters, k, strict=True)) + ")"
                if len(key) > 1
                else literal(converters[0](k[0]))
                for k in chunk
            )
            self._write(WritePlan("delete", table, f"{target} IN ({listed})"), {})

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_rows(table, rows, on_conflict="nothing")

    def _write(self, write: WritePlan, params: Mapping[str, Any]) -> None:
        where = bind(write.where, params)
        touched: list[str] = []
        if self.signal_rollup and write.table in _EVENT_TABLES:
            found = self._engine.query_arrow(
                f"SELECT DISTINCT interaction_id FROM {write.table} WHERE {where}"
            )
            touched = found.column("interaction_id").to_pylist()
        self._write_rows(write, where, params)
        if touched:
            self._recompute_signals(touched)

    def _write_rows(self, write: WritePlan, where: str, params: Mapping[str, Any]) -> None:
        cluster = self.options.cluster
        if write.kind == "delete":
            if cluster is None:
                self._engine.command(f"DELETE FROM {write.table} WHERE {where}")
            else:
                self._engine.command(
                    f"DELETE FROM {cluster.local(write.table)} ON CLUSTER {cluster.cluster}"
                    f" WHERE {where}"
                )
            return
        sets = ", ".join(f"{column} = {bind(expr, params)}" for column, expr in write.assignments)
        if write.table in MERGED_ON_READ:  # no lightweight updates on aggregating tables
            self._engine.command(
                f"ALTER TABLE {write.table} UPDATE {sets} WHERE {where} SETTINGS mutations_sync = 2"
            )
        elif cluster is None:
            self._engine.command(f"UPDATE {write.table} SET {sets} WHERE {where}")
        else:
            self._engine.command(
                f"ALTER TABLE {cluster.local(write.table)} ON CLUSTER {cluster.cluster}"
                f" UPDATE {sets} WHERE {where}"
            )

    def _values_rows(self, insert: InsertPlan, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The VALUES rows as Python values: parameters directly, expressions by ClickHouse."""
        rows: list[dict[str, Any]] = []
        for row in insert.rows:
            values: dict[str, Any] = {}
            computed: list[tuple[str, str]] = []
            columns = insert.columns or tuple(self._columns(insert.table))[: len(row)]
            for column, expression in zip(columns, row, strict=True):
                only = _PARAM_ONLY.match(expression)
                if only and only.group(1) in params:
                    values[column] = params[only.group(1)]
                else:
                    computed.append((column, bind(expression, params)))
            if computed:
                select = ", ".join(f"{expr} AS `{column}`" for column, expr in computed)
                values.update(_utc_rows(self._engine.query_arrow(f"SELECT {select}"))[0])
            rows.append(values)
        return rows

    def _run(self, step: Plan, params: Mapping[str, Any]) -> None:
        if self._already_current(step, params):
            return
        if isinstance(step, InsertPlan):
            rows = self._values_rows(step, params)
            if not step.columns:
                step = replace(step, columns=tuple(rows[0]) if rows else ())
            keys = [step.conflict_keys] if step.conflict_keys else None
            if step.on_conflict == "update" and keys is None:
                keys = [self._keys(step.table).primary]
            self._insert_rows(
                step.table, rows, on_conflict=step.on_conflict, keys=keys, updates=step.updates
            )
        elif (
            isinstance(step, InsertSelectPlan)
            and step.table == rollup.TABLE
            and self.signal_rollup
            and step.on_conflict != "nothing"
        ):
            self._replace_signal_rows(bind(step.select, params), step.columns)
        elif isinstance(step, InsertSelectPlan):
            selected = self._engine.query_arrow(bind(step.select, params))
            columns = step.columns or tuple(self._columns(step.table))[: selected.num_columns]
            renamed = selected.rename_columns(list(columns))
            keys = [step.conflict_keys] if step.conflict_keys else None
            if step.on_conflict == "update" and keys is None:
                keys = [self._keys(step.table).primary]
            self._insert_rows(
                step.table,
                renamed.to_pylist(),
                on_conflict=step.on_conflict,
                keys=keys,
                updates=step.updates,
            )
        elif isinstance(step, WritePlan):
            self._write(step, params)
        elif isinstance(step, CommandPlan):
            self._engine.command(bind(step.sql, params))
            self._column_types.clear()
        else:
            self._engine.query_arrow(bind(step.sql, params))

    def _already_current(self, step: Plan, params: Mapping[str, Any]) -> bool:
        """rollup.recompute_statements (named ``rollup_id*`` parameters) after a write of
        the event tables: this store already keeps those rows exact after every statement
        (views on inserts, _recompute_signals on deletes and updates), so they are skipped
        (each would cost a lightweight delete)."""
        return (
            self.signal_rollup
            and isinstance(step, (InsertSelectPlan, WritePlan))
            and step.table == rollup.TABLE
            and bool(params)
            and all(name.startswith("rollup_id") for name in params)
        )

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._run(plan(sql), dict(params or {}))

    def transaction(self, statements: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Every statement is parsed and bound first; then all run in order (module doc)."""
        steps = [(plan(sql), dict(params)) for sql, params in statements]
        for step, params in steps:
            for text in _texts(step):
                bind(text, params)  # a missing parameter fails before anything is written
        with self._lock:
            for step, params in steps:
                self._run(step, params)

    # -- reads --------------------------------------------------------------------------
    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        step = plan(sql)
        if not isinstance(step, ReadPlan):
            self.execute(sql, params)
            return []
        text = step.text(self._engine.materialized_cte)
        return _utc_rows(self._engine.query_arrow(bind(text, dict(params or {}))))

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """A read as an Arrow table (bulk copies and exports skip the dicts)."""
        step = plan(sql)
        if not isinstance(step, ReadPlan):
            raise StoreError("query_arrow takes a read query")
        return self._engine.query_arrow(
            bind(step.text(self._engine.materialized_cte), dict(params or {}))
        )

    def close(self) -> None:
        self._engine.close()


def _normal(value: Any) -> Any:
    """Key values compare equal whichever side they came from."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def _texts(step: Plan) -> list[str]:
    if isinstance(step, InsertPlan):
        return [value for row in step.rows for value in row] + [
            expr for _, expr in step.updates if "excluded." not in expr.lower()
        ]
    if isinstance(step, InsertSelectPlan):
        return [step.select]
    if isinstance(step, WritePlan):
        return [step.where, *(expr for _, expr in step.assignments)]
    return [step.sql]
