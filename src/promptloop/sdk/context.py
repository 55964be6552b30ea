"""Request-scoped context (session, user, feature, metadata) carried by ``contextvars``.

Context nests: an inner block overrides the fields it sets and merges its metadata into the
outer block's. It follows the code across ``await`` and into tasks created inside it, and
never leaks between threads or concurrent requests.

>>> import promptloop
>>> from promptloop.sdk.context import current_context
>>> with promptloop.context(session_id="s1", metadata={"variant": "A"}):
...     with promptloop.context(feature="summarize", metadata={"plan": "pro"}):
...         ctx = current_context()
>>> ctx.session_id, ctx.feature, sorted(ctx.metadata)
('s1', 'summarize', ['plan', 'variant'])
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ContextDecorator
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from promptloop.sdk.call import TrackedCall


_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


class CallContext(NamedTuple):
    """The merged context in force (immutable). ``metadata`` is owned by this object.

    A named tuple rather than a frozen dataclass: it is built on every ``context()`` entry,
    and a tuple costs a fraction of a frozen dataclass's ``__init__``.
    """

    session_id: str | None = None
    user_id: str | None = None
    feature: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    parent_interaction_id: str | None = None
    metadata: Mapping[str, Any] = _NO_METADATA


EMPTY = CallContext()

_CONTEXT: ContextVar[CallContext] = ContextVar("promptloop_context", default=EMPTY)
# The tracked call currently running in this context: provider wrappers enrich it instead
# of logging a second interaction.
ACTIVE_CALL: ContextVar[TrackedCall | None] = ContextVar("promptloop_active_call", default=None)
# The ID of the last interaction completed in this context, for the host to hand to its UI.
LAST_INTERACTION: ContextVar[str | None] = ContextVar("promptloop_last_interaction", default=None)


def current_context() -> CallContext:
    """The context in force here (an empty one outside any ``context()`` block)."""
    return _CONTEXT.get()


class _ContextBlock(ContextDecorator):
    """What ``context(...)`` returns: a plain class, not a generator-based context manager,
    because it runs around every tracked call of a request (a few microseconds saved). The
    fields are slots, not a tuple: one object fewer per call for the garbage collector."""

    __slots__ = (
        "_feature",
        "_metadata",
        "_parent",
        "_prompt_name",
        "_prompt_version",
        "_session_id",
        "_token",
        "_user_id",
    )

    def __init__(
        self,
        session_id: str | None,
        user_id: str | None,
        feature: str | None,
        prompt_name: str | None,
        prompt_version: str | None,
        parent: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        self._session_id = session_id
        self._user_id = user_id
        self._feature = feature
        self._prompt_name = prompt_name
        self._prompt_version = prompt_version
        self._parent = parent
        self._metadata = metadata
        self._token: Token[CallContext] | None = None

    def _recreate_cm(self) -> _ContextBlock:
        # Used as a decorator, each call gets its own block (and token).
        return _ContextBlock(
            self._session_id,
            self._user_id,
            self._feature,
            self._prompt_name,
            self._prompt_version,
            self._parent,
            self._metadata,
        )

    def __enter__(self) -> CallContext:
        outer = _CONTEXT.get()
        metadata = self._metadata
        merged = CallContext(
            outer.session_id if self._session_id is None else self._session_id,
            outer.user_id if self._user_id is None else self._user_id,
            outer.feature if self._feature is None else self._feature,
            outer.prompt_name if self._prompt_name is None else self._prompt_name,
            outer.prompt_version if self._prompt_version is None else self._prompt_version,
            outer.parent_interaction_id if self._parent is None else self._parent,
            {**outer.metadata, **metadata} if metadata else outer.metadata,
        )
        self._token = _CONTEXT.set(merged)
        return merged

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            _CONTEXT.reset(token)


def context(
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    feature: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    parent_interaction_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> _ContextBlock:
    """Attach session/user/feature/metadata to every interaction logged inside the block.

    ``user_id`` is the raw ID: it is HMAC-hashed before anything leaves the process.

    >>> import promptloop
    >>> with promptloop.context(session_id="s-42", user_id="alice", feature="chat") as ctx:
    ...     ctx.feature
    'chat'
    """
    return _ContextBlock(
        session_id, user_id, feature, prompt_name, prompt_version, parent_interaction_id, metadata
    )


def last_interaction_id() -> str | None:
    """The interaction ID of the last tracked call completed in this context.

    Hand it to your UI so that feedback can be linked to the call::

        answer = summarize(text)
        interaction_id = promptloop.last_interaction_id()
    """
    return LAST_INTERACTION.get()


def current_interaction_id() -> str | None:
    """Inside a tracked call: the ID of the interaction being recorded, else ``None``."""
    call = ACTIVE_CALL.get()
    return None if call is None else call.interaction_id
