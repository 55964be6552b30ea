"""Local mode: the CLI reads a real DuckDB store directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptloop.store import open_store
from tests.cli.conftest import EARLY_FEEDBACK_ID, SECRET_SYSTEM_PROMPT, SHOWN_ID, Dataset, cli


def run_json(store_url: str, *args: str) -> Any:
    result = cli(["--store", store_url, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_interactions_list_table(duck_url: str) -> None:
    result = cli(["--store", duck_url, "interactions", "list"])
    assert result.exit_code == 0, result.output
    assert SHOWN_ID in result.stdout
    assert "What integrations do you support?" in result.stdout
    assert "7 interactions" in result.stdout
    assert "next page" not in result.stdout


def test_interactions_list_json_is_newest_first_with_iso_datetimes(duck_url: str) -> None:
    page = run_json(duck_url, "interactions", "list")
    stamps = [item["timestamp"] for item in page["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(stamp.endswith("Z") for stamp in stamps)
    assert page["next_cursor"] is None
    assert "system_prompt" not in page["items"][0]


def test_interactions_list_pages_with_the_printed_cursor(duck_url: str) -> None:
    first = run_json(duck_url, "interactions", "list", "--limit", "3")
    assert len(first["items"]) == 3 and first["next_cursor"]
    table = cli(["--store", duck_url, "interactions", "list", "--limit", "3"])
    assert f"--cursor {first['next_cursor']}" in table.stdout
    seen = [item["interaction_id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = run_json(duck_url, "interactions", "list", "--limit", "3", "--cursor", cursor)
        seen += [item["interaction_id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--prompt-version", "v1.5"], 2),
        (["--prompt-name", "email-writer"], 1),
        (["--feature", "support-chat"], 6),
        (["--session", "sess-2"], 1),
        (["--model", "m2"], 1),
        (["--feedback-type", "regenerate"], 2),
        (["--feedback-source", "inferred"], 1),
        (["--feedback-source", "user", "--feedback-type", "follow_up"], 0),
        (["--days", "14"], 6),
        (["--feature", "support-chat", "--feedback-type", "thumbs_down", "--days", "7"], 2),
    ],
)
def test_interactions_list_filters(duck_url: str, args: list[str], expected: int) -> None:
    page = run_json(duck_url, "interactions", "list", *args)
    assert len(page["items"]) == expected


def test_since_and_until_take_iso_dates(duck_url: str, dataset: Dataset) -> None:
    since = (dataset.now.replace(tzinfo=None)).isoformat()  # naive: taken as UTC
    assert run_json(duck_url, "interactions", "list", "--since", since)["items"] == []
    until = "2000-01-01"
    assert run_json(duck_url, "interactions", "list", "--until", until)["items"] == []
    window = run_json(duck_url, "interactions", "list", "--since", "2000-01-01T00:00:00Z")
    assert len(window["items"]) == 7


def test_show_prints_panels_and_feedback_with_source(duck_url: str) -> None:
    result = cli(["--store", duck_url, "interactions", "show", SHOWN_ID])
    assert result.exit_code == 0, result.output
    for title in ("input", "output", "system prompt", "metadata", "3 feedback events"):
        assert title in result.stdout
    assert "We support Zapier, Slack and Jira." in result.stdout
    assert SECRET_SYSTEM_PROMPT in result.stdout  # printed as typed: markup is not interpreted
    assert "ab_variant" in result.stdout
    assert "We do not support Zapier" in result.stdout
    assert "user" in result.stdout  # the source column


def test_show_json_has_feedback(duck_url: str) -> None:
    found = run_json(duck_url, "interactions", "show", SHOWN_ID)
    assert found["interaction_id"] == SHOWN_ID
    assert found["system_prompt"] == SECRET_SYSTEM_PROMPT
    assert found["metadata"] == {"ab_variant": "B", "flag": True}
    kinds = [event["feedback_type"] for event in found["feedback"]]
    assert kinds == ["thumbs_down", "regenerate", "regenerate"]
    assert all(event["source"] == "user" for event in found["feedback"])


def test_show_feedback_that_arrived_before_its_interaction(duck_url: str) -> None:
    result = cli(["--store", duck_url, "interactions", "show", EARLY_FEEDBACK_ID])
    assert result.exit_code == 0, result.output
    assert "not stored (yet)" in result.stdout
    assert "thumbs_up" in result.stdout


def test_show_unknown_id_exits_1(duck_url: str) -> None:
    result = cli(["--store", duck_url, "interactions", "show", "no-such-id"])
    assert result.exit_code == 1
    assert "no interaction no-such-id" in result.stderr


def test_interactions_feedback(duck_url: str) -> None:
    found = run_json(duck_url, "interactions", "feedback", SHOWN_ID)
    assert found["items"][0]["feedback_type"] == "thumbs_down"
    table = cli(["--store", duck_url, "interactions", "feedback", SHOWN_ID])
    assert "3 feedback events" in table.stdout


def test_negative_inputs_groups_inputs_and_respects_the_window(duck_url: str) -> None:
    found = run_json(duck_url, "query", "negative-inputs")
    assert found["days"] == 14
    by_input = {item["normalized_input"]: item for item in found["items"]}
    assert by_input["how do i fix it?"]["interactions"] == 2  # thumbs-down + a rating of 1
    assert by_input["what integrations do you support?"]["negative_events"] == 1
    assert "an old complaint" not in by_input  # 20 days ago
    wide = run_json(duck_url, "query", "negative-inputs", "--days", "30")
    assert "an old complaint" in {item["normalized_input"] for item in wide["items"]}


def test_negative_inputs_filters_and_table(duck_url: str) -> None:
    found = run_json(duck_url, "query", "negative-inputs", "--prompt-version", "v1.5")
    assert found["items"] == []
    limited = run_json(
        duck_url, "query", "negative-inputs", "--limit", "1", "--feature", "support-chat"
    )
    assert len(limited["items"]) == 1
    table = cli(["--store", duck_url, "query", "negative-inputs"])
    assert "Inputs with negative feedback, last 14 days" in table.stdout
    assert "How do I fix it?" in table.stdout or "how do I fix it?" in table.stdout


def test_regenerated_inputs_is_the_seeds_query(duck_url: str) -> None:
    found = run_json(duck_url, "query", "regenerated-inputs", "--prompt-version", "v1.4")
    assert found["prompt_version"] == "v1.4"
    assert found["items"] == [
        {"user_input": "How do I fix it?", "regeneration_count": 2},
        {"user_input": "What integrations do you support?", "regeneration_count": 2},
    ]
    more = run_json(
        duck_url, "query", "regenerated-inputs", "--prompt-version", "v1.4", "--min-count", "3"
    )
    assert more["items"] == []


def test_regenerated_inputs_needs_a_prompt_version(duck_url: str) -> None:
    result = cli(["--store", duck_url, "query", "regenerated-inputs"])
    assert result.exit_code == 2
    assert "--prompt-version" in result.output


def test_versions_json_has_rates_with_their_denominator(duck_url: str) -> None:
    found = run_json(duck_url, "query", "versions", "--feature", "support-chat", "--days", "14")
    rows = {row["prompt_version"]: row for row in found["items"]}
    assert set(rows) == {"v1.4", "v1.5"}
    old = rows["v1.4"]
    assert old["interactions"] == 3
    assert old["thumbs_down"] == 2 and old["thumbs_down_rate"] == pytest.approx(2 / 3)
    assert old["regeneration_rate"] == pytest.approx(2 / 3)
    new = rows["v1.5"]
    assert new["copy_rate"] == 0.5 and new["edit_rate"] == 0.5 and new["response_rate"] == 0.5
    assert new["copy_without_edit_rate"] == 0.5  # the copied one was not edited
    assert new["mean_latency_ms"] == 800.0 and new["total_cost_usd"] == pytest.approx(0.004)


def test_versions_table_shows_percentages_with_denominators(duck_url: str) -> None:
    result = cli(["--store", duck_url, "query", "versions", "--prompt-name", "support-assistant"])
    assert result.exit_code == 0, result.output
    assert "feature support-chat · prompt support-assistant" in result.stdout
    assert "66.7% (2/3)" in result.stdout  # thumbs down on v1.4
    assert "50.0% (1/2)" in result.stdout  # copied on v1.5
    assert "response rate" in result.stdout and "800 ms" in result.stdout


def test_versions_with_nothing_to_show(duck_url: str) -> None:
    result = cli(["--store", duck_url, "query", "versions", "--feature", "nope"])
    assert result.exit_code == 0
    assert "no interactions match" in result.stdout


def test_stats(duck_url: str) -> None:
    found = run_json(duck_url, "stats")
    assert found["store"]["interactions"] == 7
    assert found["store"]["feedback_events"] == 14
    assert found["store"]["dialect"] == "duckdb"
    table = cli(["--store", duck_url, "stats"])
    assert "store interactions" in table.stdout


def test_store_comes_from_the_environment(duck_url: str) -> None:
    result = cli(["stats", "--json"], env={"PROMPTLOOP_STORE": duck_url})
    assert json.loads(result.stdout)["store"]["interactions"] == 7


def test_reads_do_not_change_the_store(duck_url: str) -> None:
    cli(["--store", duck_url, "query", "versions"])
    store = open_store(duck_url, migrate=False)
    try:
        assert store.fetch_all("SELECT count(*) AS n FROM feedback_events")[0]["n"] == 14
    finally:
        store.close()


# -- bad input: exit code 2, one line naming the option ------------------------------------
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["interactions", "list", "--since", "last tuesday"], "--since"),
        (["interactions", "list", "--until", "2026-13-45"], "--until"),
        (["interactions", "list", "--since", "2026-01-01", "--days", "3"], "--since"),
        (["interactions", "list", "--feedback-type", "love"], "--feedback-type"),
        (["interactions", "list", "--feedback-source", "gut"], "--feedback-source"),
        (["interactions", "list", "--cursor", "not-a-cursor"], "--cursor"),
    ],
)
def test_bad_input_exits_2_naming_the_option(duck_url: str, args: list[str], option: str) -> None:
    result = cli(["--store", duck_url, *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}: ")


@pytest.mark.parametrize(
    "args",
    [
        ["interactions", "list", "--limit", "0"],
        ["interactions", "list", "--limit", "many"],
        ["query", "negative-inputs", "--days", "0"],
    ],
)
def test_out_of_range_numbers_exit_2(duck_url: str, args: list[str]) -> None:
    assert cli(["--store", duck_url, *args]).exit_code == 2


def test_unknown_store_url_exits_2() -> None:
    result = cli(["--store", "mysql://db/x", "stats"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --store: unknown store URL 'mysql://db/x'")


def test_missing_store_file_exits_2(tmp_path: Path) -> None:
    result = cli(["--store", f"duckdb:///{tmp_path}/absent.duckdb", "stats"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --store: cannot open")


def test_store_without_tables_exits_2_and_says_migrate(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/empty.duckdb"
    open_store(url, migrate=False).close()
    result = cli(["--store", url, "query", "versions"])
    assert result.exit_code == 2
    assert "promptloop migrate" in result.stderr


def test_bad_url_exits_2(duck_url: str) -> None:
    result = cli(["--url", "localhost:8321", "stats"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --url: ")


def test_migrate_creates_and_reports_the_schema_version(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/new.duckdb"
    first = cli(["--store", url, "migrate", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["previous_version"] == 0 and report["schema_version"] >= 1
    again = cli(["--store", url, "migrate"])
    assert f"schema version {report['schema_version']} (already up to date)" in again.stdout
    assert cli(["--store", url, "stats", "--json"]).exit_code == 0
