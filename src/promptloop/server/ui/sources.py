"""Alerts and failure patterns for the dashboard.

The alerts (``promptloop.analytics.alerts``) and failure-pattern modules
(``promptloop.analytics.clusters``/``priority``/``triage``) are used when they are
installed; until then the dashboard reads and writes their tables (schema migrations 4
and 5) directly, with the same status and triage vocabularies.
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from promptloop.analytics.queries import NEGATIVE_CONDITION
from promptloop.core.records import as_utc
from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.store.base import Store

TRIAGE_CHOICES = (
    ("prompt_fixable", "Prompt-fixable"),
    ("model_limitation", "Model limitation"),
    ("product_scope", "Product scope"),
)
ALERT_STATUSES = ("active", "open", "acknowledged", "resolved", "all")


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------------- alerts


def _decoded_alert(row: dict[str, Any]) -> dict[str, Any]:
    row["evidence"] = _json(row.get("evidence")) or {}
    for name in ("opened_at", "window_start", "window_end", "acknowledged_at", "resolved_at"):
        if isinstance(row.get(name), datetime):
            row[name] = as_utc(row[name])
    return row


def _message(row: dict[str, Any]) -> str:
    alerts = _module("promptloop.analytics.alerts")
    if alerts is not None and hasattr(alerts, "alert_message"):
        try:
            return str(alerts.alert_message(row))
        except Exception:  # a message is a nicety: the row itself is shown anyway
            pass
    scope = " / ".join(str(v) for v in (row.get("feature"), row.get("prompt_version")) if v)
    observed, baseline = row.get("observed_rate"), row.get("baseline_rate")
    rates = ""
    if observed is not None and baseline is not None:
        rates = f": {100 * observed:.1f}% vs a baseline of {100 * baseline:.1f}%"
    return f"{str(row.get('metric', '')).replace('_', ' ')} rose on {scope or 'all traffic'}{rates}"


def list_alerts(store: Store, *, status: str = "active", limit: int = 200) -> list[dict[str, Any]]:
    if status not in ALERT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(ALERT_STATUSES)}")
    alerts = _module("promptloop.analytics.alerts")
    if alerts is not None and hasattr(alerts, "list_alerts"):
        rows: list[dict[str, Any]] = alerts.list_alerts(store, status=status, limit=limit)
    else:
        clause = {"active": "status <> 'resolved'", "all": "TRUE"}.get(status, "status = :status")
        rows = [
            _decoded_alert(row)
            for row in store.fetch_all(
                f"SELECT * FROM alerts WHERE {clause} ORDER BY opened_at DESC, alert_id"
                " LIMIT :limit",
                {"status": status, "limit": limit},
            )
        ]
    for row in rows:
        row["message"] = _message(row)
        evidence = row.get("evidence")
        if isinstance(evidence, dict):
            row["evidence"] = {k: v for k, v in evidence.items() if k != "series"}
    return rows


def get_alert(store: Store, alert_id: str) -> dict[str, Any]:
    alerts = _module("promptloop.analytics.alerts")
    if alerts is not None and hasattr(alerts, "get_alert"):
        row: dict[str, Any] = alerts.get_alert(store, alert_id)
    else:
        rows = store.fetch_all("SELECT * FROM alerts WHERE alert_id = :id", {"id": alert_id})
        if not rows:
            raise NotFoundError(f"no alert {alert_id}")
        row = _decoded_alert(rows[0])
    row["message"] = _message(row)
    return row


def acknowledge(store: Store, alert_id: str, *, by: str, note: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    alerts = _module("promptloop.analytics.alerts")
    if alerts is not None and hasattr(alerts, "acknowledge"):
        done: dict[str, Any] = alerts.acknowledge(store, alert_id, by, note, now)
        return done
    found = get_alert(store, alert_id)
    if found["status"] != "open":
        raise ConflictError(f"alert {alert_id} is already {found['status']}")
    store.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = :at,"
        " acknowledged_by = :by, ack_note = :note WHERE alert_id = :id AND status = 'open'",
        {"at": now, "by": by, "note": note, "id": alert_id},
    )
    return get_alert(store, alert_id)


def alert_series(alert: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence's per-bucket series as points: start, n, events, rate, cusum."""
    evidence = alert.get("evidence") or {}
    points = []
    for item in evidence.get("series") or []:
        if not isinstance(item, dict):
            continue
        n = item.get("n") or 0
        events = item.get("events")
        points.append(
            {
                "start": item.get("start"),
                "n": n,
                "events": events,
                "rate": (events / n) if n and events is not None else None,
                "cusum": item.get("cusum"),
            }
        )
    return points


# ---------------------------------------------------------------------- failure patterns


