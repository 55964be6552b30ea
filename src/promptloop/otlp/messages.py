"""Chat messages in the shapes the conventions write them, reduced to (role, text).

Shapes met in the wild: OpenAI-style ``{"role", "content"}`` where content is text or a
list of parts (``{"type": "text", "text": ...}``); GenAI's ``{"role", "parts": [{"type":
"text", "content": ...}]}``; ``gen_ai.choice`` events' ``{"message": {...}}``; and any of
these as a JSON string, since span attributes cannot nest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    text: str


def maybe_json(value: Any) -> Any:
    """A JSON document inside a string attribute, decoded; anything else as it is."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def text_of(content: Any) -> str | None:
    """The text of a message's content: a string, a list of parts, or a part."""
    if isinstance(content, str):
        parts = maybe_json(content)
        if not _looks_like_parts(parts):
            return content  # text that merely looks like JSON is still the user's text
        content = parts
    if content is None:
        return None
    if isinstance(content, list):
        pieces = [text_of(part) for part in content]
        joined = "".join(piece for piece in pieces if piece)
        return joined or None
    if isinstance(content, dict):
        kind = content.get("type")
        if kind not in (None, "text", "input_text", "output_text"):
            return None  # images, tool calls, files: not text the user typed or read
        for key in ("text", "content", "value"):
            if isinstance(content.get(key), str):
                return str(content[key])
        return None
    return str(content)


_MESSAGE_KEYS = frozenset({"role", "content", "parts", "text", "message", "messages"})


def _looks_like_messages(value: Any) -> bool:
    if isinstance(value, dict):
        return not _MESSAGE_KEYS.isdisjoint(value)
    return isinstance(value, list) and any(
        isinstance(item, str) or (isinstance(item, dict) and not _MESSAGE_KEYS.isdisjoint(item))
        for item in value
    )


def _looks_like_parts(value: Any) -> bool:
    """Content parts serialised to a string (OpenLLMetry does this for multimodal input)."""
    if isinstance(value, dict):
        return "type" in value
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "type" in item for item in value)
    )


def raw_text(value: Any) -> str | None:
    """A prompt or completion attribute: text stays text (even if it looks like JSON)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def messages_of(value: Any, *, default_role: str = "user") -> list[Message]:
    """Messages from a list, a ``{"messages": [...]}`` object, one message, or plain text."""
    original = value
    value = maybe_json(value)
    if value is None:
        return []
    if isinstance(value, str):
        return [Message(default_role, value)]
    if isinstance(original, str) and not _looks_like_messages(value):
        return [Message(default_role, original)]  # a prompt that happens to be JSON
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            return messages_of(value["messages"], default_role=default_role)
        if isinstance(value.get("message"), dict):  # gen_ai.choice
            return messages_of(value["message"], default_role=default_role)
        value = [value]
    if not isinstance(value, list):
        return [Message(default_role, str(value))]
    found: list[Message] = []
    for item in value:
        if isinstance(item, str):
            found.append(Message(default_role, item))
            continue
        if not isinstance(item, dict):
            continue
        nested = item.get("message")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else item
        role = str(inner.get("role") or default_role)
        content = inner.get("parts", inner.get("content", inner.get("text")))
        text = text_of(content)
        if text is not None:
            found.append(Message(role, text))
    return found


def system_prompt_of(messages: list[Message]) -> str | None:
    texts = [m.text for m in messages if m.role in SYSTEM_ROLES]
    return "\n\n".join(texts) if texts else None


def user_input_of(messages: list[Message]) -> str | None:
    """The last user turn: what this call answered (earlier turns are context)."""
    for message in reversed(messages):
        if message.role == "user":
            return message.text
    others = [m.text for m in messages if m.role not in SYSTEM_ROLES]
    return others[-1] if others else None


def output_of(messages: list[Message]) -> str | None:
    """The first answer: with n > 1 choices, the one a chat UI shows."""
    for message in messages:
        if message.role not in SYSTEM_ROLES and message.role not in ("user", "tool"):
            return message.text
    return messages[0].text if messages else None
