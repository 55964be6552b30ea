"""The inference rules on hand-made sessions (pure functions, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promptloop.signals.rules import (
    Event,
    SignalSettings,
    Turn,
    abandonments,
    follow_ups,
    regenerations,
    stopped_using,
)

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
S = SignalSettings()


def turn(ident: str, minutes: float, text: str = "", **kw: object) -> Turn:
    return Turn(
        interaction_id=ident,
        timestamp=T + timedelta(minutes=minutes),
        session_id="s",
        user_input=text,
        **kw,
    )  # type: ignore[arg-type]


def event(on: str, kind: str, source: str = "user", **kw: object) -> Event:
    return Event(
        feedback_id=f"{on}-{kind}-{source}-{kw.get('related_interaction_id')}",
        interaction_id=on,
        feedback_type=kind,
        source=source,
        timestamp=T,
        **kw,
    )  # type: ignore[arg-type]


def test_rephrasing_soon_after_is_a_follow_up_with_its_evidence() -> None:
    turns = [
        turn("a", 0, "How do I export my notes to PDF?", latency_ms=2000),
        turn("b", 1, "how can I export notes as a PDF file"),
        turn("c", 30, "What is the weather like?"),
    ]
    [found] = follow_ups(turns, [], S)
    assert (found.interaction_id, found.related_interaction_id) == ("a", "b")
    assert found.metadata["reason"] == "rephrase" and found.metadata["similarity"] >= 0.5
    assert found.metadata["gap_seconds"] == 58.0 and found.source.value == "inferred"


def test_clarification_requests_count_and_unrelated_or_late_questions_do_not() -> None:
    turns = [turn("a", 0, "Summarise the Q3 report"), turn("b", 1, "What do you mean by churn?")]
    [found] = follow_ups(turns, [], S)
    assert found.metadata["reason"] == "clarification"
    unrelated = [turn("a", 0, "Summarise the Q3 report"), turn("b", 1, "Translate hello to French")]
    assert follow_ups(unrelated, [], S) == []
    late = [turn("a", 0, "Export to PDF?"), turn("b", 3, "Export to PDF please?")]
    assert follow_ups(late, [], S) == []


def test_a_regeneration_is_not_a_follow_up_and_a_reported_follow_up_is_not_inferred() -> None:
    regen = [
        turn("a", 0, "Export to PDF?"),
        turn("b", 1, "Export to PDF?", parent_interaction_id="a"),
    ]
    assert follow_ups(regen, [], S) == []
    turns = [turn("a", 0, "Export to PDF?"), turn("b", 1, "Export to PDF now?")]
    told = [event("a", "follow_up", related_interaction_id="b")]
    assert follow_ups(turns, told, S) == []


def test_abandonment_needs_silence_and_no_positive_signal() -> None:
    turns = [turn("a", 0), turn("b", 10), turn("c", 60), turn("d", 100), turn("e", 200)]
    now = T + timedelta(minutes=215)
    events = [event("c", "copy"), event("d", "rating", value=5.0)]
    found = abandonments(turns, events, now, S)
    # a: next activity after 10 min; c and d: positive; e: window not closed yet at 215 min.
    assert [e.interaction_id for e in found] == ["b"]
    assert found[0].timestamp == T + timedelta(minutes=40)
    later = abandonments(turns, events, T + timedelta(minutes=231), S)
    assert [e.interaction_id for e in later] == ["b", "e"]
    beacon = [*events, event("e", "abandon")]
    assert [e.interaction_id for e in abandonments(turns, beacon, now + timedelta(hours=1), S)] == [
        "b"
    ]


def test_regenerations_from_parent_pointers_are_not_double_counted() -> None:
    children = [
        turn("b", 1, parent_interaction_id="a"),
        turn("c", 2, parent_interaction_id="a"),
        turn("d", 3, parent_interaction_id="a"),
    ]
    inferred = regenerations("a", children, [], 0, "a")
    assert [e.related_interaction_id for e in inferred] == ["b", "c", "d"]
    assert [e.metadata["attempt"] for e in inferred] == [1, 2, 3]
    told = [event("a", "regenerate", related_interaction_id="c"), event("a", "regenerate")]
    assert [e.related_interaction_id for e in regenerations("a", children, told, 0, "a")] == ["d"]
    again = regenerations("a", children, [], 0, "a")
    assert [e.feedback_id for e in again] == [e.feedback_id for e in inferred]


def test_stopped_using_a_feature() -> None:
    last = Turn(interaction_id="z", timestamp=T, user_id="u1", feature="summarize")
    now = T + timedelta(days=15)
    found = stopped_using(last, 5, T + timedelta(days=14), now, S)
    assert found is not None and found.metadata["scope"] == "feature"
    assert stopped_using(last, 1, T + timedelta(days=14), now, S) is None  # never a user
    assert stopped_using(last, 5, T, now, S) is None  # nobody uses the feature any more
    assert stopped_using(last, 5, T + timedelta(days=14), T + timedelta(days=13), S) is None
