"""What only the ClickHouse store does: its DDL (single node and cluster), its URL options,
and the SQL it translates (JSON text, percentiles, upserts, constraints, transactions)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from promptloop.exceptions import ConfigError, ConstraintViolation, StoreError
from promptloop.store import open_store, schema
from promptloop.store.clickhouse import ClickHouseStore, migration_statements
from promptloop.store.clickhouse_schema import ClusterConfig, cluster_ddl, from_portable
from tests.support.records import T0, interaction

DOC = Path(__file__).resolve().parents[2] / "docs" / "clickhouse.md"


@pytest.fixture(scope="module")
def ch(chdb_dir: Path) -> Iterator[ClickHouseStore]:
    store = open_store(f"chdb://{chdb_dir}?database=unit_{uuid.uuid4().hex[:8]}&ttl_days=400")
    assert isinstance(store, ClickHouseStore)
    yield store
    store.close()


def test_single_node_tables_are_designed_for_clickhouse(ch: ClickHouseStore) -> None:
    tables = {
        row["name"]: row
        for row in ch.fetch_all(
            "SELECT name, engine, sorting_key, partition_key, create_table_query"
            " FROM system.tables WHERE database = currentDatabase()"
        )
    }
    logs, events = tables["llm_interaction_logs"], tables["feedback_events"]
    assert logs["engine"] == events["engine"] == "ReplacingMergeTree"
    assert logs["sorting_key"] == "feature, prompt_version, timestamp, interaction_id"
    assert events["sorting_key"] == "feedback_type, timestamp, feedback_id"
    assert logs["partition_key"] == events["partition_key"] == "toYYYYMM(timestamp)"
    # ttl_days=400 in the URL: retention by TTL on both event tables.
    for row in (logs, events):
        assert "TTL toDateTime(timestamp) + toIntervalDay(400)" in row["create_table_query"]
    assert tables["prompt_versions"]["sorting_key"] == "prompt_name, version"
    skipping = {
        row["name"]
        for row in ch.fetch_all(
            "SELECT name FROM system.data_skipping_indices WHERE database = currentDatabase()"
        )
    }
    assert {"ix_logs_id", "ix_feedback_interaction", "ix_logs_session_ts"} <= skipping


def test_every_migration_has_clickhouse_statements() -> None:
    for migration in schema.MIGRATIONS:
        statements = migration_statements(migration)
        assert statements, migration.name
        created = [s for s in statements if s.startswith("CREATE TABLE")]
        assert all("ENGINE = ReplacingMergeTree" in s for s in created)


CLUSTER = ClusterConfig(cluster="promptloop", database="promptloop")


def test_cluster_ddl_is_replicated_and_distributed() -> None:
    first = schema.MIGRATIONS[0]
    ddl = cluster_ddl(migration_statements(first), CLUSTER)
    text = "\n".join(ddl)
    assert "CREATE TABLE IF NOT EXISTS llm_interaction_logs_local ON CLUSTER promptloop (" in text
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/promptloop/llm_interaction_logs_local', '{replica}')"
    ) in text
    assert (
        "CREATE TABLE IF NOT EXISTS llm_interaction_logs ON CLUSTER promptloop"
        " AS llm_interaction_logs_local\n"
        "ENGINE = Distributed(promptloop, promptloop, llm_interaction_logs_local,"
        " cityHash64(interaction_id))"
    ) in text
    # Feedback is sharded by its interaction: the join stays on one shard.
    assert (
        "Distributed(promptloop, promptloop, feedback_events_local, cityHash64(interaction_id))"
        in text
    )
    assert all("ON CLUSTER promptloop" in statement for statement in ddl), (
        "every statement runs on every node"
    )
    assert any(s.startswith("ALTER TABLE feedback_events_local ON CLUSTER") for s in ddl)


def test_the_docs_show_the_generated_cluster_ddl() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for statement in cluster_ddl(migration_statements(schema.MIGRATIONS[0]), CLUSTER)[:4]:
        assert statement in doc, statement[:80]


def test_portable_ddl_outside_the_subset_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="GEOMETRY"):
        from_portable(["CREATE TABLE IF NOT EXISTS t (\n    a GEOMETRY\n)"])


def test_url_options_are_checked(chdb_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown ClickHouse URL option"):
        open_store(f"chdb://{chdb_dir}?databse=x")
    with pytest.raises(ConfigError, match="ttl_days"):
        open_store(f"chdb://{chdb_dir}?ttl_days=soon")
    with pytest.raises(ConfigError, match="one engine per process"):
        open_store(f"chdb://{chdb_dir}/elsewhere?database=x")


def test_json_text_is_read_as_postgresql_reads_it(ch: ClickHouseStore) -> None:
    record = interaction(metadata={"edited": True, "variant": "B", "n": 3, "none": None})
    ch.insert_interactions([record])
    row = ch.fetch_all(
        "SELECT metadata->>'edited' AS edited, metadata->>'variant' AS variant,"
        " metadata->>'n' AS n, metadata->>'none' AS none, metadata->>'missing' AS missing"
        " FROM llm_interaction_logs WHERE interaction_id = :id",
        {"id": record.interaction_id},
    )[0]
    assert row == {"edited": "true", "variant": "B", "n": "3", "none": None, "missing": None}


def test_percentile_cont_interpolates_like_postgresql(ch: ClickHouseStore) -> None:
    records = [
        interaction(feature="pct", latency_ms=float(ms), timestamp=T0 + timedelta(seconds=i))
        for i, ms in enumerate((10, 20, 30, 40))
    ]
    ch.insert_interactions(records)
    row = ch.fetch_all(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS median,"
        " percentile_cont(0.9) WITHIN GROUP (ORDER BY latency_ms) AS p90"
        " FROM llm_interaction_logs WHERE feature = 'pct'"
    )[0]
    assert row["median"] == pytest.approx(25.0) and row["p90"] == pytest.approx(37.0)


LABEL_INSERT = (
    "INSERT INTO prompt_labels (prompt_name, label, version, updated_at) VALUES (:n, :l, :v, :t)"
)


def test_upserts_and_constraints(ch: ClickHouseStore) -> None:
    upsert = (
        "INSERT INTO signal_job_state (job, watermark, last_now, last_run_at)"
        " VALUES (:job, :w, :now, :now) ON CONFLICT (job) DO UPDATE SET"
        " watermark = excluded.watermark, last_run_at = excluded.last_run_at"
    )
    ch.execute(upsert, {"job": "j", "w": T0, "now": T0})
    ch.execute(upsert, {"job": "j", "w": T0 + timedelta(hours=1), "now": T0 + timedelta(days=1)})
    rows = ch.fetch_all("SELECT * FROM signal_job_state WHERE job = 'j'")
    assert len(rows) == 1
    assert rows[0]["watermark"] == T0 + timedelta(hours=1)
    assert rows[0]["last_now"] == T0  # not in the SET list: kept
    insert = LABEL_INSERT
    ch.execute(insert, {"n": "p", "l": "prod", "v": "1.0.0", "t": T0})
    with pytest.raises(ConstraintViolation, match="prompt_labels"):
        ch.execute(insert, {"n": "p", "l": "prod", "v": "2.0.0", "t": T0})
    nothing = insert + " ON CONFLICT DO NOTHING"
    ch.execute(nothing, {"n": "p", "l": "prod", "v": "3.0.0", "t": T0})
    assert [r["version"] for r in ch.fetch_all("SELECT version FROM prompt_labels")] == ["1.0.0"]


def test_a_transaction_checks_every_statement_before_writing(ch: ClickHouseStore) -> None:
    write = LABEL_INSERT
    with pytest.raises(StoreError, match=re.escape(":t was not given")):
        ch.transaction(
            [
                (write, {"n": "tx", "l": "a", "v": "1", "t": T0}),
                (write, {"n": "tx", "l": "b", "v": "1"}),
            ]
        )
    assert ch.fetch_all("SELECT * FROM prompt_labels WHERE prompt_name = 'tx'") == []
    ch.transaction(
        [
            (write, {"n": "tx", "l": "a", "v": "1", "t": T0}),
            ("UPDATE prompt_labels SET version = :v WHERE prompt_name = 'tx'", {"v": "2"}),
            ("DELETE FROM prompt_labels WHERE label = :l AND prompt_name = 'tx'", {"l": "zz"}),
        ]
    )
    assert [
        r["version"]
        for r in ch.fetch_all("SELECT version FROM prompt_labels WHERE prompt_name = 'tx'")
    ] == ["2"]


def test_a_row_two_writers_raced_to_insert_is_read_once(chdb_dir: Path) -> None:
    """Both writers passed the key check: ReplacingMergeTree keeps one row after a merge,
    and ``final=1`` reads one row before it."""
    name = f"race_{uuid.uuid4().hex[:8]}"
    plain = open_store(f"chdb://{chdb_dir}?database={name}")
    final = open_store(f"chdb://{chdb_dir}?database={name}&final=1")
    assert isinstance(plain, ClickHouseStore)
    try:
        raced = (
            "INSERT INTO llm_interaction_logs (interaction_id, feature, timestamp)"
            " VALUES ('raced', 'chat', toDateTime64('2026-11-01 12:00:00', 6, 'UTC'))"
        )
        for _ in range(2):  # the engine directly: what two racing writers would leave
            plain._engine.command(raced)
        count = "SELECT count(*) AS n FROM llm_interaction_logs"
        assert plain.fetch_all(count)[0]["n"] == 2
        assert final.fetch_all(count)[0]["n"] == 1
        plain._engine.command("OPTIMIZE TABLE llm_interaction_logs FINAL")
        assert plain.fetch_all(count)[0]["n"] == 1
    finally:
        plain.execute(f"DROP DATABASE IF EXISTS {name}")
        final.close()
        plain.close()


def test_a_store_from_before_the_signal_views_gets_them_filled(ch: ClickHouseStore) -> None:
    """A store whose rollup is the plain table (made before the views) gets the
    AggregatingMergeTree and its views on migrate, filled from the rows it holds; after
    that, inserts and deletes keep it equal to a from-scratch recomputation."""
    from promptloop.store import rollup
    from promptloop.store.clickhouse import SIGNAL_VIEWS
    from tests.support.records import feedback

    store = ch  # left migrated, with its views, as the other tests found it
    logs = [interaction(user_input=f"q{i}") for i in range(4)]
    store.insert_interactions(logs)
    for view in SIGNAL_VIEWS.values():
        store.execute(f"DROP VIEW {view}")
    store.execute(f"DROP TABLE {rollup.TABLE}")
    store.execute(from_portable([rollup.ddl("VARCHAR", "DOUBLE")])[0])
    store.insert_feedback([feedback(logs[0].interaction_id, "thumbs_down")])
    store.migrate()
    try:
        assert store.fetch_all(rollup.differences_sql(store.dialect)) == []
        engine = store.fetch_all(
            "SELECT engine FROM system.tables WHERE database = currentDatabase()"
            f" AND name = '{rollup.TABLE}'"
        )
        assert engine == [{"engine": "AggregatingMergeTree"}]
        store.insert_feedback([feedback(logs[1].interaction_id, "regenerate")])
        # Deleting a user's events (not seen by the views) recomputes their rows.
        store.execute(
            "DELETE FROM feedback_events WHERE interaction_id = :id",
            {"id": logs[0].interaction_id},
        )
        rows = store.fetch_all(
            f"SELECT interaction_id, negative_events, regenerate_events FROM {rollup.TABLE}"
            " WHERE negative_events > 0 OR regenerate_events > 0"
        )
        assert rows == [
            {
                "interaction_id": logs[1].interaction_id,
                "negative_events": 0,
                "regenerate_events": 1,
            }
        ]
        assert store.fetch_all(rollup.differences_sql(store.dialect)) == []
    finally:
        store.migrate()


def test_repeated_ctes_over_the_rollup_run_once(ch: ClickHouseStore) -> None:
    """A CTE over interaction_signals (read through FINAL) that the query names more than
    once, directly or through other CTEs, is marked AS MATERIALIZED for engines that have
    it; a CTE of whole rows (``*`` over a table) or over the logs stays inlined. Both forms
    answer the same."""
    from promptloop.store.clickhouse_sql import ReadPlan, plan

    repeated = (
        "WITH neg AS (SELECT s.interaction_id, s.negative_events FROM interaction_signals s"
        " WHERE s.negative_events > 0),"
        " top AS (SELECT max(negative_events) AS m FROM neg)"
        " SELECT count(*) AS n FROM neg JOIN top ON neg.negative_events = top.m"
    )
    step = plan(repeated)
    assert isinstance(step, ReadPlan) and step.materialized is not None
    assert "neg AS MATERIALIZED" in step.materialized
    assert "MATERIALIZED" not in step.sql
    assert step.text(False) == step.sql
    wide = (
        "WITH a AS (SELECT * FROM interaction_signals s)"
        " SELECT * FROM a x JOIN a y USING (interaction_id)"
    )
    logs = (
        "WITH a AS (SELECT interaction_id FROM llm_interaction_logs l)"
        " SELECT * FROM a x JOIN a y USING (interaction_id)"
    )
    once = "WITH a AS (SELECT interaction_id FROM interaction_signals s) SELECT * FROM a"
    for sql in (wide, logs, once):
        found = plan(sql)
        assert isinstance(found, ReadPlan) and found.materialized is None
    logs_ = [interaction(user_input=f"m{i}") for i in range(3)]
    ch.insert_interactions(logs_)
    from tests.support.records import feedback

    ch.insert_feedback([feedback(logs_[0].interaction_id, "thumbs_down")])
    assert ch._engine.materialized_cte  # chdb 4.x (ClickHouse 26)
    inlined = ch._engine.query_arrow(step.sql).to_pylist()
    assert ch._engine.query_arrow(step.materialized).to_pylist() == inlined == [{"n": 1}]
    assert ch.fetch_all(repeated) == inlined


def test_the_rollup_keeps_its_low_cardinality_columns_as_dictionaries(
    ch: ClickHouseStore,
) -> None:
    from promptloop.store import rollup

    types = {
        row["name"]: row["type"]
        for row in ch.fetch_all(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase()"
            f" AND table = '{rollup.TABLE}'"
        )
    }
    for column in ("feature", "prompt_name", "prompt_version", "model"):
        assert types[column] == "SimpleAggregateFunction(any, LowCardinality(Nullable(String)))"
    assert types["input_key"] == "SimpleAggregateFunction(any, Nullable(Int64))"
