"""A real HTTP server on 127.0.0.1 that records each POST and answers a scripted status.

with WebhookRecorder([503, 200]) as hook:   # first 503, then 200 (the default) for good
    ...
    assert hook.bodies()[0]["event"] == "alert.opened"
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookRecorder:
    def __init__(self, statuses: list[int] | None = None) -> None:
        self._plan: deque[int] = deque(statuses or [])
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = recorder._answer(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"webhook says no")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self._plan.popleft() if self._plan else 200
            self.requests.append(Received(path, headers, body, status))
            return status

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/alerts"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [request.json() for request in self.requests]

    def __enter__(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)
