"""``wrap_openai`` with the real ``openai`` library against a fake OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

import promptloop
from promptloop.core.records import Interaction
from tests.support.fake_llm import FakeLLM
from tests.support.recording_collector import RecordingCollector

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "earlier question"},
    {"role": "assistant", "content": "earlier answer"},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def records(client: promptloop.Client, collector: RecordingCollector) -> list[Interaction]:
    assert client.flush(timeout=10)
    return [Interaction.model_validate(r) for r in collector.interactions()]


def test_chat_completion(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply("Paris.", model="gpt-4o-2024-08-06", input_tokens=21, output_tokens=2)
    raw = openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    llm = promptloop.wrap_openai(raw, feature="qa", prompt_version="v3")
    response = llm.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "Paris."
    [record] = records(client, collector)
    assert record.interaction_id == promptloop.last_interaction_id()
    assert record.model == "gpt-4o-2024-08-06"
    assert (record.input_tokens, record.output_tokens) == (21, 2)
    assert record.system_prompt == "You are terse."
    assert record.user_input == "What is the capital of France?"
    assert record.raw_output == "Paris."
    assert record.feature == "qa" and record.prompt_version == "v3"
    assert record.latency_ms is not None and record.latency_ms > 0
    # Nothing promptloop-specific reached the provider.
    [(path, body)] = fake.requests
    assert path == "/v1/chat/completions"
    assert set(body) == {"model", "messages"}
    # Everything else is the real client.
    assert llm.api_key == "test"
    assert llm.with_options(timeout=3).chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert len(records(client, collector)) == 2


def test_chat_completion_stream_with_usage(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply("The capital is Paris.", model="gpt-4o-mini", input_tokens=30, output_tokens=5)
    llm = promptloop.wrap_openai(
        openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )
    stream = llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "The capital is Paris."
    [record] = records(client, collector)
    assert record.raw_output == "The capital is Paris."
    assert record.model == "gpt-4o-mini"
    assert (record.input_tokens, record.output_tokens) == (30, 5)


def test_chat_completion_stream_as_context_manager(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply("one two three")
    llm = promptloop.wrap_openai(
        openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )
    with llm.chat.completions.create(
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    ) as stream:
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
    [record] = records(client, collector)
    assert record.input_tokens is None  # no include_usage: no usage chunk


def test_chat_completion_error_is_recorded_and_reraised(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.fail(500, "the model is overloaded")
    llm = promptloop.wrap_openai(
        openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )
    with pytest.raises(openai.InternalServerError):
        llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    fake.fail(400, "bad request")
    with pytest.raises(openai.BadRequestError):
        llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    first, second = records(client, collector)
    assert first.error is not None and first.error.startswith("InternalServerError")
    assert second.error is not None and second.error.startswith("BadRequestError")
    assert first.user_input == "What is the capital of France?"


def test_stream_error_is_recorded(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    fake.reply("a b c d", stream_error_after=2)
    llm = promptloop.wrap_openai(
        openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )
    stream = llm.chat.completions.create(
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    [record] = records(client, collector)
    assert record.error is not None
    assert record.raw_output == "a b"


async def test_async_chat_completion_and_stream(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    llm = promptloop.wrap_openai(
        openai.AsyncOpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )
    fake.reply("async answer", input_tokens=4, output_tokens=2)
    response = await llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert response.choices[0].message.content == "async answer"
    first_id = promptloop.last_interaction_id()

    fake.reply("streamed async answer", input_tokens=8, output_tokens=3)
    stream = await llm.chat.completions.create(
        model="m",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "streamed async answer"

    fake.fail(500)
    with pytest.raises(openai.InternalServerError):
        await llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]

    first, second, third = records(client, collector)
    assert first.interaction_id == first_id
    assert (first.input_tokens, first.output_tokens) == (4, 2)
    assert second.raw_output == "streamed async answer"
    assert (second.input_tokens, second.output_tokens) == (8, 3)
    assert third.error is not None


def test_responses_api(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    llm = promptloop.wrap_openai(
        openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )
    fake.reply("Responses answer", model="gpt-4.1", input_tokens=9, output_tokens=2)
    response = llm.responses.create(model="gpt-4.1", instructions="Be kind.", input="Hi there")
    assert response.output_text == "Responses answer"
    fake.reply("streamed response", model="gpt-4.1", input_tokens=5, output_tokens=2)
    stream = llm.responses.create(model="gpt-4.1", input="Stream it", stream=True)
    events = list(stream)
    assert events[-1].type == "response.completed"
    plain, streamed = records(client, collector)
    assert plain.system_prompt == "Be kind." and plain.user_input == "Hi there"
    assert plain.raw_output == "Responses answer"
    assert (plain.input_tokens, plain.output_tokens) == (9, 2)
    assert streamed.raw_output == "streamed response"
    assert (streamed.input_tokens, streamed.output_tokens) == (5, 2)


def test_inside_track_enriches_instead_of_duplicating(
    client: promptloop.Client, collector: RecordingCollector, fake: FakeLLM
) -> None:
    llm = promptloop.wrap_openai(
        openai.OpenAI(base_url=fake.openai_url, api_key="test", max_retries=0)
    )

    @promptloop.track(feature="answer", prompt_version="v9")
    def answer(question: str) -> Any:
        llm.chat.completions.create(
            model="m",
            messages=[{"role": "system", "content": "S"}, {"role": "user", "content": question}],
        )
        second = llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "2"}])
        return second

    fake.reply("one", model="gpt-x", input_tokens=3, output_tokens=1)
    fake.reply("two", model="gpt-x", input_tokens=4, output_tokens=2)
    answer("q?")
    [record] = records(client, collector)
    assert record.feature == "answer" and record.prompt_version == "v9"
    assert record.model == "gpt-x"
    assert (record.input_tokens, record.output_tokens) == (7, 3)
    assert record.user_input == "q?"
    assert record.raw_output == "two"
