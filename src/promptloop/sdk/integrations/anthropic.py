"""``promptloop.wrap_anthropic``: record ``messages.create`` and ``messages.stream``.

Works with ``anthropic.Anthropic`` and ``anthropic.AsyncAnthropic``: non-streaming calls,
``stream=True`` event streams, and the ``messages.stream(...)`` context manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

from promptloop.sdk.extract import content_text, last_user_message, output_text
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


def _start(options: WrapOptions, kwargs: Mapping[str, Any]) -> ProviderCall | None:
    system = kwargs.get("system")
    system_text = system if isinstance(system, str) else content_text(system)
    return start_call(
        options, kwargs.get("model"), system_text, last_user_message(kwargs.get("messages"))
    )


def _on_message(rec: ProviderCall, message: Any) -> None:
    rec.observe_model(getattr(message, "model", None))
    rec.observe_usage(message)
    rec.output = output_text(message)


def _on_event(rec: ProviderCall, event: Any) -> None:
    kind = getattr(event, "type", None)
    if kind == "content_block_delta":
        delta = getattr(event, "delta", None)
        rec.add_text(getattr(delta, "text", None))
    elif kind == "message_start":
        message = getattr(event, "message", None)
        rec.observe_model(getattr(message, "model", None))
        rec.observe_usage(message)
    elif kind == "message_delta":
        # Carries the cumulative output token count (input may be absent here).
        rec.observe_usage(event)


def _on_snapshot(rec: ProviderCall, stream: Any) -> None:
    # The helper stream accumulates the message as the host iterates it.
    snapshot = stream.current_message_snapshot
    rec.observe_model(getattr(snapshot, "model", None))
    rec.observe_usage(snapshot)
    rec.output = output_text(snapshot)


class _StreamManagerProxy(Proxy):
    """``messages.stream(...)``: the call is recorded when the ``with`` block exits."""

    __slots__ = ("_pl_rec", "_pl_stream")

    def __init__(self, manager: Any, rec: ProviderCall) -> None:
        super().__init__(manager)
        object.__setattr__(self, "_pl_rec", rec)
        object.__setattr__(self, "_pl_stream", None)

    def __enter__(self) -> Any:
        try:
            stream = self._pl_target.__enter__()
        except BaseException as exc:
            safely(self._pl_rec.finish, exc)
            raise
        object.__setattr__(self, "_pl_stream", stream)
        return stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self._pl_target.__exit__(exc_type, exc, tb)
        finally:
            if self._pl_stream is not None:
                safely(_on_snapshot, self._pl_rec, self._pl_stream)
            safely(self._pl_rec.finish, exc)

    async def __aenter__(self) -> Any:
        try:
            stream = await self._pl_target.__aenter__()
        except BaseException as exc:
            safely(self._pl_rec.finish, exc)
            raise
        object.__setattr__(self, "_pl_stream", stream)
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self._pl_target.__aexit__(exc_type, exc, tb)
        finally:
            if self._pl_stream is not None:
                safely(_on_snapshot, self._pl_rec, self._pl_stream)
            safely(self._pl_rec.finish, exc)


class _MessagesProxy(Proxy):
    __slots__ = ("_pl_options",)

    def __init__(self, target: Any, options: WrapOptions) -> None:
        super().__init__(target)
        object.__setattr__(self, "_pl_options", options)

    def create(self, *args: Any, **kwargs: Any) -> Any:
        rec = _start(self._pl_options, kwargs)
        try:
            response = self._pl_target.create(*args, **kwargs)
        except BaseException as exc:
            if rec is not None:
                safely(rec.finish, exc)
            raise
        if rec is None:
            return response
        if kwargs.get("stream"):
            return StreamProxy(response, rec, _on_event)
        safely(_on_message, rec, response)
        safely(rec.finish, None)
        return response

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        rec = _start(self._pl_options, kwargs)
        try:
            manager = self._pl_target.stream(*args, **kwargs)
        except BaseException as exc:
            if rec is not None:
                safely(rec.finish, exc)
            raise
        return manager if rec is None else _StreamManagerProxy(manager, rec)


class _AsyncMessagesProxy(_MessagesProxy):
    __slots__ = ()

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        rec = _start(self._pl_options, kwargs)
        try:
            response = await self._pl_target.create(*args, **kwargs)
        except BaseException as exc:
            if rec is not None:
                safely(rec.finish, exc)
            raise
        if rec is None:
            return response
        if kwargs.get("stream"):
            return AsyncStreamProxy(response, rec, _on_event)
        safely(_on_message, rec, response)
        safely(rec.finish, None)
        return response


class AnthropicProxy(Proxy):
    """An ``anthropic.Anthropic``/``AsyncAnthropic`` whose ``messages.create`` and
    ``messages.stream`` are recorded; everything else is the real client."""

    __slots__ = ("_pl_messages", "_pl_options")

    def __init__(self, client: Any, options: WrapOptions) -> None:
        super().__init__(client)
        object.__setattr__(self, "_pl_options", options)
        messages = client.messages
        proxy = _AsyncMessagesProxy if is_async(messages) else _MessagesProxy
        object.__setattr__(self, "_pl_messages", proxy(messages, options))

    @property
    def messages(self) -> Any:
        return self._pl_messages

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return AnthropicProxy(self._pl_target.with_options(*args, **kwargs), self._pl_options)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return AnthropicProxy(self._pl_target.copy(*args, **kwargs), self._pl_options)


def wrap_anthropic(
    client: C,
    *,
    feature: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> C:
    """Return ``client`` (``anthropic.Anthropic`` or ``AsyncAnthropic``) with calls recorded.

    ``messages.create`` (with or without ``stream=True``) and ``messages.stream(...)``
    become one interaction each (model, tokens, latency to the end of the stream, ``system``,
    last user message, output text, errors) or enrich the enclosing ``@promptloop.track``.

    >>> import anthropic, promptloop
    >>> client = promptloop.wrap_anthropic(anthropic.Anthropic(api_key="sk-test"))
    >>> type(client.messages).__name__
    '_MessagesProxy'
    """
    options = WrapOptions(feature, prompt_name, prompt_version, dict(metadata or {}))
    try:
        return AnthropicProxy(client, options)  # type: ignore[return-value]
    except Exception as exc:
        handle_internal_error(exc, "wrap_anthropic")
        return client
