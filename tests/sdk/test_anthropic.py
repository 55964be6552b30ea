"""``wrap_anthropic`` with the real ``anthropic`` library against a fake Anthropic server."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

import promptloop
from promptloop.core.records import Interaction
from tests.support.fake_llm import FakeLLM
from tests.support.recording_collector import RecordingCollector

SYSTEM = "You are a support agent for ACME."
MESSAGES = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": [{"type": "text", "text": "How do I reset my password?"}]},
]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def sync_client(fake: FakeLLM) -> anthropic.Anthropic:
    return promptloop.wrap_anthropic(
        anthropic.Anthropic(base_url=fake.anthropic_url, api_key="test", max_retries=0),
        feature="support",
        prompt_version="v7",
    )


def records(client: promptloop.Client, collector: RecordingCollector) -> list[Interaction]:
    assert client.flush(timeout=10)
    return [Interaction.model_validate(r) for r in collector.interactions()]


def test_messages_create(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply(
        "Use the reset link.", model="claude-sonnet-4-20250514", input_tokens=40, output_tokens=6
    )
    llm = sync_client(fake)
    message = llm.messages.create(
        model="claude-sonnet-4-0",
        max_tokens=100,
        system=SYSTEM,
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert message.content[0].text == "Use the reset link."  # type: ignore[union-attr]
    [record] = records(client, collector)
    assert record.interaction_id == promptloop.last_interaction_id()
    assert record.model == "claude-sonnet-4-20250514"
    assert (record.input_tokens, record.output_tokens) == (40, 6)
    assert record.system_prompt == SYSTEM
    assert record.user_input == "How do I reset my password?"
    assert record.raw_output == "Use the reset link."
    assert record.feature == "support" and record.prompt_version == "v7"
    [(path, body)] = fake.requests
    assert path == "/v1/messages"
    assert set(body) == {"model", "max_tokens", "system", "messages"}


def test_system_as_blocks(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    sync_client(fake).messages.create(
        model="m",
        max_tokens=10,
        system=[{"type": "text", "text": "Block system."}],
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    [record] = records(client, collector)
    assert record.system_prompt == "Block system."


def test_messages_create_stream(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply("Click forgot password.", model="claude-x", input_tokens=33, output_tokens=4)
    stream = sync_client(fake).messages.create(
        model="m",
        max_tokens=100,
        system=SYSTEM,
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    text = "".join(
        event.delta.text  # type: ignore[union-attr]
        for event in stream
        if event.type == "content_block_delta"
    )
    assert text == "Click forgot password."
    [record] = records(client, collector)
    assert record.raw_output == text
    assert record.model == "claude-x"
    assert (record.input_tokens, record.output_tokens) == (33, 4)


def test_messages_stream_helper(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply("Streamed helper text.", model="claude-y", input_tokens=12, output_tokens=3)
    with sync_client(fake).messages.stream(
        model="m",
        max_tokens=100,
        system=SYSTEM,
        messages=MESSAGES,  # type: ignore[arg-type]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "Streamed helper text."
    [record] = records(client, collector)
    assert record.raw_output == text
    assert record.model == "claude-y"
    assert (record.input_tokens, record.output_tokens) == (12, 3)
    assert record.system_prompt == SYSTEM


def test_errors_are_recorded_and_reraised(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    llm = sync_client(fake)
    fake.fail(500, "overloaded")
    with pytest.raises(anthropic.InternalServerError):
        llm.messages.create(model="m", max_tokens=5, messages=MESSAGES)  # type: ignore[arg-type]
    fake.fail(400, "bad")
    with (
        pytest.raises(anthropic.BadRequestError),
        llm.messages.stream(
            model="m",
            max_tokens=5,
            messages=MESSAGES,  # type: ignore[arg-type]
        ),
    ):
        pass
    fake.reply("a b c d", stream_error_after=2)
    stream = llm.messages.create(
        model="m",
        max_tokens=5,
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    with pytest.raises(anthropic.APIStatusError):
        for _ in stream:
            pass
    first, second, third = records(client, collector)
    assert first.error is not None and first.error.startswith("InternalServerError")
    assert second.error is not None and second.error.startswith("BadRequestError")
    assert third.error is not None and third.raw_output == "a b"


async def test_async_client(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    llm = promptloop.wrap_anthropic(
        anthropic.AsyncAnthropic(base_url=fake.anthropic_url, api_key="test", max_retries=0)
    )
    fake.reply("async reply", input_tokens=5, output_tokens=2)
    message = await llm.messages.create(
        model="m",
        max_tokens=10,
        system=SYSTEM,
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert message.content[0].text == "async reply"  # type: ignore[union-attr]

    fake.reply("async stream", input_tokens=6, output_tokens=2)
    stream = await llm.messages.create(
        model="m",
        max_tokens=10,
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    events = [event async for event in stream]
    assert events[-1].type == "message_stop"

    fake.reply("async helper", input_tokens=7, output_tokens=2)
    async with llm.messages.stream(
        model="m",
        max_tokens=10,
        messages=MESSAGES,  # type: ignore[arg-type]
    ) as helper:
        final = await helper.get_final_message()
    assert final.content[0].text == "async helper"  # type: ignore[union-attr]

    fake.fail(500)
    with pytest.raises(anthropic.InternalServerError):
        await llm.messages.create(model="m", max_tokens=5, messages=MESSAGES)  # type: ignore[arg-type]

    plain, streamed, helper_record, failed = records(client, collector)
    assert (plain.raw_output, plain.input_tokens, plain.output_tokens) == ("async reply", 5, 2)
    assert (streamed.raw_output, streamed.input_tokens) == ("async stream", 6)
    assert (helper_record.raw_output, helper_record.input_tokens) == ("async helper", 7)
    assert failed.error is not None


def test_inside_track_and_middleware(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    llm = sync_client(fake)

    def call_llm(system_prompt: str, user_input: str) -> str:
        message = llm.messages.create(
            model="m",
            max_tokens=10,
            system=system_prompt,
            messages=[{"role": "user", "content": user_input}],
        )
        return message.content[0].text  # type: ignore[union-attr]

    fake.reply("via middleware", model="claude-z", input_tokens=8, output_tokens=2)
    wrapped = promptloop.llm_logging_middleware(call_llm, None, "v1.4")
    result = wrapped(SYSTEM, "hello")

    tracked = promptloop.track(feature="tracked")(call_llm)
    fake.reply("via track", model="claude-z", input_tokens=9, output_tokens=3)
    tracked(SYSTEM, "hi")

    via_middleware, via_track = records(client, collector)
    assert via_middleware.interaction_id == result["interactionId"]
    assert via_middleware.model == "claude-z"
    assert (via_middleware.input_tokens, via_middleware.output_tokens) == (8, 2)
    assert via_track.feature == "tracked"
    assert (via_track.input_tokens, via_track.output_tokens) == (9, 3)
    assert via_track.system_prompt == SYSTEM
