"""Aggregates computed off the request path, so no page waits on a full scan.

At a million interactions some dashboard numbers (rates per feature per day, version
comparisons, the seed's questions over 14 days) take longer than a page may. Each is a
*snapshot*: computed by one background worker, kept for ``ttl`` seconds, and served stale
while a fresh one is computed (stale-while-revalidate). A page waits at most ``wait``
seconds for a snapshot it has never computed; past that it renders a "computing" state
that reloads itself. On small stores every snapshot is ready within the wait, so the page
simply shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

PENDING: Any = object()


@dataclass
class _Entry:
    value: Any
    computed_at: float
    seconds: float
    refreshing: Future[Any] | None = None


class Snapshots:
    def __init__(self, *, ttl: float = 60.0, wait: float = 0.2, max_entries: int = 256) -> None:
        self.ttl = ttl
        self.wait = wait
        self.max_entries = max_entries
        self._entries: dict[Hashable, _Entry] = {}
        self._pending: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-snapshots")

    def get(self, key: Hashable, compute: Callable[[], Any], wait: float | None = None) -> Any:
        """The snapshot's value, or :data:`PENDING` if it is still being computed.

        Waits at most ``wait`` seconds (default: ``self.wait``) for a first computation.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                stale = now - entry.computed_at > self.ttl
                if stale and (entry.refreshing is None or entry.refreshing.done()):
                    entry.refreshing = self._pool.submit(self._compute, key, compute)
                return entry.value
            future = self._pending.get(key)
            if future is None:
                future = self._pool.submit(self._compute, key, compute)
                self._pending[key] = future
        try:
            return future.result(timeout=self.wait if wait is None else max(0.0, wait))
        except FutureTimeout:
            return PENDING

    def _compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            value = compute()
        except Exception:
            with self._lock:
                self._pending.pop(key, None)
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = None
            raise
        finished = time.monotonic()
        with self._lock:
            self._entries[key] = _Entry(value, finished, finished - started)
            self._pending.pop(key, None)
            if len(self._entries) > self.max_entries:
                oldest = min(self._entries, key=lambda k: self._entries[k].computed_at)
                self._entries.pop(oldest, None)
        return value

    def age(self, key: Hashable) -> float | None:
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else time.monotonic() - entry.computed_at

    def timings(self) -> dict[Hashable, float]:
        """Seconds each current snapshot took to compute (for benchmarks and diagnostics)."""
        with self._lock:
            return {key: entry.seconds for key, entry in self._entries.items()}

    def clear(self) -> None:
        """Forget every snapshot (after a write that the pages must show at once)."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
