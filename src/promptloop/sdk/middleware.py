"""The seed article's middleware and logger, backed by promptloop.

``llm_logging_middleware(call_llm, logger, prompt_version)`` keeps the seed's signature and
return shape (``{"interactionId": ..., "output": ...}``) but records everything it can:
system prompt, prompt hash, latency, timestamp, errors, the ``promptloop.context()`` in
force and, when ``call_llm`` uses a wrapped OpenAI/Anthropic client, model and tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from promptloop.sdk import _ids
from promptloop.sdk import client as _client_mod
from promptloop.sdk.call import TrackedCall, error_text
from promptloop.sdk.context import _CONTEXT, LAST_INTERACTION
from promptloop.sdk.guard import GUARD, handle_internal_error
from promptloop.sdk.serialize import prompt_hash


class SupportsLog(Protocol):
    """Anything with the seed logger's ``log(entry: dict)`` method."""

    def log(self, entry: dict[str, Any], /) -> Any: ...


class Logger:
    """A seed-style logger: ``Logger().log(entry)`` queues one interaction.

    ``entry`` may use the seed's camelCase keys (``interactionId``, ``userInput``,
    ``rawOutput``, ``latencyMs``, ...) or snake_case; unknown keys land in ``metadata``;
    ``userId`` is hashed before it leaves the process.

    >>> import promptloop
    >>> promptloop.Logger().log({
    ...     "interactionId": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
    ...     "promptVersion": "v1.4", "userInput": "hi", "rawOutput": "hello", "latencyMs": 12,
    ... })
    '1b4e28ba-2fa1-41d2-883f-0016d3cca427'
    """

    def __init__(self, client: _client_mod.Client | None = None) -> None:
        self._client = client

    def _target(self) -> _client_mod.Client:
        return self._client or _client_mod.current_client()

    def log(self, entry: Mapping[str, Any]) -> str | None:
        """Queue a seed-shaped interaction dict; return its interaction ID."""
        try:
            record = dict(entry)
            interaction_id = record.get("interactionId") or record.get("interaction_id")
            if not interaction_id:
                interaction_id = record["interaction_id"] = _ids.new_id()
            self._target().enqueue_raw_interaction(record)
            return str(interaction_id)
        except Exception as exc:
            handle_internal_error(exc, "Logger.log")
            return None

    def feedback(self, entry: Mapping[str, Any]) -> str | None:
        """Queue a seed-shaped ``FeedbackEvent`` dict (``feedbackId``, ``feedbackType``, ...)."""
        try:
            record = dict(entry)
            feedback_id = record.get("feedbackId") or record.get("feedback_id")
            if not feedback_id:
                feedback_id = record["feedback_id"] = _ids.new_id()
            self._target().enqueue_raw_feedback(record)
            return str(feedback_id)
        except Exception as exc:
            handle_internal_error(exc, "Logger.feedback")
            return None


def _seed_entry(
    call: TrackedCall,
    prompt_version: str | None,
    system_prompt: str,
    user_input: str,
    raw_output: Any,
    latency_ms: float,
    ctx: Mapping[str, Any],
) -> dict[str, Any]:
    client = call._client
    entry: dict[str, Any] = {
        "interactionId": call.interaction_id,
        "promptVersion": prompt_version or call.prompt_version,
        "promptHash": prompt_hash(system_prompt) if isinstance(system_prompt, str) else None,
        "systemPrompt": system_prompt,
        "userInput": user_input,
        "rawOutput": raw_output,
        "latencyMs": round(latency_ms, 3),
        "timestamp": datetime.fromtimestamp(call.started_at, UTC).isoformat(),
    }
    optional = {
        "sessionId": call.session_id,
        "userId": call.user_id,
        "feature": call.feature,
        "promptName": call.prompt_name,
        "model": call.model,
        "inputTokens": call.input_tokens,
        "outputTokens": call.output_tokens,
        "parentInteractionId": call.parent_interaction_id,
        "error": call.error,
    }
    entry.update({key: value for key, value in optional.items() if value is not None})
    context_metadata = dict(call._ctx_metadata)
    if context_metadata:
        entry["metadata"] = context_metadata
    for key, value in ctx.items():
        if key == "metadata" and isinstance(value, Mapping):
            entry["metadata"] = {**context_metadata, **value}
        else:
            entry[key] = value
    for key in ("userId", "user_id"):
        raw = entry.get(key)
        if raw is not None:
            # Hash before the entry reaches any logger: a raw user ID never leaves here.
            entry[key] = client.hash_user_id(str(raw))
    return entry


def llm_logging_middleware(
    call_llm: Callable[[str, str], str],
    logger: SupportsLog | None = None,
    prompt_version: str | None = None,
) -> Callable[..., dict[str, Any]]:
    """Wrap ``call_llm(system_prompt, user_input) -> str`` to log every call (the seed's API).

    The wrapped function takes ``(system_prompt, user_input, **ctx)`` and returns
    ``{"interactionId": ..., "output": ...}``. Every call is queued for the collector; if
    ``logger`` is given it also receives the seed-shaped dict (``logger.log(entry)``).
    Errors from ``call_llm`` are logged, then re-raised unchanged.

    >>> import promptloop
    >>> wrapped = promptloop.llm_logging_middleware(lambda s, u: u.upper(), None, "v1.4")
    >>> wrapped("You are terse.", "hi", sessionId="s1")["output"]
    'HI'
    """

    def wrapped(system_prompt: str, user_input: str, **ctx: Any) -> dict[str, Any]:
        call: TrackedCall | None = None
        with GUARD:
            client = _client_mod.current_client()
            call = TrackedCall(
                client,
                _CONTEXT.get(),
                prompt_version=prompt_version,
                system_prompt=system_prompt,
                user_input=user_input,
            )
            call.activate()  # wrapped provider clients inside call_llm enrich this call
        start = time.perf_counter()
        raw_output: Any = None
        try:
            raw_output = call_llm(system_prompt, user_input)
        except BaseException as exc:
            if call is not None:
                call.error = error_text(exc)
            raise
        finally:
            latency_ms = (time.perf_counter() - start) * 1000.0
            if call is not None:
                with GUARD:
                    call.deactivate()
                    _emit(
                        call,
                        logger,
                        prompt_version,
                        system_prompt,
                        user_input,
                        raw_output,
                        latency_ms,
                        ctx,
                    )
        interaction_id = call.interaction_id if call is not None else _ids.new_id()
        return {"interactionId": interaction_id, "output": raw_output}

    return wrapped


def _emit(
    call: TrackedCall,
    logger: SupportsLog | None,
    prompt_version: str | None,
    system_prompt: str,
    user_input: str,
    raw_output: Any,
    latency_ms: float,
    ctx: Mapping[str, Any],
) -> None:
    entry = _seed_entry(
        call, prompt_version, system_prompt, user_input, raw_output, latency_ms, ctx
    )
    if isinstance(logger, Logger):
        logger.log(entry)
    else:
        call._client.enqueue_raw_interaction(dict(entry))
        if logger is not None:
            try:
                logger.log(entry)
            except Exception as exc:
                # The host's own logger failing must not fail the host's LLM feature.
                handle_internal_error(exc, "the logger passed to llm_logging_middleware")
    LAST_INTERACTION.set(call.interaction_id)
