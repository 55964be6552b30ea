"""SQL of the alerts: the counts the detector reads, and the ``alerts`` table it writes.

Portable across the SQL backends like :mod:`promptloop.analytics.queries`: ``:name``
parameters, time windows computed in Python, no dialect-specific functions.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from promptloop.analytics.metrics import RATES, ROLLUP_RATES
from promptloop.analytics.queries import PRODUCTION_CONDITION
from promptloop.core.records import as_utc
from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.store.base import Store

Status = Literal["open", "acknowledged", "resolved"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved")
# What ``list_alerts`` accepts: a status, "active" (open or acknowledged) or "all".
STATUS_FILTERS = (*STATUSES, "active", "all")
MAX_LIMIT = 1000

COLUMNS = (
    "alert_id",
    "rule_id",
    "metric",
    "scope_kind",
    "feature",
    "prompt_version",
    "status",
    "method",
    "opened_at",
    "window_start",
    "window_end",
    "baseline_rate",
    "baseline_n",
    "observed_rate",
    "observed_n",
    "statistic",
    "threshold",
    "evidence",
    "acknowledged_at",
    "acknowledged_by",
    "ack_note",
    "resolved_at",
    "notified_at",
    "notify_error",
)
_NAMESPACE = uuid.UUID("8d0f7a3c-2b61-4e55-9c1e-5f4a6b3d2e10")
# Feedback can carry a timestamp slightly before its interaction's (clocks of two machines).
FEEDBACK_SKEW = timedelta(hours=1)


_FLAGGED = """
    WITH flagged AS (
        SELECT DISTINCT f.interaction_id FROM feedback_events f
        WHERE {predicate} AND {production}
          AND f.timestamp >= :feedback_since AND f.timestamp < :recorded_before
    )
"""


def _on_rollup(
    store: Store, metric: str, window: str, params: dict[str, Any], *, bucketed: bool
) -> list[dict[str, Any]]:
    """The counts from the interaction_signals rollup (store/rollup.py): an interaction
    counts when its first such event is in [feedback_since, recorded_before). One whose
    first event is older than feedback_since (a clock far behind) may still have another
    inside: those few (usually none) are checked against the events themselves, and only
    then are the events read at all."""
    first = ROLLUP_RATES[metric]
    bucket = "CAST(floor(extract(epoch FROM s.timestamp) / :bucket_seconds) AS BIGINT)"
    keys = f"s.feature, s.prompt_version{f', {bucket}' if bucketed else ''}"
    select = f"s.feature, s.prompt_version{f', {bucket} AS bucket' if bucketed else ''}"
    names = ["feature", "prompt_version", *(["bucket"] if bucketed else [])]
    rows = store.fetch_all(
        f"""
        SELECT {select}, count(*) AS n,
               sum(CASE WHEN s.{first} >= :feedback_since AND s.{first} < :recorded_before
                        THEN 1 ELSE 0 END) AS x
        FROM interaction_signals s WHERE {window}
        GROUP BY {keys}
        """,
        _used(params, bucketed),
    )
    early_sql = f"""
        SELECT {select}, count(*) AS x FROM interaction_signals s
        WHERE {window} AND s.{first} < :feedback_since
          AND s.interaction_id IN (
              SELECT f.interaction_id FROM feedback_events f
              WHERE {RATES[metric][0]} AND {PRODUCTION_CONDITION}
                AND f.timestamp >= :feedback_since AND f.timestamp < :recorded_before)
        GROUP BY {keys}
        """
    early = (
        store.fetch_all(early_sql, _used(params, bucketed))
        if _has_early(store, first, window, params)
        else []
    )
    found = {tuple(row[name] for name in names): row for row in rows}
    for row in early:
        found[tuple(row[name] for name in names)]["x"] += int(row["x"])
    return rows


def _has_early(store: Store, first: str, window: str, params: dict[str, Any]) -> bool:
    sql = (
        "SELECT count(*) AS n FROM interaction_signals s"
        f" WHERE {window} AND s.{first} < :feedback_since"
    )
    rows = store.fetch_all(sql, _only_used(sql, params))
    return int(rows[0]["n"]) > 0


def _used(params: dict[str, Any], bucketed: bool) -> dict[str, Any]:
    return {k: v for k, v in params.items() if bucketed or k != "bucket_seconds"}


def _only_used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` names (DuckDB refuses extra ones)."""
    return {k: v for k, v in params.items() if f":{k}" in sql}


