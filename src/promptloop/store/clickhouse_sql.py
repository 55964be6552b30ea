"""Statements written for DuckDB and PostgreSQL, planned for ClickHouse.

The rest of promptloop writes one portable SQL for every backend (``:name`` parameters,
``->>`` on JSON text, ``ON CONFLICT`` upserts, ``UPDATE``/``DELETE``). ClickHouse speaks a
different dialect and has no unique constraints, so each statement is parsed once with
sqlglot (cached by its text) into a plan:

- a read becomes ClickHouse SQL (sqlglot's ClickHouse generator plus the transforms below);
- an ``INSERT ... VALUES`` becomes rows plus a conflict policy that the store enforces by
  looking keys up before it writes;
- ``UPDATE`` and ``DELETE`` become lightweight updates and deletes (or mutations on a
  cluster).

Parameters are inlined as ClickHouse literals (:func:`literal`), so the same text runs on
chDB and on a server.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.generator import Generator as SqlGenerator

from promptloop.exceptions import StoreError

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


def literal(value: Any) -> str:
    """A Python value as a ClickHouse SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value
        return f"toDateTime64('{stamp.strftime('%Y-%m-%d %H:%M:%S.%f')}', 6, 'UTC')"
    if isinstance(value, date):
        return f"toDate32('{value.isoformat()}')"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        value = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """Inline ``:name`` parameters as literals; a missing parameter is a clear error."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise StoreError(f"SQL parameter :{name} was not given")
        return literal(params[name])

    return _NAMED_PARAM.sub(value, sql)


# -- the generator ---------------------------------------------------------------------------


def _json_text(generator: SqlGenerator, expression: exp.JSONExtractScalar) -> str:
    """``j->>'k'`` as PostgreSQL means it: the text of a string, the JSON of anything else,
    NULL for a missing key or a JSON null (ClickHouse's JSONExtractString gives '' instead)."""
    document = generator.sql(expression, "this")
    keys = [
        literal(part.this)
        for part in expression.expression.expressions
        if isinstance(part, exp.JSONPathKey)
    ]
    path = ", ".join([document, *keys])
    return (
        f"multiIf(JSONType({path}) = 'String', JSONExtractString({path}),"
        f" JSONType({path}) = 'Null', NULL, JSONExtractRaw({path}))"
    )


def _json_raw(generator: SqlGenerator, expression: exp.JSONExtract) -> str:
    document = generator.sql(expression, "this")
    keys = [
        literal(part.this)
        for part in expression.expression.expressions
        if isinstance(part, exp.JSONPathKey)
    ]
    path = ", ".join([document, *keys])
    return f"if(JSONType({path}) = 'Null', NULL, JSONExtractRaw({path}))"


def _within_group(generator: SqlGenerator, expression: exp.WithinGroup) -> str:
    """``percentile_cont(p) WITHIN GROUP (ORDER BY x)``: linear interpolation between the
    closest ranks, which is ClickHouse's quantileExactInclusive; ``percentile_disc`` is the
    smallest value whose rank reaches p, quantileExactLow."""
    function = expression.this
    ordered = expression.expression.expressions[0]
    fraction = generator.sql(function, "this")
    if ordered.args.get("desc"):
        fraction = f"1 - {fraction}"
    value = generator.sql(ordered, "this")
    if isinstance(function, exp.PercentileCont):
        return f"quantileExactInclusive({fraction})({value})"
    if isinstance(function, exp.PercentileDisc):
        return f"quantileExactLow({fraction})({value})"
    raise StoreError(f"no ClickHouse translation for {expression.sql('postgres')}")


class _Target(ClickHouse):
    """ClickHouse as sqlglot writes it, with ``:name`` kept and JSON read like PostgreSQL."""

    class Generator(ClickHouse.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS = {
            **ClickHouse.Generator.TRANSFORMS,
            exp.JSONExtractScalar: _json_text,
            exp.JSONExtract: _json_raw,
            exp.WithinGroup: _within_group,
        }

        def placeholder_sql(self, expression: exp.Placeholder) -> str:
            return f":{expression.name}"


def _name_qualified_columns(node: exp.Expr) -> exp.Expr:
    """``SELECT l.feature`` yields a column named ``feature`` in standard SQL but
    ``l.feature`` in ClickHouse: alias such projections by their column name."""
    for select in node.find_all(exp.Select):
        for index, projection in enumerate(select.expressions):
            if (
                isinstance(projection, exp.Column)
                and projection.table
                and not isinstance(projection.this, exp.Star)
            ):
                name = projection.name
                if sum(1 for p in select.expressions if p.alias_or_name == name) == 1:
                    select.expressions[index].replace(exp.alias_(projection.copy(), name))
    return node


def _json_casts_as_text(node: exp.Expr) -> exp.Expr:
    """``CAST(:doc AS JSON)``: JSON columns are String here, and ClickHouse's JSON type
    would re-serialise the document (reading ISO timestamps as DateTime, for one)."""

    def uncast(child: exp.Expr) -> exp.Expr:
        if isinstance(child, exp.Cast) and child.to.this in (
            exp.DataType.Type.JSON,
            exp.DataType.Type.JSONB,
        ):
            inner: exp.Expr = child.this
            return inner
        return _signed_count(_hex_cast(child))

    return node.transform(uncast)


def _signed_count(node: exp.Expr) -> exp.Expr:
    """``sum(CASE WHEN p THEN 1 ELSE 0 END)`` is a BIGINT elsewhere but UInt64 here, and
    ClickHouse's EXCEPT/INTERSECT tell UInt64 1 from Int64 1: make such counts Int64."""
    if not isinstance(node, exp.Sum):
        return node
    case = node.this
    if not isinstance(case, exp.Case):
        return node
    values = [branch.args.get("true") for branch in case.args.get("ifs") or ()]
    values.append(case.args.get("default"))
    if all(isinstance(v, exp.Literal) and not v.is_string and v.is_int for v in values if v):
        return exp.Anonymous(this="toInt64", expressions=[node.copy()])
    return node


def _hex_cast(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``CAST('0x' || hex AS BIGINT)`` (a hex string read as an integer): ClickHouse
    reads hex with unhex + reinterpret (big-endian digits, so reversed)."""
    if not isinstance(node, exp.Cast) or node.to.this not in (
        exp.DataType.Type.BIGINT,
        exp.DataType.Type.INT,
    ):
        return node
    inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    if not (
        isinstance(inner, exp.DPipe)
        and isinstance(inner.this, exp.Literal)
        and inner.this.this.lower() == "0x"
    ):
        return node
    digits = inner.expression.sql(dialect=_Target)
    parsed: exp.Expr = sqlglot.parse_one(
        f"reinterpretAsInt64(reverse(unhex(leftPad({digits}, 16, '0'))))", read=_Target
    )
    return parsed


# Tables whose rows are partial aggregates that background merges combine (the signal
# rollup, clickhouse.py): every read goes through FINAL so it sees one merged row per key.
MERGED_ON_READ = frozenset({"interaction_signals"})


def _final_reads(node: exp.Expr) -> exp.Expr:
    for table in list(node.find_all(exp.Table)):
        if table.name in MERGED_ON_READ and isinstance(table.parent, (exp.From, exp.Join)):
            table.replace(exp.Final(this=table.copy()))
    return node


def _star_over_table(select: exp.Expr, ctes: set[str]) -> bool:
    """``SELECT *`` (or ``t.*``) over a stored table: materialising it would copy wide rows."""
    for query in select.find_all(exp.Select):
        if not any(isinstance(p, exp.Star) or p.is_star for p in query.expressions):
            continue
        sources = [
            query.args.get("from_") or query.args.get("from"),
            *(query.args.get("joins") or ()),
        ]
        for source in sources:
            table = source.this if source is not None else None
            if isinstance(table, exp.Final):
                table = table.this
            if isinstance(table, exp.Table) and table.name not in ctes:
                return True
    return False


def _materialize_ctes(node: exp.Expr) -> bool:
    """Mark ``WITH x AS MATERIALIZED (...)`` the CTEs that ClickHouse would otherwise run
    once per reference (it inlines CTEs) and that read a table merged on read: each
    inlined copy repeats the FINAL scan of the rollup. Only narrow CTEs (no ``*`` over a
    table) referenced more than once, counting references through other CTEs, are marked;
    the rest stay inlined, where filters of the outer query still reach them. True when
    one was marked."""
    marked = False
    for with_ in list(node.find_all(exp.With)):
        ctes = list(with_.expressions)
        names = {cte.alias_or_name for cte in ctes}
        refs: dict[str, list[str]] = {}  # CTE -> the CTEs it names (with repeats)
        reads_merged: dict[str, bool] = {}
        for cte in ctes:
            tables = [t.name for t in cte.this.find_all(exp.Table)]
            refs[cte.alias_or_name] = [t for t in tables if t in names]
            reads_merged[cte.alias_or_name] = any(t in MERGED_ON_READ for t in tables)
        # How many times each CTE would run if every CTE were inlined.
        parent = with_.parent
        outer = [
            t.name
            for t in (parent.find_all(exp.Table) if parent is not None else ())
            if t.name in names and not any(t.find_ancestor(exp.CTE) is c for c in ctes)
        ]
        runs = dict.fromkeys(names, 0)
        pending = list(outer)
        while pending:
            name = pending.pop()
            runs[name] += 1
            pending.extend(refs[name])
            if sum(runs.values()) > 10_000:
                break
        changed = True
        while changed:  # reading a merged table through another CTE counts too
            changed = False
            for name, used in refs.items():
                if not reads_merged[name] and any(reads_merged[u] for u in used):
                    reads_merged[name] = changed = True
        for cte in ctes:
            name = cte.alias_or_name
            if runs[name] > 1 and reads_merged[name] and not _star_over_table(cte.this, names):
                cte.set("materialized", True)
                marked = True
    return marked


def _generate(node: exp.Expr) -> str:
    translated = _final_reads(_json_casts_as_text(node.copy()))
    return _name_qualified_columns(translated).sql(dialect=_Target)


def _generate_read(node: exp.Expr) -> ReadPlan:
    translated = _name_qualified_columns(_final_reads(_json_casts_as_text(node.copy())))
    sql = translated.sql(dialect=_Target)
    if not _materialize_ctes(translated):
        return ReadPlan(sql)
    return ReadPlan(sql, translated.sql(dialect=_Target))


# -- plans ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadPlan:
    """A read; ``materialized``: the same with its repeated CTEs over the rollup marked
    ``AS MATERIALIZED`` (run once each), for engines that have materialized CTEs."""

    sql: str
    materialized: str | None = None

    def text(self, materialized_cte: bool) -> str:
        return self.materialized if materialized_cte and self.materialized else self.sql


@dataclass(frozen=True)
class InsertPlan:
    """``INSERT INTO table (columns) VALUES ...`` with what to do when a key exists."""

    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # each value as ClickHouse SQL with :name parameters
    on_conflict: Literal["error", "nothing", "update"]
    conflict_keys: tuple[str, ...] = ()
    # column, expression over `table` (the stored row) and `excluded` (the new one)
    updates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InsertSelectPlan:
    """``INSERT INTO table (columns) SELECT ...`` with a conflict policy as in InsertPlan."""

    table: str
    columns: tuple[str, ...]
    select: str
    on_conflict: Literal["error", "nothing", "update"]
    conflict_keys: tuple[str, ...] = ()
    updates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WritePlan:
    """``UPDATE``/``DELETE``: ``assignments``/``where`` as ClickHouse SQL."""

    kind: Literal["update", "delete"]
    table: str
    where: str
    assignments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CommandPlan:
    sql: str


Plan = ReadPlan | InsertPlan | InsertSelectPlan | WritePlan | CommandPlan


def _strip_table(node: exp.Expr, table: str) -> exp.Expr:
    """``UPDATE t SET x = t.x + 1``: ClickHouse wants bare column names."""

    def bare(child: exp.Expr) -> exp.Expr:
        if isinstance(child, exp.Column) and child.table == table:
            return exp.column(child.name)
        return child

    return node.transform(bare)


def _insert_plan(statement: exp.Insert) -> Plan:
    target = statement.this
    table_node = target.this if isinstance(target, exp.Schema) else target
    table = table_node.name
    columns = (
        tuple(column.name for column in target.expressions)
        if isinstance(target, exp.Schema)
        else ()
    )
    conflict = statement.args.get("conflict")
    keys: tuple[str, ...] = ()
    action = "error"
    updates: tuple[tuple[str, str], ...] = ()
    if conflict is not None:
        keys = tuple(key.this.name for key in conflict.args.get("conflict_keys") or ())
        verb = str(conflict.args.get("action") or "").upper()
        if "NOTHING" in verb:
            action = "nothing"
        elif "UPDATE" in verb:
            action = "update"
            # Kept qualified: the store evaluates them over `table JOIN excluded`.
            updates = tuple(
                (assignment.this.name, _generate(assignment.expression))
                for assignment in conflict.expressions
            )
            if conflict.args.get("where") is not None:
                raise StoreError(
                    "ON CONFLICT ... DO UPDATE ... WHERE is not supported on ClickHouse"
                )
        else:
            raise StoreError(f"unsupported ON CONFLICT action {verb!r} on ClickHouse")
    source = statement.expression
    if isinstance(source, exp.Values):
        rows = tuple(
            tuple(_generate(value) for value in row.expressions) for row in source.expressions
        )
        return InsertPlan(table, columns, rows, action, keys, updates)  # type: ignore[arg-type]
    return InsertSelectPlan(table, columns, _generate(source), action, keys, updates)  # type: ignore[arg-type]


def _write_plan(statement: exp.Update | exp.Delete) -> WritePlan:
    table = statement.this.name
    if statement.args.get("from") or statement.args.get("returning") or statement.args.get("using"):
        raise StoreError(
            "UPDATE/DELETE with FROM, USING or RETURNING is not supported on ClickHouse"
        )
    where_node = statement.args.get("where")
    where = _generate(_strip_table(where_node.this, table)) if where_node is not None else "1"
    if isinstance(statement, exp.Delete):
        return WritePlan("delete", table, where)
    assignments = tuple(
        (assignment.this.name, _generate(_strip_table(assignment.expression, table)))
        for assignment in statement.expressions
    )
    return WritePlan("update", table, where, assignments)


@functools.lru_cache(maxsize=1024)
def plan(sql: str) -> Plan:
    """Parse one statement (PostgreSQL flavour, which DuckDB SQL here also is) into a plan."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise StoreError(f"cannot translate SQL for ClickHouse: {exc}") from exc
    if len(statements) != 1:
        raise StoreError("pass one SQL statement at a time")
    statement = statements[0]
    if isinstance(statement, exp.Insert):
        return _insert_plan(statement)
    if isinstance(statement, (exp.Update, exp.Delete)):
        return _write_plan(statement)
    if isinstance(statement, exp.Query):
        return _generate_read(statement)
    return CommandPlan(_generate(statement))
