"""One behaviour, every backend: each test runs on DuckDB and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promptloop.analytics import queries
from promptloop.analytics.queries import InteractionFilter
from promptloop.store import Store, open_store
from promptloop.store.schema import LATEST_VERSION
from tests.support.records import T0, feedback, interaction, new_id


def test_schema_is_migrated_and_migrating_again_changes_nothing(store: Store) -> None:
    assert store.schema_version() == LATEST_VERSION
    assert store.migrate() == LATEST_VERSION
    rows = store.fetch_all("SELECT count(*) AS n FROM promptloop_schema_migrations")
    assert rows[0]["n"] == LATEST_VERSION


def test_reopening_an_existing_store_keeps_its_data(store_url: str) -> None:
    first = open_store(store_url)
    first.insert_interactions([interaction()])
    first.close()
    again = open_store(store_url)
    assert again.fetch_all("SELECT count(*) AS n FROM llm_interaction_logs")[0]["n"] == 1
    again.close()


def test_every_field_round_trips(store: Store) -> None:
    record = interaction(
        user_input="¿Qué tal? 数据 'quoted' \"double\" 100%",
        metadata={"ab_variant": "B", "flags": {"beta": True}, "n": [1, 2]},
        parent_interaction_id=new_id(),
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        error="TimeoutError: upstream",
        cost_usd=0.0012,
        prompt_hash="sha256:abc",
    )
    assert store.insert_interactions([record]) == 1
    row = store.fetch_all(
        "SELECT * FROM llm_interaction_logs WHERE interaction_id = :id",
        {"id": record.interaction_id},
    )[0]
    for name, value in record.to_row().items():
        assert row[name] == value, name
    assert row["ingested_at"] is not None


def test_inserts_are_idempotent_across_and_within_batches(store: Store) -> None:
    first, second = interaction(), interaction()
    assert store.insert_interactions([first, first, second]) == 2
    assert store.insert_interactions([first, second]) == 0
    event = feedback(first.interaction_id, "thumbs_down", category="wrong")
    assert store.insert_feedback([event, event]) == 1
    assert store.insert_feedback([event]) == 0
    counts = store.fetch_all(
        "SELECT (SELECT count(*) FROM llm_interaction_logs) AS i,"
        " (SELECT count(*) FROM feedback_events) AS f"
    )[0]
    assert (counts["i"], counts["f"]) == (2, 1)


def test_feedback_may_arrive_before_its_interaction_and_many_per_interaction(store: Store) -> None:
    record = interaction()
    early = feedback(record.interaction_id, "thumbs_down", category="off_topic")
    store.insert_feedback([early])
    orphan = queries.get_interaction(store, record.interaction_id)
    assert orphan is not None and orphan["missing"] is True
    assert [event["feedback_id"] for event in orphan["feedback"]] == [early.feedback_id]
    store.insert_interactions([record])
    later = [
        feedback(record.interaction_id, "regenerate", timestamp=T0 + timedelta(days=2)),
        feedback(
            record.interaction_id, "edit", user_edit="better", timestamp=T0 + timedelta(days=3)
        ),
    ]
    store.insert_feedback(later)
    found = queries.get_interaction(store, record.interaction_id)
    assert found is not None
    assert [event["feedback_type"] for event in found["feedback"]] == [
        "thumbs_down",
        "regenerate",
        "edit",
    ]


def test_list_filters_and_keyset_paging_cover_everything_once(store: Store) -> None:
    records = [
        interaction(
            prompt_version="1.0.0" if i % 2 else "1.1.0",
            feature="chat" if i % 3 else "summarize",
            timestamp=T0 + timedelta(minutes=i // 2),  # pairs share a timestamp
        )
        for i in range(25)
    ]
    store.insert_interactions(records)
    store.insert_feedback([feedback(records[0].interaction_id, "thumbs_down")])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = queries.list_interactions(store, limit=4, cursor=cursor)
        seen.extend(row["interaction_id"] for row in page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(r.interaction_id for r in records)
    assert len(seen) == len(set(seen))

    only = queries.list_interactions(
        store, InteractionFilter(prompt_version="1.0.0", feature="chat"), limit=100
    )
    expected = {
        r.interaction_id for r in records if r.prompt_version == "1.0.0" and r.feature == "chat"
    }
    assert {row["interaction_id"] for row in only.rows} == expected

    window = queries.list_interactions(
        store,
        InteractionFilter(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5)),
        limit=100,
    )
    assert len(window.rows) == 4
    negative = queries.list_interactions(store, InteractionFilter(feedback_type="thumbs_down"))
    assert [row["interaction_id"] for row in negative.rows] == [records[0].interaction_id]


def test_most_common_inputs_with_negative_feedback(store: Store) -> None:
    now = T0 + timedelta(days=1)
    common = [interaction(user_input=text) for text in ("How do I fix it?", "how do i fix it? ")]
    once = interaction(user_input="Export to PDF")
    rated_low = interaction(user_input="Export to PDF")
    old = interaction(user_input="ancient", timestamp=T0 - timedelta(days=30))
    happy = interaction(user_input="thanks")
    store.insert_interactions([*common, once, rated_low, old, happy])
    store.insert_feedback(
        [
            *(feedback(r.interaction_id, "thumbs_down", category="unhelpful") for r in common),
            feedback(common[0].interaction_id, "report", category="wrong"),
            feedback(once.interaction_id, "correction", user_edit="Use File > Export"),
            feedback(rated_low.interaction_id, "rating", value=1),
            feedback(old.interaction_id, "thumbs_down"),
            feedback(happy.interaction_id, "thumbs_up"),
            feedback(happy.interaction_id, "rating", value=5),
        ]
    )
    rows = queries.top_negative_inputs(store, days=14, now=now)
    assert [(r["normalized_input"], r["interactions"], r["negative_events"]) for r in rows] == [
        ("how do i fix it?", 2, 3),
        ("export to pdf", 2, 2),
    ]


def test_the_seeds_regeneration_query(store: Store) -> None:
    now = T0 + timedelta(days=1)
    flaky = interaction(user_input="Summarise this contract", prompt_version="1.4.0")
    fine = interaction(user_input="Translate hello", prompt_version="1.4.0")
    other = interaction(user_input="Summarise this contract", prompt_version="1.5.0")
    store.insert_interactions([flaky, fine, other])
    store.insert_feedback(
        [
            feedback(flaky.interaction_id, "regenerate", comment="1"),
            feedback(flaky.interaction_id, "regenerate", comment="2"),
            feedback(flaky.interaction_id, "regenerate", comment="3"),
            feedback(fine.interaction_id, "regenerate"),
            feedback(other.interaction_id, "regenerate", comment="1"),
            feedback(other.interaction_id, "regenerate", comment="2"),
        ]
    )
    rows = queries.regenerated_inputs(store, prompt_version="1.4.0", days=14, now=now)
    assert rows == [{"user_input": "Summarise this contract", "regeneration_count": 3}]


def test_version_summary_rates_have_their_denominator(store: Store) -> None:
    v1 = [interaction(prompt_version="1.0.0", latency_ms=100.0 * (i + 1)) for i in range(4)]
    v2 = [interaction(prompt_version="2.0.0", timestamp=T0 + timedelta(hours=1)) for _ in range(2)]
    store.insert_interactions([*v1, *v2])
    store.insert_feedback(
        [
            feedback(v1[0].interaction_id, "thumbs_down"),
            feedback(v1[0].interaction_id, "regenerate"),
            feedback(v1[0].interaction_id, "regenerate", comment="again"),
            feedback(v1[1].interaction_id, "thumbs_up"),
            feedback(v1[2].interaction_id, "copy"),
            feedback(v2[0].interaction_id, "edit", user_edit="x"),
        ]
    )
    rows = {row["prompt_version"]: row for row in queries.version_summary(store)}
    first = rows["1.0.0"]
    assert first["interactions"] == 4
    assert first["regenerated"] == 1 and first["regeneration_rate"] == 0.25
    assert first["thumbs_down_rate"] == 0.25 and first["thumbs_up_rate"] == 0.25
    assert first["copy_rate"] == 0.25 and first["response_rate"] == 0.5
    assert first["mean_latency_ms"] == pytest.approx(250.0)
    assert first["mean_output_tokens"] == pytest.approx(20.0)
    assert rows["2.0.0"]["edit_rate"] == 0.5 and rows["2.0.0"]["response_rate"] == 0.0
    scoped = queries.version_summary(store, InteractionFilter(since=T0 + timedelta(minutes=30)))
    assert [row["prompt_version"] for row in scoped] == ["2.0.0"]


def test_access_pattern_indexes_exist(store: Store) -> None:
    if store.dialect == "postgresql":
        rows = store.fetch_all("SELECT indexname AS name FROM pg_indexes")
    elif store.dialect == "clickhouse":
        # Data-skipping indexes; the sorting keys serve feature/version/type and time.
        rows = store.fetch_all(
            "SELECT name FROM system.data_skipping_indices WHERE database = currentDatabase()"
        )
        keys = store.fetch_all(
            "SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase()"
        )
        sorting = {row["name"]: row["sorting_key"] for row in keys}
        assert sorting["llm_interaction_logs"].startswith("feature, prompt_version, timestamp")
        assert sorting["feedback_events"].startswith("feedback_type, timestamp")
    else:
        rows = store.fetch_all("SELECT index_name AS name FROM duckdb_indexes()")
    names = {row["name"] for row in rows}
    assert "ix_feedback_interaction" in names
    if store.dialect == "postgresql":
        assert {
            "ix_logs_prompt_version_ts",
            "ix_feedback_type_ts",
            "ix_logs_feature_ts",
            "ix_logs_session_ts",
        } <= names
