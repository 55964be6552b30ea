"""The queue rules: which interactions deserve a person's eyes, and why.

Each rule reads the store and returns :class:`Candidate` s, most important first, at most
``max_per_rule``. SQL is portable (``:name`` parameters, windows computed in Python).

- ``negative_feedback``: a user's thumbs-down, report, correction or low rating.
- ``ambiguous_signals``: two signals on one interaction that disagree (regenerated and then
  copied anyway, thumbs-down and copied, ...): the implicit reading is unsure.
- ``judge_disagreement``: the LLM judge says good where a user or annotator says bad, or the
  reverse (feedback events with ``source='judge'`` against ``source`` user or annotator).
- ``failure_patterns``: members of the highest-priority failure patterns
  (:func:`promptloop.analytics.priority.priorities`), newest first.
- ``random_sample``: a seeded uniform sample of all traffic, the unbiased baseline that
  explicit feedback (given by few, mostly unhappy, users) cannot give.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptloop.analytics.priority import priorities
from promptloop.analytics.queries import NEGATIVE_CONDITION
from promptloop.core.enums import NEGATIVE_RATING_MAX, NEGATIVE_TYPES
from promptloop.review.config import ReviewSettings
from promptloop.store.base import Store

# A feedback event's polarity: +1 good, -1 bad, NULL says nothing about quality.
# Ratings are on 1..5 (judges writing a 0..1 score should write thumbs_up/thumbs_down).
_NEGATIVE = ", ".join(f"'{kind}'" for kind in NEGATIVE_TYPES)
POLARITY = f"""CASE
    WHEN f.feedback_type = 'thumbs_up' THEN 1
    WHEN f.feedback_type IN ({_NEGATIVE}) THEN -1
    WHEN f.feedback_type = 'rating' AND f.value <= {NEGATIVE_RATING_MAX} THEN -1
    WHEN f.feedback_type = 'rating' AND f.value >= 4 THEN 1
END"""


def not_queued(column: str) -> str:
    """Interactions already queued are skipped, so a rule's cap counts new ones only."""
    return f"NOT EXISTS (SELECT 1 FROM review_items q WHERE q.interaction_id = {column})"


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime


@dataclass(frozen=True)
class Candidate:
    interaction_id: str
    rule: str
    reason: str
    priority: float


RuleFunction = Callable[[Store, ReviewSettings, Window], list[Candidate]]


def negative_feedback(store: Store, settings: ReviewSettings, window: Window) -> list[Candidate]:
    rows = store.fetch_all(
        f"""
        SELECT f.interaction_id, f.feedback_type, f.category, count(*) AS events,
               max(f.timestamp) AS latest
        FROM feedback_events f
        JOIN llm_interaction_logs l ON l.interaction_id = f.interaction_id
        WHERE f.source = 'user' AND {NEGATIVE_CONDITION}
          AND f.timestamp >= :since AND f.timestamp < :until
          AND {not_queued("f.interaction_id")}
        GROUP BY f.interaction_id, f.feedback_type, f.category
        """,
        {"since": window.since, "until": window.until},
    )
    by_interaction: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_interaction[row["interaction_id"]].append(row)
    ranked = sorted(
        by_interaction.items(),
        key=lambda item: (
            -sum(int(r["events"]) for r in item[1]),
            -max(r["latest"].timestamp() for r in item[1]),
            item[0],
        ),
    )
    base = settings.priority_of("negative_feedback")
    return [
        Candidate(ident, "negative_feedback", _describe(events), base)
        for ident, events in ranked[: settings.max_per_rule]
    ]


def _describe(events: Sequence[dict[str, Any]]) -> str:
    parts = []
    for row in sorted(events, key=lambda r: (str(r["feedback_type"]), str(r["category"] or ""))):
        label = str(row["feedback_type"]) + (f" ({row['category']})" if row["category"] else "")
        count = int(row["events"])
        parts.append(label + (f" x{count}" if count > 1 else ""))
    return "user said: " + ", ".join(parts)


def ambiguous_signals(store: Store, settings: ReviewSettings, window: Window) -> list[Candidate]:
    pairs = settings.rules.ambiguous_signals.pairs
    if not pairs:
        return []
    params: dict[str, Any] = {"since": window.since, "until": window.until}
    clauses = []
    for index, (first, then) in enumerate(pairs):
        params[f"a{index}"], params[f"b{index}"] = first, then
        clauses.append(
            f"(a.feedback_type = :a{index} AND b.feedback_type = :b{index})"
            f" OR (a.feedback_type = :b{index} AND b.feedback_type = :a{index})"
        )
    rows = store.fetch_all(
        f"""
        SELECT a.interaction_id, a.feedback_type AS first_type, b.feedback_type AS then_type,
               max(b.timestamp) AS latest
        FROM feedback_events a
        JOIN feedback_events b ON b.interaction_id = a.interaction_id
             AND b.timestamp >= a.timestamp AND b.feedback_id <> a.feedback_id
        JOIN llm_interaction_logs l ON l.interaction_id = a.interaction_id
        WHERE a.source IN ('user', 'inferred') AND b.source IN ('user', 'inferred')
          AND b.timestamp >= :since AND b.timestamp < :until
          AND ({" OR ".join(clauses)}) AND {not_queued("a.interaction_id")}
        GROUP BY a.interaction_id, a.feedback_type, b.feedback_type
        ORDER BY max(b.timestamp) DESC, a.interaction_id
        """,
        params,
    )
    seen: dict[str, list[str]] = {}
    for row in rows:
        seen.setdefault(row["interaction_id"], []).append(
            f"{row['first_type']} then {row['then_type']}"
        )
    base = settings.priority_of("ambiguous_signals")
    return [
        Candidate(ident, "ambiguous_signals", "signals disagree: " + "; ".join(found), base)
        for ident, found in list(seen.items())[: settings.max_per_rule]
    ]


