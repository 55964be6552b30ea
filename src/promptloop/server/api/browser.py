"""The browser path: ``POST /v1/feedback/{token}`` and ``GET /widget.js``.

A browser never holds a secret. The app's server signs, per interaction, a short-lived token
scoped to that interaction and to the feedback types a browser may send
(:mod:`promptloop.core.tokens`); the widget posts feedback to ``/v1/feedback/{token}``. The
token is the credential: no API key, a signature check against the collector's keys, the
interaction and types taken from the token, ``source`` forced to ``user``, a small body limit,
a per-token rate limit, and a CORS allow-list that applies to these two paths only.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from promptloop.core.records import canonical_uuid
from promptloop.core.tokens import TokenClaims, TokenError, derive_key, key_id, verify
from promptloop.server import replays
from promptloop.server.errors import APIError, error_body
from promptloop.server.ingest import Backpressure, Ingestor, validate_items
from promptloop.server.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SECRET_FILE = "feedback_secret"
MAX_TOKEN_CHARS = 4096
# A page sends a handful of events at a time; a beacon at most two.
MAX_EVENTS_PER_REQUEST = 20
_JSON_TYPES = ("", "application/json", "text/plain")
_INTERACTION_KEYS = ("interaction_id", "interactionId")
_TYPE_KEYS = ("feedback_type", "feedbackType", "type")
# Set by the collector, never by the browser.
_SERVER_KEYS = (
    *_INTERACTION_KEYS,
    "source",
    "timestamp",
    "related_interaction_id",
    "relatedInteractionId",
)

router = APIRouter(tags=["browser"])


# -- keys -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Keyring:
    """The keys that verify feedback tokens (by key id) and the one the collector signs with."""

    keys: Mapping[str, bytes]
    signing_key: bytes

    @classmethod
    def from_secrets(cls, secrets_: list[str]) -> Keyring:
        derived = [derive_key(secret) for secret in secrets_]
        return cls(keys={key_id(key): key for key in derived}, signing_key=derived[0])


def generated_secret(data_dir: Path) -> str:
    """The collector's own feedback secret, created once in ``<data_dir>/feedback_secret``.

    Used only when neither API keys nor feedback secrets are configured, so that a local
    collector (and its demo) works out of the box. Created atomically with mode 0600.
    """
    path = data_dir / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    temp = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if another process got there first: then theirs is the secret.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it and restart the collector")
    return secret


def load_keyring(settings: Settings) -> Keyring:
    """Feedback secrets first (the signing key is the first of them), then API keys."""
    configured = sorted(settings.feedback_secrets) + sorted(settings.api_keys)
    # An app holding a scoped key from settings signs its tokens with that key (keys from
    # the api_keys table are stored hashed: apps using them set a feedback secret).
    configured += sorted(settings.ingest_api_keys | settings.read_api_keys)
    return Keyring.from_secrets(configured or [generated_secret(settings.data_dir)])


_keyring_lock = threading.Lock()


def keyring(app: FastAPI) -> Keyring:
    """The app's keyring, loaded on first use (so building an app touches no files)."""
    found: Keyring | None = getattr(app.state, "feedback_keyring", None)
    if found is None:
        with _keyring_lock:
            found = getattr(app.state, "feedback_keyring", None)
            if found is None:
                found = load_keyring(app.state.settings)
                app.state.feedback_keyring = found
    return found


# -- rate limit -----------------------------------------------------------------------------
class RateLimiter:
    """A token bucket per key: ``per_minute`` events, refilled continuously. In memory."""

    MAX_BUCKETS = 100_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: int = 1) -> float:
        """Spend ``cost`` events; return 0 if allowed, else the seconds until it would be."""
        if self.capacity <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            level, last = self._buckets.get(key, (self.capacity, now))
            level = min(self.capacity, level + (now - last) * self.rate)
            if level >= cost:
                self._buckets[key] = (level - cost, now)
                return 0.0
            self._buckets[key] = (level, now)
            if len(self._buckets) > self.MAX_BUCKETS:
                self._prune(now)
            return (cost - level) / self.rate

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate
        for key, (_, last) in list(self._buckets.items()):
            if now - last >= full_after:
                del self._buckets[key]


