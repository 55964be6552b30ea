"""The collector's write path: validate, make durable, acknowledge, then store in batches.

Requests append to the write-ahead log and an in-memory buffer under one lock, so a segment
always holds exactly the records buffered while it was current. A background thread moves
the buffer into the store when it is big enough or old enough; reads call :meth:`flush`
first so that what was acknowledged is visible to the next query.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import TypeAdapter, ValidationError

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.server.wal import WriteAheadLog, read_entries
from promptloop.store.base import Store

log = logging.getLogger("promptloop.collector")

Kind = Literal["interactions", "feedback"]
RECORD_TYPES: dict[Kind, type[Interaction] | type[FeedbackEvent]] = {
    "interactions": Interaction,
    "feedback": FeedbackEvent,
}
_LIST_ADAPTERS: dict[Kind, TypeAdapter[Any]] = {
    "interactions": TypeAdapter(list[Interaction]),
    "feedback": TypeAdapter(list[FeedbackEvent]),
}


class Backpressure(Exception):
    """Too much is waiting for the store: the client should retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class ItemError:
    index: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass
class Validated:
    records: list[Interaction] | list[FeedbackEvent]
    errors: list[ItemError]


def _field_of(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(item)"


def validate_items(kind: Kind, items: Sequence[Any]) -> Validated:
    """Validate a batch; valid items are kept and each invalid one reported by index.

    The whole list is validated in one call first (fast when all is well); only a batch
    with errors is re-validated item by item to separate the good from the bad.
    """
    try:
        return Validated(records=_LIST_ADAPTERS[kind].validate_python(items), errors=[])
    except ValidationError:
        pass
    model = RECORD_TYPES[kind]
    records: list[Any] = []
    errors: list[ItemError] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(ItemError(index, "(item)", "must be a JSON object"))
            continue
        try:
            records.append(model.model_validate(item))
        except ValidationError as exc:
            for detail in exc.errors(include_url=False, include_input=False):
                errors.append(ItemError(index, _field_of(detail["loc"]), detail["msg"]))
    return Validated(records=records, errors=errors)


@dataclass
class IngestStats:
    accepted: dict[str, int] = field(default_factory=lambda: {"interactions": 0, "feedback": 0})
    stored: dict[str, int] = field(default_factory=lambda: {"interactions": 0, "feedback": 0})
    duplicates: dict[str, int] = field(default_factory=lambda: {"interactions": 0, "feedback": 0})
    rejected: int = 0
    # Requests refused with 503 because the buffer was full (load shed, not lost: the
    # client keeps the batch and retries after Retry-After).
    shed: int = 0
    flushes: int = 0
    checkpoints: int = 0
    replayed_segments: int = 0
    store_errors: int = 0
    last_store_error: str | None = None


class Ingestor:
    def __init__(
        self,
        store: Store,
        wal_dir: Path,
        *,
        flush_interval: float = 0.5,
        flush_rows: int = 5_000,
        max_pending_rows: int = 100_000,
        max_pending_bytes: int = 128 * 1024 * 1024,
        fsync: bool = True,
        checkpoint_idle: float = 2.0,
    ) -> None:
        self.store = store
        self.stats = IngestStats()
        self._flush_interval = flush_interval
        self._flush_rows = flush_rows
        # The buffer's bounds: beyond either, submit() sheds load (503 + Retry-After) instead
        # of growing memory. Bytes are the request bodies' sizes, a proxy for the records'.
        self._max_pending = max_pending_rows
        self._max_pending_bytes = max_pending_bytes
        self._pending_bytes = 0
        self._rows_per_second = float(flush_rows) / max(flush_interval, 0.01)
        self._wal = WriteAheadLog(wal_dir, fsync=fsync)
        self._lock = threading.Lock()  # WAL append + buffer, together
        self._flush_lock = threading.Lock()  # one flush at a time
        self._buffer: dict[Kind, list[Any]] = {"interactions": [], "feedback": []}
        self._pending_segments: list[Path] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._checkpoint_idle = checkpoint_idle
        # monotonic time of the last flush that wrote rows not yet checkpointed (None: none)
        self._unfolded_since: float | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        # What start-up wrote (recovery, a demo load) is checkpointed at the first pause too.
        self._unfolded_since = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="promptloop-flusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        self.close()

    def close(self) -> None:
        """Release the log's file without flushing: what was acknowledged stays in the log."""
        self._wal.close()

    def recover(self) -> int:
        """Store what earlier runs acknowledged but did not store; return records replayed."""
        current = self._wal.current()
        replayed = 0
        for segment in self._wal.segments():
            if segment == current:
                continue
            batches: dict[Kind, list[Any]] = {"interactions": [], "feedback": []}
            for kind, rows, received in read_entries(segment):
                typed_kind: Kind = "feedback" if kind == "feedback" else "interactions"
                batches[typed_kind].extend(_replayed(typed_kind, rows, received))
            self._write(batches)
            replayed += sum(len(rows) for rows in batches.values())
            segment.unlink()
            self.stats.replayed_segments += 1
        if replayed:
            log.info("replayed %d acknowledged records from the write-ahead log", replayed)
        return replayed

    # -- write path ---------------------------------------------------------------------
    def submit(
        self,
        kind: Kind,
        records: Sequence[Interaction] | Sequence[FeedbackEvent],
        raw: bytes | None = None,
        received: datetime | None = None,
    ) -> None:
        """Make records durable and queue them for the store. Returns once they are safe.

        ``raw``: the same records as the client sent them (a JSON array whose items validate
        to ``records``), written to the log as is; ``received``: when they arrived.
        Raises :class:`Backpressure` when the buffer is full: nothing is written then.
        """
        if not records:
            return
        count = len(records)
        if raw is None:
            raw = orjson.dumps([record.model_dump(mode="json") for record in records])
        size = len(raw)
        stamp = (received or datetime.now(UTC)).isoformat()
        with self._lock:
            pending = sum(len(batch) for batch in self._buffer.values())
            if pending and (
                pending + count > self._max_pending
                or self._pending_bytes + size > self._max_pending_bytes
            ):
                self.stats.shed += 1
                raise Backpressure(
                    f"{pending} records are waiting for the store", self._retry_after(pending)
                )
            self._wal.append_raw(kind, raw, stamp)
            self._buffer[kind].extend(records)
            self._pending_bytes += size
            self.stats.accepted[kind] += count
            total = pending + count
        if total >= self._flush_rows:
            self._wake.set()

    def _retry_after(self, pending: int) -> int:
        """Seconds until the store has likely caught up with ``pending`` rows (1..30)."""
        return max(1, min(30, math.ceil(pending / max(self._rows_per_second, 1.0))))

    def flush(self) -> int:
        """Write everything acknowledged so far to the store; return records written."""
        with self._flush_lock:
            with self._lock:
                taken = self._buffer
                taken_bytes = self._pending_bytes
                self._buffer = {"interactions": [], "feedback": []}
                self._pending_bytes = 0
                if any(taken.values()):
                    self._pending_segments.append(self._wal.rotate())
            total = sum(len(rows) for rows in taken.values())
            if not total and not self._pending_segments:
                return 0
            started = time.perf_counter()
            try:
                self._write(taken)
            except Exception as exc:
                # Keep the records and their segments: the next flush tries again.
                with self._lock:
                    for kind, rows in taken.items():
                        self._buffer[kind][:0] = rows
                    self._pending_bytes += taken_bytes
                self.stats.store_errors += 1
                self.stats.last_store_error = str(exc)
                log.exception("writing to the store failed; will retry")
                return 0
            elapsed = time.perf_counter() - started
            if total >= 1000 and elapsed > 0:
                # Smoothed store write rate: what Retry-After is computed from.
                self._rows_per_second = 0.7 * self._rows_per_second + 0.3 * (total / elapsed)
            for segment in self._pending_segments:
                segment.unlink(missing_ok=True)
            self._pending_segments.clear()
            self.stats.flushes += 1
            if total:
                self._unfolded_since = time.monotonic()
            return total

    def checkpoint_if_idle(self, now: float | None = None) -> bool:
        """Checkpoint the store once writes have paused for ``checkpoint_idle`` seconds.

        The embedded store defers its own checkpoints (they stall the commit that triggers
        them), so the collector takes them when there is nothing to ingest.
        """
        checkpoint = getattr(self.store, "checkpoint", None)
        since = self._unfolded_since
        if checkpoint is None or since is None:
            return False
        if (time.monotonic() if now is None else now) - since < self._checkpoint_idle:
            return False
        with self._flush_lock:
            if self._unfolded_since != since:  # a flush wrote meanwhile: not idle
                return False
            try:
                checkpoint()
            except Exception:
                log.exception("checkpointing the store failed; will retry when idle")
                return False
            self._unfolded_since = None
            self.stats.checkpoints += 1
            return True

    def _with_registry_versions(self, rows: list[Interaction]) -> list[Interaction]:
        """Fill a missing prompt version (and name) from the registry, by content hash.

        Prompts defined in code are registered in the background on first use, so their
        first interactions may carry only the hash.
        """
        hashes = {r.prompt_hash for r in rows if r.prompt_hash and not r.prompt_version}
        if not hashes:
            return rows
        params = {f"h{n}": value for n, value in enumerate(sorted(hashes))}
        found = {
            row["prompt_hash"]: row
            for row in self.store.fetch_all(
                "SELECT prompt_hash, prompt_name, version FROM prompt_versions"
                f" WHERE prompt_hash IN ({', '.join(':' + name for name in params)})",
                params,
            )
        }
        return [
            r.model_copy(
                update={
                    "prompt_version": found[r.prompt_hash]["version"],
                    "prompt_name": r.prompt_name or found[r.prompt_hash]["prompt_name"],
                }
            )
            if r.prompt_hash in found and not r.prompt_version
            else r
            for r in rows
        ]

    def _write(self, batches: dict[Kind, list[Any]]) -> None:
        # Interactions first, so feedback for an interaction in the same flush finds it.
        if batches["interactions"]:
            calls = self._with_registry_versions(batches["interactions"])
            self._count("interactions", len(calls), self.store.insert_interactions(calls))
        if batches["feedback"]:
            events = batches["feedback"]
            self._count("feedback", len(events), self.store.insert_feedback(events))

    def _count(self, kind: Kind, written: int, new: int) -> None:
        self.stats.stored[kind] += new
        self.stats.duplicates[kind] += written - new

    def pending(self) -> int:
        with self._lock:
            return sum(len(rows) for rows in self._buffer.values())

    def pending_bytes(self) -> int:
        return self._pending_bytes

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=self._flush_interval)
            self._wake.clear()
            try:
                if not self.flush():
                    self.checkpoint_if_idle()
            except Exception:  # the flusher must outlive any one bad flush
                log.exception("flush failed")


def _replayed(kind: Kind, rows: list[Any], received: str | None) -> list[Any]:
    """Validate a logged batch again. Rows logged as the client sent them and carrying no
    timestamp get the time they were received, as they did when first acknowledged."""
    model = RECORD_TYPES[kind]
    records = [model.model_validate(row) for row in rows]
    if received is None:
        return records
    when = datetime.fromisoformat(received)
    return [
        record.model_copy(update={"timestamp": when})
        if isinstance(row, dict) and "timestamp" not in row
        else record
        for row, record in zip(rows, records, strict=True)
    ]
