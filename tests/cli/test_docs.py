"""docs/cli.md is the CLI reference: every example in it runs, every command and option is in it.

Examples are the ``$ promptloop ...`` lines of its ``console`` blocks. Each runs in a fresh
directory whose default store holds the test dataset (with its prompt changelog), next to a
git work tree ``prompts/`` of prompt files, as ``$USER`` dana; the collector URLs and the PostgreSQL
URL the docs use are pointed at real ones started by the tests; ``serve`` gets everything
but the listening socket, and the demo generator is the fake with its API. An example ending
in ``# exits N`` must exit with N, and an ``error:`` line under it is the exact message.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from promptloop.cli import serve as serve_module
from promptloop.cli.main import app
from promptloop.store import open_store
from tests.cli.conftest import FakeDemo, build_dataset, cli, fill, prompt_repo

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
COLLECTOR = "http://127.0.0.1:8321"
KEYED_COLLECTOR = "http://127.0.0.1:8322"
POSTGRES = "postgresql://promptloop@localhost:5432/promptloop"
_EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")
_ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Example:
    command: str
    exit_code: int = 0
    error: str | None = None


def documented_examples(text: str) -> list[Example]:
    found: list[Example] = []
    in_console = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_console = line.strip() == "```console"
            continue
        if not in_console:
            continue
        if line.startswith("$ "):
            exits = _EXITS.search(line)
            found.append(Example(line[2:], int(exits.group(1)) if exits else 0))
        elif line.startswith("error: ") and found and found[-1].error is None:
            found[-1].error = line
    return found


EXAMPLES = documented_examples(DOC.read_text(encoding="utf-8"))


@pytest.fixture
def docs_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_demo: FakeDemo
) -> Iterator[Path]:
    """A working directory whose default store holds the dataset; no sockets for serve."""
    monkeypatch.chdir(tmp_path)
    fill(open_store("duckdb:///.promptloop/promptloop.duckdb"), build_dataset()).close()
    prompt_repo(tmp_path / "prompts")
    monkeypatch.setattr(serve_module, "run_server", lambda app, host, port: None)
    yield tmp_path


def _substitutions(example: Example, request: pytest.FixtureRequest) -> dict[str, str]:
    needed = {
        COLLECTOR: "collector_url",
        KEYED_COLLECTOR: "keyed_collector_url",
        POSTGRES: "pg_data_url",
    }
    return {
        url: str(request.getfixturevalue(fixture))
        for url, fixture in needed.items()
        if url in example.command
    }


def _apply(text: str, substitutions: dict[str, str]) -> str:
    for old, new in substitutions.items():
        text = text.replace(old, new)
    return text


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) > 40
    assert any(example.exit_code == 2 for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.command for example in EXAMPLES])
def test_documented_example_runs(
    example: Example, docs_world: Path, request: pytest.FixtureRequest
) -> None:
    substitutions = _substitutions(example, request)
    words = shlex.split(_apply(example.command, substitutions), comments=True)
    env: dict[str, str | None] = {}
    while words and _ENV_ASSIGNMENT.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[0] == "promptloop"
    result = cli(words[1:], env=env)
    assert result.exit_code == example.exit_code, result.output
    if example.error is not None:
        assert result.stderr.strip() == _apply(example.error, substitutions)
    if example.exit_code == 0 and "--json" in words:
        json.loads(result.stdout)


# -- everything the CLI has is documented ----------------------------------------------------
def _commands(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    command = command or typer.main.get_command(app)
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def _section(text: str, path: tuple[str, ...]) -> str:
    """The text under the heading for ``promptloop PATH``, up to the next heading."""
    if not path:
        heading = "## Global options"
    else:
        heading = next(
            line
            for line in text.splitlines()
            if line.startswith("#") and f"`promptloop {' '.join(path)}`" in line
        )
    body = text.split(heading, 1)[1]
    return re.split(r"\n#{2,3} ", body, maxsplit=1)[0]


COMMANDS = list(_commands())


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_every_command_and_option_is_documented(path: tuple[str, ...]) -> None:
    text = DOC.read_text(encoding="utf-8")
    command = dict(COMMANDS)[path]
    section = _section(text, path)
    for param in command.params:
        if param.param_type_name == "argument":
            assert f"`{param.name.upper()}`" in section, f"{param.name} of {path}"
            continue
        for option in param.opts:
            assert f"`{option}" in section, f"{option} of promptloop {' '.join(path)}"
    examples = [line for line in section.splitlines() if line.startswith("$ promptloop")]
    assert any(" ".join(path) in line for line in examples), f"no example for {path}"