# -- CORS -----------------------------------------------------------------------------------
def _normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def cors_headers(request: Request) -> dict[str, str] | None:
    """CORS response headers for this request, or ``None`` if its origin is not allowed.

    No ``Origin`` header (not a browser, or a same-origin GET) and a same-origin request need
    none. Otherwise the origin must be in ``cors_origins`` (or the list holds ``*``).
    """
    origin = request.headers.get("origin")
    vary = {"Vary": "Origin"}
    if origin is None:
        return vary
    allowed = {_normalise_origin(o) for o in request.app.state.settings.cors_origins}
    normalised = _normalise_origin(origin)
    if "*" in allowed or normalised in allowed:
        return {
            **vary,
            "Access-Control-Allow-Origin": "*" if "*" in allowed else origin,
            "Access-Control-Expose-Headers": "Retry-After",
        }
    if urlsplit(normalised).netloc == request.headers.get("host", "").lower():
        return vary
    return None


def _origin_refused(request: Request) -> JSONResponse:
    origin = request.headers.get("origin", "")
    return JSONResponse(
        error_body(
            "origin_not_allowed",
            f"pages from {origin} may not send feedback here: add the origin to "
            "PROMPTLOOP_CORS_ORIGINS",
        ),
        status_code=403,
        headers={"Vary": "Origin"},
    )


# -- the endpoint ---------------------------------------------------------------------------
def _verify(token: str, keys: Mapping[str, bytes]) -> TokenClaims:
    if len(token) > MAX_TOKEN_CHARS:
        raise APIError(401, "malformed_token", "the feedback token is malformed")
    try:
        return verify(token, keys)
    except TokenError as exc:
        raise APIError(401, exc.code, str(exc)) from None


async def _read_items(request: Request, limit: int) -> list[Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise APIError(415, "unsupported_media_type", "send JSON as application/json or text/plain")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, "body_too_large", f"the body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise APIError(413, "body_too_large", f"the body exceeds {limit} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        if len(payload) > MAX_EVENTS_PER_REQUEST:
            raise APIError(
                413,
                "batch_too_large",
                f"send at most {MAX_EVENTS_PER_REQUEST} events per request",
            )
        return payload
    raise APIError(422, "invalid_body", "the body must be one JSON object or an array of objects")


def scope_items(items: list[Any], claims: TokenClaims) -> list[Any]:
    """Bind each event to the token: its interaction, allowed types, ``source=user``.

    An event naming another interaction or a type the token does not allow refuses the whole
    request (nothing is stored). The collector sets the timestamp on receipt.
    """
    scoped: list[Any] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            scoped.append(item)  # reported by validation
            continue
        for key in _INTERACTION_KEYS:
            if key in item and _same_interaction(item[key], claims) is False:
                raise APIError(
                    403,
                    "out_of_scope",
                    f"event {index} names another interaction than its token's",
                    index=index,
                )
        for key in _TYPE_KEYS:
            value = item.get(key)
            if isinstance(value, str) and not claims.allows(value):
                raise APIError(
                    403,
                    "out_of_scope",
                    f"event {index}: the token does not allow {value!r} feedback",
                    index=index,
                )
        event = {key: value for key, value in item.items() if key not in _SERVER_KEYS}
        event["interaction_id"] = claims.interaction_id
        event["source"] = "user"
        scoped.append(event)
    return scoped


def _same_interaction(value: Any, claims: TokenClaims) -> bool:
    try:
        return canonical_uuid(value, "interaction_id") == canonical_uuid(
            claims.interaction_id, "interaction_id"
        )
    except ValueError:
        return False


def _store(ingestor: Ingestor, items: list[Any]) -> JSONResponse:
    validated = validate_items("feedback", items)
    try:
        ingestor.submit("feedback", validated.records)
    except Backpressure as exc:
        raise APIError(503, "busy", f"try again shortly: {exc}", retry_after=1) from None
    errors = [error.as_dict() for error in validated.errors]
    rejected = len({error["index"] for error in errors})
    ingestor.stats.rejected += rejected
    body = {"accepted": len(validated.records), "rejected": rejected, "errors": errors}
    if not errors:
        return JSONResponse(body, status_code=200)
    if validated.records:
        return JSONResponse(body, status_code=207)
    message = "; ".join(f"[{e['index']}] {e['field']}: {e['reason']}" for e in errors[:5])
    return JSONResponse({"error": "invalid_items", "message": message, **body}, status_code=422)


def _error_response(exc: APIError) -> JSONResponse:
    extra = dict(exc.extra)
    retry_after = extra.pop("retry_after", None)
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse(
        error_body(exc.code, exc.message, **extra), status_code=exc.status, headers=headers
    )


_FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "every event accepted (durable)"},
    207: {"description": "some events accepted, the others reported by index"},
    400: {"description": "the body is not JSON"},
    401: {"description": "invalid_token, expired_token or malformed_token: nothing stored"},
    409: {"description": "replayed: this event was already received with this token"},
    403: {"description": "out_of_scope (another interaction or type) or origin_not_allowed"},
    413: {"description": "the body or batch is too large"},
    415: {"description": "not application/json or text/plain"},
    422: {"description": "no event is valid"},
    429: {"description": "rate limited: retry after the Retry-After seconds"},
}


