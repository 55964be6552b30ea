"""OpenTelemetry ingest: OTLP trace requests to interactions, with no I/O of its own.

``decode_protobuf``/``decode_json`` read an OTLP/HTTP body into neutral spans;
``normalise_request`` turns the LLM spans among them into
:class:`~promptloop.core.records.Interaction` records and reports the others. The collector's
``POST /v1/traces`` (``promptloop.server.api.otlp``) glues them to the ingest path.
"""

from __future__ import annotations

from promptloop.otlp.decode import DecodedRequest, InvalidPayload, decode_json, decode_protobuf
from promptloop.otlp.dialects import llm_dialect
from promptloop.otlp.normalise import Normalised, Rejection, normalise, normalise_request
from promptloop.otlp.spans import Span, SpanEvent

__all__ = [
    "DecodedRequest",
    "InvalidPayload",
    "Normalised",
    "Rejection",
    "Span",
    "SpanEvent",
    "decode_json",
    "decode_protobuf",
    "llm_dialect",
    "normalise",
    "normalise_request",
]
