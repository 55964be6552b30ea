"""The /v1/evals API, driven by the CLI with --url against a real collector on 127.0.0.1,
and its error answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from promptloop.cli.main import app
from promptloop.store import open_store
from tests.cli.conftest import build_dataset, fill, running_collector


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = fill(open_store("duckdb:///:memory:"), build_dataset())
    with running_collector(store, tmp_path_factory.mktemp("evals-collector")) as url:
        yield url
    store.close()


def _cli(url: str, *args: str, code: int = 0) -> Result:
    env = {"USER": "dana", "PROMPTLOOP_URL": url, "PROMPTLOOP_STORE": None, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def _json(url: str, *args: str) -> Any:
    return json.loads(_cli(url, *args, "--json").stdout)


def test_the_cli_through_the_collector(collector: str) -> None:
    built = _json(
        collector,
        "dataset",
        "build",
        "thumbs",
        "--from",
        "thumbs_down",
        "--feature",
        "support-chat",
        "--holdout",
        "0",
    )
    assert built["items"] == 3 and built["candidate"] == 3
    shown = _json(collector, "dataset", "show", "thumbs", "--status", "candidate")
    ids = [item["item_id"] for item in shown["items"]]
    assert len(ids) == 3
    decided = _json(collector, "dataset", "accept", *ids, "--assert", "not-contains:Zapier")
    assert len(decided["items"]) == 3 and decided["errors"] == []
    ran = _json(
        collector,
        "eval",
        "run",
        "-d",
        "thumbs",
        "-p",
        "support-assistant@1.1.0",
        "-p",
        "support-assistant@1.2.0",
        "--provider",
        "echo",
        "--repeat",
        "2",
    )
    run_id = ran["run"]["run_id"]
    assert {c["prompt_label"] for c in ran["run"]["summary"]["cells"]} == {
        "support-assistant@1.1.0",
        "support-assistant@1.2.0",
    }
    listed = _json(collector, "eval", "list")
    assert listed["items"][0]["run_id"] == run_id
    shown_run = _json(collector, "eval", "show", run_id[:6])
    assert len(shown_run["results"]) == 3 * 2 * 2
    baseline, candidate = f"{run_id}/support-assistant@1.1.0", f"{run_id}/support-assistant@1.2.0"
    compared = _json(collector, "eval", "compare", baseline, candidate)
    assert compared["items"] == 3
    _cli(collector, "eval", "gate", "--baseline", baseline, "--candidate", candidate)
    holdout = _json(collector, "eval", "holdout", "--dataset", "thumbs")
    assert {row["prompt_label"] for row in holdout["items"]} == {
        "support-assistant@1.1.0",
        "support-assistant@1.2.0",
    }
    promoted = _json(
        collector,
        "eval",
        "promote",
        run_id,
        "--prompt",
        "support-assistant@1.2.0",
        "--label",
        "staging",
        "--baseline",
        baseline,
    )
    assert promoted["deployment"]["label"] == "staging"
    assert f"/evals/runs/{run_id}" in promoted["rationale"]
    exported = _cli(collector, "dataset", "export", "thumbs", "--format", "csv").stdout
    assert exported.splitlines()[0].startswith("item_id,source_interaction_id")


def test_code_and_addresses_stay_off_the_collector(collector: str, tmp_path: Path) -> None:
    refused = _cli(
        collector,
        "eval",
        "run",
        "-d",
        "thumbs",
        "-p",
        "support-assistant@1.2.0",
        "--provider",
        "python:evil.py:call_api",
        code=2,
    )
    assert "providers[0]: 'python:evil.py:call_api' cannot be started over HTTP" in refused.output
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("prompts: [hi]\nproviders: [echo]\ntests: []\n")
    refused = _cli(collector, "eval", "run", "-c", str(config), code=2)
    assert "promptfoo configs run locally" in refused.output


def test_errors_name_the_field(collector: str) -> None:
    with httpx.Client(base_url=collector) as client:
        bad = client.post("/v1/evals/datasets", json={"name": "has space"})
        assert bad.status_code == 422 and bad.json()["message"].startswith("name:")
        missing = client.get("/v1/evals/datasets/nope")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        empty = client.post(
            "/v1/evals/items/decisions", json={"item_ids": [], "status": "accepted", "by": "x"}
        )
        assert empty.status_code == 422 and "item_ids" in empty.json()["message"]
        side = client.get("/v1/evals/compare", params={"baseline": "zzzz", "candidate": "yyyy"})
        assert side.status_code == 404
        limit = client.get("/v1/evals/gate", params={"baseline": "a", "candidate": "b", "alpha": 2})
        assert limit.status_code == 422 and "alpha" in limit.json()["message"]
