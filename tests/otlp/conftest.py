"""The collector served by uvicorn in a thread of the test process, on 127.0.0.1.

In-thread rather than a subprocess: the app's modules are already imported, so it starts in
milliseconds instead of the seconds a fresh interpreter needs on a busy machine. It still
listens on a real socket, so exporters talk to it over HTTP like to any collector.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from promptloop.server.app import create_app
from promptloop.server.settings import Settings

API_KEY = "otlp-test-key"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@dataclass
class ThreadedCollector:
    url: str
    settings: Settings


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedCollector]:
    root: Path = tmp_path_factory.mktemp("otlp-collector")
    settings = Settings(
        store_url=f"duckdb:///{root}/store.duckdb",
        data_dir=root / "data",
        api_keys=frozenset({API_KEY}),
        signals_interval=0,
        alerts_interval=0,
        max_body_bytes=256 * 1024,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="otlp-collector"
    )
    thread.start()
    try:
        if not server.ready.wait(timeout=60):
            raise RuntimeError("the collector did not start within 60 s")
        yield ThreadedCollector(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
