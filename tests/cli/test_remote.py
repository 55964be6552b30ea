"""Remote mode: the CLI asks a real collector over HTTP (uvicorn on a real socket)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptloop.cli import _backend
from promptloop.cli._backend import RemoteBackend
from promptloop.cli._errors import CliError
from promptloop.exceptions import ClientError
from promptloop.store import open_store
from tests.cli.conftest import (
    API_KEY,
    SHOWN_ID,
    Dataset,
    cli,
    fill,
    running_collector,
)


def remote_json(url: str, *args: str, env: dict[str, str | None] | None = None) -> Any:
    result = cli(["--url", url, *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_list_show_and_queries_over_http(collector_url: str) -> None:
    page = remote_json(collector_url, "interactions", "list", "--prompt-version", "v1.4")
    assert {item["prompt_version"] for item in page["items"]} == {"v1.4"}
    found = remote_json(collector_url, "interactions", "show", SHOWN_ID)
    assert len(found["feedback"]) == 3
    negative = remote_json(collector_url, "query", "negative-inputs", "--days", "14")
    assert negative["items"][0]["normalized_input"] == "how do i fix it?"
    regenerated = remote_json(
        collector_url, "query", "regenerated-inputs", "--prompt-version", "v1.4"
    )
    assert len(regenerated["items"]) == 2
    versions = remote_json(
        collector_url, "query", "versions", "--feature", "support-chat", "--days", "14"
    )
    assert {row["prompt_version"] for row in versions["items"]} == {"v1.4", "v1.5"}


def test_tables_over_http(collector_url: str) -> None:
    result = cli(["--url", collector_url, "interactions", "show", SHOWN_ID])
    assert result.exit_code == 0, result.output
    assert "system prompt" in result.stdout and "3 feedback events" in result.stdout
    versions = cli(["--url", collector_url, "query", "versions"])
    assert "66.7% (2/3)" in versions.stdout


def test_stats_include_the_collectors_ingest_counters(collector_url: str) -> None:
    found = remote_json(collector_url, "stats")
    assert found["store"]["interactions"] == 7
    assert "ingest" in found
    table = cli(["--url", collector_url, "stats"])
    assert f"collector {collector_url}" in table.stdout
    assert "ingest" in table.stdout


def test_url_comes_from_the_environment(collector_url: str) -> None:
    result = cli(["stats", "--json"], env={"PROMPTLOOP_URL": collector_url})
    assert result.exit_code == 0, result.output
    assert "ingest" in json.loads(result.stdout)


def _without(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without(item, key) for item in value]
    return value


@pytest.fixture
def same_data_both_ways(tmp_path: Path, dataset: Dataset) -> Iterator[tuple[str, str]]:
    """One dataset in a DuckDB file (local) and behind a collector (remote)."""
    local = f"duckdb:///{tmp_path}/local.duckdb"
    fill(open_store(local), dataset).close()
    served = fill(open_store("duckdb:///:memory:"), dataset)
    with running_collector(served, tmp_path / "data") as url:
        yield local, url
    served.close()


@pytest.mark.parametrize(
    "args",
    [
        ["interactions", "list", "--limit", "4"],
        ["interactions", "list", "--feedback-type", "regenerate", "--days", "14"],
        ["interactions", "list", "--feedback-source", "inferred"],
        ["interactions", "show", SHOWN_ID],
        ["interactions", "feedback", SHOWN_ID],
        ["query", "negative-inputs", "--days", "30"],
        ["query", "regenerated-inputs", "--prompt-version", "v1.4", "--min-count", "1"],
        ["query", "versions"],
    ],
)
def test_local_and_remote_print_the_same_json(
    same_data_both_ways: tuple[str, str], args: list[str]
) -> None:
    local, url = same_data_both_ways
    from_store = cli(["--store", local, *args, "--json"])
    from_collector = cli(["--url", url, *args, "--json"])
    assert from_store.exit_code == from_collector.exit_code == 0
    # ingested_at is when each store received the row: the one field that may differ.
    assert _without(json.loads(from_store.stdout), "ingested_at") == _without(
        json.loads(from_collector.stdout), "ingested_at"
    )


# -- errors --------------------------------------------------------------------------------
def test_missing_api_key_is_a_clear_401_and_exit_1(keyed_collector_url: str) -> None:
    result = cli(["--url", keyed_collector_url, "query", "versions"])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: the collector http://127.0.0.1:")
    assert "(401)" in message and "a valid API key is required" in message
    assert "--api-key" in message and "PROMPTLOOP_API_KEY" in message
    assert len(message.splitlines()) == 1


def test_wrong_api_key_exits_1(keyed_collector_url: str) -> None:
    result = cli(["--url", keyed_collector_url, "--api-key", "nope", "stats"])
    assert result.exit_code == 1
    assert "(401)" in result.stderr
    assert "nope" not in result.stderr


def test_api_key_from_option_or_environment(keyed_collector_url: str) -> None:
    by_option = cli(["--url", keyed_collector_url, "--api-key", API_KEY, "stats", "--json"])
    assert by_option.exit_code == 0, by_option.output
    by_env = cli(
        ["--url", keyed_collector_url, "stats", "--json"], env={"PROMPTLOOP_API_KEY": API_KEY}
    )
    assert by_env.exit_code == 0, by_env.output


def test_unknown_interaction_is_the_servers_404_message(collector_url: str) -> None:
    result = cli(["--url", collector_url, "interactions", "show", "nope"])
    assert result.exit_code == 1
    assert "404" in result.stderr and "no interaction nope" in result.stderr


def test_invalid_cursor_rejected_by_the_collector_exits_2(collector_url: str) -> None:
    result = cli(["--url", collector_url, "interactions", "list", "--cursor", "zzz"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --cursor: ")


def test_client_side_checks_run_before_any_request(collector_url: str) -> None:
    result = cli(["--url", collector_url, "interactions", "list", "--feedback-type", "x"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --feedback-type: ")


def test_unreachable_collector_exits_1() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = cli(["--url", url, "stats"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach the collector at collector {url}")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, b"Internal Server Error", "answered 500: Internal Server Error"),
        (503, b'{"error": "overloaded", "message": "ingest queue full"}', "ingest queue full"),
        (403, b'{"message": "forbidden"}', "refused the request (403)"),
    ],
)
def test_collector_errors_carry_the_servers_message(
    status: int, body: bytes, expected: str
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    client = httpx.Client(base_url="http://collector", transport=transport)
    backend = RemoteBackend("http://collector", client=client)
    with pytest.raises(ClientError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        backend.stats()


@pytest.mark.parametrize(
    ("body", "option"),
    [
        ({"error": "invalid_request", "message": "bad", "field": "cursor"}, "--cursor"),
        ({"message": "x", "errors": [{"field": "session_id", "reason": "bad"}]}, "--session"),
        ({"message": "x", "errors": [{"field": "since", "reason": "bad"}]}, "--since"),
    ],
)
def test_422_names_the_option(body: dict[str, Any], option: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(422, json=body))
    client = httpx.Client(base_url="http://collector", transport=transport)
    with pytest.raises(CliError) as caught:
        RemoteBackend("http://collector", client=client).stats()
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"{option}: ")


@pytest.mark.parametrize("body", [b"<html>hello</html>", b"[1, 2]"])
def test_something_that_is_not_a_collector_exits_1(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = httpx.Client(base_url="http://elsewhere", transport=transport)
    with pytest.raises(ClientError, match="is --url the base URL of a promptloop collector"):
        RemoteBackend("http://elsewhere", client=client).stats()


def test_api_key_is_sent_as_bearer_token() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"items": []})

    client = httpx.Client(base_url="http://c", transport=httpx.MockTransport(answer))
    RemoteBackend("http://c", "k-123", client=client).feedback("x")
    assert seen == ["Bearer k-123"]


# -- a DuckDB file locked by a running collector -------------------------------------------
def test_locked_store_falls_back_to_the_local_collector(
    locked_store: str, collector_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_backend, "FALLBACK_URL", collector_url)
    result = cli(["--store", locked_store, "stats", "--json"])
    assert result.exit_code == 0, result.output
    assert "ingest" in json.loads(result.stdout)  # answered by the collector
    assert f"asking it at {collector_url}" in result.stderr


def test_locked_store_without_a_collector_exits_2_and_asks_for_url(
    locked_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_backend, "FALLBACK_URL", f"http://127.0.0.1:{closed_port()}")
    result = cli(["--store", locked_store, "query", "versions"])
    assert result.exit_code == 2
    assert "is locked by another process" in result.stderr
    assert "pass --url" in result.stderr


def test_sql_and_migrate_on_a_locked_store_exit_2(locked_store: str) -> None:
    sql = cli(["--store", locked_store, "sql", "SELECT 1"])
    assert sql.exit_code == 2 and "running collector" in sql.stderr
    migrate = cli(["--store", locked_store, "migrate"])
    assert migrate.exit_code == 2 and "held by another process" in migrate.stderr
