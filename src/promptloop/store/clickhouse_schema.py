"""ClickHouse DDL: portable migrations translated to table designs fit for ClickHouse.

The migrations in :mod:`promptloop.store.schema` are written in a small portable subset
(``CREATE TABLE`` with simple types, ``PRIMARY KEY``, ``UNIQUE``, ``CREATE [UNIQUE] INDEX``).
This module turns that subset into single-node ClickHouse DDL:

- every table is a ``ReplacingMergeTree`` whose sorting key ends with the primary key, so a
  row written twice (a retried batch racing another writer) collapses to one in merges;
  reads stay exact because the store checks keys before inserting (see ``clickhouse.py``);
- the two event tables are ordered by their main access patterns and partitioned by month;
- secondary indexes become data-skipping indexes (bloom filters for point lookups);
- columns are ``Nullable`` unless ``NOT NULL`` or part of the primary key.

:func:`for_cluster` rewrites that single-node DDL for a cluster: ``ON CLUSTER``,
``Replicated*MergeTree`` local tables and ``Distributed`` tables in front of them.
Only the standard library is used here: :mod:`promptloop.store.schema` imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ClusterConfig",
    "TableDesign",
    "TableInfo",
    "TableKeys",
    "describe_tables",
    "for_cluster",
    "from_portable",
    "parse_keys",
    "ttl_statement",
]

_TYPES = {
    "VARCHAR": "String",
    "TEXT": "String",
    "JSON": "String",
    "JSONB": "String",
    "UUID": "String",
    "BLOB": "String",
    "BYTEA": "String",
    "DOUBLE": "Float64",
    "DOUBLE PRECISION": "Float64",
    "REAL": "Float64",
    "FLOAT": "Float64",
    "INTEGER": "Int64",
    "INT": "Int64",
    "BIGINT": "Int64",
    "SMALLINT": "Int64",
    "BOOLEAN": "Bool",
    "BOOL": "Bool",
    "TIMESTAMPTZ": "DateTime64(6, 'UTC')",
    "TIMESTAMP": "DateTime64(6, 'UTC')",
    "DATE": "Date32",
}

_CREATE_TABLE = re.compile(
    r"^\s*CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)\s*$", re.DOTALL | re.IGNORECASE
)
_CREATE_INDEX = re.compile(
    r"^\s*CREATE (UNIQUE )?INDEX IF NOT EXISTS (\w+)\s+ON (\w+)\s*\(([^)]*)\)\s*$",
    re.IGNORECASE,
)
_ADD_COLUMN = re.compile(
    r"^\s*ALTER TABLE (\w+) ADD COLUMN (IF NOT EXISTS )?(\w+) (.+?)\s*$", re.IGNORECASE | re.DOTALL
)
_TABLE_KEY = re.compile(r"^(PRIMARY KEY|UNIQUE)\s*\(([^)]*)\)$", re.IGNORECASE)
_COLUMN = re.compile(r"^(\w+)\s+(.+)$", re.DOTALL)
_DEFAULT = re.compile(r"\s+DEFAULT\s+(.+?)(?=\s+(?:NOT NULL|PRIMARY KEY)\b|$)", re.IGNORECASE)


@dataclass(frozen=True)
class TableDesign:
    """How one table is laid out in ClickHouse.

    ``order_by`` is the sorting key (the primary index): put the columns the main queries
    filter on first, and end with the primary key so that ReplacingMergeTree collapses
    repeats of the same row. ``shard_by`` routes rows to shards in a cluster; feedback is
    sharded by interaction so that the join with its interaction stays on one shard.
    """

    order_by: tuple[str, ...]
    partition_by: str | None = None
    shard_by: str | None = None
    ttl_column: str | None = None


# Tables not listed are ordered by their primary key, unpartitioned.
DESIGNS: dict[str, TableDesign] = {
    "llm_interaction_logs": TableDesign(
        order_by=("feature", "prompt_version", "timestamp", "interaction_id"),
        partition_by="toYYYYMM(timestamp)",
        shard_by="cityHash64(interaction_id)",
        ttl_column="timestamp",
    ),
    "feedback_events": TableDesign(
        order_by=("feedback_type", "timestamp", "feedback_id"),
        partition_by="toYYYYMM(timestamp)",
        shard_by="cityHash64(interaction_id)",
        ttl_column="timestamp",
    ),
}

# allow_nullable_key: `feature` and `prompt_version` may be NULL yet lead the sorting key.
# The block number/offset columns enable lightweight UPDATE (patch parts, no rewrite).
TABLE_SETTINGS = (
    "allow_nullable_key = 1, enable_block_number_column = 1, enable_block_offset_column = 1"
)


@dataclass(frozen=True)
class TableKeys:
    """The uniqueness a table promises: its primary key and any UNIQUE column sets."""

    primary: tuple[str, ...]
    unique: tuple[tuple[str, ...], ...] = ()


@dataclass
class _Table:
    name: str
    columns: list[tuple[str, str]] = field(default_factory=list)  # name, type [DEFAULT ...]
    primary: tuple[str, ...] = ()
    unique: list[tuple[str, ...]] = field(default_factory=list)
    portable: dict[str, str] = field(default_factory=dict)  # name -> portable type


def _split_top_level(body: str) -> list[str]:
    """Split a column list on commas that are not inside parentheses."""
    parts: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(body):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:index].strip())
            start = index + 1
    parts.append(body[start:].strip())
    return [part for part in parts if part]


def _clickhouse_type(portable: str, table: str, column: str) -> str:
    key = " ".join(portable.upper().split())
    key = re.sub(r"\(.*\)$", "", key).strip()  # VARCHAR(64) -> VARCHAR
    try:
        return _TYPES[key]
    except KeyError:
        raise ValueError(
            f"{table}.{column}: type {portable!r} has no ClickHouse translation; "
            f"use one of {sorted(_TYPES)} or give the migration a 'clickhouse' variant"
        ) from None


def _default(expression: str) -> str:
    upper = expression.strip().upper()
    if upper in ("CURRENT_TIMESTAMP", "NOW()"):
        return "now64(6)"
    return expression.strip()


def _parse_table(statement: str) -> _Table | None:
    match = _CREATE_TABLE.match(statement)
    if not match:
        return None
    table = _Table(name=match.group(1))
    nullable: dict[str, bool] = {}
    defaults: dict[str, str] = {}
    for part in _split_top_level(match.group(2)):
        key = _TABLE_KEY.match(part)
        if key:
            columns = tuple(c.strip() for c in key.group(2).split(","))
            if key.group(1).upper() == "UNIQUE":
                table.unique.append(columns)
            else:
                table.primary = columns
            continue
        column = _COLUMN.match(part)
        if not column:
            raise ValueError(f"{table.name}: cannot translate column definition {part!r}")
        name, rest = column.group(1), column.group(2)
        default = _DEFAULT.search(rest)
        bare = _DEFAULT.sub("", rest)
        upper = bare.upper()
        is_pk = "PRIMARY KEY" in upper
        if is_pk:
            table.primary = (name,)
        portable = re.sub(r"\s+(NOT NULL|PRIMARY KEY|NULL)\b", "", bare, flags=re.IGNORECASE)
        ch_type = _clickhouse_type(portable.strip(), table.name, name)
        table.portable[name] = " ".join(portable.upper().split())
        nullable[name] = not (is_pk or "NOT NULL" in upper)
        defaults[name] = f" DEFAULT {_default(default.group(1))}" if default else ""
        table.columns.append((name, ch_type))
    table.columns = [
        (
            name,
            (f"Nullable({ch_type})" if nullable[name] and name not in table.primary else ch_type)
            + defaults[name],
        )
        for name, ch_type in table.columns
    ]
    return table


def _design(table: _Table) -> TableDesign:
    return DESIGNS.get(table.name) or TableDesign(
        order_by=table.primary or (table.columns[0][0],),
        shard_by=f"cityHash64({(table.primary or (table.columns[0][0],))[0]})",
    )


def _create_table(table: _Table) -> str:
    design = _design(table)
    columns = ",\n".join(f"    {name} {spec}" for name, spec in table.columns)
    lines = [
        f"CREATE TABLE IF NOT EXISTS {table.name} (\n{columns}\n)",
        "ENGINE = ReplacingMergeTree",
    ]
    if design.partition_by:
        lines.append(f"PARTITION BY {design.partition_by}")
    lines.append(f"ORDER BY ({', '.join(design.order_by)})")
    lines.append(f"SETTINGS {TABLE_SETTINGS}")
    return "\n".join(lines)


def _skip_index(name: str, table: str, columns: str) -> str | None:
    first = columns.split(",")[0].strip()
    design = DESIGNS.get(table)
    if design and design.order_by[0] == first:
        return None  # the sorting key already serves this pattern
    kind = "minmax" if first == "timestamp" or first.endswith("_at") else "bloom_filter"
    return f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS {name} ({first}) TYPE {kind} GRANULARITY 4"


def _add_column(match: re.Match[str]) -> str:
    table, column, rest = match.group(1), match.group(3), match.group(4)
    default = _DEFAULT.search(rest)
    bare = re.sub(r"\s+NOT NULL\b", "", _DEFAULT.sub("", rest), flags=re.IGNORECASE)
    ch_type = _clickhouse_type(bare.strip(), table, column)
    if default:
        return (
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ch_type}"
            f" DEFAULT {_default(default.group(1))}"
        )
    if "NOT NULL" not in rest.upper():
        ch_type = f"Nullable({ch_type})"
    return f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ch_type}"


def translate(statement: str) -> tuple[str, ...]:
    """One portable DDL statement as ClickHouse statements (possibly none)."""
    table = _parse_table(statement)
    if table is not None:
        return (_create_table(table),)
    index = _CREATE_INDEX.match(statement)
    if index:
        made = _skip_index(index.group(2), index.group(3), index.group(4))
        return (made,) if made else ()
    column = _ADD_COLUMN.match(statement)
    if column:
        return (_add_column(column),)
    if re.match(r"^\s*(DROP|ALTER TABLE \w+ DROP)\b", statement, re.IGNORECASE):
        return (statement.strip(),)
    if re.match(r"^\s*(INSERT|UPDATE|DELETE)\b", statement, re.IGNORECASE):
        return (statement.strip(),)  # data: the store runs it through its SQL translation
    raise ValueError(
        "no ClickHouse translation for this migration statement; give the migration a "
        f"'clickhouse' variant: {statement.strip()[:120]!r}"
    )


def from_portable(statements: Iterable[str]) -> tuple[str, ...]:
    """Translate a migration's portable (DuckDB) statements into ClickHouse DDL."""
    return tuple(made for statement in statements for made in translate(statement))


