"""Replay protection of the browser path (``POST /v1/feedback/{token}``).

An event already accepted with the same token (same ``feedback_id``, or the same content
when it has none) is refused with 409 ``replayed``, and nothing of that request is stored.
Events without an ID get their identity as ``feedback_id``, so the store keeps one copy
even of a replay this process no longer remembers (after a restart, or beyond capacity).
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

from promptloop.core.tokens import ReplayGuard, event_identity
from promptloop.server.errors import APIError

_ID_KEYS = ("feedback_id", "feedbackId", "id")
_lock = threading.Lock()


def guard_of(app: FastAPI) -> ReplayGuard:
    found: ReplayGuard | None = getattr(app.state, "replay_guard", None)
    if found is None:
        with _lock:
            found = getattr(app.state, "replay_guard", None)
            if found is None:
                found = ReplayGuard()
                app.state.replay_guard = found
    return found


def check_replays(app: FastAPI, token: str, items: list[Any]) -> list[str]:
    """Name each event (giving ID-less ones their identity); 409 if one was seen before."""
    identities: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue  # refused by validation later
        try:
            identity = event_identity(token, item)
        except (ValueError, TypeError, RecursionError):
            continue  # unserialisable: validation refuses it
        if not any(item.get(key) for key in _ID_KEYS):
            item["feedback_id"] = identity
        identities.append(identity)
    if guard_of(app).replayed(identities):
        raise APIError(
            409,
            "replayed",
            "this feedback was already received with this token: nothing was stored again",
        )
    return identities


def remember(app: FastAPI, identities: list[str], expires_at: float) -> None:
    guard_of(app).remember(identities, expires_at)
