"""Key management over HTTP (admin only): create, list, revoke and rotate API keys.

The plaintext of a key is in the response to its creation (or rotation) and nowhere else.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from promptloop.server.auth import SCOPE_EXTRA, access_of, require_api_key
from promptloop.store import keys as key_store
from promptloop.store.base import Store
from promptloop.store.keys import Scope

router = APIRouter(prefix="/v1", tags=["keys"], dependencies=[Depends(require_api_key)])
ADMIN = {SCOPE_EXTRA: Scope.ADMIN.value}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=key_store.MAX_NAME_CHARS)
    scope: Scope
    expires_at: datetime | None = Field(default=None, description="ISO-8601; none: never")


class Rotation(BaseModel):
    grace_hours: float = Field(
        default=key_store.DEFAULT_GRACE.total_seconds() / 3600,
        ge=0,
        le=24 * 365,
        description="hours the old key keeps working (0 revokes it at once)",
    )


@router.get("/keys", summary="API keys (never their plaintext)", openapi_extra=ADMIN)
async def list_keys(store: StoreDep) -> dict[str, Any]:
    keys = await run_in_threadpool(key_store.list_keys, store)
    return {"keys": [key.as_dict() for key in keys]}


@router.post("/keys", summary="Create a key; its plaintext is shown in this response only")
async def create_key(body: NewKey, request: Request, store: StoreDep) -> dict[str, Any]:
    created = await run_in_threadpool(
        key_store.create_key, store, body.name, body.scope, expires_at=body.expires_at
    )
    access_of(request.app).invalidate()
    return created.as_dict()


@router.post("/keys/{key_id}/revoke", summary="Revoke a key now")
async def revoke_key(key_id: str, request: Request, store: StoreDep) -> dict[str, Any]:
    revoked = await run_in_threadpool(key_store.revoke, store, key_id)
    access_of(request.app).invalidate()
    return revoked.as_dict()


@router.post(
    "/keys/{key_id}/rotate",
    summary="A successor key; the old one keeps working for the grace period",
)
async def rotate_key(
    key_id: str, request: Request, store: StoreDep, body: Rotation | None = None
) -> dict[str, Any]:
    grace = timedelta(hours=(body or Rotation()).grace_hours)
    created, old = await run_in_threadpool(key_store.rotate, store, key_id, grace=grace)
    access_of(request.app).invalidate()
    return {"new": created.as_dict(), "old": old.as_dict()}
