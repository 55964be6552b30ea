"""``promptloop alerts``: locally on the store (DuckDB and PostgreSQL) and through a collector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptloop.store import Store, open_store
from tests.analytics.test_alerts import at, rise
from tests.cli.conftest import cli, running_collector
from tests.support.alert_traffic import load
from tests.support.webhook_recorder import WebhookRecorder

NOW = at(72).isoformat()


@pytest.fixture
def alert_store_url(store_url: str) -> str:
    """A store (DuckDB file or PostgreSQL) holding the 8% -> 12% traffic, closed again."""
    store = open_store(store_url)
    load(store, rise())
    store.close()
    return store_url


def run_json(*args: str, env: dict[str, str | None] | None = None) -> Any:
    result = cli([*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_check_list_show_ack_on_the_store(alert_store_url: str) -> None:
    store = ["--store", alert_store_url]
    report = run_json(*store, "alerts", "check", "--now", NOW)
    assert len(report["opened"]) == 2
    ident = next(a["alert_id"] for a in report["opened"] if a["scope_kind"] == "feature")
    assert run_json(*store, "alerts", "check", "--now", NOW)["opened"] == []

    listed = run_json(*store, "alerts", "list")
    assert {a["alert_id"] for a in listed["items"]} == {a["alert_id"] for a in report["opened"]}
    only = run_json(*store, "alerts", "list", "--rule", "regeneration.feature")
    assert [a["alert_id"] for a in only["items"]] == [ident]
    shown = run_json(*store, "alerts", "show", ident)
    assert shown["message"].startswith("Regeneration rate on summarize rose from 7.9% to")
    assert len(shown["evidence"]["series"]["cusum"]) == 288

    acked = run_json(*store, "alerts", "ack", ident, "--by", "alice", "--note", "rolling back")
    assert (acked["status"], acked["ack_note"]) == ("acknowledged", "rolling back")
    assert [
        a["alert_id"]
        for a in run_json(*store, "alerts", "list", "--status", "acknowledged")["items"]
    ] == [ident]

    again = cli([*store, "alerts", "ack", ident, "--by", "bob"])
    assert again.exit_code == 1
    assert again.stderr.strip() == f"error: alert {ident} is already acknowledged by alice"


def test_human_output(alert_store_url: str) -> None:
    store = ["--store", alert_store_url]
    checked = cli([*store, "alerts", "check", "--now", NOW])
    assert checked.exit_code == 0, checked.output
    assert "alert check on the store" in checked.stdout and "2 streams" in checked.stdout
    assert "  opened  " in checked.stdout and "rose from 7.9% to" in checked.stdout
    listed = cli([*store, "alerts", "list"])
    assert "alerts (active)" in listed.stdout and "open" in listed.stdout
    ident = run_json(*store, "alerts", "list")["items"][0]["alert_id"]
    shown = cli([*store, "alerts", "show", ident])
    assert shown.exit_code == 0, shown.output
    for label in ("baseline", "observed", "bernoulli_cusum", "statistic", "cusum", "not sent"):
        assert label in shown.stdout
    assert "█" in shown.stdout  # the CUSUM sparkline peaks somewhere
    acked = cli([*store, "alerts", "ack", ident, "--by", "alice"])
    assert acked.stdout.strip() == f"acknowledged {ident} by alice"
    assert "no resolved alerts" in cli([*store, "alerts", "list", "--status", "resolved"]).stdout


def test_bad_input(alert_store_url: str) -> None:
    store = ["--store", alert_store_url]
    bad_status = cli([*store, "alerts", "list", "--status", "closed"])
    assert bad_status.exit_code == 2
    assert bad_status.stderr.strip() == (
        "error: --status: unknown status 'closed'; one of: open, acknowledged, resolved, "
        "active, all"
    )
    bad_now = cli([*store, "alerts", "check", "--now", "yesterday"])
    assert bad_now.exit_code == 2 and "--now" in bad_now.stderr
    missing = cli([*store, "alerts", "show", "no-such-alert"])
    assert missing.exit_code == 1 and missing.stderr.strip() == "error: no alert no-such-alert"
    no_by = cli([*store, "alerts", "ack", "x"])
    assert no_by.exit_code == 2 and "--by" in no_by.stderr


def test_local_check_posts_to_the_webhook(alert_store_url: str) -> None:
    with WebhookRecorder() as hook:
        report = run_json(
            "--store",
            alert_store_url,
            "alerts",
            "check",
            "--now",
            NOW,
            env={"PROMPTLOOP_ALERT_WEBHOOK": hook.url},
        )
    assert len(report["delivery"]["sent"]) == 2
    assert len(hook.requests) == 2


@pytest.fixture
def alert_collector(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    store = open_store("duckdb:///:memory:")
    load(store, rise())
    with running_collector(store, tmp_path / "collector") as url:
        yield url, store
    store.close()


def test_the_same_commands_through_the_collector(
    alert_collector: tuple[str, Store], tmp_path: Path
) -> None:
    url, _ = alert_collector
    remote = ["--url", url]
    report = run_json(*remote, "alerts", "check", "--now", NOW)
    assert len(report["opened"]) == 2
    ident = report["opened"][0]["alert_id"]
    shown = run_json(*remote, "alerts", "show", ident)
    assert shown["alert_id"] == ident and shown["evidence"]["series"]["bucket_seconds"] == 300
    acked = run_json(*remote, "alerts", "ack", ident, "--by", "alice")
    assert acked["status"] == "acknowledged"
    again = cli([*remote, "alerts", "ack", ident, "--by", "bob"])
    assert again.exit_code == 1
    assert again.stderr.strip() == (
        f"error: the collector {url} answered 409: alert {ident} is already acknowledged by alice"
    )
    missing = cli([*remote, "alerts", "show", "nope"])
    assert missing.exit_code == 1 and "answered 404: no alert nope" in missing.stderr
    bad = cli([*remote, "alerts", "list", "--status", "closed"])
    assert bad.exit_code == 2

    # Local mode prints the same JSON as the collector for the same store contents.
    local_url = f"duckdb:///{tmp_path}/copy.duckdb"
    copy = open_store(local_url)
    load(copy, rise())
    copy.close()
    local = ["--store", local_url]
    assert run_json(*local, "alerts", "check", "--now", NOW)["opened"] == report["opened"]
    run_json(*local, "alerts", "ack", ident, "--by", "alice")
    remote_list = run_json(*remote, "alerts", "list", "--status", "all")["items"]
    local_list = run_json(*local, "alerts", "list", "--status", "all")["items"]
    for row in (*remote_list, *local_list):
        row.pop("acknowledged_at")  # the one field set from the clock
    assert remote_list == local_list
