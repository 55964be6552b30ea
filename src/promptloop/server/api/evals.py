"""Evals over HTTP: datasets (build, list, show, curate, export, import), runs (trigger, list,
show), comparisons, the CI gate, the holdout report and promotion.

Runs triggered here may use model providers only (``openai:``, ``anthropic:``, ``echo``):
a ``python:`` or ``file://`` provider would run code from the server's disk and an
``http(s)://`` one would make the collector call any address, so those stay CLI-only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from promptloop.evals import datasets, service
from promptloop.evals.holdout import DEFAULT_HOLDOUT_FRACTION
from promptloop.evals.planning import RunRequest
from promptloop.server.auth import require_api_key
from promptloop.store.base import Store

router = APIRouter(prefix="/v1/evals", tags=["evals"], dependencies=[Depends(require_api_key)])

SAFE_PROVIDER_PREFIXES = ("openai:", "anthropic:", "echo")
MAX_DECISIONS = 1000  # items per request: each is read and written on its own
ItemId = Annotated[
    str, Field(min_length=6, max_length=64, description="an item ID or its 6+ first characters")
]
Split = Literal["dev", "holdout", "all"]


def flushed_store(request: Request) -> Store:
    """The store after the ingestor wrote what it holds: a dataset sees every accepted event."""
    request.app.state.ingestor.flush()
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(flushed_store)]


class DatasetQueryBody(BaseModel):
    source: str = Field(
        default="negative",
        description="negative, all, cluster, or a feedback type (thumbs_down, correction, ...)",
    )
    feature: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    since: str | None = Field(default=None, description="ISO-8601")
    until: str | None = Field(default=None, description="ISO-8601")
    cluster_id: str | None = None
    sample: int | None = Field(default=None, ge=1)
    seed: int = 0
    limit: int | None = Field(default=None, ge=1)


class BuildRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    query: DatasetQueryBody = Field(default_factory=DatasetQueryBody)
    description: str | None = None
    holdout_fraction: float = Field(default=DEFAULT_HOLDOUT_FRACTION, ge=0.0, lt=1.0)
    created_by: str | None = None


class DecisionRequest(BaseModel):
    item_ids: list[ItemId] = Field(min_length=1, max_length=MAX_DECISIONS)
    status: Literal["accepted", "rejected"]
    by: str = Field(min_length=1, max_length=200)
    expected: str | None = Field(default=None, description="the expected property, in words")
    assertions: list[dict[str, Any]] = Field(default_factory=list)
    reference: str | None = None


class ImportRequest(BaseModel):
    content: str = Field(description="the file's text")
    format: Literal["jsonl", "csv"] = "jsonl"
    holdout_fraction: float = Field(default=DEFAULT_HOLDOUT_FRACTION, ge=0.0, lt=1.0)
    description: str | None = None
    created_by: str | None = None


class RunBody(BaseModel):
    dataset: str = Field(min_length=1, description="NAME or NAME@VERSION")
    prompts: list[str] = Field(min_length=1, description="registry NAME@VERSION or NAME@LABEL")
    providers: list[str | dict[str, Any]] = Field(min_length=1)
    repeat: int = Field(default=1, ge=1, le=100)
    split: Split = "all"
    judge: str | dict[str, Any] | None = None
    assertions: list[dict[str, Any]] = Field(default_factory=list)
    concurrency: int = Field(default=8, ge=1, le=64)
    description: str | None = None
    created_by: str | None = None


class PromoteRequest(BaseModel):
    prompt: str | None = Field(default=None, description="prompt label in the run")
    baseline: str | None = Field(default=None, description="RUN[/PROMPT[/PROVIDER]]")
    label: str = "production"
    name: str | None = Field(default=None, description="registry name for a prompt file")
    version: str | None = None
    note: str | None = None
    by: str | None = None


def _check_providers(body: RunBody) -> None:
    for field, entries in (("providers", body.providers), ("judge", [body.judge])):
        for index, entry in enumerate(entries):
            if entry is None:
                continue
            ident = entry if isinstance(entry, str) else str(entry.get("id", ""))
            if not ident.startswith(SAFE_PROVIDER_PREFIXES):
                raise ValueError(
                    f"{field}[{index}]: {ident!r} cannot be started over HTTP; use an openai:, "
                    "anthropic: or echo provider (or the CLI)"
                )


# ---------------------------------------------------------------------- datasets


@router.post("/datasets", summary="Build a new dataset version from interactions", status_code=201)
async def build_dataset(store: StoreDep, body: BuildRequest) -> dict[str, Any]:
    query = body.query.model_dump(exclude_none=True)
    return await run_in_threadpool(
        lambda: service.build_dataset(
            store,
            name=body.name,
            query=query,
            description=body.description,
            holdout_fraction=body.holdout_fraction,
            created_by=body.created_by,
        )
    )


@router.get("/datasets", summary="Dataset versions with item counts and holdout use")
async def list_datasets(store: StoreDep) -> dict[str, Any]:
    return await run_in_threadpool(service.list_datasets, store)


@router.get("/datasets/{dataset}", summary="A dataset's items (development unless asked)")
async def show_dataset(
    store: StoreDep,
    dataset: str,
    status: Literal["candidate", "accepted", "rejected"] | None = None,
    include_holdout: bool = False,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: service.show_dataset(
            store,
            dataset=dataset,
            status=status,
            include_holdout=include_holdout,
            actor=actor,
            limit=limit,
        )
    )


@router.get("/datasets/{dataset}/export", summary="Items as JSONL, CSV or promptfoo tests")
async def export_dataset(
    store: StoreDep,
    dataset: str,
    format: Literal["jsonl", "csv", "promptfoo"] = "jsonl",
    status: Literal["candidate", "accepted", "rejected"] | None = "accepted",
    include_holdout: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: service.export_dataset(
            store,
            dataset=dataset,
            format=format,
            status=status,
            include_holdout=include_holdout,
            actor=actor,
        )
    )


@router.post(
    "/datasets/{name}/import", summary="Import items as a new dataset version", status_code=201
)
async def import_dataset(store: StoreDep, name: str, body: ImportRequest) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: service.import_dataset(store, name=name, **body.model_dump())
    )


@router.post("/items/decisions", summary="Accept (with an expected property) or reject items")
async def decide(store: StoreDep, body: DecisionRequest) -> dict[str, Any]:
    return await run_in_threadpool(lambda: service.decide(store, **body.model_dump()))


@router.get(
    "/items/by-interaction/{interaction_id}", summary="Dataset items built from one interaction"
)
async def items_for_interaction(store: StoreDep, interaction_id: str) -> dict[str, Any]:
    found = await run_in_threadpool(datasets.candidates_for_interaction, store, interaction_id)
    return service.as_json({"items": found})


# ---------------------------------------------------------------------- runs


@router.post("/runs", summary="Run prompt versions x providers on a dataset", status_code=201)
async def run_eval(store: StoreDep, body: RunBody) -> dict[str, Any]:
    _check_providers(body)
    request = RunRequest(**body.model_dump())
    return await run_in_threadpool(lambda: service.run_eval(store, request))


@router.get("/runs", summary="Eval runs, newest first")
async def list_runs(
    store: StoreDep,
    dataset: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return await run_in_threadpool(lambda: service.list_runs(store, dataset=dataset, limit=limit))


@router.get("/runs/{run}", summary="One run with its results (held-out text withheld)")
async def show_run(store: StoreDep, run: str, include_holdout: bool = False) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: service.show_run(store, run=run, include_holdout=include_holdout)
    )


@router.get("/compare", summary="Per-item changes with McNemar and a paired bootstrap")
async def compare(
    store: StoreDep,
    baseline: str,
    candidate: str,
    split: Split = "all",
    include_holdout: bool = False,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: service.compare(
            store,
            baseline=baseline,
            candidate=candidate,
            split=split,
            include_holdout=include_holdout,
        )
    )


@router.get("/gate", summary="The CI gate: passed, and the reasons when not")
async def gate(
    store: StoreDep,
    baseline: str,
    candidate: str,
    min_pass_rate: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    alpha: Annotated[float, Query(gt=0.0, le=0.5)] = 0.05,
    split: Split = "all",
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: service.gate(
            store,
            baseline=baseline,
            candidate=candidate,
            min_pass_rate=min_pass_rate,
            alpha=alpha,
            split=split,
        )
    )


@router.get("/holdout", summary="Development vs holdout pass rates per prompt version")
async def holdout_report(store: StoreDep, dataset: str | None = None) -> dict[str, Any]:
    return await run_in_threadpool(lambda: service.holdout_report(store, dataset=dataset))


@router.post("/runs/{run}/promote", summary="Promote a run's prompt with a recorded rationale")
async def promote(store: StoreDep, run: str, body: PromoteRequest) -> dict[str, Any]:
    return await run_in_threadpool(lambda: service.promote_run(store, run=run, **body.model_dump()))
