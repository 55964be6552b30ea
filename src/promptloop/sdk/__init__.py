"""The promptloop SDK: log every LLM call with its interaction ID and prompt version, and
link feedback to it. Imports only the standard library, httpx, pydantic and
``promptloop.core``; nothing here ever raises into the host app (see ``guard``).

    import promptloop

    promptloop.init("http://127.0.0.1:8321", api_key="...")

    @promptloop.track(feature="summarize", prompt_version="v1.4")
    def summarize(text: str) -> str: ...

    summary = summarize(document)
    promptloop.feedback(promptloop.last_interaction_id(), "thumbs_down", category="wrong")
"""

from promptloop.sdk.call import TrackedCall
from promptloop.sdk.client import Client, flush, hash_user_id, init, shutdown
from promptloop.sdk.context import context, current_interaction_id, last_interaction_id
from promptloop.sdk.feedback import feedback
from promptloop.sdk.integrations import wrap_anthropic, wrap_openai
from promptloop.sdk.middleware import Logger, llm_logging_middleware
from promptloop.sdk.prompts import Prompt, PromptUnavailable, get_prompt
from promptloop.sdk.tokens import feedback_token
from promptloop.sdk.track import Tracked, track
from promptloop.sdk.transport import Stats

__all__ = [
    "Client",
    "Logger",
    "Prompt",
    "PromptUnavailable",
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
