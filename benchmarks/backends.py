#!/usr/bin/env python3
"""Backends side by side: ingest throughput and the analytics queries on ClickHouse (chdb),
DuckDB and PostgreSQL, in one run.

    .venv/bin/python benchmarks/backends.py [--interactions 10000000] [--feedback 10000000]
        [--pg-interactions 1000000] [--pg-feedback 1000000] [--ingest 50000] [--runs 5]
        [--backends duckdb,clickhouse,postgresql] [--tag NAME]

Data: the SQL generator of benchmarks/queries.py builds the DuckDB store inside DuckDB
(cached under ``$PROMPTLOOP_BENCH_CACHE``); its two event tables are exported to Parquet and
loaded by SQL inside ClickHouse (``INSERT ... SELECT FROM file(..., Parquet)``, the chdb
session capped by :data:`CHDB_LIMITS`), and into a throwaway PostgreSQL server by ``COPY ...
FROM STDIN (FORMAT csv)`` of CSV chunks that DuckDB writes, with the tables' indexes and keys
dropped during the load and rebuilt after (:func:`postgres_bulk`), so every engine holds the
same rows. Each engine then builds its ``interaction_signals`` rollup by one bulk INSERT ...
SELECT (ClickHouse: with its materialized views dropped during the load and recreated after,
``rebuild_signals``), so every backend answers the rate queries from the rollup. PostgreSQL
gets its own scale (``--pg-*``).

Ingest: ``--ingest`` new interactions and as many feedback events through the Store API
(``insert_interactions`` / ``insert_feedback``, 5,000 per batch, the collector's path) into
the loaded store, records per second.

Queries: the point-6 queries and the issue-5 metrics of benchmarks/queries.py
(``run_queries``), median of ``--runs`` after a warm-up. Ratios are to DuckDB in the same run.
Each backend's part records its wall time, this process's peak RSS and the load average
before and after (the machine is shared). Prints one JSON line; writes
``benchmarks/results/<date>-backends[-<tag>].json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import queries as Q

C.add_repo_root()

BATCH = 5000
EVENT_TABLES = ("llm_interaction_logs", "feedback_events")
# Session limits of the benchmark's chdb store (a 2-core, 23 GB machine shared with others).
CHDB_LIMITS = {
    "max_memory_usage": 8_000_000_000,
    "max_bytes_before_external_group_by": 3_000_000_000,
    "max_bytes_before_external_sort": 3_000_000_000,
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--interactions", type=int, default=10_000_000)
    ap.add_argument("--feedback", type=int, default=10_000_000)
    ap.add_argument("--pg-interactions", type=int, default=1_000_000)
    ap.add_argument("--pg-feedback", type=int, default=1_000_000)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument(
        "--backends",
        default="duckdb,clickhouse,postgresql",
        help="which to run (a re-run of one backend after a change: ratios need duckdb)",
    )
    ap.add_argument("--ingest", type=int, default=50_000, help="records per kind to ingest")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per query case")
    ap.add_argument("--cases", default="", help="only queries whose name contains one")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--cache-dir", default=Q.parse([]).cache_dir)
    ap.add_argument("--work-dir", default=None, help="where chdb and Parquet files go")
    ap.add_argument("--tag", default="", help="results file <date>-backends-<tag>.json")
    return ap.parse_args(argv)


def _query_args(a: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(cache_dir=a.cache_dir, rebuild=a.rebuild)


# ---------------------------------------------------------------- ingest


def ingest_records(k: int, end: datetime) -> tuple[list[Any], list[Any]]:
    """``k`` new interactions and one feedback event each, built before timing starts."""
    from promptloop.core.records import FeedbackEvent, Interaction

    kinds = ["copy", "regenerate", "thumbs_up", "thumbs_down", "follow_up"]
    logs, events = [], []
    for i in range(k):
        ident = str(uuid.uuid4())
        at = end + timedelta(seconds=i / 10)
        logs.append(
            Interaction(
                interaction_id=ident,
                session_id=f"ingest-{i // 10}",
                user_id=f"u_{i % 997}",
                feature=Q.FEATURES[i % 3][0],
                prompt_name=Q.FEATURES[i % 3][1],
                prompt_version=Q.FEATURES[i % 3][3][-1][0],
                model="model-a",
                user_input=f"How do I export note {i} to PDF?",
                raw_output="Open the note, then File > Export. " * 4,
                input_tokens=60,
                output_tokens=120,
                latency_ms=800.0,
                timestamp=at,
                metadata={"ab_variant": "AB"[i % 2]},
            )
        )
        events.append(
            FeedbackEvent(
                interaction_id=ident,
                feedback_type=kinds[i % len(kinds)],
                timestamp=at + timedelta(seconds=30),
            )
        )
    return logs, events


def measure_ingest(store: Any, logs: list[Any], events: list[Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    stored = 0
    for start in range(0, len(logs), BATCH):
        stored += store.insert_interactions(logs[start : start + BATCH])
        stored += store.insert_feedback(events[start : start + BATCH])
    seconds = time.perf_counter() - t0
    # A retried batch stores nothing (and is timed too: the collector retries after a crash).
    t1 = time.perf_counter()
    again = store.insert_interactions(logs[:BATCH]) + store.insert_feedback(events[:BATCH])
    retry_seconds = time.perf_counter() - t1
    return {
        "records": len(logs) + len(events),
        "stored": stored,
        "seconds": round(seconds, 2),
        "records_per_s": round((len(logs) + len(events)) / seconds, 1),
        "retried_batch_stored": again,
        "retried_batch_seconds": round(retry_seconds, 3),
    }


# ---------------------------------------------------------------- ClickHouse loading


def export_parquet(duck_path: Path, folder: Path) -> dict[str, Path]:
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    con = duckdb.connect(str(duck_path), read_only=True)
    try:
        for table in EVENT_TABLES:
            path = folder / f"{table}.parquet"
            if not path.exists():
                con.execute(f"COPY {table} TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
            paths[table] = path
    finally:
        con.close()
    return paths


def load_clickhouse(url: str, parquet: dict[str, Path]) -> tuple[Any, dict[str, Any]]:
    """Bulk-load the Parquet files by SQL inside ClickHouse."""
    from promptloop.store import open_store
    from promptloop.store.clickhouse import SIGNAL_VIEWS

    store = open_store(url)
    engine = store._engine  # the bulk load is engine SQL, around the per-row Store API
    # The machine is shared: a query (or OPTIMIZE's merge) that would pass the cap spills
    # its GROUP BY / ORDER BY to disk, or fails, rather than taking the machine's memory.
    for name, value in CHDB_LIMITS.items():
        engine.command(f"SET {name} = {value}")
    t0 = time.monotonic()
    # The bulk load goes around the views that keep interaction_signals; it is built after
    # by one INSERT ... SELECT (rebuild_signals, which also recreates the views).
    for view in SIGNAL_VIEWS.values():
        engine.command(f"DROP VIEW IF EXISTS {view}")
    for table, path in parquet.items():
        engine.command(f"TRUNCATE TABLE {table}")
        engine.command(f"INSERT INTO {table} SELECT * FROM file('{path}', Parquet)")
    engine.command("OPTIMIZE TABLE llm_interaction_logs FINAL")
    load_seconds = time.monotonic() - t0
    t1 = time.monotonic()
    store.rebuild_signals()
    counts = {
        table: store.fetch_all(f"SELECT count(*) AS n FROM {table}")[0]["n"]
        for table in (*EVENT_TABLES, "interaction_signals")
    }
    return store, {
        "limits": CHDB_LIMITS,
        "load_seconds": round(load_seconds, 1),
        "rollup_build_seconds": round(time.monotonic() - t1, 1),
        "rows": counts,
    }


# ---------------------------------------------------------------- PostgreSQL loading

PG_CHUNK = 500_000


def _pg_indexes(conn: Any, tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(table, name, definition) of every index and primary key on ``tables``."""
    found: list[tuple[str, str, str]] = []
    for table in tables:
        for name, kind, definition in conn.execute(
            "SELECT conname, 'constraint', pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') "
            "UNION ALL SELECT indexname, 'index', indexdef FROM pg_indexes "
            "WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            (table, table, table),
        ).fetchall():
            found.append((table, name, f"{kind}:{definition}"))
    return found


