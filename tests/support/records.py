"""Small builders for records in tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from promptloop.core.records import FeedbackEvent, Interaction

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def interaction(**fields: Any) -> Interaction:
    base: dict[str, Any] = {
        "interaction_id": new_id(),
        "session_id": "s-1",
        "user_id": "u_abc",
        "feature": "chat",
        "prompt_name": "assistant",
        "prompt_version": "1.0.0",
        "model": "model-a",
        "system_prompt": "You are helpful.",
        "user_input": "hello",
        "raw_output": "hi there",
        "input_tokens": 10,
        "output_tokens": 20,
        "latency_ms": 100.0,
        "timestamp": T0,
    }
    base.update(fields)
    return Interaction.model_validate(base)


def feedback(interaction_id: str, feedback_type: str, **fields: Any) -> FeedbackEvent:
    base: dict[str, Any] = {
        "interaction_id": interaction_id,
        "feedback_type": feedback_type,
        "timestamp": T0 + timedelta(minutes=1),
    }
    base.update(fields)
    return FeedbackEvent.model_validate(base)
