#!/usr/bin/env python3
"""The reliability report: faults, outages, overload and a soak, measured on real parts.

    .venv/bin/python benchmarks/reliability.py [--only crash,outage,overload,soak,hostile]
                                               [--kills 3] [--outage-minutes 60]
                                               [--soak-seconds 120] [--quick]

Sections (each reuses the scenario the tests assert on, ``tests/reliability/scenarios.py``):

- ``crash``: clients ingest at full speed into a collector subprocess that is SIGKILLed
  ``--kills`` times and restarted on the same data directory, on DuckDB, PostgreSQL (a
  throwaway server) and ClickHouse (chdb, in the collector's process); then every
  acknowledged interaction must be in the store exactly once.
- ``outage``: ``--outage-minutes`` simulated minutes of SDK traffic with the collector down
  (compressed in time: the sender runs once per simulated minute), then it returns: host
  exceptions, added latency per call during the outage, host RSS per minute, spool size,
  events lost or duplicated.
- ``overload``: 16 clients push more than the collector takes, with tight bounds: its
  answers (200/429/503), Retry-After, acknowledged vs stored, its RSS next to the bound.
- ``soak``: sustained ingest plus dashboard/query reads for ``--soak-seconds``: throughput,
  latency percentiles, RSS over time.
- ``hostile``: ``benchmarks/reliability_hostile.py`` when present (schemathesis cases and
  failures, fuzz cases), run and merged from ``results/reliability-hostile.json``.

Writes ``benchmarks/results/reliability.json`` (and a dated copy); prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.add_repo_root()

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SECTIONS = ("crash", "outage", "overload", "soak", "hostile")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--outage-minutes", type=int, default=60)
    ap.add_argument("--soak-seconds", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="1 kill, 10 outage minutes, 30 s soak")
    ap.add_argument(
        "--hostile-args",
        default="",
        help='arguments for reliability_hostile.py, e.g. "--fuzz-examples 200"',
    )
    return ap.parse_args(argv)


@contextlib.contextmanager
def _backend_urls(tmp: Path) -> Iterator[dict[str, str]]:
    """A fresh store URL per backend; PostgreSQL is a throwaway server stopped by PID."""
    urls = {"duckdb": f"duckdb:///{tmp / 'crash-duckdb' / 'store.duckdb'}"}
    (tmp / "crash-duckdb").mkdir()
    try:
        import chdb  # noqa: F401

        urls["clickhouse-chdb"] = f"chdb://{tmp / 'crash-chdb'}"
    except ImportError:
        C.log("chdb is not installed: ClickHouse skipped")
    with contextlib.ExitStack() as stack:
        try:
            from tests.support.pgserver import create_database, postgres_server

            server = stack.enter_context(postgres_server())
            urls["postgresql"] = create_database(server, "promptloop_reliability")
        except Exception as exc:  # no PostgreSQL binaries: report it, run the rest
            C.log(f"PostgreSQL unavailable: {exc}")
        yield urls


def crash(a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.reliability.scenarios import kill_under_load

    out: dict[str, Any] = {}
    with _backend_urls(tmp) as urls:
        for backend, url in urls.items():
            C.log(f"crash: {backend}, {a.kills} kill(s) under load")
            t0 = time.perf_counter()
            figures = kill_under_load(
                url, tmp / f"data-{backend}", kills=a.kills, clients=4, acked_before_kill=3000
            )
            out[backend] = {**figures.as_dict(), "seconds": round(time.perf_counter() - t0, 1)}
    return out


def outage(a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.reliability.scenarios import outage_figures

    C.log(f"outage: {a.outage_minutes} simulated minutes with the collector down")
    return outage_figures(tmp, minutes=a.outage_minutes)


def overload(a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.reliability.scenarios import overload_collector

    C.log("overload: 16 clients flood a collector with tight bounds")
    return overload_collector(f"duckdb:///{tmp / 'overload.duckdb'}", tmp / "data-overload")


def soak(a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.reliability.scenarios import soak as run_soak

    C.log(f"soak: {a.soak_seconds} s of ingest plus dashboard reads")
    return run_soak(f"duckdb:///{tmp / 'soak.duckdb'}", tmp / "data-soak", seconds=a.soak_seconds)


def hostile(a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    script = HERE / "reliability_hostile.py"
    if not script.exists():
        return {"status": "not present (benchmarks/reliability_hostile.py)"}
    C.log("hostile: running benchmarks/reliability_hostile.py")
    done = subprocess.run(
        [sys.executable, str(script), *shlex.split(a.hostile_args)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    merged: dict[str, Any] = {"exit_code": done.returncode}
    report = RESULTS / "reliability-hostile.json"
    if report.exists():
        merged.update(json.loads(report.read_text()))
    elif done.stdout.strip():
        with contextlib.suppress(ValueError):
            merged.update(json.loads(done.stdout.strip().splitlines()[-1]))
    if done.returncode:
        merged["stderr_tail"] = done.stderr[-2000:]
    return merged


RUNNERS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "crash": crash,
    "outage": outage,
    "overload": overload,
    "soak": soak,
    "hostile": hostile,
}


def summary(sections: dict[str, Any]) -> dict[str, Any]:
    """The closing note's table: one line per promise."""
    table: dict[str, Any] = {}
    for backend, figures in (sections.get("crash") or {}).items():
        if isinstance(figures, dict) and "acknowledged" in figures:
            table[f"kill -9 ({backend})"] = (
                f"{figures['kills']} kills: {figures['acknowledged']} acknowledged, "
                f"{figures['acknowledged_missing']} missing, {figures['duplicates']} duplicated"
            )
    out = sections.get("outage")
    if isinstance(out, dict) and "lost" in out:
        table["outage"] = (
            f"{out['simulated_minutes']} simulated minutes down: {out['calls']} calls, "
            f"{out['lost']} lost, {out['duplicates']} duplicated, "
            f"{out['exceptions_in_host']} host exceptions, added p50/p99 "
            f"{out['added_us_during_outage']['p50']}/{out['added_us_during_outage']['p99']} µs"
        )
    over = sections.get("overload")
    if isinstance(over, dict) and "answers" in over:
        table["overload"] = (
            f"answers {over['answers']}, Retry-After <= {over['retry_after_max']} s, "
            f"{over['acknowledged_missing']} acknowledged missing, peak RSS "
            f"{over['peak_rss_mb']} MB (bound {over['rss_bound_mb']} MB)"
        )
    so = sections.get("soak")
    if isinstance(so, dict) and "events_per_s" in so:
        table["soak"] = (
            f"{so['seconds']} s: {so['events_per_s']} events/s, ingest p50/p99 "
            f"{so['ingest_latency_ms']['p50']}/{so['ingest_latency_ms']['p99']} ms, peak RSS "
            f"{so['peak_rss_mb']} MB"
        )
    return table


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    if a.quick:
        a.kills, a.outage_minutes, a.soak_seconds = 1, 10, 30.0
    chosen = [name for name in a.only.split(",") if name]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {sorted(unknown)}")
    load_start = os.getloadavg()
    result: dict[str, Any] = {
        "bench": "reliability",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": a.quick,
    }
    sections: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="promptloop-reliability-") as tmp_name:
        tmp = Path(tmp_name)
        for name in chosen:
            section_dir = tmp / name
            section_dir.mkdir()
            t0 = time.perf_counter()
            try:
                sections[name] = RUNNERS[name](a, section_dir)
            except Exception as exc:  # one failed section must not hide the others
                sections[name] = {"error": repr(exc)[:2000]}
            C.log(f"{name}: {time.perf_counter() - t0:.1f} s")
    result["sections"] = sections
    result["summary"] = summary(sections)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_at_start": load_start,
        "loadavg_at_end": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    latest = RESULTS / "reliability.json"
    if latest.exists() and set(chosen) != set(SECTIONS):
        with contextlib.suppress(ValueError):
            previous = json.loads(latest.read_text()).get("sections", {})
    merged = {**result, "sections": {**previous, **sections}}
    merged["summary"] = summary(merged["sections"])
    latest.write_text(json.dumps(merged, indent=1, sort_keys=True, default=str) + "\n")
    C.write_result("reliability", merged)
    C.emit(result)


if __name__ == "__main__":
    main()
