"""The dashboard's review pages: a keyboard-driven labelling page and the periodic report.

``/review`` renders once; its script (``static/review.js``) then claims items and posts
labels through ``/review/api/*`` (same session and CSRF token as the dashboard's forms: the
browser never holds an API key). While the reviewer reads one item the next is already
claimed and loaded, so moving on costs no request.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.review import workflow
from promptloop.review.config import ReviewSettings, load_settings
from promptloop.review.labels import CATEGORIES, FIXABILITIES, SEVERITIES, parse_label
from promptloop.review.render import html_body
from promptloop.review.report import build_report, parse_period
from promptloop.server.ui.auth import csrf_ok
from promptloop.server.ui.pages import store_of, ui_session
from promptloop.server.ui.render import respond, to_json

router = APIRouter(include_in_schema=False, dependencies=[Depends(ui_session)])
PERIODS = ("7d", "14d", "30d", "90d")


def _settings(request: Request) -> ReviewSettings:
    found = getattr(request.app.state, "review_settings", None)
    if found is None:
        found = request.app.state.review_settings = load_settings()
    assert isinstance(found, ReviewSettings)
    return found


def _json(data: Any, status: int = 200) -> Response:
    return Response(to_json(data), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _checked_body(request: Request) -> dict[str, Any] | Response:
    """The JSON body, if the dashboard's CSRF token came with it (header X-CSRF-Token)."""
    session = getattr(request.state, "session", None)
    if not csrf_ok(request, session, request.headers.get("x-csrf-token")):
        return _error(403, "forbidden", "the page expired or was not sent by the dashboard")
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return _error(422, "invalid_request", "body: not JSON")
    if not isinstance(body, dict):
        return _error(422, "invalid_request", "body: expected an object")
    return body


class _Next(BaseModel):
    reviewer: str = Field(min_length=1, max_length=200)
    exclude: list[str] = Field(default_factory=list, max_length=20)


@router.get("/review")
async def review_page(request: Request) -> Response:
    config = {
        "categories": list(CATEGORIES),
        "severities": list(SEVERITIES),
        "fixabilities": list(FIXABILITIES),
    }
    return respond(request, "review.html", {"config": config}, nav="review", title="Review")


@router.post("/review/api/next")
async def next_item(request: Request) -> Response:
    body = await _checked_body(request)
    if isinstance(body, Response):
        return body
    try:
        wanted = _Next.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        return _error(422, "invalid_request", f"{first['loc'][0]}: {first['msg']}")
    store, settings = store_of(request), _settings(request)
    found = await run_in_threadpool(
        lambda: workflow.next_item(store, wanted.reviewer, settings, exclude=wanted.exclude)
    )
    return _json({"item": None, "empty": True} if found is None else {**found, "empty": False})


@router.post("/review/api/items/{item_id}/label")
async def label_item(request: Request, item_id: str) -> Response:
    body = await _checked_body(request)
    if isinstance(body, Response):
        return body
    reviewer = str(body.pop("reviewer", "") or "")
    try:
        label = parse_label(body)
    except ValueError as exc:
        return _error(422, "invalid_request", str(exc))
    store = store_of(request)
    try:
        stored = await run_in_threadpool(
            lambda: workflow.label_item(store, item_id, reviewer, label)
        )
    except ValueError as exc:
        return _error(422, "invalid_request", str(exc))
    except ConflictError as exc:
        return _error(409, "conflict", str(exc))
    except NotFoundError as exc:
        return _error(404, "not_found", str(exc))
    return _json({"label": stored["label"], "item": stored["item"]})


async def _report(request: Request, period: str) -> Response:
    try:
        parse_period(period)
    except ValueError as exc:
        return _error(422, "invalid_request", str(exc))
    store = store_of(request)
    built = await run_in_threadpool(lambda: build_report(store, period=period))
    payload = {"report": built, "period": period, "periods": PERIODS}
    if not request.url.path.endswith(".json"):
        payload["body"] = html_body(built)
    else:
        payload = {"report": built}
    return respond(
        request, "review_report.html", payload, nav="review", title=f"Prompt review {period}"
    )


@router.get("/review/report")
async def report_page(request: Request, period: str = "30d") -> Response:
    return await _report(request, period)


@router.get("/review/report.json")
async def report_json(request: Request, period: str = "30d") -> Response:
    return await _report(request, period)