def judge_disagreement(store: Store, settings: ReviewSettings, window: Window) -> list[Candidate]:
    rows = store.fetch_all(
        f"""
        WITH polar AS (
            SELECT f.interaction_id, f.source, f.timestamp, {POLARITY} AS polarity
            FROM feedback_events f
            WHERE f.source IN ('judge', 'user', 'annotator')
        )
        SELECT j.interaction_id, j.polarity AS judge, h.source AS human_source,
               max(CASE WHEN h.timestamp > j.timestamp THEN h.timestamp ELSE j.timestamp END)
                   AS latest
        FROM polar j
        JOIN polar h ON h.interaction_id = j.interaction_id
        JOIN llm_interaction_logs l ON l.interaction_id = j.interaction_id
        WHERE j.source = 'judge' AND h.source IN ('user', 'annotator')
          AND j.polarity * h.polarity = -1
          AND (j.timestamp >= :since OR h.timestamp >= :since)
          AND j.timestamp < :until AND h.timestamp < :until
          AND {not_queued("j.interaction_id")}
        GROUP BY j.interaction_id, j.polarity, h.source
        ORDER BY latest DESC, j.interaction_id
        """,
        {"since": window.since, "until": window.until},
    )
    found: dict[str, str] = {}
    for row in rows:
        judge = "good" if int(row["judge"]) > 0 else "bad"
        human = "bad" if judge == "good" else "good"
        found.setdefault(
            row["interaction_id"], f"the judge says {judge}, the {row['human_source']} says {human}"
        )
    base = settings.priority_of("judge_disagreement")
    return [
        Candidate(ident, "judge_disagreement", reason, base)
        for ident, reason in list(found.items())[: settings.max_per_rule]
    ]


def failure_patterns(store: Store, settings: ReviewSettings, window: Window) -> list[Candidate]:
    del window  # a pattern's window is its own (its statistics were computed over weeks)
    rule = settings.rules.failure_patterns
    found: list[Candidate] = []
    for pattern in priorities(store, limit=rule.patterns):
        members = store.fetch_all(
            f"""
            SELECT m.interaction_id FROM cluster_members m
            JOIN llm_interaction_logs l ON l.interaction_id = m.interaction_id
            WHERE m.cluster_id = :cluster AND {not_queued("m.interaction_id")}
            ORDER BY l.timestamp DESC, m.interaction_id LIMIT :limit
            """,
            {"cluster": pattern["cluster_id"], "limit": rule.per_pattern},
        )
        severity = float(pattern["severity"]["score"])
        reason = (
            f'pattern #{pattern["rank"]} "{pattern["label"]}" ({pattern["action"]}, '
            f"severity {severity:.2f})"
        )
        # Severe patterns first among pattern members: up to +0.1 over the rule's priority.
        priority = min(1.0, rule.priority + 0.1 * severity)
        found.extend(
            Candidate(row["interaction_id"], "failure_patterns", reason, priority)
            for row in members
        )
    return found[: settings.max_per_rule]


def sampled(interaction_id: str, seed: int, rate: float) -> bool:
    """A seeded, uniform and stable draw: the same interaction is always in or out."""
    digest = hashlib.sha256(f"{seed}:{interaction_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def random_sample(store: Store, settings: ReviewSettings, window: Window) -> list[Candidate]:
    rule = settings.rules.random_sample
    if rule.rate <= 0:
        return []
    rows = store.fetch_all(
        "SELECT l.interaction_id FROM llm_interaction_logs l"
        " WHERE l.timestamp >= :since AND l.timestamp < :until"
        f" AND {not_queued('l.interaction_id')} ORDER BY l.timestamp DESC",
        {"since": window.since, "until": window.until},
    )
    reason = f"uniform random sample of all traffic ({rule.rate:.2%}, seed {rule.seed})"
    picked = [
        Candidate(row["interaction_id"], "random_sample", reason, rule.priority)
        for row in rows
        if sampled(row["interaction_id"], rule.seed, rule.rate)
    ]
    return picked[: settings.max_per_rule]


RULES: dict[str, RuleFunction] = {
    "judge_disagreement": judge_disagreement,
    "negative_feedback": negative_feedback,
    "ambiguous_signals": ambiguous_signals,
    "failure_patterns": failure_patterns,
    "random_sample": random_sample,
}
