"""``promptloop.wrap_openai``: record ``chat.completions.create`` and ``responses.create``.

Works with ``openai.OpenAI`` and ``openai.AsyncOpenAI``, streaming or not. For streamed chat
completions, token counts come from the final usage chunk, which OpenAI sends only when
the request has ``stream_options={"include_usage": True}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from promptloop.sdk.extract import (
    content_text,
    input_text,
    last_user_message,
    output_text,
    system_messages,
)
from promptloop.sdk.guard import handle_internal_error
from promptloop.sdk.integrations._common import (
    AsyncStreamProxy,
    ProviderCall,
    Proxy,
    StreamProxy,
    WrapOptions,
    is_async,
    safely,
    start_call,
)

C = TypeVar("C")
_Start = Callable[[WrapOptions, Mapping[str, Any]], ProviderCall | None]
_Observer = Callable[[ProviderCall, Any], None]


# -- chat completions ---------------------------------------------------------------------
def _chat_start(options: WrapOptions, kwargs: Mapping[str, Any]) -> ProviderCall | None:
    messages = kwargs.get("messages")
    return start_call(
        options, kwargs.get("model"), system_messages(messages), last_user_message(messages)
    )


def _chat_response(rec: ProviderCall, response: Any) -> None:
    rec.observe_model(getattr(response, "model", None))
    rec.observe_usage(response)
    rec.output = output_text(response)


def _chat_chunk(rec: ProviderCall, chunk: Any) -> None:
    rec.observe_model(getattr(chunk, "model", None))
    if getattr(chunk, "usage", None) is not None:
        rec.observe_usage(chunk)
    choices = getattr(chunk, "choices", None)
    if choices:
        delta = getattr(choices[0], "delta", None)
        rec.add_text(getattr(delta, "content", None))


# -- responses ----------------------------------------------------------------------------
def _responses_start(options: WrapOptions, kwargs: Mapping[str, Any]) -> ProviderCall | None:
    given = kwargs.get("input")
    if isinstance(given, str):
        user_input: str | None = given
    else:
        user_input = last_user_message(given) or (input_text(given) if given else None)
    instructions = kwargs.get("instructions")
    system = instructions if isinstance(instructions, str) else content_text(instructions)
    return start_call(options, kwargs.get("model"), system, user_input)


def _responses_response(rec: ProviderCall, response: Any) -> None:
    rec.observe_model(getattr(response, "model", None))
    rec.observe_usage(response)
    text = getattr(response, "output_text", None)
    rec.output = text if isinstance(text, str) else output_text(response)


def _responses_event(rec: ProviderCall, event: Any) -> None:
    kind = getattr(event, "type", None)
    if kind == "response.output_text.delta":
        rec.add_text(getattr(event, "delta", None))
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        response = getattr(event, "response", None)
        if response is not None:
            rec.observe_model(getattr(response, "model", None))
            rec.observe_usage(response)


# -- proxies ------------------------------------------------------------------------------
class _CreateProxy(Proxy):
    """A resource (``chat.completions`` or ``responses``) whose ``create`` is recorded."""

    __slots__ = ("_pl_kind", "_pl_options")

    def __init__(self, target: Any, options: WrapOptions, kind: str) -> None:
        super().__init__(target)
        object.__setattr__(self, "_pl_options", options)
        object.__setattr__(self, "_pl_kind", kind)

    def _pl_parts(self) -> tuple[_Start, _Observer, _Observer]:
        if self._pl_kind == "chat":
            return _chat_start, _chat_response, _chat_chunk
        return _responses_start, _responses_response, _responses_event

    def create(self, *args: Any, **kwargs: Any) -> Any:
        start, on_response, on_chunk = self._pl_parts()
        rec: ProviderCall | None = start(self._pl_options, kwargs)
        try:
            response = self._pl_target.create(*args, **kwargs)
        except BaseException as exc:
            if rec is not None:
                safely(rec.finish, exc)
            raise
        if rec is None:
            return response
        if kwargs.get("stream"):
            return StreamProxy(response, rec, on_chunk)
        safely(on_response, rec, response)
        safely(rec.finish, None)
        return response


class _AsyncCreateProxy(_CreateProxy):
    __slots__ = ()

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        start, on_response, on_chunk = self._pl_parts()
        rec: ProviderCall | None = start(self._pl_options, kwargs)
        try:
            response = await self._pl_target.create(*args, **kwargs)
        except BaseException as exc:
            if rec is not None:
                safely(rec.finish, exc)
            raise
        if rec is None:
            return response
        if kwargs.get("stream"):
            return AsyncStreamProxy(response, rec, on_chunk)
        safely(on_response, rec, response)
        safely(rec.finish, None)
        return response


class _ChatProxy(Proxy):
    __slots__ = ("_pl_completions",)

    def __init__(self, target: Any, options: WrapOptions) -> None:
        super().__init__(target)
        completions = target.completions
        proxy = _AsyncCreateProxy if is_async(completions) else _CreateProxy
        object.__setattr__(self, "_pl_completions", proxy(completions, options, "chat"))

    @property
    def completions(self) -> Any:
        return self._pl_completions


class OpenAIProxy(Proxy):
    """An ``openai.OpenAI``/``AsyncOpenAI`` whose ``chat.completions.create`` and
    ``responses.create`` are recorded; everything else is the real client."""

    __slots__ = ("_pl_chat", "_pl_options", "_pl_responses")

    def __init__(self, client: Any, options: WrapOptions) -> None:
        super().__init__(client)
        object.__setattr__(self, "_pl_options", options)
        object.__setattr__(self, "_pl_chat", _ChatProxy(client.chat, options))
        responses = getattr(client, "responses", None)
        if responses is not None:
            proxy = _AsyncCreateProxy if is_async(responses) else _CreateProxy
            responses = proxy(responses, options, "responses")
        object.__setattr__(self, "_pl_responses", responses)

    @property
    def chat(self) -> Any:
        return self._pl_chat

    @property
    def responses(self) -> Any:
        return self._pl_responses if self._pl_responses is not None else self._pl_target.responses

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return OpenAIProxy(self._pl_target.with_options(*args, **kwargs), self._pl_options)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return OpenAIProxy(self._pl_target.copy(*args, **kwargs), self._pl_options)


def wrap_openai(
    client: C,
    *,
    feature: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> C:
    """Return ``client`` (``openai.OpenAI`` or ``AsyncOpenAI``) with its LLM calls recorded.

    Each ``chat.completions.create`` / ``responses.create`` call becomes one interaction
    (model, tokens, latency to the end of a stream, system prompt, last user message,
    output, errors), unless it runs inside ``@promptloop.track``, whose interaction it
    enriches instead. Afterwards ``promptloop.last_interaction_id()`` returns its ID.

    >>> import openai, promptloop
    >>> client = promptloop.wrap_openai(openai.OpenAI(api_key="sk-test"), feature="chat")
    >>> type(client.chat.completions).__name__
    '_CreateProxy'
    """
    options = WrapOptions(feature, prompt_name, prompt_version, dict(metadata or {}))
    try:
        return OpenAIProxy(client, options)  # type: ignore[return-value]
    except Exception as exc:
        handle_internal_error(exc, "wrap_openai")
        return client
