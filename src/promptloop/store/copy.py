"""Copy every table from one store to another (any two of DuckDB, PostgreSQL, ClickHouse).

Each table is read in primary-key order, one keyset page at a time, and written with
``insert_rows``, which skips keys the destination already holds. After each page the last
key copied is saved in a checkpoint file, so an interrupted copy resumes where it stopped,
and a page sent twice (a crash between the write and the checkpoint) stores nothing twice.

Verification reads both sides again, page by page, and compares per table the row count
and an order-independent checksum: the sum (mod 2**64) of a hash of each row's canonical
form (JSON text parsed, timestamps in UTC, numbers as Python sees them), computed the same
way whichever backend the row came from.

``interaction_signals`` is derived: the destination maintains it as the rows it summarises
arrive, so it is neither copied nor compared.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from promptloop.exceptions import ConfigError
from promptloop.store import schema
from promptloop.store.base import Store
from promptloop.store.clickhouse_schema import TableInfo, describe_tables

DEFAULT_BATCH_SIZE = 5000
DERIVED_TABLES = frozenset({"interaction_signals"})
# The event tables first (the rollup of the destination fills as they arrive), then the rest.
_FIRST = ("llm_interaction_logs", "feedback_events")
_MASK = (1 << 64) - 1


def copied_tables() -> list[TableInfo]:
    """The tables a copy moves, in the order it moves them."""
    tables = describe_tables(
        statement for migration in schema.MIGRATIONS for statement in migration.statements["duckdb"]
    )
    ordered = [tables[name] for name in _FIRST if name in tables]
    ordered += [info for name, info in tables.items() if name not in _FIRST]
    return [info for info in ordered if info.name not in DERIVED_TABLES]


# -- checkpoints ---------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """Where each table's copy stopped: the last primary key written (None: not started)."""

    source: str
    destination: str
    last_keys: dict[str, list[Any] | None] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, source: str, destination: str) -> Checkpoint:
        if not path.exists():
            return cls(source, destination)
        data = json.loads(path.read_text())
        if data.get("source") != source or data.get("destination") != destination:
            raise ConfigError(
                f"--checkpoint: {path} belongs to a copy from {data.get('source')!r} to"
                f" {data.get('destination')!r}; pass --restart or another --checkpoint"
            )
        return cls(source, destination, data.get("last_keys", {}), data.get("done", []))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(asdict(self), default=_key_json))
        temporary.replace(path)  # atomic: a crash leaves the old checkpoint or the new one


def _key_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot checkpoint a key of type {type(value).__name__}")


# -- reading in key order ------------------------------------------------------------------


