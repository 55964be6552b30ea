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

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptloop.sdk.call import TrackedCall


@dataclass(frozen=True, slots=True)
class CallContext:
    """The merged context in force. ``metadata`` is a fresh dict owned by this object."""

    session_id: str | None = None
    user_id: str | None = None
    feature: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    parent_interaction_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


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


@contextmanager
def context(
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    feature: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    parent_interaction_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[CallContext]:
    """Attach session/user/feature/metadata to every interaction logged inside the block.

    ``user_id`` is the raw ID: it is HMAC-hashed before anything leaves the process.

    >>> import promptloop
    >>> with promptloop.context(session_id="s-42", user_id="alice", feature="chat") as ctx:
    ...     ctx.feature
    'chat'
    """
    outer = _CONTEXT.get()
    merged = CallContext(
        session_id=session_id if session_id is not None else outer.session_id,
        user_id=user_id if user_id is not None else outer.user_id,
        feature=feature if feature is not None else outer.feature,
        prompt_name=prompt_name if prompt_name is not None else outer.prompt_name,
        prompt_version=prompt_version if prompt_version is not None else outer.prompt_version,
        parent_interaction_id=(
            parent_interaction_id
            if parent_interaction_id is not None
            else outer.parent_interaction_id
        ),
        metadata={**outer.metadata, **metadata} if metadata else outer.metadata,
    )
    token = _CONTEXT.set(merged)
    try:
        yield merged
    finally:
        _CONTEXT.reset(token)


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
