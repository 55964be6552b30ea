"""Fault scenarios shared by the reliability tests and ``benchmarks/reliability.py``.

Each scenario drives real parts: a collector subprocess on 127.0.0.1, real HTTP clients, a
real store. They return plain figures; the tests assert on them, the benchmark reports them.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.collector import collector_process

PAGE = 1000


def subprocess_store_url(store_url: str, tmp_path: Path) -> str:
    """A store URL a collector subprocess may open.

    chdb allows one data directory per process, and the test process may already hold the
    suite's chdb directory: a collector subprocess gets a directory of its own.
    """
    if store_url.startswith("chdb://"):
        return f"chdb://{tmp_path / 'chdb-collector'}"
    return store_url


@dataclass
class LoadResult:
    """What the clients saw: IDs whose request got a 2xx, and IDs sent without an answer."""

    acked_interactions: set[str] = field(default_factory=set)
    acked_feedback: int = 0
    attempted_interactions: int = 0
    attempted_feedback: int = 0
    requests: int = 0
    errors: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def wait_until_acked(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` interactions were acknowledged (or timeout)."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.acked_interactions) >= count, timeout)


def _batch(size: int, client: int, sequence: int) -> tuple[list[dict[str, Any]], list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(size)]
    rows = [
        {
            "interactionId": ident,
            "sessionId": f"crash-{client}",
            "promptVersion": f"v{sequence % 3}",
            "userInput": f"question {sequence}.{n} from client {client}",
            "rawOutput": "an answer",
            "latencyMs": 12.5,
        }
        for n, ident in enumerate(ids)
    ]
    return rows, ids


def ingest_until_stopped(
    url: str,
    result: LoadResult,
    stop: threading.Event,
    *,
    client: int,
    batch: int = 50,
    max_requests: int = 100_000,
) -> None:
    """One client at full speed: an interactions batch, then feedback on it, until ``stop``
    is set or the collector stops answering (a connection error ends the client)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        for sequence in range(max_requests):
            if stop.is_set():
                return
            rows, ids = _batch(batch, client, sequence)
            events = [{"interactionId": ident, "feedbackType": "copy"} for ident in ids]
            with result.lock:
                result.attempted_interactions += len(ids)
            try:
                answer = http.post("/v1/interactions", json=rows)
            except httpx.HTTPError:
                with result.lock:
                    result.errors += 1
                return
            with result.lock:
                result.requests += 1
                if answer.status_code == 200:
                    result.acked_interactions.update(ids)
                    result.lock.notify_all()
                result.attempted_feedback += len(events)
            try:
                answer = http.post("/v1/feedback", json=events)
            except httpx.HTTPError:
                with result.lock:
                    result.errors += 1
                return
            with result.lock:
                result.requests += 1
                if answer.status_code == 200:
                    result.acked_feedback += len(events)


@contextlib.contextmanager
def running_clients(
    url: str, result: LoadResult, clients: int, *, batch: int = 50
) -> Iterator[threading.Event]:
    """Start ``clients`` load threads; stop and join them when the block ends."""
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=ingest_until_stopped,
            args=(url, result, stop),
            kwargs={"client": n, "batch": batch},
            daemon=True,
        )
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def stored_interaction_ids(http: Any) -> list[str]:
    """Every interaction ID in the store, through the query API (keyset pages)."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100_000):
        params: dict[str, Any] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/v1/interactions", params=params)
        page.raise_for_status()
        body = page.json()
        ids.extend(item["interaction_id"] for item in body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return ids


@contextlib.contextmanager
def _restarted(store_url: str, data_dir: Path, *, in_process: bool) -> Iterator[Any]:
    if not in_process:
        with (
            collector_process(store_url, data_dir, flush_interval=0.2) as collector,
            httpx.Client(base_url=collector.url, timeout=60) as http,
        ):
            yield http
        return
    from fastapi.testclient import TestClient

    from promptloop.server.app import create_app
    from promptloop.server.settings import Settings

    settings = Settings(store_url=store_url, data_dir=data_dir, api_keys=frozenset())
    with TestClient(create_app(settings)) as client:
        yield client


@dataclass
class CrashFigures:
    kills: int
    acknowledged: int
    attempted: int
    stored: int
    stored_distinct: int
    acknowledged_missing: int
    duplicates: int
    feedback_acknowledged: int
    feedback_stored: int
    feedback_attempted: int

    @property
    def holds(self) -> bool:
        return (
            self.acknowledged_missing == 0
            and self.duplicates == 0
            and self.feedback_acknowledged <= self.feedback_stored <= self.feedback_attempted
            and self.stored <= self.attempted
        )

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "holds": self.holds}


def kill_under_load(
    store_url: str,
    data_dir: Path,
    *,
    kills: int = 1,
    clients: int = 3,
    acked_before_kill: int = 1500,
    batch: int = 50,
    restart_in_process: bool = False,
) -> CrashFigures:
    """Clients ingest at full speed; the collector is SIGKILLed once ``acked_before_kill``
    more interactions were acknowledged; restarted on the same data directory; ``kills``
    times. Then every acknowledged interaction must be stored, and each exactly once.

    ``restart_in_process``: the last restart runs the same app in this process (its start-up
    recovery is the code under test; it saves a subprocess start in the fast tests)."""
    result = LoadResult()
    for _ in range(kills):
        with collector_process(store_url, data_dir, flush_interval=0.2) as collector:
            target = len(result.acked_interactions) + acked_before_kill
            with running_clients(collector.url, result, clients, batch=batch):
                reached = result.wait_until_acked(target, timeout=300)
                collector.kill()  # while the clients are still posting
            if not reached:
                raise RuntimeError("the clients made no progress before the kill")
    with _restarted(store_url, data_dir, in_process=restart_in_process) as http:
        stats = http.get("/v1/stats").json()  # flushes what recovery replayed
        ids = stored_interaction_ids(http)
    distinct = set(ids)
    return CrashFigures(
        kills=kills,
        acknowledged=len(result.acked_interactions),
        attempted=result.attempted_interactions,
        stored=len(ids),
        stored_distinct=len(distinct),
        acknowledged_missing=len(result.acked_interactions - distinct),
        duplicates=len(ids) - len(distinct),
        feedback_acknowledged=result.acked_feedback,
        feedback_stored=int(stats["store"]["feedback_events"]),
        feedback_attempted=result.attempted_feedback,
    )
