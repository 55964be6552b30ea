"""OTLP/HTTP trace requests (protobuf or JSON) to :class:`~promptloop.otlp.spans.Span`.

Both encodings land in the same neutral form, so the normaliser never knows which one a
client used. The JSON reader follows the OTLP JSON mapping: lowerCamelCase keys, trace and
span IDs as hex (not base64), 64-bit integers as strings or numbers, enums as integers, and
unknown fields ignored.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from promptloop.otlp.spans import InvalidSpan, Span, SpanEvent

_TRACE_HEX = 32
_SPAN_HEX = 16
_HEX = frozenset("0123456789abcdef")


class InvalidPayload(ValueError):
    """The body is not an OTLP trace request at all: the whole request gets a 400."""


@dataclass
class DecodedRequest:
    spans: list[Span] = field(default_factory=list)
    invalid: list[InvalidSpan] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.spans) + len(self.invalid)


# -- protobuf ------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> DecodedRequest:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise InvalidPayload(f"the body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    decoded = DecodedRequest()
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
                problem = _id_problem(trace_id, span_id)
                if problem:
                    decoded.invalid.append(InvalidSpan(span.name, problem))
                    continue
                decoded.spans.append(
                    Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        start_unix_nano=span.start_time_unix_nano,
                        end_unix_nano=span.end_time_unix_nano,
                        attributes=_pb_attributes(span.attributes),
                        events=[
                            SpanEvent(e.name, e.time_unix_nano, _pb_attributes(e.attributes))
                            for e in span.events
                        ],
                        status_code=span.status.code,
                        status_message=span.status.message,
                        resource=resource,
                        scope_name=scope,
                    )
                )
    return decoded


def _pb_attributes(items: Iterable[KeyValue]) -> dict[str, Any]:
    return {item.key: _pb_value(item.value) for item in items}


def _pb_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_pb_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


# -- JSON ----------------------------------------------------------------------------------


def decode_json(body: bytes) -> DecodedRequest:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"the body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise InvalidPayload("the body must be a JSON object (an ExportTraceServiceRequest)")
    decoded = DecodedRequest()
    for resource_spans in _list(request, "resourceSpans", "the request"):
        try:
            resource = _json_attributes(_dict(resource_spans, "resource").get("attributes"))
        except (ValueError, TypeError) as exc:
            raise InvalidPayload(f"resource.attributes: {exc}") from None
        for scope_spans in _list(resource_spans, "scopeSpans", "resourceSpans[]"):
            scope = _dict(scope_spans, "scope").get("name")
            for raw in _list(scope_spans, "spans", "scopeSpans[]"):
                if not isinstance(raw, dict):
                    raise InvalidPayload("each element of spans must be a JSON object")
                try:
                    decoded.spans.append(_json_span(raw, resource, scope))
                except (ValueError, TypeError) as exc:
                    decoded.invalid.append(InvalidSpan(str(raw.get("name", "")), str(exc)))
    return decoded


def _list(parent: Any, key: str, where: str) -> list[Any]:
    if not isinstance(parent, dict):
        raise InvalidPayload(f"{where} must be a JSON object")
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(f"{key} must be an array")
    return value


def _dict(parent: Any, key: str) -> dict[str, Any]:
    if not isinstance(parent, dict):
        raise InvalidPayload(f"the parent of {key} must be a JSON object")
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidPayload(f"{key} must be a JSON object")
    return value


def _json_span(raw: dict[str, Any], resource: dict[str, Any], scope: Any) -> Span:
    trace_id = str(raw.get("traceId") or "").lower()
    span_id = str(raw.get("spanId") or "").lower()
    problem = _id_problem(trace_id, span_id)
    if problem:
        raise ValueError(problem)
    parent = str(raw.get("parentSpanId") or "").lower() or None
    status = raw.get("status") or {}
    if not isinstance(status, dict):
        raise ValueError("status must be a JSON object")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=str(raw.get("name") or ""),
        start_unix_nano=_nanos(raw.get("startTimeUnixNano"), "startTimeUnixNano"),
        end_unix_nano=_nanos(raw.get("endTimeUnixNano"), "endTimeUnixNano"),
        attributes=_json_attributes(raw.get("attributes")),
        events=[_json_event(event) for event in raw.get("events") or []],
        status_code=_status_code(status.get("code")),
        status_message=str(status.get("message") or ""),
        resource=resource,
        scope_name=str(scope or ""),
    )


_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _status_code(value: Any) -> int:
    """An integer per the OTLP JSON mapping; the enum's name is accepted too."""
    if isinstance(value, str) and value in _STATUS_NAMES:
        return _STATUS_NAMES[value]
    return int(value or 0)


def _json_event(raw: Any) -> SpanEvent:
    if not isinstance(raw, dict):
        raise ValueError("each event must be a JSON object")
    return SpanEvent(
        name=str(raw.get("name") or ""),
        time_unix_nano=_nanos(raw.get("timeUnixNano"), "events[].timeUnixNano"),
        attributes=_json_attributes(raw.get("attributes")),
    )


def _nanos(value: Any, name: str) -> int:
    if value is None or value == "":
        return 0
    try:
        nanos = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer (nanoseconds), got {value!r}") from None
    if nanos < 0:
        raise ValueError(f"{name} must not be negative")
    return nanos


def _json_attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ValueError("attributes must be an array of {key, value}")
    found: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValueError("each attribute must be an object with a string key")
        found[item["key"]] = _json_value(item.get("value"))
    return found


def _json_value(value: Any) -> Any:
    """An OTLP JSON AnyValue: exactly one of its typed fields, or nothing."""
    if not isinstance(value, dict) or not value:
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])  # a string in OTLP JSON (int64), a number from some
    if "doubleValue" in value:
        return _double(value["doubleValue"])
    if "arrayValue" in value:
        return [_json_value(item) for item in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return _json_attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return str(value["bytesValue"])  # already base64 in OTLP JSON
    return None


def _double(value: Any) -> float | None:
    # "NaN", "Infinity" and "-Infinity" are valid OTLP JSON; JSON columns cannot hold them.
    number = float(value)
    return number if math.isfinite(number) else None


def _id_problem(trace_id: str, span_id: str) -> str | None:
    if len(trace_id) != _TRACE_HEX or not _HEX.issuperset(trace_id):
        return f"traceId must be 16 bytes (32 hex digits), got {trace_id[:40]!r}"
    if len(span_id) != _SPAN_HEX or not _HEX.issuperset(span_id):
        return f"spanId must be 8 bytes (16 hex digits), got {span_id[:40]!r}"
    if trace_id == "0" * _TRACE_HEX or span_id == "0" * _SPAN_HEX:
        return "traceId and spanId must not be all zeros"
    return None