def window_rows(
    store: Store,
    metric: str,
    *,
    start: datetime,
    cutoff: datetime,
    now: datetime,
    bucket_seconds: int,
) -> list[dict[str, Any]]:
    """Interactions and those with the metric's signal, per feature, version and bucket.

    Buckets are ``floor(epoch / bucket_seconds)`` over ``[start, cutoff)``. A signal counts
    only if it was recorded before ``now``, so a check is reproducible for a given ``now``.
    """
    if getattr(store, "signal_rollup", False):
        return _on_rollup(
            store,
            metric,
            "s.timestamp >= :start AND s.timestamp < :cutoff",
            {
                "feedback_since": start - FEEDBACK_SKEW,
                "recorded_before": now,
                "bucket_seconds": bucket_seconds,
                "start": start,
                "cutoff": cutoff,
            },
            bucketed=True,
        )
    return store.fetch_all(
        _FLAGGED.format(predicate=RATES[metric][0], production=PRODUCTION_CONDITION)
        + """
        SELECT l.feature, l.prompt_version,
               CAST(floor(extract(epoch FROM l.timestamp) / :bucket_seconds) AS BIGINT) AS bucket,
               count(*) AS n, count(g.interaction_id) AS x
        FROM llm_interaction_logs l
        LEFT JOIN flagged g ON g.interaction_id = l.interaction_id
        WHERE l.timestamp >= :start AND l.timestamp < :cutoff
        GROUP BY 1, 2, 3
        """,
        {
            "feedback_since": start - FEEDBACK_SKEW,
            "recorded_before": now,
            "bucket_seconds": bucket_seconds,
            "start": start,
            "cutoff": cutoff,
        },
    )


# Baselines change once an hour (their window is aligned to the hour), so each process
# computes one at most once an hour per store and metric: a check then reads one day of
# traffic instead of eight. Keyed by the store object, so two stores never share entries.
_BASELINES: weakref.WeakKeyDictionary[Store, OrderedDict[tuple[Any, ...], list[dict[str, Any]]]]
_BASELINES = weakref.WeakKeyDictionary()
_BASELINES_LOCK = threading.Lock()
_BASELINES_PER_STORE = 32


def baseline_rows(
    store: Store, metric: str, *, start: datetime, end: datetime, recorded_before: datetime
) -> list[dict[str, Any]]:
    """Interactions in ``[start, end)`` and those with the signal, per feature and version.

    A signal counts if it was recorded before ``recorded_before``: a fixed point after the
    baseline (not the check's ``now``), so the answer is the same for every check of the
    hour and can be kept.
    """
    key = (metric, start, end, recorded_before)
    with _BASELINES_LOCK:
        kept = _BASELINES.setdefault(store, OrderedDict())
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    params = {
        "feedback_since": start - FEEDBACK_SKEW,
        "recorded_before": recorded_before,
        "start": start,
        "end": end,
    }
    if getattr(store, "signal_rollup", False):
        rows = _on_rollup(
            store, metric, "s.timestamp >= :start AND s.timestamp < :end", params, bucketed=False
        )
        with _BASELINES_LOCK:
            kept[key] = rows
            while len(kept) > _BASELINES_PER_STORE:
                kept.popitem(last=False)
        return rows
    rows = store.fetch_all(
        _FLAGGED.format(predicate=RATES[metric][0], production=PRODUCTION_CONDITION)
        + """
        SELECT l.feature, l.prompt_version, count(*) AS n, count(g.interaction_id) AS x
        FROM llm_interaction_logs l
        LEFT JOIN flagged g ON g.interaction_id = l.interaction_id
        WHERE l.timestamp >= :start AND l.timestamp < :end
        GROUP BY 1, 2
        """,
        {
            "feedback_since": start - FEEDBACK_SKEW,
            "recorded_before": recorded_before,
            "start": start,
            "end": end,
        },
    )
    with _BASELINES_LOCK:
        kept[key] = rows
        while len(kept) > _BASELINES_PER_STORE:
            kept.popitem(last=False)
    return rows


# -- the alerts table --------------------------------------------------------------------
def alert_id_for(rule_id: str, feature: str | None, version: str | None, since: datetime) -> str:
    """Deterministic: two checks that see the same change open the same alert."""
    key = f"{rule_id}|{feature}|{version}|{as_utc(since).isoformat()}"
    return str(uuid.uuid5(_NAMESPACE, key))


def to_json(value: Any) -> str:
    """JSON for the evidence column: datetimes in ISO-8601 UTC (``...Z``), numpy as lists."""
    options = orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC
    return orjson.dumps(value, option=options).decode()


