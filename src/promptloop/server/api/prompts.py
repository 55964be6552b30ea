"""The prompt registry over HTTP: register, list, resolve, diff, changelog, labels, deployments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from promptloop.core.prompts import Bump, Evidence
from promptloop.exceptions import NotFoundError
from promptloop.prompts import PromptRegistry
from promptloop.server.auth import require_api_key

router = APIRouter(prefix="/v1", tags=["prompts"], dependencies=[Depends(require_api_key)])


def registry(request: Request) -> PromptRegistry:
    request.app.state.ingestor.flush()  # unregistered-version queries read interactions
    return PromptRegistry(request.app.state.store)


RegistryDep = Annotated[PromptRegistry, Depends(registry)]


class RegisterRequest(BaseModel):
    name: str = Field(description="prompt name, e.g. 'summarizer'")
    template: str = Field(description="template text with {{variables}}")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="output-shaping settings: model, temperature, ..."
    )
    rationale: str | None = Field(
        default=None,
        description="what failure mode this version addresses and why; required after the first",
    )
    failure_mode: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    author: str | None = None
    version: str | None = Field(default=None, description="explicit semver; default: bump")
    bump: Bump = "minor"
    source: str = "api"
    commit_sha: str | None = None
    created_at: datetime | None = None


class LabelRequest(BaseModel):
    version: str
    actor: str | None = None
    reason: str | None = None


class RollbackRequest(BaseModel):
    to_version: str | None = None
    actor: str | None = None
    reason: str | None = None


@router.post("/prompts", summary="Register a prompt version (identical content: the existing one)")
async def register(body: RegisterRequest, reg: RegistryDep) -> JSONResponse:
    result = await run_in_threadpool(
        lambda: reg.register(
            body.name,
            body.template,
            body.settings,
            rationale=body.rationale,
            failure_mode=body.failure_mode,
            evidence=body.evidence,
            author=body.author,
            version=body.version,
            bump=body.bump,
            source=body.source,
            commit_sha=body.commit_sha,
            created_at=body.created_at,
        )
    )
    payload = {"created": result.created, **result.version.model_dump(mode="json")}
    return JSONResponse(payload, status_code=201 if result.created else 200)


@router.get("/prompts", summary="Every prompt with its latest version and labels")
async def list_prompts(reg: RegistryDep) -> dict[str, Any]:
    return {"items": await run_in_threadpool(reg.names)}


@router.get("/prompts/unregistered", summary="Prompt versions seen in traffic but not registered")
async def unregistered(reg: RegistryDep, since: datetime | None = None) -> dict[str, Any]:
    return {"items": await run_in_threadpool(reg.unregistered_versions, since)}


@router.get(
    "/prompts/{name:path}/resolve",
    summary="The version a label points at (or a given version, or the latest)",
)
async def resolve(
    name: str, reg: RegistryDep, label: str | None = None, version: str | None = None
) -> dict[str, Any]:
    found = await run_in_threadpool(lambda: reg.resolve(name, label=label, version=version))
    return found.model_dump(mode="json")


@router.get("/prompts/{name:path}/versions/{version}", summary="One version")
async def get_version(name: str, version: str, reg: RegistryDep) -> dict[str, Any]:
    return (await run_in_threadpool(reg.get, name, version)).model_dump(mode="json")


@router.get("/prompts/{name:path}/diff", summary="Unified diff of template and settings")
async def diff(
    name: str,
    reg: RegistryDep,
    from_version: Annotated[str, Query(alias="from")],
    to_version: Annotated[str, Query(alias="to")],
) -> dict[str, Any]:
    text = await run_in_threadpool(reg.diff, name, from_version, to_version)
    return {"prompt_name": name, "from": from_version, "to": to_version, "diff": text}


@router.get(
    "/prompts/{name:path}/log", summary="The changelog: versions and deployments, newest first"
)
async def log(name: str, reg: RegistryDep) -> dict[str, Any]:
    return {"prompt_name": name, "entries": await run_in_threadpool(reg.history, name)}


@router.post(
    "/prompts/{name:path}/labels/{label}", summary="Point a label at a version (a deployment)"
)
async def promote(name: str, label: str, body: LabelRequest, reg: RegistryDep) -> dict[str, Any]:
    deployment = await run_in_threadpool(
        lambda: reg.promote(name, body.version, label=label, actor=body.actor, reason=body.reason)
    )
    return deployment.model_dump(mode="json")


@router.post(
    "/prompts/{name:path}/labels/{label}/rollback", summary="Move a label back (a deployment)"
)
async def rollback(
    name: str, label: str, body: RollbackRequest, reg: RegistryDep
) -> dict[str, Any]:
    deployment = await run_in_threadpool(
        lambda: reg.rollback(
            name, label=label, to_version=body.to_version, actor=body.actor, reason=body.reason
        )
    )
    return deployment.model_dump(mode="json")


@router.get("/prompts/{name:path}", summary="A prompt's versions (oldest first) and labels")
async def show_prompt(name: str, reg: RegistryDep) -> dict[str, Any]:
    versions = await run_in_threadpool(reg.versions, name)
    if not versions:
        raise NotFoundError(f"no prompt named {name!r}")
    return {
        "prompt_name": name,
        "labels": await run_in_threadpool(reg.labels, name),
        "versions": [v.model_dump(mode="json") for v in versions],
    }


@router.get("/deployments", summary="Deployment events (label moves), oldest first")
async def deployments(
    reg: RegistryDep,
    prompt_name: str | None = None,
    label: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    found = await run_in_threadpool(
        lambda: reg.deployments(prompt_name, label=label, since=since, until=until)
    )
    return {"items": [d.model_dump(mode="json") for d in found]}
