"""The registry and signal commands against a real collector (uvicorn on a real socket)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from promptloop.cli import _backend
from promptloop.prompts import PromptRegistry
from promptloop.store import Store, open_store
from tests.cli.conftest import (
    PROMPT,
    Dataset,
    cli,
    fill,
    git,
    prompt_repo,
    running_collector,
)
from tests.cli.test_remote import _without, closed_port


@pytest.fixture
def served(tmp_path: Path, dataset: Dataset) -> Iterator[tuple[str, Store]]:
    """A collector of its own (these tests write), and the store behind it."""
    store = fill(open_store("duckdb:///:memory:"), dataset)
    with running_collector(store, tmp_path / "collector") as url:
        yield url, store
    store.close()


def remote(url: str, *args: str) -> str:
    result = cli(["--url", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def remote_json(url: str, *args: str) -> Any:
    return json.loads(remote(url, *args, "--json"))


def test_push_promote_rollback_and_log_over_http(served: tuple[str, Store], tmp_path: Path) -> None:
    url, store = served
    path = tmp_path / "greeter.md"
    path.write_text("---\ntemperature: 0.3\n---\nGreet {{name}}.\n", encoding="utf-8")
    assert remote(url, "prompts", "push", str(path)).startswith("created greeter 1.0.0")
    assert remote_json(url, "prompts", "push", str(path))["created"] is False
    path.write_text("Greet {{name}} warmly.\n", encoding="utf-8")
    missing = cli(["--url", url, "prompts", "push", str(path)])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: --rationale: rationale is required")
    args = ["--rationale", "Too cold", "--evidence", "eval_run:e-7", "--setting", "seed=3"]
    pushed = remote_json(url, "prompts", "push", str(path), *args)
    assert (pushed["version"], pushed["settings"], pushed["author"]) == (
        "1.1.0",
        {"seed": 3},
        "dana",
    )
    remote(url, "prompts", "promote", "greeter", "1.0.0", "--reason", "first")
    promoted = remote(
        url, "prompts", "promote", "greeter", "1.1.0", "--actor", "bob", "--reason", "go"
    )
    assert promoted.strip() == "greeter: deploy production 1.0.0 -> 1.1.0 by bob: go"
    back = remote_json(url, "prompts", "rollback", "greeter", "--reason", "complaints")
    assert (back["action"], back["to_version"], back["actor"]) == ("rollback", "1.0.0", "dana")

    registry = PromptRegistry(store)  # the writes reached the collector's store
    assert registry.labels("greeter") == {"production": "1.0.0"}
    assert registry.get("greeter", "1.1.0").evidence[0].ref == "e-7"
    log = remote(url, "prompts", "log", "greeter")
    for line in (
        "rollback production 1.1.0 -> 1.0.0 by dana: complaints",
        "deploy production 1.0.0 -> 1.1.0 by bob: go",
        "deploy production (none) -> 1.0.0 by dana: first",
        "Too cold",
        "Evidence: eval_run e-7",
    ):
        assert line in log


def test_collector_errors_exit_1_with_its_message(served: tuple[str, Store]) -> None:
    url, _ = served
    unknown = cli(["--url", url, "prompts", "log", "nope"])
    assert unknown.exit_code == 1
    assert (
        unknown.stderr.strip() == f"error: the collector {url} answered 404: no prompt named 'nope'"
    )
    version = cli(["--url", url, "prompts", "promote", PROMPT, "9.0.0"])
    assert version.exit_code == 1 and "has no version 9.0.0" in version.stderr
    label = cli(["--url", url, "prompts", "rollback", PROMPT, "--label", "canary"])
    assert label.exit_code == 1 and "no label 'canary'" in label.stderr


def test_sync_over_http_sends_each_commit(served: tuple[str, Store], tmp_path: Path) -> None:
    url, store = served
    repo = prompt_repo(tmp_path / "prompts")
    report = remote_json(url, "prompts", "sync", str(repo))
    assert report["created"] == 4
    summarizer = PromptRegistry(store).versions("summarizer")
    assert [(v.version, v.author, v.source) for v in summarizer] == [
        ("1.0.0", "Dana", "git"),
        ("1.1.0", "Eve", "git"),
    ]
    sha, when = git(repo, "log", "-1", "--format=%H %aI", "--", "summarizer.txt").split()
    assert summarizer[1].commit_sha == sha
    assert summarizer[1].created_at == datetime.fromisoformat(when)  # the commit's time
    support = PromptRegistry(store).get(PROMPT, "1.3.0")  # after the dataset's 1.2.0
    assert support.rationale == "Never promise refunds; add the email reply prompt"
    assert remote_json(url, "prompts", "sync", str(repo))["created"] == 0


def test_names_with_a_slash_over_http(served: tuple[str, Store], tmp_path: Path) -> None:
    url, _ = served
    remote(url, "prompts", "sync", str(prompt_repo(tmp_path / "prompts")))
    assert remote_json(url, "prompts", "show", "email/reply")["version"] == "1.0.0"


# -- local and remote print the same JSON ------------------------------------------------
@pytest.fixture
def both_ways(tmp_path: Path, dataset: Dataset, served: tuple[str, Store]) -> tuple[str, str]:
    local = f"duckdb:///{tmp_path}/local.duckdb"
    fill(open_store(local), dataset).close()
    return local, served[0]


def _same(local: str, url: str, *args: str) -> Any:
    """The JSON both ways; deployment IDs are random, so each store has its own."""
    from_store = cli(["--store", local, *args, "--json"])
    from_collector = cli(["--url", url, *args, "--json"])
    assert from_store.exit_code == from_collector.exit_code == 0, from_store.output
    found = json.loads(from_store.stdout)
    assert _without(found, "deployment_id") == _without(
        json.loads(from_collector.stdout), "deployment_id"
    )
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["prompts", "list"],
        ["prompts", "show", PROMPT],
        ["prompts", "show", PROMPT, "--label", "production"],
        ["prompts", "show", PROMPT, "--version", "1.0.0"],
        ["prompts", "diff", PROMPT, "1.0.0", "1.2.0"],
        ["prompts", "log", PROMPT],
        ["prompts", "deployments"],
        ["prompts", "deployments", PROMPT, "--label", "production", "--since", "2000-01-01"],
        ["query", "edits"],
    ],
)
def test_reads_print_the_same_json(both_ways: tuple[str, str], args: list[str]) -> None:
    _same(*both_ways, *args)


@pytest.mark.parametrize("window", [[], ["--days", "14"], ["--since", "2000-01-01"]])
def test_unregistered_the_same_both_ways(both_ways: tuple[str, str], window: list[str]) -> None:
    """The same rows (versions seen equally often come in the store's order)."""
    local, url = both_ways

    def rows(*target: str) -> list[str]:
        result = cli([*target, "prompts", "unregistered", *window, "--json"])
        assert result.exit_code == 0, result.output
        return sorted(
            json.dumps(item, sort_keys=True) for item in json.loads(result.stdout)["items"]
        )

    assert rows("--store", local) == rows("--url", url)


def test_signals_run_the_same_way_local_and_remote(both_ways: tuple[str, str]) -> None:
    local, url = both_ways
    on_store = json.loads(cli(["--store", local, "signals", "run", "--json"]).stdout)
    on_collector = remote_json(url, "signals", "run")
    for report in (on_store, on_collector):
        report.pop("seconds")
    assert on_store == on_collector
    assert on_store["edits_analysed"] == 1 and on_store["full"] is True
    assert sum(on_store["inserted"].values()) > 0
    edits = _same(local, url, "query", "edits")["items"]
    assert [(row["prompt_version"], row["edits"]) for row in edits] == [("v1.5", 1)]


def test_signals_run_and_status_over_http(served: tuple[str, Store]) -> None:
    url, _ = served
    assert remote_json(url, "signals", "status") == {"last_run": None, "last_error": None}
    never = remote(url, "signals", "status")
    assert "has not run the job since it started" in never
    first = remote(url, "signals", "run", "--full")
    assert "full run" in first and "edits analysed" in first and "total" in first
    again = remote_json(url, "signals", "run")
    assert again["inserted"] == {} and again["retracted"] == {} and again["full"] is False
    status = remote_json(url, "signals", "status")
    assert status["last_run"]["full"] is False and status["last_error"] is None
    assert "incremental run" in remote(url, "signals", "status")


# -- a DuckDB file locked by a running collector -------------------------------------------
def test_writes_to_a_locked_store_go_to_the_local_collector(
    locked_store: str, served: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store = served
    monkeypatch.setattr(_backend, "FALLBACK_URL", url)
    result = cli(["--store", locked_store, "prompts", "promote", PROMPT, "1.2.0", "--json"])
    assert result.exit_code == 0, result.output
    assert f"asking it at {url}" in result.stderr
    assert PromptRegistry(store).labels(PROMPT)["production"] == "1.2.0"
    ran = cli(["--store", locked_store, "signals", "run", "--json"])
    assert ran.exit_code == 0 and "edits_analysed" in json.loads(ran.stdout)


def test_writes_to_a_locked_store_without_a_collector_exit_2(
    locked_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_backend, "FALLBACK_URL", f"http://127.0.0.1:{closed_port()}")
    path = tmp_path / "p.txt"
    path.write_text("Hello.\n", encoding="utf-8")
    for args in (["prompts", "push", str(path)], ["signals", "run"]):
        result = cli(["--store", locked_store, *args])
        assert result.exit_code == 2
        assert "is locked by another process" in result.stderr and "pass --url" in result.stderr
