#!/usr/bin/env python3
"""Failure-cluster benchmark (issue 5, items 8 and 9): recovery of planted failure modes,
clustering time for 100k inputs, priority query time at 1M interactions.

    .venv/bin/python benchmarks/clusters.py            # full (~5-10 min)
    .venv/bin/python benchmarks/clusters.py --quick    # small sizes (~2 min)

1. Recovery. The demo simulator (``promptloop.demo``) plants failure modes and reports which
   interactions belong to each (``summary["planted_patterns"]``): travel and coding requests
   out of the support assistant's scope, invented integrations (fixed by a prompt version),
   rare inappropriate disclosures in email drafts. ``--interactions`` of simulated traffic
   (default 100k, seeds ``--seeds``) go into a DuckDB store; ``run_clustering`` clusters the
   negatively signalled inputs of the last 4 weeks per feature with the default settings
   (TF-IDF). For each planted pattern P, its truth set T is P's interactions that are in the
   clustered population (negatively signalled, in the window); P is matched to the cluster C
   with the highest F1 against T, and ``precision = |C ∩ T| / |C|``, ``recall = |C ∩ T| /
   |T|``. Reported per pattern and seed, with the macro average and the minimum. Target:
   precision and recall >= 0.8. Also reported: the triage suggestion and priority quadrant
   the matched cluster got, next to the pattern's expected triage.
2. Clustering time. ``run_clustering`` end to end (read the population from the store, embed,
   group, write clusters and members, compute statistics) on a simulated store large enough
   that the negative population is ``--timing-inputs`` (default 100,000) inputs, per feature
   and pooled (all features in one clustering). Target < 60 s on this machine.
3. Priority query time. On a copy of the 1M-interaction / 3M-feedback DuckDB store that
   benchmarks/queries.py builds (from its cache), after clustering it (100k-input sample,
   the rest assigned: ~900k members), ``priorities()`` (and ``list_clusters``) median and
   p95 over ``--runs``. Target <= 300 ms.

Prints one JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.add_repo_root()

from promptloop.analytics.clusters import (  # noqa: E402
    ClusterSettings,
    get_cluster,
    list_clusters,
    run_clustering,
)
from promptloop.analytics.patterns import sql as cluster_sql  # noqa: E402
from promptloop.analytics.patterns.sql import Scope  # noqa: E402
from promptloop.analytics.priority import priorities  # noqa: E402
from promptloop.demo.simulate import Simulation  # noqa: E402
from promptloop.store import open_store, schema  # noqa: E402
from promptloop.store.base import Store  # noqa: E402

END = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TARGET_PRECISION = TARGET_RECALL = 0.8
TARGET_CLUSTER_SECONDS = 60.0
TARGET_PRIORITY_MS = 300.0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--interactions", type=int, default=None, help="default 100k (quick 30k)")
    ap.add_argument("--seeds", default=None, help="comma-separated (default 7,11,23; quick 7)")
    ap.add_argument("--timing-inputs", type=int, default=None, help="default 100k (quick 20k)")
    ap.add_argument("--runs", type=int, default=15, help="timed runs of the priority query")
    ap.add_argument("--skip-priority", action="store_true", help="no 1M priority timing")
    ap.add_argument("--priority-interactions", type=int, default=None, help="default 1M")
    ap.add_argument("--priority-feedback", type=int, default=None, help="default 3M")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached 1M store")
    ap.add_argument(
        "--cache-dir",
        default=os.environ.get(
            "PROMPTLOOP_BENCH_CACHE", str(Path(tempfile.gettempdir()) / "promptloop-bench-cache")
        ),
    )
    a = ap.parse_args(argv)
    a.interactions = a.interactions or (30_000 if a.quick else 100_000)
    a.seeds = [int(s) for s in (a.seeds or ("7" if a.quick else "7,11,23")).split(",")]
    a.timing_inputs = a.timing_inputs or (20_000 if a.quick else 100_000)
    a.priority_interactions = a.priority_interactions or (100_000 if a.quick else 1_000_000)
    a.priority_feedback = a.priority_feedback or (300_000 if a.quick else 3_000_000)
    return a


# ---------------------------------------------------------------- simulated stores


def simulated_store(path: Path, interactions: int, seed: int) -> tuple[Store, dict[str, Any]]:
    """A DuckDB store at ``path`` holding the simulation; its summary (with the ground truth)."""
    sim = Simulation(interactions=interactions, end=END, seed=seed)
    store = open_store(f"duckdb:///{path}")
    for batch in sim.batches(50_000):
        store.insert_interactions(batch.interactions)
        store.insert_feedback(batch.feedback)
    return store, sim.summary()


def population_ids(store: Store, settings: ClusterSettings) -> set[str]:
    """Every interaction the clustering looked at (negative kind, all features, window)."""
    until = settings.now or END
    since = until - timedelta(weeks=settings.weeks)
    sql, params = cluster_sql.population(Scope("negative", None), settings.signals, since, until)
    return {str(row["interaction_id"]) for row in store.fetch_all(sql, params)}


def active_members(store: Store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in store.fetch_all(
        "SELECT m.cluster_id, m.interaction_id FROM cluster_members m "
        "JOIN failure_clusters c ON c.cluster_id = m.cluster_id "
        "WHERE c.active AND c.kind = 'negative'"
    ):
        found.setdefault(str(row["cluster_id"]), set()).add(str(row["interaction_id"]))
    return found


def best_cluster(members: dict[str, set[str]], truth: set[str]) -> tuple[str | None, int]:
    """The cluster with the highest F1 against ``truth`` and its overlap with it."""
    best: tuple[float, str | None, int] = (0.0, None, 0)
    for cluster_id, ids in members.items():
        hit = len(ids & truth)
        f1 = 2 * hit / (len(ids) + len(truth)) if hit else 0.0
        if f1 > best[0]:
            best = (f1, cluster_id, hit)
    return best[1], best[2]


# ---------------------------------------------------------------- 1. recovery


def recovery(a: argparse.Namespace, folder: Path) -> dict[str, Any]:
    per_seed: list[dict[str, Any]] = []
    for seed in a.seeds:
        C.log(f"recovery: simulating {a.interactions} interactions, seed {seed}")
        store, summary = simulated_store(folder / f"recovery-{seed}.duckdb", a.interactions, seed)
        try:
            per_seed.append(_recovery_one(store, summary, seed))
        finally:
            store.close()
    scores = [p for run in per_seed for p in run["patterns"].values()]
    return {
        "interactions": a.interactions,
        "seeds": a.seeds,
        "runs": per_seed,
        "precision_mean": round(statistics.fmean(p["precision"] for p in scores), 4),
        "recall_mean": round(statistics.fmean(p["recall"] for p in scores), 4),
        "precision_min": min(p["precision"] for p in scores),
        "recall_min": min(p["recall"] for p in scores),
        "triage_agreement": round(
            statistics.fmean(p["triage_suggestion"] == p["expected_triage"] for p in scores), 4
        ),
        "targets": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL},
    }


def _recovery_one(store: Store, summary: dict[str, Any], seed: int) -> dict[str, Any]:
    settings = ClusterSettings(now=END)
    t0 = time.monotonic()
    report = run_clustering(store, settings)
    seconds = time.monotonic() - t0
    population = population_ids(store, settings)
    members = active_members(store)
    ranked = {p["cluster_id"]: p for p in priorities(store)}
    patterns: dict[str, Any] = {}
    for name, planted in summary["planted_patterns"].items():
        truth = set(planted["interaction_ids"]) & population
        cluster_id, hit = best_cluster(members, truth)
        cluster = get_cluster(store, cluster_id) if cluster_id else None
        size = len(members.get(cluster_id or "", ()))
        patterns[name] = {
            "feature": planted["feature"],
            "planted_interactions": planted["interactions"],
            "truth": len(truth),
            "cluster_size": size,
            "precision": round(hit / size, 4) if size else 0.0,
            "recall": round(hit / len(truth), 4) if truth else 0.0,
            "label": cluster["label"] if cluster else None,
            "share": cluster["share"]["rate"] if cluster else None,
            "triage_suggestion": cluster["triage"]["suggestion"] if cluster else None,
            "expected_triage": planted["expected_triage"],
            "quadrant": ranked[cluster_id]["quadrant"] if cluster_id in ranked else None,
            "severity": ranked[cluster_id]["severity"]["score"] if cluster_id in ranked else None,
        }
        C.log(f"  {name}: P={patterns[name]['precision']} R={patterns[name]['recall']}")
    return {
        "seed": seed,
        "population": len(population),
        "clusters": report["clusters"],
        "seconds": round(seconds, 2),
        "patterns": patterns,
    }


# ---------------------------------------------------------------- 2. clustering time


def clustering_time(a: argparse.Namespace, folder: Path) -> dict[str, Any]:
    # About a third of simulated interactions carry a negative signal.
    interactions = int(a.timing_inputs * 2.9)
    C.log(f"timing: simulating {interactions} interactions for ~{a.timing_inputs} inputs")
    store, _ = simulated_store(folder / "timing.duckdb", interactions, 5)
    try:
        out: dict[str, Any] = {"interactions": interactions}
        for name, settings in (
            ("per_feature", ClusterSettings(now=END, weeks=5, max_inputs=a.timing_inputs)),
            ("pooled", ClusterSettings(now=END, weeks=5, pooled=True, max_inputs=a.timing_inputs)),
        ):
            C.log(f"  run_clustering {name}")
            t0 = time.monotonic()
            report = run_clustering(store, settings)
            seconds = time.monotonic() - t0
            inputs = sum(scope["inputs"] for scope in report["scopes"])
            out[name] = {
                "inputs": inputs,
                "clusters": report["clusters"],
                "seconds": round(seconds, 2),
                "per_scope_seconds": {str(s["feature"]): s["seconds"] for s in report["scopes"]},
                "target_seconds": TARGET_CLUSTER_SECONDS,
                "pass": seconds < TARGET_CLUSTER_SECONDS,
            }
            C.log(f"    {inputs} inputs in {seconds:.1f} s")
        return out
    finally:
        store.close()


# ---------------------------------------------------------------- 3. priority query time


def _timed(fn: Callable[[], Any], runs: int) -> dict[str, Any]:
    first = fn()
    times: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "runs": runs,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 2),
        "max_ms": round(times[-1], 2),
        "rows": len(first),
        "target_ms": TARGET_PRIORITY_MS,
        "pass": statistics.median(times) <= TARGET_PRIORITY_MS,
    }


def current_cluster_tables(store: Store) -> None:
    """A cached store built before migration 5's cluster tables took their final shape gets
    them recreated (on this copy only; they are empty there)."""
    columns = {
        row["column_name"]
        for row in store.fetch_all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'failure_clusters'"
        )
    }
    if {"stats", "activated_at"} <= columns:
        return
    store.execute("DROP TABLE IF EXISTS cluster_members")
    store.execute("DROP TABLE IF EXISTS failure_clusters")
    for statement in schema._clusters_ddl("VARCHAR", "JSON", "DOUBLE"):
        store.execute(statement)
    # migration 6 added this column; a store that skipped it gets it here
    store.execute("ALTER TABLE failure_clusters ADD COLUMN IF NOT EXISTS activated_at TIMESTAMPTZ")


def priority_time(a: argparse.Namespace, folder: Path) -> dict[str, Any]:
    try:
        import queries as Q  # benchmarks/queries.py: its 1M store builder and cache
    except SystemExit as exc:  # the peers folder it imports is missing
        return {"error": f"benchmarks/queries.py unavailable: {exc}"}
    path, meta, cached = Q.cached_store(a, a.priority_interactions, a.priority_feedback)
    end = datetime.fromisoformat(meta["end"])
    copy = folder / "priority.duckdb"
    shutil.copyfile(path, copy)
    store = open_store(f"duckdb:///{copy}")
    try:
        current_cluster_tables(store)
        C.log("priority: clustering the 1M store (100k sample, the rest assigned)")
        t0 = time.monotonic()
        report = run_clustering(store, ClusterSettings(now=end))
        setup = time.monotonic() - t0
        members = store.fetch_all("SELECT count(*) AS n FROM cluster_members")[0]["n"]
        C.log(f"  {report['clusters']} clusters, {members} members in {setup:.1f} s")
        out: dict[str, Any] = {
            "store": {**meta, "cached": cached},
            "clusters": report["clusters"],
            "members": int(members),
            "clustering_seconds": round(setup, 1),
        }
        for name, fn in (
            ("priorities", lambda: priorities(store)),
            ("priorities_one_feature", lambda: priorities(store, feature="support_chat")),
            ("list_clusters", lambda: list_clusters(store)),
        ):
            out[name] = _timed(fn, a.runs)
            C.log(f"  {name}: median {out[name]['median_ms']} ms")
        return out
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    result: dict[str, Any] = {"bench": "clusters", "args": {**vars(a), "seeds": a.seeds}}
    with tempfile.TemporaryDirectory(prefix="promptloop-clusters-") as name:
        folder = Path(name)
        result["recovery"] = recovery(a, folder)
        result["clustering_time"] = clustering_time(a, folder)
        if not a.skip_priority:
            result["priority_time"] = priority_time(a, folder)
    try:
        _, peerlib = C.import_peers()
        result["machine"] = peerlib.machine_info()
    except SystemExit:
        result["machine"] = {"cpus": os.cpu_count()}
    C.emit(result)


if __name__ == "__main__":
    main()
