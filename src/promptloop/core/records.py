"""The two records of the loop: an LLM interaction and a feedback event linked to it.

Both accept the seed's camelCase JSON (``interactionId``, ``userInput``, ...) and snake_case,
and always serialise to snake_case, the column names of the store.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from promptloop.core.enums import FeedbackSource, FeedbackType

_CATEGORY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-. ]{0,63}$")
_FEEDBACK_ID_NAMESPACE = uuid.UUID("6b0f6a52-7f4e-4c7e-9a51-2d1f0c1e7a10")
# Interactions ingested as OpenTelemetry spans get an ID derived from (trace_id, span_id).
SPAN_ID_NAMESPACE = uuid.UUID("0c5d3f3e-8a43-4d0e-9a58-6f1f4b7e2c91")
MAX_TEXT_CHARS = 1_000_000
# Deeper metadata would be stored but could never be serialised back (pydantic and the
# JSON encoders stop far below JSON parsers' limits), so it is refused at ingest.
MAX_METADATA_DEPTH = 32
# Stands for "the client sent no timestamp" until validation replaces it.
_UNSET_TIME = datetime(1, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken to be UTC; aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(value: str, field: str) -> str:
    # Almost every ID arrives canonical already: a regex check is ~50x cheaper than UUID().
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{field} must be a UUID, got {value!r}") from None


def interaction_id_for_span(trace_id: str, span_id: str) -> str:
    """The interaction ID of an OpenTelemetry span: a re-sent span maps to the same ID.

    IDs are compared as lowercase hex, the OTLP/JSON spelling, so ``ABC`` and ``abc`` agree.
    """
    key = f"{trace_id.strip().lower()}:{span_id.strip().lower()}"
    return str(uuid.uuid5(SPAN_ID_NAMESPACE, key))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _aliases(name: str, *extra: str) -> AliasChoices:
    return AliasChoices(name, _camel(name), *extra)


_KNOWN_KEYS: dict[type[BaseModel], frozenset[str]] = {}


def _known_keys(model: type[BaseModel]) -> frozenset[str]:
    """Field names and every accepted alias, computed once per record class (hot path)."""
    known = _KNOWN_KEYS.get(model)
    if known is None:
        names: set[str] = set()
        for name, info in model.model_fields.items():
            names.add(name)
            if isinstance(info.validation_alias, AliasChoices):
                names.update(str(choice) for choice in info.validation_alias.choices)
        known = _KNOWN_KEYS[model] = frozenset(names)
    return known


_CONTAINERS = (dict, list)  # a tuple: ``dict | list`` would build a union on every call


def _nested_within(value: Any, limit: int) -> bool:
    """Whether JSON-like ``value`` nests at most ``limit`` objects/arrays deep (no recursion).

    Walks level by level keeping only containers, so flat metadata (the usual case, on the
    ingest hot path) costs one pass over its values.
    """
    level: list[Any] = [value] if isinstance(value, _CONTAINERS) else []
    depth = 1
    while level:
        if depth > limit:
            return False
        below: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        level = below
        depth += 1
    return True


class _Record(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        str_max_length=MAX_TEXT_CHARS,
        frozen=True,
        extra="ignore",
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_unknown_keys_into_metadata(cls, data: Any) -> Any:
        # The seed's middleware spreads arbitrary context (`**ctx`) into the log entry:
        # keep those keys in metadata instead of rejecting or silently dropping them.
        if not isinstance(data, dict):
            return data
        known = _known_keys(cls)
        if known.issuperset(data):
            return data
        unknown = {key: value for key, value in data.items() if key not in known}
        kept = {key: value for key, value in data.items() if key in known}
        metadata = kept.get("metadata")
        merged = dict(metadata) if isinstance(metadata, dict) else {}
        for key, value in unknown.items():
            merged.setdefault(key, value)
        kept["metadata"] = merged
        return kept

    @field_validator("timestamp", mode="after", check_fields=False)
    @classmethod
    def _timestamp_in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("metadata", mode="after", check_fields=False)
    @classmethod
    def _metadata_not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and not _nested_within(value, MAX_METADATA_DEPTH):
            raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels")
        return value

    def to_row(self) -> dict[str, Any]:
        """The record as a flat dict keyed by column name."""
        return self.model_dump(mode="python")


class Interaction(_Record):
    """One LLM call: the seed's ``LLMInteractionLog`` plus what the loop needs to act on it."""

    interaction_id: str = Field(validation_alias=_aliases("interaction_id", "id"))
    session_id: str | None = Field(default=None, validation_alias=_aliases("session_id"))
    user_id: str | None = Field(default=None, validation_alias=_aliases("user_id"))
    feature: str | None = Field(default=None, max_length=200)
    prompt_name: str | None = Field(
        default=None, max_length=200, validation_alias=_aliases("prompt_name")
    )
    prompt_version: str | None = Field(
        default=None, max_length=200, validation_alias=_aliases("prompt_version")
    )
    prompt_hash: str | None = Field(
        default=None, max_length=128, validation_alias=_aliases("prompt_hash")
    )
    model: str | None = Field(default=None, max_length=200)
    system_prompt: str | None = Field(default=None, validation_alias=_aliases("system_prompt"))
    user_input: str | None = Field(default=None, validation_alias=_aliases("user_input"))
    raw_output: str | None = Field(default=None, validation_alias=_aliases("raw_output"))
    input_tokens: int | None = Field(default=None, ge=0, validation_alias=_aliases("input_tokens"))
    output_tokens: int | None = Field(
        default=None, ge=0, validation_alias=_aliases("output_tokens")
    )
    latency_ms: float | None = Field(default=None, ge=0, validation_alias=_aliases("latency_ms"))
    timestamp: datetime = Field(default_factory=utc_now)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_interaction_id: str | None = Field(
        default=None, validation_alias=_aliases("parent_interaction_id")
    )
    trace_id: str | None = Field(default=None, max_length=64, validation_alias=_aliases("trace_id"))
    span_id: str | None = Field(default=None, max_length=32, validation_alias=_aliases("span_id"))
    error: str | None = None
    cost_usd: float | None = Field(
        default=None, ge=0, validation_alias=_aliases("cost_usd", "cost")
    )

    @field_validator("interaction_id")
    @classmethod
    def _interaction_id_is_uuid(cls, value: str) -> str:
        return canonical_uuid(value, "interaction_id")

    @field_validator("parent_interaction_id")
    @classmethod
    def _parent_is_uuid(cls, value: str | None) -> str | None:
        return None if value is None else canonical_uuid(value, "parent_interaction_id")


