"""Invariants of the implicit-signal rules and the edit statistics, for any input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from promptloop.signals.edits import edit_stats
from promptloop.signals.rules import (
    POSITIVE_RATING_MIN,
    POSITIVE_TYPES,
    Event,
    SignalSettings,
    Turn,
    abandonments,
    follow_ups,
    regenerations,
    stopped_using,
)
from tests.hostile.fuzz import FUZZ, TEXT

START = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = SignalSettings()
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(8)]


@st.composite
def turns(draw: st.DrawFn, max_size: int = 6) -> list[Turn]:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=max_size))
    return [
        Turn(
            interaction_id=interaction_id,
            timestamp=START + timedelta(seconds=draw(st.integers(0, 4 * 3600))),
            session_id="s",
            user_id=draw(st.sampled_from([None, "u_1"])),
            feature=draw(st.sampled_from([None, "chat"])),
            user_input=draw(st.one_of(st.none(), TEXT)),
            latency_ms=draw(st.one_of(st.none(), st.floats(0, 60_000))),
            parent_interaction_id=draw(st.one_of(st.none(), st.sampled_from(IDS))),
        )
        for interaction_id in ids
    ]


@st.composite
def events(draw: st.DrawFn) -> list[Event]:
    kinds = [
        "thumbs_up",
        "thumbs_down",
        "copy",
        "edit",
        "rating",
        "abandon",
        "regenerate",
        "follow_up",
    ]
    return [
        Event(
            feedback_id=f"f{n}",
            interaction_id=draw(st.sampled_from(IDS)),
            feedback_type=draw(st.sampled_from(kinds)),
            source=draw(st.sampled_from(["user", "inferred"])),
            timestamp=START + timedelta(seconds=draw(st.integers(0, 4 * 3600))),
            related_interaction_id=draw(st.one_of(st.none(), st.sampled_from(IDS))),
            value=draw(st.one_of(st.none(), st.floats(1, 5))),
        )
        for n in range(draw(st.integers(0, 5)))
    ]


@FUZZ
@given(TEXT, TEXT)
def test_edit_statistics_are_consistent(original: str, edited: str) -> None:
    stats = edit_stats(original, edited)
    assert 0.0 <= stats.edit_distance_ratio <= 1.0
    assert stats.length_change == len(edited) - len(original)
    assert stats.chars_added - stats.chars_removed == stats.length_change
    assert (stats.direction == "unchanged") == (original == edited)
    assert all(0 <= span.position <= len(original) for span in stats.spans)
    assert min(stats.words_added, stats.words_removed, stats.chars_added) >= 0


@FUZZ
@given(turns(), events())
def test_regenerations_name_only_children_once_and_deterministically(
    children: list[Turn], told: list[Event]
) -> None:
    parent = "parent"
    found = regenerations(parent, children, told, 0, parent)
    assert found == regenerations(parent, children, told, 0, parent)
    related = [event.related_interaction_id for event in found]
    assert len(related) == len(set(related)) <= len(children)
    assert set(related) <= {child.interaction_id for child in children}
    assert all(event.interaction_id == parent for event in found)
    assert len({event.feedback_id for event in found}) == len(found)


@FUZZ
@given(turns(), events())
def test_follow_ups_link_consecutive_turns_within_the_window(
    session: list[Turn], told: list[Event]
) -> None:
    found = follow_ups(session, told, SETTINGS)
    assert [e.feedback_id for e in found] == [
        e.feedback_id for e in follow_ups(session, told, SETTINGS)
    ]
    by_id = {turn.interaction_id: turn for turn in session}
    for event in found:
        earlier, later = by_id[event.interaction_id], by_id[event.related_interaction_id or ""]
        assert earlier.timestamp <= later.timestamp
        assert later.parent_interaction_id != earlier.interaction_id
        assert (later.timestamp - earlier.timestamp) <= SETTINGS.follow_up_within + timedelta(
            milliseconds=earlier.latency_ms or 0
        )


@FUZZ
@given(turns(), events(), st.integers(0, 10 * 3600))
def test_abandonment_never_contradicts_a_positive_signal_or_the_clock(
    session: list[Turn], told: list[Event], offset: int
) -> None:
    now = START + timedelta(seconds=offset)
    found = abandonments(session, told, now, SETTINGS)
    positive = {
        e.interaction_id
        for e in told
        if e.feedback_type in POSITIVE_TYPES
        or (e.feedback_type == "rating" and (e.value or 0) >= POSITIVE_RATING_MIN)
    }
    by_id = {turn.interaction_id: turn for turn in session}
    for event in found:
        assert event.interaction_id not in positive
        assert event.timestamp == by_id[event.interaction_id].timestamp + SETTINGS.abandon_after
        assert event.timestamp <= now
    assert len({e.interaction_id for e in found}) == len(found)


@FUZZ
@given(turns(max_size=1), st.integers(0, 5), st.integers(0, 40))
def test_stopped_using_needs_a_user_a_feature_and_enough_use(
    last: list[Turn], interactions: int, days_later: int
) -> None:
    if not last:
        return
    turn = last[0]
    now = turn.timestamp + timedelta(days=days_later)
    found = stopped_using(turn, interactions, now, now, SETTINGS)
    if found is None:
        return
    assert turn.user_id is not None and turn.feature is not None
    assert interactions >= SETTINGS.stopped_min_interactions
    assert found.timestamp == turn.timestamp + SETTINGS.stopped_after <= now
