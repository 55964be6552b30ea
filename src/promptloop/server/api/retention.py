"""Retention and per-user deletion through the collector (it owns the DuckDB file).

- ``GET /v1/retention``: the rules in force, the schedule, the last run.
- ``POST /v1/retention/apply``: apply the configured rules, or the ``rules`` in the body
  (``{"rules": {"interactions": 90}, "dry_run": true}``).
- ``DELETE /v1/users/{user_id}``: delete everything of one (hashed) user; ``?dry_run=true``
  counts without deleting.

Both flush the ingest buffer first, so nothing acknowledged escapes the deletion.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from promptloop.server.auth import require_api_key
from promptloop.server.errors import APIError
from promptloop.server.scheduler import RetentionScheduler
from promptloop.store.retention import delete_user, parse_rules

router = APIRouter(prefix="/v1", tags=["retention"], dependencies=[Depends(require_api_key)])


def _scheduler(request: Request) -> RetentionScheduler:
    scheduler: RetentionScheduler = request.app.state.retention
    return scheduler


@router.get("/retention", summary="Retention rules, schedule and last run")
async def retention_status(request: Request) -> dict[str, Any]:
    scheduler = _scheduler(request)
    return {
        "rules": scheduler.rules,
        "interval_seconds": request.app.state.settings.retention_interval,
        "last_run": scheduler.last_run,
        "last_error": scheduler.last_error,
    }


@router.post("/retention/apply", summary="Delete rows older than each table's retention")
async def apply(
    request: Request,
    rules: Annotated[
        dict[str, int] | None,
        Body(description="{table: days}; the configured rules when omitted"),
    ] = None,
    dry_run: Annotated[bool, Body(description="count, delete nothing")] = False,
) -> dict[str, Any]:
    scheduler = _scheduler(request)
    try:
        chosen = parse_rules(rules) if rules else scheduler.rules
    except ValueError as exc:
        raise APIError(422, "invalid_request", str(exc), field="rules") from None
    if not chosen:
        raise APIError(
            422,
            "invalid_request",
            "no retention rules: configure PROMPTLOOP_RETENTION or send rules",
            field="rules",
        )
    report = await run_in_threadpool(scheduler.run_now, chosen, dry_run=dry_run)
    return {"rules": chosen, **report.as_dict()}


@router.delete("/users/{user_id}", summary="Delete everything stored about one (hashed) user")
async def delete(
    request: Request,
    user_id: str,
    dry_run: Annotated[bool, Query(description="count, delete nothing")] = False,
) -> dict[str, Any]:
    request.app.state.ingestor.flush()
    report = await run_in_threadpool(delete_user, request.app.state.store, user_id, dry_run=dry_run)
    return {"user_id": user_id, **report.as_dict()}
