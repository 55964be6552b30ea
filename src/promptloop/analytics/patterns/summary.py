"""Each active cluster's statistics, computed in SQL and stored with the cluster.

Stored (``failure_clusters.stats`` and ``signal_mix``), so that listing clusters and ranking
priorities read a few hundred rows instead of joining members with millions of events:

- ``window``: the rolling window the numbers cover (the last N weeks up to the refresh);
- ``interactions``: members in the window; ``feature_interactions``: the scope's traffic in
  the window (the denominator of the cluster's share);
- ``weeks``: per week (oldest first), members and traffic;
- ``versions``: per prompt version and model, members and traffic (triage evidence);
- ``signal_mix``: negative signal events on the members by type, category and severity label.

Run after every re-clustering and every incremental assignment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from promptloop.analytics.patterns.sql import (
    FOLLOW_UP,
    MIN_EDIT_RATIO,
    Scope,
    signal_condition,
    used,
)
from promptloop.store.base import Store

WEEK = timedelta(days=7)

# Signal events -> the severity labels the priority weights are given for.
_CATEGORY_LABELS = ("inappropriate", "wrong", "off_topic", "unhelpful")
_TYPE_LABELS = {
    "correction": "wrong",
    "abandon": "abandonment",
    "regenerate": "regeneration",
    "report": "report",
    "follow_up": "follow_up",
    "edit": "edit",
    "rating": "low_rating",
    "thumbs_down": "thumbs_down",
}


def signal_label(feedback_type: str, category: str | None) -> str:
    """The severity label of one negative event: its category when it is a known one, else
    what its type says (a correction says "wrong", an abandon "abandonment", ...)."""
    if category in _CATEGORY_LABELS:
        return str(category)
    return _TYPE_LABELS.get(feedback_type, "thumbs_down")


def week_starts(until: datetime, weeks: int) -> list[datetime]:
    """Starts of the ``weeks`` rolling 7-day windows ending at ``until``, oldest first."""
    return [until - WEEK * (weeks - i) for i in range(weeks)]


def _week_case(starts: list[datetime], column: str = "l.timestamp") -> tuple[str, dict[str, Any]]:
    branches = " ".join(
        f"WHEN {column} >= :week_{i} THEN {i}" for i in range(len(starts) - 1, -1, -1)
    )
    return f"CASE {branches} END", {f"week_{i}": start for i, start in enumerate(starts)}


_FOLLOWED_ANSWER = (
    "JOIN feedback_events fu ON fu.related_interaction_id = m.interaction_id "
    "AND fu.feedback_type = 'follow_up' "
)


def _members_join(scope: Scope, extra_join: str = "") -> tuple[str, dict[str, Any]]:
    clusters, params = scope.on_clusters()
    sql = (
        "FROM cluster_members m JOIN failure_clusters c ON c.cluster_id = m.cluster_id "
        f"JOIN llm_interaction_logs l ON l.interaction_id = m.interaction_id {extra_join}"
        f"WHERE c.active AND {clusters} AND l.timestamp >= :since AND l.timestamp < :until"
    )
    return sql, params


def compute(
    store: Store,
    scope: Scope,
    signals: tuple[str, ...],
    until: datetime,
    weeks: int,
    cluster_ids: list[str],
) -> dict[str, dict[str, Any]]:
    """Per active cluster of the scope: ``{"stats": ..., "signal_mix": ...}``."""
    starts = week_starts(until, weeks)
    window = {"since": starts[0], "until": until}
    by_cluster: dict[str, dict[str, Any]] = defaultdict(_empty)
    traffic_weeks = _traffic_by_week(store, scope, starts, window)
    traffic_versions = _traffic_by_version(store, scope, window)
    for row in _members_by_week(store, scope, starts, window):
        by_cluster[row["cluster_id"]]["weeks"][int(row["week"])] = int(row["n"])
    for row in _members_by_version(store, scope, window):
        by_cluster[row["cluster_id"]]["versions"].append(row)
    for row in _signals(store, scope, signals, window):
        _add_signal(by_cluster[row["cluster_id"]]["mix"], row)
    total = sum(traffic_weeks)
    return {
        cluster_id: _finish(
            by_cluster[cluster_id], starts, traffic_weeks, traffic_versions, total, weeks, until
        )
        for cluster_id in cluster_ids
    }


def _empty() -> dict[str, Any]:
    return {"weeks": defaultdict(int), "versions": [], "mix": _empty_mix()}


def _empty_mix() -> dict[str, Any]:
    return {"events": 0, "types": {}, "categories": {}, "labels": {}}


def _add_signal(mix: dict[str, Any], row: Mapping[str, Any]) -> None:
    n = int(row["n"])
    mix["events"] += n
    kind, category = str(row["feedback_type"]), row["category"]
    mix["types"][kind] = mix["types"].get(kind, 0) + n
    if category:
        mix["categories"][category] = mix["categories"].get(category, 0) + n
    label = signal_label(kind, category)
    mix["labels"][label] = mix["labels"].get(label, 0) + n


def _finish(
    parts: dict[str, Any],
    starts: list[datetime],
    traffic_weeks: list[int],
    traffic_versions: list[dict[str, Any]],
    total: int,
    weeks: int,
    until: datetime,
) -> dict[str, Any]:
    members = [parts["weeks"].get(i, 0) for i in range(len(starts))]
    return {
        "stats": {
            "window": {"since": starts[0].isoformat(), "until": until.isoformat(), "weeks": weeks},
            "interactions": sum(members),
            "feature_interactions": total,
            "weeks": [
                {"week_start": start.isoformat(), "interactions": n, "feature_interactions": t}
                for start, n, t in zip(starts, members, traffic_weeks, strict=True)
            ],
            "versions": _versions(parts["versions"], traffic_versions),
        },
        "signal_mix": parts["mix"],
    }


def _versions(members: list[dict[str, Any]], traffic: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Members and traffic per (prompt version, model), in order of first appearance."""
    counts = {(row["prompt_version"], row["model"]): int(row["n"]) for row in members}
    return [
        {
            "prompt_version": row["prompt_version"],
            "model": row["model"],
            "interactions": counts.get((row["prompt_version"], row["model"]), 0),
            "traffic": int(row["n"]),
            "first_seen": _iso(row["first_seen"]),
            "last_seen": _iso(row["last_seen"]),
        }
        for row in traffic
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _traffic_by_week(
    store: Store, scope: Scope, starts: list[datetime], window: dict[str, datetime]
) -> list[int]:
    feature, params = scope.on_logs()
    case, week_params = _week_case(starts)
    rows = store.fetch_all(
        f"SELECT {case} AS week, count(*) AS n FROM llm_interaction_logs l "
        f"WHERE l.timestamp >= :since AND l.timestamp < :until AND {feature} GROUP BY 1",
        {**params, **week_params, **window},
    )
    counts = [0] * len(starts)
    for row in rows:
        if row["week"] is not None:
            counts[int(row["week"])] = int(row["n"])
    return counts


def _traffic_by_version(
    store: Store, scope: Scope, window: dict[str, datetime]
) -> list[dict[str, Any]]:
    feature, params = scope.on_logs()
    return store.fetch_all(
        "SELECT l.prompt_version, l.model, count(*) AS n, min(l.timestamp) AS first_seen, "
        "max(l.timestamp) AS last_seen FROM llm_interaction_logs l "
        f"WHERE l.timestamp >= :since AND l.timestamp < :until AND {feature} "
        "GROUP BY l.prompt_version, l.model ORDER BY min(l.timestamp), l.prompt_version",
        {**params, **window},
    )


def _members_by_week(
    store: Store, scope: Scope, starts: list[datetime], window: dict[str, datetime]
) -> list[dict[str, Any]]:
    joined, params = _members_join(scope)
    case, week_params = _week_case(starts)
    return store.fetch_all(
        f"SELECT m.cluster_id, {case} AS week, count(*) AS n {joined} GROUP BY 1, 2",
        {**params, **week_params, **window},
    )


def _members_by_version(
    store: Store, scope: Scope, window: dict[str, datetime]
) -> list[dict[str, Any]]:
    joined, params = _members_join(scope)
    return store.fetch_all(
        f"SELECT m.cluster_id, l.prompt_version, l.model, count(*) AS n {joined} "
        "GROUP BY m.cluster_id, l.prompt_version, l.model",
        {**params, **window},
    )


def _signals(
    store: Store, scope: Scope, signals: tuple[str, ...], window: dict[str, datetime]
) -> list[dict[str, Any]]:
    """Negative events per cluster, type and category. For follow-up questions the events
    are those on the answer the question followed (the follow-up itself among them)."""
    if scope.kind == FOLLOW_UP:
        joined, params = _members_join(scope, _FOLLOWED_ANSWER)
        subjects = f"SELECT m.cluster_id, fu.interaction_id AS subject {joined}"
    else:
        joined, params = _members_join(scope)
        subjects = f"SELECT m.cluster_id, m.interaction_id AS subject {joined}"
    sql = (
        f"SELECT s.cluster_id, f.feedback_type, f.category, count(*) AS n "
        f"FROM ({subjects}) s JOIN feedback_events f ON f.interaction_id = s.subject "
        f"WHERE {signal_condition(signals)} GROUP BY 1, 2, 3"
    )
    return store.fetch_all(sql, used(sql, {**params, **window, "min_edit_ratio": MIN_EDIT_RATIO}))