def parse_keys(statements: Iterable[str]) -> dict[str, TableKeys]:
    """Primary keys and UNIQUE sets declared by portable DDL (tables and unique indexes)."""
    keys: dict[str, TableKeys] = {}
    for statement in statements:
        table = _parse_table(statement)
        if table is not None:
            keys[table.name] = TableKeys(table.primary, tuple(table.unique))
            continue
        index = _CREATE_INDEX.match(statement)
        if index and index.group(1) and index.group(3) in keys:
            found = keys[index.group(3)]
            columns = tuple(c.strip() for c in index.group(4).split(","))
            keys[index.group(3)] = TableKeys(found.primary, (*found.unique, columns))
    return keys


@dataclass(frozen=True)
class TableInfo:
    """A table as the portable migrations declare it (columns in order, with their types)."""

    name: str
    columns: dict[str, str]
    primary: tuple[str, ...]

    @property
    def json_columns(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.columns.items() if kind in ("JSON", "JSONB"))


def describe_tables(statements: Iterable[str]) -> dict[str, TableInfo]:
    """Every table the portable DDL creates, with columns added by later ALTERs."""
    tables: dict[str, TableInfo] = {}
    for statement in statements:
        table = _parse_table(statement)
        if table is not None:
            tables[table.name] = TableInfo(table.name, dict(table.portable), table.primary)
            continue
        column = _ADD_COLUMN.match(statement)
        if column and column.group(1) in tables:
            kind = re.sub(r"\s+(NOT NULL|DEFAULT .*)$", "", column.group(4), flags=re.IGNORECASE)
            tables[column.group(1)].columns[column.group(3)] = " ".join(kind.upper().split())
    return tables


