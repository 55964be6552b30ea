"""PostgreSQL's bulk insert path: binary COPY into a session's temporary table, then
``INSERT ... ON CONFLICT DO NOTHING`` with the rollup upsert in the same statement.

What the binary COPY must keep from the text format it replaced: every value read back as
sent (text with quotes, tabs, backslashes and non-ASCII; NULLs; enums as their value;
metadata as JSON, NaN as null; naive and non-UTC timestamps as the same UTC instant), a
retried batch inserts and counts nothing, a value a column cannot hold is a StoreError that
leaves the connection usable, and the rollup stays equal to a recomputation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.exceptions import StoreError
from promptloop.store import rollup
from promptloop.store.postgres import PostgresStore
from tests.support.records import T0, feedback, interaction

ODD_TEXT = 'it\'s \t"quoted"\\N \\ back\\slash\nnew line, café 数据 🙂'


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url)
    store.migrate()
    yield store
    store.close()


def _one(store: PostgresStore, sql: str, **params: object) -> dict[str, object]:
    rows = store.fetch_all(sql, params)
    assert len(rows) == 1
    return rows[0]


def test_values_read_back_as_sent(pg: PostgresStore) -> None:
    odd = interaction(
        user_input=ODD_TEXT,
        raw_output="",
        system_prompt=None,
        input_tokens=0,
        output_tokens=None,
        latency_ms=12.5,
        cost_usd=0.000125,
        error="Timeout: upstream",
        timestamp=datetime(2026, 11, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        metadata={"nested": {"list": [1, 2.5, None, "é"]}, "nan": float("nan"), "flag": True},
    )
    assert pg.insert_interactions([odd]) == 1
    row = _one(
        pg, "SELECT * FROM llm_interaction_logs WHERE interaction_id = :id", id=odd.interaction_id
    )
    assert row["user_input"] == ODD_TEXT
    assert row["raw_output"] == ""
    assert row["system_prompt"] is None and row["output_tokens"] is None
    assert row["input_tokens"] == 0 and row["latency_ms"] == 12.5
    assert row["cost_usd"] == 0.000125 and row["error"] == "Timeout: upstream"
    assert row["timestamp"] == datetime(2026, 11, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert row["metadata"] == {"nested": {"list": [1, 2.5, None, "é"]}, "nan": None, "flag": True}
    assert row["ingested_at"] is not None  # the column default still applies

    event = feedback(
        odd.interaction_id, "rating", value=2, comment=ODD_TEXT, category="wrong", source="user"
    )
    assert pg.insert_feedback([event]) == 1
    stored = _one(pg, "SELECT * FROM feedback_events WHERE feedback_id = :id", id=event.feedback_id)
    assert stored["feedback_type"] == "rating" and stored["source"] == "user"  # enum values
    assert stored["comment"] == ODD_TEXT and stored["value"] == 2.0
    assert stored["category"] == "wrong" and stored["user_edit"] is None
    assert stored["metadata"] == {}
    assert pg.fetch_all(rollup.differences_sql("postgresql")) == []


def test_a_naive_timestamp_is_utc(pg: PostgresStore) -> None:
    # Validation makes timestamps aware; a record built without it still lands as UTC,
    # as the session's time zone made it in the text format.
    valid = interaction()
    naive = Interaction.model_construct(
        **{**valid.model_dump(), "timestamp": datetime(2026, 11, 2, 8, 0)}
    )
    assert pg.insert_interactions([naive]) == 1
    row = _one(
        pg,
        "SELECT timestamp FROM llm_interaction_logs WHERE interaction_id = :id",
        id=valid.interaction_id,
    )
    assert row["timestamp"] == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_a_retried_batch_inserts_and_counts_nothing(pg: PostgresStore) -> None:
    calls = [interaction(user_input=f"question {n}") for n in range(50)]
    events = [feedback(c.interaction_id, "thumbs_down") for c in calls]
    assert pg.insert_interactions(calls) == 50
    assert pg.insert_feedback(events) == 50
    before = pg.fetch_all(f"SELECT * FROM {rollup.TABLE} ORDER BY interaction_id")

    assert pg.insert_interactions(calls) == 0
    assert pg.insert_feedback(events) == 0
    # Part old, part new: only the new ones count, and only they reach the rollup.
    more = [feedback(c.interaction_id, "regenerate") for c in calls[:10]]
    assert pg.insert_feedback([*events[:20], *more]) == 10

    counts = _one(
        pg,
        "SELECT (SELECT count(*) FROM llm_interaction_logs) AS logs,"
        " (SELECT count(*) FROM feedback_events) AS events",
    )
    assert counts == {"logs": 50, "events": 60}
    after = pg.fetch_all(f"SELECT * FROM {rollup.TABLE} ORDER BY interaction_id")
    assert [r["negative_events"] for r in after] == [r["negative_events"] for r in before]
    assert sum(r["regenerate_events"] for r in after) == 10
    assert pg.fetch_all(rollup.differences_sql("postgresql")) == []


def test_a_value_the_column_cannot_hold_fails_the_batch_only(pg: PostgresStore) -> None:
    fine = interaction()
    too_big = interaction(input_tokens=2**40)  # beyond INTEGER
    with pytest.raises(StoreError):
        pg.insert_interactions([fine, too_big])
    # Nothing of the failed batch was written, and the connection works on.
    assert _one(pg, "SELECT count(*) AS n FROM llm_interaction_logs") == {"n": 0}
    assert pg.insert_interactions([fine]) == 1
    assert pg.insert_feedback([feedback(fine.interaction_id, "thumbs_up")]) == 1
    assert pg.fetch_all(rollup.differences_sql("postgresql")) == []


def test_a_failed_first_batch_of_a_session_does_not_lose_the_temporary_table(
    pg_url: str,
) -> None:
    # The first batch of a connection creates the temporary table; when that transaction
    # rolls back, the table is gone and the next batch must create it again.
    setup = PostgresStore(pg_url)
    setup.migrate()
    setup.close()
    store = PostgresStore(pg_url)
    try:
        with pytest.raises(StoreError):
            store.insert_feedback([_with_bad_value()])
        assert store.insert_feedback([feedback(interaction().interaction_id, "copy")]) == 1
        assert store.insert_feedback([feedback(interaction().interaction_id, "thumbs_down")]) == 1
    finally:
        store.close()


def _with_bad_value() -> FeedbackEvent:
    event = feedback(interaction().interaction_id, "thumbs_up", timestamp=T0)
    return FeedbackEvent.model_construct(**{**event.model_dump(), "value": "not a number"})
