"""The dialect fixtures, in OTLP JSON as committed and as protobuf converted from it.

The conversion goes through protobuf's own JSON parser (``json_format``), with the IDs
turned from OTLP JSON's hex into proto3 JSON's base64: an encoder independent of the
collector's JSON reader, so the two encodings check each other.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PAYLOADS = Path(__file__).parent / "payloads"
DIALECT_FILES = tuple(sorted(path.name for path in PAYLOADS.glob("*.json")))


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return loaded


def json_bytes(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def _hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def to_protobuf(request: dict[str, Any]) -> bytes:
    proto_json = copy.deepcopy(request)
    for resource_spans in proto_json.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = _hex_to_b64(span[key])
    message = json_format.ParseDict(proto_json, ExportTraceServiceRequest())
    return message.SerializeToString()


def protobuf_bytes(name: str) -> bytes:
    return to_protobuf(load(name))


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)
