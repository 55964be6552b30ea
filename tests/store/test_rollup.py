"""The interaction_signals rollup always equals a from-scratch recomputation.

Every test writes through the store's real insert paths (and the signal job's retraction
path), then compares the stored rollup with :func:`rollup.from_scratch_sql` row by row
(``differences_sql`` is empty) and checks a few values by hand.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from promptloop.core.records import utc_now
from promptloop.signals.jobs import run_signals
from promptloop.store import Store, open_store, rollup
from tests.support.records import T0, feedback, interaction


@pytest.fixture(params=("duckdb", "postgresql", "clickhouse"))
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The backends whose insert paths maintain the rollup (``signal_rollup``)."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/store.duckdb"
    if request.param == "clickhouse":  # materialized views keep it (store/clickhouse.py)
        chdb_url: str = request.getfixturevalue("chdb_conformance").url()
        return chdb_url
    url: str = request.getfixturevalue("pg_url")
    return url


def differences(store: Store) -> list[dict[str, Any]]:
    return store.fetch_all(rollup.differences_sql(store.dialect))


def row(store: Store, interaction_id: str) -> dict[str, Any] | None:
    found = store.fetch_all(
        f"SELECT * FROM {rollup.TABLE} WHERE interaction_id = :id", {"id": interaction_id}
    )
    return found[0] if found else None


def test_feedback_before_its_interaction_then_retried(store: Store) -> None:
    later = interaction(user_input="  Export to PDF?  ")
    events = [
        feedback(later.interaction_id, "regenerate", timestamp=T0 + timedelta(minutes=3)),
        feedback(later.interaction_id, "thumbs_down", timestamp=T0 + timedelta(minutes=2)),
        feedback(later.interaction_id, "rating", value=2, timestamp=T0 + timedelta(minutes=5)),
        feedback(later.interaction_id, "copy", metadata={"edited": True}),
    ]
    assert store.insert_feedback(events) == 4
    early = row(store, later.interaction_id)
    assert early is not None and early["timestamp"] is None and early["feature"] is None
    assert early["negative_events"] == 2 and early["regenerate_events"] == 1
    assert early["first_copy_at"] is not None and early["first_copy_unedited_at"] is None
    assert differences(store) == []

    assert store.insert_interactions([later]) == 1
    # A retried batch (the same IDs again, one new event) counts only the new event.
    again = feedback(later.interaction_id, "regenerate", timestamp=T0 + timedelta(minutes=1))
    assert store.insert_feedback([*events, again]) == 1
    assert store.insert_interactions([later]) == 0
    stored = row(store, later.interaction_id)
    assert stored is not None
    assert stored["feature"] == "chat" and stored["has_error"] == 0
    assert stored["regenerate_events"] == 2 and stored["negative_events"] == 2
    assert stored["first_regenerate_at"] == T0 + timedelta(minutes=1)
    assert stored["first_negative_at"] == T0 + timedelta(minutes=2)
    assert stored["last_negative_at"] == T0 + timedelta(minutes=5)
    assert differences(store) == []


def test_many_interactions_in_batches_and_insert_rows(store: Store) -> None:
    logs = [
        interaction(
            user_input=f"question {i % 7}",
            prompt_version=f"1.{i % 3}.0",
            error="boom" if i % 11 == 0 else None,
            timestamp=T0 + timedelta(minutes=i),
        )
        for i in range(60)
    ]
    kinds = ["thumbs_up", "thumbs_down", "edit", "regenerate", "copy", "abandon", "report"]
    events = [
        feedback(
            logs[(i * 7) % 60].interaction_id,
            kinds[i % len(kinds)],
            timestamp=T0 + timedelta(minutes=i, seconds=30),
            user_edit="edited text" if kinds[i % len(kinds)] == "edit" else None,
        )
        for i in range(150)
    ]
    store.insert_feedback(events[:50])
    store.insert_interactions(logs[:30])
    store.insert_feedback(events[50:120])
    store.insert_interactions(logs[30:])
    # insert_rows (plain rows, as tests and tools write them) maintains it too.
    rows = [
        {
            "feedback_id": e.feedback_id,
            "interaction_id": e.interaction_id,
            "feedback_type": e.feedback_type.value,
            "source": e.source.value,
            "metadata": "{}",
            "timestamp": e.timestamp,
        }
        for e in events[110:]
    ]
    assert store.insert_rows("feedback_events", rows) == 30
    assert differences(store) == []
    total = store.fetch_all(f"SELECT count(*) AS n FROM {rollup.TABLE}")[0]["n"]
    assert total == 60


def test_retracted_inferred_events_recompute_the_rows(store: Store) -> None:
    now = utc_now()
    turn = interaction(session_id="s-r", timestamp=now - timedelta(hours=3))
    store.insert_interactions([turn])
    store.insert_feedback([feedback(turn.interaction_id, "thumbs_down", timestamp=turn.timestamp)])
    run_signals(store, now=now)
    inferred = row(store, turn.interaction_id)
    assert inferred is not None and inferred["first_abandon_at"] is not None
    # A late copy shows the user got what they needed: the abandonment is retracted.
    store.insert_feedback(
        [feedback(turn.interaction_id, "copy", timestamp=turn.timestamp + timedelta(minutes=1))]
    )
    report = run_signals(store, now=now + timedelta(minutes=1))
    assert report.retracted["abandon"] == 1
    stored = row(store, turn.interaction_id)
    assert stored is not None and stored["first_abandon_at"] is None
    assert stored["first_copy_at"] is not None and stored["negative_events"] == 1
    assert differences(store) == []


def test_rebuild_restores_a_damaged_rollup(store: Store) -> None:
    first = interaction()
    store.insert_interactions([first])
    store.insert_feedback([feedback(first.interaction_id, "thumbs_down")])
    store.execute(f"UPDATE {rollup.TABLE} SET negative_events = 7, feature = 'x'")
    assert len(differences(store)) == 2  # the stored row and the fresh one
    rollup.rebuild(store)
    assert differences(store) == []


def test_migration_fills_the_rollup_from_rows_already_stored(tmp_path: Any) -> None:
    """A store written before migration 6 (rows only) gets its rollup when it migrates."""
    url = f"duckdb:///{tmp_path}/old.duckdb"
    store = open_store(url)
    logs = [interaction(user_input=f"q{i}") for i in range(5)]
    store.insert_interactions(logs)
    store.insert_feedback([feedback(logs[0].interaction_id, "edit", user_edit="better")])
    store.execute(f"DROP TABLE {rollup.TABLE}")
    store.execute("DELETE FROM promptloop_schema_migrations WHERE version = 6")
    store.close()
    reopened = open_store(url)
    try:
        assert differences(reopened) == []
        assert reopened.fetch_all(f"SELECT count(*) AS n FROM {rollup.TABLE}")[0]["n"] == 5
    finally:
        reopened.close()


@pytest.mark.parametrize("feedback_first", [True, False])
def test_order_of_arrival_does_not_matter(store: Store, feedback_first: bool) -> None:
    logs = [interaction(timestamp=T0 + timedelta(seconds=i)) for i in range(10)]
    events = [
        feedback(
            logs[i % 10].interaction_id,
            ["thumbs_down", "follow_up", "rating", "correction"][i % 4],
            value=float(1 + i % 5),
            timestamp=T0 + timedelta(seconds=100 - i),
            user_edit="the right answer" if i % 4 == 3 else None,
        )
        for i in range(24)
    ]
    if feedback_first:
        for part in (events[:13], events[13:]):
            store.insert_feedback(part)
        store.insert_interactions(logs)
    else:
        store.insert_interactions(logs)
        for event in events:
            store.insert_feedback([event])
    assert differences(store) == []
