"""Each dialect's spans, in both encodings, normalised into the interactions they describe."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptloop.core.prompts import content_hash
from promptloop.core.records import Interaction, interaction_id_for_span
from promptloop.otlp import InvalidPayload, decode_json, decode_protobuf, normalise_request
from promptloop.otlp.normalise import Normalised
from tests.otlp._payloads import DIALECT_FILES, json_bytes, load, protobuf_bytes

# What each fixture must produce: the stored interactions (a subset of their fields, in
# order) and how many spans are reported back as not stored.
EXPECTED: dict[str, tuple[list[dict[str, Any]], int]] = {
    "genai_current.json": (
        [
            {
                "model": "gpt-4o-2024-08-06",
                "system_prompt": "You summarise notes.",
                "user_input": "Summarise: buy milk and eggs",
                "raw_output": "Groceries: milk, eggs.",
                "input_tokens": 120,
                "output_tokens": 30,
                "session_id": "conv-1",
                "user_id": "u_11111111111111111111111111111111",
                "feature": "summarize",
                "prompt_name": "summarize",
                "prompt_version": "2.1.0",
                "prompt_hash": "sha256:abc123",
                "latency_ms": 850.0,
                "metadata": {"variant": "B", "plan": "pro", "provider": "openai"},
            }
        ],
        2,  # an embeddings call and an HTTP span
    ),
    "genai_events.json": (
        [
            {
                "model": "claude-sonnet-4",
                "system_prompt": "Answer in French.",
                "user_input": "Capital of Italy?",
                "raw_output": "Rome.",
                "feature": "notes-api-default",  # the resource's promptloop.feature
            },
            {
                "model": "gpt-4o-mini",
                "system_prompt": "Be terse.",
                "user_input": "Two plus two?",
                "raw_output": "Four.",
                "input_tokens": 20,
                "output_tokens": 5,
            },
        ],
        0,
    ),
    "genai_legacy.json": (
        [
            {
                "model": "gpt-3.5-turbo",
                "user_input": "Translate 'cat' to German",
                "raw_output": None,
                "error": "rate limited",
            },
            {"user_input": "Say hi", "raw_output": "Hi!", "input_tokens": 8, "output_tokens": 3},
        ],
        0,
    ),
    "openinference.json": (
        [
            {
                "model": "gpt-4o-2024-08-06",
                "system_prompt": "Use the context.",
                "user_input": "What is RAG?",
                "raw_output": "Retrieval-augmented generation.",
                "input_tokens": 310,
                "output_tokens": 12,
                "session_id": "sess-42",
                "user_id": "u_22222222222222222222222222222222",
                "prompt_name": "rag-answer",
                "prompt_version": "3.0.1",
                "prompt_hash": content_hash("Context: {context}\nQuestion: {question}"),
                "metadata": {
                    "tenant": "acme",
                    "prompt_variables": {"question": "What is RAG?"},
                    "tags": ["beta"],
                },
            },
            {"model": "davinci-002", "user_input": "Once upon a time"},
        ],
        1,  # the CHAIN span
    ),
    "traceloop.json": (
        [
            {
                "model": "gpt-4o-mini-2024-07-18",
                "system_prompt": "You are a support agent.",
                "user_input": "My order is late",
                "raw_output": "Sorry! Let me check.",
                "input_tokens": 25,
                "output_tokens": 7,
                "session_id": "chat-9",
                "user_id": "u_33333333333333333333333333333333",
                "feature": "support_reply",
                "prompt_name": "support-reply",
                "prompt_version": "5",
                "metadata": {"plan": "free", "total_tokens": 32},
            }
        ],
        1,  # the workflow span
    ),
    "langfuse.json": (
        [
            {
                "model": "gpt-4.1",
                "system_prompt": "Cite sources.",
                "user_input": "Who wrote Dune?",
                "raw_output": "Frank Herbert.",
                "input_tokens": 40,
                "output_tokens": 4,
                "cost_usd": 0.0012,
                "session_id": "lf-session",
                "user_id": "u_44444444444444444444444444444444",
                "feature": "qa-bot",
                "prompt_name": "qa",
                "prompt_version": "7",
                "metadata": {"plan": "team", "environment": "production"},
            },
            {
                "session_id": "lf-old-session",
                "user_id": "u_55555555555555555555555555555555",
                "prompt_name": "legacy-prompt",
                "prompt_version": "2",
                "user_input": "plain prompt text",
                "raw_output": "plain answer",
            },
        ],
        1,  # a plain span
    ),
    "vercel_ai.json": (
        [
            {
                "model": "gpt-4o-2024-08-06",
                "system_prompt": "Write emails.",
                "user_input": "Draft a thank-you note",
                "raw_output": "Dear team, thank you!",
                "input_tokens": 18,
                "output_tokens": 6,
                "feature": "draft-email",
                "session_id": "v-sess",
                "user_id": "u_66666666666666666666666666666666",
            }
        ],
        2,  # the ai.generateText wrapper and an embedding call
    ),
}


def _check(result: Normalised, name: str) -> None:
    expected, rejected = EXPECTED[name]
    assert len(result.rejected) == rejected, result.error_message()
    assert len(result.interactions) == len(expected)
    for interaction, fields in zip(result.interactions, expected, strict=True):
        row = interaction.to_row()
        for key, value in fields.items():
            if key == "metadata":
                assert value.items() <= row["metadata"].items(), row["metadata"]
            else:
                assert row[key] == value, (key, row[key])
        assert row["interaction_id"] == interaction_id_for_span(row["trace_id"], row["span_id"])


def test_every_fixture_has_expectations() -> None:
    assert set(DIALECT_FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", DIALECT_FILES)
def test_json_payload(name: str) -> None:
    _check(normalise_request(decode_json(json_bytes(name))), name)


@pytest.mark.parametrize("name", DIALECT_FILES)
def test_protobuf_payload_gives_the_same_interactions(name: str) -> None:
    from_protobuf = normalise_request(decode_protobuf(protobuf_bytes(name)))
    _check(from_protobuf, name)
    from_json = normalise_request(decode_json(json_bytes(name)))
    assert _without_time(from_protobuf.interactions) == _without_time(from_json.interactions)


def _without_time(items: list[Interaction]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude={"timestamp"}) for item in items]


def test_span_times_give_timestamp_and_latency() -> None:
    (interaction,) = normalise_request(decode_json(json_bytes("traceloop.json"))).interactions
    start_ns = int(
        load("traceloop.json")["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"]
    )
    assert interaction.timestamp.timestamp() == pytest.approx(start_ns / 1e9)
    assert interaction.latency_ms == 850.0


def test_invalid_span_ids_are_reported_and_the_rest_kept() -> None:
    request = load("genai_current.json")
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["traceId"] = "xyz"
    spans[2]["spanId"] = "0" * 16
    result = normalise_request(decode_json(json.dumps(request).encode()))
    assert len(result.interactions) == 1
    assert "traceId must be 16 bytes" in result.error_message()
    assert "must not be all zeros" in result.error_message()


def test_promptloop_llm_marks_any_span_as_an_interaction_or_none() -> None:
    request = load("genai_current.json")
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["attributes"].append({"key": "promptloop.llm", "value": {"boolValue": False}})
    spans[2]["attributes"].append({"key": "promptloop.llm", "value": {"boolValue": True}})
    result = normalise_request(decode_json(json.dumps(request).encode()))
    assert [i.metadata["otel"]["span_name"] for i in result.interactions] == ["GET /notes"]


def test_user_ids_can_be_hashed_on_ingest() -> None:
    decoded = decode_json(json_bytes("traceloop.json"))
    (interaction,) = normalise_request(decoded, hash_user_id=lambda raw: "h:" + raw).interactions
    assert interaction.user_id == "h:u_33333333333333333333333333333333"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"resourceSpans": 3}', b'{"resourceSpans": [{"scopeSpans": {}}]}'],
)
def test_json_that_is_not_a_trace_request_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        decode_json(body)


def test_protobuf_garbage_is_invalid() -> None:
    with pytest.raises(InvalidPayload):
        decode_protobuf(b"\xff\xff\xff\xff")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {"resourceSpans": st.lists(_json_values, max_size=3)},
        optional={"other": _json_values},
    )
    | _json_values
)
def test_any_json_is_decoded_or_refused_cleanly(request: Any) -> None:
    try:
        decoded = decode_json(json.dumps(request).encode())
    except InvalidPayload:
        return
    normalise_request(decoded)  # never raises on what the decoder accepted


def test_the_collector_hashes_user_ids_exactly_as_the_sdk_does() -> None:
    from promptloop.otlp.users import user_id_hasher
    from promptloop.sdk.hashing import UserHasher

    ours, sdk = user_id_hasher("shared-key"), UserHasher("shared-key")
    for raw in ("alice@example.com", "42", "ünïcode"):
        assert ours(raw) == sdk.hash(raw)
    assert ours(sdk.hash("bob")) == sdk.hash("bob")  # never hashed twice


def test_user_text_that_looks_like_json_stays_as_typed() -> None:
    request = load("traceloop.json")
    attributes = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    for attribute in attributes:
        if attribute["key"] == "gen_ai.prompt.1.content":
            attribute["value"] = {"stringValue": "[1, 2, 3] sorted?"}
        if attribute["key"] == "gen_ai.completion.0.content":
            attribute["value"] = {
                "stringValue": json.dumps([{"type": "text", "text": "Yes: [1, 2, 3]"}])
            }
    (interaction,) = normalise_request(decode_json(json.dumps(request).encode())).interactions
    assert interaction.user_input == "[1, 2, 3] sorted?"
    assert interaction.raw_output == "Yes: [1, 2, 3]"


def test_status_may_be_named_as_well_as_numbered() -> None:
    request = load("traceloop.json")
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"] = {
        "code": "STATUS_CODE_ERROR",
        "message": "boom",
    }
    (interaction,) = normalise_request(decode_json(json.dumps(request).encode())).interactions
    assert interaction.error == "boom"


def test_a_prompt_that_is_json_but_not_messages_is_text() -> None:
    request = load("genai_legacy.json")
    attributes = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    for attribute in attributes:
        if attribute["key"] == "gen_ai.prompt":
            attribute["value"] = {"stringValue": '{"sku": 42, "qty": 3}'}
    first = normalise_request(decode_json(json.dumps(request).encode())).interactions[0]
    assert first.user_input == '{"sku": 42, "qty": 3}'
