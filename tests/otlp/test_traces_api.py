"""``POST /v1/traces`` over a socket, as the OTLP/HTTP spec asks it to behave."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from promptloop.core.records import interaction_id_for_span
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from tests.otlp._payloads import DIALECT_FILES, json_bytes, load, protobuf_bytes
from tests.otlp.conftest import API_KEY, ThreadedCollector
from tests.otlp.test_normalise import EXPECTED

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@pytest.fixture
def http(collector: ThreadedCollector) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=collector.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as client:
        yield client


def _post(http: httpx.Client, body: bytes, media: str, *, compress: bool = False) -> httpx.Response:
    headers = {"Content-Type": media}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return http.post("/v1/traces", content=body, headers=headers)


def _partial(response: httpx.Response) -> tuple[int, str]:
    if response.headers["content-type"].startswith(PROTOBUF):
        message = ExportTraceServiceResponse.FromString(response.content)
    else:
        message = json_format.Parse(response.text, ExportTraceServiceResponse())
    return message.partial_success.rejected_spans, message.partial_success.error_message


def _span_ids(name: str) -> list[tuple[str, str]]:
    return [
        (span["traceId"], span["spanId"])
        for resource in load(name)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def _stored(http: httpx.Client, trace_id: str, span_id: str) -> dict[str, Any] | None:
    response = http.get(f"/v1/interactions/{interaction_id_for_span(trace_id, span_id)}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# Each fixture goes in through one encoding; between them they cover every combination.
CASES = [
    (name, (PROTOBUF, JSON)[index % 2], index % 3 == 0) for index, name in enumerate(DIALECT_FILES)
]


@pytest.mark.parametrize(("name", "media", "compress"), CASES)
def test_each_dialect_is_stored(http: httpx.Client, name: str, media: str, compress: bool) -> None:
    body = protobuf_bytes(name) if media == PROTOBUF else json_bytes(name)
    response = _post(http, body, media, compress=compress)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    expected, rejected = EXPECTED[name]
    assert _partial(response)[0] == rejected
    stored = [row for ids in _span_ids(name) if (row := _stored(http, *ids)) is not None]
    assert [row["user_input"] for row in stored] == [e.get("user_input") for e in expected]
    assert all(row["trace_id"] and row["span_id"] for row in stored)


def test_full_success_leaves_partial_success_unset(http: httpx.Client) -> None:
    response = _post(http, json_bytes("genai_events.json"), JSON)
    assert response.status_code == 200
    assert json.loads(response.text) == {}
    proto = _post(http, protobuf_bytes("genai_events.json"), PROTOBUF)
    assert not ExportTraceServiceResponse.FromString(proto.content).HasField("partial_success")


def test_partial_success_says_why(http: httpx.Client) -> None:
    request = load("openinference.json")
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[2]["traceId"] = "not-hex"
    response = _post(http, json.dumps(request).encode(), JSON)
    rejected, message = _partial(response)
    assert rejected == 2
    assert "1 spans are not LLM calls" in message
    assert "traceId must be 16 bytes" in message


def test_resending_in_the_other_encoding_stores_nothing_new(http: httpx.Client) -> None:
    _post(http, json_bytes("traceloop.json"), JSON)
    before = http.get("/v1/stats").json()
    _post(http, protobuf_bytes("traceloop.json"), PROTOBUF, compress=True)
    after = http.get("/v1/stats").json()
    assert after["store"]["interactions"] == before["store"]["interactions"]
    assert (
        after["ingest"]["duplicates"]["interactions"]
        > before["ingest"]["duplicates"]["interactions"]
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({}, 415),
        ({"Content-Type": JSON, "Content-Encoding": "br"}, 415),
    ],
)
def test_wrong_content_type_or_encoding_is_415(
    http: httpx.Client, headers: dict[str, str], status: int
) -> None:
    response = http.post("/v1/traces", content=json_bytes("traceloop.json"), headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == "unsupported_media_type"


def test_bad_protobuf_is_400_with_a_status_message(http: httpx.Client) -> None:
    response = _post(http, b"\xff\xff\xff\xff", PROTOBUF)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert "ExportTraceServiceRequest" in status.message


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"resourceSpans": "x"}'])
def test_bad_json_is_400(http: httpx.Client, body: bytes) -> None:
    response = _post(http, body, JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_otlp"


def test_bad_gzip_is_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/traces",
        content=b"definitely not gzip",
        headers={"Content-Type": JSON, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400


def test_oversized_body_is_413(http: httpx.Client, collector: ThreadedCollector) -> None:
    big = b" " * (collector.settings.max_body_bytes + 1)
    assert _post(http, big, JSON).status_code == 413


def test_gzip_bomb_is_413(http: httpx.Client, collector: ThreadedCollector) -> None:
    bomb = b"{" + b" " * (collector.settings.max_body_bytes * 4) + b"}"
    response = _post(http, bomb, JSON, compress=True)
    assert response.status_code == 413
    assert "decompressed" in response.json()["message"]


def test_without_the_api_key_is_401(collector: ThreadedCollector) -> None:
    response = httpx.post(
        f"{collector.url}/v1/traces",
        content=json_bytes("traceloop.json"),
        headers={"Content-Type": JSON},
        timeout=30,
    )
    assert response.status_code == 401


def _overloaded_client(tmp_path: Path, **limits: int) -> TestClient:
    settings = Settings(
        store_url=f"duckdb:///{tmp_path}/store.duckdb",
        data_dir=tmp_path / "data",
        api_keys=frozenset(),
        signals_interval=0,
        alerts_interval=0,
        flush_interval=3600,  # nothing leaves the buffer unless a read flushes it
        flush_rows=1_000_000,
        **limits,
    )
    return TestClient(create_app(settings))


def test_a_full_ingest_buffer_is_503_with_retry_after(tmp_path: Path) -> None:
    with _overloaded_client(tmp_path, max_pending_rows=1) as client:
        first = client.post(
            "/v1/traces", content=json_bytes("genai_events.json"), headers={"Content-Type": JSON}
        )
        assert first.status_code == 200
        second = client.post(
            "/v1/traces",
            content=protobuf_bytes("traceloop.json"),
            headers={"Content-Type": PROTOBUF},
        )
        assert second.status_code == 503
        assert int(second.headers["Retry-After"]) >= 1
        assert "waiting for the store" in status_pb2.Status.FromString(second.content).message


def test_too_many_ingest_requests_at_once_is_429(tmp_path: Path) -> None:
    with _overloaded_client(tmp_path, max_concurrent_ingest=0) as client:
        response = client.post(
            "/v1/traces", content=json_bytes("traceloop.json"), headers={"Content-Type": JSON}
        )
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"] == "too_many_requests"
