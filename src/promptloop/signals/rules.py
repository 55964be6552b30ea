"""The inference rules, as pure functions over one session's or one parent's records.

Each rule returns the inferred events that *should* exist. The job compares them with what
is stored and inserts the missing and retracts the stale, so a rule can be re-run on any
window, twice, or after late events, and the stored result is always the same.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from rapidfuzz import fuzz

from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent

_NAMESPACE = uuid.UUID("3f1d7c2a-9b4e-4d8f-a6c5-0e2b7d9f1a34")

# Signals that the user got what they needed: they end an abandonment suspicion.
POSITIVE_TYPES = frozenset({"thumbs_up", "copy", "edit"})
POSITIVE_RATING_MIN = 4.0

_CLARIFICATION = re.compile(
    r"\b(what do you mean|i meant|i mean|that'?s not what|not what i (asked|meant|wanted)|"
    r"can you (explain|clarify|elaborate)|clarify|explain (that|this|it)|"
    r"i don'?t understand|doesn'?t answer|you misunderstood|no,? i|try again|"
    r"more detail|be more specific|what about)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SignalSettings:
    """Windows and thresholds of the inference rules (see docs/signals.md)."""

    abandon_after: timedelta = timedelta(minutes=30)
    follow_up_within: timedelta = timedelta(seconds=120)
    follow_up_similarity: float = 0.5
    stopped_after: timedelta = timedelta(days=14)
    stopped_min_interactions: int = 2
    # Rows being committed while a run starts may carry a slightly older ingested_at, so
    # each run re-examines what arrived this long before the previous run's watermark.
    ingest_overlap: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Turn:
    """The parts of an interaction the rules look at."""

    interaction_id: str
    timestamp: datetime
    session_id: str | None = None
    user_id: str | None = None
    feature: str | None = None
    user_input: str | None = None
    latency_ms: float | None = None
    parent_interaction_id: str | None = None


@dataclass(frozen=True)
class Event:
    """The parts of a feedback event the rules look at."""

    feedback_id: str
    interaction_id: str
    feedback_type: str
    source: str
    timestamp: datetime
    related_interaction_id: str | None = None
    value: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def inferred_id(rule: str, *parts: str) -> str:
    """The same inference always gets the same ID: re-running a rule stores nothing new."""
    return str(uuid.uuid5(_NAMESPACE, ":".join((rule, *parts))))


def _inferred(
    rule: str,
    kind: FeedbackType,
    on: str,
    at: datetime,
    related: str | None,
    key: Sequence[str],
    **metadata: Any,
) -> FeedbackEvent:
    # Built from stored, already validated interactions: skip re-validation (it is the
    # hot loop of a full run over millions of interactions).
    return FeedbackEvent.model_construct(
        feedback_id=inferred_id(rule, *key),
        interaction_id=on,
        feedback_type=kind,
        category=None,
        value=None,
        user_edit=None,
        comment=None,
        source=FeedbackSource.INFERRED,
        related_interaction_id=related,
        timestamp=at,
        metadata={"rule": rule, **metadata},
    )


# -- regenerations ----------------------------------------------------------------------
def regenerations(
    parent: str,
    children: Sequence[Turn],
    events: Sequence[Event],
    depth_of_parent: int,
    root: str,
) -> list[FeedbackEvent]:
    """A child interaction pointing at ``parent`` is a regeneration of it.

    Unless the app already said so: a user-sent ``regenerate`` naming the child covers it,
    and each user-sent ``regenerate`` naming no child covers one child (oldest first), so a
    regeneration reported both ways is counted once.
    """
    told = [
        e
        for e in events
        if e.feedback_type == "regenerate" and e.source != FeedbackSource.INFERRED.value
    ]
    linked = {e.related_interaction_id for e in told if e.related_interaction_id}
    unlinked = sum(1 for e in told if not e.related_interaction_id)
    uncovered = [
        c
        for c in sorted(children, key=lambda t: (t.timestamp, t.interaction_id))
        if c.interaction_id not in linked
    ][unlinked:]
    position = {
        c.interaction_id: n
        for n, c in enumerate(
            sorted(children, key=lambda t: (t.timestamp, t.interaction_id)), start=1
        )
    }
    return [
        _inferred(
            "parent_interaction",
            FeedbackType.REGENERATE,
            parent,
            child.timestamp,
            child.interaction_id,
            (parent, child.interaction_id),
            chain_root=root,
            chain_depth=depth_of_parent + 1,
            attempt=position[child.interaction_id],
        )
        for child in uncovered
    ]


# -- follow-ups -------------------------------------------------------------------------
def _gap_seconds(earlier: Turn, later: Turn) -> float:
    answered = earlier.timestamp + timedelta(milliseconds=earlier.latency_ms or 0)
    gap = (later.timestamp - answered).total_seconds()
    return gap if gap >= 0 else (later.timestamp - earlier.timestamp).total_seconds()


def follow_ups(
    turns: Sequence[Turn], events: Sequence[Event], settings: SignalSettings
) -> list[FeedbackEvent]:
    """A rephrasing or a request for clarification soon after a response is a follow-up."""
    told = {
        (e.interaction_id, e.related_interaction_id)
        for e in events
        if e.feedback_type == "follow_up" and e.source != FeedbackSource.INFERRED.value
    }
    ordered = sorted(turns, key=lambda t: (t.timestamp, t.interaction_id))
    found: list[FeedbackEvent] = []
    for earlier, later in pairwise(ordered):
        if later.parent_interaction_id == earlier.interaction_id:
            continue  # a regeneration, not a new question
        if (earlier.interaction_id, later.interaction_id) in told:
            continue
        gap = _gap_seconds(earlier, later)
        if gap > settings.follow_up_within.total_seconds():
            continue
        verdict = _follow_up_reason(earlier.user_input or "", later.user_input or "", settings)
        if verdict is None:
            continue
        reason, similarity = verdict
        found.append(
            _inferred(
                "session_follow_up",
                FeedbackType.FOLLOW_UP,
                earlier.interaction_id,
                later.timestamp,
                later.interaction_id,
                (earlier.interaction_id, later.interaction_id),
                reason=reason,
                similarity=round(similarity, 3),
                gap_seconds=round(gap, 3),
            )
        )
    return found


def _follow_up_reason(
    first: str, second: str, settings: SignalSettings
) -> tuple[str, float] | None:
    if not first.strip() or not second.strip():
        return None
    similarity = fuzz.token_set_ratio(first.lower(), second.lower()) / 100.0
    if similarity >= settings.follow_up_similarity:
        return "rephrase", similarity
    if _CLARIFICATION.search(second):
        return "clarification", similarity
    return None


# -- abandonment ------------------------------------------------------------------------
def _positive(event: Event) -> bool:
    if event.feedback_type == "rating":
        return event.value is not None and event.value >= POSITIVE_RATING_MIN
    return event.feedback_type in POSITIVE_TYPES


def abandonments(
    turns: Sequence[Turn], events: Sequence[Event], now: datetime, settings: SignalSettings
) -> list[FeedbackEvent]:
    """No further activity in the session within the window, and no positive signal."""
    ordered = sorted(turns, key=lambda t: (t.timestamp, t.interaction_id))
    positive = {e.interaction_id for e in events if _positive(e)}
    reported = {
        e.interaction_id
        for e in events
        if e.feedback_type == "abandon" and e.source != FeedbackSource.INFERRED.value
    }
    found: list[FeedbackEvent] = []
    for index, turn in enumerate(ordered):
        deadline = turn.timestamp + settings.abandon_after
        if deadline > now or turn.interaction_id in positive | reported:
            continue
        later = ordered[index + 1] if index + 1 < len(ordered) else None
        if later is not None and later.timestamp <= deadline:
            continue
        found.append(
            _inferred(
                "session_inactivity",
                FeedbackType.ABANDON,
                turn.interaction_id,
                deadline,
                None,
                (turn.interaction_id,),
                window_minutes=settings.abandon_after.total_seconds() / 60,
            )
        )
    return found


def stopped_using(
    last_turn: Turn,
    interactions: int,
    feature_last_seen: datetime,
    now: datetime,
    settings: SignalSettings,
) -> FeedbackEvent | None:
    """A user who used a feature, then not for ``stopped_after``, while others still did."""
    if last_turn.user_id is None or last_turn.feature is None:
        return None
    if interactions < settings.stopped_min_interactions:
        return None
    quiet_since = last_turn.timestamp + settings.stopped_after
    if quiet_since > now or feature_last_seen <= last_turn.timestamp:
        return None
    return _inferred(
        "stopped_using_feature",
        FeedbackType.ABANDON,
        last_turn.interaction_id,
        quiet_since,
        None,
        (last_turn.user_id, last_turn.feature, last_turn.interaction_id),
        scope="feature",
        feature=last_turn.feature,
        window_days=settings.stopped_after.days,
        interactions=interactions,
    )
