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
    Prompt,
    PromptUnavailable,
    Stats,
    Tracked,
    TrackedCall,
    context,
    current_interaction_id,
    feedback,
    feedback_token,
    flush,
    get_prompt,
    hash_user_id,
    init,
    last_interaction_id,
    llm_logging_middleware,
    shutdown,
    track,
    wrap_anthropic,
    wrap_openai,
)

__version__ = "0.1.0"

__all__ = [
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
