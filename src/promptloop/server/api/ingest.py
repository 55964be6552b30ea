"""``POST /v1/interactions`` and ``POST /v1/feedback``: one record or a batch.

Both accept the seed's camelCase JSON and snake_case. Valid items are stored and invalid
ones reported by index (HTTP 207); a body with nothing valid gets 422, and a body that is not
JSON gets 400. Ingest is idempotent on ``interaction_id`` / ``feedback_id``.

Overload is shed, never buffered without bound: more than ``max_concurrent_ingest`` requests
in progress get 429, a full ingest buffer gets 503; both carry ``Retry-After``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.server.auth import require_api_key
from promptloop.server.errors import APIError
from promptloop.server.ingest import Backpressure, Ingestor, Kind, validate_items

router = APIRouter(prefix="/v1", tags=["ingest"], dependencies=[Depends(require_api_key)])


def _body_schema(model: type[Interaction] | type[FeedbackEvent]) -> dict[str, Any]:
    item = model.model_json_schema(by_alias=False)
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [item, {"type": "array", "items": item, "maxItems": 10_000}]}
            }
        },
    }


_RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "field": {"type": "string"},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "every item accepted (durable)",
        "content": {"application/json": {"schema": _RESULT_SCHEMA}},
    },
    207: {
        "description": "some items accepted, the others reported by index",
        "content": {"application/json": {"schema": _RESULT_SCHEMA}},
    },
    400: {"description": "the body is not JSON"},
    401: {"description": "missing or invalid API key"},
    413: {"description": "the body is too large"},
    422: {"description": "no item is valid, or the body is neither an object nor an array"},
    429: {"description": "too many ingest requests at once: retry after Retry-After seconds"},
    503: {"description": "the store is behind: retry after the Retry-After seconds"},
}

MAX_BATCH_ITEMS = 10_000


async def _parse_items(request: Request) -> tuple[list[Any], bytes]:
    """The items of the body, and the body as a JSON array (what the log keeps)."""
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, "body_too_large", f"the body exceeds {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise APIError(413, "body_too_large", f"the body exceeds {limit} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if isinstance(payload, dict):
        return [payload], b"[" + body + b"]"
    if isinstance(payload, list):
        if len(payload) > MAX_BATCH_ITEMS:
            raise APIError(413, "batch_too_large", f"a batch holds at most {MAX_BATCH_ITEMS} items")
        return payload, body
    raise APIError(422, "invalid_body", "the body must be one JSON object or an array of objects")


def _busy(code: str, message: str, retry_after: int, status: int) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "retry_after": retry_after},
        status_code=status,
        headers={"Retry-After": str(retry_after)},
    )


def _ingest(
    ingestor: Ingestor, kind: Kind, items: list[Any], raw: bytes, received: datetime
) -> JSONResponse:
    validated = validate_items(kind, items)
    if validated.errors:
        # Log only the valid items, as the client sent them.
        bad = {error.index for error in validated.errors}
        raw = orjson.dumps([item for index, item in enumerate(items) if index not in bad])
    try:
        ingestor.submit(kind, validated.records, raw, received)
    except Backpressure as exc:
        return _busy("busy", f"the store is behind, retry later: {exc}", exc.retry_after, 503)
    errors = [error.as_dict() for error in validated.errors]
    rejected = len({error["index"] for error in errors})
    ingestor.stats.rejected += rejected
    body = {"accepted": len(validated.records), "rejected": rejected, "errors": errors}
    if not errors:
        return JSONResponse(body, status_code=200)
    if validated.records:
        return JSONResponse(body, status_code=207)
    message = "; ".join(f"[{e['index']}] {e['field']}: {e['reason']}" for e in errors[:5])
    return JSONResponse({"error": "invalid_items", "message": message, **body}, status_code=422)


@router.post(
    "/interactions",
    summary="Log LLM interactions",
    openapi_extra={"requestBody": _body_schema(Interaction)},
    responses=_RESPONSES,
)
async def post_interactions(request: Request) -> JSONResponse:
    return await _admit(request, "interactions")


@router.post(
    "/feedback",
    summary="Record feedback events",
    openapi_extra={"requestBody": _body_schema(FeedbackEvent)},
    responses=_RESPONSES,
)
async def post_feedback(request: Request) -> JSONResponse:
    return await _admit(request, "feedback")


class IngestGate:
    """Bounds the ingest requests being read, parsed and validated at once.

    Every such request holds its body and its parsed items in memory; past the bound a new
    request is answered 429 + Retry-After before its body is read, so memory stays bounded
    however many clients push at once. Only the event loop touches the counter.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.refused = 0


def _gate(request: Request) -> IngestGate:
    state = request.app.state
    gate: IngestGate | None = getattr(state, "ingest_gate", None)
    if gate is None:
        gate = state.ingest_gate = IngestGate(state.settings.max_concurrent_ingest)
    return gate


async def _admit(request: Request, kind: Kind) -> JSONResponse:
    gate = _gate(request)
    if gate.active >= gate.limit:
        gate.refused += 1
        return _busy(
            "too_many_requests",
            f"{gate.active} ingest requests are in progress; retry later",
            1,
            429,
        )
    gate.active += 1
    try:
        received = datetime.now(UTC)
        items, body = await _parse_items(request)
        return await run_in_threadpool(
            _ingest, request.app.state.ingestor, kind, items, body, received
        )
    finally:
        gate.active -= 1
