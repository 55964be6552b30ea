"""API-key authentication: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""

from __future__ import annotations

import hmac

from fastapi import Request

from promptloop.server.errors import APIError


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def require_api_key(request: Request) -> None:
    """A FastAPI dependency: passes when no keys are configured or a valid key is shown."""
    keys: frozenset[str] = request.app.state.settings.api_keys
    if not keys:
        return
    key = presented_key(request)
    # Compare against every key in constant time so timing reveals nothing about them.
    if key is None or not any(hmac.compare_digest(key, candidate) for candidate in keys):
        raise APIError(
            401,
            "unauthorized",
            "a valid API key is required: send 'Authorization: Bearer <key>'",
        )
