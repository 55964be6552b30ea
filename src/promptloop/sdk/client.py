"""The client: settings + user hasher + transport, and the process-wide default client.

Before ``init()`` is called, SDK functions use a default client built lazily from the
environment: it sends to ``PROMPTLOOP_URL`` when ``PROMPTLOOP_URL`` or
``PROMPTLOOP_API_KEY`` is set, and is otherwise a disabled no-op (tracked functions still
run and get interaction IDs; nothing is sent; one INFO log line says so).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from promptloop.sdk import _ids
from promptloop.sdk.config import ENV_API_KEY, ENV_URL, Settings, resolve_settings
from promptloop.sdk.guard import handle_internal_error, internal_error_count, set_strict
from promptloop.sdk.hashing import UserHasher
from promptloop.sdk.transport import (
    FEEDBACK,
    INTERACTION,
    RAW_FEEDBACK,
    RAW_INTERACTION,
    Stats,
    Transport,
)

if TYPE_CHECKING:
    from promptloop.sdk.call import TrackedCall

logger = logging.getLogger("promptloop")

Enqueue = Callable[[Mapping[str, Any]], None]


class Client:
    """Sends interactions and feedback to one collector. Create it with :func:`init`.

    >>> import promptloop
    >>> client = promptloop.init("http://127.0.0.1:8321", enabled=False)
    >>> client.stats()["queued"]
    0
    """

    enqueue_interaction: Enqueue
    enqueue_feedback: Enqueue
    enqueue_raw_interaction: Enqueue
    enqueue_raw_feedback: Enqueue
    enqueue_call: Callable[[TrackedCall], None]

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(enabled=False)
        self.hasher = UserHasher(self.settings.hash_key or self.settings.api_key)
        self._transport: Transport | None = None
        self._closed_drops = 0
        if self.settings.enabled:
            transport = Transport(self.settings, self.hasher)
            self._transport = transport
            enqueue = transport.enqueue
            # Bound once here so the hot path is a single call into deque.append.
            self.enqueue_interaction = lambda record: enqueue(INTERACTION, record)
            self.enqueue_feedback = lambda record: enqueue(FEEDBACK, record)
            self.enqueue_raw_interaction = lambda record: enqueue(RAW_INTERACTION, record)
            self.enqueue_raw_feedback = lambda record: enqueue(RAW_FEEDBACK, record)
            # A finished tracked call is queued as is: its record is built off the hot path.
            self.enqueue_call = transport.enqueue_call
        else:
            self._set_enqueue(_discard)
        _CLIENTS.add(self)

    def _set_enqueue(self, fn: Callable[[Any], None]) -> None:
        self.enqueue_interaction = fn
        self.enqueue_feedback = fn
        self.enqueue_raw_interaction = fn
        self.enqueue_raw_feedback = fn
        self.enqueue_call = fn

    def _drop_after_close(self, record: Any) -> None:
        self._closed_drops += 1

    @property
    def enabled(self) -> bool:
        """False for a disabled (no-op) client."""
        return self._transport is not None

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued so far was sent or spooled; False on timeout.

        >>> import promptloop
        >>> promptloop.init(enabled=False).flush(timeout=1.0)
        True
        """
        if self._transport is None:
            return True
        return self._transport.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush (bounded by ``timeout``), stop the sender thread; later events are dropped."""
        transport = self._transport
        if transport is None:
            return True
        self._set_enqueue(self._drop_after_close)
        limit = self.settings.shutdown_timeout if timeout is None else timeout
        return transport.shutdown(limit)

    def stats(self) -> Stats:
        """Counters: queued, sent, dropped (of which spool_evicted: the oldest spooled
        records, deleted when the spool was full), rejected, failed, spooled, replayed,
        internal_errors, pending (still in memory)."""
        if self._transport is None:
            return Stats(
                queued=0,
                sent=0,
                dropped=self._closed_drops,
                spool_evicted=0,
                rejected=0,
                failed=0,
                spooled=0,
                replayed=0,
                internal_errors=internal_error_count(),
                pending=0,
            )
        stats = self._transport.stats()
        stats["dropped"] += self._closed_drops
        return stats

    def hash_user_id(self, raw: str) -> str:
        """The pseudonymous ID sent for ``raw``: ``"u_"`` + 32 hex chars of HMAC-SHA256."""
        return self.hasher.hash(raw)


def _discard(record: Any) -> None:
    return None


_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()
_LOCK = threading.Lock()
_DEFAULT: Client | None = None


def current_client() -> Client:
    """The client SDK functions use: the one from ``init()``, else one built from env."""
    client = _DEFAULT
    if client is not None:
        return client
    return _default_from_env()


def _default_from_env() -> Client:
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            configured = bool(os.environ.get(ENV_URL) or os.environ.get(ENV_API_KEY))
            try:
                settings = resolve_settings(enabled=None if configured else False)
            except Exception as exc:
                handle_internal_error(exc, "configuring from the environment")
                settings = Settings(enabled=False)
            if not settings.enabled:
                logger.info(
                    "promptloop is not configured (no init() call, no %s): "
                    "interactions and feedback are not sent",
                    ENV_URL,
                )
            _DEFAULT = Client(settings)
        return _DEFAULT


def init(
    url: str | None = None,
    api_key: str | None = None,
    *,
    hash_key: str | None = None,
    strict: bool = False,
    enabled: bool | None = None,
    max_queue: int = 10_000,
    batch_size: int = 500,
    flush_interval: float = 1.0,
    spool_dir: str | os.PathLike[str] | None = None,
    timeout: float = 5.0,
    feature: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    **advanced: Any,
) -> Client:
    """Configure promptloop for this process and return the client.

    ``url``/``api_key``/``hash_key`` default to ``PROMPTLOOP_URL``, ``PROMPTLOOP_API_KEY``
    and ``PROMPTLOOP_HASH_KEY``. ``feature`` and ``metadata`` are defaults for every
    interaction. ``strict=True`` re-raises SDK-internal errors instead of logging them (for
    tests). Advanced keywords: ``max_attempts``, ``retry_backoff``, ``max_retry_delay``,
    ``retry_cooldown``, ``shutdown_timeout``, ``max_body_bytes``, ``max_spool_bytes``.
    Calling ``init`` again replaces (and shuts down) the previous client.

    >>> import promptloop
    >>> client = promptloop.init("http://127.0.0.1:8321", enabled=False, feature="chat")
    >>> client.settings.feature
    'chat'
    """
    global _DEFAULT
    set_strict(strict)
    try:
        settings = resolve_settings(
            url,
            api_key,
            hash_key=hash_key,
            enabled=enabled,
            spool_dir=spool_dir,
            strict=strict,
            max_queue=max_queue,
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
            feature=feature,
            metadata=dict(metadata) if metadata else None,
            **advanced,
        )
        client = Client(settings)
    except Exception as exc:
        handle_internal_error(exc, "init")
        client = Client(Settings(enabled=False))
    _ids.refill()
    with _LOCK:
        previous, _DEFAULT = _DEFAULT, client
    if previous is not None and previous is not client:
        try:
            previous.shutdown()
        except Exception as exc:
            handle_internal_error(exc, "shutting down the previous client")
    return client


def flush(timeout: float | None = None) -> bool:
    """Flush the default client (see :meth:`Client.flush`).

    >>> import promptloop
    >>> promptloop.flush(timeout=5.0)
    True
    """
    try:
        return current_client().flush(timeout)
    except Exception as exc:
        handle_internal_error(exc, "flush")
        return False


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop the default client; ``init()`` may be called again afterwards."""
    global _DEFAULT
    with _LOCK:
        client, _DEFAULT = _DEFAULT, None
    if client is None:
        return True
    try:
        return client.shutdown(timeout)
    except Exception as exc:
        handle_internal_error(exc, "shutdown")
        return False


def hash_user_id(raw: str) -> str:
    """The pseudonymous ID promptloop sends instead of ``raw`` (stable per hash key).

    >>> import promptloop
    >>> _ = promptloop.init(enabled=False, hash_key="k")
    >>> promptloop.hash_user_id("alice")
    'u_ec631a55bb81f5b9dc96aa930a45628d'
    """
    return current_client().hash_user_id(raw)


def _at_exit() -> None:
    # Bounded: each client waits at most its shutdown_timeout, then spools what is left.
    for client in list(_CLIENTS):
        try:
            client.shutdown()
        except Exception as exc:
            handle_internal_error(exc, "exit", reraise=False)


atexit.register(_at_exit)
