"""Output conventions: NO_COLOR, no locals in tracebacks, JSON values, secrets in URLs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from promptloop.cli._output import jsonable, redact_url
from promptloop.cli.main import app
from tests.cli.conftest import cli

_COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|38;[0-9;]+|9[0-7])m")


@pytest.mark.parametrize(
    "group",
    [
        [],
        ["interactions"],
        ["query"],
        ["prompts"],
        ["signals"],
        ["demo"],
        ["serve"],
        ["stats"],
        ["migrate"],
        ["sql"],
    ],
)
def test_every_group_has_help(group: list[str]) -> None:
    result = cli([*group, "--help"])
    assert result.exit_code == 0
    assert "Usage: promptloop" in result.stdout


def test_errors_are_coloured_unless_no_color(duck_url: str) -> None:
    args = ["--store", duck_url, "interactions", "list", "--feedback-type", "x"]
    forced = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}
    coloured = cli(args, env=forced)
    assert _COLOUR.search(coloured.stderr)
    plain = cli(args, env={**forced, "NO_COLOR": "1"})
    assert plain.exit_code == 2
    assert not _COLOUR.search(plain.stderr)
    assert "--feedback-type" in plain.stderr


def test_tables_respect_no_color(duck_url: str) -> None:
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": "1"}
    result = cli(["--store", duck_url, "query", "versions"], env=env)
    assert result.exit_code == 0
    assert not _COLOUR.search(result.stdout)


def test_json_output_is_never_coloured(duck_url: str) -> None:
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}
    result = cli(["--store", duck_url, "stats", "--json"], env=env)
    assert "\x1b[" not in result.stdout


def test_tracebacks_do_not_show_locals() -> None:
    assert app.pretty_exceptions_show_locals is False
    crash = (
        "import sys, promptloop.cli._backend as b\n"
        "def boom(target):\n"
        "    raise RuntimeError('unexpected')\n"
        "b.connect = boom\n"
        "from promptloop.cli.main import run\n"
        "sys.argv = ['promptloop', '--url', 'http://127.0.0.1:9', '--api-key', 'SECRET-KEY-42',"
        " 'stats']\n"
        "run()\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROMPTLOOP_", "_TYPER", "TYPER_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", crash], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 1
    assert "RuntimeError" in done.stderr and "unexpected" in done.stderr
    assert "SECRET-KEY-42" not in done.stderr + done.stdout


def test_jsonable() -> None:
    assert jsonable(
        {
            "naive": datetime(2026, 11, 1, 12, 0),
            "offset": datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            "utc": datetime(2026, 11, 1, 12, 0, 0, 5, tzinfo=UTC),
            "day": date(2026, 11, 1),
            "whole": Decimal("3"),
            "part": Decimal("0.25"),
            "span": timedelta(seconds=90),
            "blob": b"\x00\x01",
            "nested": [{"n": 1}, (2, None)],
        }
    ) == {
        "naive": "2026-11-01T12:00:00Z",
        "offset": "2026-11-01T12:00:00Z",
        "utc": "2026-11-01T12:00:00.000005Z",
        "day": "2026-11-01",
        "whole": 3,
        "part": 0.25,
        "span": 90.0,
        "blob": "AAE=",
        "nested": [{"n": 1}, [2, None]],
    }


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://u@db/x", "postgresql://u@db/x"),
        ("duckdb:///.promptloop/promptloop.duckdb", "duckdb:///.promptloop/promptloop.duckdb"),
        ("https://user:tok@collector.example/api", "https://user:***@collector.example/api"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