def _after(key: Sequence[str], last: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(k1, k2) > (:a, :b)`` spelled out, as every backend understands it."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for depth, name in enumerate(key):
        equal = [f"{key[i]} = :key{i}" for i in range(depth)]
        clauses.append("(" + " AND ".join([*equal, f"{name} > :key{depth}"]) + ")")
        params[f"key{depth}"] = last[depth]
    return " OR ".join(clauses), params


def pages(
    store: Store, table: TableInfo, batch_size: int, last: Sequence[Any] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, ``batch_size`` at a time, after ``last``."""
    key = table.primary
    order = ", ".join(key)
    position = list(last) if last is not None else None
    while True:
        condition, params = ("TRUE", {}) if position is None else _after(key, position)
        rows = store.fetch_all(
            f"SELECT * FROM {table.name} WHERE {condition} ORDER BY {order} LIMIT :limit",
            {**params, "limit": batch_size},
        )
        if not rows:
            return
        yield rows
        position = [rows[-1][name] for name in key]
        if len(rows) < batch_size:
            return


def _for_writing(rows: list[dict[str, Any]], table: TableInfo) -> list[dict[str, Any]]:
    """JSON columns as text (PostgreSQL reads them as objects, DuckDB as text)."""
    shared = [name for name in rows[0] if name in table.columns]
    out: list[dict[str, Any]] = []
    for row in rows:
        clean = {name: row[name] for name in shared}
        for name in table.json_columns:
            value = clean.get(name)
            if value is not None and not isinstance(value, str):
                clean[name] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        out.append(clean)
    return out


# -- checksums -----------------------------------------------------------------------------


def _canonical(value: Any, is_json: bool) -> Any:
    if value is None:
        return None
    if is_json:
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return int(value) if value.is_integer() else value
    return str(value)


def row_hash(row: Mapping[str, Any], table: TableInfo) -> int:
    """A 64-bit hash of the row's canonical form, over the table's declared columns."""
    canonical = [
        _canonical(row.get(name), name in table.json_columns)
        for name in table.columns
        if name in row
    ]
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class TableSummary:
    rows: int = 0
    checksum: int = 0

    def add(self, rows: Sequence[Mapping[str, Any]], table: TableInfo) -> None:
        self.rows += len(rows)
        for row in rows:
            self.checksum = (self.checksum + row_hash(row, table)) & _MASK


def summarise(store: Store, table: TableInfo, batch_size: int) -> TableSummary:
    summary = TableSummary()
    for page in pages(store, table, batch_size):
        summary.add(page, table)
    return summary


# -- the copy ------------------------------------------------------------------------------


@dataclass
class TableResult:
    table: str
    copied: int = 0  # rows the destination did not have yet
    read: int = 0  # rows read from the source in this run
    source_rows: int | None = None
    destination_rows: int | None = None
    source_checksum: str | None = None
    destination_checksum: str | None = None

    @property
    def matches(self) -> bool | None:
        if self.source_checksum is None:
            return None
        return (
            self.source_rows == self.destination_rows
            and self.source_checksum == self.destination_checksum
        )


@dataclass
class CopyReport:
    tables: list[TableResult]
    complete: bool  # every table copied to its end (False: stopped by max_batches)
    verified: bool

    @property
    def mismatches(self) -> list[TableResult]:
        return [result for result in self.tables if result.matches is False]


# (table, rows copied so far, rows in the source table) after each page
Progress = Callable[[str, int, int], None]


def count_rows(store: Store, table: str) -> int:
    return int(store.fetch_all(f"SELECT count(*) AS n FROM {table}")[0]["n"])


def copy_store(
    source: Store,
    destination: Store,
    *,
    checkpoint_path: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every table (see the module docstring); verify when the copy completes."""
    if batch_size < 1:
        raise ConfigError("--batch-size: must be at least 1")
    if max_batches is not None and max_batches < 1:
        raise ConfigError("--max-batches: must be at least 1")
    checkpoint = Checkpoint.load(checkpoint_path, source.url, destination.url)
    results: list[TableResult] = []
    budget = max_batches
    complete = True
    for table in copied_tables():
        result = TableResult(table.name)
        results.append(result)
        if table.name in checkpoint.done:
            continue
        if budget == 0:
            complete = False
            continue
        total = count_rows(source, table.name)
        done_before = count_rows(destination, table.name)
        if progress:
            progress(table.name, min(done_before, total), total)
        finished = True
        for page in pages(source, table, batch_size, checkpoint.last_keys.get(table.name)):
            result.read += len(page)
            result.copied += destination.insert_rows(table.name, _for_writing(page, table))
            checkpoint.last_keys[table.name] = [page[-1][name] for name in table.primary]
            checkpoint.save(checkpoint_path)
            if progress:
                progress(table.name, min(done_before + result.copied, total), total)
            if budget is not None:
                budget -= 1
                if budget == 0:
                    finished = len(page) < batch_size
                    break
        if finished:
            checkpoint.done.append(table.name)
            checkpoint.save(checkpoint_path)
        else:
            complete = False
    if complete and verify:
        for table, result in zip(copied_tables(), results, strict=True):
            mine, theirs = (
                summarise(source, table, batch_size),
                summarise(destination, table, batch_size),
            )
            result.source_rows, result.destination_rows = mine.rows, theirs.rows
            result.source_checksum = f"{mine.checksum:016x}"
            result.destination_checksum = f"{theirs.checksum:016x}"
    return CopyReport(results, complete=complete, verified=complete and verify)
