"""Real servers for the browser tests, on real sockets on 127.0.0.1.

* :class:`LiveCollector` runs the collector with uvicorn in a thread, on a socket bound
  before the thread starts (so the port is known and connections queue until it serves).
  An ASGI wrapper records every finished ``POST /v1/feedback/{token}`` and wakes waiters:
  the tests wait on that condition (bounded), never on a sleep, for beacons that Playwright
  cannot observe once their page is gone.
* :class:`AppServer` serves the host app's pages from another origin (another port), as a
  real app embedding the widget would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn

from promptloop.server.app import create_app
from promptloop.server.settings import Settings

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class FeedbackRequest:
    token: str
    status: int


class _Recorder:
    """ASGI middleware: remember each browser-feedback POST once its response is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[FeedbackRequest] = []
        self.changed = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not path.startswith("/v1/feedback/"):
            await self.app(scope, receive, send)
            return
        status = 0

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            with self.changed:
                self.requests.append(FeedbackRequest(path.rsplit("/", 1)[-1], status))
                self.changed.notify_all()


class LiveCollector:
    def __init__(self, settings: Settings, api_key: str) -> None:
        self.settings = settings
        self.api_key = api_key
        self._recorder = _Recorder(create_app(settings))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(self._recorder, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        # The socket already listens: this waits (bounded) for the app's startup, no polling.
        response = self.http.get("/healthz")
        response.raise_for_status()

    def stop(self) -> None:
        self.http.close()
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    # -- what the browser sent ----------------------------------------------------------
    def feedback_requests(self, token: str) -> list[FeedbackRequest]:
        with self._recorder.changed:
            return [r for r in self._recorder.requests if r.token == token]

    def wait_for_requests(self, token: str, count: int, timeout: float = 15.0) -> None:
        """Block until ``count`` feedback POSTs carrying ``token`` have been answered."""
        with self._recorder.changed:
            done = self._recorder.changed.wait_for(
                lambda: sum(r.token == token for r in self._recorder.requests) >= count,
                timeout=timeout,
            )
        if not done:
            seen = self.feedback_requests(token)
            raise AssertionError(f"expected {count} feedback requests for the token, saw {seen}")

    # -- the store, read through the collector's API -------------------------------------
    def log_interaction(self, interaction_id: str, output: str) -> None:
        response = self.http.post(
            "/v1/interactions",
            json={
                "interactionId": interaction_id,
                "sessionId": "browser-test",
                "promptVersion": "1.0.0",
                "promptName": "browser_test",
                "model": "test-model",
                "userInput": "How do I export a notebook?",
                "rawOutput": output,
            },
        )
        assert response.status_code == 200, response.text

    def feedback(self, interaction_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/interactions/{interaction_id}")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["feedback"]
        return events


@contextlib.contextmanager
def live_collector(settings: Settings, api_key: str) -> Iterator[LiveCollector]:
    collector = LiveCollector(settings, api_key)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()


class AppServer:
    """The host app: serves registered HTML pages (``/page/<name>``) from its own origin."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                body = pages.get(path)
                if body is None:
                    body = "<!doctype html><title>elsewhere</title><p id='elsewhere'>elsewhere"
                    status = 200 if path == "/elsewhere" else 404
                else:
                    status = 200
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, name: str, html: str) -> str:
        path = f"/page/{name}"
        self.pages[path] = html
        return self.origin + path

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)
