"""Duck-typed text extraction from LLM inputs and outputs (no provider SDK is imported).

Understands OpenAI chat completions and chunks, OpenAI Responses, Anthropic messages and
stream events, chat message lists (``[{"role": "user", "content": ...}]``), plain strings
and the seed middleware's ``{"output": ...}`` dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def content_text(content: Any) -> str | None:
    """Text of a message ``content``: a string, or a list of text parts/blocks."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        parts = [_get(part, "text") for part in content]
        texts = [p for p in parts if isinstance(p, str)]
        return "".join(texts) if texts else None
    return None


def last_user_message(messages: Any) -> str | None:
    """Text of the last ``role == "user"`` message of a chat message list."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        return None
    for message in reversed(messages):
        if _get(message, "role") == "user":
            return content_text(_get(message, "content"))
    return None


def system_messages(messages: Any) -> str | None:
    """Joined text of the ``system``/``developer`` messages of a chat message list."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        return None
    texts = [
        content_text(_get(m, "content"))
        for m in messages
        if _get(m, "role") in ("system", "developer")
    ]
    found = [t for t in texts if t]
    return "\n\n".join(found) if found else None


def input_text(value: Any) -> str | None:
    """Best text for a captured user input (a string, a message list, or anything else)."""
    if value is None or isinstance(value, str):
        return value
    user = last_user_message(value)
    if user is not None:
        return user
    return _safe_str(value)


def _safe_str(value: Any) -> str | None:
    try:
        return str(value)
    except Exception:
        return None


def _tool_calls_text(tool_calls: Any) -> str | None:
    if not tool_calls:
        return None
    calls = []
    for call in tool_calls:
        fn = _get(call, "function")
        calls.append({"name": _get(fn, "name"), "arguments": _get(fn, "arguments")})
    return json.dumps({"tool_calls": calls}, default=str)


def output_text(value: Any) -> str | None:
    """Best text for a captured output: provider response objects, dicts, else ``str()``."""
    if value is None or isinstance(value, str):
        return value
    # OpenAI Responses API: `output_text` is a convenience property.
    text = getattr(value, "output_text", None)
    if isinstance(text, str):
        return text
    # OpenAI chat completion: choices[0].message.content (or its tool calls).
    choices = _get(value, "choices")
    if isinstance(choices, Sequence) and choices:
        message = _get(choices[0], "message")
        if message is not None:
            content = content_text(_get(message, "content"))
            return content if content is not None else _tool_calls_text(_get(message, "tool_calls"))
        return _get(choices[0], "text") if isinstance(_get(choices[0], "text"), str) else None
    # Anthropic message: content blocks with type "text".
    content = _get(value, "content")
    if isinstance(content, Sequence) and not isinstance(content, str) and content:
        return content_text(content)
    if isinstance(value, Mapping):
        for key in ("output", "rawOutput", "raw_output", "text", "content"):
            item = value.get(key)
            if isinstance(item, str):
                return item
    return _safe_str(value)


def usage_tokens(response: Any) -> tuple[int | None, int | None]:
    """(input, output) token counts from an OpenAI or Anthropic ``usage`` object."""
    usage = _get(response, "usage")
    if usage is None:
        return None, None
    inp = _get(usage, "input_tokens")
    if inp is None:
        inp = _get(usage, "prompt_tokens")
    out = _get(usage, "output_tokens")
    if out is None:
        out = _get(usage, "completion_tokens")
    return (inp if isinstance(inp, int) else None, out if isinstance(out, int) else None)


def chunk_text(chunk: Any) -> str | None:
    """Text carried by one streamed item: a string, an OpenAI chunk, an Anthropic delta."""
    if isinstance(chunk, str):
        return chunk
    choices = _get(chunk, "choices")
    if isinstance(choices, Sequence) and choices:
        delta = _get(choices[0], "delta")
        text = _get(delta, "content") if delta is not None else None
        return text if isinstance(text, str) else None
    delta = _get(chunk, "delta")
    if delta is not None:
        text = _get(delta, "text")
        if isinstance(text, str):
            return text
        if isinstance(delta, str):
            return delta
    return None
