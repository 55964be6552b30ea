"""Local mode on PostgreSQL: the same commands, the same answers as on DuckDB."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import PROMPT, SHOWN_ID, cli, prompt_repo

pytestmark = pytest.mark.postgres


def run_json(store_url: str, *args: str) -> Any:
    result = cli(["--store", store_url, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _without(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without(item, key) for item in value]
    return value


def test_commands_on_postgres(pg_data_url: str) -> None:
    assert run_json(pg_data_url, "stats")["store"] == {
        "dialect": "postgresql",
        "schema_version": run_json(pg_data_url, "stats")["store"]["schema_version"],
        "interactions": 7,
        "feedback_events": 14,
    }
    shown = cli(["--store", pg_data_url, "interactions", "show", SHOWN_ID])
    assert shown.exit_code == 0 and "3 feedback events" in shown.stdout
    versions = cli(["--store", pg_data_url, "query", "versions", "--days", "14"])
    assert "66.7% (2/3)" in versions.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["interactions", "list"],
        ["interactions", "list", "--limit", "2", "--feature", "support-chat"],
        ["interactions", "show", SHOWN_ID],
        ["query", "negative-inputs", "--days", "30"],
        ["query", "regenerated-inputs", "--prompt-version", "v1.4"],
        ["query", "versions"],
        ["prompts", "list"],
        ["prompts", "show", PROMPT, "--label", "staging"],
        ["prompts", "diff", PROMPT, "1.0.0", "1.2.0"],
    ],
)
def test_postgres_and_duckdb_give_the_same_json(
    pg_data_url: str, duck_url: str, args: list[str]
) -> None:
    on_pg = run_json(pg_data_url, *args)
    on_duck = run_json(duck_url, *args)
    assert _without(on_pg, "ingested_at") == _without(on_duck, "ingested_at")


def test_unregistered_versions_are_the_same_on_both(pg_data_url: str, duck_url: str) -> None:
    """The same rows; the order of versions seen equally often is the backend's."""

    def rows(url: str) -> list[tuple[str, str, int]]:
        items = run_json(url, "prompts", "unregistered")["items"]
        return sorted((i["prompt_name"], i["prompt_version"], i["interactions"]) for i in items)

    assert rows(pg_data_url) == rows(duck_url)
    assert len(rows(duck_url)) == 4


def test_sql_on_postgres(pg_data_url: str) -> None:
    rows = run_json(
        pg_data_url,
        "sql",
        "SELECT feedback_type, count(*) AS n FROM feedback_events GROUP BY 1 ORDER BY 1",
    )
    assert {"feedback_type": "regenerate", "n": 4} in rows
    refused = cli(["--store", pg_data_url, "sql", "TRUNCATE feedback_events"])
    assert refused.exit_code == 2
    assert run_json(pg_data_url, "stats")["store"]["feedback_events"] == 14


def test_migrate_on_postgres(pg_url: str) -> None:
    report = run_json(pg_url, "migrate")
    assert report["previous_version"] == 0 and report["schema_version"] >= 1
    assert run_json(pg_url, "stats")["store"]["interactions"] == 0


def test_unreachable_postgres_exits_2_without_showing_the_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://someone:hunter2@127.0.0.1:{port}/nowhere"
    result = cli(["--store", url, "stats"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --store: cannot open postgresql://someone:***@")
    assert "hunter2" not in result.output


def test_prompt_writes_on_postgres(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "greeter.md"
    path.write_text("---\nmodel: m1\n---\nGreet {{name}}.\n", encoding="utf-8")
    assert run_json(pg_url, "prompts", "push", str(path))["version"] == "1.0.0"
    assert run_json(pg_url, "prompts", "push", str(path))["created"] is False
    path.write_text("Greet {{name}} warmly.\n", encoding="utf-8")
    refused = cli(["--store", pg_url, "prompts", "push", str(path)])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: --rationale: ")
    pushed = run_json(pg_url, "prompts", "push", str(path), "--rationale", "Too cold")
    assert pushed["version"] == "1.1.0"
    run_json(pg_url, "prompts", "promote", "greeter", "1.0.0", "--reason", "first")
    run_json(pg_url, "prompts", "promote", "greeter", "1.1.0", "--actor", "bob", "--reason", "go")
    back = run_json(pg_url, "prompts", "rollback", "greeter", "--reason", "complaints")
    assert (back["from_version"], back["to_version"]) == ("1.1.0", "1.0.0")
    log = cli(["--store", pg_url, "prompts", "log", "greeter"]).stdout
    for line in (
        "rollback production 1.1.0 -> 1.0.0 by dana: complaints",
        "deploy production 1.0.0 -> 1.1.0 by bob: go",
        "Too cold",
    ):
        assert line in log
    deployments = run_json(pg_url, "prompts", "deployments", "greeter")["items"]
    assert [item["action"] for item in deployments] == ["promote", "promote", "rollback"]


def test_sync_and_signals_on_postgres(pg_data_url: str, tmp_path: Path) -> None:
    repo = prompt_repo(tmp_path / "prompts")
    assert run_json(pg_data_url, "prompts", "sync", str(repo))["created"] == 4
    assert run_json(pg_data_url, "prompts", "sync", str(repo))["created"] == 0
    versions = run_json(pg_data_url, "prompts", "list")["items"]
    assert {item["prompt_name"]: item["versions"] for item in versions} == {
        "email/reply": 1,
        "summarizer": 2,
        PROMPT: 4,
    }
    first = run_json(pg_data_url, "signals", "run")
    assert first["edits_analysed"] == 1 and sum(first["inserted"].values()) > 0
    assert run_json(pg_data_url, "signals", "run")["inserted"] == {}
    edits = run_json(pg_data_url, "query", "edits")["items"]
    assert [(row["prompt_version"], row["edits"]) for row in edits] == [("v1.5", 1)]
