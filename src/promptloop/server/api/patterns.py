"""Failure patterns over HTTP: clusters (run, assign, list, show), priorities, triage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from promptloop.analytics import clusters, priority, triage
from promptloop.analytics.patterns.sql import SIGNALS
from promptloop.exceptions import NotFoundError
from promptloop.server.auth import require_api_key
from promptloop.store.base import Store

router = APIRouter(prefix="/v1", tags=["patterns"], dependencies=[Depends(require_api_key)])

Kind = Literal["negative", "follow_up"]


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def flushed_store(request: Request) -> Store:
    """The store, after the ingestor wrote what it holds: a run sees every accepted event."""
    request.app.state.ingestor.flush()
    return store_of(request)


StoreDep = Annotated[Store, Depends(store_of)]
FlushedStoreDep = Annotated[Store, Depends(flushed_store)]


class RunRequest(BaseModel):
    kind: Kind = "negative"
    feature: str | None = Field(default=None, description="one feature; default: each feature")
    pooled: bool = Field(default=False, description="every feature together, as one clustering")
    weeks: int = Field(default=clusters.DEFAULT_WEEKS, ge=1, le=520)
    signals: list[str] = Field(default_factory=lambda: list(SIGNALS))
    embedding: str = "tfidf"
    embedding_options: dict[str, Any] = Field(
        default_factory=dict,
        description="e.g. {'base_url': ..., 'model': ...} for 'openai' (the key stays on the "
        "server: PROMPTLOOP_EMBEDDINGS_API_KEY)",
    )
    max_inputs: int = Field(default=100_000, ge=10)
    min_size: int = Field(default=5, ge=1)
    now: datetime | None = Field(default=None, description="end of the window (default: now)")


class AssignRequest(BaseModel):
    kind: Kind | None = None
    feature: str | None = None
    now: datetime | None = None


class TriageRequest(BaseModel):
    class_: str = Field(alias="class", description=", ".join(triage.TRIAGE_CLASSES))
    by: str = Field(min_length=1, description="who triaged")
    note: str | None = None


@router.get("/clusters", summary="Failure clusters, largest first")
async def list_clusters(
    store: StoreDep,
    kind: Kind | None = None,
    feature: str | None = None,
    include_inactive: bool = False,
) -> dict[str, Any]:
    items = await run_in_threadpool(
        lambda: clusters.list_clusters(
            store, kind=kind, feature=feature, include_inactive=include_inactive
        )
    )
    return {"items": items}


@router.post("/clusters/run", summary="Re-cluster (replaces the scope's active clusters)")
async def run_clusters(body: RunRequest, store: FlushedStoreDep) -> dict[str, Any]:
    settings = clusters.ClusterSettings(
        kind=body.kind,
        feature=body.feature,
        pooled=body.pooled,
        weeks=body.weeks,
        signals=tuple(body.signals),
        embedding=body.embedding,
        embedding_options=body.embedding_options,
        max_inputs=body.max_inputs,
        min_size=body.min_size,
        now=body.now,
    )
    return await run_in_threadpool(lambda: clusters.run_clustering(store, settings))


@router.post("/clusters/assign", summary="Assign new negative interactions to clusters")
async def assign(store: FlushedStoreDep, body: AssignRequest | None = None) -> dict[str, Any]:
    request = body or AssignRequest()
    return await run_in_threadpool(
        lambda: clusters.assign_new(
            store, kind=request.kind, feature=request.feature, now=request.now
        )
    )


@router.get("/clusters/{cluster_id}", summary="One cluster: examples, trend, signal mix, triage")
async def show_cluster(cluster_id: str, store: StoreDep) -> dict[str, Any]:
    found = await run_in_threadpool(clusters.get_cluster, store, cluster_id)
    if found is None:
        raise NotFoundError(f"no cluster {cluster_id}")
    return found


@router.post("/clusters/{cluster_id}/triage", summary="Confirm or override the triage class")
async def set_triage(cluster_id: str, body: TriageRequest, store: StoreDep) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: triage.set_triage(store, cluster_id, body.class_, by=body.by, note=body.note)
    )


@router.get("/priorities", summary="Failure patterns in priority order, with the evidence")
async def priorities(
    store: StoreDep,
    kind: Kind | None = None,
    feature: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    severe_at: Annotated[float, Query(ge=0, le=1)] = priority.PrioritySettings.severe_at,
    frequent_share: Annotated[float, Query(ge=0, le=1)] = (
        priority.PrioritySettings.frequent_share
    ),
) -> dict[str, Any]:
    settings = priority.PrioritySettings(severe_at=severe_at, frequent_share=frequent_share)
    items = await run_in_threadpool(
        lambda: priority.priorities(store, settings, kind=kind, feature=feature, limit=limit)
    )
    return {"items": items, "quadrants": dict(priority.QUADRANTS)}
