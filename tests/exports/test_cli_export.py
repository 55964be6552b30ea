"""``promptloop export``: from the store, and downloaded from a collector."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq

from promptloop.store import open_store
from tests.cli.conftest import cli, collector_url, dataset, duck_url  # noqa: F401 - fixtures


def _count(url: str, sql: str) -> int:
    store = open_store(url, migrate=False, read_only=True)
    try:
        return int(store.fetch_all(sql)[0]["n"])
    finally:
        store.close()


def test_interactions_to_csv_filtered(duck_url: str, tmp_path: Path) -> None:  # noqa: F811
    output = tmp_path / "calls.csv"
    result = cli(
        [
            "--store",
            duck_url,
            "export",
            "interactions",
            "-o",
            str(output),
            "--prompt-version",
            "v1.4",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    with output.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = _count(
        duck_url,
        "SELECT count(*) AS n FROM llm_interaction_logs WHERE prompt_version = 'v1.4'",
    )
    assert summary["rows"] == len(rows) == expected > 0
    assert {row["prompt_version"] for row in rows} == {"v1.4"}


def test_feedback_to_parquet_by_suffix(duck_url: str, tmp_path: Path) -> None:  # noqa: F811
    output = tmp_path / "feedback.parquet"
    result = cli(["--store", duck_url, "export", "feedback", "-o", str(output)])
    assert result.exit_code == 0, result.output
    expected = _count(duck_url, "SELECT count(*) AS n FROM feedback_events")
    assert pq.read_table(output).num_rows == expected


def test_a_format_the_kind_lacks_is_a_usage_error(duck_url: str, tmp_path: Path) -> None:  # noqa: F811
    result = cli(["--store", duck_url, "export", "phoenix", "-o", str(tmp_path / "a.csv")])
    assert result.exit_code == 2
    assert "--format: phoenix exports come as jsonl or json, not csv" in result.stderr


def test_download_from_the_collector(collector_url: str, tmp_path: Path) -> None:  # noqa: F811
    output = tmp_path / "calls.parquet"
    result = cli(
        [
            "--url",
            collector_url,
            "export",
            "interactions",
            "-o",
            str(output),
            "--feature",
            "support-chat",
        ]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(output)
    assert table.num_rows > 0
    assert set(table.column("feature").to_pylist()) == {"support-chat"}
    scores = tmp_path / "scores.jsonl"
    result = cli(["--url", collector_url, "export", "langfuse", "-o", str(scores)])
    assert result.exit_code == 0, result.output
    assert all("traceId" in json.loads(line) for line in scores.read_text().splitlines())
