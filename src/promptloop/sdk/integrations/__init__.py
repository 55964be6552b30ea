"""Provider wrappers: proxies over the public methods of the OpenAI and Anthropic clients."""

from promptloop.sdk.integrations.anthropic import wrap_anthropic
from promptloop.sdk.integrations.openai import wrap_openai

__all__ = ["wrap_anthropic", "wrap_openai"]
