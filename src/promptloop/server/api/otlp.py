"""``POST /v1/traces``: OTLP/HTTP trace export, protobuf or JSON, gzip or not.

Per the OTLP/HTTP spec: the answer is an ``ExportTraceServiceResponse`` in the request's
encoding, with ``partialSuccess`` counting the spans that were not stored (not LLM calls,
or invalid) and saying why; 400 for a body that is not a trace request, 413 for one too
large (compressed or not), 415 for another content type or encoding, 429 (too many ingest
requests at once, the bound /v1/interactions shares) and 503 (the store is behind), both
with ``Retry-After``. Decoding and normalising run off the event loop.
"""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from promptloop.otlp import InvalidPayload, decode_json, decode_protobuf, normalise_request
from promptloop.otlp.normalise import Normalised
from promptloop.otlp.users import user_id_hasher
from promptloop.server.api.ingest import IngestGate
from promptloop.server.auth import require_api_key
from promptloop.server.ingest import Backpressure, Ingestor

router = APIRouter(prefix="/v1", tags=["otlp"], dependencies=[Depends(require_api_key)])

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpError(Exception):
    def __init__(self, status: int, code: int, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _ingest_gate(request: Request) -> IngestGate:
    """The bound on ingest requests in progress, shared with /v1/interactions and /feedback."""
    state = request.app.state
    gate: IngestGate | None = getattr(state, "ingest_gate", None)
    if gate is None:
        gate = state.ingest_gate = IngestGate(state.settings.max_concurrent_ingest)
    return gate


def _media_type(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise OtlpError(
            415,
            code_pb2.INVALID_ARGUMENT,
            f"Content-Type must be {PROTOBUF} or {JSON}, got {media or 'none'!r}",
        )
    return media


async def _body(request: Request, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise OtlpError(
            415, code_pb2.INVALID_ARGUMENT, f"Content-Encoding {encoding!r}: use gzip or none"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit)
    return _gunzip(bytes(body), limit) if encoding == "gzip" else bytes(body)


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate at most ``limit`` bytes: a small gzip bomb must not fill the memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(
            400, code_pb2.INVALID_ARGUMENT, f"the body is not valid gzip: {exc}"
        ) from None
    if len(data) > limit:
        raise _too_large(limit, inflated=True)
    if not inflater.eof:
        raise OtlpError(400, code_pb2.INVALID_ARGUMENT, "the gzip body is truncated")
    return data


def _too_large(limit: int, *, inflated: bool = False) -> OtlpError:
    what = "the decompressed body" if inflated else "the body"
    return OtlpError(413, code_pb2.RESOURCE_EXHAUSTED, f"{what} exceeds {limit} bytes")


def _ingest(ingestor: Ingestor, media: str, body: bytes, hash_key: str | None) -> Normalised:
    decode = decode_protobuf if media == PROTOBUF else decode_json
    try:
        decoded = decode(body)
    except InvalidPayload as exc:
        raise OtlpError(400, code_pb2.INVALID_ARGUMENT, str(exc)) from None
    result = normalise_request(decoded, hash_user_id=user_id_hasher(hash_key) if hash_key else None)
    try:
        ingestor.submit("interactions", result.interactions)
    except Backpressure as exc:
        raise OtlpError(
            503, code_pb2.UNAVAILABLE, f"try again shortly: {exc}", exc.retry_after
        ) from None
    ingestor.stats.rejected += len(result.rejected)
    return result


def _answer(media: str, result: Normalised) -> Response:
    response = ExportTraceServiceResponse()
    if result.rejected:
        # Left unset on full success, as the spec asks.
        response.partial_success.rejected_spans = len(result.rejected)
        response.partial_success.error_message = result.error_message()
    if media == PROTOBUF:
        return Response(response.SerializeToString(), media_type=PROTOBUF)
    return Response(json_format.MessageToJson(response, indent=None), media_type=JSON)


def _failure(media: str, error: OtlpError) -> Response:
    """A google.rpc.Status in the request's encoding (JSON also carries our error shape)."""
    headers = {"Retry-After": str(error.retry_after)} if error.status in (429, 503) else None
    if media == PROTOBUF:
        status = status_pb2.Status(code=error.code, message=error.message)
        return Response(
            status.SerializeToString(), error.status, headers=headers, media_type=PROTOBUF
        )
    body: dict[str, Any] = {
        "error": _ERROR_NAMES.get(error.status, "invalid_otlp"),
        "message": error.message,
        "code": error.code,
    }
    return JSONResponse(body, error.status, headers=headers)


_ERROR_NAMES = {
    400: "invalid_otlp",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "busy",
}


@router.post(
    "/traces",
    summary="OTLP/HTTP trace export: LLM spans become interactions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                JSON: {"schema": {"type": "object"}},
            },
        }
    },
    responses={
        200: {"description": "ExportTraceServiceResponse; partialSuccess lists what was left"},
        400: {"description": "the body is not an OTLP trace request"},
        401: {"description": "missing or invalid API key"},
        413: {"description": "the body (or its decompressed form) is too large"},
        415: {"description": "another Content-Type or Content-Encoding"},
        429: {"description": "too many ingest requests at once: retry after Retry-After"},
        503: {"description": "the store is behind: retry after the Retry-After seconds"},
    },
)
async def post_traces(request: Request) -> Response:
    media = JSON
    gate = _ingest_gate(request)
    try:
        media = _media_type(request)
        if gate.active >= gate.limit:
            gate.refused += 1
            raise OtlpError(
                429, code_pb2.UNAVAILABLE, f"{gate.active} ingest requests are in progress"
            )
        gate.active += 1
        try:
            settings = request.app.state.settings
            body = await _body(request, settings.max_body_bytes)
            result = await run_in_threadpool(
                _ingest, request.app.state.ingestor, media, body, settings.otlp_hash_key
            )
        finally:
            gate.active -= 1
    except OtlpError as error:
        return _failure(media, error)
    return _answer(media, result)