def from_json(text: str) -> dict[str, Any]:
    found = orjson.loads(text)
    if not isinstance(found, dict):
        raise ValueError("alert evidence must be a JSON object")
    return found


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    evidence = row.get("evidence")
    if isinstance(evidence, str):
        row["evidence"] = from_json(evidence)
    for name in ("opened_at", "window_start", "window_end", "acknowledged_at", "resolved_at"):
        if isinstance(row.get(name), datetime):
            row[name] = as_utc(row[name])
    if isinstance(row.get("notified_at"), datetime):
        row["notified_at"] = as_utc(row["notified_at"])
    return row


def insert_alert(store: Store, row: Mapping[str, Any]) -> None:
    """Insert a new alert; a row with the same ID (a concurrent check) is left alone."""
    values = {name: row.get(name) for name in COLUMNS}
    values["evidence"] = to_json(values["evidence"])
    names = ", ".join(COLUMNS)
    placeholders = ", ".join(
        "CAST(:evidence AS JSON)" if name == "evidence" else f":{name}" for name in COLUMNS
    )
    store.execute(
        f"INSERT INTO alerts ({names}) VALUES ({placeholders}) ON CONFLICT DO NOTHING", values
    )


def update_alert(store: Store, alert_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (column -> value) on one alert."""
    values = dict(changes)
    sets = []
    for name in values:
        if name not in COLUMNS or name == "alert_id":
            raise ValueError(f"not an updatable alert column: {name}")
        sets.append(
            f"{name} = CAST(:{name} AS JSON)" if name == "evidence" else f"{name} = :{name}"
        )
    if "evidence" in values:
        values["evidence"] = to_json(values["evidence"])
    store.execute(
        f"UPDATE alerts SET {', '.join(sets)} WHERE alert_id = :alert_id",
        {**values, "alert_id": alert_id},
    )


def live_alerts(store: Store, resolved_since: datetime) -> list[dict[str, Any]]:
    """Alerts not resolved, and those resolved since ``resolved_since`` (newest first)."""
    rows = store.fetch_all(
        "SELECT * FROM alerts WHERE status <> 'resolved' OR resolved_at >= :since"
        " ORDER BY opened_at DESC, alert_id",
        {"since": resolved_since},
    )
    return [_decoded(row) for row in rows]


def list_alerts(
    store: Store,
    *,
    status: str = "active",
    rule_id: str | None = None,
    feature: str | None = None,
    prompt_version: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts, newest first. ``status``: open, acknowledged, resolved, active or all."""
    if status not in STATUS_FILTERS:
        raise ValueError(f"unknown status {status!r}; one of: {', '.join(STATUS_FILTERS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    clauses, params = _filters(status, rule_id, feature, prompt_version)
    rows = store.fetch_all(
        f"SELECT * FROM alerts WHERE {' AND '.join(clauses) or 'TRUE'}"
        " ORDER BY opened_at DESC, alert_id LIMIT :limit",
        {**params, "limit": limit},
    )
    return [_decoded(row) for row in rows]


def _filters(
    status: str, rule_id: str | None, feature: str | None, prompt_version: str | None
) -> tuple[list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if status == "active":
        clauses.append("status <> 'resolved'")
    elif status != "all":
        clauses.append("status = :status")
        params["status"] = status
    for name, value in (
        ("rule_id", rule_id),
        ("feature", feature),
        ("prompt_version", prompt_version),
    ):
        if value is not None:
            clauses.append(f"{name} = :{name}")
            params[name] = value
    return clauses, params


def get_alert(store: Store, alert_id: str) -> dict[str, Any]:
    rows = store.fetch_all("SELECT * FROM alerts WHERE alert_id = :id", {"id": alert_id})
    if not rows:
        raise NotFoundError(f"no alert {alert_id}")
    return _decoded(rows[0])


def acknowledge(
    store: Store, alert_id: str, by: str, note: str | None, now: datetime
) -> dict[str, Any]:
    """Mark an open alert as seen by ``by``; it keeps being updated and still auto-resolves."""
    if not by.strip():
        raise ValueError("by: who acknowledges must be given")
    found = get_alert(store, alert_id)
    if found["status"] != "open":
        who = found.get("acknowledged_by")
        detail = f" by {who}" if found["status"] == "acknowledged" and who else ""
        raise ConflictError(f"alert {alert_id} is already {found['status']}{detail}")
    # Guarded by status, so of two people acknowledging at once the first one wins.
    store.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = :at,"
        " acknowledged_by = :by, ack_note = :note WHERE alert_id = :id AND status = 'open'",
        {"at": as_utc(now), "by": by.strip(), "note": note, "id": alert_id},
    )
    done = get_alert(store, alert_id)
    if done["acknowledged_by"] != by.strip() or done["acknowledged_at"] != as_utc(now):
        raise ConflictError(f"alert {alert_id} was acknowledged by {done['acknowledged_by']}")
    return done
