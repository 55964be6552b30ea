"""Turn queued dicts into wire records (snake_case JSON), on the background thread.

Everything that is too slow for the hot path happens here: camelCase keys from seed-shaped
dicts are mapped to field names (unknown keys are folded into ``metadata``, as the
collector does), epoch timestamps become ISO-8601 UTC strings, raw user IDs are
HMAC-hashed, the prompt hash is computed from the system prompt, defaults are applied,
over-long texts are truncated and ``None`` fields are dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import AliasChoices

from promptloop.core.records import MAX_TEXT_CHARS, FeedbackEvent, Interaction
from promptloop.sdk.extract import input_text, output_text
from promptloop.sdk.hashing import UserHasher

_TEXT_FIELDS = ("system_prompt", "user_input", "raw_output", "error")
_PROMPT_HASH_CACHE: dict[str, str] = {}
_PROMPT_HASH_CACHE_MAX = 256
# Datetimes go through _default (ISO 8601 in UTC, as with json), not orjson's naive format.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _alias_map(model: type[Interaction] | type[FeedbackEvent]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for name, info in model.model_fields.items():
        mapping[name] = name
        if isinstance(info.validation_alias, AliasChoices):
            for choice in info.validation_alias.choices:
                mapping.setdefault(str(choice), name)
    return mapping


INTERACTION_KEYS = _alias_map(Interaction)
FEEDBACK_KEYS = _alias_map(FeedbackEvent)


def prompt_hash(system_prompt: str) -> str:
    """SHA-256 hex digest of the system prompt text: groups calls by the exact prompt.

    >>> prompt_hash("You are terse.")[:12]
    '97dd3b604bbd'
    """
    cached = _PROMPT_HASH_CACHE.get(system_prompt)
    if cached is None:
        cached = hashlib.sha256(system_prompt.encode("utf-8", "surrogatepass")).hexdigest()
        if len(_PROMPT_HASH_CACHE) >= _PROMPT_HASH_CACHE_MAX:
            _PROMPT_HASH_CACHE.clear()
        _PROMPT_HASH_CACHE[system_prompt] = cached
    return cached


def iso_timestamp(value: Any) -> Any:
    """Epoch seconds or datetimes as ISO-8601 UTC; strings pass through for the collector."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat()
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return value


def normalize_keys(entry: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """Map camelCase/alias keys to field names; fold unknown keys into ``metadata``."""
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in entry.items():
        name = keys.get(key)
        if name is None:
            extra[key] = value
        elif name not in out or out[name] is None:
            out[name] = value
    if extra:
        metadata = out.get("metadata")
        merged = dict(metadata) if isinstance(metadata, Mapping) else {}
        for key, value in extra.items():
            merged.setdefault(key, value)
        out["metadata"] = merged
    return out


def prepare_interaction(
    rec: Mapping[str, Any],
    hasher: UserHasher,
    default_feature: str | None = None,
    default_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A queued interaction dict as the collector's snake_case wire record."""
    out: dict[str, Any] = {}
    for key, value in rec.items():
        if value is not None:
            out[key] = value
    for name in ("system_prompt", "user_input"):
        value = out.get(name)
        if value is not None and not isinstance(value, str):
            out[name] = input_text(value)
    raw_output = out.get("raw_output")
    if raw_output is not None and not isinstance(raw_output, str):
        out["raw_output"] = output_text(raw_output)
    if "timestamp" in out:
        out["timestamp"] = iso_timestamp(out["timestamp"])
    else:
        out["timestamp"] = datetime.now(UTC).isoformat()
    user_id = out.get("user_id")
    if user_id is not None:
        out["user_id"] = hasher.hash(str(user_id))
    system_prompt = out.get("system_prompt")
    if "prompt_hash" not in out and isinstance(system_prompt, str) and system_prompt:
        out["prompt_hash"] = prompt_hash(system_prompt)
    if "feature" not in out and default_feature:
        out["feature"] = default_feature
    metadata = out.get("metadata")
    if default_metadata:
        out["metadata"] = {**default_metadata, **metadata} if metadata else dict(default_metadata)
    elif metadata is not None and not metadata:
        del out["metadata"]
    latency = out.get("latency_ms")
    if isinstance(latency, float):
        out["latency_ms"] = round(latency, 3)
    truncated = [
        f for f in _TEXT_FIELDS if isinstance(out.get(f), str) and len(out[f]) > MAX_TEXT_CHARS
    ]
    if truncated:
        for name in truncated:
            out[name] = out[name][:MAX_TEXT_CHARS]
        out["metadata"] = {**out.get("metadata", {}), "promptloop_truncated": truncated}
    return out


def prepare_feedback(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A queued feedback dict as the collector's snake_case wire record."""
    out = {key: value for key, value in rec.items() if value is not None}
    out["timestamp"] = iso_timestamp(out.get("timestamp")) or datetime.now(UTC).isoformat()
    if not out.get("metadata"):
        out.pop("metadata", None)
    return out


def _default(value: Any) -> Any:
    # Host metadata may hold anything: sets, UUIDs, datetimes, pydantic models, enums.
    if isinstance(value, datetime):
        return iso_timestamp(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return str(value)


def encode(record: Mapping[str, Any]) -> bytes:
    """Compact JSON (UTF-8) for the wire.

    orjson first: it encodes a record several times faster than ``json``, and this runs on
    the sender thread, which shares the GIL with the host app. What orjson refuses (lone
    surrogates, integers beyond 64 bits) goes through ``json`` as escaped ASCII instead.
    """
    try:
        return orjson.dumps(record, default=_default, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(record, default=_default, separators=(",", ":")).encode("ascii")
