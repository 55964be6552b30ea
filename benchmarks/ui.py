#!/usr/bin/env python3
"""Server time of every dashboard page on a DuckDB store with 1M interactions / 3M feedback.

    .venv/bin/python benchmarks/ui.py [--store PATH] [--runs 7]

The store is the one ``benchmarks/queries.py`` builds and caches (the newest
``queries-n1000000-f3000000-*.duckdb`` in ``$PROMPTLOOP_BENCH_CACHE``; run that script first),
copied to a temporary file so the cache stays untouched. The copy gets what the generator
does not make: its prompt versions registered and promoted, three alerts, and 20 failure
clusters with 100k members in all; its data is moved forward to end now, and its feedback
rows are rewritten in timestamp order, as a collector writes them when they arrive (the
generator writes them in random order; ``--random-feedback-order`` keeps that worst case).

For each page: ``cold`` is the first request on a fresh collector (snapshots not computed:
the page renders its "computing" state after waiting at most ``Snapshots.wait``), ``warm``
the median and max of ``--runs`` requests once the snapshots are ready. Times are the
page handler's own (its ``Server-Timing`` header); ``snapshots`` lists how long each
background computation took. Prints one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 500.0


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def default_store() -> Path | None:
    cache = Path(
        os.environ.get(
            "PROMPTLOOP_BENCH_CACHE", str(Path(tempfile.gettempdir()) / "promptloop-bench-cache")
        )
    )
    found = [
        p for p in cache.glob("queries-n1000000-f3000000-*.duckdb") if ".building." not in p.name
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def prepare(store: Any, end: datetime) -> dict[str, str]:
    """Registry, alerts and clusters on the copy; returns IDs the pages will open."""
    from promptloop.prompts import PromptRegistry

    rows = store.fetch_all(
        "SELECT prompt_name, prompt_version, min(system_prompt) AS template,"
        " min(timestamp) AS first FROM llm_interaction_logs GROUP BY 1, 2 ORDER BY 4"
    )
    for row in rows:
        moment: datetime = row["first"]

        def clock(moment: datetime = moment) -> datetime:
            return moment

        registry = PromptRegistry(store, clock=clock)
        registry.register(
            row["prompt_name"],
            row["template"] or f"{row['prompt_name']} {row['prompt_version']}",
            rationale="benchmark",
            version=row["prompt_version"],
            created_at=moment,
        )
        registry.promote(row["prompt_name"], row["prompt_version"])
    evidence = {
        "series": [
            {"start": (end - timedelta(hours=h)).isoformat(), "n": 900, "events": 90 + h % 7}
            for h in range(168, 0, -1)
        ]
    }
    for i in range(3):
        store.execute(
            "INSERT INTO alerts (alert_id, rule_id, metric, scope_kind, feature, status, method,"
            " opened_at, baseline_rate, observed_rate, evidence) VALUES (:id, 'r', 'regeneration',"
            " 'feature', 'summarize', 'open', 'bernoulli_cusum', :at, 0.1, 0.14,"
            " CAST(:ev AS JSON))",
            {"id": f"bench-alert-{i}", "at": end - timedelta(hours=i), "ev": json.dumps(evidence)},
        )
    store.execute(
        """
        INSERT INTO cluster_members
        SELECT 'negative', interaction_id, 'bench-cluster-' || (hash(interaction_id) % 20),
               0.1, now()
        FROM (SELECT DISTINCT interaction_id FROM feedback_events
              WHERE feedback_type = 'thumbs_down' LIMIT 100000)
        """
    )
    for i in range(20):
        reps = store.fetch_all(
            "SELECT interaction_id FROM cluster_members WHERE cluster_id = :c LIMIT 3",
            {"c": f"bench-cluster-{i}"},
        )
        store.execute(
            "INSERT INTO failure_clusters (cluster_id, run_id, kind, label, size,"
            " representative_ids, embedding, created_at, active) VALUES (:c, 'bench',"
            " 'negative', :label, :size, CAST(:reps AS JSON), 'tfidf', now(), TRUE)",
            {
                "c": f"bench-cluster-{i}",
                "label": f"pattern {i}",
                "size": 5000,
                "reps": json.dumps([r["interaction_id"] for r in reps]),
            },
        )
    detail = store.fetch_all(
        "SELECT interaction_id FROM feedback_events WHERE feedback_type = 'edit' LIMIT 1"
    )[0]["interaction_id"]
    prompt = store.fetch_all(
        "SELECT prompt_name FROM llm_interaction_logs WHERE prompt_name IS NOT NULL"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0]["prompt_name"]
    return {"detail": detail, "prompt": prompt}


def build_copy(source: Path, path: Path, *, arrival_order: bool) -> None:
    """A fresh store at ``path`` with the source's rows, moved forward to end now.

    The generator writes feedback in random order; a collector writes it as it arrives,
    nearly in time order, which lets DuckDB skip row groups by time. ``arrival_order``
    inserts both tables sorted by timestamp.
    """
    import duckdb

    from promptloop.store import open_store

    open_store(f"duckdb:///{path}").close()  # the current schema
    con = duckdb.connect(str(path))
    try:
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        row = con.execute("SELECT max(timestamp) FROM src.llm_interaction_logs").fetchone()
        assert row is not None
        shift = datetime.now(UTC) - row[0]
        log(f"copying {source} -> {path}, moved forward by {shift}")
        order = " ORDER BY timestamp" if arrival_order else ""
        for table in ("llm_interaction_logs", "feedback_events"):
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT * REPLACE (timestamp + ? AS timestamp)"
                f" FROM src.{table}{order}",
                [shift],
            )
        con.execute("DETACH src")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def server_ms(response: Any) -> float:
    timing = response.headers.get("server-timing", "")
    return float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument(
        "--random-feedback-order",
        dest="arrival_order",
        action="store_false",
        help="keep the generator's random feedback row order (the worst case for pruning)",
    )
    a = ap.parse_args(argv)
    source = a.store or default_store()
    if source is None or not source.exists():
        sys.exit("no 1M store: run benchmarks/queries.py first, or pass --store")

    from fastapi.testclient import TestClient

    from promptloop.server.app import create_app
    from promptloop.server.settings import Settings
    from promptloop.store import open_store

    work = Path(tempfile.mkdtemp(prefix="promptloop-ui-bench-"))
    try:
        path = work / "store.duckdb"
        build_copy(source, path, arrival_order=a.arrival_order)
        store = open_store(f"duckdb:///{path}")
        end = store.fetch_all("SELECT max(timestamp) AS t FROM llm_interaction_logs")[0]["t"]
        counts = store.fetch_all(
            "SELECT (SELECT count(*) FROM llm_interaction_logs) AS interactions,"
            " (SELECT count(*) FROM feedback_events) AS feedback_events"
        )[0]
        ids = prepare(store, end)
        settings = Settings(
            store_url=f"duckdb:///{path}",
            data_dir=work / "data",
            signals_interval=0,
            fsync=False,
            alerts_interval=0,
        )
        app = create_app(settings, store=store)
        common = "the"  # in most inputs and outputs: a page fills from the newest day
        pages = {
            "overview": "/",
            "negative_inputs_14d": "/questions/negative-inputs?days=14",
            "regenerated_inputs": "/questions/regenerated?prompt_version=2.2.0",
            "prompts": "/prompts",
            "prompt_versions": f"/prompts/{ids['prompt']}",
            "interactions": "/interactions",
            "interactions_by_feature": "/interactions?feature=summarize&range=7d",
            "interactions_by_feedback_type": "/interactions?feedback_type=thumbs_down",
            "interactions_by_category": "/interactions?category=wrong",
            "interactions_search_common": f"/interactions?q={common}",
            "interactions_search_absent": "/interactions?q=zqxjkvw",
            "interactions_session": "/interactions?session_id=sess-012290",
            "interaction_detail": f"/interactions/{ids['detail']}",
            "patterns": "/patterns",
            "alerts": "/alerts",
            "alert_detail": "/alerts/bench-alert-0",
        }
        results: dict[str, Any] = {}
        with TestClient(app) as client:
            deep = client.get("/interactions.json?limit=500").json()["next_cursor"]
            for _ in range(20):
                deep = client.get(f"/interactions.json?limit=500&cursor={deep}").json()[
                    "next_cursor"
                ]
            pages["interactions_deep_cursor"] = f"/interactions?cursor={deep}"
            for name, url in pages.items():
                first = client.get(url)
                assert first.status_code == 200, (name, first.status_code, first.text[:300])
                cold = server_ms(first)
                app.state.ui_snapshots.wait = 600  # let the background work finish
                client.get(url)
                app.state.ui_snapshots.wait = 0.35
                warm = []
                for _ in range(a.runs):
                    response = client.get(url)
                    assert "data-pending" not in response.text, name
                    warm.append(server_ms(response))
                results[name] = {
                    "url": url,
                    "cold_ms": round(cold, 1),
                    "warm_median_ms": round(statistics.median(warm), 1),
                    "warm_max_ms": round(max(warm), 1),
                    "pass": max(cold, max(warm)) <= TARGET_MS,
                }
                log(f"{name:32s} cold {cold:7.1f} ms  warm {statistics.median(warm):7.1f} ms")
            snapshots = {
                "/".join(str(k) for k in key): round(seconds * 1000, 1)
                for key, seconds in app.state.ui_snapshots.timings().items()
            }
        store.close()
        print(
            json.dumps(
                {
                    "bench": "ui",
                    "store": {"source": str(source), **counts},
                    "target_ms": TARGET_MS,
                    "load_average": os.getloadavg(),
                    "feedback_in_arrival_order": a.arrival_order,
                    "pages": results,
                    "snapshot_compute_ms": snapshots,
                    "all_pass": all(r["pass"] for r in results.values()),
                },
                default=str,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
