#!/usr/bin/env python3
"""Run the promptloop benchmarks next to the peer baselines, in one session.

    .venv/bin/python benchmarks/run.py                      # everything (~15-25 min)
    .venv/bin/python benchmarks/run.py --quick              # small sizes, one round (~3 min)
    .venv/bin/python benchmarks/run.py --only sdk,peers     # the SDK cases, ours and the peers'
    .venv/bin/python benchmarks/run.py --only ingest --no-phoenix

Selections (``--only``, comma-separated; default all):
  sdk      our SDK overhead (benchmarks/sdk_overhead.py: rich, rich with the default queue,
           disabled); with ``peers`` also the peers' SDK cases, round-robin with ours
  ingest   the collector's ingest throughput on DuckDB and PostgreSQL (benchmarks/ingest.py);
           with ``peers`` (and not --no-phoenix) also the peers' Phoenix server bench
  queries  point-6 query latency on a 1M/3M DuckDB store (benchmarks/queries.py)
  alerts   time to alert and false alerts on simulated traffic, check() latency on the
           1M store (benchmarks/alerts.py)
  clusters planted failure modes recovered (precision, recall), clustering time for 100k
           inputs, priority query latency on the 1M store (benchmarks/clusters.py)
  review   the next review item on screen (prefetched) vs the claim round trip, keyboard
           items/min in Chromium (benchmarks/review.py)
  peers    the peer cases of the selected benches (alone: all peer cases)
  backends (only when named) ingest and the queries on ClickHouse (chdb), DuckDB and
           PostgreSQL at 10M interactions (benchmarks/backends.py; --quick: 100k)

Every bench runs as a subprocess that prints one JSON line (the SDK loops never share a
process with this one's progress display). Peer scripts run with the system ``python3``
and build their own venvs under ``$PEERBENCH_ROOT``. Results: ``benchmarks/results/
<date>-<bench>.json`` (raw runs) and ``benchmarks/results/latest.json`` (summary: targets,
pass/fail, ratios to the peers from the same run); ``--quick`` writes ``*-quick.json`` and
``latest-quick.json`` instead, so a smoke run never replaces the full figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

ALL = ("sdk", "ingest", "queries", "alerts", "clusters", "review", "peers")
OPTIONAL = ("backends",)  # long (10M rows per engine): run when named in --only
SDK_TARGET_P50_US = 10.0
SDK_TARGET_P99_US = 100.0
INGEST_TARGET_EVENTS_PER_S = 20_000.0
QUERY_TARGET_MS = 200.0

OURS_SDK = "promptloop-rich"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default=",".join(ALL), help="comma-separated: " + ", ".join(ALL))
    ap.add_argument("--quick", action="store_true", help="small sizes, one round")
    ap.add_argument("--rounds", type=int, default=None, help="SDK rounds (default 3; quick 1)")
    ph = ap.add_mutually_exclusive_group()
    ph.add_argument("--with-phoenix", dest="phoenix", action="store_true", default=None)
    ph.add_argument("--no-phoenix", dest="phoenix", action="store_false")
    ap.add_argument("--postgres-queries", action="store_true", help="queries on PostgreSQL too")
    ap.add_argument("--sdk-n", type=int, default=None, help="calls per SDK case (default 20000)")
    ap.add_argument("--ingest-k", type=int, default=None, help="interactions = feedback events")
    a = ap.parse_args(argv)
    a.selected = {s.strip() for s in a.only.split(",") if s.strip()}
    unknown = a.selected - set(ALL) - set(OPTIONAL)
    if unknown:
        ap.error(f"unknown selections: {sorted(unknown)}")
    if a.selected == {"peers"}:
        a.selected = {"sdk", "ingest", "peers"}
        a.peers_only = True
    else:
        a.peers_only = False
    if a.phoenix is None:
        a.phoenix = not a.quick
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.sdk_n = a.sdk_n or (5000 if a.quick else 20000)
    a.ingest_k = a.ingest_k or (10_000 if a.quick else 100_000)
    return a


# ---------------------------------------------------------------- child processes


def _console() -> Any:
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:  # a log file or CI: do not wrap at 80 columns
        console = Console(stderr=True, width=160)
    return console


class Runner:
    """Runs one child at a time, shows its last stderr line in a rich progress bar, and
    keeps the full stderr in a log file."""

    def __init__(self, total: int, log_path: Path) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = _console()
        # No refresh thread: the display is redrawn only when a child writes a line, so the
        # SDK timing loops do not compete with a renderer.
        self.progress = Progress(
            TextColumn("[bold]{task.fields[step]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        self.task = self.progress.add_task("", total=total, step="")
        self.log_path = log_path
        self.log = log_path.open("a")

    def __enter__(self) -> Runner:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
        self.log.close()

    def note(self, text: str) -> None:
        self.progress.console.print(text)

    def run(self, label: str, argv: list[str], timeout: float) -> dict[str, Any]:
        self.progress.update(self.task, step=label, description="starting")
        self.progress.refresh()
        self.log.write(f"\n=== {label}: {' '.join(argv)}\n")
        self.log.flush()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=str(C.REPO),
        )
        out_parts: list[str] = []
        reader = threading.Thread(
            target=lambda: out_parts.append(proc.stdout.read() if proc.stdout else ""),
            daemon=True,
        )
        reader.start()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()  # by PID: the child we started

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.write(line)
                self.log.flush()
                text = line.strip()
                if text:
                    self.progress.update(self.task, description=text[-110:])
                    self.progress.refresh()
            proc.wait()
        finally:
            timer.cancel()
            reader.join(timeout=30)
        self.log.flush()
        self.progress.advance(self.task)
        self.progress.refresh()
        lines = [ln for ln in "".join(out_parts).splitlines() if ln.startswith("{")]
        if timed_out.is_set():
            result: dict[str, Any] = {"error": f"timeout after {timeout:.0f}s"}
        elif not lines:
            result = {"error": f"no JSON line (rc={proc.returncode}); see {self.log_path}"}
        else:
            result = json.loads(lines[-1])
            if proc.returncode != 0 and "error" not in result:
                result["error"] = f"rc={proc.returncode}"
        result["_case"] = label
        result["_wall_s"] = round(time.monotonic() - t0, 1)
        status = "[red]error[/red] " + str(result["error"])[:200] if "error" in result else "ok"
        self.note(f"{label}: {status} ({result['_wall_s']} s)")
        return result


# ---------------------------------------------------------------- SDK


def sdk_cases(a: argparse.Namespace, with_peers: bool, ours: bool) -> list[tuple[str, list[str]]]:
    n = str(a.sdk_n)
    py, script = sys.executable, str(C.BENCH_DIR / "sdk_overhead.py")
    cases: list[tuple[str, list[str]]] = []
    if ours:
        cases += [
            (OURS_SDK, [py, script, "--mode", "rich", "--n", n]),
            (
                "promptloop-rich-default-queue",
                [py, script, "--mode", "rich", "--n", n, "--max-queue", "10000"],
            ),
            ("promptloop-disabled", [py, script, "--mode", "disabled", "--n", n]),
        ]
    if with_peers:
        peer = [C.system_python(), str(C.peers_dir() / "sdk_overhead.py")]
        tail = ["--mode", "rich", "--n", n]
        q32k = ["--bsp-queue", "32768"]
        for name, args in (
            ("otel-noop-rich", ["--sdk", "otel", "--export", "noop"]),
            ("otel-otlpsink-rich-q32k", ["--sdk", "otel", "--export", "sink", *q32k]),
            ("langfuse-sink-rich", ["--sdk", "langfuse", "--export", "sink"]),
            ("langfuse-disabled-rich", ["--sdk", "langfuse", "--export", "disabled"]),
            (
                "phoenix-register-batch-rich-q32k",
                ["--sdk", "phoenix-otel", "--export", "batch", *q32k],
            ),
        ):
            cases.append((name, [*peer, *args, *tail]))
    return cases


def _get(d: dict[str, Any], dotted: str) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    vals = [v for v in (_get(r, key) for r in runs) if isinstance(v, (int, float))]
    return round(statistics.median(vals), 3) if vals else None


def _spread(runs: list[dict[str, Any]], key: str) -> list[float] | None:
    vals = [v for v in (_get(r, key) for r in runs) if isinstance(v, (int, float))]
    return [round(min(vals), 3), round(max(vals), 3)] if vals else None


SDK_KEYS = (
    "added_us.p50",
    "added_us.mean",
    "added_us.p99",
    "added_us_mean_incl_flush",
    "bare_us.p50",
    "traced_us.p50",
    "traced_us.p99",
    "flush_seconds",
    "shutdown_seconds",
    "traced_loop_calls_per_s",
)


def summarize_sdk(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            cases[name] = {"error": rs[0].get("error") if rs else "not run", "runs": 0}
            continue
        med: dict[str, Any] = {k: _median(ok, k) for k in SDK_KEYS}
        med["added_us.p50__spread"] = _spread(ok, "added_us.p50")
        med["added_us.p99__spread"] = _spread(ok, "added_us.p99")
        med["runs"] = len(ok)
        if name.startswith("promptloop"):
            med["created"] = _get(ok[0], "interactions_created")
            stored = [int(r.get("interactions_stored") or 0) for r in ok]
            med["delivered_min"] = min(stored) if stored else None
        else:
            med["created"] = _get(ok[0], "spans_created")
            exported = [int(r["spans_exported"]) for r in ok if r.get("spans_exported") is not None]
            med["delivered_min"] = min(exported) if exported else None
            med["sdk_info.export"] = _get(ok[0], "sdk_info.export")
            med["versions"] = ok[0].get("versions")
        cases[name] = med
    ours = cases.get(OURS_SDK, {})
    ratios: dict[str, Any] = {}
    for name, med in cases.items():
        if name.startswith("promptloop") or "added_us.p50" not in med:
            continue
        ref = cases.get("promptloop-disabled", {}) if "disabled" in name else ours
        ratios[name] = {
            "compared_with": "promptloop-disabled" if "disabled" in name else OURS_SDK,
            "peer_added_p50_us": med["added_us.p50"],
            "ours_added_p50_us": ref.get("added_us.p50"),
            "p50_peer_over_ours": C.ratio(med["added_us.p50"], ref.get("added_us.p50")),
            "peer_added_p99_us": med["added_us.p99"],
            "ours_added_p99_us": ref.get("added_us.p99"),
            "p99_peer_over_ours": C.ratio(med["added_us.p99"], ref.get("added_us.p99")),
            "mean_incl_flush_peer_over_ours": C.ratio(
                med["added_us_mean_incl_flush"], ref.get("added_us_mean_incl_flush")
            ),
        }
    return {"cases": cases, "ratios_peer_over_ours": ratios}


# ---------------------------------------------------------------- ingest + Phoenix


def summarize_ingest(ours: dict[str, Any], phoenix: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"backends": {}}
    for name, b in (ours.get("backends") or {}).items():
        if "interactions" not in b:
            out["backends"][name] = {"error": b.get("error", "missing")}
            continue
        row = {
            "e2e_events_per_s": b["e2e_events_per_s"],
            "accept_events_per_s": b["accept_events_per_s"],
            "interactions_e2e_per_s": b["interactions"]["e2e_per_s"],
            "interactions_accept_per_s": b["interactions"]["accept_per_s"],
            "feedback_e2e_per_s": b["feedback"]["e2e_per_s"],
            "feedback_accept_per_s": b["feedback"]["accept_per_s"],
            "server_cpu_ms_per_event": b["server_cpu_ms_per_event"],
            "server_cpu_ms_per_interaction": b["interactions"]["server_cpu_ms_per_event"],
            "server_cpu_ms_per_feedback": b["feedback"]["server_cpu_ms_per_event"],
            "server_rss_idle_mb": b["server_rss_idle_mb"],
            "server_rss_peak_mb": b["server_rss_peak_mb"],
            "disk_per_10k_events_mb": b["disk"]["per_10k_events_mb"],
            "disk_per_10k_interactions_mb": b["disk"].get("per_10k_interactions_mb"),
            "resend_after_503": b["interactions"]["resend_after_503"]
            + b["feedback"]["resend_after_503"],
            "events": b["events"],
        }
        if "db_cpu_ms_per_event" in b:
            row["db_cpu_ms_per_event"] = b["db_cpu_ms_per_event"]
            row["db_rss_sum_peak_mb"] = b.get("db_rss_sum_peak_mb")
        if "error" in b:
            row["error"] = b["error"]
        out["backends"][name] = row
    if phoenix is not None:
        if "error" in phoenix and "ingest" not in phoenix:
            out["phoenix"] = {"error": phoenix["error"]}
        else:
            px = {
                "spans": _get(phoenix, "ingest.spans"),
                "e2e_spans_per_s": _get(phoenix, "ingest.e2e_spans_per_s"),
                "accept_spans_per_s": _get(phoenix, "ingest.accept_spans_per_s"),
                "server_cpu_ms_per_span": _get(phoenix, "ingest.server_cpu_ms_per_span"),
                "annotation_e2e_per_s": _get(phoenix, "annotation_ingest.e2e_per_s"),
                "server_cpu_ms_per_annotation": _get(
                    phoenix, "annotation_ingest.server_cpu_ms_per_annotation"
                ),
                "server_rss_idle_mb": phoenix.get("server_rss_idle_mb"),
                "server_rss_peak_mb": _get(phoenix, "ingest.server_rss_during_ingest.peak_mb"),
                "disk_per_10k_spans_mb": _get(phoenix, "disk_after_ingest.per_10k_spans_mb"),
                "startup_cold_seconds": phoenix.get("startup_cold_seconds"),
                "version": _get(phoenix, "versions.arize-phoenix"),
            }
            if "error" in phoenix:
                px["error"] = phoenix["error"]
            out["phoenix"] = px
            duck = out["backends"].get("duckdb", {})
            out["ratios_ours_duckdb_over_phoenix"] = {
                "interactions_vs_spans_e2e": C.ratio(
                    duck.get("interactions_e2e_per_s"), px["e2e_spans_per_s"]
                ),
                "feedback_vs_annotations_e2e": C.ratio(
                    duck.get("feedback_e2e_per_s"), px["annotation_e2e_per_s"]
                ),
                "phoenix_cpu_per_span_over_ours_per_interaction": C.ratio(
                    px["server_cpu_ms_per_span"], duck.get("server_cpu_ms_per_interaction")
                ),
                "phoenix_peak_rss_over_ours": C.ratio(
                    px["server_rss_peak_mb"], duck.get("server_rss_peak_mb")
                ),
                "phoenix_disk_per_10k_spans_over_ours_per_10k_interactions": C.ratio(
                    px["disk_per_10k_spans_mb"], duck.get("disk_per_10k_interactions_mb")
                ),
            }
    return out


# ---------------------------------------------------------------- alerts

ALERT_TARGET_DELAY = 2000
ALERT_TARGET_FALSE_PER_100K = 1.0
ALERT_TARGET_CHECK_MS = 300.0
_CHECK_FIELDS = ("median_ms", "p95_ms", "median_cpu_ms", "cold_ms", "streams")


def summarize_alerts(res: dict[str, Any]) -> dict[str, Any]:
    """The figures of benchmarks/alerts.py that latest.json keeps."""
    if "delay" not in res:
        return {"error": res.get("error", "missing")}
    delay_fields = ("check_every", "per_hour", "median", "p90", "missed_within_20000")
    fa = res.get("false_alerts") or {}
    latency = res.get("check_latency") or {}
    check = (latency.get("as_built") or {}).get("default_rules") or {}
    arrival = (latency.get("arrival_order") or {}).get("default_rules") or {}
    return {
        "delay_interactions": {
            name: {field: row.get(field) for field in delay_fields}
            for name, row in res["delay"].items()
        },
        "false_alerts": {
            field: fa.get(field)
            for field in ("interactions", "alerts", "per_100k", "per_100k_ci95")
        },
        "check_duckdb_ms": {field: check.get(field) for field in _CHECK_FIELDS},
        "check_duckdb_feedback_in_arrival_order_ms": {
            field: arrival.get(field) for field in _CHECK_FIELDS
        },
        "design": res.get("design_at_true_rate"),
    }


def alert_targets(alerts: dict[str, Any]) -> list[tuple[str, Any, str, float, str]]:
    every = (alerts.get("delay_interactions") or {}).get("every_100") or {}
    return [
        ("alert_delay_median_interactions", every.get("median"), "<=", ALERT_TARGET_DELAY, ""),
        ("alert_delay_p90_interactions", every.get("p90"), "<=", ALERT_TARGET_DELAY, ""),
        (
            "alert_false_alerts_per_100k",
            (alerts.get("false_alerts") or {}).get("per_100k"),
            "<=",
            ALERT_TARGET_FALSE_PER_100K,
            "",
        ),
        (
            "alert_check_duckdb_median_ms",
            (alerts.get("check_duckdb_ms") or {}).get("median_ms"),
            "<=",
            ALERT_TARGET_CHECK_MS,
            "ms",
        ),
        (
            "alert_check_duckdb_feedback_in_arrival_order_median_ms",
            (alerts.get("check_duckdb_feedback_in_arrival_order_ms") or {}).get("median_ms"),
            "<=",
            ALERT_TARGET_CHECK_MS,
            "ms",
        ),
    ]


# ---------------------------------------------------------------- clusters


def summarize_clusters(res: dict[str, Any]) -> dict[str, Any]:
    """The figures of benchmarks/clusters.py that latest.json keeps."""
    if "recovery" not in res:
        return {"error": res.get("error", "missing")}
    keep = ("precision_mean", "recall_mean", "precision_min", "recall_min", "triage_agreement")
    timing = res.get("clustering_time") or {}
    ranked = (res.get("priority_time") or {}).get("priorities") or {}
    return {
        "recovery": {name: res["recovery"].get(name) for name in keep},
        "clustering_seconds": {
            name: {"inputs": row.get("inputs"), "seconds": row.get("seconds")}
            for name, row in timing.items()
            if isinstance(row, dict)
        },
        "priorities_duckdb_ms": {name: ranked.get(name) for name in ("median_ms", "p95_ms")},
    }


def cluster_targets(found: dict[str, Any]) -> list[tuple[str, Any, str, float, str]]:
    recovery = found.get("recovery") or {}
    timing = found.get("clustering_seconds") or {}
    return [
        ("clusters_planted_precision_min", recovery.get("precision_min"), ">=", 0.8, ""),
        ("clusters_planted_recall_min", recovery.get("recall_min"), ">=", 0.8, ""),
        *(
            (f"clusters_seconds_{name}", row.get("seconds"), "<=", 60.0, "s")
            for name, row in timing.items()
        ),
        (
            "clusters_priorities_duckdb_median_ms",
            (found.get("priorities_duckdb_ms") or {}).get("median_ms"),
            "<=",
            300.0,
            "ms",
        ),
    ]


# ---------------------------------------------------------------- targets


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, op: str, target: float, unit: str) -> None:
        ok = None
        if isinstance(value, (int, float)):
            ok = value <= target if op == "<=" else value >= target
        out.append(
            {"target": name, "value": value, "op": op, "limit": target, "unit": unit, "pass": ok}
        )

    sdk = summary.get("sdk")
    if sdk:
        ours = sdk["cases"].get(OURS_SDK, {})
        add("sdk_added_p50_us (rich)", ours.get("added_us.p50"), "<=", SDK_TARGET_P50_US, "µs")
        add("sdk_added_p99_us (rich)", ours.get("added_us.p99"), "<=", SDK_TARGET_P99_US, "µs")
    ingest = summary.get("ingest")
    if ingest:
        duck = ingest["backends"].get("duckdb", {})
        add(
            "ingest_duckdb_e2e_events_per_s",
            duck.get("e2e_events_per_s"),
            ">=",
            INGEST_TARGET_EVENTS_PER_S,
            "events/s",
        )
    queries = summary.get("queries")
    if queries:
        for name, q in (queries.get("duckdb") or {}).items():
            if isinstance(q, dict) and "median_ms" in q:
                # Each query carries its own target (200 ms point-6, 300 ms issue-5 queries).
                limit = q.get("target_ms", QUERY_TARGET_MS)
                add(f"query_duckdb_{name}_median_ms", q["median_ms"], "<=", limit, "ms")
    alerts = summary.get("alerts")
    if alerts:
        for target in alert_targets(alerts):
            add(*target)
    found = summary.get("clusters")
    if found:
        for target in cluster_targets(found):
            add(*target)
    return out


# ---------------------------------------------------------------- main


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, cwd=C.REPO, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    sel = a.selected
    peers = "peers" in sel
    suffix = "-quick" if a.quick else ""
    date = C.today()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_start = list(os.getloadavg())
    _, peerlib = C.import_peers()
    log_path = (
        Path(tempfile.gettempdir()) / f"promptloop-bench-{time.strftime('%Y%m%d-%H%M%S')}.log"
    )

    plan: list[tuple[str, Callable[[Runner], None]]] = []
    summary: dict[str, Any] = {}
    written: list[str] = []

    sdk_list = sdk_cases(a, with_peers=peers, ours=not a.peers_only) if "sdk" in sel else []
    n_steps = len(sdk_list) * a.rounds
    if "ingest" in sel and not a.peers_only:
        n_steps += 1
    if "ingest" in sel and peers and a.phoenix:
        n_steps += 1
    if "queries" in sel:
        n_steps += 1
    if "alerts" in sel:
        n_steps += 1
    if "clusters" in sel:
        n_steps += 1
    if "backends" in sel:
        n_steps += 1
    if "review" in sel:
        n_steps += 1

    def do_sdk(r: Runner) -> None:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sdk_list}
        for rnd in range(a.rounds):
            for name, argv in sdk_list:
                res = r.run(f"sdk {rnd + 1}/{a.rounds} {name}", argv, timeout=1800)
                res["_round"] = rnd
                runs[name].append(res)
        s = summarize_sdk(runs)
        s["rounds"] = a.rounds
        s["n"] = a.sdk_n
        summary["sdk"] = s
        ours = {k: v for k, v in runs.items() if k.startswith("promptloop")}
        theirs = {k: v for k, v in runs.items() if not k.startswith("promptloop")}
        if ours:
            written.append(str(C.write_result(f"sdk{suffix}", {"runs": ours, "summary": s}, date)))
        if theirs:
            written.append(
                str(C.write_result(f"peers-sdk{suffix}", {"runs": theirs, "summary": s}, date))
            )

    def do_ingest(r: Runner) -> None:
        ours: dict[str, Any] = {}
        phoenix: dict[str, Any] | None = None
        if not a.peers_only:
            k = str(a.ingest_k)
            ours = r.run(
                "ingest",
                [
                    sys.executable,
                    str(C.BENCH_DIR / "ingest.py"),
                    "--interactions",
                    k,
                    "--feedback",
                    k,
                ],
                timeout=3600,
            )
            written.append(str(C.write_result(f"ingest{suffix}", ours, date)))
        if peers and a.phoenix:
            phoenix = r.run(
                "phoenix server (peer)",
                [
                    C.system_python(),
                    str(C.peers_dir() / "phoenix_server_bench.py"),
                    "--spans",
                    "5000",
                    "--annotations",
                    "5000",
                    "--queries",
                    "5",
                ],
                timeout=3600,
            )
            written.append(str(C.write_result(f"peers-phoenix{suffix}", phoenix, date)))
        summary["ingest"] = summarize_ingest(ours, phoenix)

    def do_queries(r: Runner) -> None:
        argv = [sys.executable, str(C.BENCH_DIR / "queries.py")]
        if a.quick:
            argv += ["--interactions", "100000", "--feedback", "300000", "--runs", "5"]
        if a.postgres_queries:
            argv += ["--postgres"]
        res = r.run("queries", argv, timeout=3600)
        written.append(str(C.write_result(f"queries{suffix}", res, date)))
        q: dict[str, Any] = {"store": res.get("duckdb_store"), "duckdb": res.get("duckdb")}
        if "postgres" in res:
            q["postgres"] = res["postgres"]
            q["postgres_store"] = res.get("postgres_store")
        if "error" in res:
            q["error"] = res["error"]
        summary["queries"] = q

    def do_alerts(r: Runner) -> None:
        argv = [sys.executable, str(C.BENCH_DIR / "alerts.py")]
        if a.quick:
            argv += ["--quick"]
        res = r.run("alerts", argv, timeout=3600)
        written.append(str(C.write_result(f"alerts{suffix}", res, date)))
        summary["alerts"] = summarize_alerts(res)

    def do_clusters(r: Runner) -> None:
        argv = [sys.executable, str(C.BENCH_DIR / "clusters.py")]
        if a.quick:
            argv += ["--quick"]
        res = r.run("clusters", argv, timeout=3600)
        written.append(str(C.write_result(f"clusters{suffix}", res, date)))
        summary["clusters"] = summarize_clusters(res)

    def do_review(r: Runner) -> None:
        argv = [sys.executable, str(C.BENCH_DIR / "review.py"), "--no-write"]
        if a.quick:
            argv += ["--interactions", "5000", "--items", "20", "--rounds", "10"]
        res = r.run("review", argv, timeout=1800)
        written.append(str(C.write_result(f"review{suffix}", res, date)))
        summary["review"] = {
            "next_item_ms": (res.get("browser") or {}).get("next_item_ms"),
            "items_per_minute": (res.get("browser") or {}).get("items_per_minute"),
            "api_next_ms": (res.get("api") or {}).get("next_ms"),
            "next_item_within_target": res.get("next_item_within_target"),
        }

    def do_backends(r: Runner) -> None:
        argv = [sys.executable, str(C.BENCH_DIR / "backends.py")]
        if a.quick:
            argv += ["--interactions", "100000", "--feedback", "100000", "--ingest", "5000"]
            argv += ["--pg-interactions", "50000", "--pg-feedback", "50000", "--runs", "2"]
        res = r.run("backends", argv, timeout=3 * 3600)
        written.append(str(C.write_result(f"backends{suffix}", res, date)))
        summary["backends"] = {
            "ingest_ratio_to_duckdb": res.get("ingest_ratio_to_duckdb"),
            "ratio_to_duckdb_median": res.get("ratio_to_duckdb_median"),
        }

    if sdk_list:
        plan.append(("sdk", do_sdk))
    if "ingest" in sel and (not a.peers_only or (peers and a.phoenix)):
        plan.append(("ingest", do_ingest))
    if "queries" in sel and not a.peers_only:
        plan.append(("queries", do_queries))
    if "alerts" in sel and not a.peers_only:
        plan.append(("alerts", do_alerts))
    if "clusters" in sel and not a.peers_only:
        plan.append(("clusters", do_clusters))
    if "review" in sel and not a.peers_only:
        plan.append(("review", do_review))
    if "backends" in sel:
        plan.append(("backends", do_backends))

    with Runner(n_steps, log_path) as runner:
        runner.note(f"promptloop benchmarks: {', '.join(name for name, _ in plan)}; log {log_path}")
        for _, step in plan:
            step(runner)

    latest_path = C.RESULTS_DIR / f"latest{suffix}.json"
    previous: dict[str, Any] = {}
    if latest_path.exists():
        try:
            previous = json.loads(latest_path.read_text())
        except ValueError:
            previous = {}
    stamp = {
        "started": started,
        "git": git_state(),
        "quick": a.quick,
        "args": a.only,
        # the VM is shared: the load at start and end says how much to trust absolute figures
        "loadavg_start": load_start,
        "loadavg_end": list(os.getloadavg()),
    }
    sections = dict(previous.get("sections", {}))
    for name in ("sdk", "ingest", "queries", "alerts", "clusters", "backends"):
        if name in summary:
            sections[name] = {"run": stamp, **summary[name]}
    latest = {
        "bench": "promptloop",
        "updated": started,
        "machine": peerlib.machine_info(),
        "method": "medians within one session; ratios only between figures of the same run",
        "targets": targets(sections),
        "sections": sections,
        "files": written,
        "log": str(log_path),
    }
    C.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    latest_path.write_text(json.dumps(latest, indent=1, sort_keys=True, default=str) + "\n")
    print_summary(latest)
    print(str(latest_path))
    return 0


def print_summary(latest: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title="targets")
    for col in ("target", "value", "limit", "pass"):
        table.add_column(col)
    for t in latest["targets"]:
        verdict = {True: "[green]pass", False: "[red]FAIL", None: "[yellow]n/a"}[t["pass"]]
        table.add_row(t["target"], str(t["value"]), f"{t['op']} {t['limit']} {t['unit']}", verdict)
    console.print(table)
    sdk = latest["sections"].get("sdk")
    if sdk:
        st = Table(title="SDK added µs (median of rounds)")
        for col in ("case", "p50", "p99", "mean incl. flush", "delivered/created", "peer/ours p50"):
            st.add_column(col)
        ratios = sdk.get("ratios_peer_over_ours", {})
        for name, c in sdk["cases"].items():
            st.add_row(
                name,
                str(c.get("added_us.p50")),
                str(c.get("added_us.p99")),
                str(c.get("added_us_mean_incl_flush")),
                f"{c.get('delivered_min')}/{c.get('created')}",
                str(ratios.get(name, {}).get("p50_peer_over_ours", "")),
            )
        console.print(st)


if __name__ == "__main__":
    sys.exit(main())
