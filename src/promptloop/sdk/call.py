"""One interaction being recorded: the mutable state shared by ``track``, the seed middleware
and the provider wrappers, turned into a plain dict and queued when the call finishes.

The hot path builds a plain dict: pydantic validation, JSON encoding, user-ID hashing and
prompt hashing all happen later, on the background thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any

from promptloop.sdk import _ids
from promptloop.sdk.context import ACTIVE_CALL, LAST_INTERACTION, CallContext
from promptloop.sdk.extract import output_text

if TYPE_CHECKING:
    from promptloop.sdk.client import Client

_perf_counter = time.perf_counter
_time = time.time


def error_text(exc: BaseException) -> str:
    """``"TypeName: message"``, the form stored in ``Interaction.error``."""
    message = str(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


class TrackedCall:
    """The interaction being recorded. Yielded by ``with promptloop.track(...) as call``.

    Set ``call.output`` (and optionally ``model``, ``input_tokens``, ``output_tokens``,
    ``user_input``, ``system_prompt``, ``metadata[...]``) inside the block; read
    ``call.interaction_id`` to hand it to the UI.

    Fields that most calls never set are class attributes (``None``), so creating a call
    sets only what it knows. ``finish()`` queues the object itself; the sender thread turns
    it into a record (:meth:`to_record`), so changes made after the call ended are not
    guaranteed to be recorded.
    """

    output: Any = None
    provider_output: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    latency_ms: float | None = None
    _done = False
    _token: Token[TrackedCall | None] | None = None

    def __init__(
        self,
        client: Client,
        ctx: CallContext,
        # Positional too: ``track`` passes them by position (cheaper on its hot path).
        feature: str | None = None,
        prompt_name: str | None = None,
        prompt_version: str | None = None,
        prompt_hash: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        user_input: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_interaction_id: str | None = None,
        interaction_id: str | None = None,
    ) -> None:
        self._client = client
        self.interaction_id = interaction_id or _ids.new_id()
        self.feature = feature or ctx.feature
        self.prompt_name = prompt_name or ctx.prompt_name
        self.prompt_version = prompt_version or ctx.prompt_version
        self.prompt_hash = prompt_hash
        self.model = model
        self.system_prompt = system_prompt
        self.user_input = user_input
        self.session_id = ctx.session_id
        self.user_id = ctx.user_id
        self.parent_interaction_id = parent_interaction_id or ctx.parent_interaction_id
        self._ctx_metadata = ctx.metadata
        # The decorator's static metadata is shared; copy so `call.metadata[k] = v` is local.
        self.metadata: dict[str, Any] = dict(metadata) if metadata else {}
        self.started_at = _time()
        self._t0 = _perf_counter()

    # -- activation: provider wrappers called inside enrich this call -----------------------
    def activate(self) -> None:
        self._token = ACTIVE_CALL.set(self)

    def deactivate(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            ACTIVE_CALL.reset(token)

    # -- enrichment by provider wrappers -----------------------------------------------------
    def add_usage(self, input_tokens: int | None, output_tokens: int | None) -> None:
        """Add token counts (a tracked function may make several LLM calls)."""
        if input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + input_tokens
        if output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + output_tokens

    # -- completion --------------------------------------------------------------------------
    def finish(self, error: BaseException | None = None) -> None:
        """Stop the clock, queue the call, and publish the ID as ``last_interaction_id``.

        The clock, the error and the text of a non-string output are read here, on the
        host's thread; the record itself is built by the sender thread (:meth:`to_record`).
        """
        if self._done:
            return
        self._done = True
        if self.latency_ms is None:
            self.latency_ms = (_perf_counter() - self._t0) * 1000.0
        if error is not None and self.error is None:
            self.error = error_text(error)
        out = self.output
        if out is not None and out.__class__ is not str:
            # A provider response object: read its text now, and let the object go.
            self.output = output_text(out)
        self._client.enqueue_call(self)
        LAST_INTERACTION.set(self.interaction_id)

    def to_record(self) -> dict[str, Any]:
        """The queued interaction as a plain dict (``serialize.prepare_interaction`` input)."""
        out = self.output
        if out is None:
            out = self.provider_output
        metadata: Mapping[str, Any] = self._ctx_metadata
        if self.metadata:
            metadata = {**metadata, **self.metadata} if metadata else dict(self.metadata)
        return {
            "interaction_id": self.interaction_id,
            "timestamp": self.started_at,
            "latency_ms": self.latency_ms,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "feature": self.feature,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "prompt_hash": self.prompt_hash,
            "model": self.model,
            "system_prompt": self.system_prompt,
            "user_input": self.user_input,
            "raw_output": out,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "metadata": dict(metadata) if metadata else None,
            "parent_interaction_id": self.parent_interaction_id,
            "error": self.error,
        }
