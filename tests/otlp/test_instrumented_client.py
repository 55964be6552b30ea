"""A real OpenTelemetry-instrumented app: openinference wraps the real openai client, which
talks to the scripted LLM server; the OTLP/HTTP exporter sends the spans over a socket to a
real collector on 127.0.0.1, and the interactions come out with the right fields."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openinference.instrumentation import using_attributes
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from promptloop.core.prompts import content_hash
from promptloop.core.records import interaction_id_for_span
from tests.otlp.conftest import API_KEY, ThreadedCollector
from tests.support.fake_llm import FakeLLM


@pytest.fixture
def traced(collector: ThreadedCollector) -> Iterator[InMemorySpanExporter]:
    """Instrument openai for one test; spans go to the collector (gzip) and to memory."""
    seen = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "acme-notes"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{collector.url}/v1/traces",
        headers={"Authorization": f"Bearer {API_KEY}"},
        compression=Compression.Gzip,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(seen))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield seen
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def _interaction_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return interaction_id_for_span(f"{context.trace_id:032x}", f"{context.span_id:016x}")


def _get(collector: ThreadedCollector, path: str) -> dict[str, object]:
    response = httpx.get(
        collector.url + path, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_openinference_spans_land_as_interactions(
    collector: ThreadedCollector, traced: InMemorySpanExporter
) -> None:
    template = "Summarise this note in one line: {note}"
    with FakeLLM() as fake:
        fake.reply("Buy milk.", model="gpt-4o-2024-08-06", input_tokens=42, output_tokens=4)
        fake.reply("Call Bob", model="gpt-4o-2024-08-06", input_tokens=30, output_tokens=2)
        client = openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
        with using_attributes(
            session_id="session-7",
            user_id="u_0123456789abcdef0123456789abcdef",
            prompt_template=template,
            prompt_template_version="1.4.0",
            prompt_template_variables={"note": "milk"},
            metadata={"promptloop.feature": "summarize", "promptloop.variant": "B", "plan": "pro"},
        ):
            client.chat.completions.create(
                model="gpt-4o",
                messages=[
                    {"role": "system", "content": "You write one-line summaries."},
                    {"role": "user", "content": "Summarise this note in one line: milk"},
                ],
            )
            stream = client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Summarise: call Bob"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        client.close()

    spans = traced.get_finished_spans()
    assert len(spans) == 2
    first = _get(collector, f"/v1/interactions/{_interaction_of(spans[0])}")
    assert first["model"] == "gpt-4o-2024-08-06"
    assert first["user_input"] == "Summarise this note in one line: milk"
    assert first["system_prompt"] == "You write one-line summaries."
    assert first["raw_output"] == "Buy milk."
    assert (first["input_tokens"], first["output_tokens"]) == (42, 4)
    assert first["session_id"] == "session-7"
    assert first["user_id"] == "u_0123456789abcdef0123456789abcdef"
    assert first["feature"] == "summarize"
    assert first["prompt_version"] == "1.4.0"
    assert first["prompt_hash"] == content_hash(template)
    assert first["trace_id"] == f"{spans[0].get_span_context().trace_id:032x}"
    metadata = first["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["variant"] == "B"
    assert metadata["plan"] == "pro"
    assert metadata["prompt_variables"] == {"note": "milk"}
    assert metadata["otel"]["dialect"] == "openinference"
    assert metadata["otel"]["service_name"] == "acme-notes"
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] > 0

    streamed = _get(collector, f"/v1/interactions/{_interaction_of(spans[1])}")
    assert streamed["raw_output"] == "Call Bob"
    assert streamed["user_input"] == "Summarise: call Bob"
    assert (streamed["input_tokens"], streamed["output_tokens"]) == (30, 2)


def test_feedback_attaches_by_trace_and_span_id(
    collector: ThreadedCollector, traced: InMemorySpanExporter
) -> None:
    with FakeLLM() as fake:
        fake.reply("Ok.")
        client = openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        client.close()
    (span,) = traced.get_finished_spans()
    context = span.get_span_context()
    assert context is not None
    response = httpx.post(
        f"{collector.url}/v1/feedback",
        json={
            "traceId": f"{context.trace_id:032x}",
            "spanId": f"{context.span_id:016x}",
            "type": "thumbs_down",
            "comment": "too short",
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    found = _get(collector, f"/v1/interactions/{_interaction_of(span)}")
    assert found["user_input"] == "hi"
    feedback = found["feedback"]
    assert isinstance(feedback, list)
    assert [event["feedback_type"] for event in feedback] == ["thumbs_down"]


def test_a_resent_span_is_stored_once(
    collector: ThreadedCollector, traced: InMemorySpanExporter, tmp_path: Path
) -> None:
    with FakeLLM() as fake:
        fake.reply("Once.")
        client = openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}])
        client.close()
    spans = traced.get_finished_spans()
    retry = OTLPSpanExporter(
        endpoint=f"{collector.url}/v1/traces", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert retry.export(spans).name == "SUCCESS"  # the exporter retrying the same batch
    retry.shutdown()
    page = _get(collector, "/v1/interactions?limit=1000")
    items = page["items"]
    assert isinstance(items, list)
    assert sum(1 for item in items if item["user_input"] == "again") == 1
