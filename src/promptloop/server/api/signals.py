"""Run the signal inference job on demand and see what it did."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from promptloop.server.auth import require_api_key

router = APIRouter(prefix="/v1", tags=["signals"], dependencies=[Depends(require_api_key)])


class RunRequest(BaseModel):
    full: bool = False


@router.post("/signals/run", summary="Infer implicit signals now (idempotent)")
async def run_signals(request: Request, body: RunRequest | None = None) -> dict[str, Any]:
    scheduler = request.app.state.signals
    report = await run_in_threadpool(lambda: scheduler.run_now(full=bool(body and body.full)))
    result: dict[str, Any] = report.as_dict()
    return result


@router.get("/signals/status", summary="The last run of the inference job")
async def status(request: Request) -> dict[str, Any]:
    scheduler = request.app.state.signals
    return {"last_run": scheduler.last_run, "last_error": scheduler.last_error}
