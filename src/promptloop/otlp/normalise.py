"""LLM spans to :class:`~promptloop.core.records.Interaction` records.

A span becomes an interaction when a convention marks it as one LLM call
(:func:`~promptloop.otlp.dialects.llm_dialect`); every other span is reported back as
rejected, with the reason, so the OTLP partial-success answer tells the sender what was kept.
The interaction ID is derived from (trace ID, span ID), so a re-sent span is stored once and
feedback can be attached by trace and span ID alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from promptloop.core.records import MAX_TEXT_CHARS, Interaction, interaction_id_for_span
from promptloop.otlp.decode import DecodedRequest
from promptloop.otlp.dialects import EXTRACTORS, llm_dialect
from promptloop.otlp.spans import STATUS_ERROR, Span

_TEXT_FIELDS = ("user_input", "raw_output", "system_prompt")


@dataclass(frozen=True, slots=True)
class Rejection:
    span_name: str
    reason: str


@dataclass
class Normalised:
    interactions: list[Interaction] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    not_llm: int = 0

    def error_message(self, limit: int = 5) -> str:
        """The partial-success message: how many were left out and why (first few)."""
        if not self.rejected:
            return ""
        invalid = [r for r in self.rejected if r.reason != NOT_LLM]
        parts: list[str] = []
        if self.not_llm:
            parts.append(
                f"{self.not_llm} spans are not LLM calls (HTTP, chains, tools, embeddings, ...) "
                "and were not stored"
            )
        if invalid:
            shown = "; ".join(f"{r.span_name or '(unnamed)'}: {r.reason}" for r in invalid[:limit])
            parts.append(f"{len(invalid)} spans are invalid: {shown}")
        return ". ".join(parts)


NOT_LLM = "not an LLM call"
UserHasher = Callable[[str], str]


def normalise_request(
    decoded: DecodedRequest, *, hash_user_id: UserHasher | None = None
) -> Normalised:
    result = normalise(decoded.spans, hash_user_id=hash_user_id)
    result.rejected.extend(Rejection(bad.name, bad.reason) for bad in decoded.invalid)
    return result


def normalise(spans: Iterable[Span], *, hash_user_id: UserHasher | None = None) -> Normalised:
    result = Normalised()
    for span in spans:
        dialect = llm_dialect(span)
        if dialect is None:
            result.not_llm += 1
            result.rejected.append(Rejection(span.name, NOT_LLM))
            continue
        try:
            result.interactions.append(to_interaction(span, dialect, hash_user_id=hash_user_id))
        except ValidationError as exc:
            detail = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in detail["loc"]) or "span"
            result.rejected.append(Rejection(span.name, f"{where}: {detail['msg']}"))
    return result


def merged_fields(span: Span) -> dict[str, Any]:
    """Every convention's reading of the span, the most specific one winning each field."""
    fields: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for _, extract in EXTRACTORS:
        found = extract(span)
        for key, value in found.items():
            if key == "metadata":
                for name, item in value.items():
                    metadata.setdefault(name, item)
            elif value is not None and fields.get(key) is None:
                fields[key] = value
    fields["metadata"] = metadata
    return fields


def to_interaction(
    span: Span, dialect: str, *, hash_user_id: UserHasher | None = None
) -> Interaction:
    fields = merged_fields(span)
    fields["metadata"]["otel"] = _otel_context(span, dialect)
    for name in _TEXT_FIELDS:
        text = fields.get(name)
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            fields[name] = text[:MAX_TEXT_CHARS]
            fields["metadata"].setdefault("truncated", []).append(name)
    user = fields.get("user_id")
    if user and hash_user_id is not None:
        fields["user_id"] = hash_user_id(str(user))
    if span.status_code == STATUS_ERROR:
        fields["error"] = _error_of(span) or fields.get("error") or "error"
    return Interaction.model_validate(
        {
            **fields,
            "interaction_id": fields.get("interaction_id")
            or interaction_id_for_span(span.trace_id, span.span_id),
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "timestamp": _time(span.start_unix_nano or span.end_unix_nano),
            "latency_ms": _latency_ms(span),
        }
    )


def _otel_context(span: Span, dialect: str) -> dict[str, Any]:
    context: dict[str, Any] = {"dialect": dialect, "span_name": span.name}
    service = span.resource.get("service.name")
    if service is not None:
        context["service_name"] = service
    if span.scope_name:
        context["scope"] = span.scope_name
    if span.parent_span_id:
        context["parent_span_id"] = span.parent_span_id
    return context


def _error_of(span: Span) -> str | None:
    if span.status_message:
        return span.status_message
    for event in span.events:
        if event.name == "exception":
            message = event.attributes.get("exception.message")
            kind = event.attributes.get("exception.type")
            if message or kind:
                return ": ".join(str(part) for part in (kind, message) if part)
    return None


def _time(nanos: int) -> datetime:
    if nanos <= 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(nanos / 1e9, tz=UTC)


def _latency_ms(span: Span) -> float | None:
    if span.start_unix_nano <= 0 or span.end_unix_nano < span.start_unix_nano:
        return None
    return (span.end_unix_nano - span.start_unix_nano) / 1e6