def _decoded_cluster(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("top_terms", "representative_ids", "signal_mix", "triage_evidence"):
        row[name] = _json(row.get(name))
    row.pop("centroid", None)
    return row


def list_clusters(store: Store, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = store.fetch_all(
        "SELECT * FROM failure_clusters WHERE active ORDER BY size DESC, cluster_id LIMIT :limit",
        {"limit": limit},
    )
    return [_decoded_cluster(row) for row in rows]


def get_cluster(store: Store, cluster_id: str) -> dict[str, Any]:
    rows = store.fetch_all(
        "SELECT * FROM failure_clusters WHERE cluster_id = :id", {"id": cluster_id}
    )
    if not rows:
        raise NotFoundError(f"no failure pattern {cluster_id}")
    return _decoded_cluster(rows[0])


def cluster_examples(store: Store, clusters: list[dict[str, Any]], per: int = 3) -> None:
    """Attach up to ``per`` representative interactions (input and output) to each cluster."""
    wanted: dict[str, str] = {}
    for cluster in clusters:
        ids = cluster.get("representative_ids") or []
        for ident in list(ids)[:per] if isinstance(ids, list) else []:
            wanted[str(ident)] = cluster["cluster_id"]
    cluster_map = {c["cluster_id"]: c for c in clusters}
    for cluster in clusters:
        cluster["examples"] = []
    if not wanted:
        return
    names = {f"id{i}": ident for i, ident in enumerate(wanted)}
    rows = store.fetch_all(
        "SELECT interaction_id, user_input, raw_output, prompt_version, timestamp"
        f" FROM llm_interaction_logs WHERE interaction_id IN ({', '.join(':' + n for n in names)})",
        names,
    )
    for row in rows:
        cluster_map[wanted[row["interaction_id"]]]["examples"].append(row)


def cluster_stats(
    store: Store, cluster_ids: list[str], *, days: int = 28, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Per cluster: members per day over ``days`` (the trend) and the share of members with
    negative explicit feedback (a severity stand-in until the priority module lands)."""
    if not cluster_ids:
        return {}
    since = as_utc(now or datetime.now(UTC)) - timedelta(days=days)
    names = {f"c{i}": ident for i, ident in enumerate(cluster_ids)}
    in_list = ", ".join(":" + n for n in names)
    trend_rows = store.fetch_all(
        f"""
        SELECT m.cluster_id, date_trunc('day', l.timestamp) AS day, count(*) AS n
        FROM cluster_members m JOIN llm_interaction_logs l ON l.interaction_id = m.interaction_id
        WHERE m.cluster_id IN ({in_list}) AND l.timestamp >= :since
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        {**names, "since": since},
    )
    severity_rows = store.fetch_all(
        f"""
        SELECT m.cluster_id, count(DISTINCT m.interaction_id) AS members,
               count(DISTINCT CASE WHEN {NEGATIVE_CONDITION} THEN f.interaction_id END)
                 AS negative
        FROM cluster_members m
        LEFT JOIN feedback_events f ON f.interaction_id = m.interaction_id
        WHERE m.cluster_id IN ({in_list})
        GROUP BY 1
        """,
        names,
    )
    out: dict[str, dict[str, Any]] = {
        ident: {"trend": [], "severity": None} for ident in cluster_ids
    }
    for row in trend_rows:
        out[row["cluster_id"]]["trend"].append({"day": row["day"], "n": int(row["n"])})
    for row in severity_rows:
        members = int(row["members"] or 0)
        out[row["cluster_id"]]["severity"] = (
            int(row["negative"] or 0) / members if members else None
        )
        out[row["cluster_id"]]["members"] = members
    return out


# Where the quadrant chart splits when the dashboard ranks by itself: a pattern is frequent
# from a tenth of clustered failures, severe from 30% of its interactions flagged negative.
FALLBACK_SPLITS = (0.1, 0.3)


def priorities(store: Store) -> dict[str, Any] | None:
    """The priority model's ranking, when ``promptloop.analytics.priority`` is installed.

    ``{"splits": (frequent_share, severe_at), "items": {cluster_id: {frequency, severity,
    quadrant, action, rank}}}``; None when the module is absent or cannot rank these rows
    (then the dashboard ranks by its own stand-in).
    """
    priority = _module("promptloop.analytics.priority")
    if priority is None or not callable(getattr(priority, "priorities", None)):
        return None
    fn = priority.priorities
    try:
        ranked = list(fn(store))
        settings = priority.PrioritySettings() if hasattr(priority, "PrioritySettings") else None
        items = {}
        for position, item in enumerate(ranked, start=1):
            frequency, severity = item.get("frequency"), item.get("severity")
            share = frequency.get("share") if isinstance(frequency, dict) else frequency
            items[str(item["cluster_id"])] = {
                "frequency": share.get("rate") if isinstance(share, dict) else share,
                "severity": severity.get("score") if isinstance(severity, dict) else severity,
                "quadrant": item.get("action") or item.get("quadrant"),
                "rank": item.get("rank", position),
            }
    except Exception:  # a module in flux must not take the page down: rank by ourselves
        return None
    splits = (
        (float(settings.frequent_share), float(settings.severe_at))
        if settings is not None
        else FALLBACK_SPLITS
    )
    return {"splits": splits, "items": items}


def triage(
    store: Store, cluster_id: str, *, decision: str, by: str, note: str | None
) -> dict[str, Any]:
    if decision not in {value for value, _ in TRIAGE_CHOICES}:
        raise ValueError(f"triage must be one of {', '.join(v for v, _ in TRIAGE_CHOICES)}")
    module = _module("promptloop.analytics.triage")
    fn = getattr(module, "set_triage", None) if module is not None else None
    if callable(fn):
        try:
            fn(store, cluster_id, decision, by=by, note=note)
            return get_cluster(store, cluster_id)
        except (NotFoundError, ValueError):
            raise
        except Exception:  # a module in flux: write the columns ourselves
            pass
    get_cluster(store, cluster_id)
    store.execute(
        "UPDATE failure_clusters SET triage = :t, triaged_by = :by, triaged_at = :at,"
        " triage_note = :note WHERE cluster_id = :id",
        {"t": decision, "by": by, "at": datetime.now(UTC), "note": note, "id": cluster_id},
    )
    return get_cluster(store, cluster_id)
