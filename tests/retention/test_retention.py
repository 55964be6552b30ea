"""Per-user deletion and retention on every backend, through plain SQL on the Store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from promptloop.store.base import Store
from promptloop.store.retention import (
    LINKED_TABLES,
    apply_retention,
    delete_user,
    has_table,
    parse_rules,
)
from tests.support.records import T0, feedback, interaction

ALICE = "u_" + "a" * 32
BOB = "u_" + "b" * 32


def _edit_analysis(feedback_id: str, interaction_id: str) -> dict[str, Any]:
    return {
        "feedback_id": feedback_id,
        "interaction_id": interaction_id,
        "feedback_type": "edit",
        "edit_distance_ratio": 0.5,
        "chars_added": 1,
        "chars_removed": 1,
        "words_added": 1,
        "words_removed": 1,
        "original_chars": 10,
        "edited_chars": 10,
        "length_change": 0,
        "direction": "minor",
        "spans": "[]",
        "computed_at": T0,
    }


def _member(interaction_id: str) -> dict[str, Any]:
    return {
        "kind": "negative",
        "interaction_id": interaction_id,
        "cluster_id": "c-1",
        "distance": 0.1,
        "assigned_at": T0,
    }


@pytest.fixture
def people(store: Store) -> dict[str, list[str]]:
    """Alice and Bob, each with interactions old and new, feedback, edits, cluster members."""
    ids: dict[str, list[str]] = {ALICE: [], BOB: []}
    calls = []
    for user in (ALICE, BOB):
        for age_days in (400, 10):
            call = interaction(user_id=user, timestamp=T0 - timedelta(days=age_days))
            calls.append(call)
            ids[user].append(call.interaction_id)
    store.insert_interactions(calls)
    events = []
    for call in calls:
        events.append(feedback(call.interaction_id, "thumbs_down", timestamp=call.timestamp))
        events.append(
            feedback(call.interaction_id, "edit", user_edit="fixed", timestamp=call.timestamp)
        )
    # Bob's follow-up about Alice's first answer: Alice's data, filed under Bob's call.
    events.append(
        feedback(
            ids[BOB][1],
            "follow_up",
            related_interaction_id=ids[ALICE][0],
            timestamp=T0,
        )
    )
    store.insert_feedback(events)
    edits = [e for e in events if e.feedback_type.value == "edit"]
    store.insert_rows(
        "edit_analyses", [_edit_analysis(e.feedback_id, e.interaction_id) for e in edits]
    )
    store.insert_rows("cluster_members", [_member(call.interaction_id) for call in calls])
    return ids


def _count(store: Store, table: str, column: str, values: list[str]) -> int:
    params = {f"v{n}": value for n, value in enumerate(values)}
    placeholders = ", ".join(f":{name}" for name in params)
    rows = store.fetch_all(
        f"SELECT count(*) AS n FROM {table} WHERE {column} IN ({placeholders})", params
    )
    return int(rows[0]["n"])


def test_deleting_a_user_removes_their_rows_everywhere_and_nothing_else(
    store: Store, people: dict[str, list[str]]
) -> None:
    dry = delete_user(store, ALICE, dry_run=True)
    assert dry.deleted["llm_interaction_logs"] == 2
    assert _count(store, "llm_interaction_logs", "user_id", [ALICE]) == 2  # nothing yet

    report = delete_user(store, ALICE)
    assert report.deleted == dry.deleted
    assert report.deleted["feedback_events"] == 5  # 4 on her calls + Bob's follow-up on hers
    assert report.deleted["edit_analyses"] == 2
    assert report.deleted["cluster_members"] == 2
    alice, bob = people[ALICE], people[BOB]
    for table in ("llm_interaction_logs", "feedback_events", "edit_analyses", "cluster_members"):
        assert _count(store, table, "interaction_id", alice) == 0, table
    assert _count(store, "feedback_events", "related_interaction_id", alice) == 0
    assert _count(store, "llm_interaction_logs", "interaction_id", bob) == 2
    assert _count(store, "feedback_events", "interaction_id", bob) == 4
    assert _count(store, "edit_analyses", "interaction_id", bob) == 2
    assert _count(store, "cluster_members", "interaction_id", bob) == 2
    assert delete_user(store, ALICE).total == 0  # idempotent


def test_every_linked_table_that_exists_is_visited(store: Store) -> None:
    present = [linked.table for linked in LINKED_TABLES if has_table(store, linked.table)]
    assert {"feedback_events", "edit_analyses", "cluster_members"} <= set(present)
    report = delete_user(store, "u_nobody")
    assert set(report.deleted) == {*present, "llm_interaction_logs"}


def test_retention_deletes_old_rows_with_their_linked_rows(
    store: Store, people: dict[str, list[str]]
) -> None:
    old = [people[ALICE][0], people[BOB][0]]
    new = [people[ALICE][1], people[BOB][1]]
    report = apply_retention(store, {"interactions": 365}, now=T0)
    assert report.deleted["llm_interaction_logs"] == 2
    assert _count(store, "llm_interaction_logs", "interaction_id", old) == 0
    assert _count(store, "feedback_events", "interaction_id", old) == 0
    assert _count(store, "edit_analyses", "interaction_id", old) == 0
    assert _count(store, "cluster_members", "interaction_id", old) == 0
    assert _count(store, "llm_interaction_logs", "interaction_id", new) == 2
    # Bob's follow-up points at Alice's old call: it goes with it.
    assert _count(store, "feedback_events", "interaction_id", new) == 4


def test_feedback_retention_alone_keeps_the_interactions(
    store: Store, people: dict[str, list[str]]
) -> None:
    everyone = people[ALICE] + people[BOB]
    report = apply_retention(store, parse_rules("feedback=30"), now=T0)
    assert report.deleted == {"feedback_events": 4}
    assert _count(store, "llm_interaction_logs", "interaction_id", everyone) == 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("interactions", "is not TABLE=DAYS"),
        ("interactions=0", "at least 1"),
        ("interactions=soon", "whole number"),
        ("interactions=99999999999", "at most 36500"),
        ("prompts=30", "no retention for table 'prompts'"),
    ],
)
def test_bad_rules_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(spec)


@pytest.mark.parametrize("user_id", ["", "u_\x00", "a\nb"])
def test_a_user_id_that_cannot_be_stored_is_refused(user_id: str) -> None:
    with pytest.raises(ValueError, match="user_id"):
        delete_user(None, user_id)  # type: ignore[arg-type] - refused before any query
