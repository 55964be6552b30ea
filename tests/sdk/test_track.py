"""``track`` on every kind of function, as a context manager, and with context()."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import promptloop
from promptloop.core.records import Interaction
from tests.support.recording_collector import RecordingCollector


def sent(collector: RecordingCollector) -> list[dict[str, Any]]:
    assert promptloop.flush(timeout=10)
    records = collector.interactions()
    for record in records:
        Interaction.model_validate(record)
    return records


def test_sync_function_is_recorded(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    @promptloop.track(feature="summarize", prompt_name="summarizer", prompt_version="v1.4")
    def summarize(text: str, system_prompt: str = "Be brief.") -> str:
        return text.upper()

    assert summarize("hello world") == "HELLO WORLD"
    interaction_id = promptloop.last_interaction_id()
    [record] = sent(collector)
    assert record["interaction_id"] == interaction_id
    assert uuid.UUID(record["interaction_id"]).version == 4
    assert record["feature"] == "summarize"
    assert record["prompt_name"] == "summarizer"
    assert record["prompt_version"] == "v1.4"
    assert record["user_input"] == "hello world"
    assert record["system_prompt"] == "Be brief."
    assert len(record["prompt_hash"]) == 64
    assert record["raw_output"] == "HELLO WORLD"
    assert record["latency_ms"] >= 0
    assert record["timestamp"].endswith("+00:00")
    assert "error" not in record


def test_bare_decorator_and_input_parameter_names(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    @promptloop.track
    def ask(question: str) -> str:
        return "42"

    @promptloop.track(input_arg="body")
    def custom(flag: bool, body: str) -> str:
        return "ok"

    @promptloop.track()
    def positional(count: int, words: str) -> str:
        return "ok"

    @promptloop.track()
    def chat(messages: list[dict[str, str]]) -> str:
        return "hi"

    ask(question="what?")
    custom(True, "the body")
    positional(3, "first string arg")
    chat([{"role": "system", "content": "sys"}, {"role": "user", "content": "last user"}])
    records = sent(collector)
    assert [r["user_input"] for r in records] == [
        "what?",
        "the body",
        "first string arg",
        "last user",
    ]
    assert records[3]["system_prompt"] == "sys"


def test_methods_are_tracked(client: promptloop.Client, collector: RecordingCollector) -> None:
    class Bot:
        @promptloop.track(feature="bot")
        def answer(self, prompt: str) -> str:
            return prompt[::-1]

    assert Bot().answer("abc") == "cba"
    [record] = sent(collector)
    assert record["user_input"] == "abc"
    assert record["raw_output"] == "cba"


def test_errors_are_recorded_and_reraised_unchanged(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    class Boom(Exception):
        pass

    original = Boom("model unavailable")

    @promptloop.track(feature="f")
    def failing(prompt: str) -> str:
        raise original

    with pytest.raises(Boom) as caught:
        failing("x")
    assert caught.value is original
    [record] = sent(collector)
    assert record["error"] == "Boom: model unavailable"
    assert record["interaction_id"] == promptloop.last_interaction_id()
    assert "raw_output" not in record


async def test_async_function(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track(feature="async")
    async def answer(prompt: str) -> str:
        await asyncio.sleep(0)
        return "async answer"

    assert await answer("q") == "async answer"
    interaction_id = promptloop.last_interaction_id()
    [record] = sent(collector)
    assert record["interaction_id"] == interaction_id
    assert record["raw_output"] == "async answer"


def test_generator(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track(feature="stream")
    def stream(prompt: str) -> Iterator[str]:
        assert promptloop.current_interaction_id() is not None
        yield "Hel"
        yield "lo"

    assert promptloop.current_interaction_id() is None
    assert list(stream("hi")) == ["Hel", "lo"]
    [record] = sent(collector)
    assert record["raw_output"] == "Hello"
    assert record["interaction_id"] == promptloop.last_interaction_id()


def test_generator_send_throw_and_close(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    @promptloop.track()
    def echo(prompt: str) -> Iterator[str]:
        received = yield "first"
        try:
            yield f"got {received}"
        except ValueError:
            yield "handled"
        yield "never consumed"

    gen = echo("p")
    assert next(gen) == "first"
    assert gen.send("x") == "got x"
    assert gen.throw(ValueError("v")) == "handled"
    gen.close()
    [record] = sent(collector)
    assert record["raw_output"] == "firstgot xhandled"
    assert "error" not in record


def test_generator_error(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track()
    def broken(prompt: str) -> Iterator[str]:
        yield "a"
        raise RuntimeError("stream broke")

    with pytest.raises(RuntimeError, match="stream broke"):
        list(broken("p"))
    [record] = sent(collector)
    assert record["error"] == "RuntimeError: stream broke"
    assert record["raw_output"] == "a"


async def test_async_generator(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track(feature="astream")
    async def stream(prompt: str) -> AsyncIterator[str]:
        for piece in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield piece

    assert [piece async for piece in stream("p")] == ["a", "b", "c"]
    [record] = sent(collector)
    assert record["raw_output"] == "abc"
    assert record["feature"] == "astream"


def test_return_interaction(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track(feature="f", return_interaction=True)
    def summarize(text: str) -> str:
        return "short"

    result = summarize("long text")
    assert isinstance(result, promptloop.Tracked)
    assert result.output == "short"
    output, interaction_id = result
    assert output == "short"
    assert interaction_id == promptloop.last_interaction_id()
    [record] = sent(collector)
    assert record["interaction_id"] == interaction_id


async def test_return_interaction_async(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    @promptloop.track(return_interaction=True)
    async def summarize(text: str) -> str:
        return "short"

    # Run in a separate task: last_interaction_id() would not see it, Tracked does.
    result = await asyncio.create_task(summarize("x"))
    assert result.output == "short"
    [record] = sent(collector)
    assert record["interaction_id"] == result.interaction_id


def test_context_manager(client: promptloop.Client, collector: RecordingCollector) -> None:
    with promptloop.track(feature="chat", prompt_version="v2") as call:
        call.user_input = "question"
        call.system_prompt = "system"
        call.output = "answer"
        call.model = "gpt-test"
        call.metadata["variant"] = "B"
        inside_id = promptloop.current_interaction_id()
    assert inside_id == call.interaction_id == promptloop.last_interaction_id()
    [record] = sent(collector)
    assert record["interaction_id"] == call.interaction_id
    assert record["model"] == "gpt-test"
    assert record["metadata"] == {"variant": "B"}
    assert record["raw_output"] == "answer"


def test_context_manager_error(client: promptloop.Client, collector: RecordingCollector) -> None:
    with pytest.raises(KeyError), promptloop.track(feature="chat"):
        raise KeyError("k")
    [record] = sent(collector)
    assert record["error"] == "KeyError: 'k'"


async def test_async_context_manager(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    async with promptloop.track(feature="chat") as call:
        call.output = "x"
    [record] = sent(collector)
    assert record["interaction_id"] == call.interaction_id


def test_context_nesting_and_user_hashing(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    @promptloop.track(metadata={"static": 1})
    def answer(prompt: str) -> str:
        return "a"

    with promptloop.context(session_id="s1", user_id="alice@example.com", metadata={"a": 1}):
        with promptloop.context(feature="inner", metadata={"b": 2}):
            answer("x")
        answer("y")
    answer("z")
    inner, outer, bare = sent(collector)
    assert inner["session_id"] == outer["session_id"] == "s1"
    assert inner["feature"] == "inner" and "feature" not in outer
    assert inner["metadata"] == {"a": 1, "b": 2, "static": 1}
    assert outer["metadata"] == {"a": 1, "static": 1}
    assert bare["metadata"] == {"static": 1} and "session_id" not in bare
    hashed = promptloop.hash_user_id("alice@example.com")
    assert inner["user_id"] == outer["user_id"] == hashed
    assert hashed.startswith("u_") and len(hashed) == 34
    bodies = b"".join(str(request.records).encode() for request in collector.requests)
    assert b"alice@example.com" not in bodies


def test_parent_interaction_id(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track()
    def answer(prompt: str, parent_interaction_id: str | None = None) -> str:
        return "a"

    answer("first")
    first = promptloop.last_interaction_id()
    assert first is not None
    answer("again", parent_interaction_id=first)
    with promptloop.context(parent_interaction_id=first):
        answer("third")
    records = sent(collector)
    assert "parent_interaction_id" not in records[0]
    assert records[1]["parent_interaction_id"] == first
    assert records[2]["parent_interaction_id"] == first


def test_defaults_from_init(make_client: Any, collector: RecordingCollector) -> None:
    make_client(feature="default-feature", metadata={"env": "test"})

    @promptloop.track(metadata={"k": "v"})
    def answer(prompt: str) -> str:
        return "a"

    answer("x")
    [record] = sent(collector)
    assert record["feature"] == "default-feature"
    assert record["metadata"] == {"env": "test", "k": "v"}


def test_last_interaction_id_is_per_context(client: promptloop.Client) -> None:
    @promptloop.track()
    def answer(prompt: str) -> str:
        return "a"

    async def in_task() -> str | None:
        answer("x")
        return promptloop.last_interaction_id()

    answer("main")
    main_id = promptloop.last_interaction_id()
    task_id = asyncio.run(in_task())
    assert task_id is not None and task_id != main_id
    assert promptloop.last_interaction_id() == main_id


def test_nested_tracked_calls(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track(feature="inner")
    def inner(prompt: str) -> str:
        return "inner"

    @promptloop.track(feature="outer")
    def outer(prompt: str) -> str:
        return inner(prompt) + "!"

    outer("p")
    outer_id = promptloop.last_interaction_id()
    records = sent(collector)
    assert [r["feature"] for r in records] == ["inner", "outer"]
    assert records[1]["interaction_id"] == outer_id


def test_tracking_works_without_init(collector: RecordingCollector) -> None:
    # No init() and no PROMPTLOOP_URL: a disabled client, the host still works.
    @promptloop.track()
    def answer(prompt: str) -> str:
        return "a"

    assert answer("x") == "a"
    assert promptloop.last_interaction_id() is not None
    assert promptloop.flush(timeout=1)
    assert collector.requests == []


def test_default_client_from_environment(
    collector: RecordingCollector, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PROMPTLOOP_URL", collector.url)
    monkeypatch.setenv("PROMPTLOOP_SPOOL_DIR", str(tmp_path / "spool"))

    @promptloop.track(feature="env")
    def answer(prompt: str) -> str:
        return "a"

    answer("x")
    [record] = sent(collector)
    assert record["feature"] == "env"
