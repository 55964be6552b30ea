"""Rates with intervals per slice and time bucket, and version/variant comparisons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from promptloop.analytics import queries
from promptloop.analytics.compare import DEFAULT_RATES, compare
from promptloop.analytics.metrics import ALL_RATES, SLICE_COLUMNS, Slicing, rate_metrics
from promptloop.server.api.query import FilterDep, StoreDep
from promptloop.server.auth import require_api_key

router = APIRouter(prefix="/v1", tags=["metrics"], dependencies=[Depends(require_api_key)])


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@router.get(
    "/metrics", summary="Rates (with 95% Wilson intervals), latency, tokens, cost per slice"
)
async def metrics(
    store: StoreDep,
    filters: FilterDep,
    by: Annotated[
        str,
        Query(description=f"comma-separated slicing columns among {', '.join(SLICE_COLUMNS)}"),
    ] = "feature,prompt_name,prompt_version",
    variant_key: Annotated[
        str | None, Query(description="also slice by this metadata key, e.g. ab_variant")
    ] = None,
    bucket: Literal["hour", "day", "week"] | None = None,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    slicing = Slicing(by=tuple(_csv(by)), variant_key=variant_key, bucket=bucket)
    rows = await run_in_threadpool(rate_metrics, store, queries.with_window(filters, days), slicing)
    return {"items": rows, "rates": list(ALL_RATES)}


@router.get("/compare", summary="Compare prompt versions or A/B variants of one feature")
async def compare_groups(
    store: StoreDep,
    feature: str,
    versions: Annotated[str | None, Query(description="comma-separated; default: all")] = None,
    variant_key: Annotated[
        str | None, Query(description="compare values of this metadata key instead")
    ] = None,
    baseline: str | None = None,
    rates: Annotated[
        str, Query(description=f"comma-separated among {', '.join(ALL_RATES)}")
    ] = ",".join(DEFAULT_RATES),
    since: datetime | None = None,
    until: datetime | None = None,
    bound_by_deployments: bool = True,
) -> dict[str, Any]:
    result: dict[str, Any] = await run_in_threadpool(
        lambda: compare(
            store,
            feature=feature,
            versions=_csv(versions) or None,
            variant_key=variant_key,
            baseline=baseline,
            rates=tuple(_csv(rates)),
            since=since,
            until=until,
            bound_by_deployments=bound_by_deployments,
        )
    )
    return result
