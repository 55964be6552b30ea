#!/usr/bin/env python3
"""Print the figures of ``benchmarks/results/latest.json`` as Markdown tables (for the README).

.venv/bin/python benchmarks/report.py [benchmarks/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "pass" if value else "**FAIL**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def targets(latest: dict[str, Any]) -> str:
    rows = [
        [
            t["target"],
            fmt(t["value"]),
            f"{t['op']} {fmt(t['limit'], 0)} {t['unit']}",
            fmt(t["pass"]),
        ]
        for t in latest["targets"]
    ]
    return table(["target", "measured", "limit", "result"], rows)


def sdk(section: dict[str, Any]) -> str:
    ratios = section.get("ratios_peer_over_ours", {})
    rows = []
    order = sorted(section["cases"], key=lambda n: (not n.startswith("promptloop"), n))
    for name in order:
        c = section["cases"][name]
        r = ratios.get(name, {})
        rows.append(
            [
                name,
                fmt(c.get("added_us.p50")),
                fmt(c.get("added_us.p99"), 0),
                fmt(c.get("added_us.mean")),
                fmt(c.get("added_us_mean_incl_flush"), 0),
                fmt(c.get("flush_seconds"), 2),
                f"{fmt(c.get('delivered_min'))}/{fmt(c.get('created'))}",
                fmt(r.get("p50_peer_over_ours"), 2),
                fmt(r.get("p99_peer_over_ours"), 2),
            ]
        )
    return table(
        [
            "case",
            "added p50 µs",
            "added p99 µs",
            "added mean µs",
            "mean incl. flush µs",
            "flush s",
            "delivered/created",
            "p50 peer/ours",
            "p99 peer/ours",
        ],
        rows,
    )


def ingest(section: dict[str, Any]) -> str:
    rows = []
    for name, b in section["backends"].items():
        if "error" in b and "e2e_events_per_s" not in b:
            rows.append([name, "error: " + str(b["error"])[:80]] + [""] * 7)
            continue
        rows.append(
            [
                name,
                fmt(b["e2e_events_per_s"], 0),
                fmt(b["interactions_e2e_per_s"], 0),
                fmt(b["feedback_e2e_per_s"], 0),
                fmt(b["accept_events_per_s"], 0),
                fmt(b["server_cpu_ms_per_interaction"], 3)
                + " / "
                + fmt(b["server_cpu_ms_per_feedback"], 3),
                fmt(b.get("db_cpu_ms_per_event"), 3),
                fmt(b["server_rss_peak_mb"], 0),
                fmt(b["disk_per_10k_events_mb"], 2),
            ]
        )
    px = section.get("phoenix")
    if px and "e2e_spans_per_s" in px:
        rows.append(
            [
                f"Phoenix {px.get('version')} (SQLite), peer",
                "-",
                fmt(px["e2e_spans_per_s"]),
                fmt(px["annotation_e2e_per_s"], 0),
                fmt(px["accept_spans_per_s"], 0) + " spans",
                fmt(px["server_cpu_ms_per_span"], 2)
                + " / "
                + fmt(px["server_cpu_ms_per_annotation"], 3),
                "-",
                fmt(px["server_rss_peak_mb"], 0),
                fmt(px["disk_per_10k_spans_mb"], 2) + " (spans)",
            ]
        )
    out = table(
        [
            "server",
            "e2e events/s",
            "interactions (spans) e2e/s",
            "feedback (annotations) e2e/s",
            "accept/s",
            "server CPU ms per interaction / feedback",
            "DB CPU ms/event",
            "peak RSS MB",
            "disk MB per 10k events",
        ],
        rows,
    )
    ratios = section.get("ratios_ours_duckdb_over_phoenix")
    if ratios:
        out += "\n\nRatios (same run): " + ", ".join(
            f"{k} = {fmt(v, 1)}" for k, v in ratios.items()
        )
    return out


def queries(section: dict[str, Any]) -> str:
    duck = section.get("duckdb") or {}
    pg = section.get("postgres") or {}
    rows = []
    for name, q in duck.items():
        if not isinstance(q, dict) or "median_ms" not in q:
            continue
        p = pg.get(name) or next(
            (v for k, v in pg.items() if k.split("_cursor")[0] == name.split("_cursor")[0]), None
        )
        rows.append(
            [
                name,
                fmt(q["median_ms"]),
                fmt(q["p95_ms"]),
                str(q["runs"]),
                fmt(q["rows_first_run"]),
                fmt(q["pass"]),
                fmt(p.get("median_ms")) if isinstance(p, dict) else "-",
                fmt(p.get("p95_ms")) if isinstance(p, dict) else "-",
            ]
        )
    store = section.get("store") or {}
    pg_store = section.get("postgres_store") or {}
    head = (
        f"DuckDB store: {fmt(store.get('interactions'))} interactions, "
        f"{fmt(store.get('feedback_events'))} feedback events, "
        f"{fmt(store.get('sessions'))} sessions, "
        f"{fmt(store.get('distinct_normalized_inputs'))} distinct normalised inputs, "
        f"{store.get('prompt_versions')} prompt versions"
    )
    if pg_store:
        head += (
            f"; PostgreSQL: {fmt(pg_store.get('interactions'))} interactions, "
            f"{fmt(pg_store.get('feedback_events'))} feedback events"
        )
    return (
        head
        + ".\n\n"
        + table(
            [
                "query",
                "DuckDB median ms",
                "p95 ms",
                "runs",
                "rows",
                "≤ 200 ms",
                "PostgreSQL (smaller store) median ms",
                "p95 ms",
            ],
            rows,
        )
    )


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else C.RESULTS_DIR / "latest.json"
    latest = json.loads(path.read_text())
    sections = latest["sections"]
    print("### Targets\n")
    print(targets(latest))
    for name, render in (("sdk", sdk), ("ingest", ingest), ("queries", queries)):
        if name in sections:
            run = sections[name]["run"]
            load = run.get("loadavg_start")
            load_text = f", load average at start {load[0]:.1f}" if load else ""
            print(
                f"\n### {name} (run {run['started']}, commit {run['git']['commit'][:8]}"
                f"{load_text})\n"
            )
            print(render(sections[name]))


if __name__ == "__main__":
    main()
