"""SIGKILL the clustering job mid-run, rerun it: the failure clusters end exactly as after
one uninterrupted run (the same active clusters with the same members, statistics and
triage, and no half-written clusters or members left behind), whichever write it died
after. Clusters a killed run had already made active stay as superseded history, as after
any second run."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promptloop.analytics.clusters import ClusterSettings, run_clustering
from promptloop.analytics.patterns import records
from promptloop.demo import load_demo
from promptloop.signals.jobs import run_signals
from promptloop.store import Store, open_store
from tests.support.killed_job import killed, run_job

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW = END + timedelta(hours=1)
# Identity and wall-clock fields: new on every run, killed or not.
_VOLATILE = {
    "cluster_id",
    "run_id",
    "created_at",
    "activated_at",
    "previous_cluster_id",
    "successor_id",
}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _snapshot(store: Store) -> dict[str, Any]:
    clusters = [
        records.decoded(row)
        for row in store.fetch_all("SELECT * FROM failure_clusters WHERE active")
    ]
    members = store.fetch_all(
        "SELECT m.cluster_id, m.interaction_id, m.distance, m.kind FROM cluster_members m"
        " JOIN failure_clusters c ON c.cluster_id = m.cluster_id WHERE c.active"
    )
    by_cluster: dict[str, list[tuple[str, float]]] = {}
    for row in members:
        by_cluster.setdefault(row["cluster_id"], []).append(
            (row["interaction_id"], row["distance"])
        )
    shaped = [
        {**_clean(cluster), "members": sorted(by_cluster.get(cluster["cluster_id"], []))}
        for cluster in clusters
    ]
    counts = store.fetch_all(
        "SELECT (SELECT count(*) FROM failure_clusters WHERE activated_at IS NULL)"
        " AS never_activated, (SELECT count(*) FROM cluster_members) AS members"
    )[0]
    return {
        "clusters": sorted(shaped, key=lambda c: (c["kind"], c["feature"] or "", c["label"])),
        "never_activated": int(counts["never_activated"]),
        "members": int(counts["members"]),
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clusters-kill") / "base.duckdb"
    store = open_store(f"duckdb:///{path}")
    try:
        load_demo(store, interactions=400, end=END, seed=21, days=2)
        run_signals(store, now=NOW)
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def reference(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    path = tmp_path_factory.mktemp("clusters-ref") / "ref.duckdb"
    shutil.copyfile(base, path)
    run = run_job(path, "clusters", NOW.isoformat())
    assert run.returncode == 0, run.stderr
    assert run.writes is not None and run.writes >= 3
    store = open_store(f"duckdb:///{path}")
    try:
        snapshot = _snapshot(store)
    finally:
        store.close()
    assert snapshot["clusters"], "the demo's planted failure modes should form clusters"
    return snapshot, run.writes


# make test runs the fast points; make reliability (marker) the others too.
@pytest.mark.parametrize(
    "point",
    [
        "middle",
        pytest.param("first", marks=pytest.mark.reliability),
        pytest.param("last", marks=pytest.mark.reliability),
    ],
)
def test_killed_clustering_reruns_to_the_uninterrupted_result(
    base: Path, reference: tuple[dict[str, Any], int], tmp_path: Path, point: str
) -> None:
    expected, writes = reference
    kill_after = {"first": 1, "middle": max(1, writes // 2), "last": writes - 1}[point]
    path = tmp_path / "killed.duckdb"
    shutil.copyfile(base, path)
    run = run_job(path, "clusters", NOW.isoformat(), kill_after=kill_after)
    assert killed(run), f"expected SIGKILL after write {kill_after}: {run.stderr}"

    store = open_store(f"duckdb:///{path}")
    try:
        run_clustering(store, ClusterSettings(now=NOW))
        assert _snapshot(store) == expected
    finally:
        store.close()
