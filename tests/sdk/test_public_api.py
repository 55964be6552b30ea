"""The public surface is locked, and importing promptloop stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import promptloop

EXPECTED = [
    "Client",
    "FeedbackEvent",
    "FeedbackSource",
    "FeedbackType",
    "Interaction",
    "Logger",
    "Prompt",
    "PromptUnavailable",
    "PromptloopError",
    "Stats",
    "Tracked",
    "TrackedCall",
    "context",
    "current_interaction_id",
    "feedback",
    "feedback_token",
    "flush",
    "get_prompt",
    "hash_user_id",
    "init",
    "last_interaction_id",
    "llm_logging_middleware",
    "shutdown",
    "track",
    "wrap_anthropic",
    "wrap_openai",
]

HEAVY = ["fastapi", "duckdb", "pyarrow", "typer", "rich", "openai", "anthropic", "uvicorn"]


def test_all_is_sorted_and_locked() -> None:
    assert promptloop.__all__ == sorted(promptloop.__all__)
    assert promptloop.__all__ == EXPECTED
    for name in EXPECTED:
        assert getattr(promptloop, name) is not None


def test_import_is_light() -> None:
    code = (
        "import json, sys, promptloop\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def test_sdk_modules_import_no_server_code() -> None:
    code = (
        "import json, sys, promptloop, promptloop.sdk.integrations\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('promptloop.')"
        " and m.split('.')[1] not in ('sdk', 'core', 'exceptions'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []
