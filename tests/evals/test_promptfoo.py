"""promptfoo interop: the seed's example runs as written (real anthropic and openai clients
against the scripted server on 127.0.0.1), unsupported parts are named, and a dataset
exported as promptfoo tests runs back as a config."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from promptloop.cli.main import app
from promptloop.evals import datasets, promptfoo
from promptloop.evals.datasets import NewItem
from promptloop.store import open_store
from tests.support.fake_llm import FakeLLM

SEED = Path(__file__).resolve().parents[2] / "examples" / "promptfoo-seed"
PASS = '{"reason": "%s", "pass": true, "score": 1.0}'
FAIL = '{"reason": "%s", "pass": false, "score": 0.0}'


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def _cli(args: list[str], env: Mapping[str, str | None]) -> Result:
    base = {"USER": "dana", "PROMPTLOOP_URL": None, "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(app, args, env={**base, **env})


def _env(fake: FakeLLM, store_url: str) -> dict[str, str | None]:
    return {
        "PROMPTLOOP_STORE": store_url,
        "OPENAI_BASE_URL": fake.openai_url,
        "OPENAI_API_KEY": "test",
        "ANTHROPIC_BASE_URL": fake.anthropic_url,
        "ANTHROPIC_API_KEY": "test",
    }


def _script_seed(fake: FakeLLM) -> None:
    # The judge sees outputs (never the prompts), so its routes come first.
    fake.route("connects to Slack, Google Drive and Zapier", FAIL % "Zapier is not in the context")
    fake.route("connects to Slack and Google Drive only", PASS % "Only listed integrations")
    fake.route("Restart the app", FAIL % "It guesses what 'it' is")
    fake.route("Which feature is not working", PASS % "It asks a clarifying question")
    fake.route("(v1.4): What integrations", "Acme connects to Slack, Google Drive and Zapier.")
    fake.route("(v1.5): What integrations", "Acme connects to Slack and Google Drive only.")
    fake.route("(v1.4): How do I fix it", "Restart the app and try again.")
    fake.route("(v1.5): How do I fix it", "Which feature is not working for you?")


def test_the_seed_example_runs_as_written(fake: FakeLLM, tmp_path: Path) -> None:
    _script_seed(fake)
    store_url = f"duckdb:///{tmp_path}/store.duckdb"
    junit = tmp_path / "junit.xml"
    config = str(SEED / "promptfooconfig.yaml")
    result = _cli(
        ["eval", "run", "-c", config, "--json", "--junit-xml", str(junit)], _env(fake, store_url)
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["unsupported"] == []
    run = found["run"]
    assert run["dataset"] == "promptfoo-acme-support-assistant-v1-4-vs-v1-5"
    cells = {c["prompt_label"]: c for c in run["summary"]["cells"]}
    assert cells["v1.4"]["pass_rate"]["count"] == 0
    assert cells["v1.5"]["pass_rate"]["count"] == 2 and cells["v1.5"]["pass_rate"]["n"] == 2
    assert cells["v1.5"]["provider_id"] == "anthropic:claude-sonnet-4-20250514"
    # promptfoo's default grader when the config names none: OpenAI, temperature 0, seed 0.
    judge = run["config"]["judge"]
    assert (judge["provider"], judge["temperature"], judge["seed"]) == (
        "openai:chat:gpt-4.1-2025-04-14",
        0.0,
        0,
    )
    paths = [path for path, _ in fake.requests]
    assert paths.count("/v1/messages") == 4  # 2 prompts x 2 tests, through the anthropic client
    assert paths.count("/v1/chat/completions") == 4  # 2 rubric verdicts per prompt
    anthropic_bodies = [body for path, body in fake.requests if path == "/v1/messages"]
    assert {body["model"] for body in anthropic_bodies} == {"claude-sonnet-4-20250514"}
    xml = junit.read_text()
    assert 'tests="2" failures="2"' in xml and 'tests="2" failures="0"' in xml
    # The same config again reuses the stored tests (same dataset version).
    again = _cli(["eval", "run", "-c", config, "--json"], _env(fake, store_url))
    assert json.loads(again.stdout)["run"]["dataset_version"] == run["dataset_version"]


def test_unsupported_parts_are_named(fake: FakeLLM, tmp_path: Path) -> None:
    (tmp_path / "prompt.txt").write_text("Say {{word}}")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: [file://prompt.txt]\nproviders: [echo]\n"
        "scenarios: []\n"
        "tests:\n  - vars: {word: hi}\n    options: {transform: x}\n"
        "    assert: [{type: icontains, value: hi}]\n"
    )
    env = _env(fake, f"duckdb:///{tmp_path}/s.duckdb")
    result = _cli(["eval", "run", "-c", str(config), "--json"], env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unsupported"] == ["scenarios", "tests[0].options"]
    assert "not run (unsupported by promptloop): scenarios, tests[0].options" in result.output
    config.write_text(
        "prompts: [file://prompt.txt]\nproviders: [echo]\n"
        "tests:\n  - vars: {word: hi}\n    assert: [{type: javascript, value: 'output'}]\n"
    )
    refused = _cli(["eval", "run", "-c", str(config)], env)
    assert refused.exit_code == 2
    assert "tests[0].assert[0].type: unsupported assertion type 'javascript'" in refused.output
    config.write_text("prompts: [hi]\nproviders: [bedrock:foo]\ntests: []\n")
    refused = _cli(["eval", "run", "-c", str(config)], env)
    assert refused.exit_code == 2 and "providers[0].id" in refused.output


def test_exported_promptfoo_tests_run_back(fake: FakeLLM, tmp_path: Path) -> None:
    store_url = f"duckdb:///{tmp_path}/s.duckdb"
    store = open_store(store_url)
    items = [
        NewItem(
            input="alpha",
            vars={"user_input": "alpha"},
            assertions=[{"type": "icontains", "value": "alpha"}],
        ),
        NewItem(
            input="beta",
            vars={"user_input": "beta"},
            assertions=[{"type": "icontains", "value": "gamma"}],
        ),
    ]
    datasets.create_version(store, "exp", items, holdout_fraction=0.0)
    store.close()
    env = _env(fake, store_url)
    exported = _cli(
        ["dataset", "export", "exp", "--format", "promptfoo", "-o", str(tmp_path / "tests.yaml")],
        env,
    )
    assert exported.exit_code == 0, exported.output
    (tmp_path / "promptfooconfig.yaml").write_text(
        "description: exported\nprompts: ['Echo {{user_input}}']\nproviders: [echo]\n"
        "tests: file://tests.yaml\n"
    )
    result = _cli(["eval", "run", "-c", str(tmp_path / "promptfooconfig.yaml"), "--json"], env)
    assert result.exit_code == 0, result.output
    [cell] = json.loads(result.stdout)["run"]["summary"]["cells"]
    assert (cell["pass_rate"]["count"], cell["pass_rate"]["n"]) == (1, 2)


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"prompts\[0\]: needs 'raw' text"):
        promptfoo.parse_config({"prompts": [{"label": "x"}]}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="globs"):
        promptfoo.parse_config({"prompts": ["file://p/*.txt"]}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="defaultTest"):
        promptfoo.parse_config({"defaultTest": []}, base_dir=tmp_path)
    (tmp_path / "t.csv").write_text("question,__expected\nhi,icontains: hi\n")
    plan = promptfoo.parse_config(
        {"prompts": ["{{question}}"], "providers": ["echo"], "tests": "file://t.csv"},
        base_dir=tmp_path,
    )
    assert plan.tests[0].vars == {"question": "hi"}
    assert plan.tests[0].assertions == [{"type": "icontains", "value": "hi"}]


def test_test_thresholds_and_nunjucks_tags(tmp_path: Path) -> None:
    plan = promptfoo.parse_config(
        {
            "prompts": ["{% if formal %}Dear{% endif %} {{name}}", "Hi {{ name }}"],
            "providers": ["echo"],
            "tests": [
                {
                    "vars": {"name": "Ana"},
                    "threshold": 0.5,
                    "assert": [
                        {"type": "icontains", "value": "ana"},
                        {"type": "equals", "value": "x"},
                    ],
                }
            ],
        },
        base_dir=tmp_path,
    )
    [test] = plan.tests
    assert test.assertions == [
        {
            "type": "assert-set",
            "threshold": 0.5,
            "assert": [{"type": "icontains", "value": "ana"}, {"type": "equals", "value": "x"}],
        }
    ]
    assert plan.unsupported == ["prompts[0] (nunjucks tags or filters; only {{ var }} renders)"]
    with pytest.raises(ValueError, match=r"tests\[0\].threshold"):
        promptfoo.parse_config(
            {"tests": [{"threshold": "high", "assert": [{"type": "equals", "value": "x"}]}]},
            base_dir=tmp_path,
        )
