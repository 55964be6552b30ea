"""promptloop: make LLM features get better from use.

The top-level package is the SDK a host app imports: it stays light (no server
dependencies, no provider SDKs).
"""

from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.exceptions import PromptloopError
from promptloop.sdk import (
    Client,
    Logger,
    Stats,
    Tracked,
    TrackedCall,
    context,
    current_interaction_id,
    feedback,
    flush,
    hash_user_id,
    init,
    last_interaction_id,
    llm_logging_middleware,
    shutdown,
    track,
    wrap_anthropic,
    wrap_openai,
)

__all__ = [
    "Client",
    "FeedbackEvent",
    "FeedbackSource",
    "FeedbackType",
    "Interaction",
    "Logger",
    "PromptloopError",
    "Stats",
    "Tracked",
    "TrackedCall",
    "context",
    "current_interaction_id",
    "feedback",
    "flush",
    "hash_user_id",
    "init",
    "last_interaction_id",
    "llm_logging_middleware",
    "shutdown",
    "track",
    "wrap_anthropic",
    "wrap_openai",
]
