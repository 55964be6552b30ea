"""The seed article's middleware and logger work unchanged and produce valid records."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

import promptloop
from promptloop.core.records import Interaction
from tests.support.recording_collector import RecordingCollector

SYSTEM = "You are a helpful assistant for ACME. Answer only from the provided docs."


def fake_llm(system_prompt: str, user_input: str) -> str:
    return f"answer to {user_input}"


def test_seed_middleware_usage(client: promptloop.Client, collector: RecordingCollector) -> None:
    # Exactly as in the seed: positional (call_llm, logger, prompt_version).
    wrapped = promptloop.llm_logging_middleware(fake_llm, promptloop.Logger(), "v1.4")
    result = wrapped(
        SYSTEM,
        "What integrations do you support?",
        sessionId="sess-1",
        userId="user-42",
        feature="support-chat",
        metadata={"variant": "A"},
        tenant="acme",
    )
    assert set(result) == {"interactionId", "output"}
    assert result["output"] == "answer to What integrations do you support?"
    assert uuid.UUID(result["interactionId"]).version == 4
    assert promptloop.last_interaction_id() == result["interactionId"]

    assert client.flush(timeout=10)
    [record] = collector.interactions()
    parsed = Interaction.model_validate(record)
    assert parsed.interaction_id == result["interactionId"]
    assert parsed.prompt_version == "v1.4"
    assert parsed.system_prompt == SYSTEM
    assert parsed.prompt_hash == hashlib.sha256(SYSTEM.encode()).hexdigest()
    assert parsed.user_input == "What integrations do you support?"
    assert parsed.raw_output == result["output"]
    assert parsed.latency_ms is not None and parsed.latency_ms >= 0
    assert parsed.session_id == "sess-1"
    assert parsed.user_id == promptloop.hash_user_id("user-42")
    assert parsed.feature == "support-chat"
    assert parsed.metadata == {"variant": "A", "tenant": "acme"}


def test_seed_middleware_default_logger_and_context(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    wrapped = promptloop.llm_logging_middleware(fake_llm, prompt_version="v2")
    with promptloop.context(session_id="s", user_id="bob", feature="ctx-feature"):
        wrapped(SYSTEM, "hi")
    assert client.flush(timeout=10)
    [record] = collector.interactions()
    parsed = Interaction.model_validate(record)
    assert parsed.feature == "ctx-feature"
    assert parsed.user_id == promptloop.hash_user_id("bob")


def test_seed_middleware_with_a_foreign_logger(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    class ListLogger:
        def __init__(self) -> None:
            self.entries: list[dict[str, Any]] = []

        def log(self, entry: dict[str, Any]) -> None:
            self.entries.append(entry)

    logger = ListLogger()
    wrapped = promptloop.llm_logging_middleware(fake_llm, logger, "v1.4")
    result = wrapped(SYSTEM, "hi", userId="raw-user")
    [entry] = logger.entries
    # The seed's keys, as the seed's logger expects them (user ID already hashed).
    assert entry["interactionId"] == result["interactionId"]
    assert entry["promptVersion"] == "v1.4"
    assert entry["userInput"] == "hi"
    assert entry["rawOutput"] == "answer to hi"
    assert isinstance(entry["latencyMs"], float)
    assert entry["userId"] == promptloop.hash_user_id("raw-user")
    assert client.flush(timeout=10)
    Interaction.model_validate(collector.interactions()[0])


def test_seed_middleware_records_errors(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    def failing(system_prompt: str, user_input: str) -> str:
        raise TimeoutError("provider timed out")

    wrapped = promptloop.llm_logging_middleware(failing, None, "v1.4")
    with pytest.raises(TimeoutError):
        wrapped(SYSTEM, "hi")
    assert client.flush(timeout=10)
    [record] = collector.interactions()
    assert Interaction.model_validate(record).error == "TimeoutError: provider timed out"


def test_seed_shaped_dict_through_logger(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    entry = {
        "interactionId": "0b6c6a43-4a55-4c3e-9a0e-6a1f6f1f1f1f",
        "sessionId": "sess-9",
        "userId": "already-anonymised-user",
        "promptVersion": "v1.5",
        "model": "claude-sonnet-4-20250514",
        "systemPrompt": SYSTEM,
        "userInput": "How do I fix it?",
        "rawOutput": "Could you tell me what 'it' is?",
        "inputTokens": 120,
        "outputTokens": 9,
        "latencyMs": 812,
        "timestamp": "2025-05-01T12:00:00Z",
        "metadata": {"ab_variant": "B"},
        "experiment": "clarify-first",
    }
    assert promptloop.Logger().log(entry) == entry["interactionId"]
    assert client.flush(timeout=10)
    [record] = collector.interactions()
    parsed = Interaction.model_validate(record)
    assert parsed.interaction_id == entry["interactionId"]
    assert parsed.model == "claude-sonnet-4-20250514"
    assert (parsed.input_tokens, parsed.output_tokens) == (120, 9)
    assert parsed.latency_ms == 812
    assert parsed.timestamp.isoformat() == "2025-05-01T12:00:00+00:00"
    assert parsed.metadata == {"ab_variant": "B", "experiment": "clarify-first"}
    assert parsed.user_id == promptloop.hash_user_id("already-anonymised-user")
    assert parsed.prompt_hash == hashlib.sha256(SYSTEM.encode()).hexdigest()
    # snake_case dicts work too
    promptloop.Logger().log({"user_input": "snake", "raw_output": "case"})
    assert client.flush(timeout=10)
    assert Interaction.model_validate(collector.interactions()[1]).user_input == "snake"
