"""A real HTTP collector on 127.0.0.1 that records what the SDK posts and can be scripted.

It speaks the collector's ingest contract: ``POST /v1/interactions`` and ``POST /v1/feedback``
take a JSON array; each record is validated with the real pydantic records, so a record the
real collector would reject comes back in a 207 answer. Scripted answers (``plan``) override
that for the next requests: 503 N times, 401, 429 with Retry-After, 207 with rejections.
``down()`` closes the socket (connections are refused) and ``up()`` reopens it on the same
port.

    with RecordingCollector() as collector:
        promptloop.init(collector.url, ...)
        ...
        assert collector.interactions()[0]["feature"] == "chat"
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from promptloop.core.records import FeedbackEvent, Interaction

_MODELS: dict[str, type[Interaction] | type[FeedbackEvent]] = {
    "/v1/interactions": Interaction,
    "/v1/feedback": FeedbackEvent,
}


@dataclass
class Planned:
    """One scripted answer. ``reject`` lists record indexes to refuse in a 207."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    reject: tuple[int, ...] = ()


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    records: list[dict[str, Any]]
    status: int
    accepted: list[int]


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


class RecordingCollector:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._plan: deque[Planned] = deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.up()

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Start (or restart, on the same port) serving."""
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = _Server(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop serving: connections to the port are refused until ``up()``."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    close = down

    def __enter__(self) -> RecordingCollector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # -- scripting ----------------------------------------------------------------------
    def plan(
        self,
        status: int,
        times: int = 1,
        *,
        headers: dict[str, str] | None = None,
        reject: tuple[int, ...] = (),
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (207: refuse ``reject``)."""
        with self._lock:
            for _ in range(times):
                self._plan.append(Planned(status, dict(headers or {}), reject))

    # -- inspection ---------------------------------------------------------------------
    def accepted(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                request.records[index]
                for request in self.requests
                if request.path == path
                for index in request.accepted
            ]

    def interactions(self) -> list[dict[str, Any]]:
        """Every interaction record the collector accepted, in arrival order."""
        return self.accepted("/v1/interactions")

    def feedback(self) -> list[dict[str, Any]]:
        return self.accepted("/v1/feedback")

    def statuses(self) -> list[int]:
        with self._lock:
            return [request.status for request in self.requests]

    # -- handling -----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        model = _MODELS.get(handler.path)
        if model is None:
            self._reply(handler, 404, {"error": "not found"})
            return
        try:
            records = json.loads(raw)
            assert isinstance(records, list)
        except (ValueError, AssertionError):
            self._reply(handler, 400, {"error": "body must be a JSON array"})
            return
        with self._lock:
            planned = self._plan.popleft() if self._plan else None
        headers = dict(handler.headers.items())
        if planned is not None and planned.status != 207:
            self._record(Request(handler.path, headers, records, planned.status, []))
            self._reply(handler, planned.status, {"error": "scripted"}, planned.headers)
            return
        errors: list[dict[str, Any]] = []
        accepted: list[int] = []
        for index, record in enumerate(records):
            if planned is not None and index in planned.reject:
                errors.append({"index": index, "field": "", "reason": "scripted rejection"})
                continue
            try:
                model.model_validate(record)
            except ValidationError as exc:
                first = exc.errors()[0]
                field_name = ".".join(str(part) for part in first["loc"])
                errors.append({"index": index, "field": field_name, "reason": first["msg"]})
                continue
            accepted.append(index)
        status = 207 if errors else 200
        self._record(Request(handler.path, headers, records, status, accepted))
        body = {"accepted": len(accepted), "rejected": len(errors), "errors": errors}
        self._reply(handler, status, body)

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)