@router.post(
    "/v1/feedback/{token}",
    summary="Browser feedback, authorised by a signed feedback token (no API key)",
    description=(
        "One feedback event or an array, as JSON (`application/json` or `text/plain`, so "
        "`navigator.sendBeacon` works). The interaction and the allowed types come from the "
        "token; `source` is always `user`; the collector sets the timestamp."
    ),
    responses=_FEEDBACK_RESPONSES,
)
async def post_browser_feedback(token: str, request: Request) -> Response:
    cors = cors_headers(request)
    if cors is None:
        return _origin_refused(request)
    settings: Settings = request.app.state.settings
    try:
        claims = _verify(token, keyring(request.app).keys)
        items = scope_items(await _read_items(request, settings.feedback_max_body_bytes), claims)
        identities = replays.check_replays(request.app, token, items)
        limiter: RateLimiter = request.app.state.feedback_limiter
        wait = limiter.take(claims.interaction_id, max(1, len(items)))
        if wait:
            raise APIError(
                429,
                "rate_limited",
                f"too many feedback events for this interaction; retry in {math.ceil(wait)} s",
                retry_after=math.ceil(wait),
            )
        response = await run_in_threadpool(_store, request.app.state.ingestor, items)
        if response.status_code == 200:
            replays.remember(request.app, identities, claims.expires_at)
    except APIError as exc:
        response = _error_response(exc)
    response.headers.update(cors)
    return response


@router.options("/v1/feedback/{token}", include_in_schema=False)
async def preflight_browser_feedback(token: str, request: Request) -> Response:
    cors = cors_headers(request)
    if cors is None:
        return _origin_refused(request)
    return Response(
        status_code=204,
        headers={
            **cors,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        },
    )


@router.get("/widget.js", include_in_schema=False)
async def widget_js(request: Request) -> Response:
    headers = {
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
        **(cors_headers(request) or {"Vary": "Origin"}),
    }
    return FileResponse(
        STATIC_DIR / "widget.js", media_type="text/javascript; charset=utf-8", headers=headers
    )


def install(app: FastAPI, settings: Settings) -> None:
    """Add the browser endpoints (and, when ``demo_enabled``, the demo chat) to the collector."""
    app.state.feedback_limiter = RateLimiter(settings.feedback_rate_per_minute)
    app.include_router(router)
    if settings.demo_enabled:
        from promptloop.server import demo_chat

        demo_chat.install(app)
