"""The inference job: find what to re-examine, apply the rules, reconcile with the store.

Incremental: a run re-examines only the sessions and regenerated interactions touched by
events ingested since the last run (with a safety overlap), plus sessions whose abandonment
window has closed since. Idempotent: inferred events have deterministic IDs, and for every
re-examined scope the stored inferred events are made equal to what the rules infer now, so
re-runs, overlapping windows and late events never double-count. User-sent events are
never modified; only ``source = 'inferred'`` rows are inserted or retracted.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from promptloop.core.records import FeedbackEvent, as_utc, utc_now
from promptloop.signals.edits import edit_stats
from promptloop.signals.rules import (
    Event,
    SignalSettings,
    Turn,
    abandonments,
    follow_ups,
    regenerations,
    stopped_using,
)
from promptloop.store import rollup
from promptloop.store.base import Store

T = TypeVar("T")
JOB_NAME = "signals"
CHUNK = 500
MAX_CHAIN_DEPTH = 50
SESSION_RULES = ("session_follow_up", "session_inactivity")


@dataclass
class SignalRun:
    """What one run did."""

    sessions: int = 0
    parents: int = 0
    inserted: Counter[str] = field(default_factory=Counter)
    retracted: Counter[str] = field(default_factory=Counter)
    edits_analysed: int = 0
    seconds: float = 0.0
    full: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "parents": self.parents,
            "inserted": dict(self.inserted),
            "retracted": dict(self.retracted),
            "edits_analysed": self.edits_analysed,
            "seconds": round(self.seconds, 3),
            "full": self.full,
        }


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _in_list(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{n}": value for n, value in enumerate(values)}
    return ", ".join(f":{name}" for name in params) or "NULL", params


def _rule_of(metadata: Any) -> str | None:
    data = json.loads(metadata) if isinstance(metadata, str) else metadata
    return data.get("rule") if isinstance(data, dict) else None


class SignalJob:
    def __init__(self, store: Store, settings: SignalSettings | None = None) -> None:
        self.store = store
        self.settings = settings or SignalSettings()

    # -- state --------------------------------------------------------------------------
    def _state(self) -> dict[str, Any] | None:
        rows = self.store.fetch_all(
            "SELECT watermark, last_now FROM signal_job_state WHERE job = :job", {"job": JOB_NAME}
        )
        return rows[0] if rows else None

    def _save_state(self, watermark: datetime | None, now: datetime) -> None:
        self.store.execute(
            "INSERT INTO signal_job_state (job, watermark, last_now, last_run_at)"
            " VALUES (:job, :watermark, :now, :ran) ON CONFLICT (job) DO UPDATE SET"
            " watermark = excluded.watermark, last_now = excluded.last_now,"
            " last_run_at = excluded.last_run_at",
            {"job": JOB_NAME, "watermark": watermark, "now": now, "ran": utc_now()},
        )

    def _high_water(self) -> datetime | None:
        row = self.store.fetch_all(
            "SELECT max(ingested_at) AS w FROM (SELECT max(ingested_at) AS ingested_at FROM"
            " llm_interaction_logs UNION ALL SELECT max(ingested_at) FROM feedback_events"
            " WHERE source <> 'inferred') t"
        )
        value = row[0]["w"]
        return as_utc(value) if isinstance(value, datetime) else None

    # -- the run ------------------------------------------------------------------------
    def run(self, *, now: datetime | None = None, full: bool = False) -> SignalRun:
        started = time.perf_counter()
        now = as_utc(now or utc_now())
        state = None if full else self._state()
        report = SignalRun(full=state is None)
        high_water = self._high_water()
        overlap = self.settings.ingest_overlap
        since = (as_utc(state["watermark"]) - overlap) if state and state["watermark"] else None
        last_now = as_utc(state["last_now"]) if state and state["last_now"] else None

        sessions = self._touched_sessions(since, last_now, now)
        report.sessions = len(sessions)
        for chunk in _chunks(sessions):
            self._session_signals(chunk, now, report)
        parents = self._touched_parents(since)
        report.parents = len(parents)
        for chunk in _chunks(parents):
            self._regeneration_signals(chunk, report)
        self._stopped_using_signals(now, report)
        report.edits_analysed = self.analyse_edits()
        self._save_state(high_water, now)
        report.seconds = time.perf_counter() - started
        return report

    # -- what to re-examine -------------------------------------------------------------
    def _touched_sessions(
        self, since: datetime | None, last_now: datetime | None, now: datetime
    ) -> list[str]:
        if since is None:
            rows = self.store.fetch_all(
                "SELECT DISTINCT session_id FROM llm_interaction_logs WHERE session_id IS NOT NULL"
            )
            return sorted(row["session_id"] for row in rows)
        window = self.settings.abandon_after
        rows = self.store.fetch_all(
            """
            SELECT session_id FROM llm_interaction_logs
             WHERE session_id IS NOT NULL AND ingested_at > :since
            UNION
            SELECT l.session_id FROM feedback_events f
              JOIN llm_interaction_logs l ON l.interaction_id = f.interaction_id
             WHERE l.session_id IS NOT NULL AND f.ingested_at > :since
               AND f.source <> 'inferred'
            UNION
            SELECT session_id FROM llm_interaction_logs
             WHERE session_id IS NOT NULL AND timestamp > :closed_from
               AND timestamp <= :closed_to
            """,
            {
                "since": since,
                "closed_from": (last_now or now) - window - self.settings.ingest_overlap,
                "closed_to": now - window,
            },
        )
        return sorted({row["session_id"] for row in rows})

    def _touched_parents(self, since: datetime | None) -> list[str]:
        condition = "" if since is None else "AND ingested_at > :since"
        rows = self.store.fetch_all(
            f"""
            SELECT parent_interaction_id AS id FROM llm_interaction_logs
             WHERE parent_interaction_id IS NOT NULL {condition}
            UNION
            SELECT interaction_id AS id FROM feedback_events
             WHERE feedback_type = 'regenerate' AND source <> 'inferred' {condition}
            """,
            {"since": since} if since is not None else {},
        )
        return sorted({row["id"] for row in rows})

    # -- sessions: follow-ups and abandonment -------------------------------------------
    def _session_signals(self, sessions: Sequence[str], now: datetime, report: SignalRun) -> None:
        placeholders, params = _in_list("s", sessions)
        rows = self.store.fetch_all(
            "SELECT interaction_id, timestamp, session_id, user_id, feature, user_input,"
            " latency_ms, parent_interaction_id FROM llm_interaction_logs"
            f" WHERE session_id IN ({placeholders})",
            params,
        )
        turns = [Turn(**{**row, "timestamp": as_utc(row["timestamp"])}) for row in rows]
        events = self._events(
            "SELECT f.* FROM feedback_events f JOIN llm_interaction_logs l"
            " ON l.interaction_id = f.interaction_id"
            f" WHERE l.session_id IN ({placeholders})",
            params,
        )
        by_session: dict[str, list[Turn]] = defaultdict(list)
        for turn in turns:
            by_session[str(turn.session_id)].append(turn)
        desired: list[FeedbackEvent] = []
        for session_turns in by_session.values():
            desired += follow_ups(session_turns, events, self.settings)
            desired += abandonments(session_turns, events, now, self.settings)
        existing = [
            e for e in events if e.source == "inferred" and _rule_of(e.metadata) in SESSION_RULES
        ]
        self._reconcile(desired, existing, report)

    # -- regenerations ------------------------------------------------------------------
    def _regeneration_signals(self, parents: Sequence[str], report: SignalRun) -> None:
        placeholders, params = _in_list("p", parents)
        rows = self.store.fetch_all(
            "SELECT interaction_id, timestamp, parent_interaction_id FROM llm_interaction_logs"
            f" WHERE parent_interaction_id IN ({placeholders})",
            params,
        )
        children: dict[str, list[Turn]] = defaultdict(list)
        for row in rows:
            children[row["parent_interaction_id"]].append(
                Turn(**{**row, "timestamp": as_utc(row["timestamp"])})
            )
        events = self._events(
            "SELECT * FROM feedback_events WHERE feedback_type = 'regenerate'"
            f" AND interaction_id IN ({placeholders})",
            params,
        )
        by_parent: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_parent[event.interaction_id].append(event)
        ancestry = self._ancestry(parents)
        desired: list[FeedbackEvent] = []
        for parent in parents:
            root, depth = ancestry.get(parent, (parent, 0))
            desired += regenerations(parent, children[parent], by_parent[parent], depth, root)
        existing = [
            e
            for e in events
            if e.source == "inferred" and _rule_of(e.metadata) == "parent_interaction"
        ]
        self._reconcile(desired, existing, report)

    def _ancestry(self, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """For each interaction: the root of its regeneration chain and its depth below it."""
        parent_of: dict[str, str | None] = {}
        frontier = list(ids)
        for _ in range(MAX_CHAIN_DEPTH):
            frontier = [i for i in frontier if i not in parent_of]
            if not frontier:
                break
            placeholders, params = _in_list("a", frontier)
            rows = self.store.fetch_all(
                "SELECT interaction_id, parent_interaction_id FROM llm_interaction_logs"
                f" WHERE interaction_id IN ({placeholders})",
                params,
            )
            found = {row["interaction_id"]: row["parent_interaction_id"] for row in rows}
            for ident in frontier:
                parent_of[ident] = found.get(ident)
            frontier = [p for p in found.values() if p]
        result: dict[str, tuple[str, int]] = {}
        for ident in ids:
            node, depth = ident, 0
            while parent_of.get(node) and depth < MAX_CHAIN_DEPTH:
                node, depth = str(parent_of[node]), depth + 1
            result[ident] = (node, depth)
        return result

    # -- users who stopped using a feature ----------------------------------------------
    def _stopped_using_signals(self, now: datetime, report: SignalRun) -> None:
        rows = self.store.fetch_all(
            """
            WITH ranked AS (
                SELECT user_id, feature, interaction_id, timestamp,
                       row_number() OVER (PARTITION BY user_id, feature
                                          ORDER BY timestamp DESC, interaction_id DESC) AS rn,
                       count(*) OVER (PARTITION BY user_id, feature) AS n
                FROM llm_interaction_logs
                WHERE user_id IS NOT NULL AND feature IS NOT NULL
            ),
            features AS (
                SELECT feature, max(timestamp) AS last_seen FROM llm_interaction_logs
                WHERE feature IS NOT NULL GROUP BY feature
            )
            SELECT r.user_id, r.feature, r.interaction_id, r.timestamp, r.n, f.last_seen
            FROM ranked r JOIN features f ON f.feature = r.feature
            WHERE r.rn = 1 AND r.n >= :min_n AND r.timestamp <= :cutoff
              AND f.last_seen > r.timestamp
            """,
            {
                "min_n": self.settings.stopped_min_interactions,
                "cutoff": now - self.settings.stopped_after,
            },
        )
        desired = []
        for row in rows:
            turn = Turn(
                interaction_id=row["interaction_id"],
                timestamp=as_utc(row["timestamp"]),
                user_id=row["user_id"],
                feature=row["feature"],
            )
            event = stopped_using(turn, int(row["n"]), as_utc(row["last_seen"]), now, self.settings)
            if event is not None:
                desired.append(event)
        existing = self._events(
            "SELECT * FROM feedback_events WHERE source = 'inferred' AND feedback_type = 'abandon'",
            {},
        )
        stale = [e for e in existing if _rule_of(e.metadata) == "stopped_using_feature"]
        self._reconcile(desired, stale, report)

    # -- edits --------------------------------------------------------------------------
    def analyse_edits(self, batch: int = 5_000) -> int:
        """Diff statistics for every edit/correction not analysed yet (an anti-join)."""
        done = 0
        while True:
            rows = self.store.fetch_all(
                """
                SELECT f.feedback_id, f.interaction_id, f.feedback_type, f.user_edit,
                       l.raw_output
                FROM feedback_events f
                JOIN llm_interaction_logs l ON l.interaction_id = f.interaction_id
                LEFT JOIN edit_analyses e ON e.feedback_id = f.feedback_id
                WHERE f.feedback_type IN ('edit', 'correction') AND f.user_edit IS NOT NULL
                  AND l.raw_output IS NOT NULL AND e.feedback_id IS NULL
                LIMIT :batch
                """,
                {"batch": batch},
            )
            if not rows:
                return done
            now = utc_now()
            analyses = []
            for row in rows:
                stats = edit_stats(row["raw_output"], row["user_edit"]).as_dict()
                stats["spans"] = json.dumps(stats["spans"], ensure_ascii=False)
                analyses.append(
                    {
                        "feedback_id": row["feedback_id"],
                        "interaction_id": row["interaction_id"],
                        "feedback_type": row["feedback_type"],
                        **stats,
                        "computed_at": now,
                    }
                )
            self.store.insert_rows("edit_analyses", analyses)
            done += len(rows)
            if len(rows) < batch:
                return done

    # -- reconciliation -----------------------------------------------------------------
    def _events(self, sql: str, params: dict[str, Any]) -> list[Event]:
        return [
            Event(
                feedback_id=row["feedback_id"],
                interaction_id=row["interaction_id"],
                feedback_type=row["feedback_type"],
                source=row["source"],
                timestamp=as_utc(row["timestamp"]),
                related_interaction_id=row["related_interaction_id"],
                value=row["value"],
                metadata=row["metadata"] or {},
            )
            for row in self.store.fetch_all(sql, params)
        ]

    def _reconcile(
        self, desired: Sequence[FeedbackEvent], existing: Sequence[Event], report: SignalRun
    ) -> None:
        wanted = {event.feedback_id: event for event in desired}
        have = {event.feedback_id: event for event in existing}
        missing = [event for ident, event in wanted.items() if ident not in have]
        stale = [event for ident, event in have.items() if ident not in wanted]
        if missing:
            self.store.insert_feedback(missing)
            report.inserted.update(event.feedback_type.value for event in missing)
        for chunk in _chunks(list(stale)):
            self._retract(chunk)
        report.retracted.update(event.feedback_type for event in stale)

    def _retract(self, events: Sequence[Event]) -> None:
        """Delete inferred events and, in the same transaction, recompute the rollup rows of
        their interactions (a deletion cannot be merged in like an insertion)."""
        placeholders, params = _in_list("r", [event.feedback_id for event in events])
        statements: list[tuple[str, Mapping[str, Any]]] = [
            (
                "DELETE FROM feedback_events WHERE source = 'inferred'"
                f" AND feedback_id IN ({placeholders})",
                params,
            )
        ]
        if getattr(self.store, "signal_rollup", False):
            ids = [event.interaction_id for event in events]
            statements += rollup.recompute_statements(self.store.dialect, ids)
        self.store.transaction(statements)


def run_signals(
    store: Store,
    settings: SignalSettings | None = None,
    *,
    now: datetime | None = None,
    full: bool = False,
) -> SignalRun:
    """Run every inference rule once (see :class:`SignalJob`)."""
    return SignalJob(store, settings).run(now=now, full=full)
