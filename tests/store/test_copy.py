"""``store copy``: DuckDB -> ClickHouse (chdb) -> PostgreSQL keeps every row; resumes exactly."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from promptloop.cli.main import app
from promptloop.prompts.registry import PromptRegistry
from promptloop.signals.jobs import run_signals
from promptloop.store import Store, open_store
from promptloop.store.copy import copied_tables, copy_store, row_hash
from tests.support.records import T0, feedback, interaction


def seeded(url: str) -> Store:
    """A store with rows in the event tables, the prompt registry and the signal tables."""
    store = open_store(url)
    logs = [
        interaction(
            session_id=f"s-{i % 4}",
            user_input=f"¿Qué tal {i}? 数据 'quoted' 100%",
            metadata={"ab_variant": "AB"[i % 2], "flags": {"beta": i % 3 == 0}, "n": [i, 2]},
            error="TimeoutError" if i % 9 == 0 else None,
            cost_usd=0.001 * i,
            timestamp=T0 + timedelta(minutes=3 * i),
            parent_interaction_id=None,
        )
        for i in range(40)
    ]
    store.insert_interactions(logs)
    kinds = ["thumbs_up", "thumbs_down", "copy", "regenerate", "rating"]
    store.insert_feedback(
        [
            feedback(
                logs[i % 40].interaction_id,
                kinds[i % 5],
                value=float(i % 5 + 1) if kinds[i % 5] == "rating" else None,
                category="wrong" if kinds[i % 5] == "thumbs_down" else None,
                timestamp=T0 + timedelta(minutes=3 * (i % 40) + 1, seconds=i),
            )
            for i in range(75)
        ]
        + [feedback(logs[1].interaction_id, "edit", user_edit="hi there, friend")]
    )
    registry = PromptRegistry(store)
    registry.register("assistant", "You are {{tone}}.", {"temperature": 0.2}, rationale="first")
    second = registry.register("assistant", "You are {{tone}} and brief.", rationale="shorter")
    registry.promote("assistant", second.version.version, actor="ana")
    run_signals(store, now=T0 + timedelta(days=2))
    return store


def all_rows(store: Store) -> dict[str, list[int]]:
    """Every copied table as the sorted hashes of its rows' canonical forms."""
    return {
        table.name: sorted(
            row_hash(row, table) for row in store.fetch_all(f"SELECT * FROM {table.name}")
        )
        for table in copied_tables()
    }


def test_duckdb_to_clickhouse_to_postgresql_keeps_every_row(
    tmp_path: Path, chdb_dir: Path, pg_url: str
) -> None:
    source = seeded(f"duckdb:///{tmp_path}/source.duckdb")
    middle = open_store(f"chdb://{chdb_dir}?database=copy_{uuid.uuid4().hex[:8]}")
    target = open_store(pg_url)
    try:
        expected = all_rows(source)
        assert sum(map(len, expected.values())) > 120
        for name in ("prompt_versions", "prompt_deployments", "edit_analyses", "feedback_events"):
            assert expected[name], name
        first = copy_store(source, middle, checkpoint_path=tmp_path / "a.json", batch_size=16)
        second = copy_store(middle, target, checkpoint_path=tmp_path / "b.json", batch_size=16)
        for report in (first, second):
            assert report.complete and report.verified and not report.mismatches
            assert all(result.matches for result in report.tables)
        assert all_rows(middle) == expected
        assert all_rows(target) == expected
        # The derived rollup is not copied: PostgreSQL keeps its own as the rows arrive
        # (ClickHouse reads the tables instead of keeping one).
        assert target.fetch_all("SELECT count(*) AS n FROM interaction_signals")[0]["n"] == 40
    finally:
        for store in (source, middle, target):
            store.close()


def test_an_interrupted_copy_resumes_and_copies_nothing_twice(tmp_path: Path) -> None:
    source = seeded(f"duckdb:///{tmp_path}/source.duckdb")
    target = open_store(f"duckdb:///{tmp_path}/target.duckdb")
    checkpoint = tmp_path / "copy.json"
    try:
        stopped = copy_store(
            source, target, checkpoint_path=checkpoint, batch_size=7, max_batches=3
        )
        assert not stopped.complete and not stopped.verified
        assert [r.copied for r in stopped.tables][:1] == [21]
        saved = json.loads(checkpoint.read_text())
        # A crash after writing a page but before saving its checkpoint: that page again.
        saved["last_keys"]["llm_interaction_logs"] = None
        checkpoint.write_text(json.dumps(saved))
        resumed = copy_store(source, target, checkpoint_path=checkpoint, batch_size=7)
        assert resumed.complete and resumed.verified and not resumed.mismatches
        logs = resumed.tables[0]
        assert logs.table == "llm_interaction_logs"
        assert logs.read == 40 and logs.copied == 40 - 21  # the re-read 21 were skipped
        totals: dict[str, int] = {}
        for report in (stopped, resumed):
            for result in report.tables:
                totals[result.table] = totals.get(result.table, 0) + result.copied
        for result in resumed.tables:
            assert totals[result.table] == result.source_rows == result.destination_rows
        assert all_rows(target) == all_rows(source)
    finally:
        source.close()
        target.close()


def test_the_cli_reports_a_difference_with_exit_code_1(tmp_path: Path) -> None:
    source_url = f"duckdb:///{tmp_path}/source.duckdb"
    target_url = f"duckdb:///{tmp_path}/target.duckdb"
    seeded(source_url).close()
    runner = CliRunner()
    args = ["store", "copy", source_url, target_url, "--checkpoint", str(tmp_path / "c.json")]
    copied = runner.invoke(app, [*args, "--json"])
    assert copied.exit_code == 0, copied.output
    report: dict[str, Any] = json.loads(copied.output)
    assert report["complete"] and all(t["matches"] for t in report["tables"])
    damaged = open_store(target_url)
    damaged.execute(
        "UPDATE llm_interaction_logs SET raw_output = 'changed' WHERE interaction_id IN"
        " (SELECT min(interaction_id) FROM llm_interaction_logs)"
    )
    damaged.close()
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 1
    differing = [t["table"] for t in json.loads(again.stdout)["tables"] if not t["matches"]]
    assert differing == ["llm_interaction_logs"]