def _pg_drop(conn: Any, indexes: list[tuple[str, str, str]]) -> None:
    for table, name, definition in indexes:
        if definition.startswith("constraint:"):
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        else:
            conn.execute(f"DROP INDEX {name}")


def _pg_create(conn: Any, indexes: list[tuple[str, str, str]]) -> None:
    for table, name, definition in indexes:
        kind, _, body = definition.partition(":")
        if kind == "constraint":
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {body}")
        else:
            conn.execute(body)


@contextlib.contextmanager
def postgres_bulk(duck_path: Path, folder: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A throwaway PostgreSQL server holding a copy of the DuckDB store's rows.

    The bulk load as PostgreSQL's manual advises for big loads: the event tables' indexes
    and primary keys dropped, the rows sent by ``COPY ... FROM STDIN (FORMAT csv)`` in
    chunks that DuckDB writes as CSV (by rowid range, so no chunk is re-read), the indexes
    and keys rebuilt after, then the ``interaction_signals`` rollup filled by one INSERT ...
    SELECT (with its own indexes built after) and ANALYZE.
    """
    import duckdb
    import psycopg
    from tests.support.pgserver import create_database, postgres_server

    from promptloop.store import open_store, rollup

    folder.mkdir(parents=True, exist_ok=True)
    with postgres_server() as server:
        C.log(f"postgresql: server pid {server.pid} on port {server.port}")
        url = create_database(server, "promptloop_backends")
        open_store(url).close()
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        src = duckdb.connect(str(duck_path), read_only=True)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET maintenance_work_mem = '1GB'")
                events = _pg_indexes(conn, EVENT_TABLES)
                _pg_drop(conn, events)
                for table in EVENT_TABLES:
                    # The DuckDB table's columns, in its order (PostgreSQL's may differ).
                    shape = src.execute(f"SELECT * FROM {table} LIMIT 0").description or []
                    names = ", ".join(column[0] for column in shape)
                    total = src.execute(f"SELECT max(rowid) + 1 FROM {table}").fetchone()
                    rows = int(total[0] or 0) if total else 0
                    chunk = folder / f"{table}.csv"
                    for start in range(0, rows, PG_CHUNK):
                        src.execute(
                            f"COPY (SELECT {names} FROM {table} WHERE rowid >= {start} "
                            f"AND rowid < {start + PG_CHUNK}) TO '{chunk}' "
                            "(FORMAT csv, HEADER false)"
                        )
                        with (
                            conn.cursor() as cur,
                            cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as cp,
                            chunk.open("rb") as fh,
                        ):
                            while block := fh.read(1 << 20):
                                cp.write(block)
                        chunk.unlink()
                        C.log(f"postgresql: {table} {min(start + PG_CHUNK, rows)}/{rows}")
                timings["copy_seconds"] = round(time.monotonic() - t0, 1)
                t1 = time.monotonic()
                _pg_create(conn, events)
                timings["index_seconds"] = round(time.monotonic() - t1, 1)
                C.log(f"postgresql: indexes rebuilt in {timings['index_seconds']} s")
                # COPY went around the store's insert paths: fill the rollup as migration 6
                # does for rows stored before it.
                t2 = time.monotonic()
                signals = _pg_indexes(conn, (rollup.TABLE,))
                _pg_drop(conn, signals)
                conn.execute(f"DELETE FROM {rollup.TABLE}")
                conn.execute(rollup.populate_sql("postgresql").encode())
                _pg_create(conn, signals)
                timings["rollup_build_seconds"] = round(time.monotonic() - t2, 1)
                C.log(f"postgresql: rollup built in {timings['rollup_build_seconds']} s")
                conn.execute("ANALYZE")
                counts = {
                    table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                    for table in (*EVENT_TABLES, rollup.TABLE)
                }
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        finally:
            src.close()
        yield (
            url,
            {
                "load_seconds": round(time.monotonic() - t0, 1),
                **timings,
                "rows": counts,
                "database_bytes": int(size[0]) if size else None,
            },
        )


# ---------------------------------------------------------------- main


def _ratios(results: dict[str, Any], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reference = results.get(base, {}).get("queries", {})
    for backend, found in results.items():
        if backend == base or "queries" not in found:
            continue
        out[backend] = {
            name: round(case["median_ms"] / reference[name]["median_ms"], 2)
            for name, case in found["queries"].items()
            if name in reference and reference[name]["median_ms"] > 0
        }
    return out


def run_backend(name: str, store: Any, end: datetime, a: argparse.Namespace) -> dict[str, Any]:
    C.log(f"{name}: queries")
    found: dict[str, Any] = {
        "queries": Q.run_queries(
            store, end, a.runs, deep_depth=10_000, budget_s=a.budget, only=Q._only(a)
        )
    }
    C.log(f"{name}: ingest {a.ingest} + {a.ingest}")
    logs, events = ingest_records(a.ingest, end + timedelta(days=1))
    found["ingest"] = measure_ingest(store, logs, events)
    C.log(f"{name}: {found['ingest']['records_per_s']} records/s")
    return found


def _machine() -> dict[str, Any]:
    """Load average and available memory now (the machine is shared)."""
    available = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    return {
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "mem_available_bytes": available,
    }


def _timed_backend(name: str, result: dict[str, Any], run: Any) -> None:
    """Run one backend's part; its wall time and the machine's load before and after."""
    before, t0 = _machine(), time.monotonic()
    found = run()
    found["wall_seconds"] = round(time.monotonic() - t0, 1)
    found["machine"] = {"before": before, "after": _machine()}
    # ru_maxrss: the peak of this process (DuckDB and chdb run in it; PostgreSQL does not).
    found["process_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["backends"][name] = found


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    from promptloop.store import open_store

    chosen = {part.strip() for part in a.backends.split(",") if part.strip()}
    if a.no_postgres:
        chosen.discard("postgresql")
    work = Path(a.work_dir or tempfile.mkdtemp(prefix="promptloop-backends-"))
    work.mkdir(parents=True, exist_ok=True)
    name = f"backends-{a.tag}" if a.tag else "backends"
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "backends",
        "scale": {"interactions": a.interactions, "feedback": a.feedback},
        "runs": a.runs,
        "ingest_per_kind": a.ingest,
        "cpus": os.cpu_count(),
        "machine_at_start": _machine(),
        "backends": {},
    }
    duck_path, meta, _ = Q.cached_store(_query_args(a), a.interactions, a.feedback)
    end = datetime.fromisoformat(meta["end"])
    result["data"] = meta
    backends: dict[str, Any] = result["backends"]

    if "duckdb" in chosen:

        def duckdb_part() -> dict[str, Any]:
            # A copy of the cached store, so ingest does not change the cache.
            duck_copy = work / "duckdb.duckdb"
            shutil.copyfile(duck_path, duck_copy)
            store = open_store(f"duckdb:///{duck_copy}")
            try:
                found = run_backend("duckdb", store, end, a)
            finally:
                store.close()
            found["file_bytes"] = duck_copy.stat().st_size
            duck_copy.unlink()
            return found

        _timed_backend("duckdb", result, duckdb_part)
        C.write_result(name, result)  # after each backend: a cut-short run keeps them

    if "clickhouse" in chosen:

        def clickhouse_part() -> dict[str, Any]:
            C.log("clickhouse: export Parquet, load by SQL")
            parquet = export_parquet(duck_path, work / "parquet")
            store, load = load_clickhouse(f"chdb://{work / 'chdb'}?database=bench", parquet)
            try:
                found = {"load": load, **run_backend("clickhouse", store, end, a)}
            finally:
                store.close()
            shutil.rmtree(work / "parquet", ignore_errors=True)
            found["data_bytes"] = sum(
                f.stat().st_size for f in (work / "chdb").rglob("*") if f.is_file()
            )
            return found

        _timed_backend("clickhouse", result, clickhouse_part)
        C.write_result(name, result)

    if "postgresql" in chosen:
        pg_path, pg_meta, _ = Q.cached_store(_query_args(a), a.pg_interactions, a.pg_feedback)
        result["postgres_data"] = pg_meta

        def postgres_part() -> dict[str, Any]:
            with postgres_bulk(pg_path, work / "csv") as (url, load):
                store = open_store(url)
                try:
                    pg_end = datetime.fromisoformat(pg_meta["end"])
                    return {
                        "scale": {"interactions": a.pg_interactions, "feedback": a.pg_feedback},
                        "load": load,
                        **run_backend("postgresql", store, pg_end, a),
                    }
                finally:
                    store.close()

        try:
            _timed_backend("postgresql", result, postgres_part)
        except Exception as exc:  # a bench result, not a crash: report what failed
            C.log(f"postgresql failed: {exc!r}")
            backends["postgresql"] = {"error": repr(exc)[:1000]}

    if "duckdb" in backends:
        result["ratio_to_duckdb_median"] = _ratios(backends, "duckdb")
        result["ingest_ratio_to_duckdb"] = {
            backend: round(
                found["ingest"]["records_per_s"] / backends["duckdb"]["ingest"]["records_per_s"],
                2,
            )
            for backend, found in backends.items()
            if "ingest" in found
        }
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["machine_at_end"] = _machine()
    path = C.write_result(name, result)
    C.log(f"wrote {path}")
    C.emit(result)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
