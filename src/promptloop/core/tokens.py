"""Signed feedback tokens: how a browser sends feedback without ever holding a secret.

The app's server (through the SDK) signs, for each interaction, a short token scoped to that
one interaction and to the feedback types the browser may send, with an expiry. The browser
posts feedback to ``/v1/feedback/{token}``; the collector checks the signature and scope.

Format: ``base64url(payload JSON) "." base64url(HMAC-SHA256(key, first part))``, where the
payload is ``{"v": 1, "i": interaction_id, "t": [types], "e": expiry (unix s), "k": key id}``.
The signing key is derived from a secret both sides know: an API key of the collector, or a
dedicated ``PROMPTLOOP_FEEDBACK_SECRET``. The key id lets the collector pick the right key
without trying them all.

Replays: a token authorises feedback about its interaction until it expires, so a captured
request could be sent again. :func:`event_identity` names an event by its token and its
``feedback_id`` (or, without one, its content); the collector refuses an identity it has
already accepted (:class:`ReplayGuard`, 409) and gives events without an ID that identity
as their ``feedback_id``, so even a replay after a restart is stored once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from promptloop.core.enums import FeedbackType

TOKEN_VERSION = 1
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
# What a browser may say about an interaction; inferred types stay server-side.
BROWSER_TYPES: tuple[str, ...] = (
    FeedbackType.THUMBS_UP.value,
    FeedbackType.THUMBS_DOWN.value,
    FeedbackType.RATING.value,
    FeedbackType.EDIT.value,
    FeedbackType.COPY.value,
    FeedbackType.REGENERATE.value,
    FeedbackType.ABANDON.value,
    FeedbackType.CORRECTION.value,
    FeedbackType.REPORT.value,
)


class TokenError(ValueError):
    """A feedback token was refused; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def derive_key(secret: str) -> bytes:
    """The signing key for a secret (never the secret itself, so a leaked key reveals nothing)."""
    return hmac.new(secret.encode(), b"promptloop feedback token v1", hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    interaction_id: str
    types: tuple[str, ...]
    expires_at: int
    key_id: str

    def allows(self, feedback_type: str) -> bool:
        return feedback_type in self.types


def sign(
    key: bytes,
    interaction_id: str,
    *,
    types: Iterable[str] = BROWSER_TYPES,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    issued = time.time() if now is None else now
    payload = {
        "v": TOKEN_VERSION,
        "i": interaction_id,
        "t": list(types),
        "e": int(issued + ttl_seconds),
        "k": key_id(key),
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def verify(token: str, keys: Mapping[str, bytes], *, now: float | None = None) -> TokenClaims:
    """Check a token against the known keys (by key id); raise :class:`TokenError` if refused."""
    try:
        body, signature = token.split(".")
        payload = json.loads(_unb64(body))
        claims = TokenClaims(
            interaction_id=str(payload["i"]),
            types=tuple(str(t) for t in payload["t"]),
            expires_at=int(payload["e"]),
            key_id=str(payload["k"]),
        )
        if payload.get("v") != TOKEN_VERSION:
            raise ValueError("unknown token version")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenError("malformed_token", "the feedback token is malformed") from None
    key = keys.get(claims.key_id)
    if key is None:
        raise TokenError("invalid_token", "the feedback token was not signed by a known key")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise TokenError("invalid_token", "the feedback token's signature does not match")
    if (time.time() if now is None else now) >= claims.expires_at:
        raise TokenError("expired_token", "the feedback token has expired")
    return claims


# -- replays ----------------------------------------------------------------------------------
_REPLAY_NAMESPACE = uuid.UUID("2f8a4c1e-93b7-4d52-8e0a-7c6b5d4e3f21")
_ID_KEYS = ("feedback_id", "feedbackId", "id")


def event_identity(token: str, event: Mapping[str, Any]) -> str:
    """The same event sent twice with the same token has the same identity (a UUID)."""
    signature = token.rsplit(".", 1)[-1]
    given = next((event[key] for key in _ID_KEYS if event.get(key)), None)
    if given is not None:
        basis = f"id:{given}"
    else:
        basis = "body:" + json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return str(uuid.uuid5(_REPLAY_NAMESPACE, f"{signature}\n{basis}"))


class ReplayGuard:
    """Identities of accepted browser events, each kept until its token expires.

    In memory and bounded (the oldest entries go first when full); the store's
    ``feedback_id`` deduplication covers what it forgets.
    """

    def __init__(self, capacity: int = 200_000, clock: Callable[[], float] = time.time) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()

    def replayed(self, identities: Iterable[str]) -> list[str]:
        """The identities already accepted (and not yet expired)."""
        now = self._clock()
        with self._lock:
            return [i for i in identities if self._seen.get(i, 0.0) > now]

    def remember(self, identities: Iterable[str], expires_at: float) -> None:
        with self._lock:
            for identity in identities:
                self._seen[identity] = expires_at
                self._seen.move_to_end(identity)
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
