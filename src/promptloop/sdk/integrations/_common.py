"""What the provider wrappers share: options, the per-call recorder, proxies and streams.

The wrappers only wrap public methods (``chat.completions.create``, ``messages.create``,
...) on proxy objects that delegate everything else to the real client; nothing inside
the provider SDK is patched. If recording fails the plain call still happens; errors from
the provider are recorded, then re-raised unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from promptloop.sdk import client as _client_mod
from promptloop.sdk.call import TrackedCall
from promptloop.sdk.context import _CONTEXT, ACTIVE_CALL
from promptloop.sdk.extract import usage_tokens
from promptloop.sdk.guard import handle_internal_error

_MAX_PARTS = 100_000


@dataclass(frozen=True)
class WrapOptions:
    """Tracking options given at wrap time (context and ``track`` take precedence)."""

    feature: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def is_async(obj: Any) -> bool:
    # openai.AsyncOpenAI / anthropic.AsyncAnthropic and their resources are named Async*.
    return type(obj).__name__.startswith("Async")


class ProviderCall:
    """Records one provider call: into its own interaction, or into the enclosing ``track``."""

    __slots__ = ("call", "done", "input_tokens", "model", "output", "output_tokens", "own", "parts")

    def __init__(
        self,
        options: WrapOptions,
        *,
        model: Any,
        system_prompt: str | None,
        user_input: str | None,
    ) -> None:
        active = ACTIVE_CALL.get()
        if active is not None:
            # Inside @track: enrich that interaction instead of logging a second one.
            self.call = active
            self.own = False
            if active.system_prompt is None:
                active.system_prompt = system_prompt
            if active.user_input is None:
                active.user_input = user_input
        else:
            self.call = TrackedCall(
                _client_mod.current_client(),
                _CONTEXT.get(),
                feature=options.feature,
                prompt_name=options.prompt_name,
                prompt_version=options.prompt_version,
                system_prompt=system_prompt,
                user_input=user_input,
                metadata=options.metadata,
            )
            self.own = True
        self.model: str | None = model if isinstance(model, str) else None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.output: str | None = None
        self.parts: list[str] = []
        self.done = False

    @property
    def interaction_id(self) -> str:
        return self.call.interaction_id

    def observe_model(self, model: Any) -> None:
        if isinstance(model, str) and model:
            self.model = model

    def observe_usage(self, owner: Any) -> None:
        """Take token counts from ``owner.usage`` (a later report replaces an earlier one)."""
        inp, out = usage_tokens(owner)
        if inp is not None:
            self.input_tokens = inp
        if out is not None:
            self.output_tokens = out

    def add_text(self, text: Any) -> None:
        if isinstance(text, str) and len(self.parts) < _MAX_PARTS:
            self.parts.append(text)

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        call = self.call
        if self.model is not None:
            call.model = self.model
        call.add_usage(self.input_tokens, self.output_tokens)
        output = self.output if self.output is not None else ("".join(self.parts) or None)
        if self.own:
            call.output = output
            call.finish(error)
        elif output is not None:
            call.provider_output = output


def start_call(
    options: WrapOptions, model: Any, system_prompt: str | None, user_input: str | None
) -> ProviderCall | None:
    try:
        return ProviderCall(
            options, model=model, system_prompt=system_prompt, user_input=user_input
        )
    except Exception as exc:
        handle_internal_error(exc, "provider wrapper")
        return None


def safely(fn: Callable[..., None], *args: Any) -> None:
    """Run a recording step; an SDK error never reaches the host's stream."""
    try:
        fn(*args)
    except Exception as exc:
        handle_internal_error(exc, "provider wrapper")


class Proxy:
    """Delegates every attribute not defined on the proxy to the wrapped object."""

    __slots__ = ("_pl_target",)

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_pl_target", target)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pl_target, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._pl_target, name, value)

    def __repr__(self) -> str:
        return f"promptloop.wrapped({self._pl_target!r})"


Observer = Callable[[ProviderCall, Any], None]


class StreamProxy(Proxy):
    """A provider's sync stream, recording each item; the call ends with the stream."""

    __slots__ = ("_pl_observe", "_pl_rec")

    def __init__(self, stream: Any, rec: ProviderCall, observe: Observer) -> None:
        super().__init__(stream)
        object.__setattr__(self, "_pl_rec", rec)
        object.__setattr__(self, "_pl_observe", observe)

    def __iter__(self) -> Iterator[Any]:
        rec: ProviderCall = self._pl_rec
        error: BaseException | None = None
        try:
            for item in self._pl_target:
                safely(self._pl_observe, rec, item)
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            # Timing is taken here, at the end of the stream, whatever ended it.
            safely(rec.finish, error)

    def __next__(self) -> Any:
        rec: ProviderCall = self._pl_rec
        try:
            item = next(self._pl_target)
        except StopIteration:
            safely(rec.finish, None)
            raise
        except BaseException as exc:
            safely(rec.finish, exc)
            raise
        safely(self._pl_observe, rec, item)
        return item

    def __enter__(self) -> StreamProxy:
        self._pl_target.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self._pl_target.__exit__(exc_type, exc, tb)
        finally:
            safely(self._pl_rec.finish, exc)

    def close(self) -> None:
        try:
            self._pl_target.close()
        finally:
            safely(self._pl_rec.finish, None)


class AsyncStreamProxy(Proxy):
    """A provider's async stream, recording each item; the call ends with the stream."""

    __slots__ = ("_pl_observe", "_pl_rec")

    def __init__(self, stream: Any, rec: ProviderCall, observe: Observer) -> None:
        super().__init__(stream)
        object.__setattr__(self, "_pl_rec", rec)
        object.__setattr__(self, "_pl_observe", observe)

    async def __aiter__(self) -> AsyncIterator[Any]:
        rec: ProviderCall = self._pl_rec
        error: BaseException | None = None
        try:
            async for item in self._pl_target:
                safely(self._pl_observe, rec, item)
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            safely(rec.finish, error)

    async def __anext__(self) -> Any:
        rec: ProviderCall = self._pl_rec
        try:
            item = await self._pl_target.__anext__()
        except StopAsyncIteration:
            safely(rec.finish, None)
            raise
        except BaseException as exc:
            safely(rec.finish, exc)
            raise
        safely(self._pl_observe, rec, item)
        return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self._pl_target.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self._pl_target.__aexit__(exc_type, exc, tb)
        finally:
            safely(self._pl_rec.finish, exc)

    async def close(self) -> None:
        try:
            await self._pl_target.close()
        finally:
            safely(self._pl_rec.finish, None)
