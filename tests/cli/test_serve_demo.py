"""``promptloop serve`` and ``promptloop demo``: option parsing and wiring, without a server.

``run_server`` is replaced by a function that drives the app in-process (TestClient), and
``promptloop.demo.simulate`` by a small fake with the same API, so these tests check what
the commands do with them. The last test uses the real generator when it is installed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from promptloop.cli import serve as serve_module
from tests.cli.conftest import FakeDemo, cli


@dataclass
class Served:
    host: str = ""
    port: int = 0
    settings: Any = None
    stats: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    """Replace uvicorn: run the app's lifespan in-process and ask it for /v1/stats."""
    seen = Served()

    def run_server(app: FastAPI, host: str, port: int) -> None:
        seen.host, seen.port, seen.settings = host, port, app.state.settings
        key = next(iter(seen.settings.api_keys), None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with TestClient(app) as client:
            seen.stats = client.get("/v1/stats", headers=headers).json()

    monkeypatch.setattr(serve_module, "run_server", run_server)
    return seen


def test_serve_help_lists_every_option() -> None:
    result = cli(["serve", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--store",
        "--api-key",
        "--data-dir",
        "--demo",
        "--demo-interactions",
        "--signals-interval",
        "--cors-origin",
        "--feedback-secret",
    ):
        assert option in result.stdout


def test_serve_passes_its_options_to_the_collector(tmp_path: Path, served: Served) -> None:
    store = f"duckdb:///{tmp_path}/served.duckdb"
    args = ["serve", "--store", store, "--host", "0.0.0.0", "--port", "9001"]
    args += ["--api-key", "k1", "--api-key", "k2", "--data-dir", str(tmp_path / "data")]
    result = cli(args)
    assert result.exit_code == 0, result.output
    assert (served.host, served.port) == ("0.0.0.0", 9001)
    assert served.settings.api_keys == frozenset({"k1", "k2"})
    assert served.settings.data_dir == tmp_path / "data"
    assert served.settings.store_url == store
    assert served.stats["store"]["interactions"] == 0
    printed = " ".join(result.stdout.split())  # rich wraps long store paths
    assert "http://127.0.0.1:9001/docs" in printed
    assert "API keys required" in printed and "k1" not in printed


def test_serve_uses_the_global_store_and_env_keys(tmp_path: Path, served: Served) -> None:
    store = f"duckdb:///{tmp_path}/global.duckdb"
    env = {"PROMPTLOOP_API_KEYS": "a,b", "PROMPTLOOP_DATA_DIR": str(tmp_path / "d")}
    result = cli(["--store", store, "serve"], env=env)
    assert result.exit_code == 0, result.output
    assert served.settings.store_url == store
    assert served.settings.api_keys == frozenset({"a", "b"})
    assert (served.host, served.port) == ("127.0.0.1", 8321)


def test_serve_demo_loads_once_and_says_the_data_is_simulated(
    tmp_path: Path, served: Served, fake_demo: FakeDemo
) -> None:
    store = f"duckdb:///{tmp_path}/demo.duckdb"
    data = str(tmp_path / "data")
    args = ["serve", "--store", store, "--data-dir", data, "--demo", "--demo-interactions", "30"]
    first = cli(args)
    assert first.exit_code == 0, first.output
    assert fake_demo.calls == [{"interactions": 30, "seed": 7, "end": None}]
    assert served.stats["store"]["interactions"] == 30  # the server shares the loaded store
    panel = first.stdout
    assert "SIMULATED" in panel
    assert "http://127.0.0.1:8321/docs" in panel
    assert "curl -s 'http://127.0.0.1:8321/v1/queries/negative-inputs?days=14'" in panel
    assert "promptloop --url http://127.0.0.1:8321 query negative-inputs --days 14" in panel
    assert "query regenerated-inputs --prompt-version v" in panel
    assert "What to try" in panel
    again = cli(args)
    assert again.exit_code == 0
    assert len(fake_demo.calls) == 1  # already loaded: not loaded twice


def test_serve_demo_with_keys_shows_how_to_authenticate_not_the_key(
    tmp_path: Path, served: Served, fake_demo: FakeDemo
) -> None:
    store = f"duckdb:///{tmp_path}/demo.duckdb"
    args = ["serve", "--store", store, "--data-dir", str(tmp_path / "d"), "--demo"]
    result = cli([*args, "--demo-interactions", "5", "--api-key", "s3cret-value"])
    assert result.exit_code == 0, result.output
    assert "Authorization: Bearer $PROMPTLOOP_API_KEY" in result.stdout
    assert "--api-key $PROMPTLOOP_API_KEY" in result.stdout
    assert "s3cret-value" not in result.output


def test_serve_demo_without_the_generator_exits_1(
    tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "promptloop.demo.simulate", None)
    result = cli(["serve", "--store", f"duckdb:///{tmp_path}/x.duckdb", "--demo"])
    assert result.exit_code == 1
    assert "demo data generator is not available" in result.stderr


def test_serve_on_a_locked_store_exits_2(locked_store: str, served: Served) -> None:
    result = cli(["serve", "--store", locked_store])
    assert result.exit_code == 2
    assert "held by another process" in result.stderr


def test_serve_passes_the_signal_schedule(tmp_path: Path, served: Served) -> None:
    store = f"duckdb:///{tmp_path}/s.duckdb"
    result = cli(["serve", "--store", store, "--signals-interval", "0"])
    assert result.exit_code == 0, result.output
    assert served.settings.signals_interval == 0
    assert cli(["serve", "--store", store, "--signals-interval", "2.5"]).exit_code == 0
    assert served.settings.signals_interval == 2.5
    assert cli(["serve", "--store", store]).exit_code == 0
    assert served.settings.signals_interval == 60  # the collector's default


def test_serve_passes_browser_feedback_settings(tmp_path: Path, served: Served) -> None:
    args = ["serve", "--store", f"duckdb:///{tmp_path}/b.duckdb", "--data-dir", str(tmp_path)]
    args += ["--cors-origin", "https://app.example.com/", "--cors-origin", "http://localhost:3000"]
    args += ["--feedback-secret", "s1", "--feedback-secret", "s2"]
    result = cli(args)
    assert result.exit_code == 0, result.output
    assert served.settings.cors_origins == {"https://app.example.com", "http://localhost:3000"}
    assert served.settings.feedback_secrets == {"s1", "s2"}
    assert "s1" not in result.output
    star = cli(["serve", "--store", f"duckdb:///{tmp_path}/b.duckdb", "--cors-origin", "*"])
    assert star.exit_code == 0 and served.settings.cors_origins == {"*"}


@pytest.mark.parametrize(
    "origin", ["app.example.com", "https://app.example.com/path", "ftp://x", "https://"]
)
def test_serve_rejects_a_cors_origin_that_is_not_one(origin: str) -> None:
    result = cli(["serve", "--cors-origin", origin])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --cors-origin: {origin!r} is not * or scheme://")


def test_serve_refuses_settings_this_collector_lacks(
    tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_module, "SETTINGS_FIELDS", frozenset({"store_url", "api_keys"}))
    result = cli(["serve", "--store", f"duckdb:///{tmp_path}/o.duckdb", "--feedback-secret", "x"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --feedback-secret: this collector has no")


def test_serve_demo_turns_on_the_demo_chat_and_prints_its_url(
    tmp_path: Path, served: Served, fake_demo: FakeDemo
) -> None:
    store = f"duckdb:///{tmp_path}/chat.duckdb"
    args = ["serve", "--store", store, "--data-dir", str(tmp_path), "--port", "8400"]
    plain = cli(args)
    assert plain.exit_code == 0, plain.output
    assert served.settings.demo_enabled is False and "/demo" not in plain.stdout
    demo = cli([*args, "--demo", "--demo-interactions", "5"])
    assert demo.exit_code == 0, demo.output
    assert served.settings.demo_enabled is True
    assert "demo chat (click through):     http://127.0.0.1:8400/demo" in demo.stdout


def test_serve_demo_without_a_demo_chat_prints_no_chat_url(
    tmp_path: Path, served: Served, fake_demo: FakeDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = serve_module.SETTINGS_FIELDS - {"demo_enabled"}
    monkeypatch.setattr(serve_module, "SETTINGS_FIELDS", fields)
    store = f"duckdb:///{tmp_path}/nochat.duckdb"
    result = cli(["serve", "--store", store, "--data-dir", str(tmp_path), "--demo"])
    assert result.exit_code == 0, result.output
    assert "demo chat" not in result.stdout and "SIMULATED" in result.stdout


@pytest.mark.parametrize("interval", ["-1", "soon"])
def test_serve_rejects_a_bad_signals_interval(interval: str) -> None:
    assert cli(["serve", "--signals-interval", interval]).exit_code == 2


@pytest.mark.parametrize("port", ["-1", "70000", "http"])
def test_serve_rejects_bad_ports(port: str) -> None:
    assert cli(["serve", "--port", port]).exit_code == 2


def test_demo_load_fills_the_store(tmp_path: Path, fake_demo: FakeDemo) -> None:
    store = f"duckdb:///{tmp_path}/demo.duckdb"
    result = cli(["--store", store, "demo", "load", "--interactions", "25", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert fake_demo.calls == [{"interactions": 25, "seed": 3, "end": None}]
    assert "SIMULATED" in result.stdout and "prompt versions" in result.stdout
    again = cli(["--store", store, "demo", "load", "--interactions", "25", "--seed", "3"])
    assert "already held demo data" in again.stdout
    args = ["--store", store, "demo", "load", "--json", "--seed", "3", "--interactions", "25"]
    report = json.loads(cli(args).stdout)
    assert report["already_loaded"] is True
    assert report["result"]["interactions"] == 0  # idempotent: nothing new stored
    stats = json.loads(cli(["--store", store, "stats", "--json"]).stdout)
    assert stats["store"]["interactions"] == 25


def test_demo_help() -> None:
    assert "--interactions" in cli(["demo", "load", "--help"]).stdout
    assert "load" in cli(["demo", "--help"]).stdout


def test_demo_load_with_the_real_generator(tmp_path: Path) -> None:
    store = f"duckdb:///{tmp_path}/real.duckdb"
    result = cli(["--store", store, "demo", "load", "--interactions", "300", "--json"])
    assert result.exit_code == 0, result.output
    versions = json.loads(cli(["--store", store, "query", "versions", "--json"]).stdout)
    assert sum(row["interactions"] for row in versions["items"]) >= 1
    again = cli(["--store", store, "demo", "load", "--interactions", "300", "--json"])
    report = json.loads(again.stdout)
    assert report["already_loaded"] is True
    assert report["result"]["interactions"] == 0


def test_a_wrong_setting_from_the_environment_is_a_usage_error(
    tmp_path: Path, served: Served
) -> None:
    store = f"duckdb:///{tmp_path}/served.duckdb"
    result = cli(["serve", "--store", store], env={"PROMPTLOOP_RETENTION": "bogus"})
    assert result.exit_code == 2
    assert "invalid setting: retention rule 'bogus' is not TABLE=DAYS" in result.output
    assert served.settings is None
