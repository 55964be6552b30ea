"""What every provider shares: a concurrency limit, retries with backoff, timeouts, cost and
token accounting and the response cache.

A concrete provider implements one method, :meth:`BaseProvider._complete`, which makes a
single attempt and raises :class:`CallFailed` when it fails; :meth:`BaseProvider.call` wraps
it. Retries use exponential backoff with jitter on 429, 5xx, timeouts and connection errors,
and honour the server's ``Retry-After`` (or ``retry-after-ms``) when it sends one. Failures
that survive the retries come back as a response with ``error`` set rather than an
exception, so one bad item never aborts a run.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from promptloop.evals.cache import ResponseCache, cache_key
from promptloop.evals.providers.pricing import price_for
from promptloop.evals.types import ProviderRequest, ProviderResponse

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# Configuration keys that never reach the cache key: secrets and call mechanics.
_NOT_IDENTITY = frozenset(
    {
        "apiKey",
        "api_key",
        "apiKeyEnvar",
        "headers",
        "concurrency",
        "maxConcurrency",
        "max_retries",
        "maxRetries",
        "timeout",
        "backoff_base",
        "backoff_max",
    }
)


class CallFailed(Exception):
    """One attempt failed; ``retryable`` says whether another attempt may succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class CallStats:
    """Counters for one provider: what was asked, retried, waited and spent."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    cache_hits: int = 0
    errors: int = 0
    waits_s: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class CallPolicy:
    """How hard to try: concurrency, retries, backoff and timeout."""

    concurrency: int = 4
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 60.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CallPolicy:
        """Read ``concurrency``/``maxConcurrency``, ``max_retries``, ``timeout`` (seconds),
        ``backoff_base`` and ``backoff_max`` (seconds) from a provider config."""
        default = cls()
        policy = cls(
            concurrency=int(
                _positive(
                    config.get("concurrency", config.get("maxConcurrency", default.concurrency)),
                    "concurrency",
                )
            ),
            max_retries=int(
                _non_negative(
                    config.get("max_retries", config.get("maxRetries", default.max_retries)),
                    "max_retries",
                )
            ),
            backoff_base_s=_non_negative(
                config.get("backoff_base", default.backoff_base_s), "backoff_base"
            ),
            backoff_max_s=_non_negative(
                config.get("backoff_max", default.backoff_max_s), "backoff_max"
            ),
            timeout_s=_positive(config.get("timeout", default.timeout_s), "timeout"),
        )
        return policy

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the server's word when given,
        otherwise exponential with jitter (between half and all of base * 2**attempt)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max_s)
        ceiling = min(self.backoff_base_s * (2.0**attempt), self.backoff_max_s)
        return ceiling * (0.5 + random.random() / 2)


def _positive(value: Any, name: str) -> float:
    number = _non_negative(value, name)
    if number <= 0:
        raise ValueError(f"provider config {name}: expected a number > 0, got {value!r}")
    return number


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"provider config {name}: expected a number >= 0, got {value!r}")
    return float(value)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


T = TypeVar("T")


class PerLoop(Generic[T]):
    """One object per running event loop: asyncio primitives and HTTP clients bind to the loop
    that first uses them, and a provider may serve several loops (``asyncio.run`` calls, one
    per thread). Entries go away with their loop."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            value = self._values.get(loop)
            if value is None:
                value = self._values[loop] = self._factory()
            return value

    def pop(self) -> T | None:
        """Forget (and return) the running loop's object, e.g. to close it."""
        with self._lock:
            return self._values.pop(asyncio.get_running_loop(), None)


class BaseProvider:
    """Shared machinery; subclasses implement :meth:`_complete` for one attempt."""

    kind = "base"

    def __init__(
        self,
        provider_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        label: str | None = None,
        model: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.id = provider_id
        self.label = label or provider_id
        self.model = model
        self.config: dict[str, Any] = dict(config or {})
        self.policy = CallPolicy.from_config(self.config)
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.stats = CallStats()
        self._semaphore = PerLoop(lambda: asyncio.Semaphore(self.policy.concurrency))

    def identity(self) -> dict[str, Any]:
        """What distinguishes this provider's answers in the cache (no secrets)."""
        config = {k: v for k, v in self.config.items() if k not in _NOT_IDENTITY}
        return {"id": self.id, "model": self.model, "config": config}

    async def call(self, request: ProviderRequest) -> ProviderResponse:
        """Answer ``request``: from the cache when allowed, else from the model with retries."""
        self.stats.calls += 1
        key = cache_key(self.identity(), request) if self.cache is not None else None
        if self.cache is not None and key is not None and request.repeat == 0:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                return hit
        async with self._semaphore.get():
            response = await self._call_with_retries(request)
        self._account(response)
        if self.cache is not None and key is not None and request.repeat == 0:
            self.cache.put(key, response)
        return response

    async def _call_with_retries(self, request: ProviderRequest) -> ProviderResponse:
        attempt = 0
        while True:
            self.stats.attempts += 1
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    self._complete(request), timeout=self.policy.timeout_s
                )
            except TimeoutError:
                failure = CallFailed(f"timed out after {self.policy.timeout_s:g}s", retryable=True)
            except CallFailed as exc:
                failure = exc
            else:
                response.latency_ms = (time.perf_counter() - started) * 1000
                self._price(response, request)
                return response
            if not failure.retryable or attempt >= self.policy.max_retries:
                self.stats.errors += 1
                tries = attempt + 1
                return ProviderResponse(
                    output="",
                    error=f"{self.id}: {failure} (after {tries} attempt{'s' * (tries > 1)})",
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            wait = self.policy.backoff(attempt, failure.retry_after)
            logger.info("%s: %s; retrying in %.2fs", self.id, failure, wait)
            self.stats.retries += 1
            self.stats.waits_s.append(wait)
            await asyncio.sleep(wait)
            attempt += 1

    def _price(self, response: ProviderResponse, request: ProviderRequest) -> None:
        if response.cost_usd is not None:
            return
        model = str(request.settings.get("model") or response.model or self.model or "")
        price = price_for(model, self.config)
        if price is not None:
            response.cost_usd = price.cost(response.input_tokens, response.output_tokens)

    def _account(self, response: ProviderResponse) -> None:
        self.stats.input_tokens += response.input_tokens or 0
        self.stats.output_tokens += response.output_tokens or 0
        self.stats.cost_usd += response.cost_usd or 0.0

    async def _complete(self, request: ProviderRequest) -> ProviderResponse:
        """Make one attempt; raise :class:`CallFailed` on failure."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close what this provider opened on the running event loop (HTTP connections)."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


def prompt_text(prompt: str | list[dict[str, str]]) -> str:
    """A chat prompt flattened to text (for providers that take one string)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(str(message.get("content", "")) for message in prompt)


def as_messages(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    """A text prompt as one user message; chat messages unchanged. A text prompt that is a
    JSON list of messages (promptfoo's chat prompt files) is read as messages."""
    if not isinstance(prompt, str):
        return [dict(message) for message in prompt]
    stripped = prompt.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(
            isinstance(item, dict) and isinstance(item.get("role"), str) for item in parsed
        ):
            return [{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in parsed]
    return [{"role": "user", "content": prompt}]
