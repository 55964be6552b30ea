#!/usr/bin/env python3
"""Backends side by side: ingest throughput and the analytics queries on ClickHouse (chdb),
DuckDB and PostgreSQL, in one run.

    .venv/bin/python benchmarks/backends.py [--interactions 10000000] [--feedback 10000000]
        [--pg-interactions 1000000] [--pg-feedback 1000000] [--ingest 50000] [--runs 5]
        [--no-postgres]

Data: the SQL generator of benchmarks/queries.py builds the DuckDB store inside DuckDB
(cached under ``$PROMPTLOOP_BENCH_CACHE``); its two event tables are exported to Parquet and
loaded by SQL inside ClickHouse (``INSERT ... SELECT FROM file(..., Parquet)``) and by COPY
into PostgreSQL, so every engine holds the same rows. Each engine then builds its
``interaction_signals`` rollup by one bulk INSERT ... SELECT (ClickHouse: with its
materialized views dropped during the load and recreated after, ``rebuild_signals``), so
every backend answers the rate queries from the rollup. PostgreSQL gets its own (smaller)
scale.

Ingest: ``--ingest`` new interactions and as many feedback events through the Store API
(``insert_interactions`` / ``insert_feedback``, 5,000 per batch, the collector's path) into
the loaded store, records per second.

Queries: the point-6 queries and the issue-5 metrics of benchmarks/queries.py
(``run_queries``), median of ``--runs`` after a warm-up. Ratios are to DuckDB in the same run.
Prints one JSON line; writes ``benchmarks/results/<date>-backends.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import queries as Q

C.add_repo_root()

BATCH = 5000
EVENT_TABLES = ("llm_interaction_logs", "feedback_events")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--interactions", type=int, default=10_000_000)
    ap.add_argument("--feedback", type=int, default=10_000_000)
    ap.add_argument("--pg-interactions", type=int, default=1_000_000)
    ap.add_argument("--pg-feedback", type=int, default=1_000_000)
    ap.add_argument("--no-postgres", action="store_true")
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
        "load_seconds": round(load_seconds, 1),
        "rollup_build_seconds": round(time.monotonic() - t1, 1),
        "rows": counts,
    }


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


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    from promptloop.store import open_store, rollup

    work = Path(a.work_dir or tempfile.mkdtemp(prefix="promptloop-backends-"))
    result: dict[str, Any] = {
        "bench": "backends",
        "scale": {"interactions": a.interactions, "feedback": a.feedback},
        "runs": a.runs,
    }
    duck_path, meta, _ = Q.cached_store(_query_args(a), a.interactions, a.feedback)
    end = datetime.fromisoformat(meta["end"])
    result["data"] = meta
    backends: dict[str, Any] = {}
    # DuckDB: a copy of the cached store, so ingest does not change the cache.
    duck_copy = work / "duckdb.duckdb"
    shutil.copyfile(duck_path, duck_copy)
    store = open_store(f"duckdb:///{duck_copy}")
    try:
        backends["duckdb"] = run_backend("duckdb", store, end, a)
    finally:
        store.close()
    result["backends"] = backends  # written after each backend: a cut-short run keeps them
    C.write_result(f"backends-{a.tag}" if a.tag else "backends", result)
    duck_copy.unlink()

    C.log("clickhouse: export Parquet, load by SQL")
    parquet = export_parquet(duck_path, work / "parquet")
    store, load = load_clickhouse(f"chdb://{work / 'chdb'}?database=bench", parquet)
    try:
        backends["clickhouse"] = {"load": load, **run_backend("clickhouse", store, end, a)}
    finally:
        store.close()
    shutil.rmtree(work / "parquet", ignore_errors=True)
    C.write_result(f"backends-{a.tag}" if a.tag else "backends", result)

    if not a.no_postgres:
        pg_path, pg_meta, _ = Q.cached_store(_query_args(a), a.pg_interactions, a.pg_feedback)
        try:
            with Q.postgres_copy(pg_path) as (url, load):
                store = open_store(url)
                try:
                    rollup.rebuild(store)
                    pg_end = datetime.fromisoformat(pg_meta["end"])
                    backends["postgresql"] = {
                        "scale": {"interactions": a.pg_interactions, "feedback": a.pg_feedback},
                        "load": load,
                        **run_backend("postgresql", store, pg_end, a),
                    }
                finally:
                    store.close()
        except Exception as exc:  # a bench result, not a crash: report what failed
            C.log(f"postgresql failed: {exc!r}")
            backends["postgresql"] = {"error": repr(exc)[:1000]}
        result["postgres_data"] = pg_meta
    result["backends"] = backends
    result["ratio_to_duckdb_median"] = _ratios(backends, "duckdb")
    result["ingest_ratio_to_duckdb"] = {
        name: round(
            found["ingest"]["records_per_s"] / backends["duckdb"]["ingest"]["records_per_s"], 2
        )
        for name, found in backends.items()
        if "ingest" in found
    }
    path = C.write_result(f"backends-{a.tag}" if a.tag else "backends", result)
    C.log(f"wrote {path}")
    C.emit(result)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