class FeedbackEvent(_Record):
    """One piece of feedback about one interaction: the seed's ``FeedbackEvent``, extended.

    Feedback is append-only. It may arrive before its interaction or days after it, and an
    interaction may collect many events. When ``feedback_id`` is omitted it is derived from
    the event's content, so a retried event without an ID is still stored once.
    """

    feedback_id: str = Field(
        default="", max_length=128, validation_alias=_aliases("feedback_id", "id")
    )
    interaction_id: str = Field(validation_alias=_aliases("interaction_id"))
    feedback_type: FeedbackType = Field(validation_alias=_aliases("feedback_type", "type"))
    category: str | None = None
    value: float | None = None
    user_edit: str | None = Field(default=None, validation_alias=_aliases("user_edit"))
    comment: str | None = Field(default=None, max_length=20_000)
    source: FeedbackSource = FeedbackSource.USER
    related_interaction_id: str | None = Field(
        default=None, validation_alias=_aliases("related_interaction_id")
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Filled with the time of receipt when the client sends none (see _type_specific_fields).
    timestamp: datetime = Field(default_factory=lambda: _UNSET_TIME)

    @field_validator("interaction_id")
    @classmethod
    def _interaction_id_is_uuid(cls, value: str) -> str:
        return canonical_uuid(value, "interaction_id")

    @model_validator(mode="before")
    @classmethod
    def _interaction_from_span(cls, data: Any) -> Any:
        # Apps traced with OpenTelemetry know the span, not our ID: derive it the way OTLP
        # ingest does. The span IDs themselves are kept in metadata (unknown keys).
        if not isinstance(data, dict) or "interaction_id" in data or "interactionId" in data:
            return data
        trace_id = data.get("trace_id", data.get("traceId"))
        span_id = data.get("span_id", data.get("spanId"))
        if isinstance(trace_id, str) and isinstance(span_id, str) and trace_id and span_id:
            return {**data, "interaction_id": interaction_id_for_span(trace_id, span_id)}
        return data

    @field_validator("related_interaction_id")
    @classmethod
    def _related_is_uuid(cls, value: str | None) -> str | None:
        return None if value is None else canonical_uuid(value, "related_interaction_id")

    @field_validator("category")
    @classmethod
    def _category_is_a_slug(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _CATEGORY_PATTERN.match(value):
            raise ValueError(
                "category must be 1-64 characters of letters, digits, '_', '-', '.' or space"
            )
        return value

    @model_validator(mode="after")
    def _type_specific_fields(self) -> FeedbackEvent:
        kind = self.feedback_type
        if kind is FeedbackType.RATING and self.value is None:
            raise ValueError("a rating needs a value")
        if kind in (FeedbackType.EDIT, FeedbackType.CORRECTION) and self.user_edit is None:
            raise ValueError(f"{kind.value} needs user_edit (the user's final text)")
        timestamp_given = self.timestamp is not _UNSET_TIME
        if not self.feedback_id:
            object.__setattr__(self, "feedback_id", derive_feedback_id(self, timestamp_given))
        if not timestamp_given:
            object.__setattr__(self, "timestamp", utc_now())
        return self


def derive_feedback_id(event: FeedbackEvent, with_timestamp: bool = True) -> str:
    """A stable ID from the event's content, for clients that send none.

    A retry of an event that carries neither ID nor timestamp must map to the same ID, so
    the time of receipt is left out then: identical events of one interaction collapse.
    """
    key = "\x1f".join(
        str(part)
        for part in (
            event.interaction_id,
            event.feedback_type.value,
            event.timestamp.isoformat() if with_timestamp else "",
            event.category,
            event.value,
            event.user_edit,
            event.comment,
            event.source.value,
            event.related_interaction_id,
        )
    )
    return str(uuid.uuid5(_FEEDBACK_ID_NAMESPACE, key))
