"""The inference job on every backend: idempotent, incremental, late and duplicate events."""

from __future__ import annotations

from datetime import timedelta

from promptloop.analytics import queries
from promptloop.signals.jobs import run_signals
from promptloop.signals.rules import SignalSettings
from promptloop.store import Store
from tests.support.records import T0, feedback, interaction


def _inferred(store: Store) -> list[tuple[str, str, str | None]]:
    rows = store.fetch_all(
        "SELECT interaction_id, feedback_type, related_interaction_id FROM feedback_events"
        " WHERE source = 'inferred' ORDER BY feedback_type, interaction_id"
    )
    return [(r["interaction_id"], r["feedback_type"], r["related_interaction_id"]) for r in rows]


def test_signals_are_inferred_once_however_often_the_job_runs(store: Store) -> None:
    first = interaction(session_id="s1", user_input="How do I export to PDF?", timestamp=T0)
    rephrased = interaction(
        session_id="s1", user_input="how do i export as pdf", timestamp=T0 + timedelta(seconds=40)
    )
    retry = interaction(
        session_id="s1",
        user_input="how do i export as pdf",
        parent_interaction_id=rephrased.interaction_id,
        timestamp=T0 + timedelta(seconds=50),
    )
    store.insert_interactions([first, rephrased, retry])
    now = T0 + timedelta(hours=2)
    report = run_signals(store, now=now)
    assert report.inserted == {"follow_up": 1, "regenerate": 1, "abandon": 1}
    expected = [
        (retry.interaction_id, "abandon", None),
        (first.interaction_id, "follow_up", rephrased.interaction_id),
        (rephrased.interaction_id, "regenerate", retry.interaction_id),
    ]
    assert sorted(_inferred(store)) == sorted(expected)
    for _ in range(2):
        again = run_signals(store, now=now)
        assert sum(again.inserted.values()) == 0 and sum(again.retracted.values()) == 0
    full = run_signals(store, now=now, full=True)
    assert sum(full.inserted.values()) == 0
    assert sorted(_inferred(store)) == sorted(expected)


def test_late_events_retract_what_they_contradict(store: Store) -> None:
    answer = interaction(session_id="s2", timestamp=T0)
    store.insert_interactions([answer])
    run_signals(store, now=T0 + timedelta(hours=1))
    assert _inferred(store) == [(answer.interaction_id, "abandon", None)]
    # The copy happened within the window but reached us only now.
    store.insert_feedback([feedback(answer.interaction_id, "copy")])
    report = run_signals(store, now=T0 + timedelta(hours=2))
    assert report.retracted == {"abandon": 1}
    assert _inferred(store) == []


def test_a_reported_regeneration_is_not_counted_twice(store: Store) -> None:
    parent = interaction(session_id="s3", timestamp=T0)
    child = interaction(
        session_id="s3",
        parent_interaction_id=parent.interaction_id,
        timestamp=T0 + timedelta(seconds=5),
    )
    store.insert_interactions([parent, child])
    run_signals(store, now=T0 + timedelta(minutes=1))
    assert [t for _, t, _ in _inferred(store)] == ["regenerate"]
    # The app's own regenerate event arrives late, and twice (a retried request).
    told = feedback(parent.interaction_id, "regenerate", feedback_id="app-regen-1")
    store.insert_feedback([told])
    store.insert_feedback([told])
    report = run_signals(store, now=T0 + timedelta(minutes=2))
    assert report.retracted == {"regenerate": 1}
    rows = store.fetch_all(
        "SELECT count(*) AS n FROM feedback_events WHERE feedback_type = 'regenerate'"
    )
    assert rows[0]["n"] == 1


def test_regeneration_chains_record_their_depth(store: Store) -> None:
    root = interaction(session_id="s4", timestamp=T0)
    second = interaction(
        session_id="s4",
        parent_interaction_id=root.interaction_id,
        timestamp=T0 + timedelta(seconds=5),
    )
    third = interaction(
        session_id="s4",
        parent_interaction_id=second.interaction_id,
        timestamp=T0 + timedelta(seconds=9),
    )
    store.insert_interactions([root, second, third])
    run_signals(store, now=T0 + timedelta(minutes=1))
    rows = store.fetch_all(
        "SELECT interaction_id, metadata FROM feedback_events WHERE feedback_type = 'regenerate'"
    )
    depth = {r["interaction_id"]: r["metadata"]["chain_depth"] for r in rows}
    assert depth == {root.interaction_id: 1, second.interaction_id: 2}
    assert {r["metadata"]["chain_root"] for r in rows} == {root.interaction_id}


def test_incremental_runs_pick_up_new_sessions_only(store: Store) -> None:
    settings = SignalSettings(ingest_overlap=timedelta(0))
    store.insert_interactions([interaction(session_id="old", timestamp=T0)])
    first = run_signals(store, settings, now=T0 + timedelta(hours=1))
    assert first.sessions == 1
    store.insert_interactions([interaction(session_id="new", timestamp=T0 + timedelta(hours=1))])
    second = run_signals(store, settings, now=T0 + timedelta(hours=1, minutes=1))
    assert second.sessions == 1 and not second.full
    # The "new" session's abandonment window closes meanwhile.
    third = run_signals(store, settings, now=T0 + timedelta(hours=2))
    assert third.inserted == {"abandon": 1}


def test_edits_are_analysed_once_and_copies_after_edits_are_told_apart(store: Store) -> None:
    answer = interaction(raw_output="Refunds take 30 days. Contact support for help.")
    store.insert_interactions([answer])
    store.insert_feedback(
        [
            feedback(answer.interaction_id, "edit", user_edit="Refunds take 5 business days."),
            feedback(
                answer.interaction_id,
                "copy",
                metadata={"edited": True},
                timestamp=T0 + timedelta(minutes=2),
            ),
        ]
    )
    assert run_signals(store, now=T0).edits_analysed == 1
    assert run_signals(store, now=T0).edits_analysed == 0
    [analysis] = store.fetch_all("SELECT * FROM edit_analyses")
    assert analysis["direction"] == "shortened" and analysis["words_added"] == 2
    [summary] = queries.version_summary(store)
    assert summary["copy_rate"] == 1.0 and summary["copy_without_edit_rate"] == 0.0
