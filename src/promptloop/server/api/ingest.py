"""``POST /v1/interactions`` and ``POST /v1/feedback``: one record or a batch.

Both accept the seed's camelCase JSON and snake_case. Valid items are stored and invalid
ones reported by index (HTTP 207); a body with nothing valid gets 422, and a body that is not
JSON gets 400. Ingest is idempotent on ``interaction_id`` / ``feedback_id``.
"""

from __future__ import annotations

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
    503: {"description": "the store is behind: retry after the Retry-After seconds"},
}

MAX_BATCH_ITEMS = 10_000


async def _parse_items(request: Request) -> list[Any]:
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
        return [payload]
    if isinstance(payload, list):
        if len(payload) > MAX_BATCH_ITEMS:
            raise APIError(413, "batch_too_large", f"a batch holds at most {MAX_BATCH_ITEMS} items")
        return payload
    raise APIError(422, "invalid_body", "the body must be one JSON object or an array of objects")


def _ingest(ingestor: Ingestor, kind: Kind, items: list[Any]) -> JSONResponse:
    validated = validate_items(kind, items)
    try:
        ingestor.submit(kind, validated.records)
    except Backpressure as exc:
        raise APIError(503, "busy", f"try again shortly: {exc}") from None
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
    items = await _parse_items(request)
    return await run_in_threadpool(_ingest, request.app.state.ingestor, "interactions", items)


@router.post(
    "/feedback",
    summary="Record feedback events",
    openapi_extra={"requestBody": _body_schema(FeedbackEvent)},
    responses=_RESPONSES,
)
async def post_feedback(request: Request) -> JSONResponse:
    items = await _parse_items(request)
    return await run_in_threadpool(_ingest, request.app.state.ingestor, "feedback", items)
