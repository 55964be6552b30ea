"""A real HTTP server on 127.0.0.1 speaking enough of the OpenAI and Anthropic APIs.

Drive it with the real ``openai`` / ``anthropic`` client libraries::

    with FakeLLM() as fake:
        fake.reply("Paris.", model="gpt-4o-2024-08-06", input_tokens=12, output_tokens=3)
        client = openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE with ``stream: true`` and a usage
chunk when ``stream_options.include_usage``), ``POST /v1/responses`` (JSON or SSE) and
``POST /v1/messages`` (Anthropic JSON, or SSE events with ``stream: true``). Answers are
scripted with ``reply`` (``stream_error_after=n`` breaks a stream after n text pieces) and
``fail`` (an HTTP error with the provider's error body; ``retry_after`` adds the header);
requests are kept in ``requests`` (and their headers, lower-cased, in ``headers``).
``route(substring, text)`` answers every request whose body contains ``substring`` (not
consumed; checked before the script). ``hold_in_groups(k)`` makes
requests wait until their group of k has arrived (requests 1..k, k+1..2k, ...; or the server
closes), and ``max_in_flight`` records the most requests ever being handled at the same time
(a request stops counting just before its answer is written). ``POST /v1/embeddings`` answers
with 26-dimensional letter-count vectors (a-z), so similarities are known in advance.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass
class Reply:
    text: str = "Hello from the fake LLM."
    model: str | None = None
    input_tokens: int = 11
    output_tokens: int = 7
    status: int = 200
    error_message: str = "scripted failure"
    stream_error_after: int | None = None
    retry_after: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[Reply] = deque()
        self._routes: list[tuple[str, Reply]] = []
        self._lock = threading.Lock()
        self._in_flight_changed = threading.Condition(self._lock)
        self._group_size = 0
        self._arrivals = 0
        self._closing = False
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # close after each answer: SSE needs no framing

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply(self, text: str = Reply.text, **options: Any) -> None:
        """Script the next answer."""
        with self._lock:
            self._script.append(Reply(text=text, **options))

    def fail(
        self, status: int = 500, message: str = "scripted failure", retry_after: str | None = None
    ) -> None:
        """Script the next answer as an HTTP error with the provider's error body."""
        with self._lock:
            self._script.append(
                Reply(status=status, error_message=message, retry_after=retry_after)
            )

    def route(self, contains: str, text: str, **options: Any) -> None:
        """Answer every request whose JSON body contains ``contains`` with ``text``."""
        with self._lock:
            self._routes.append((contains, Reply(text=text, **options)))

    def hold_in_groups(self, size: int) -> None:
        """Hold each request until its group of ``size`` has arrived (0 turns holding off)."""
        with self._lock:
            self._group_size = size
            self._arrivals = 0
            self._in_flight_changed.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._in_flight_changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- handling -----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) or b"{}"
        body = json.loads(raw)
        text = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append((handler.path, body))
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
            routed = next((reply for key, reply in self._routes if key in text), None)
            scripted = self._script.popleft() if routed is None and self._script else None
            reply = routed or scripted or Reply()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._arrivals += 1
            size = self._group_size
            group_end = -(-self._arrivals // size) * size if size else 0
            self._in_flight_changed.notify_all()
            # Bounded: a held request gives up after 10 s rather than hanging a test run.
            self._in_flight_changed.wait_for(
                lambda: self._closing or self._arrivals >= group_end, timeout=10
            )
            # Before answering: the client cannot send its next request before this runs.
            self.in_flight -= 1
        self._answer(handler, body, reply)

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply) -> None:
        model = reply.model or body.get("model") or "fake-model"
        endpoint = handler.path.split("?", 1)[0]
        anthropic = endpoint.endswith("/messages")
        if reply.status != 200:
            if anthropic:
                error: dict[str, Any] = {
                    "type": "error",
                    "error": {"type": "api_error", "message": reply.error_message},
                }
            else:
                error = {"error": {"message": reply.error_message, "type": "server_error"}}
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            self._json(handler, reply.status, error, headers)
        elif endpoint.endswith("/chat/completions"):
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._sse(handler, self._chat_events(reply, model, include_usage), done=True)
            else:
                self._json(handler, 200, self._chat(reply, model))
        elif endpoint.endswith("/embeddings"):
            self._json(handler, 200, self._embeddings(body, model))
        elif endpoint.endswith("/responses"):
            if body.get("stream"):
                self._sse(handler, self._responses_events(reply, model))
            else:
                self._json(handler, 200, self._response(reply, model))
        elif anthropic:
            if body.get("stream"):
                self._sse(handler, self._anthropic_events(reply, model))
            else:
                self._json(handler, 200, self._message(reply, model))
        else:
            self._json(handler, 404, {"error": {"message": "not found"}})

    @staticmethod
    def _json(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def _sse(
        handler: BaseHTTPRequestHandler,
        events: list[tuple[str | None, dict[str, Any]]],
        done: bool = False,
    ) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for name, data in events:
            prefix = f"event: {name}\n" if name else ""
            handler.wfile.write(f"{prefix}data: {json.dumps(data)}\n\n".encode())
            handler.wfile.flush()
        if done:
            handler.wfile.write(b"data: [DONE]\n\n")

    # -- OpenAI chat completions ---------------------------------------------------------
    @staticmethod
    def _chat(reply: Reply, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
            },
        }

    @staticmethod
    def _chat_events(
        reply: Reply, model: str, include_usage: bool
    ) -> list[tuple[str | None, dict[str, Any]]]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events: list[tuple[str | None, dict[str, Any]]] = [
            (None, chunk({"role": "assistant", "content": ""}))
        ]
        for index, piece in enumerate(_pieces(reply.text)):
            if reply.stream_error_after is not None and index >= reply.stream_error_after:
                events.append((None, {"error": {"message": reply.error_message}}))
                return events
            events.append((None, chunk({"content": piece})))
        events.append((None, chunk({}, "stop")))
        if include_usage:
            usage = {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
            }
            events.append(
                (
                    None,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    },
                )
            )
        return events

    # -- OpenAI embeddings ---------------------------------------------------------------
    @staticmethod
    def letter_counts(text: str) -> list[float]:
        """The vector the fake embeds ``text`` as: counts of each letter a-z."""
        lowered = text.lower()
        return [float(lowered.count(chr(ord("a") + i))) for i in range(26)]

    def _embeddings(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        inputs = body.get("input", [])
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        return {
            "object": "list",
            "model": model,
            "data": [
                {"object": "embedding", "index": i, "embedding": self.letter_counts(text)}
                for i, text in enumerate(texts)
            ],
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }

    # -- OpenAI responses ----------------------------------------------------------------
    @staticmethod
    def _response(reply: Reply, model: str, text: str | None = None) -> dict[str, Any]:
        return {
            "id": "resp_fake",
            "object": "response",
            "created_at": 1,
            "model": model,
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "msg_fake",
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_text",
                            "text": reply.text if text is None else text,
                            "annotations": [],
                        }
                    ],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }

    def _responses_events(
        self, reply: Reply, model: str
    ) -> list[tuple[str | None, dict[str, Any]]]:
        events: list[tuple[str | None, dict[str, Any]]] = []
        for index, piece in enumerate(_pieces(reply.text)):
            events.append(
                (
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "item_id": "msg_fake",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": piece,
                        "logprobs": [],
                        "sequence_number": index + 1,
                    },
                )
            )
        events.append(
            (
                "response.completed",
                {
                    "type": "response.completed",
                    "response": self._response(reply, model),
                    "sequence_number": len(events) + 1,
                },
            )
        )
        return events

    # -- Anthropic messages --------------------------------------------------------------
    @staticmethod
    def _message(reply: Reply, model: str) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }

    @staticmethod
    def _anthropic_events(reply: Reply, model: str) -> list[tuple[str | None, dict[str, Any]]]:
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
            },
        }
        events: list[tuple[str | None, dict[str, Any]]] = [
            ("message_start", start),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
        ]
        for index, piece in enumerate(_pieces(reply.text)):
            if reply.stream_error_after is not None and index >= reply.stream_error_after:
                events.append(
                    (
                        "error",
                        {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": reply.error_message},
                        },
                    )
                )
                return events
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": reply.output_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events
