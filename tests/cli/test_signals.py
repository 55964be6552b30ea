"""``promptloop signals`` and ``promptloop query edits`` in local mode, on DuckDB."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import cli


def run_json(store: str, *args: str) -> Any:
    result = cli(["--store", store, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_signals_run_infers_once(duck_url: str) -> None:
    first = run_json(duck_url, "signals", "run")
    assert first["full"] is True and first["edits_analysed"] == 1
    assert first["sessions"] == 3 and first["retracted"] == {}
    assert sum(first["inserted"].values()) > 0
    again = run_json(duck_url, "signals", "run")
    assert (again["inserted"], again["retracted"], again["full"]) == ({}, {}, False)
    full = run_json(duck_url, "signals", "run", "--full")
    assert full["full"] is True and full["inserted"] == {}  # idempotent
    inferred = run_json(duck_url, "interactions", "list", "--feedback-source", "inferred")
    assert len(inferred["items"]) >= 1


def test_signals_run_table(duck_url: str) -> None:
    result = cli(["--store", duck_url, "signals", "run"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"signal inference on the store {duck_url}: full run" in text
    for line in ("sessions re-examined", "regenerated interactions re-examined", "edits analysed"):
        assert line in text
    assert "inferred" in text and "retracted" in text and "total" in text
    quiet = cli(["--store", duck_url, "signals", "run"]).stdout
    assert "incremental run" in quiet and "no inferred events changed" in quiet


def test_query_edits_after_the_job_analysed_them(duck_url: str) -> None:
    before = cli(["--store", duck_url, "query", "edits"])
    assert before.exit_code == 0 and "no analysed edits match" in before.stdout
    run_json(duck_url, "signals", "run")
    rows = run_json(duck_url, "query", "edits")["items"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["feature"], row["prompt_name"], row["prompt_version"]) == (
        "support-chat",
        "support-assistant",
        "v1.5",
    )
    assert row["edits"] == 1 and row["edited_interactions"] == 1
    assert 0 < row["mean_edit_distance_ratio"] <= 1
    assert row["shortened"] + row["lengthened"] + row["rewritten"] + row["minor"] == 1
    table = cli(["--store", duck_url, "query", "edits", "--feature", "support-chat", "--days", "7"])
    assert "feature support-chat · prompt support-assistant: edits" in table.stdout
    assert "mean edit distance" in table.stdout and "%" in table.stdout
    other = run_json(duck_url, "query", "edits", "--prompt-version", "v1.4")
    assert other["items"] == []
    assert run_json(duck_url, "query", "edits", "--prompt-name", "email-writer")["items"] == []


def test_query_edits_bad_days_exits_2(duck_url: str) -> None:
    assert cli(["--store", duck_url, "query", "edits", "--days", "0"]).exit_code == 2


def test_signals_status_needs_a_collector(duck_url: str) -> None:
    result = cli(["--store", duck_url, "signals", "status"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --url: `signals status` reports the collector's")
