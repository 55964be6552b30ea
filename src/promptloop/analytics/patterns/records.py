"""Reading and writing ``failure_clusters`` / ``cluster_members`` rows, and the one JSON shape
(the *view*) the Python API, the HTTP API and the CLI share for a cluster."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from promptloop.analytics.patterns.rates import wilson
from promptloop.analytics.patterns.sql import Scope
from promptloop.store.base import Store

JSON_COLUMNS = ("top_terms", "representative_ids", "signal_mix", "centroid", "triage_evidence")
MEMBER_CHUNK = 50_000


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(value: Any) -> Any:
    """JSON columns come back as text from DuckDB and as objects from PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def decoded(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in (*JSON_COLUMNS, "stats"):
        if column in out:
            out[column] = loads(out[column])
    return out


def active_clusters(store: Store, scope: Scope) -> list[dict[str, Any]]:
    condition, params = scope.on_clusters()
    rows = store.fetch_all(
        f"SELECT * FROM failure_clusters c WHERE c.active AND {condition} ORDER BY c.size DESC",
        params,
    )
    return [decoded(row) for row in rows]


def member_ids(store: Store, scope: Scope) -> dict[str, set[str]]:
    """Member interaction IDs of each active cluster of the scope."""
    condition, params = scope.on_clusters()
    rows = store.fetch_all(
        "SELECT m.cluster_id, m.interaction_id FROM cluster_members m "
        f"JOIN failure_clusters c ON c.cluster_id = m.cluster_id WHERE c.active AND {condition}",
        params,
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["cluster_id"], set()).add(row["interaction_id"])
    return found


def insert_members(
    store: Store, kind: str, assigned_at: datetime, members: Iterable[tuple[str, str, float]]
) -> int:
    """Store ``(cluster_id, interaction_id, distance)`` rows, in chunks."""
    batch: list[dict[str, Any]] = []
    stored = 0
    for cluster_id, interaction_id, distance in members:
        batch.append(
            {
                "kind": kind,
                "interaction_id": interaction_id,
                "cluster_id": cluster_id,
                "distance": round(float(distance), 6),
                "assigned_at": assigned_at,
            }
        )
        if len(batch) >= MEMBER_CHUNK:
            stored += store.insert_rows("cluster_members", batch)
            batch = []
    if batch:
        stored += store.insert_rows("cluster_members", batch)
    return stored


def swap(
    store: Store,
    scope: Scope,
    run_id: str,
    successors: Mapping[str, dict[str, Any]],
    activated_at: datetime,
) -> None:
    """Atomically make ``run_id``'s clusters the scope's active ones: the old ones become
    inactive (kept, with their successor noted in ``stats``) and lose their members.

    Clusters that were written but never activated (a run killed before its swap) are
    deleted with their members: they never were a result, and a rerun replaces them."""
    condition, params = scope.on_clusters()
    bare, _ = scope.on_clusters(alias="")
    never_activated = (
        f"SELECT c.cluster_id FROM failure_clusters c WHERE c.activated_at IS NULL"
        f" AND c.run_id <> :run_id AND {condition}"
    )
    statements: list[tuple[str, Mapping[str, Any]]] = [
        (
            f"DELETE FROM cluster_members WHERE cluster_id IN ({never_activated})",
            {**params, "run_id": run_id},
        ),
        (
            f"DELETE FROM failure_clusters WHERE activated_at IS NULL AND run_id <> :run_id"
            f" AND {bare}",
            {**params, "run_id": run_id},
        ),
        (
            f"UPDATE failure_clusters SET active = FALSE "
            f"WHERE active AND run_id <> :run_id AND {bare}",
            {**params, "run_id": run_id},
        ),
        (
            "UPDATE failure_clusters SET active = TRUE, activated_at = :at WHERE run_id = :run_id",
            {"run_id": run_id, "at": activated_at},
        ),
        (
            "DELETE FROM cluster_members WHERE cluster_id IN (SELECT c.cluster_id FROM "
            f"failure_clusters c WHERE NOT c.active AND {condition})",
            params,
        ),
    ]
    statements += [
        (
            "UPDATE failure_clusters SET stats = :stats WHERE cluster_id = :id",
            {
                "stats": dumps(stats),
                "id": old_id,
            },
        )
        for old_id, stats in successors.items()
    ]
    store.transaction(statements)


def view(row: Mapping[str, Any], *, examples: bool = True) -> dict[str, Any]:
    """The cluster as the APIs show it: counts, share with its interval, trend, triage."""
    stats = row.get("stats") or {}
    evidence = row.get("triage_evidence") or {}
    interactions = int(stats.get("interactions") or 0)
    traffic = int(stats.get("feature_interactions") or 0)
    weeks = int((stats.get("window") or {}).get("weeks") or 0)
    out: dict[str, Any] = {
        "cluster_id": row["cluster_id"],
        "kind": row["kind"],
        "feature": row["feature"],
        "label": row["label"],
        "top_terms": [{"term": term, "weight": weight} for term, weight in row["top_terms"] or []],
        "active": bool(row["active"]),
        "size": int(row["size"]),
        "interactions": interactions,
        "feature_interactions": traffic,
        "share": wilson(interactions, traffic),
        "per_week": round(interactions / weeks, 2) if weeks else None,
        "window": stats.get("window"),
        "trend": stats.get("weeks") or [],
        "signal_mix": row.get("signal_mix") or {},
        "triage": {
            "class": row.get("triage"),
            "by": row.get("triaged_by"),
            "at": row.get("triaged_at"),
            "note": row.get("triage_note"),
            "suggestion": row.get("triage_suggestion"),
            "reason": evidence.get("reason"),
        },
        "embedding": row["embedding"],
        "run_id": row["run_id"],
        "created_at": row["created_at"],
        "previous_cluster_id": stats.get("previous_cluster_id"),
        "successor_id": stats.get("successor_id"),
    }
    if examples:
        out["examples"] = stats.get("examples") or []
        out["triage"]["evidence"] = evidence
    return out


def scopes_of(rows: Sequence[Mapping[str, Any]]) -> list[Scope]:
    return sorted(
        {Scope(str(row["kind"]), row["feature"]) for row in rows},
        key=lambda s: (s.kind, s.feature or ""),
    )
