"""``promptloop sql``: one read-only statement, on the local store only."""

from __future__ import annotations

import csv
import io
import json

import pytest

from promptloop.cli._errors import CliError
from promptloop.cli.sql import check_read_only
from promptloop.store import open_store
from tests.cli.conftest import cli


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1",
        "select feature, count(*) from llm_interaction_logs group by 1;",
        "  WITH t AS (SELECT 1 AS x) SELECT x FROM t  ",
        "EXPLAIN SELECT * FROM feedback_events",
        "DESCRIBE llm_interaction_logs",
        "SHOW TABLES",
        "SUMMARIZE feedback_events",
        "SELECT 'insert; drop table x' AS s",  # keywords inside a literal are data
        'SELECT comment, "update" FROM feedback_events',
        "SELECT 1 -- delete everything\n",
        "SELECT replace(user_input, 'a', 'b') FROM llm_interaction_logs",
    ],
)
def test_read_only_statements_pass(statement: str) -> None:
    assert check_read_only(statement) == statement.strip().rstrip(";").strip()


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("DELETE FROM feedback_events", "only read-only statements"),
        ("drop table llm_interaction_logs", "only read-only statements"),
        ("INSERT INTO feedback_events SELECT * FROM feedback_events", "only read-only"),
        ("SELECT 1; DELETE FROM feedback_events", "exactly one statement"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("WITH d AS (DELETE FROM feedback_events RETURNING *) SELECT * FROM d", "found DELETE"),
        ("EXPLAIN ANALYZE UPDATE feedback_events SET value = 1", "found UPDATE"),
        ("SELECT * INTO copy_of_logs FROM llm_interaction_logs", "found INTO"),
        ("SELECT * FROM feedback_events FOR UPDATE", "found UPDATE"),
        ("ATTACH 'other.duckdb'", "only read-only"),
        ("COPY feedback_events TO 'out.csv'", "only read-only"),
        ("PRAGMA version", "only read-only"),
        ("SET threads = 1", "only read-only"),
        ("", "exactly one statement"),
        ("-- only a comment", "exactly one statement"),
        ("SELECT 'unterminated", "unterminated"),
    ],
)
def test_everything_else_is_refused(statement: str, reason: str) -> None:
    with pytest.raises(CliError, match=reason) as caught:
        check_read_only(statement)
    assert caught.value.exit_code == 2


def test_sql_prints_a_table(duck_url: str) -> None:
    result = cli(
        [
            "--store",
            duck_url,
            "sql",
            "SELECT prompt_version, count(*) AS n FROM llm_interaction_logs GROUP BY 1 ORDER BY 1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "prompt_version" in result.stdout and "v1.4" in result.stdout
    assert "4 rows" in result.stdout


def test_sql_json_and_csv(duck_url: str) -> None:
    statement = (
        "SELECT interaction_id, timestamp, metadata FROM llm_interaction_logs "
        "WHERE metadata IS NOT NULL AND user_input LIKE 'What%'"
    )
    as_json = cli(["--store", duck_url, "sql", statement, "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert rows[0]["metadata"] == {"ab_variant": "B", "flag": True}
    assert rows[0]["timestamp"].endswith("Z")
    as_csv = cli(["--store", duck_url, "sql", statement, "--csv"])
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert parsed[0]["interaction_id"] == rows[0]["interaction_id"]
    assert json.loads(parsed[0]["metadata"]) == {"ab_variant": "B", "flag": True}


def test_sql_with_no_rows(duck_url: str) -> None:
    statement = "SELECT * FROM feedback_events WHERE false"
    assert "(no rows)" in cli(["--store", duck_url, "sql", statement]).stdout
    assert json.loads(cli(["--store", duck_url, "sql", statement, "--json"]).stdout) == []
    assert cli(["--store", duck_url, "sql", statement, "--csv"]).stdout == ""


def test_sql_refuses_writes_with_exit_2_and_leaves_the_store_alone(duck_url: str) -> None:
    result = cli(["--store", duck_url, "sql", "DELETE FROM feedback_events"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: STATEMENT: only read-only statements are allowed")
    store = open_store(duck_url, migrate=False)
    try:
        assert store.fetch_all("SELECT count(*) AS n FROM feedback_events")[0]["n"] == 14
    finally:
        store.close()


def test_sql_is_local_only(duck_url: str) -> None:
    result = cli(["--url", "http://127.0.0.1:8321", "sql", "SELECT 1"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --url: ")


def test_sql_json_and_csv_together_exit_2(duck_url: str) -> None:
    result = cli(["--store", duck_url, "sql", "SELECT 1", "--json", "--csv"])
    assert result.exit_code == 2


def test_sql_errors_from_the_engine_exit_1(duck_url: str) -> None:
    result = cli(["--store", duck_url, "sql", "SELECT * FROM no_such_table"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: store error: ")
