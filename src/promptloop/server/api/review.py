"""The review queue over HTTP: enqueue, claim the next item, label, agreement, the report
(docs/review.md). Every write needs an admin key (the default for non-GET routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from promptloop.review import queue, workflow
from promptloop.review.agreement import agreement
from promptloop.review.config import RULE_NAMES, ReviewSettings, load_settings
from promptloop.review.labels import Fixability, LabelInput, Severity, Verdict
from promptloop.review.onward import calibrate_triage
from promptloop.review.render import to_html, to_markdown
from promptloop.review.report import build_report
from promptloop.server.auth import require_api_key
from promptloop.store.base import Store

router = APIRouter(prefix="/v1/review", tags=["review"], dependencies=[Depends(require_api_key)])


def _store(request: Request) -> Store:
    request.app.state.ingestor.flush()  # a reviewer sees what was just logged
    store: Store = request.app.state.store
    return store


def _settings(request: Request) -> ReviewSettings:
    found = getattr(request.app.state, "review_settings", None)
    if found is None:
        found = request.app.state.review_settings = load_settings()
    assert isinstance(found, ReviewSettings)
    return found


StoreDep = Annotated[Store, Depends(_store)]
SettingsDep = Annotated[ReviewSettings, Depends(_settings)]
Reviewer = Annotated[str, Field(min_length=1, max_length=200, description="Who reviews")]


class EnqueueRequest(BaseModel):
    days: int = Field(7, ge=1, le=3650, description="Look back this many days")
    rules: list[str] | None = Field(None, description=f"Only these rules: {', '.join(RULE_NAMES)}")
    now: datetime | None = Field(None, description="Evaluate as of this time (a replay)")


class NextRequest(BaseModel):
    reviewer: Reviewer
    exclude: list[str] = Field(
        default_factory=list, max_length=20, description="Item IDs already in hand (prefetch)"
    )
    refill: bool = Field(True, description="Run the rules first when the queue is empty")


class ReviewerRequest(BaseModel):
    reviewer: Reviewer


class LabelRequest(BaseModel):
    reviewer: Reviewer
    verdict: Verdict
    category: str | None = Field(None, max_length=64)
    severity: Severity | None = None
    fixability: Fixability | None = None
    corrected_answer: str | None = Field(None, max_length=100_000)
    notes: str | None = Field(None, max_length=20_000)
    duration_ms: float | None = Field(None, ge=0)

    def label(self) -> LabelInput:
        return LabelInput.model_validate(self.model_dump(exclude={"reviewer"}))


class CalibrateRequest(BaseModel):
    min_labels: int = Field(3, ge=1, le=10_000)
    majority: float = Field(0.6, ge=0.5, le=1)


@router.post("/enqueue", summary="Run the queue rules over the last N days")
async def enqueue(store: StoreDep, settings: SettingsDep, body: EnqueueRequest) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: queue.enqueue(store, settings, days=body.days, rules=body.rules, now=body.now)
    )


@router.get("/queue", summary="Queued items in the order reviewers get them, with counts")
async def list_queue(
    store: StoreDep,
    status: Literal["open", "done", "all"] = "open",
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: queue.list_items(
            store, status=None if status == "all" else status, rule=rule, limit=limit
        )
    )


@router.post("/next", summary="Claim the reviewer's next item: the item, its session, feedback")
async def next_item(store: StoreDep, settings: SettingsDep, body: NextRequest) -> dict[str, Any]:
    found = await run_in_threadpool(
        lambda: workflow.next_item(
            store, body.reviewer, settings, exclude=body.exclude, refill=body.refill
        )
    )
    return {"item": None, "empty": True} if found is None else {**found, "empty": False}


@router.get("/items/{item_id}", summary="One item with its interaction, session and feedback")
async def get_item(store: StoreDep, item_id: str) -> dict[str, Any]:
    return await run_in_threadpool(lambda: queue.item_view(store, queue.get_item(store, item_id)))


@router.post("/items/{item_id}/claim", summary="Claim one item (409 if someone holds it)")
async def claim(
    store: StoreDep, settings: SettingsDep, item_id: str, body: ReviewerRequest
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: queue.claim_item(store, item_id, body.reviewer, settings)
    )


@router.post("/items/{item_id}/release", summary="Give a claimed item back to the queue")
async def release(store: StoreDep, item_id: str, body: ReviewerRequest) -> dict[str, Any]:
    return await run_in_threadpool(lambda: queue.release(store, item_id, body.reviewer))


@router.post("/items/{item_id}/label", summary="Label a claimed item; it flows onward")
async def label_item(store: StoreDep, item_id: str, body: LabelRequest) -> dict[str, Any]:
    label = body.label()
    return await run_in_threadpool(
        lambda: workflow.label_item(store, item_id, body.reviewer, label)
    )


@router.post(
    "/interactions/{interaction_id}/label",
    summary="Label any interaction: queued by hand, claimed and labelled at once",
)
async def label_interaction(
    store: StoreDep, settings: SettingsDep, interaction_id: str, body: LabelRequest
) -> dict[str, Any]:
    label = body.label()
    return await run_in_threadpool(
        lambda: workflow.label_interaction(store, interaction_id, body.reviewer, label, settings)
    )


@router.get("/agreement", summary="Cohen's kappa per label field and the disagreements")
async def get_agreement(
    store: StoreDep, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    return await run_in_threadpool(lambda: agreement(store, since=since, until=until))


@router.post("/triage/calibrate", summary="Confirm patterns' triage from labelled fixability")
async def calibrate(store: StoreDep, body: CalibrateRequest | None = None) -> dict[str, Any]:
    chosen = body or CalibrateRequest()
    return await run_in_threadpool(
        lambda: calibrate_triage(store, min_labels=chosen.min_labels, majority=chosen.majority)
    )


@router.get(
    "/report", summary="The periodic prompt review (JSON, Markdown or HTML)", response_model=None
)
async def report(
    request: Request,
    store: StoreDep,
    period: str = "30d",
    format: Literal["json", "markdown", "html"] = "json",
    now: datetime | None = None,
) -> Response | dict[str, Any]:
    built = await run_in_threadpool(lambda: build_report(store, period=period, now=now))
    base = str(request.base_url).rstrip("/")
    if format == "markdown":
        return PlainTextResponse(to_markdown(built, base=base), media_type="text/markdown")
    if format == "html":
        return HTMLResponse(to_html(built, base=base))
    return built
