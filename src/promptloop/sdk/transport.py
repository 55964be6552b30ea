"""Background delivery: a bounded in-memory queue drained by one daemon thread.

Guarantees (see docs/sdk.md):

* ``enqueue`` never blocks and never raises: it is one ``deque.append``. When the queue
  holds ``max_queue`` events, new events are dropped and counted.
* The sender thread wakes every ``flush_interval`` seconds, when a batch is full, or on
  ``flush()``; it posts JSON arrays of at most ``batch_size`` records (and about
  ``max_body_bytes``) to ``/v1/interactions`` and ``/v1/feedback``.
* 200: accepted. 207: partially accepted; rejected records are counted, never retried.
  Any other 4xx except 408/429: the batch is counted as failed. 408, 429, 5xx and network
  errors: retried ``max_attempts`` times with jittered exponential backoff (honouring
  ``Retry-After``), then written to the spool. Spooled batches are replayed when the
  collector answers again, and when a client starts.
* After a batch had to be spooled, later batches go straight to the spool for
  ``retry_cooldown`` seconds, or for the collector's last ``Retry-After`` when longer (at
  most 10 minutes), so an unreachable or overloaded collector costs no retries per batch.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from promptloop.sdk import _ids
from promptloop.sdk.config import Settings
from promptloop.sdk.guard import handle_internal_error, internal_error_count
from promptloop.sdk.hashing import UserHasher
from promptloop.sdk.redact import redacting
from promptloop.sdk.serialize import (
    FEEDBACK_KEYS,
    INTERACTION_KEYS,
    encode,
    normalize_keys,
    prepare_feedback,
    prepare_interaction,
)
from promptloop.sdk.spool import Spool

if TYPE_CHECKING:
    # Imported by the sender thread, not at `import promptloop`: with the CLI extras
    # installed, `import httpx` also pulls in rich and pygments.
    import httpx

logger = logging.getLogger("promptloop")

# Kinds of queued items. RAW_* come from seed-shaped dicts whose keys need normalising.
INTERACTION = 0
FEEDBACK = 1
RAW_INTERACTION = 2
RAW_FEEDBACK = 3

_ENDPOINTS = {"interactions": "/v1/interactions", "feedback": "/v1/feedback"}
_REPLAY_FILES_PER_ROUND = 100
_RETRYABLE = frozenset({408, 429})
_VERSION = "0.1.0"
# The longest a Retry-After may keep the sender from trying again (seconds).
_MAX_COOL_DOWN = 600.0


class Stats(TypedDict):
    """Counters of one client, in records (not batches)."""

    queued: int
    sent: int
    # Lost records: a full queue, a spool write that failed, or spool_evicted.
    dropped: int
    # The oldest spooled records, deleted to make room when the spool was full.
    spool_evicted: int
    rejected: int
    failed: int
    spooled: int
    replayed: int
    internal_errors: int
    pending: int


class SupportsRecord(Protocol):
    """A queued tracked call: turned into a record by the sender thread."""

    def to_record(self) -> Mapping[str, Any]: ...


# What the queue holds: ``(kind, record)`` pairs, or tracked calls queued as they are.
QueueItem = tuple[int, Mapping[str, Any]] | SupportsRecord


class _Outcome(Enum):
    DELIVERED = "delivered"  # accepted in full or in part (207)
    PERMANENT = "permanent"  # the collector refused the batch: do not retry
    RETRYABLE = "retryable"  # try later: spool (live batch) or release (replayed file)


class Transport:
    """Owns the queue, the sender thread, the HTTP client and the spool of one client."""

    def __init__(self, settings: Settings, hasher: UserHasher) -> None:
        self._settings = settings
        self._hasher = hasher
        self._max_queue = settings.max_queue
        self._batch_size = settings.batch_size
        self._spool = Spool(settings.resolved_spool_dir(), settings.max_spool_bytes)
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": f"promptloop-python/{_VERSION}",
        }
        if settings.api_key:
            self._headers["Authorization"] = f"Bearer {settings.api_key}"
        self.sent = self.rejected = self.failed = self.spooled = self.replayed = 0
        self._dropped = 0
        # Import httpx here, on the caller's thread, not lazily on the sender thread: a
        # half-imported module visible in sys.modules breaks libraries that peek at it.
        import httpx  # noqa: F401

        self._setup_runtime()
        self._closed = False
        self.start()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork() -> None:
                transport = ref()
                if transport is not None:
                    transport._after_fork_in_child()

            os.register_at_fork(after_in_child=_after_fork)

    def _setup_runtime(self) -> None:
        self._queue: deque[QueueItem] = deque()
        self._taken = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._counter_lock = threading.Lock()
        self._rounds_started = 0
        self._rounds_done = 0
        self._down_until = 0.0
        self._last_retry_after = 0.0
        self._spool_pending = True  # look for leftovers from earlier runs on the first round
        self._http: httpx.Client | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="promptloop-transport", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        # The parent still owns (and will send) what was queued before the fork; the child
        # starts empty with fresh locks and its own sender thread.
        self._setup_runtime()
        if not self._closed:
            self.start()

    # -- producer side (host threads) --------------------------------------------------------
    def enqueue(self, kind: int, record: Mapping[str, Any]) -> None:
        """Queue one event. Never blocks: a full queue drops the event and counts it."""
        queue = self._queue
        if len(queue) < self._max_queue:
            queue.append((kind, record))
            if len(queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        else:
            with self._counter_lock:
                self._dropped += 1

    def enqueue_call(self, call: SupportsRecord) -> None:
        """Queue a finished tracked call as is (its record is built on the sender thread).

        The hot path of every tracked call: one ``deque.append`` and no tuple, so a call
        leaves a single object behind for the garbage collector.
        """
        queue = self._queue
        if len(queue) < self._max_queue:
            queue.append(call)
            if len(queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        else:
            with self._counter_lock:
                self._dropped += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event queued before the call was sent, spooled or counted.

        Returns ``False`` if ``timeout`` ran out first (or the sender thread is not running).
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._queue
        with self._cond:
            # A round that *starts* after this point drains everything queued before it.
            needed = self._rounds_started + 1
            self._wake.set()
            return self._cond.wait_for(lambda: self._rounds_done >= needed, timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, stop the sender thread; spool what is still queued. Idempotent."""
        if self._closed:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        flushed = self.flush(timeout)
        self._closed = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
            if thread.is_alive():
                # The sender is stuck in a slow request: keep the rest on disk ourselves.
                self._spool_queue_now()
                return False
        return flushed and not self._queue

    def stats(self) -> Stats:
        pending = len(self._queue)
        return Stats(
            queued=self._taken + pending,
            sent=self.sent,
            dropped=self._dropped + self._spool.evicted,
            spool_evicted=self._spool.evicted,
            rejected=self.rejected,
            failed=self.failed,
            spooled=self.spooled,
            replayed=self.replayed,
            internal_errors=internal_error_count(),
            pending=pending,
        )

    # -- sender thread ----------------------------------------------------------------------
    def _run(self) -> None:
        interval = self._settings.flush_interval
        try:
            while True:
                if not self._stop.is_set():
                    self._wake.wait(interval)
                self._wake.clear()
                with self._cond:
                    self._rounds_started += 1
                try:
                    self._round()
                except Exception as exc:
                    self._internal_error(exc, "sender thread")
                with self._cond:
                    self._rounds_done += 1
                    self._cond.notify_all()
                if self._stop.is_set() and not self._queue:
                    break
        finally:
            http, self._http = self._http, None
            if http is not None:
                http.close()

    def _round(self) -> None:
        _ids.refill(yield_gil=True)
        stopping = self._stop.is_set()
        if self._spool_pending and not stopping:
            self._replay()
        delivered = self._drain()
        if delivered and self._spool_pending and not stopping:
            self._replay()

    @staticmethod
    def _internal_error(exc: BaseException, where: str) -> None:
        handle_internal_error(exc, where, reraise=False)

    def _drain(self) -> bool:
        """Send everything queued now; True if any batch reached the collector."""
        queue = self._queue
        delivered = False
        while queue:
            items: list[QueueItem] = []
            try:
                for _ in range(self._batch_size):
                    items.append(queue.popleft())
            except IndexError:
                pass
            self._taken += len(items)
            interactions, feedback = self._encode_all(items)
            for kind, lines in (("interactions", interactions), ("feedback", feedback)):
                for chunk in self._chunks(lines):
                    if self._deliver_live(kind, chunk) is _Outcome.DELIVERED:
                        delivered = True
        return delivered

    def _encode_all(self, items: Sequence[QueueItem]) -> tuple[list[bytes], list[bytes]]:
        settings = self._settings
        # Redaction (init(redact=...)) happens here, off the host thread, before any send or spool.
        encode_record = redacting(encode, settings.redact)
        interactions: list[bytes] = []
        feedback: list[bytes] = []
        for index, item in enumerate(items):
            if index & 7 == 7:
                # Hand the GIL back to host threads every few records: otherwise a host
                # thread may wait a whole switch interval (5 ms) behind this CPU-bound loop.
                time.sleep(0)
            try:
                if isinstance(item, tuple):
                    kind, record = item
                else:
                    kind, record = INTERACTION, item.to_record()
                if kind in (INTERACTION, RAW_INTERACTION):
                    if kind == RAW_INTERACTION:
                        record = normalize_keys(record, INTERACTION_KEYS)
                    prepared = prepare_interaction(
                        record, self._hasher, settings.feature, settings.metadata
                    )
                    interactions.append(encode_record(prepared))
                else:
                    if kind == RAW_FEEDBACK:
                        record = normalize_keys(record, FEEDBACK_KEYS)
                    feedback.append(encode_record(prepare_feedback(record)))
            except Exception as exc:
                with self._counter_lock:
                    self.failed += 1
                self._internal_error(exc, "encoding a record")
        return interactions, feedback

    def _chunks(self, lines: list[bytes]) -> list[list[bytes]]:
        limit = self._settings.max_body_bytes
        chunks: list[list[bytes]] = []
        current: list[bytes] = []
        size = 2
        for line in lines:
            if current and size + len(line) + 1 > limit:
                chunks.append(current)
                current, size = [], 2
            current.append(line)
            size += len(line) + 1
        if current:
            chunks.append(current)
        return chunks

    def _client(self) -> httpx.Client:
        import httpx

        if self._http is None:
            # A plain client, created here and used only here: promptloop never instruments
            # (or logs) its own export traffic.
            self._http = httpx.Client(
                timeout=self._settings.timeout, headers=self._headers, follow_redirects=False
            )
        return self._http

    def _deliver_live(self, kind: str, lines: list[bytes]) -> _Outcome:
        # Known down (or shutting down after it was): straight to disk, no retries per batch.
        if time.monotonic() < self._down_until or (self._stop.is_set() and self._down_until):
            self._spool_batch(kind, lines)
            return _Outcome.RETRYABLE
        outcome = self._post(kind, lines, self._settings.max_attempts, replay=False)
        if outcome is _Outcome.RETRYABLE:
            self._cool_down()
            self._spool_batch(kind, lines)
        return outcome

    def _post(self, kind: str, lines: list[bytes], attempts: int, *, replay: bool) -> _Outcome:
        body = b"[" + b",".join(lines) + b"]"
        url = self._settings.url + _ENDPOINTS[kind]
        count = len(lines)
        import httpx

        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = self._client().post(url, content=body)
            except httpx.HTTPError as exc:
                logger.debug("promptloop: posting %d %s failed: %s", count, kind, exc)
            else:
                status = response.status_code
                if status == 207:
                    self._partial(kind, count, response, replay=replay)
                    return _Outcome.DELIVERED
                if 200 <= status < 300:
                    self._count_delivered(count, replay=replay)
                    return _Outcome.DELIVERED
                if status not in _RETRYABLE and status < 500:
                    with self._counter_lock:
                        self.failed += count
                    logger.error(
                        "promptloop collector refused %d %s (HTTP %d): %s",
                        count,
                        kind,
                        status,
                        response.text[:500],
                    )
                    return _Outcome.PERMANENT
                retry_after = _retry_after(response.headers.get("Retry-After"))
                logger.debug("promptloop: collector answered %d for %d %s", status, count, kind)
            self._last_retry_after = retry_after or 0.0
            if attempt + 1 >= attempts:
                break
            delay = self._backoff(attempt, retry_after)
            if delay is None or self._stop.wait(delay):
                # Too long to wait, or shutting down: keep the batch on disk instead.
                break
        return _Outcome.RETRYABLE

    def _cool_down(self) -> None:
        """Send nothing (spool instead) for the cool-down, or as long as the collector's
        last ``Retry-After`` asked (capped at ``_MAX_COOL_DOWN``): a collector shedding
        load (429/503) is not hammered by every batch."""
        wait = max(self._settings.retry_cooldown, min(self._last_retry_after, _MAX_COOL_DOWN))
        self._down_until = time.monotonic() + wait

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        cap = self._settings.max_retry_delay
        if retry_after is not None:
            return retry_after if retry_after <= cap else None
        base = self._settings.retry_backoff * (2.0**attempt)
        return min(cap, base * random.uniform(0.5, 1.5))

    def _count_delivered(self, count: int, *, replay: bool) -> None:
        with self._counter_lock:
            if replay:
                self.replayed += count
            else:
                self.sent += count
        self._down_until = 0.0

    def _partial(self, kind: str, count: int, response: httpx.Response, *, replay: bool) -> None:
        rejected = count
        errors: list[Any] = []
        try:
            body = response.json()
            if isinstance(body, dict):
                rejected = int(body.get("rejected", count - int(body.get("accepted", 0))))
                errors = list(body.get("errors") or [])
        except (ValueError, TypeError):
            pass
        rejected = max(0, min(count, rejected))
        self._count_delivered(count - rejected, replay=replay)
        with self._counter_lock:
            self.rejected += rejected
        logger.warning(
            "promptloop collector rejected %d of %d %s: %s", rejected, count, kind, errors[:5]
        )

    def _spool_batch(self, kind: str, lines: list[bytes]) -> None:
        try:
            written = self._spool.write(kind, lines)
        except OSError as exc:
            written = None
            logger.error("promptloop could not spool %d %s: %s", len(lines), kind, exc)
        with self._counter_lock:
            if written is None:
                self._dropped += len(lines)
            else:
                self.spooled += len(lines)
                self._spool_pending = True

    def _replay(self) -> None:
        if time.monotonic() < self._down_until:
            return
        replayed_files = 0
        for kind, path in self._spool.pending():
            if replayed_files >= _REPLAY_FILES_PER_ROUND:
                return
            claimed = self._spool.claim(path)
            if claimed is None:
                continue
            try:
                lines = self._spool.read(claimed)
            except OSError as exc:
                self._internal_error(exc, "reading the spool")
                continue
            outcome = _Outcome.DELIVERED
            for chunk in self._chunks(lines):
                # One attempt per file: replay doubles as the probe for "is it back?".
                outcome = self._post(kind, chunk, 1, replay=True)
                if outcome is _Outcome.RETRYABLE:
                    break
            if outcome is _Outcome.RETRYABLE:
                self._spool.release(claimed)
                self._cool_down()
                return
            self._spool.remove(claimed)
            replayed_files += 1
        self._spool_pending = self._spool.has_pending()

    def _spool_queue_now(self) -> None:
        items: list[QueueItem] = []
        while True:
            try:
                items.append(self._queue.popleft())
            except IndexError:
                break
        self._taken += len(items)
        interactions, feedback = self._encode_all(items)
        for kind, lines in (("interactions", interactions), ("feedback", feedback)):
            if lines:
                self._spool_batch(kind, lines)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