def ttl_statement(table: str, days: int) -> str | None:
    """``ALTER TABLE ... MODIFY TTL`` for a table with a time column, or None."""
    design = DESIGNS.get(table)
    if design is None or design.ttl_column is None:
        return None
    if days <= 0:
        return f"ALTER TABLE {table} REMOVE TTL"
    return f"ALTER TABLE {table} MODIFY TTL toDateTime({design.ttl_column}) + INTERVAL {days} DAY"


# -- clusters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterConfig:
    """Where a cluster keeps its replicas: names as in the servers' ``remote_servers``.

    ``zookeeper_path`` and ``replica`` are the arguments of ``Replicated*MergeTree``; the
    ``{shard}`` and ``{replica}`` macros come from each server's ``<macros>`` section.
    """

    cluster: str
    database: str = "default"
    zookeeper_path: str = "/clickhouse/tables/{shard}/{database}/{table}"
    replica: str = "{replica}"
    local_suffix: str = "_local"

    def local(self, table: str) -> str:
        return f"{table}{self.local_suffix}"


_CH_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+) \(", re.IGNORECASE)
_CH_ENGINE = re.compile(r"^ENGINE = (\w*MergeTree)(\((.*)\))?$", re.MULTILINE)
_CH_ORDER = re.compile(r"^ORDER BY \((.*)\)$", re.MULTILINE)
_CH_ALTER = re.compile(r"^ALTER TABLE (\w+) ", re.IGNORECASE)


def _shard_key(table: str, statement: str) -> str:
    design = DESIGNS.get(table)
    if design and design.shard_by:
        return design.shard_by
    order = _CH_ORDER.search(statement)
    first = order.group(1).split(",")[0].strip() if order else "tuple()"
    return f"cityHash64({first})"


def for_cluster(statement: str, config: ClusterConfig) -> list[str]:
    """Single-node ClickHouse DDL rewritten for a replicated, sharded cluster.

    ``CREATE TABLE t`` becomes ``t_local`` (``Replicated*MergeTree`` on every node) plus ``t``
    (a ``Distributed`` table over the shards); ``ALTER TABLE t`` applies to ``t_local``.
    """
    on = f"ON CLUSTER {config.cluster}"
    create = _CH_CREATE.match(statement)
    if create:
        table = create.group(1)
        local = config.local(table)
        path = config.zookeeper_path.replace("{table}", local).replace(
            "{database}", config.database
        )

        def replicated(engine: re.Match[str]) -> str:
            extra = f", {engine.group(3)}" if engine.group(3) else ""
            return f"ENGINE = Replicated{engine.group(1)}('{path}', '{config.replica}'{extra})"

        local_ddl = _CH_ENGINE.sub(
            replicated,
            _CH_CREATE.sub(f"CREATE TABLE IF NOT EXISTS {local} {on} (", statement, count=1),
        )
        distributed = (
            f"CREATE TABLE IF NOT EXISTS {table} {on} AS {local}\n"
            f"ENGINE = Distributed({config.cluster}, {config.database}, {local},"
            f" {_shard_key(table, statement)})"
        )
        return [local_ddl, distributed]
    alter = _CH_ALTER.match(statement)
    if alter:
        local = config.local(alter.group(1))
        return [_CH_ALTER.sub(f"ALTER TABLE {local} {on} ", statement, count=1)]
    drop = re.match(r"^DROP TABLE (IF EXISTS )?(\w+)\s*$", statement.strip(), re.IGNORECASE)
    if drop:
        table = drop.group(2)
        return [
            f"DROP TABLE IF EXISTS {table} {on} SYNC",
            f"DROP TABLE IF EXISTS {config.local(table)} {on} SYNC",
        ]
    return [statement]


def cluster_ddl(statements: Sequence[str], config: ClusterConfig) -> list[str]:
    return [made for statement in statements for made in for_cluster(statement, config)]
