"""Alerts on rising rates: check on demand, list, show, acknowledge (docs/alerts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from promptloop.analytics import alerts
from promptloop.analytics.alerts.store import MAX_LIMIT
from promptloop.core.records import utc_now
from promptloop.server.auth import require_api_key
from promptloop.store.base import Store

router = APIRouter(prefix="/v1", tags=["alerts"], dependencies=[Depends(require_api_key)])

StatusFilter = Literal["open", "acknowledged", "resolved", "active", "all"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


class CheckRequest(BaseModel):
    now: datetime | None = Field(
        None, description="Evaluate as of this time (ISO 8601) instead of now: a replay."
    )


class AckRequest(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="Who acknowledges")
    note: str | None = Field(None, max_length=2000)


@router.post("/alerts/check", summary="Run the alert rules now; what opened, updated, resolved")
async def check_alerts(request: Request, body: CheckRequest | None = None) -> dict[str, Any]:
    scheduler = request.app.state.alerts
    now = body.now if body else None
    report = await run_in_threadpool(lambda: scheduler.run_now(now=now))
    result: dict[str, Any] = report.as_dict()
    return result


@router.get("/alerts", summary="Alerts, newest first (default: open and acknowledged)")
async def list_alerts(
    store: StoreDep,
    status: StatusFilter = "active",
    rule_id: str | None = None,
    feature: str | None = None,
    prompt_version: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    rows = await run_in_threadpool(
        lambda: alerts.list_alerts(
            store,
            status=status,
            rule_id=rule_id,
            feature=feature,
            prompt_version=prompt_version,
            limit=limit,
        )
    )
    return {"status": status, "items": [alerts.presented(row) for row in rows]}


@router.get("/alerts/status", summary="The last scheduled or on-demand check and delivery")
async def status(request: Request) -> dict[str, Any]:
    scheduler = request.app.state.alerts
    return {
        "last_run": scheduler.last_run,
        "last_error": scheduler.last_error,
        "last_delivery": scheduler.last_delivery,
    }


@router.get("/alerts/{alert_id}", summary="One alert with all its evidence")
async def get_alert(store: StoreDep, alert_id: str) -> dict[str, Any]:
    row = await run_in_threadpool(alerts.get_alert, store, alert_id)
    return alerts.presented(row, series=True)


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an open alert")
async def acknowledge(store: StoreDep, alert_id: str, body: AckRequest) -> dict[str, Any]:
    row = await run_in_threadpool(
        lambda: alerts.acknowledge(store, alert_id, body.by, body.note, now=utc_now())
    )
    return alerts.presented(row, series=True)
