"""Overload: the collector sheds load (429/503 + Retry-After) instead of growing memory, and
the SDK backs off for as long as it is told.

The long version (``make reliability``) floods a collector subprocess with more than it can
take and records the answers and its peak memory (``benchmarks/reliability.py``).
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

import promptloop
from promptloop.core.records import Interaction
from promptloop.server.app import create_app
from promptloop.server.ingest import Backpressure, Ingestor
from promptloop.server.settings import Settings
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.reliability.scenarios import overload_collector
from tests.support.recording_collector import RecordingCollector


def _rows(count: int) -> list[dict[str, Any]]:
    return [{"interactionId": str(uuid.uuid4()), "userInput": f"q{n}"} for n in range(count)]


def _wal_rows(data_dir: Path) -> int:
    import orjson

    return sum(
        len(orjson.loads(line)["rows"])
        for segment in sorted((data_dir / "wal").glob("wal-*.jsonl"))
        for line in segment.read_bytes().splitlines()
        if line.strip()
    )


def test_a_full_buffer_answers_503_with_retry_after_and_logs_nothing(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"duckdb:///{tmp_path}/s.duckdb",
        data_dir=tmp_path / "data",
        api_keys=frozenset(),
        flush_interval=3600,
        flush_rows=1_000_000,
        max_pending_rows=100,
    )
    with TestClient(create_app(settings)) as client:
        first, refused = _rows(60), _rows(60)
        assert client.post("/v1/interactions", json=first).status_code == 200
        answer = client.post("/v1/interactions", json=refused)
        assert answer.status_code == 503
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["error"] == "busy"
        assert _wal_rows(settings.data_dir) == 60  # the refused batch was never acknowledged
        stats = client.get("/v1/stats").json()  # reads flush the buffer first
        assert stats["store"]["interactions"] == 60
        assert client.post("/v1/interactions", json=refused).status_code == 200  # the retry
        assert client.get("/v1/stats").json()["store"]["interactions"] == 120


class _DownStore:
    """A real store whose writes fail: the backlog can only grow, so the bound must hold."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.dialect = inner.dialect

    def insert_interactions(self, items: list[Interaction]) -> int:
        raise ConnectionError("store unreachable")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_the_backlog_stays_bounded_while_the_store_is_down(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/s.duckdb")
    ingestor = Ingestor(
        _DownStore(store),  # type: ignore[arg-type]
        tmp_path / "wal",
        flush_interval=3600,
        max_pending_rows=500,
        max_pending_bytes=10**9,
    )
    accepted = shed = 0
    for _ in range(40):
        batch = [Interaction(interaction_id=str(uuid.uuid4())) for _ in range(50)]
        try:
            ingestor.submit("interactions", batch)
            accepted += 50
        except Backpressure as exc:
            assert exc.retry_after >= 1
            shed += 1
        assert ingestor.flush() == 0  # the store refuses; the records stay in the buffer
        assert ingestor.pending() <= 500
    assert accepted == 500 and shed == 30 and ingestor.stats.shed == 30
    assert ingestor.pending() == 500
    ingestor.close()
    store.close()


def test_the_buffer_bound_in_bytes_holds_too(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/s.duckdb")
    ingestor = Ingestor(store, tmp_path / "wal", flush_interval=3600, max_pending_bytes=4096)
    try:
        big = [Interaction(interaction_id=str(uuid.uuid4()), user_input="x" * 5000)]
        ingestor.submit("interactions", big)  # an empty buffer always takes one batch
        with pytest.raises(Backpressure):
            ingestor.submit("interactions", [Interaction(interaction_id=str(uuid.uuid4()))])
        assert ingestor.pending() == 1
        assert ingestor.flush() == 1
        ingestor.submit("interactions", [Interaction(interaction_id=str(uuid.uuid4()))])
        assert ingestor.pending() == 1 and ingestor.pending_bytes() < 4096
    finally:
        ingestor.close()
        store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FastAPI, str]]:
    """The collector app under uvicorn in a thread (real sockets), one ingest at a time."""
    settings = Settings(
        store_url=f"duckdb:///{tmp_path}/s.duckdb",
        data_dir=tmp_path / "data",
        api_keys=frozenset(),
        max_concurrent_ingest=1,
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):  # bounded: the server starts in well under a minute
        if server.started:
            break
        thread.join(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_too_many_concurrent_ingest_requests_get_429_before_their_bodies_are_read(
    served: tuple[FastAPI, str],
) -> None:
    app, url = served
    body = httpx.Request("POST", url, json=_rows(3)).content
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as slow:
        # A client that sends its headers and half its body, then stalls: it holds the gate.
        head = (
            f"POST /v1/interactions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        slow.sendall(head + body[: len(body) // 2])
        for _ in range(600):
            gate = getattr(app.state, "ingest_gate", None)
            if gate is not None and gate.active == 1:
                break
            threading.Event().wait(0.05)
        assert app.state.ingest_gate.active == 1
        with httpx.Client(base_url=url) as http:
            refused = http.post("/v1/interactions", json=_rows(2))
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "1"
            slow.sendall(body[len(body) // 2 :])
            assert b" 200 " in slow.recv(4096).split(b"\r\n", 1)[0] + b" "
            assert http.post("/v1/interactions", json=_rows(2)).status_code == 200
            assert http.get("/v1/stats").json()["store"]["interactions"] == 5
    assert app.state.ingest_gate.refused == 1


def test_the_sdk_waits_as_long_as_retry_after_says(tmp_path: Path) -> None:
    """After a 503 with Retry-After, later batches go to the spool without a request, even
    with no cool-down of its own; nothing is lost, nothing raises into the host."""
    with RecordingCollector() as collector:
        client = promptloop.init(
            collector.url,
            hash_key="k",
            strict=True,
            flush_interval=60.0,
            spool_dir=tmp_path / "spool",
            max_attempts=1,
            retry_cooldown=0.0,
        )
        collector.plan(503, headers={"Retry-After": "120"})

        @promptloop.track(feature="overload")
        def answer(prompt: str) -> str:
            return prompt.upper()

        answer("first")
        assert client.flush(timeout=10)
        answer("second")
        assert client.flush(timeout=10)
        assert collector.statuses() == [503]  # the second batch did not knock
        stats = client.stats()
        assert stats["spooled"] == 2 and stats["sent"] == 0 and stats["dropped"] == 0
        promptloop.shutdown(timeout=5)


@pytest.mark.reliability
def test_a_flood_is_shed_and_memory_stays_bounded(tmp_path: Path) -> None:
    figures = overload_collector(f"duckdb:///{tmp_path}/s.duckdb", tmp_path / "data")
    assert figures["answers"].get("503", 0) + figures["answers"].get("429", 0) > 0, figures
    assert figures["acknowledged_missing"] == 0, figures
    assert figures["peak_rss_mb"] <= figures["rss_bound_mb"], figures
