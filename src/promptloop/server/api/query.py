"""Read endpoints: interactions, feedback and the seed's questions.

Every read first flushes the ingest buffer, so what the collector acknowledged is visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from promptloop.analytics import queries
from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.server.auth import require_api_key
from promptloop.server.errors import APIError
from promptloop.store.base import Store

router = APIRouter(prefix="/v1", tags=["query"], dependencies=[Depends(require_api_key)])


def fresh_store(request: Request) -> Store:
    """The store, after the ingest buffer has been written to it."""
    request.app.state.ingestor.flush()
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(fresh_store)]


def _filters(
    prompt_version: str | None = None,
    prompt_name: str | None = None,
    feature: str | None = None,
    session_id: str | None = None,
    model: str | None = None,
    feedback_type: FeedbackType | None = None,
    feedback_source: FeedbackSource | None = Query(
        None, description="with feedback from this source (user, inferred, annotator, judge)"
    ),
    since: datetime | None = Query(None, description="ISO 8601; inclusive"),
    until: datetime | None = Query(None, description="ISO 8601; exclusive"),
) -> queries.InteractionFilter:
    return queries.InteractionFilter(
        prompt_version=prompt_version,
        prompt_name=prompt_name,
        feature=feature,
        session_id=session_id,
        model=model,
        feedback_type=feedback_type.value if feedback_type else None,
        feedback_source=feedback_source.value if feedback_source else None,
        since=since,
        until=until,
    )


FilterDep = Annotated[queries.InteractionFilter, Depends(_filters)]


@router.get("/interactions", summary="List interactions, newest first")
async def list_interactions(
    store: StoreDep,
    filters: FilterDep,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    try:
        page = await run_in_threadpool(
            queries.list_interactions, store, filters, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        raise APIError(422, "invalid_request", str(exc), field="cursor") from None
    return {"items": page.rows, "next_cursor": page.next_cursor}


@router.get("/interactions/{interaction_id}", summary="One interaction with its feedback")
async def get_interaction(store: StoreDep, interaction_id: str) -> dict[str, Any]:
    found = await run_in_threadpool(queries.get_interaction, store, interaction_id)
    if found is None:
        raise APIError(404, "not_found", f"no interaction {interaction_id}")
    return found


@router.get("/feedback", summary="Feedback events of one interaction (each with its source)")
async def list_feedback(store: StoreDep, interaction_id: str) -> dict[str, Any]:
    rows = await run_in_threadpool(queries.feedback_for, store, interaction_id)
    return {"items": rows}


@router.get(
    "/queries/negative-inputs",
    summary="Most common inputs that received negative feedback in the last N days",
)
async def negative_inputs(
    store: StoreDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 14,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    feature: str | None = None,
    prompt_version: str | None = None,
) -> dict[str, Any]:
    rows = await run_in_threadpool(
        lambda: queries.top_negative_inputs(
            store, days=days, limit=limit, feature=feature, prompt_version=prompt_version
        )
    )
    return {"days": days, "items": rows}


@router.get(
    "/queries/regenerated-inputs",
    summary="Inputs regenerated more than once for a prompt version (the seed's query)",
)
async def regenerated_inputs(
    store: StoreDep,
    prompt_version: str,
    days: Annotated[int, Query(ge=1, le=3650)] = 14,
    min_count: Annotated[int, Query(ge=1)] = 2,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    rows = await run_in_threadpool(
        lambda: queries.regenerated_inputs(
            store, prompt_version=prompt_version, days=days, min_count=min_count, limit=limit
        )
    )
    return {"prompt_version": prompt_version, "days": days, "items": rows}


@router.get("/queries/version-summary", summary="Per prompt version: volume and feedback rates")
async def version_summary(
    store: StoreDep,
    filters: FilterDep,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    scoped = queries.with_window(filters, days)
    rows = await run_in_threadpool(queries.version_summary, store, scoped)
    return {"items": rows}


@router.get("/queries/edit-summary", summary="How users edited each version's outputs")
async def edit_summary(
    store: StoreDep,
    filters: FilterDep,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    rows = await run_in_threadpool(queries.edit_summary, store, queries.with_window(filters, days))
    return {"items": rows}


@router.get("/stats", summary="Row counts and ingest counters")
async def stats(request: Request, store: StoreDep) -> dict[str, Any]:
    counts = await run_in_threadpool(
        store.fetch_all,
        "SELECT (SELECT count(*) FROM llm_interaction_logs) AS interactions,"
        " (SELECT count(*) FROM feedback_events) AS feedback_events",
    )
    ingest = request.app.state.ingestor.stats
    return {
        "store": {"dialect": store.dialect, "schema_version": store.schema_version(), **counts[0]},
        "ingest": {
            "accepted": ingest.accepted,
            "stored": ingest.stored,
            "duplicates": ingest.duplicates,
            "rejected": ingest.rejected,
            "flushes": ingest.flushes,
            "checkpoints": ingest.checkpoints,
            "replayed_segments": ingest.replayed_segments,
            "store_errors": ingest.store_errors,
            "pending": request.app.state.ingestor.pending(),
        },
    }
