"""Issue 7's "Done when", end to end from the CLI on the demo data, then in the dashboard.

Build a dataset from thumbs-down interactions, accept candidates, run two prompt versions
against two providers (the real openai and anthropic clients, talking to the scripted server
on 127.0.0.1) with a judge, compare with statistics and the holdout check, gate on it (exit
codes as CI sees them), and promote the winner with a recorded rationale; then the same
evidence on the dashboard's pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from promptloop.cli.main import app
from promptloop.demo.simulate import load_demo
from promptloop.prompts import PromptRegistry
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import open_store
from tests.support.fake_llm import FakeLLM

OLD = "support_assistant@2.2.0"
NEW_FILE = "support-v2.3.txt"
NEW_TEMPLATE = (
    "You answer questions about Acme Notes. PLAIN-ANSWERS: no praise, no filler; answer in "
    "at most two sentences and name the exact menu."
)
OPENAI = "openai:chat:gpt-4o-mini"
ANTHROPIC = "anthropic:messages:claude-3-5-haiku-20241022"
RUBRIC = "Answers the question directly without filler."


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        # The judge sees outputs, never prompts: its routes come first.
        server.route("Great question! Sure", '{"reason": "filler", "pass": false, "score": 0}')
        server.route("Open the note and choose", '{"reason": "direct", "pass": true, "score": 1}')
        server.route("PLAIN-ANSWERS", "Open the note and choose the menu you need.")
        server.route(
            "You are the Acme Notes support assistant",
            "Great question! Sure, here is a long answer about everything.",
        )
        yield server


class Cli:
    def __init__(self, env: Mapping[str, str | None]) -> None:
        self.env = {"USER": "dana", "PROMPTLOOP_URL": None, "COLUMNS": "200", **env}

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(app, list(args), env=self.env)
        assert result.exit_code == code, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


def test_done_when(fake: FakeLLM, tmp_path: Path) -> None:
    store_url = f"duckdb:///{tmp_path}/store.duckdb"
    store = open_store(store_url)
    load_demo(store, interactions=1500)
    store.close()
    cli = Cli(
        {
            "PROMPTLOOP_STORE": store_url,
            "OPENAI_BASE_URL": fake.openai_url,
            "OPENAI_API_KEY": "test",
            "ANTHROPIC_BASE_URL": fake.anthropic_url,
            "ANTHROPIC_API_KEY": "test",
        }
    )
    cli("clusters", "run", "--feature", "support_chat", "--min-size", "3")

    # 1. A dataset from the thumbs-down of the last 30 days; the items wait for a person.
    built = cli.json(
        "dataset",
        "build",
        "support-thumbs",
        "--from",
        "thumbs_down",
        "--feature",
        "support_chat",
        "--since",
        "30d",
        "--description",
        "thumbs-down on support answers",
    )
    assert built["items"] >= 15 and built["candidate"] == built["items"]
    shown = cli.json(
        "dataset",
        "show",
        "support-thumbs",
        "--status",
        "candidate",
        "--include-holdout",
        "--limit",
        "1000",
    )
    ids = [item["item_id"] for item in shown["items"]]
    assert all(item["source_interaction_id"] and item["bad_output"] for item in shown["items"])
    cli("dataset", "reject", ids[0])
    cli(
        "dataset",
        "accept",
        *ids[1:],
        "--expect",
        RUBRIC,
        "--assert",
        "not-icontains:great question",
    )
    curated = cli.json("dataset", "list")["items"][0]
    assert curated["accepted"] == len(ids) - 1 and curated["rejected"] == 1
    assert curated["accepted_holdout"] > 0 and curated["holdout_views"] == 1

    # 2. Two prompt versions x two providers, with a judge, repeated twice.
    (tmp_path / NEW_FILE).write_text(NEW_TEMPLATE)
    junit = tmp_path / "junit.xml"
    ran = cli.json(
        "eval",
        "run",
        "-d",
        "support-thumbs",
        "-p",
        OLD,
        "-p",
        str(tmp_path / NEW_FILE),
        "--provider",
        OPENAI,
        "--provider",
        ANTHROPIC,
        "--judge",
        OPENAI,
        "--repeat",
        "2",
        "--junit-xml",
        str(junit),
    )
    run = ran["run"]
    run_id = run["run_id"]
    cells = {(c["prompt_label"], c["provider_id"]): c for c in run["summary"]["cells"]}
    accepted = len(ids) - 1
    for provider in (OPENAI, ANTHROPIC):
        old, new = cells[(OLD, provider)], cells[(NEW_FILE, provider)]
        assert old["pass_rate"]["count"] == 0 and old["results"] == 2 * accepted
        assert new["pass_rate"]["count"] == 2 * accepted and new["flip_rate"] == 0
        assert new["splits"]["holdout"]["n"] > 0 and new["input_tokens"] > 0
    assert run["config"]["judge"]["model"] == "gpt-4o-mini"
    assert run["config"]["judge"]["temperature"] == 0.0
    # The demo has no judge-labelled feedback: the judge is uncalibrated, and it says so.
    calibration = run["config"]["judge"]["calibration"]
    assert calibration["n"] == 0 and calibration["warning"] in ran["warnings"]
    models = {body.get("model") for path, body in fake.requests if path == "/v1/messages"}
    assert models == {"claude-3-5-haiku-20241022"}
    assert "<testsuites" in junit.read_text()

    # 3. The comparison with its statistics, and the holdout check.
    baseline, candidate = f"{run_id}/{OLD}", f"{run_id}/{NEW_FILE}"
    compared = cli.json("eval", "compare", baseline, candidate)
    assert compared["fixed"] == accepted and compared["broken"] == 0
    assert compared["mcnemar"]["p_value"] < 0.001
    assert compared["holdout_warning"] is None
    table = cli("eval", "compare", baseline, candidate).stdout
    assert "McNemar p=" in table and "paired bootstrap" in table
    report = cli.json("eval", "holdout", "--dataset", "support-thumbs")["items"]
    new_row = next(r for r in report if r["prompt_label"] == NEW_FILE)
    assert new_row["holdout"]["pass_rate"] == 1.0 and new_row["warning"] is None
    assert new_row["holdout_evaluations"] == 1

    # 4. The gate, as CI runs it: the candidate passes, the old version would not.
    cli("eval", "gate", "--baseline", baseline, "--candidate", candidate, "--min-pass-rate", "0.9")
    failed = cli(
        "eval",
        "gate",
        "--baseline",
        candidate,
        "--candidate",
        baseline,
        "--min-pass-rate",
        "0.9",
        code=1,
    )
    assert "gate failed: candidate pass rate 0.0%" in failed.output
    assert "significantly worse" in failed.output
    assert "was graded by a judge" in failed.output

    # 5. Promote the winner; the changelog records why, with links to the evidence.
    promoted = cli.json(
        "eval",
        "promote",
        run_id,
        "--prompt",
        NEW_FILE,
        "--name",
        "support_assistant",
        "--baseline",
        baseline,
        "--note",
        "Drop the filler opening users thumbed down.",
    )
    assert (promoted["prompt_name"], promoted["version"]) == ("support_assistant", "2.3.0")
    kinds = {e["kind"] for e in promoted["evidence"]}
    assert {"eval_run", "feedback_query", "failure_cluster"} <= kinds
    store = open_store(store_url)
    try:
        registry = PromptRegistry(store)
        assert registry.labels("support_assistant")["production"] == "2.3.0"
        version = registry.get("support_assistant", "2.3.0")
        assert version.template == NEW_TEMPLATE and version.source == "eval"
        deployment = registry.deployments("support_assistant")[-1]
        for needle in (
            f"/evals/runs/{run_id}",
            "support-thumbs@1",
            "McNemar p=",
            "Motivating failure clusters",
            "Drop the filler opening",
        ):
            assert needle in (deployment.reason or "")
        _dashboard(store, tmp_path, run_id, baseline, candidate)
    finally:
        store.close()


def _dashboard(store: Any, root: Path, run_id: str, baseline: str, candidate: str) -> None:
    settings = Settings(
        store_url=store.url,
        data_dir=root / "data",
        api_keys=frozenset(),
        flush_interval=0.05,
        fsync=False,
        signals_interval=0,
        alerts_interval=0,
        dashboard_password=None,
        dashboard_secret=None,
    )
    app = create_app(settings, store=store)
    # Wait for every dashboard snapshot: none may still be reading when the store closes.
    app.state.ui_snapshots.wait = 60
    with TestClient(app) as client:
        index = client.get("/evals")
        assert (
            index.status_code == 200 and run_id in index.text and "support-thumbs@1" in index.text
        )
        matrix = client.get(f"/evals/runs/{run_id}")
        assert matrix.status_code == 200
        assert "Outputs side by side" in matrix.text and "held-out items hidden" in matrix.text
        assert "Great question! Sure" in matrix.text and "Open the note and choose" in matrix.text
        compared = client.get(
            "/evals/compare", params={"baseline": baseline, "candidate": candidate}
        )
        assert compared.status_code == 200
        assert 'id="compare-chart"' in compared.text and "McNemar p =" in compared.text
        data = client.get(
            "/evals/compare.json", params={"baseline": baseline, "candidate": candidate}
        ).json()
        assert data["comparison"]["chart"]["candidate"][0] == 1.0
        prompt_page = client.get("/prompts/support_assistant")
        assert prompt_page.status_code == 200 and f"/evals/runs/{run_id}" in prompt_page.text
        api = client.get("/v1/evals/gate", params={"baseline": baseline, "candidate": candidate})
        assert api.status_code == 200 and api.json()["passed"] is True
