"""``promptloop.track``: record a function call (or a block) as one LLM interaction.

All costly work (signature inspection, choosing a sync/async/generator wrapper, copying
static options) happens once, when the decorator is applied. A call then costs a few
microseconds: a pre-generated ID, two clock reads, a plain dict and one ``deque.append``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, ParamSpec, TypeVar, cast, overload

from promptloop.sdk import client as _client_mod
from promptloop.sdk.call import TrackedCall
from promptloop.sdk.context import _CONTEXT, ACTIVE_CALL, EMPTY
from promptloop.sdk.extract import chunk_text, input_text, system_messages
from promptloop.sdk.guard import handle_internal_error
from promptloop.sdk.prompts import Prompt

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

# Parameter names taken as the user's input, in order of preference.
INPUT_NAMES = (
    "user_input",
    "prompt",
    "input",
    "question",
    "query",
    "message",
    "text",
    "messages",
)
_MAX_STREAM_PARTS = 100_000


@dataclass(frozen=True, slots=True)
class Tracked(Generic[T]):
    """A tracked function's return value together with its interaction ID.

    Returned by functions decorated with ``@track(..., return_interaction=True)``; unpacks
    as ``output, interaction_id = summarize(text)``.
    """

    output: T
    interaction_id: str

    def __iter__(self) -> Iterator[Any]:
        yield self.output
        yield self.interaction_id


@dataclass(frozen=True, slots=True)
class _Param:
    """Where an argument lives in a call: by name, or at a positional index."""

    name: str
    position: int | None
    default: Any

    def get(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        if self.name in kwargs:
            return kwargs[self.name]
        position = self.position
        if position is not None and position < len(args):
            return args[position]
        return self.default


def _find_param(sig: inspect.Signature | None, names: tuple[str, ...]) -> _Param | None:
    if sig is None:
        return None
    params = list(sig.parameters.values())
    for name in names:
        for index, param in enumerate(params):
            if param.name != name:
                continue
            positional = param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
            default = None if param.default is param.empty else param.default
            return _Param(name, index if positional else None, default)
    return None


def _first_str(args: tuple[Any, ...]) -> str | None:
    for arg in args:
        if arg.__class__ is str:
            return str(arg)
    return None


class Tracker:
    """What ``track(...)`` returns: a decorator, and a (sync or async) context manager."""

    def __init__(
        self,
        *,
        feature: str | None = None,
        prompt_name: str | None = None,
        prompt_version: str | None = None,
        prompt_hash: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        input_arg: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_interaction_id: str | None = None,
        return_interaction: bool = False,
        prompt: Prompt | None = None,
    ) -> None:
        self.prompt = prompt
        self.feature = feature
        self.prompt_name = prompt_name
        self.prompt_version = prompt_version
        self.prompt_hash = prompt_hash
        self.model = model
        self.system_prompt = system_prompt
        self.input_arg = input_arg
        self.metadata = dict(metadata) if metadata else None
        self.parent_interaction_id = parent_interaction_id
        self.return_interaction = return_interaction

    # -- shared start ---------------------------------------------------------------------
    def _new_call(
        self,
        user_input: Any = None,
        system_prompt: Any = None,
        parent_interaction_id: Any = None,
    ) -> TrackedCall:
        client = _client_mod._DEFAULT or _client_mod.current_client()
        if user_input is not None and user_input.__class__ is not str:
            if system_prompt is None:
                # A chat message list carries its own system prompt.
                system_prompt = system_messages(user_input)
            user_input = input_text(user_input)
        if system_prompt is not None and system_prompt.__class__ is not str:
            system_prompt = input_text(system_prompt)
        call = TrackedCall(
            client,
            _CONTEXT.get(),
            self.feature,
            self.prompt_name,
            self.prompt_version,
            self.prompt_hash,
            self.model,
            system_prompt or self.system_prompt,
            user_input,
            self.metadata,
            parent_interaction_id or self.parent_interaction_id,
        )
        call._token = ACTIVE_CALL.set(call)  # call.activate(), inlined: this is the hot path
        if self.prompt is not None:
            self.prompt.stamp()
        return call

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> TrackedCall:
        try:
            return self._new_call()
        except Exception as exc:
            handle_internal_error(exc, "track")
            # Still hand back a call object so `call.output = ...` in the host never fails;
            # it is activated so that __exit__ ends it, not an enclosing call.
            fallback = TrackedCall(_client_mod.Client(), EMPTY)
            fallback.activate()
            return fallback

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            call = ACTIVE_CALL.get()
            if call is not None:
                call.deactivate()
                call.finish(exc)
        except Exception as error:
            handle_internal_error(error, "track")

    async def __aenter__(self) -> TrackedCall:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ------------------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        try:
            return self._decorate(fn)
        except Exception as exc:
            handle_internal_error(exc, "track decorator")
            return fn

    def _decorate(self, fn: Callable[P, R]) -> Callable[P, R]:
        try:
            sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        names = (self.input_arg,) if self.input_arg else INPUT_NAMES
        input_param = _find_param(sig, names)
        system_param = _find_param(sig, ("system_prompt",))
        parent_param = _find_param(sig, ("parent_interaction_id",))
        new_call = self._new_call
        return_interaction = self.return_interaction

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> TrackedCall | None:
            try:
                return new_call(
                    input_param.get(args, kwargs) if input_param else _first_str(args),
                    system_param.get(args, kwargs) if system_param else None,
                    parent_param.get(args, kwargs) if parent_param else None,
                )
            except Exception as exc:
                handle_internal_error(exc, "track")
                return None

        def fail(call: TrackedCall, exc: BaseException) -> None:
            try:
                call.deactivate()
                call.finish(exc)
            except Exception as error:
                handle_internal_error(error, "track")

        def done(call: TrackedCall, result: Any) -> Any:
            try:
                call.deactivate()
                if call.output is None:
                    call.output = result
                call.finish()
                if return_interaction:
                    return Tracked(result, call.interaction_id)
            except Exception as exc:
                handle_internal_error(exc, "track")
            return result

        if inspect.isasyncgenfunction(fn):
            return cast(Callable[P, R], _wrap_async_gen(fn, start, fail))
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                call = start(args, kwargs)
                if call is None:
                    return await async_fn(*args, **kwargs)
                try:
                    result = await async_fn(*args, **kwargs)
                except BaseException as exc:
                    fail(call, exc)
                    raise
                return done(call, result)

            return cast(Callable[P, R], async_wrapper)
        if inspect.isgeneratorfunction(fn):
            return cast(Callable[P, R], _wrap_gen(fn, start, fail))

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = start(args, kwargs)
            if call is None:
                return fn(*args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                fail(call, exc)
                raise
            return done(call, result)

        return cast(Callable[P, R], wrapper)


_Start = Callable[[tuple[Any, ...], dict[str, Any]], TrackedCall | None]
_Fail = Callable[[TrackedCall, BaseException], None]


def _collect(parts: list[str], item: Any) -> None:
    try:
        text = chunk_text(item)
        if text is not None and len(parts) < _MAX_STREAM_PARTS:
            parts.append(text)
    except Exception as exc:
        # A chunk we cannot read must never break the host's stream.
        handle_internal_error(exc, "track stream", reraise=False)


def _close_stream(
    call: TrackedCall, parts: list[str], fail: _Fail, exc: BaseException | None
) -> None:
    try:
        if call.output is None and parts:
            call.output = "".join(parts)
    except Exception as error:
        handle_internal_error(error, "track stream", reraise=False)
    if exc is None:
        try:
            call.finish()
        except Exception as error:
            handle_internal_error(error, "track stream")
    else:
        fail(call, exc)


def _wrap_gen(fn: Callable[..., Any], start: _Start, fail: _Fail) -> Callable[..., Iterator[Any]]:
    @functools.wraps(fn)
    def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
        call = start(args, kwargs)
        if call is None:
            return (yield from fn(*args, **kwargs))
        # The call is only active while the host generator runs, never between yields:
        # the consumer's own code must not see it.
        call.deactivate()
        parts: list[str] = []
        gen = fn(*args, **kwargs)
        error: BaseException | None = None
        try:
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = ACTIVE_CALL.set(call)
                try:
                    if to_throw is not None:
                        thrown, to_throw = to_throw, None
                        item = gen.throw(thrown)
                    else:
                        item = gen.send(to_send)
                except StopIteration as stop:
                    return stop.value
                finally:
                    ACTIVE_CALL.reset(token)
                _collect(parts, item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    raise
                except BaseException as thrown_exc:
                    to_throw = thrown_exc
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            _close_stream(call, parts, fail, error)

    return gen_wrapper


def _wrap_async_gen(
    fn: Callable[..., Any], start: _Start, fail: _Fail
) -> Callable[..., AsyncIterator[Any]]:
    @functools.wraps(fn)
    async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
        call = start(args, kwargs)
        agen = fn(*args, **kwargs)
        if call is None:
            async for item in agen:
                yield item
            return
        call.deactivate()
        parts: list[str] = []
        error: BaseException | None = None
        try:
            to_send: Any = None
            to_throw: BaseException | None = None
            while True:
                token = ACTIVE_CALL.set(call)
                try:
                    if to_throw is not None:
                        thrown, to_throw = to_throw, None
                        item = await agen.athrow(thrown)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    return
                finally:
                    ACTIVE_CALL.reset(token)
                _collect(parts, item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    raise
                except BaseException as thrown_exc:
                    to_throw = thrown_exc
        except GeneratorExit:
            await agen.aclose()
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            _close_stream(call, parts, fail, error)

    return agen_wrapper


class ReturningTracker(Tracker):
    """``track(..., return_interaction=True)``: decorated functions return :class:`Tracked`."""

    @overload  # type: ignore[override]
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, Tracked[R]]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, Tracked[R]]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        return super().__call__(fn)


@overload
def track(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def track(
    fn: None = None,
    /,
    *,
    feature: str | None = ...,
    prompt_name: str | None = ...,
    prompt_version: str | None = ...,
    prompt_hash: str | None = ...,
    model: str | None = ...,
    system_prompt: str | None = ...,
    input_arg: str | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    parent_interaction_id: str | None = ...,
    return_interaction: Literal[False] = ...,
    prompt: Prompt | None = ...,
) -> Tracker: ...
@overload
def track(
    fn: None = None,
    /,
    *,
    feature: str | None = ...,
    prompt_name: str | None = ...,
    prompt_version: str | None = ...,
    prompt_hash: str | None = ...,
    model: str | None = ...,
    system_prompt: str | None = ...,
    input_arg: str | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    parent_interaction_id: str | None = ...,
    return_interaction: Literal[True],
    prompt: Prompt | None = ...,
) -> ReturningTracker: ...
def track(
    fn: Callable[P, R] | None = None,
    /,
    *,
    feature: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    prompt_hash: str | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
    input_arg: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    parent_interaction_id: str | None = None,
    return_interaction: bool = False,
    prompt: Prompt | None = None,
) -> Callable[P, R] | Tracker:
    """Record each call of a function (sync, async, generator, async generator) or a block.

    Captures a new interaction ID, latency, the user input (``input_arg``, else a parameter
    named user_input/prompt/input/question/query/message/text, else the first ``str``
    argument), the ``system_prompt`` parameter, the output (a returned string, the text of
    an OpenAI/Anthropic response, or the joined text of yielded chunks), errors (recorded,
    then re-raised unchanged) and the ``promptloop.context()`` in force. With ``prompt`` (from
    ``get_prompt`` or a ``Prompt``), the interaction records its name, version and hash; a
    prompt rendered inside the call does the same.

    >>> import promptloop
    >>> @promptloop.track(feature="summarize", prompt_version="v1.4")
    ... def summarize(text: str) -> str:
    ...     return text[:10]
    >>> summarize("a long document")
    'a long doc'
    >>> promptloop.last_interaction_id() is not None
    True

    As a context manager::

        with promptloop.track(feature="chat") as call:
            call.user_input = question
            call.output = answer = llm(question)
        interaction_id = call.interaction_id
    """
    kwargs: dict[str, Any] = {
        "feature": feature,
        "prompt_name": prompt_name,
        "prompt_version": prompt_version,
        "prompt_hash": prompt_hash,
        "model": model,
        "system_prompt": system_prompt,
        "input_arg": input_arg,
        "metadata": metadata,
        "parent_interaction_id": parent_interaction_id,
        "prompt": prompt,
    }
    if return_interaction:
        return ReturningTracker(**kwargs, return_interaction=True)
    tracker = Tracker(**kwargs)
    if fn is not None:
        return tracker(fn)
    return tracker
